/* fetch.c: source bytes from http(s) through libcurl or from local:// under a root. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "config.h"
#include "fetch.h"
#include "log.h"
#include "url.h"
#include "banned.h"

#define ERROR_BODY_KEEP 1024 /* bytes of an origin's error body kept for the log */
/*
 * libcurl's receive buffer. curl_easy_reset() puts the size back to 16 KB, so
 * libcurl allocates it again for each transfer: 64 KB stays under glibc's
 * mmap threshold and in L2, and still takes a loopback TCP segment in one read.
 */
#define FETCH_READ_SIZE (64L * 1024)

struct fetcher {
    CURL *curl;
    char curl_err[CURL_ERROR_SIZE];
};

/* State of one transfer, seen by the curl callbacks. */
struct transfer {
    struct fetch_result *r;
    long long max_size;
    bool too_big;
    bool oom;
    int status;      /* status of the response being received (redirects reset it) */
    long long content_length;
};

struct fetcher *fetcher_new(void)
{
    struct fetcher *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return NULL;
    f->curl = curl_easy_init();
    if (f->curl == NULL) {
        free(f);
        return NULL;
    }
    return f;
}

void fetcher_free(struct fetcher *f)
{
    if (f == NULL)
        return;
    curl_easy_cleanup(f->curl);
    free(f);
}

void fetch_result_init(struct fetch_result *r)
{
    memset(r, 0, sizeof(*r));
    buf_init(&r->body);
}

void fetch_result_release(struct fetch_result *r)
{
    buf_release(&r->body);
    free(r->etag);
    free(r->last_modified);
    free(r->cache_control);
    free(r->expires);
    free(r->content_type);
    fetch_result_init(r);
}

static void clear_headers(struct fetch_result *r)
{
    char **fields[] = {&r->etag, &r->last_modified, &r->cache_control, &r->expires,
                       &r->content_type};

    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        free(*fields[i]);
        *fields[i] = NULL;
    }
}

/* Keeps the headers later issues need (ETag, Last-Modified, Cache-Control, Expires). */
static size_t on_header(char *line, size_t size, size_t n, void *userdata)
{
    struct transfer *t = userdata;
    size_t len = size * n;
    static const struct {
        const char *name;
        size_t off;
    } kept[] = {
        {"etag", offsetof(struct fetch_result, etag)},
        {"last-modified", offsetof(struct fetch_result, last_modified)},
        {"cache-control", offsetof(struct fetch_result, cache_control)},
        {"expires", offsetof(struct fetch_result, expires)},
        {"content-type", offsetof(struct fetch_result, content_type)},
    };

    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        /* A new response (after a redirect or a 100): forget the previous one's headers. */
        const char *sp = memchr(line, ' ', len);

        clear_headers(t->r);
        t->r->body.len = 0;
        t->content_length = -1;
        t->status = 0;
        if (sp != NULL && (size_t)(sp - line) + 4 <= len)
            t->status = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
        return len;
    }
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
        size_t nl = strlen(kept[i].name);

        if (len > nl + 1 && strncasecmp(line, kept[i].name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            const char *end = line + len;
            char **dst = (char **)((char *)t->r + kept[i].off);

            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
                end--;
            free(*dst);
            *dst = strndup(v, (size_t)(end - v));
        }
    }
    if (len > 15 && strncasecmp(line, "content-length:", 15) == 0) {
        char *endp;
        long long cl = strtoll(line + 15, &endp, 10);

        t->content_length = cl >= 0 ? cl : -1;
        /* Size the buffer once when the origin says how big the body is. */
        if (t->status == 200 && t->content_length > 0) {
            if (t->max_size > 0 && t->content_length > t->max_size) {
                t->too_big = true;
                return 0;
            }
            if (buf_reserve(&t->r->body, (size_t)t->content_length) < 0) {
                t->oom = true;
                return 0;
            }
        }
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *userdata)
{
    struct transfer *t = userdata;
    size_t len = size * n;

    if (t->status != 200) {
        /* An error body: keep a little of it for the log. */
        size_t room = t->r->body.len < ERROR_BODY_KEEP ? ERROR_BODY_KEEP - t->r->body.len : 0;

        if (room > len)
            room = len;
        if (room > 0 && buf_append(&t->r->body, data, room) < 0)
            t->oom = true;
        return t->oom ? 0 : len;
    }
    if (t->max_size > 0 && (long long)(t->r->body.len + len) > t->max_size) {
        t->too_big = true;
        return 0;
    }
    if (buf_append(&t->r->body, data, len) < 0) {
        t->oom = true;
        return 0;
    }
    return len;
}

