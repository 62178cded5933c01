/* storage.c: storage URL splitting, the transport registry, shared helpers for the transports. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "deadline.h"
#include "headers.h"
#include "log.h"
#include "storage.h"
#include "store_abs.h"
#include "store_gcs.h"
#include "store_s3.h"
#include "store_swift.h"
#include "banned.h"

/*
 * One row per kind: the scheme, imgproxy's text for an empty bucket or key,
 * and the transport's set-up (NULL while a kind has no transport yet). A
 * transport's init fills *ops (NULL when its IMGPROXY_USE_* is off) and
 * returns 0, or -1 after a log line.
 */
static const struct kind_info {
    const char *scheme;
    const char *invalid;
    int (*init)(const struct config *c, const struct storage_ops **ops);
    void (*shutdown)(void);
} kinds[STORAGE_NKINDS] = {
    [STORAGE_S3] = {"s3", "Invalid S3 URL: bucket name or object key is empty", store_s3_init,
                    store_s3_shutdown},
    [STORAGE_GCS] = {"gs", "Invalid GCS URL: bucket name or object key is empty", store_gcs_init,
                     store_gcs_shutdown},
    [STORAGE_ABS] = {"abs", "Invalid ABS URL: container name or object key is empty",
                     store_abs_init, store_abs_shutdown},
    [STORAGE_SWIFT] = {"swift", "Invalid Swift URL: container name or object name is empty",
                       store_swift_init, store_swift_shutdown},
};

/* Written by storage_init() before threads start, read-only afterwards. */
static const struct storage_ops *registered[STORAGE_NKINDS];

static _Atomic unsigned long long n_auth[STORAGE_NKINDS], n_requests[STORAGE_NKINDS],
    n_bytes[STORAGE_NKINDS];

const struct storage_ops *storage_ops_for(enum storage_kind k)
{
    return (unsigned)k < STORAGE_NKINDS ? registered[k] : NULL;
}

const char *storage_scheme(enum storage_kind k)
{
    return (unsigned)k < STORAGE_NKINDS ? kinds[k].scheme : "?";
}

int storage_init(const struct config *c)
{
    storage_shutdown(); /* a second call (tests) starts from nothing */
    for (int k = 0; k < STORAGE_NKINDS; k++) {
        registered[k] = NULL;
        if (kinds[k].init != NULL && kinds[k].init(c, &registered[k]) < 0) {
            storage_shutdown();
            return -1;
        }
    }
    return 0;
}

void storage_shutdown(void)
{
    for (int k = 0; k < STORAGE_NKINDS; k++) {
        if (kinds[k].shutdown != NULL)
            kinds[k].shutdown();
        registered[k] = NULL;
    }
}

void storage_url_free(struct storage_url *u)
{
    free(u->bucket);
    free(u->key);
    free(u->query);
    memset(u, 0, sizeof(*u));
}

int storage_split(const char *src, const char *query_sep, struct storage_url *u, struct errinfo *e)
{
    size_t slen = strcspn(src, ":/");
    const char *p, *host, *slash, *at, *key, *q;
    int k;

    if (src[slen] != ':')
        return 0;
    for (k = 0; k < STORAGE_NKINDS; k++)
        if (strlen(kinds[k].scheme) == slen && strncasecmp(src, kinds[k].scheme, slen) == 0)
            break;
    if (k == STORAGE_NKINDS)
        return 0;
    if (registered[k] == NULL)
        return err_set(e, ERR_SOURCE_NOT_FOUND, "Unknown scheme: %.*s", (int)slen, src);
    memset(u, 0, sizeof(*u));
    u->kind = (enum storage_kind)k;
    p = src + slen + 1;
    if (strncmp(p, "//", 2) != 0)
        return err_set(e, ERR_SOURCE_NOT_FOUND, "%s", kinds[k].invalid);
    host = p + 2;
    slash = strchr(host, '/');
    if (slash == NULL)
        slash = host + strlen(host);
    /* Go's URL parser drops a "user@" (the last '@' of the authority ends it). */
    at = memrchr(host, '@', (size_t)(slash - host));
    if (at != NULL)
        host = at + 1;
    key = slash;
    while (*key == '/')
        key++;
    q = query_sep != NULL && *query_sep != '\0' ? strstr(key, query_sep) : NULL;
    if (slash == host || *key == '\0' || q == key)
        return err_set(e, ERR_SOURCE_NOT_FOUND, "%s", kinds[k].invalid);
    u->bucket = strndup(host, (size_t)(slash - host));
    u->key = q != NULL ? strndup(key, (size_t)(q - key)) : strdup(key);
    u->query = q != NULL ? strdup(q + strlen(query_sep)) : NULL;
    if (u->bucket == NULL || u->key == NULL || (q != NULL && u->query == NULL)) {
        storage_url_free(u);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    return 1;
}

void storage_get_free(struct storage_get *g)
{
    free(g->url);
    curl_slist_free_all(g->headers);
    free(g->aws_sigv4);
    free(g->username);
    if (g->password != NULL)
        explicit_bzero(g->password, strlen(g->password));
    free(g->password);
    free(g->etag);
    free(g->last_modified);
    memset(g, 0, sizeof(*g));
}

bool storage_local_not_modified(const struct fetch_opts *o, const char *etag,
                                const char *last_modified)
{
    time_t ims, lm;

    if (o == NULL)
        return false;
    if (cfg.use_etag && o->if_none_match != NULL && etag != NULL &&
        strcmp(o->if_none_match, etag) == 0)
        return true;
    return cfg.use_last_modified && o->if_modified_since != NULL && last_modified != NULL &&
           headers_parse_http_date(o->if_modified_since, &ims) == 0 &&
           headers_parse_http_date(last_modified, &lm) == 0 && ims >= lm;
}

int storage_path_encode(struct buf *out, const char *key, size_t len, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";

    if (len > ((size_t)-1) / 3 - out->len || buf_reserve(out, out->len + len * 3 + 1) < 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)key[i];

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
            out->data[out->len++] = c;
        } else {
            out->data[out->len++] = '%';
            out->data[out->len++] = (unsigned char)hex[c >> 4];
            out->data[out->len++] = (unsigned char)hex[c & 15];
        }
    }
    out->data[out->len] = '\0';
    return 0;
}

