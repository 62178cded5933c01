/* buf.h: a growable byte buffer whose allocations fail softly. */
#ifndef IMGFCGI_BUF_H
#define IMGFCGI_BUF_H

#include <stddef.h>

struct buf {
    unsigned char *data;
    size_t len;
    size_t cap;
};

/* Makes b empty; it owns nothing yet. */
void buf_init(struct buf *b);

/* Frees b's memory and makes it empty. */
void buf_release(struct buf *b);

/* Ensures cap >= n. Returns 0, or -1 when the allocation fails (b unchanged). */
int buf_reserve(struct buf *b, size_t n) __attribute__((warn_unused_result));

/* Appends n bytes; 0 or -1 on allocation failure. */
int buf_append(struct buf *b, const void *p, size_t n) __attribute__((warn_unused_result));

#endif
