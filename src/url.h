/* url.h: splitting an imgproxy path into signature, options and source. */
#ifndef IMGFCGI_URL_H
#define IMGFCGI_URL_H

#include <stdbool.h>
#include <stddef.h>

#include "errors.h"

#define URL_MAX_LEN 16384 /* longer request URIs are refused as invalid */
#define URL_MAX_SEGMENTS 128

/*
 * A request path taken apart. All strings point into storage owned by the
 * struct; release it with url_release().
 */
struct urlparts {
    char *signature; /* first segment, e.g. "insecure" */
    char *path;      /* signed path: "/" + rest, after the %3A and scheme:/ fix-ups */
    size_t path_len;

    /* Filled by url_parse_path(): */
    char *segments[URL_MAX_SEGMENTS]; /* option segments, in URL order */
    size_t nsegments;
    char *source; /* source URL, percent- or base64-decoded */
    size_t source_len;
    char *ext; /* requested extension, or NULL */
    /* Set between url_split() and url_parse_path(): only_presets, not IMGPROXY_ONLY_PRESETS. */
    bool presets_override;
    bool only_presets;

    char *storage_; /* backing buffers (private) */
    char *storage2_;
};

/*
 * Step 1: cuts the query, removes prefix (may be "" or NULL), takes the
 * signature segment and applies fixPath. uri/len are the raw REQUEST_URI.
 * Returns 0 or ERR_INVALID_URL (recorded in e). Caller releases u with
 * url_release() whatever the result.
 */
int url_split(struct urlparts *u, const char *uri, size_t len, const char *prefix,
              struct errinfo *e) __attribute__((warn_unused_result));

/*
 * Step 2 (after the signature is verified): splits u->path into option
 * segments (those that contain sep) and the source URL in its plain or base64
 * form. Returns 0 or ERR_INVALID_URL.
 */
int url_parse_path(struct urlparts *u, char sep, struct errinfo *e)
    __attribute__((warn_unused_result));

/* Frees u's storage; u may be zeroed or partially filled. */
void url_release(struct urlparts *u);

/*
 * Decodes %XX escapes of s (len bytes) into out (at least len + 1 bytes).
 * Returns the decoded length, or -1 on a malformed escape. Does not turn '+'
 * into a space (path semantics).
 */
long url_unescape(const char *s, size_t len, char *out);

/*
 * imgproxy's preprocessURL: applies IMGPROXY_URL_REPLACEMENTS (`pattern=repl`
 * pairs split by ';'; a pattern matches a prefix, `*` matches any run of
 * characters but '/', `${N}` in repl is the N-th wildcard) in order, then puts
 * IMGPROXY_BASE_URL in front unless the URL already starts with it. Returns a
 * new string the caller frees with g_free(), or NULL when out of memory.
 */
char *url_preprocess(const char *src);

/* Decodes unpadded or padded base64url; returns length or -1. out >= len bytes. */
long url_base64_decode(const char *s, size_t len, unsigned char *out);

#endif
