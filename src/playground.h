/*
 * playground.h: the playground and live memory view (IMGFCGI_PLAYGROUND), its
 * JSON figures and its signing endpoint. The page's HTML, CSS and JavaScript
 * are the files of web/, compiled into the binary.
 */
#ifndef IMGFCGI_PLAYGROUND_H
#define IMGFCGI_PLAYGROUND_H

#include <stdbool.h>
#include <stddef.h>

struct sched;

/* What the request carries that the playground reads (each NULL if absent). */
struct playground_request {
    const char *query;   /* after '?', without it */
    const char *host;    /* Host (or X-Forwarded-Host) */
    const char *origin;  /* Origin */
    const char *referer; /* Referer */
};

/* An answer: body is static or heap (then freed with playground_reply_free). */
struct playground_reply {
    int status;
    const char *type;
    const char *body;
    size_t len;
    char *heap;
};

/*
 * Answers path (len bytes, after IMGPROXY_PATH_PREFIX) if it is one of the
 * playground's routes and that route is on: "/" and the signing endpoint with
 * IMGFCGI_PLAYGROUND, "/memory", the figures and the page's files with it or
 * with IMGFCGI_METRICS_PATH. Returns false (reply untouched) otherwise.
 */
bool playground_route(struct sched *s, const char *path, size_t len,
                      const struct playground_request *rq, struct playground_reply *reply);

void playground_reply_free(struct playground_reply *reply);

/*
 * The signing endpoint's checks, for tests: true if origin and referer (each
 * may be NULL) name no site but host, and at least the referer is present.
 */
bool playground_same_site(const char *host, const char *origin, const char *referer);

/* True if source (decoded) is one the playground signs: local://, or IMGFCGI_PLAYGROUND_ORIGIN. */
bool playground_source_ok(const char *source);

#endif
