/* fetch.c: source bytes from http(s) through libcurl or from local:// under a root. */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <glib.h>

#include "bufpool.h"
#include "config.h"
#include "deadline.h"
#include "fetch.h"
#include "headers.h"
#include "log.h"
#include "netguard.h"
#include "probe.h"
#include "storage.h"
#include "url.h"
#include "banned.h"

#define ERROR_BODY_KEEP 1024    /* bytes of an origin's error body kept for the log */
#define INET6_ADDRSTRLEN_MAX 64 /* room for any numeric address netguard_format writes */
/*
 * libcurl's receive buffer. curl_easy_reset() puts the size back to 16 KB, so
 * libcurl allocates it again for each transfer: 64 KB stays under glibc's
 * mmap threshold and in L2, and still takes a loopback TCP segment in one read.
 */
#define FETCH_READ_SIZE (64L * 1024)
#define FETCH_HEADER_READ_SIZE (16L * 1024) /* reads of a header_only transfer */
/*
 * The most a Content-Length may reserve up front. A larger claim (a hostile
 * "10 GB" with no IMGPROXY_MAX_SRC_FILE_SIZE) gets this much and grows only
 * as bytes really arrive.
 */
#define FETCH_PRESIZE_MAX ((size_t)32 * 1024 * 1024)
/* local:// files are read in steps this big, the header probed after the first. */
#define LOCAL_READ_STEP ((size_t)1024 * 1024)

#ifdef IMGFCGI_FUZZ
fetch_hook_fn fetch_hook; /* see fetch.h: the fuzz build's in-memory source */
#endif

struct fetcher {
    CURL *curl;
    char curl_err[CURL_ERROR_SIZE];
};

/* State of one transfer, seen by the curl callbacks. */
struct transfer {
    struct fetch_result *r;
    long long max_size;
    long long max_resolution;
    bool too_big;
    bool oom;
    bool probing;    /* the header's dimensions are still to be read */
    bool check_type; /* unknown types and oversized SVGs are refused while downloading */
    bool typing;     /* check_type, and the type is not known yet */
    bool svg;        /* the body is an SVG: IMGFCGI_MAX_SVG_FILE_SIZE applies */
    enum { REJECT_NONE, REJECT_PIXELS, REJECT_TYPE, REJECT_SVG } rejected;
    struct probe_info probe;
    struct netguard_policy policy;
    bool blocked; /* a connection was refused by the address guard */
    unsigned blocked_class;
    char blocked_addr[INET6_ADDRSTRLEN_MAX];
    int status; /* status of the response being received (redirects reset it) */
    long long content_length;
    bool header_only; /* stop once checking() is over (fetch_opts.header_only) */
    bool stopped;     /* ... and it did */
    int storage;      /* enum storage_kind of a storage transfer (counted for metrics), else -1 */
    const char *hint_header; /* storage: a header to keep in hint (storage_get.hint_header) */
    char hint[128];
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

/* Gives the body back: to the pool it came from, or to free(). */
static void release_body(struct fetch_result *r)
{
    if (r->pooled)
        bufpool_release(bufpool_download, &r->body);
    else
        buf_release(&r->body);
    r->pooled = false;
}

/*
 * Makes r->body a pooled buffer for a body of size_hint bytes (0 = unknown),
 * dropping whatever an earlier response (an error page, a redirect) left.
 * An already pooled buffer is kept and grown if it must. 0 or -1.
 */
static int body_for(struct fetch_result *r, size_t size_hint)
{
    if (r->pooled) {
        r->body.len = 0;
        return size_hint > 0 ? buf_reserve(&r->body, size_hint) : 0;
    }
    buf_release(&r->body);
    if (bufpool_acquire(bufpool_download, size_hint, &r->body) < 0)
        return -1;
    r->pooled = true;
    return 0;
}

/* Appends to the body, growing it at most to limit (0 = none) when limit is set. */
static int body_append(struct buf *b, const void *p, size_t n, long long limit)
{
    if (limit > 0 && n > b->cap - b->len) {
        size_t want = b->cap > 0 ? b->cap * 2 : 4096;

        if (want < b->len + n)
            want = b->len + n;
        if ((long long)want > limit)
            want = (size_t)limit;
        if (want >= b->len + n && buf_reserve(b, want) < 0)
            return -1;
    }
    return buf_append(b, p, n);
}

void fetch_result_release(struct fetch_result *r)
{
    release_body(r);
    free(r->etag);
    free(r->last_modified);
    free(r->cache_control);
    free(r->expires);
    free(r->content_type);
    free(r->content_range);
    fetch_result_init(r);
}

static void clear_headers(struct fetch_result *r)
{
    char **fields[] = {&r->etag,    &r->last_modified, &r->cache_control,
                       &r->expires, &r->content_type,  &r->content_range};

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
        {"content-range", offsetof(struct fetch_result, content_range)},
    };

    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        /* A new response (after a redirect or a 100): forget the previous one's headers. */
        const char *sp = memchr(line, ' ', len);