static bool has_prefix(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

int fetch_local(const char *root, const char *url, struct fetch_result *r, struct errinfo *e)
{
    const char *p = url + strlen("local://");
    size_t plen;
    char *rel = NULL, *joined = NULL, *real = NULL;
    const char *sep = cfg.source_url_query_separator;
    size_t rootlen;
    struct stat st;
    int fd = -1, ret;
    long dl;

    if (root == NULL || *root == '\0')
        return err_set(e, ERR_SOURCE_NOT_FOUND, "Unknown scheme: local (local:// is disabled)");
    rootlen = strlen(root);
    /* local://host/path: imgproxy uses the URL's path, so skip a host part. */
    if (*p != '/') {
        const char *slash = strchr(p, '/');

        p = slash ? slash : p + strlen(p);
    }
    plen = strlen(p);
    if (sep != NULL && *sep != '\0') {
        const char *q = strstr(p, sep);

        if (q != NULL)
            plen = (size_t)(q - p);
    }
    rel = malloc(plen + 1);
    if (rel == NULL) {
        ret = err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    dl = url_unescape(p, plen, rel);
    if (dl < 0 || memchr(rel, '\0', (size_t)dl) != NULL) {
        ret = err_set(e, ERR_SOURCE_NOT_FOUND, "Invalid local path");
        goto out;
    }
    joined = malloc(rootlen + (size_t)dl + 2);
    if (joined == NULL) {
        ret = err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    memcpy(joined, root, rootlen);
    joined[rootlen] = '/';
    memcpy(joined + rootlen + 1, rel, (size_t)dl + 1);
    /*
     * realpath resolves "..", "." and every symlink; whatever it names must
     * still be under root. This is what keeps ../ and symlinks from escaping.
     */
    real = realpath(joined, NULL);
    if (real == NULL || strncmp(real, root, rootlen) != 0 ||
        (real[rootlen] != '/' && !(rootlen == 1 && root[0] == '/'))) {
        ret = err_set(e, ERR_SOURCE_NOT_FOUND, "Source file not found: %s", rel);
        goto out;
    }
    fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        ret = err_set(e, ERR_SOURCE_NOT_FOUND, "Source file not found or not a file: %s", rel);
        goto out;
    }
    if (cfg.max_src_file_size > 0 && st.st_size > cfg.max_src_file_size) {
        ret = err_set(e, ERR_SOURCE_TYPE, "Source image file is too big (%lld bytes)",
                      (long long)st.st_size);
        goto out;
    }
    /* The size is known: one allocation that fits. */
    if (buf_reserve(&r->body, (size_t)st.st_size + 1) < 0) {
        ret = err_set(e, ERR_INTERNAL, "out of memory for %lld bytes", (long long)st.st_size);
        goto out;
    }
    r->body.len = 0;
    while (r->body.len < (size_t)st.st_size) {
        ssize_t n = read(fd, r->body.data + r->body.len, (size_t)st.st_size - r->body.len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            ret = err_set(e, ERR_SOURCE_FAILED, "Reading %s failed", rel);
            goto out;
        }
        r->body.len += (size_t)n;
    }
    r->origin_status = 200;
    ret = 0;
out:
    if (fd >= 0)
        close(fd);
    free(real);
    free(joined);
    free(rel);
    return ret;
}

static int fetch_http(struct fetcher *f, const char *url, struct fetch_result *r,
                      struct errinfo *e)
{
    CURL *c = f->curl;
    struct transfer t = {.r = r, .max_size = cfg.max_src_file_size, .status = 0,
                         .content_length = -1};
    CURLcode rc;
    long status = 0;

    curl_easy_reset(c);
    f->curl_err[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, f->curl_err);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long)cfg.max_redirects);
    /* One deadline for connect, headers and body, as IMGPROXY_DOWNLOAD_TIMEOUT. */
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)cfg.download_timeout * 1000L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, cfg.user_agent);
    /* Gzip bodies are decoded; the header advertises gzip only. */
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "gzip");
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    /* 16 KB reads (the default) mean a poll and a recv per 16 KB of a multi-MB source. */
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, FETCH_READ_SIZE);
    if (cfg.ignore_ssl_verification) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }

    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    r->origin_status = (int)status;

    if (t.too_big)
        return err_set(e, ERR_SOURCE_TYPE, "Source image file is too big");
    if (t.oom)
        return err_set(e, ERR_INTERNAL, "out of memory while downloading");
    switch (rc) {
    case CURLE_OK:
        break;
    case CURLE_OPERATION_TIMEDOUT:
        return err_set(e, ERR_SOURCE_TIMEOUT, "The image request timed out: %s", f->curl_err);
    case CURLE_TOO_MANY_REDIRECTS:
        return err_set(e, ERR_SOURCE_NOT_FOUND, "Stopped after %d redirects", cfg.max_redirects);
    case CURLE_UNSUPPORTED_PROTOCOL:
        return err_set(e, ERR_SOURCE_NOT_FOUND, "Unsupported protocol: %s", f->curl_err);
    case CURLE_URL_MALFORMAT:
        return err_set(e, ERR_SOURCE_NOT_FOUND, "Malformed source URL: %s", f->curl_err);
    default:
        return err_set(e, ERR_SOURCE_FAILED, "Can't download source image: %s",
                       f->curl_err[0] ? f->curl_err : curl_easy_strerror(rc));
    }
    if (status != 200) {
        int ret = err_set(e, ERR_SOURCE_STATUS, "Status %ld from the origin", status);

        if (r->content_type != NULL && has_prefix(r->content_type, "text/") && r->body.len > 0)
            err_set(e, ERR_SOURCE_STATUS, "Status %ld from the origin: %.*s", status,
                    (int)(r->body.len > 200 ? 200 : r->body.len), (const char *)r->body.data);
        e->status = err_source_status((int)status);
        buf_release(&r->body);
        return ret;
    }
    return 0;
}

int fetch_source(struct fetcher *f, const char *url, struct fetch_result *r, struct errinfo *e)
{
    if (has_prefix(url, "http://") || has_prefix(url, "https://"))
        return fetch_http(f, url, r, e);
    if (has_prefix(url, "local://"))
        return fetch_local(cfg.local_root, url, r, e);
    return err_set(e, ERR_SOURCE_NOT_FOUND, "Unknown scheme: %.*s", (int)strcspn(url, ":/"),
                   url);
}
