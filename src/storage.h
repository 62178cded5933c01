/* storage.h: object-store sources (s3://, gs://, abs://, swift://): URL splitting, the transports.
 */
#ifndef IMGFCGI_STORAGE_H
#define IMGFCGI_STORAGE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "errors.h"
#include "fetch.h"

/*
 * How a storage source is fetched. fetch.c recognises a storage URL with
 * storage_split(), asks the scheme's transport (src/store_<kind>.c, one
 * static struct storage_ops each) to prepare() one HTTP GET, and makes that
 * GET through the same libcurl transfer as an http(s) source (pooled buffer,
 * Content-Length pre-check, streaming size cap, early header probe, timeout)
 * with the source-address guard off (storage endpoints are the operator's),
 * no redirects followed, and the transport's status mapping. A 401 answer
 * calls unauthorized() and, when it returns true, prepare()s and sends once
 * more.
 *
 * Order of checks, as imgproxy's: IMGPROXY_ALLOWED_SOURCES in the handler on
 * the whole source URL, then here the scheme (disabled: 404 "Unknown scheme"),
 * then the bucket/key split (empty: 404 "Invalid S3 URL: ...").
 *
 * Additions to the interface first planned, kept small: storage_get gains
 * gunzip (libcurl decodes a stored Content-Encoding: gzip), connect_timeout_ms
 * and hint_header, storage_ops the optional redirected() (S3's wrong region);
 * the transports register through the table in storage.c (one init/shutdown
 * pair per kind, declared in store_<kind>.h); storage_http() is a small
 * blocking request for token and auth calls, struct storage_token the
 * token cache gs and swift share; storage_count_*() and
 * storage_get_stats() feed the Prometheus counters; storage_path_encode()
 * is the shared key encoder. A transport's etag/last_modified in storage_get
 * also replace the GET's own headers when set (gs takes them from the
 * object's metadata, as imgproxy does).
 */

struct curl_slist;

enum storage_kind { STORAGE_S3, STORAGE_GCS, STORAGE_ABS, STORAGE_SWIFT, STORAGE_NKINDS };

/*
 * A source URL split per imgproxy: bucket = the bytes between "://" and the
 * next '/' (a "user@" dropped), key = the rest byte for byte with every
 * leading '/' stripped (no percent-decoding), cut at the first query_sep
 * (when non-empty): the right part is query, raw (NULL when there is none).
 * All three strings are owned; storage_url_free() frees them.
 */
struct storage_url {
    enum storage_kind kind;
    char *bucket;
    char *key;
    char *query;
};

/*
 * Returns 1 and fills u when src (NUL-terminated, decoded) has a storage scheme
 * (s3, gs, abs, swift; case-insensitive), 0 when not (u untouched); -1 with e
 * set on a disabled scheme (ERR_SOURCE_NOT_FOUND, 404 "Unknown scheme: s3"),
 * an empty bucket or key (ERR_SOURCE_NOT_FOUND, 404 "Invalid S3 URL: bucket
 * name or object key is empty" and each storage's own wording), or no memory.
 * query_sep may be NULL or "" (no query). On -1 u holds nothing to free.
 */
int storage_split(const char *src, const char *query_sep, struct storage_url *u, struct errinfo *e)
    __attribute__((warn_unused_result));
/* Frees u's strings and zeroes it; a zeroed u is a no-op. */
void storage_url_free(struct storage_url *u);