/* ---- storage_http: one blocking request for tokens and auth ---- */

struct http_state {
    struct storage_reply *rep;
    bool too_big;
    bool oom;
};

static size_t http_header(char *line, size_t size, size_t n, void *userdata)
{
    struct http_state *s = userdata;
    size_t len = size * n, end = len;
    char *copy;
    struct curl_slist *next;

    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        curl_slist_free_all(s->rep->headers);
        s->rep->headers = NULL;
        s->rep->body.len = 0;
        return len;
    }
    while (end > 0 && (line[end - 1] == '\r' || line[end - 1] == '\n'))
        end--;
    if (end == 0 || memchr(line, ':', end) == NULL)
        return len;
    copy = strndup(line, end);
    next = copy != NULL ? curl_slist_append(s->rep->headers, copy) : NULL;
    free(copy);
    if (next == NULL) {
        s->oom = true;
        return 0;
    }
    s->rep->headers = next;
    return len;
}

static size_t http_body(char *data, size_t size, size_t n, void *userdata)
{
    struct http_state *s = userdata;
    size_t len = size * n;

    if (s->rep->body.len + len > STORAGE_REPLY_MAX) {
        s->too_big = true;
        return 0;
    }
    if (buf_append(&s->rep->body, data, len) < 0) {
        s->oom = true;
        return 0;
    }
    return len;
}

int storage_http(const char *method, const char *url, const struct curl_slist *headers,
                 const char *body, size_t body_len, long long deadline_ms, long connect_timeout_ms,
                 struct storage_reply *rep, struct errinfo *e)
{
    struct http_state s = {.rep = rep};
    char errbuf[CURL_ERROR_SIZE] = "";
    long long left = deadline_ms > 0 ? deadline_ms - deadline_now_ms() : 0;
    CURL *c;
    CURLcode rc;
    int ret = 0;

    memset(rep, 0, sizeof(*rep));
    buf_init(&rep->body);
    if (deadline_ms > 0 && left <= 0)
        return err_set(e, ERR_SOURCE_TIMEOUT, "No time left for %s %s", method, url);
    c = curl_easy_init();
    if (c == NULL)
        return err_set(e, ERR_INTERNAL, "out of memory");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, cfg.user_agent);
    if (left > 0)
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)left);
    if (connect_timeout_ms > 0)
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
    if (headers != NULL)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body != NULL ? body : "");
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, http_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &s);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    if (cfg.ignore_ssl_verification) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rep->status);
    if (s.oom)
        ret = err_set(e, ERR_INTERNAL, "out of memory");
    else if (s.too_big)
        ret = err_set(e, ERR_SOURCE_FAILED, "%s %s: answer over %d bytes", method, url,
                      STORAGE_REPLY_MAX);
    else if (rc == CURLE_OPERATION_TIMEDOUT)
        ret = err_set(e, ERR_SOURCE_TIMEOUT, "%s %s timed out: %s", method, url, errbuf);
    else if (rc != CURLE_OK)
        ret = err_set(e, ERR_SOURCE_FAILED, "%s %s failed: %s", method, url,
                      errbuf[0] ? errbuf : curl_easy_strerror(rc));
    curl_easy_cleanup(c);
    if (ret < 0)
        storage_reply_release(rep);
    return ret;
}