        clear_headers(t->r);
        t->r->body.len = 0; /* a pooled buffer stays for the next response */
        t->content_length = -1;
        t->status = 0;
        t->probing = t->max_resolution > 0;
        t->typing = t->check_type;
        t->svg = false;
        t->hint[0] = '\0';
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
    if (t->hint_header != NULL) {
        size_t hl = strlen(t->hint_header);

        if (len > hl + 1 && strncasecmp(line, t->hint_header, hl) == 0 && line[hl] == ':') {
            const char *v = line + hl + 1;
            size_t vl = len - hl - 1;

            while (vl > 0 && (*v == ' ' || *v == '\t'))
                v++, vl--;
            while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
                vl--;
            snprintf(t->hint, sizeof(t->hint), "%.*s", (int)vl, v);
        }
    }
    if (len > 15 && strncasecmp(line, "content-length:", 15) == 0) {
        char *endp;
        long long cl = strtoll(line + 15, &endp, 10);

        t->content_length = cl >= 0 ? cl : -1;
        /* Size the buffer once when the origin says how big the body is. */
        if ((t->status == 200 || t->status == 206) && t->content_length > 0) {
            if (t->max_size > 0 && t->content_length > t->max_size) {
                t->too_big = true;
                return 0;
            }
            if (body_for(t->r, (size_t)t->content_length < FETCH_PRESIZE_MAX
                                   ? (size_t)t->content_length
                                   : FETCH_PRESIZE_MAX) < 0) {
                t->oom = true;
                return 0;
            }
        }
    }
    return len;
}

static bool whole_range(const char *cr, long long content_length);

/* Whether the body so far still needs looking at (the checks of check_body()). */
static bool checking(const struct transfer *t)
{
    return t->probing || t->typing || t->svg;
}

/*
 * The checks made while the body arrives, so a hostile source costs its
 * first bytes only. Resolution: the dimensions from the header, once it is
 * in (probing stops when they are read, cannot be, or PROBE_MAX_BYTES went
 * by). Type (check_type): a body that is none of the known formats once
 * IMGPROXY_MAX_SVG_CHECK_BYTES are in, and an SVG past
 * IMGFCGI_MAX_SVG_FILE_SIZE. Returns -1 with t->rejected set, else 0.
 */
static int check_body(struct transfer *t, bool complete)
{
    const unsigned char *b = t->r->body.data;
    size_t len = t->r->body.len;

    if (t->probing) {
        enum probe_status ps = probe_header(b, len, complete, &t->probe);

        if (ps != PROBE_MORE || len >= PROBE_MAX_BYTES) {
            t->probing = false;
            if (ps == PROBE_FOUND && probe_exceeds(&t->probe, t->max_resolution)) {
                t->rejected = REJECT_PIXELS;
                return -1;
            }
        }
    }
    if (t->typing) {
        size_t need = cfg.max_svg_check_bytes > 16 ? (size_t)cfg.max_svg_check_bytes : 16;
        enum imgtype type = imagetype_sniff(b, len, (size_t)cfg.max_svg_check_bytes);

        if (type != IMGTYPE_UNKNOWN || len >= need || complete) {
            t->typing = false;
            if (type == IMGTYPE_UNKNOWN) {
                t->rejected = REJECT_TYPE;
                return -1;
            }
            t->svg = type == IMGTYPE_SVG && cfg.max_svg_file_size > 0;
        }
    }
    if (t->svg && (long long)len > cfg.max_svg_file_size) {
        t->rejected = REJECT_SVG;
        return -1;
    }
    return 0;
}