/* One HTTP GET a transport asks fetch.c to make. All owned; storage_get_free(). */
struct storage_get {
    char *url;                  /* absolute http(s) URL, already percent-encoded */
    struct curl_slist *headers; /* extra request headers (signed ones included) */
    char *aws_sigv4;            /* "aws:amz:REGION:s3" for CURLOPT_AWS_SIGV4, or NULL */
    char *username, *password;  /* CURLOPT_USERNAME/PASSWORD with aws_sigv4 */
    bool forward_conditionals;  /* s3: send If-None-Match/If-Modified-Since (IMF-fixdate only) */
    bool gunzip;                /* decode a Content-Encoding: gzip body (s3, swift) */
    long connect_timeout_ms;    /* 0 = libcurl's default; the download timeout still bounds it */
    bool not_modified;          /* the transport decided 304 already (e.g. gcs metadata) */
    char *etag, *last_modified; /* the validators to return (with not_modified), or, when set,
                                   to keep instead of the GET's (gcs: the metadata's) */
    const char *hint_header;    /* a response header redirected() gets (static), or NULL */
};

struct storage_ops {
    /*
     * Builds the GET for u into g (zeroed by the caller) from the request's
     * options o (may be NULL). May fetch or reuse a cached token: thread-safe,
     * bounded by deadline_ms (CLOCK_MONOTONIC ms, deadline_now_ms(); 0 = none).
     * Returns 0 or an error code in e (ERR_SOURCE_FAILED with the storage's
     * message for an auth failure: 500 as imgproxy; ERR_SOURCE_TIMEOUT).
     * The caller frees g with storage_get_free() either way.
     */
    int (*prepare)(const struct storage_url *u, const struct fetch_opts *o, long long deadline_ms,
                   struct storage_get *g, struct errinfo *e);
    /* The storage answered 401: drop any cached token; return true to retry once. NULL = no. */
    bool (*unauthorized)(void);
    /*
     * The storage's HTTP status (not 200, 206, 304) -> the status imgproxy
     * passes to its generic mapping (4xx kept, 5xx -> 502, else 404); 500
     * means "Internal error" (ERR_SOURCE_FAILED).
     */
    int (*map_status)(long status);
    /*
     * A 3xx answer carried g->hint_header with value hint: return true to
     * prepare() and send once more (s3: the bucket's region learnt from a
     * 301). NULL = no.
     */
    bool (*redirected)(const struct storage_url *u, long status, const char *hint);
};

/* The transport of k once storage_init() ran; NULL when the scheme is disabled. */
const struct storage_ops *storage_ops_for(enum storage_kind k);
/* The scheme of k: "s3", "gs", "abs", "swift". */
const char *storage_scheme(enum storage_kind k);
/* Frees what g holds and zeroes it; a zeroed g is a no-op. */
void storage_get_free(struct storage_get *g);

/*
 * Process-wide set-up from the config (credentials, endpoints) of every
 * enabled scheme: call once before threads start, after curl_global_init().
 * 0, or -1 after a log line naming the setting.
 */
int storage_init(const struct config *c) __attribute__((warn_unused_result));
/* Frees what storage_init() set up; every scheme is disabled afterwards. */
void storage_shutdown(void);

/*
 * imgproxy's local 304 rule (gs, abs, swift, local): IMGPROXY_USE_ETAG and
 * o->if_none_match byte-equal to etag, or else IMGPROXY_USE_LAST_MODIFIED and
 * o->if_modified_since at or after last_modified (both HTTP dates, second
 * precision), even after an If-None-Match mismatch. Any argument may be NULL.
 */
bool storage_local_not_modified(const struct fetch_opts *o, const char *etag,
                                const char *last_modified);

/*
 * Appends key (len bytes) to out percent-encoded as S3 wants its canonical
 * URI: every byte but A-Z a-z 0-9 - _ . ~ and, when keep_slash, '/', as %XX
 * with upper-case hex. 0 or -1 (no memory).
 */
int storage_path_encode(struct buf *out, const char *key, size_t len, bool keep_slash)
    __attribute__((warn_unused_result));

/* An answer of storage_http(). Release with storage_reply_release(). */
struct storage_reply {
    long status;
    struct buf body;            /* at most STORAGE_REPLY_MAX bytes */
    struct curl_slist *headers; /* the last response's header lines, "Name: value" */
};
#define STORAGE_REPLY_MAX (1024 * 1024)

