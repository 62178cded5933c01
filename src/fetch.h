/* fetch.h: downloading a source image over http(s) or reading it from local://. */
#ifndef IMGFCGI_FETCH_H
#define IMGFCGI_FETCH_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "errors.h"

/*
 * One per worker thread: owns a CURL easy handle, so connections to origins
 * are reused from one request to the next. Not thread-safe.
 */
struct fetcher;

/* Creates a fetcher; NULL on allocation failure. Free with fetcher_free(). */
struct fetcher *fetcher_new(void);
/* Frees f; NULL is a no-op. */
void fetcher_free(struct fetcher *f);

/* What a fetch brings back. Caller releases it with fetch_result_release(). */
struct fetch_result {
    /*
     * The source bytes (decoded if the origin gzipped them). When pooled is
     * true they come from bufpool_download and fetch_result_release() gives
     * them back: call it only once no libvips image made from them exists.
     */
    struct buf body;
    bool pooled;
    int origin_status; /* the origin's HTTP status; 200 for local files */
    char *etag;        /* origin headers kept for later use, or NULL */
    char *last_modified;
    char *cache_control;
    char *expires;
    char *content_type;
    char *content_range;
    long long content_length; /* the origin's Content-Length; -1 when it sent none */
    bool partial;             /* fetch_opts.header_only stopped the body early */
};

/* Request headers a fetch may carry; any field may be NULL. Borrowed. */
struct fetch_opts {
    const char *if_none_match;     /* If-None-Match: an origin ETag the client holds */
    const char *if_modified_since; /* If-Modified-Since: the client's value */
    const char *cookie;            /* Cookie: the client's cookies */
    /*
     * The request's limits (its max_src_file_size / max_src_resolution
     * options) when has_limits; otherwise IMGPROXY_MAX_SRC_FILE_SIZE and
     * IMGPROXY_MAX_SRC_RESOLUTION. 0 = no limit.
     */
    bool has_limits;
    long long max_file_size;
    long long max_resolution;
    /*
     * With has_limits: refuse (ERR_SOURCE_TYPE) a body that is no known image
     * type once IMGPROXY_MAX_SVG_CHECK_BYTES are in, and an SVG over
     * IMGFCGI_MAX_SVG_FILE_SIZE, while it downloads. Off for raw requests.
     */
    bool check_type;
    long long timeout_ms; /* sooner than IMGPROXY_DOWNLOAD_TIMEOUT, ms; 0 = none */
    /*
     * Over http(s): stop the body once the checks above have what they need
     * (the type; the dimensions too when there is a resolution limit), read
     * in 16 KB steps; r->partial then says the body is only its first bytes.
     * For answers that need no more than the type and the size (/info).
     */
    bool header_only;
};

void fetch_result_init(struct fetch_result *r);
/* Frees the headers and returns the body to the pool (or frees it). */
void fetch_result_release(struct fetch_result *r);

/*
 * Fetches url (NUL-terminated, already decoded) into r with the limits in cfg.
 * The body buffer comes from bufpool_download, sized once from the origin's
 * Content-Length (or the local file's size) when it is known, else from the
 * pool's default size (at least IMGPROXY_DOWNLOAD_BUFFER_SIZE); no buffer
 * grows past IMGPROXY_MAX_SRC_FILE_SIZE when that is set. Limits:
 * IMGPROXY_DOWNLOAD_TIMEOUT for the whole transfer, IMGPROXY_MAX_REDIRECTS,
 * IMGPROXY_MAX_SRC_FILE_SIZE (a Content-Length over it stops the transfer
 * before any body byte is read; a body that grows past it stops there),
 * IMGPROXY_MAX_SRC_RESOLUTION (the dimensions are read from the header as it
 * arrives, probe.h, and a larger image stops the transfer at once), only
 * http/https (redirects too) and local://. Every connection libcurl opens,
 * redirects and proxies included, is to an address netguard.h allows under
 * IMGPROXY_ALLOW_{LOOPBACK,LINK_LOCAL,PRIVATE}_SOURCE_ADDRESSES: the address
 * is judged as resolved, before the socket exists, so no packet goes to a
 * refused one (ERR_SOURCE_NOT_FOUND, 404, and the address in the message).
 * An origin's 304 returns 0 with r->origin_status 304 and an empty body, as
 * imgproxy treats any 304 as "not modified"; 206 as in fetch_source_with().
 * Returns 0 or an error code recorded in e: ERR_SOURCE_STATUS (e->status set
 * from the origin's status), ERR_SOURCE_TIMEOUT, ERR_SOURCE_NOT_FOUND
 * (address refused, too many redirects, bad scheme), ERR_SOURCE_TYPE (file or
 * resolution too big), ERR_SOURCE_FAILED, ERR_INTERNAL.
 */
int fetch_source(struct fetcher *f, const char *url, struct fetch_result *r, struct errinfo *e)
    __attribute__((warn_unused_result));

/*
 * fetch_source() with request headers (o may be NULL). An origin's 304 (or a
 * local file that matches o's conditions) returns 0 with r->origin_status 304,
 * the origin's headers and an empty body. A 206 is accepted only when its
 * Content-Range covers the whole file ("bytes 0-N/N+1"); otherwise it is
 * ERR_SOURCE_STATUS with status 404. Local files get an ETag (when
 * IMGPROXY_USE_ETAG) and a Last-Modified (when IMGPROXY_USE_LAST_MODIFIED) the
 * way imgproxy's fs transport makes them.
 */
int fetch_source_with(struct fetcher *f, const char *url, const struct fetch_opts *o,
                      struct fetch_result *r, struct errinfo *e)
    __attribute__((warn_unused_result));

#ifdef IMGFCGI_FUZZ
/*
 * Test seam, compiled only into the fuzz build (`make fuzz`, -DIMGFCGI_FUZZ):
 * when fetch_hook is set, fetch_source() and fetch_source_with() return what
 * the hook returns instead of downloading or reading a file, so
 * tests/fuzz/fuzz_request.c serves the source bytes from memory. The hook
 * fills r like a fetch does (body unpooled, freed by fetch_result_release()).
 * Set once before the first request; production builds have no hook.
 */
typedef int (*fetch_hook_fn)(const char *url, struct fetch_result *r, struct errinfo *e);
extern fetch_hook_fn fetch_hook;
#endif

/*
 * Reads local://path under root (a realpath'd directory) into r. Any path that
 * resolves outside root, is not a regular file or does not exist gives
 * ERR_SOURCE_NOT_FOUND. Exposed for tests.
 */
int fetch_local(const char *root, const char *url, struct fetch_result *r, struct errinfo *e)
    __attribute__((warn_unused_result));

#endif