static int rejected(const struct transfer *t, struct errinfo *e)
{
    switch (t->rejected) {
    case REJECT_PIXELS:
        return err_set(e, ERR_SOURCE_TYPE,
                       "Source image resolution is too big (%llux%llu %s header)", t->probe.width,
                       t->probe.height, imagetype_name(t->probe.type));
    case REJECT_TYPE:
        return err_set(e, ERR_SOURCE_TYPE, "Source image type not supported");
    case REJECT_SVG:
        return err_set(e, ERR_SOURCE_TYPE, "Source SVG is too big (over %lld bytes)",
                       cfg.max_svg_file_size);
    default:
        return 0;
    }
}

/*
 * CURLOPT_OPENSOCKETFUNCTION: every socket libcurl wants (origin, redirect
 * target, proxy) passes here with the address it is about to connect to, so
 * a host name that resolves somewhere else the second time (DNS rebinding)
 * is judged by where it really goes. A refused address gets no socket.
 */
static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct transfer *t = clientp;
    unsigned cls = netguard_classify_sockaddr(&a->addr, a->addrlen);

    (void)purpose;
    if (!netguard_allowed(cls, &t->policy)) {
        t->blocked = true;
        t->blocked_class = cls;
        netguard_format(&a->addr, a->addrlen, t->blocked_addr, sizeof(t->blocked_addr));
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static size_t on_body(char *data, size_t size, size_t n, void *userdata)
{
    struct transfer *t = userdata;
    size_t len = size * n;

    if (t->storage >= 0)
        storage_count_bytes((enum storage_kind)t->storage, len);
    if (t->status != 200 && t->status != 206) {
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
    /* No Content-Length: the pool's default size, grown as bytes come. */
    if (!t->r->pooled && body_for(t->r, 0) < 0) {
        t->oom = true;
        return 0;
    }
    if (body_append(&t->r->body, data, len, t->max_size) < 0) {
        t->oom = true;
        return 0;
    }
    /*
     * IMGPROXY_MAX_SRC_RESOLUTION and the type as soon as they show: the rest
     * is never fetched. Not on a 206 that is not the whole file: that one is
     * a 404 once it is in (fetch_http), whatever its bytes look like.
     */
    if (checking(t) && t->status == 206 && !whole_range(t->r->content_range, t->content_length))
        t->probing = t->typing = t->svg = false;
    if (checking(t) && check_body(t, false) < 0)
        return 0;
    if (t->header_only && !checking(t) &&
        !(t->content_length >= 0 && (long long)t->r->body.len >= t->content_length)) {
        t->stopped = true;
        return 0; /* libcurl stops with CURLE_WRITE_ERROR: the rest is not needed */
    }
    return len;
}

static bool has_prefix(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * imgproxy's fs transport: ETag = "base64url(md5(path__size__mtimeUnixNano))",
 * Last-Modified = mtime, each only when its setting is on.
 */
static int local_validators(const char *rel, const struct stat *st, struct fetch_result *r,
                            struct errinfo *e)
{
    if (cfg.use_etag) {
        char key[4200];
        guint8 digest[16];
        gsize dlen = sizeof(digest);
        GChecksum *ck = g_checksum_new(G_CHECKSUM_MD5);
        gchar *b;
        size_t j = 1;

        snprintf(key, sizeof(key), "%s%s__%lld__%lld", rel[0] == '/' ? "" : "/", rel,
                 (long long)st->st_size,
                 (long long)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec);
        g_checksum_update(ck, (const guchar *)key, (gssize)strlen(key));
        g_checksum_get_digest(ck, digest, &dlen);
        g_checksum_free(ck);
        b = g_base64_encode(digest, dlen);
        r->etag = malloc(strlen(b) + 3);
        if (r->etag == NULL) {
            g_free(b);
            return err_set(e, ERR_INTERNAL, "out of memory");
        }
        r->etag[0] = '"';
        for (size_t i = 0; b[i] != '\0' && b[i] != '='; i++)
            r->etag[j++] = b[i] == '+' ? '-' : b[i] == '/' ? '_' : b[i];
        r->etag[j++] = '"';
        r->etag[j] = '\0';
        g_free(b);
    }
    if (cfg.use_last_modified) {
        char date[30];

        headers_format_http_date(st->st_mtime, date);
        r->last_modified = strdup(date);
        if (r->last_modified == NULL)
            return err_set(e, ERR_INTERNAL, "out of memory");
    }
    return 0;
}

/*
 * The path of a local:// URL, percent-decoded into *rel (caller frees) with
 * its length in *rel_len: a host part is skipped, as imgproxy uses the URL's
 * path, and the query (from IMGPROXY_SOURCE_URL_QUERY_SEPARATOR) is cut.
 */
static int local_path(const char *url, char **rel, size_t *rel_len, struct errinfo *e)
{
    const char *p = url + strlen("local://");
    const char *sep = cfg.source_url_query_separator;
    size_t plen;
    long dl;

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
    *rel = malloc(plen + 1);
    if (*rel == NULL)
        return err_set(e, ERR_INTERNAL, "out of memory");
    dl = url_unescape(p, plen, *rel);
    if (dl < 0 || memchr(*rel, '\0', (size_t)dl) != NULL)
        return err_set(e, ERR_SOURCE_NOT_FOUND, "Invalid local path");
    *rel_len = (size_t)dl;
    return 0;
}

/*
 * Opens rel under root read-only into *fd with its stat in *st. realpath
 * resolves "..", "." and every symlink; whatever it names must still be
 * under root: this is what keeps ../ and symlinks from escaping.
 */
static int local_open(const char *root, const char *rel, size_t rel_len, int *fd, struct stat *st,
                      struct errinfo *e)
{
    size_t rootlen = strlen(root);
    char *joined = malloc(rootlen + rel_len + 2);
    char *real = NULL;
    int ret = 0;

    if (joined == NULL)
        return err_set(e, ERR_INTERNAL, "out of memory");
    memcpy(joined, root, rootlen);
    joined[rootlen] = '/';
    memcpy(joined + rootlen + 1, rel, rel_len + 1);
    real = realpath(joined, NULL);
    if (real == NULL || strncmp(real, root, rootlen) != 0 ||
        (real[rootlen] != '/' && !(rootlen == 1 && root[0] == '/'))) {
        ret = err_set(e, ERR_SOURCE_NOT_FOUND, "Source file not found: %s", rel);
        goto out;
    }
    *fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (*fd < 0 || fstat(*fd, st) < 0 || !S_ISREG(st->st_mode))
        ret = err_set(e, ERR_SOURCE_NOT_FOUND, "Source file not found or not a file: %s", rel);
out:
    free(real);
    free(joined);
    return ret;
}

/*
 * Reads size bytes of fd into r->body in LOCAL_READ_STEP steps, with the
 * same header checks as a download (probe) after each step, so a source
 * that is refused is not read to the end.
 */
static int local_read(int fd, size_t size, const char *rel, struct transfer *probe,
                      struct fetch_result *r, struct errinfo *e)
{
    /* The size is known: one buffer that fits. */
    if (body_for(r, size + 1) < 0)
        return err_set(e, ERR_INTERNAL, "out of memory for %lld bytes", (long long)size);
    r->body.len = 0;
    while (r->body.len < size) {
        size_t want = size - r->body.len;
        ssize_t n;

        if (want > LOCAL_READ_STEP)
            want = LOCAL_READ_STEP;
        n = read(fd, r->body.data + r->body.len, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return err_set(e, ERR_SOURCE_FAILED, "Reading %s failed", rel);
        r->body.len += (size_t)n;
        if (checking(probe) && check_body(probe, r->body.len == size) < 0)
            return rejected(probe, e);
    }
    return 0;
}

/* fetch_local() with the limits of one request (0 = none). */
static int read_local(const char *root, const char *url, long long max_size,
                      long long max_resolution, bool check_type, struct fetch_result *r,
                      struct errinfo *e)
{
    char *rel = NULL;
    size_t rel_len = 0;
    struct stat st;
    int fd = -1, ret;
    struct transfer probe = {.r = r,
                             .max_resolution = max_resolution,
                             .probing = max_resolution > 0,
                             .check_type = check_type,
                             .typing = check_type};

    if (root == NULL || *root == '\0')
        return err_set(e, ERR_SOURCE_NOT_FOUND, "Unknown scheme: local (local:// is disabled)");
    ret = local_path(url, &rel, &rel_len, e);
    if (ret == 0)
        ret = local_open(root, rel, rel_len, &fd, &st, e);
    if (ret == 0 && max_size > 0 && st.st_size > max_size)
        ret = err_set(e, ERR_SOURCE_TYPE, "Source image file is too big (%lld bytes)",
                      (long long)st.st_size);
    if (ret == 0)
        ret = local_read(fd, (size_t)st.st_size, rel, &probe, r, e);
    if (ret == 0) {
        r->origin_status = 200;
        ret = local_validators(rel, &st, r, e);
    }
    if (fd >= 0)
        close(fd);
    free(rel);
    return ret;
}

int fetch_local(const char *root, const char *url, struct fetch_result *r, struct errinfo *e)
{
    return read_local(root, url, cfg.max_src_file_size, cfg.max_src_resolution, false, r, e);
}

/*
 * A 206 is a whole image only when Content-Range is "bytes 0-N/N+1" (a "*"
 * total falls back to Content-Length), as imgproxy's requestImage checks.
 */
static bool whole_range(const char *cr, long long content_length)
{
    unsigned long long start, end, total;
    char tot[24];
    int n = 0;

    if (cr == NULL || strncmp(cr, "bytes ", 6) != 0 || cr[6] < '0' || cr[6] > '9')
        return false;
    if (sscanf(cr + 6, "%llu-%llu/%23[0-9*]%n", &start, &end, tot, &n) != 3 || cr[6 + n] != '\0' ||
        strspn(cr + 6, "0123456789-/*") != strlen(cr + 6))
        return false;
    if (strcmp(tot, "*") == 0) {
        if (content_length <= 0)
            return false;
        total = (unsigned long long)content_length;
    } else if (strchr(tot, '*') != NULL) {
        return false;
    } else {
        total = strtoull(tot, NULL, 10);
    }
    return start == 0 && total > 0 && end == total - 1;
}

/* The transfer's limits: the request's own with o->has_limits, else the settings'. */
static void transfer_init(struct transfer *t, const struct fetch_opts *o, struct fetch_result *r)
{
    bool own = o != NULL && o->has_limits;

    memset(t, 0, sizeof(*t));
    t->r = r;
    t->content_length = -1;
    t->storage = -1;
    t->max_size = own ? o->max_file_size : cfg.max_src_file_size;
    t->max_resolution = own ? o->max_resolution : cfg.max_src_resolution;
    t->probing = t->max_resolution > 0;
    t->check_type = t->typing = own && o->check_type;
    t->header_only = o != NULL && o->header_only;
    t->policy.allow_loopback = cfg.allow_loopback_source_addresses;
    t->policy.allow_link_local = cfg.allow_link_local_source_addresses;
    t->policy.allow_private = cfg.allow_private_source_addresses;
}

/* Sets every option of the easy handle for one transfer of url into t. */
static void curl_prepare(struct fetcher *f, const char *url, const struct fetch_opts *o,
                         struct transfer *t)
{
    CURL *c = f->curl;

    curl_easy_reset(c);
    f->curl_err[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, f->curl_err);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long)cfg.max_redirects);
    /*
     * One deadline for connect, headers and body, as IMGPROXY_DOWNLOAD_TIMEOUT,
     * or sooner when the request's own deadline comes first.
     */
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                     o != NULL && o->timeout_ms > 0 && o->timeout_ms < cfg.download_timeout * 1000LL
                         ? (long)o->timeout_ms
                         : (long)cfg.download_timeout * 1000L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, cfg.user_agent);
    /* Gzip bodies are decoded; the header advertises gzip only. */
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "gzip");
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, t);
    /* 16 KB reads (the default) mean a poll and a recv per 16 KB of a multi-MB source. */
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE,
                     o != NULL && o->header_only ? FETCH_HEADER_READ_SIZE : FETCH_READ_SIZE);
    if (cfg.ignore_ssl_verification) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}