/*
 * One blocking request for the transports' own calls (tokens, auth): method
 * "GET" or "POST" (body, body_len; NULL for none), headers borrowed (may be
 * NULL), bounded by deadline_ms and connect_timeout_ms (0 = none), no
 * redirects, no source-address guard. Fills rep (initialised here) and
 * returns 0 whatever the status, or ERR_SOURCE_TIMEOUT / ERR_SOURCE_FAILED
 * (network, a body over STORAGE_REPLY_MAX) / ERR_INTERNAL with e set.
 */
int storage_http(const char *method, const char *url, const struct curl_slist *headers,
                 const char *body, size_t body_len, long long deadline_ms, long connect_timeout_ms,
                 struct storage_reply *rep, struct errinfo *e) __attribute__((warn_unused_result));
/* The value of header name (case-insensitive) in rep, without leading blanks; NULL if absent. */
const char *storage_reply_header(const struct storage_reply *rep, const char *name);
void storage_reply_release(struct storage_reply *rep);

/*
 * One access token shared by every thread of a transport (gs, swift), with
 * the text that goes with it (swift: the storage URL). lock guards the
 * fields below it and is held while a token is fetched, so requests that
 * find none (or one due for renewal) wait for that one exchange instead of
 * making their own, each at most until its own deadline. Define one with
 * STORAGE_TOKEN_INIT.
 */
struct storage_token {
    pthread_mutex_t lock;
    enum storage_kind kind;
    const char *wait_msg; /* the error text when the wait for the lock times out */
    char *token;          /* NULL: none */
    char *extra;          /* what goes with it, or NULL */
    long long renew_ms;   /* CLOCK_MONOTONIC ms from which it is renewed; 0 = when dropped */
    unsigned generation;  /* bumped with every new token */
};
#define STORAGE_TOKEN_INIT(k, msg)                                                                 \
    {                                                                                              \
        .lock = PTHREAD_MUTEX_INITIALIZER, .kind = (k), .wait_msg = (msg)                          \
    }

/*
 * Fetches a new token, bounded by deadline_ms (called with the lock held):
 * 0 with *token and *extra (caller frees with free(); extra may be left
 * NULL) and *renew_ms (CLOCK_MONOTONIC ms; 0 = never) set, or an error code
 * with e set.
 */
typedef int (*storage_token_fetch_fn)(long long deadline_ms, char **token, char **extra,
                                      long long *renew_ms, struct errinfo *e);

/*
 * Copies of t's token and extra in *token and *extra (extra may be NULL when
 * not wanted; caller frees both with free(); NULL after an error), fetched
 * with fetch first when
 * there is none or it is due for renewal. Waits for the lock at most until
 * deadline_ms (0 = the download timeout). Remembers, for this thread, which
 * token it handed out. 0, ERR_SOURCE_TIMEOUT (t->wait_msg), ERR_INTERNAL or
 * fetch's error, with e set.
 */
int storage_token_get(struct storage_token *t, storage_token_fetch_fn fetch, long long deadline_ms,
                      char **token, char **extra, struct errinfo *e)
    __attribute__((warn_unused_result));

/*
 * The storage refused the token this thread last got from t (a 401): drops
 * it, unless another thread has replaced it already.
 */
void storage_token_drop(struct storage_token *t);

/* Frees t's token (shutdown, tests); the next get fetches one. */
void storage_token_clear(struct storage_token *t);

/* Counters for the metrics page; any thread. */
void storage_count_auth(enum storage_kind k);            /* a token or auth request made */
void storage_count_request(enum storage_kind k);         /* an object GET sent */
void storage_count_bytes(enum storage_kind k, size_t n); /* object body bytes received */
struct storage_stats {
    unsigned long long auth, requests, bytes;
};
void storage_get_stats(enum storage_kind k, struct storage_stats *st);

#endif
