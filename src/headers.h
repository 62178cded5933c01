/* headers.h: the response header rules of imgproxy v3 as pure functions. */
#ifndef IMGFCGI_HEADERS_H
#define IMGFCGI_HEADERS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "imagetype.h"
#include "options.h"

/* base64url of a SHA-256 digest, unpadded, with the NUL. */
#define HEADERS_HASH_LEN 44
/* Longest origin ETag an R ETag may carry; longer ones give D ETags. */
#define HEADERS_ORIGIN_ETAG_MAX 256

/* What setCacheControl looks at. Strings are borrowed and may be NULL. */
struct cache_input {
    int ttl;                          /* IMGPROXY_TTL */
    bool passthrough;                 /* IMGPROXY_CACHE_CONTROL_PASSTHROUGH */
    bool fallback;                    /* the fallback image is being sent */
    int fallback_ttl;                 /* IMGPROXY_FALLBACK_IMAGE_TTL */
    bool has_expires;                 /* the `expires` option */
    long long expires;                /* its unix time */
    const char *origin_cache_control; /* the origin's Cache-Control */
    const char *origin_expires;       /* the origin's Expires */
    time_t now;
};

/*
 * Writes the Cache-Control value for in into out (outlen bytes, truncated
 * if short): the origin's value verbatim under passthrough, else
 * "max-age=N, public" or "no-cache".
 */
void headers_cache_control(const struct cache_input *in, char *out, size_t outlen);

/*
 * Parses an HTTP date in the one form Go's http.TimeFormat accepts
 * ("Mon, 02 Jan 2006 15:04:05 GMT"). Returns 0 and sets *out, or -1.
 */
int headers_parse_http_date(const char *s, time_t *out) __attribute__((warn_unused_result));

/* Formats t as "Mon, 02 Jan 2006 15:04:05 GMT" into out (30 bytes), locale-independent. */
void headers_format_http_date(time_t t, char out[30]);

/*
 * Writes `inline; filename="<name><ext>"` (or attachment) into out. name is
 * filename when it is non-empty, else the last element of source_url's path
 * (percent-decoded) without its extension, else "image". `"` becomes %22 and
 * control characters become spaces, so the value is always one safe header line.
 */
void headers_content_disposition(char *out, size_t outlen, const char *filename,
                                 const char *source_url, enum imgtype t, bool attachment);

/*
 * base64url(SHA-256(data)) without padding into out (HEADERS_HASH_LEN bytes).
 * The three parts are hashed one after another; b and c may be NULL.
 */
void headers_sha256_b64(const void *a, size_t alen, const void *b, size_t blen, const void *c,
                        size_t clen, char out[HEADERS_HASH_LEN]);

/*
 * The options hash of an ETag: base64url(sha256(buster + options_canonical(po)
 * + "\n")). buster may be NULL.
 */
void headers_options_hash(const struct procopts *po, const char *buster,
                          char out[HEADERS_HASH_LEN]);

/* What a client's If-None-Match says about the image it has. */
struct etag_expect {
    bool valid;                                /* an imgfcgi ETag was parsed */
    char po_hash[HEADERS_HASH_LEN];            /* its options hash */
    bool has_origin_etag;                      /* R form: */
    char origin_etag[HEADERS_ORIGIN_ETAG_MAX]; /*   the origin's ETag, decoded */
    char img_hash[HEADERS_HASH_LEN];           /* D form: SHA-256 of the source */
};

/*
 * Parses If-None-Match (NULL allowed) as imgproxy does: only the first
 * comma-separated value, only a strong quoted `"<hash>/R<b64>"` or
 * `"<hash>/D<hash>"`. Anything else leaves x->valid false.
 */
void headers_etag_parse(const char *inm, struct etag_expect *x);

/*
 * Writes the ETag `"<po_hash>/R<base64url(origin_etag)>"` when origin_etag is
 * non-empty and short enough, else `"<po_hash>/D<img_hash>"`. Returns 'R' or 'D'.
 */
int headers_etag_make(char *out, size_t outlen, const char *po_hash, const char *origin_etag,
                      const char *img_hash);

/*
 * True when authorization is exactly "Bearer <secret>", compared in time that
 * depends only on the expected value's length. NULL authorization is false.
 */
bool headers_secret_ok(const char *authorization, const char *secret);

/*
 * Whether the client's cookies may go to source_url under cookie passthrough:
 * base_url ("scheme://host[:port]/path") is where they belong, as Go's
 * cookiejar scopes them: the source host equals base's host or is a subdomain
 * of it (ports ignored), and the source path is under base's directory.
 */
bool headers_cookie_scope_ok(const char *source_url, const char *base_url);

/* True when s (NULL is false) has no control characters: safe as a header value. */
bool headers_value_safe(const char *s);

#endif