/*
 * The only client headers that ever reach an origin: If-None-Match,
 * If-Modified-Since and Cookie, never one with a line break. *hdrs gets the
 * list (NULL when none; caller frees with curl_slist_free_all).
 */
/*
 * Appends "name: value" to *l, unless value is NULL, empty or holds a line
 * break (a client's header never smuggles one of its own). 0, or -1 when out
 * of memory (*l unchanged).
 */
static int append_header(struct curl_slist **l, const char *name, const char *value)
{
    char line[8192];
    struct curl_slist *next;

    if (value == NULL || value[0] == '\0' || strpbrk(value, "\r\n") != NULL)
        return 0;
    snprintf(line, sizeof(line), "%s: %s", name, value);
    next = curl_slist_append(*l, line);
    if (next == NULL)
        return -1;
    *l = next;
    return 0;
}

static int client_headers(const struct fetch_opts *o, struct curl_slist **hdrs, struct errinfo *e)
{
    *hdrs = NULL;
    if (append_header(hdrs, "If-None-Match", o->if_none_match) < 0 ||
        append_header(hdrs, "If-Modified-Since", o->if_modified_since) < 0 ||
        append_header(hdrs, "Cookie", o->cookie) < 0) {
        curl_slist_free_all(*hdrs);
        *hdrs = NULL;
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    return 0;
}

/* What stopped a transfer: the callbacks' verdicts first, then libcurl's code. */
static int transfer_error(const struct fetcher *f, const struct transfer *t, CURLcode rc,
                          struct errinfo *e)
{
    if (t->too_big)
        return err_set(e, ERR_SOURCE_TYPE, "Source image file is too big");
    if (t->rejected != REJECT_NONE)
        return rejected(t, e);
    /* Every address refused (or the rest unreachable): curl says it could not connect. */
    if (t->blocked && rc == CURLE_COULDNT_CONNECT)
        return err_set(e, ERR_SOURCE_NOT_FOUND, "Source address is not allowed: %s (%s)",
                       t->blocked_addr, netguard_class_name(t->blocked_class));
    if (t->oom)
        return err_set(e, ERR_INTERNAL, "out of memory while downloading");
    if (t->stopped && rc == CURLE_WRITE_ERROR)
        return 0;
    switch (rc) {
    case CURLE_OK:
        return 0;
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
}

/*
 * The origin's status once the transfer is complete: 200 and a whole-file
 * 206 keep the body; 304 is "not modified" with no body; anything else is
 * ERR_SOURCE_STATUS, with the start of a text body in the message.
 */
static int response_status(long status, const struct transfer *t, struct fetch_result *r,
                           struct errinfo *e)
{
    int ret;

    if (status == 200)
        return 0;
    if (status == 304) {
        buf_release(&r->body);
        return 0;
    }
    if (status == 206) {
        if (whole_range(r->content_range, t->content_length))
            return 0;
        err_set(e, ERR_SOURCE_STATUS, "Partial response with incomplete content: %s",
                r->content_range ? r->content_range : "no Content-Range");
        e->status = err_source_status(206);
        buf_release(&r->body);
        return ERR_SOURCE_STATUS;
    }
    ret = err_set(e, ERR_SOURCE_STATUS, "Status %ld from the origin", status);
    if (r->content_type != NULL && has_prefix(r->content_type, "text/") && r->body.len > 0)
        err_set(e, ERR_SOURCE_STATUS, "Status %ld from the origin: %.*s", status,
                (int)(r->body.len > 200 ? 200 : r->body.len), (const char *)r->body.data);
    e->status = err_source_status((int)status);
    release_body(r);
    return ret;
}

static int fetch_http(struct fetcher *f, const char *url, const struct fetch_opts *o,
                      struct fetch_result *r, struct errinfo *e)
{
    struct curl_slist *hdrs = NULL;
    struct transfer t;
    CURLcode rc;
    long status = 0;
    int ret;

    transfer_init(&t, o, r);
    curl_prepare(f, url, o, &t);
    if (o != NULL) {
        ret = client_headers(o, &hdrs, e);
        if (ret < 0)
            return ret;
        if (hdrs != NULL)
            curl_easy_setopt(f->curl, CURLOPT_HTTPHEADER, hdrs);
    }
    rc = curl_easy_perform(f->curl);
    curl_slist_free_all(hdrs);
    curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &status);
    r->origin_status = (int)status;
    r->content_length = t.content_length;
    r->partial = t.stopped;
    ret = transfer_error(f, &t, rc, e);
    if (ret < 0)
        return ret;
    return response_status(status, &t, r, e);
}

/*
 * The storage's request headers: the transport's own, then (s3) the client's
 * conditions, If-Modified-Since only as an HTTP date. *out is a new list the
 * caller frees; the transport's list stays in g.
 */
static int storage_headers(const struct storage_get *g, const struct fetch_opts *o,
                           struct curl_slist **out, struct errinfo *e)
{
    struct curl_slist *l = NULL;
    time_t when;

    *out = NULL;
    for (const struct curl_slist *h = g->headers; h != NULL; h = h->next) {
        struct curl_slist *next = curl_slist_append(l, h->data);

        if (next == NULL)
            goto oom;
        l = next;
    }
    if (g->forward_conditionals && o != NULL) {
        const char *ims = o->if_modified_since;

        if (append_header(&l, "If-None-Match", o->if_none_match) < 0)
            goto oom;
        if (ims != NULL && headers_parse_http_date(ims, &when) == 0 &&
            append_header(&l, "If-Modified-Since", ims) < 0)
            goto oom;
    }
    *out = l;
    return 0;
oom:
    curl_slist_free_all(l);
    return err_set(e, ERR_INTERNAL, "out of memory");
}

/*
 * One GET the transport prepared, through the same transfer as http(s) but
 * with no address guard (the endpoints are the operator's), no redirects and
 * no Accept-Encoding unless the transport wants gzip decoded.
 */
static int storage_transfer(struct fetcher *f, enum storage_kind kind, const struct storage_get *g,
                            const struct fetch_opts *o, struct fetch_result *r, long *status,
                            char hint[128], struct errinfo *e)
{
    struct curl_slist *hdrs = NULL;
    struct transfer t;
    CURLcode rc;
    int ret;

    ret = storage_headers(g, o, &hdrs, e);
    if (ret < 0)
        return ret;
    transfer_init(&t, o, r);
    t.storage = (int)kind;
    t.hint_header = g->hint_header;
    curl_prepare(f, g->url, o, &t);
    curl_easy_setopt(f->curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(f->curl, CURLOPT_OPENSOCKETFUNCTION, NULL);
    curl_easy_setopt(f->curl, CURLOPT_OPENSOCKETDATA, NULL);
    curl_easy_setopt(f->curl, CURLOPT_ACCEPT_ENCODING, g->gunzip ? "gzip" : NULL);
    /* Keys may hold "/./" and "/../": sent (and signed) as they are. */
    curl_easy_setopt(f->curl, CURLOPT_PATH_AS_IS, 1L);
    if (g->connect_timeout_ms > 0)
        curl_easy_setopt(f->curl, CURLOPT_CONNECTTIMEOUT_MS, g->connect_timeout_ms);
    if (hdrs != NULL)
        curl_easy_setopt(f->curl, CURLOPT_HTTPHEADER, hdrs);
    if (g->aws_sigv4 != NULL) {
        curl_easy_setopt(f->curl, CURLOPT_AWS_SIGV4, g->aws_sigv4);
        /* Separately: an access key may hold a ':' (Swift's s3api: "test:tester"). */
        curl_easy_setopt(f->curl, CURLOPT_USERNAME, g->username);
        curl_easy_setopt(f->curl, CURLOPT_PASSWORD, g->password);
    }
    storage_count_request(kind);
    rc = curl_easy_perform(f->curl);
    /* The handle keeps pointers to the list and the credentials: drop them now. */
    curl_easy_setopt(f->curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(f->curl, CURLOPT_USERNAME, NULL);
    curl_easy_setopt(f->curl, CURLOPT_PASSWORD, NULL);
    curl_slist_free_all(hdrs);
    *status = 0;
    curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, status);
    r->origin_status = (int)*status;
    memcpy(hint, t.hint, sizeof(t.hint));
    return transfer_error(f, &t, rc, e);
}

/*
 * A storage source (storage.h): the transport prepares the GET, fetch makes
 * it, a 401 makes the transport drop its token and try once more; the
 * storage's status goes through the transport's mapping.
 */
static int fetch_storage(struct fetcher *f, const struct storage_url *u, const struct fetch_opts *o,
                         struct fetch_result *r, struct errinfo *e)
{
    const struct storage_ops *ops = storage_ops_for(u->kind);
    long long timeout =
        o != NULL && o->timeout_ms > 0 && o->timeout_ms < cfg.download_timeout * 1000LL
            ? o->timeout_ms
            : cfg.download_timeout * 1000LL;
    long long deadline_ms = deadline_now_ms() + timeout;
    struct storage_get g;
    long status = 0;
    bool forwarded = false;
    char hint[128] = "";
    int ret, mapped;

    for (int attempt = 0;; attempt++) {
        memset(&g, 0, sizeof(g));
        ret = ops->prepare(u, o, deadline_ms, &g, e);
        if (ret == 0 && g.not_modified) {
            r->origin_status = 304;
            r->etag = g.etag;
            r->last_modified = g.last_modified;
            g.etag = g.last_modified = NULL;
            storage_get_free(&g);
            return 0;
        }
        if (ret == 0)
            ret = storage_transfer(f, u->kind, &g, o, r, &status, hint, e);
        forwarded = g.forward_conditionals;
        /* Validators the transport found itself (gs: the metadata's) win over the GET's. */
        if (ret == 0 && g.etag != NULL) {
            free(r->etag);
            r->etag = g.etag;
            g.etag = NULL;
        }
        if (ret == 0 && g.last_modified != NULL) {
            free(r->last_modified);
            r->last_modified = g.last_modified;
            g.last_modified = NULL;
        }
        storage_get_free(&g);
        if (ret < 0)
            return ret;
        if (attempt > 0)
            break;
        if (status == 401 && ops->unauthorized != NULL && ops->unauthorized()) {
            log_info("%s: 401 from the storage, authenticating again", storage_scheme(u->kind));
        } else if (status >= 300 && status < 400 && hint[0] != '\0' && ops->redirected != NULL &&
                   ops->redirected(u, status, hint)) {
            log_info("%s: %ld for %s, trying again (%s)", storage_scheme(u->kind), status,
                     u->bucket, hint);
        } else {
            break;
        }
        release_body(r);
        clear_headers(r);
    }
    if (status == 200) {
        /* A storage that got the conditions has decided; the others are decided here. */
        if (!forwarded && storage_local_not_modified(o, r->etag, r->last_modified)) {
            release_body(r);
            r->origin_status = 304;
        }
        return 0;
    }
    if (status == 304) {
        buf_release(&r->body);
        return 0;
    }
    mapped = ops->map_status(status);
    if (mapped == 500)
        ret = err_set(e, ERR_SOURCE_FAILED, "Status %ld from %s", status, storage_scheme(u->kind));
    else
        ret = err_set(e, ERR_SOURCE_STATUS, "Status %ld from %s", status, storage_scheme(u->kind));
    /* The storage's own words (an S3 <Code>, a Swift text) for the log. */
    if (r->body.len > 0)
        err_set(e, ret, "Status %ld from %s: %.*s", status, storage_scheme(u->kind),
                (int)(r->body.len > 200 ? 200 : r->body.len), (const char *)r->body.data);
    if (ret == ERR_SOURCE_STATUS)
        e->status = err_source_status(mapped);
    release_body(r);
    return ret;
}

int fetch_source_with(struct fetcher *f, const char *url, const struct fetch_opts *o,
                      struct fetch_result *r, struct errinfo *e)
{
#ifdef IMGFCGI_FUZZ
    if (fetch_hook != NULL)
        return fetch_hook(url, r, e);
#endif
    if (has_prefix(url, "http://") || has_prefix(url, "https://"))
        return fetch_http(f, url, o, r, e);
    {
        struct storage_url su;
        int ret = storage_split(url, cfg.source_url_query_separator, &su, e);

        if (ret != 0) {
            if (ret > 0) {
                ret = fetch_storage(f, &su, o, r, e);
                storage_url_free(&su);
            }
            return ret;
        }
    }
    if (has_prefix(url, "local://")) {
        int ret = o != NULL && o->has_limits ? read_local(cfg.local_root, url, o->max_file_size,
                                                          o->max_resolution, o->check_type, r, e)
                                             : fetch_local(cfg.local_root, url, r, e);

        if (ret == 0 && storage_local_not_modified(o, r->etag, r->last_modified)) {
            buf_release(&r->body);
            r->origin_status = 304;
        }
        return ret;
    }
    return err_set(e, ERR_SOURCE_NOT_FOUND, "Unknown scheme: %.*s", (int)strcspn(url, ":/"), url);
}

int fetch_source(struct fetcher *f, const char *url, struct fetch_result *r, struct errinfo *e)
{
    return fetch_source_with(f, url, NULL, r, e);
}