const char *storage_reply_header(const struct storage_reply *rep, const char *name)
{
    size_t n = strlen(name);

    for (const struct curl_slist *h = rep->headers; h != NULL; h = h->next) {
        if (strncasecmp(h->data, name, n) == 0 && h->data[n] == ':') {
            const char *v = h->data + n + 1;

            while (*v == ' ' || *v == '\t')
                v++;
            return v;
        }
    }
    return NULL;
}

void storage_reply_release(struct storage_reply *rep)
{
    buf_release(&rep->body);
    curl_slist_free_all(rep->headers);
    rep->headers = NULL;
    rep->status = 0;
}

/* The generation of the token each transport's get last handed this thread. */
static _Thread_local unsigned used_generation[STORAGE_NKINDS];

/*
 * Locks t, waiting at most until deadline_ms. pthread_mutex_timedlock takes a
 * CLOCK_REALTIME time, so the monotonic deadline is turned into one
 * (pthread_mutex_clocklock would take it as it is, but ThreadSanitizer does
 * not know that function and would miss the lock). 0 or ERR_SOURCE_TIMEOUT.
 */
static int token_lock(struct storage_token *t, long long deadline_ms, struct errinfo *e)
{
    struct timespec ts;
    long long left =
        deadline_ms > 0 ? deadline_ms - deadline_now_ms() : (long long)cfg.download_timeout * 1000;

    if (left < 0)
        left = 0;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(left / 1000);
    ts.tv_nsec += (long)(left % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    if (pthread_mutex_timedlock(&t->lock, &ts) != 0)
        return err_set(e, ERR_SOURCE_TIMEOUT, "%s", t->wait_msg);
    return 0;
}

/* Replaces t's token with a fetched one (lock held). */
static int token_renew(struct storage_token *t, storage_token_fetch_fn fetch, long long deadline_ms,
                       struct errinfo *e)
{
    char *token = NULL, *extra = NULL;
    long long renew_ms = 0;
    int ret = fetch(deadline_ms, &token, &extra, &renew_ms, e);

    if (ret < 0)
        return ret;
    free(t->token);
    free(t->extra);
    t->token = token;
    t->extra = extra;
    t->renew_ms = renew_ms;
    t->generation++;
    return 0;
}

int storage_token_get(struct storage_token *t, storage_token_fetch_fn fetch, long long deadline_ms,
                      char **token, char **extra, struct errinfo *e)
{
    char *tok = NULL, *ext = NULL;
    int ret = token_lock(t, deadline_ms, e);

    *token = NULL;
    if (extra != NULL)
        *extra = NULL;
    if (ret < 0)
        return ret;
    if (t->token == NULL || (t->renew_ms > 0 && deadline_now_ms() >= t->renew_ms))
        ret = token_renew(t, fetch, deadline_ms, e);
    if (ret == 0) {
        used_generation[t->kind] = t->generation;
        tok = strdup(t->token);
        ext = extra != NULL && t->extra != NULL ? strdup(t->extra) : NULL;
        if (tok == NULL || (extra != NULL && t->extra != NULL && ext == NULL))
            ret = err_set(e, ERR_INTERNAL, "out of memory");
    }
    pthread_mutex_unlock(&t->lock);
    if (ret < 0) {
        free(tok);
        free(ext);
        return ret;
    }
    *token = tok;
    if (extra != NULL)
        *extra = ext;
    return 0;
}

void storage_token_drop(struct storage_token *t)
{
    pthread_mutex_lock(&t->lock);
    if (t->token != NULL && t->generation == used_generation[t->kind]) {
        free(t->token);
        t->token = NULL;
    }
    pthread_mutex_unlock(&t->lock);
}

void storage_token_clear(struct storage_token *t)
{
    pthread_mutex_lock(&t->lock);
    free(t->token);
    free(t->extra);
    t->token = t->extra = NULL;
    t->renew_ms = 0;
    pthread_mutex_unlock(&t->lock);
}

void storage_count_auth(enum storage_kind k)
{
    if ((unsigned)k < STORAGE_NKINDS)
        atomic_fetch_add(&n_auth[k], 1);
}

void storage_count_request(enum storage_kind k)
{
    if ((unsigned)k < STORAGE_NKINDS)
        atomic_fetch_add(&n_requests[k], 1);
}

void storage_count_bytes(enum storage_kind k, size_t n)
{
    if ((unsigned)k < STORAGE_NKINDS)
        atomic_fetch_add(&n_bytes[k], n);
}

void storage_get_stats(enum storage_kind k, struct storage_stats *st)
{
    memset(st, 0, sizeof(*st));
    if ((unsigned)k >= STORAGE_NKINDS)
        return;
    st->auth = atomic_load(&n_auth[k]);
    st->requests = atomic_load(&n_requests[k]);
    st->bytes = atomic_load(&n_bytes[k]);
}
