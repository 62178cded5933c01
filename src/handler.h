/* handler.h: one HTTP request through imgfcgi, start to finish, without FastCGI. */
#ifndef IMGFCGI_HANDLER_H
#define IMGFCGI_HANDLER_H

#include <stddef.h>

struct sched;

/*
 * The request as the web server passes it. Strings are borrowed for the
 * duration of handler_serve().
 */
struct request {
    const char *method; /* REQUEST_METHOD */
    const char *uri;    /* REQUEST_URI: raw, percent-encoded, with the query */
    /*
     * CGI-style parameter lookup; NULL if absent. Read: HTTP_ACCEPT,
     * HTTP_AUTHORIZATION, HTTP_X_REQUEST_ID, HTTP_IF_NONE_MATCH,
     * HTTP_IF_MODIFIED_SINCE, HTTP_COOKIE, HTTP_HOST, HTTP_X_FORWARDED_HOST,
     * HTTP_X_FORWARDED_PROTO, HTTP_X_FORWARDED_PORT.
     */
    const char *(*param)(void *ctx, const char *name);
    void *ctx;
};

struct header {
    const char *name;
    const char *value;
};

/*
 * Where the response goes. fcgi/worker.c implements it on FCGX streams, the
 * tests in memory.
 */
struct output {
    /* Sends the status line and headers; called exactly once per request, before any body. */
    int (*head)(void *ctx, int status, const struct header *headers, size_t n);
    /* Sends body bytes; returns 0, or -1 once the client is gone. */
    int (*body)(void *ctx, const void *data, size_t len);
    /*
     * The response failed after part of the body was sent: the host must end
     * the connection abnormally, so the web server and the client see a
     * truncated response rather than a short, well-formed one. May be NULL.
     */
    void (*abort)(void *ctx);
    void *ctx;
};

/*
 * Serves rq to out: routes, verifies, fetches, processes, streams, logs one
 * line. An image request runs under the scheduler s (borrowed, shared by
 * every thread): it takes a processing slot after its URL checked out and
 * before its download, as imgproxy orders it, queued at most
 * IMGPROXY_REQUESTS_QUEUE_SIZE deep (429 beyond), and the memory budget
 * admits it before processing; other routes (health, metrics) and requests
 * refused on their URL take nothing. Never fails as a whole: every error
 * becomes a status. The request's deadline (IMGPROXY_TIMEOUT) starts here
 * and covers the wait for a slot, the download and the processing: past it
 * the answer is 503, or, once the response has started, an aborted
 * response. Returns the HTTP status sent (for tests and metrics).
 */
int handler_serve(struct sched *s, const struct request *rq, const struct output *out);

#endif
