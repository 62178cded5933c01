/* buf.c: a growable byte buffer whose allocations fail softly. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "banned.h"

void buf_init(struct buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void buf_release(struct buf *b)
{
    free(b->data);
    buf_init(b);
}

int buf_reserve(struct buf *b, size_t n)
{
    unsigned char *p;

    if (n <= b->cap)
        return 0;
    p = realloc(b->data, n);
    if (p == NULL)
        return -1;
    b->data = p;
    b->cap = n;
    return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    if (n > b->cap - b->len) {
        size_t want = b->cap ? b->cap : 4096;

        while (want - b->len < n) {
            if (want > ((size_t)-1) / 2)
                return -1;
            want *= 2;
        }
        if (buf_reserve(b, want) < 0)
            return -1;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}
