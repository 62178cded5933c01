/* handler.c: one request, start to finish: route, verify, fetch, process, stream, log. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "config.h"
#include "fetch.h"
#include "handler.h"
#include "imagetype.h"
#include "log.h"
#include "metrics.h"
#include "options.h"
#include "process.h"
#include "signature.h"
#include "url.h"
#include "banned.h"

#define MAX_HEADERS 16
#define REQUEST_ID_LEN 21

static const char landing_html[] =
    "<!doctype html><html><head><title>imgfcgi</title></head><body>"
    "<h1>imgfcgi</h1><p>An imgproxy-compatible image-processing proxy running as a FastCGI "
    "application.</p></body></html>\n";

struct handler_ctx {
    struct fetcher *fetcher;
};

/* The response under construction: headers are sent with the first body bytes. */
struct response {
    const struct output *out;
    struct header headers[MAX_HEADERS];
    size_t nheaders;
    int status;
    bool head_sent;
    bool failed; /* the client is gone */
    size_t bytes;
    char content_disposition[300];
    char cache_control[64];
    char request_id[64];
};

struct handler_ctx *handler_ctx_new(void)
{
    struct handler_ctx *hc = calloc(1, sizeof(*hc));

    if (hc == NULL)
        return NULL;
    hc->fetcher = fetcher_new();
    if (hc->fetcher == NULL) {
        free(hc);
        return NULL;
    }
    return hc;
}

void handler_ctx_free(struct handler_ctx *hc)
{
    if (hc == NULL)
        return;
    fetcher_free(hc->fetcher);
    free(hc);
}

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void add_header(struct response *r, const char *name, const char *value)
{
    if (r->nheaders < MAX_HEADERS) {
        r->headers[r->nheaders].name = name;
        r->headers[r->nheaders].value = value;
        r->nheaders++;
    }
}

static int send_head(struct response *r)
{
    if (r->head_sent)
        return r->failed ? -1 : 0;
    r->head_sent = true;
    if (r->out->head(r->out->ctx, r->status, r->headers, r->nheaders) < 0) {
        r->failed = true;
        return -1;
    }
    return 0;
}

static int send_body(void *ctx, const void *data, size_t len)
{
    struct response *r = ctx;

    if (send_head(r) < 0)
        return -1;
    if (len == 0)
        return 0;
    if (r->out->body(r->out->ctx, data, len) < 0) {
        r->failed = true;
        return -1;
    }
    r->bytes += len;
    return 0;
}

/* A complete small response: status, text/plain or given type, body. */
static void respond_simple(struct response *r, int status, const char *type, const char *cache,
                           const char *body, bool send)
{
    r->status = status;
    r->nheaders = 0;
    add_header(r, "Content-Type", type);
    if (cache != NULL)
        add_header(r, "Cache-Control", cache);
    add_header(r, "X-Request-ID", r->request_id);
    send_head(r);
    if (send && body != NULL && *body != '\0')
        send_body(r, body, strlen(body));
}

static void respond_error(struct response *r, const struct errinfo *e, bool head_only)
{
    const char *body =
        cfg.development_errors_mode && e->msg[0] ? e->msg : err_public_message(e->code);

    respond_simple(r, e->status, "text/plain", "no-cache", body, !head_only);
}

/* The Prometheus text of metrics.h. */
static void respond_metrics(struct response *r)
{
    struct buf text;

    buf_init(&text);
    if (metrics_render(&text) < 0) {
        respond_simple(r, 500, "text/plain", "no-cache", "Error", true);
    } else {
        r->status = 200;
        r->nheaders = 0;
        add_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
        add_header(r, "Cache-Control", "no-cache");
        add_header(r, "X-Request-ID", r->request_id);
        send_body(r, text.data, text.len);
    }
    buf_release(&text);
}

/* The client's X-Request-ID when it is safe, else a fresh random one. */
static void make_request_id(const struct request *rq, char *out, size_t outlen)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    const char *given = rq->param ? rq->param(rq->ctx, "HTTP_X_REQUEST_ID") : NULL;
    unsigned char rnd[REQUEST_ID_LEN];
    size_t i;

    if (given != NULL && *given != '\0' && strlen(given) < outlen &&
        strspn(given, alphabet) == strlen(given)) {
        snprintf(out, outlen, "%s", given);
        return;
    }
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        memset(rnd, 0, sizeof(rnd));
    for (i = 0; i < REQUEST_ID_LEN && i + 1 < outlen; i++)
        out[i] = alphabet[rnd[i] & 63];
    out[i] = '\0';
}

/* Content-Disposition name: the last path element of the source URL without its extension. */
static void disposition(struct response *r, const char *source, enum imgtype t)
{
    const char *end = source + strcspn(source, "?#");
    const char *start = end, *dot;
    char name[200];
    size_t n = 0;

    while (start > source && start[-1] != '/')
        start--;
    dot = NULL;
    for (const char *p = start; p < end; p++)
        if (*p == '.')
            dot = p;
    if (dot != NULL && dot > start)
        end = dot;
    if (start >= end || (end - start == 0)) {
        start = "image";
        end = start + 5;
    }
    for (const char *p = start; p < end && n + 4 < sizeof(name); p++) {
        if (*p == '"') {
            memcpy(name + n, "%22", 3);
            n += 3;
        } else if ((unsigned char)*p >= 0x20 && *p != 0x7f) {
            name[n++] = *p;
        }
    }
    name[n] = '\0';
    snprintf(r->content_disposition, sizeof(r->content_disposition), "inline; filename=\"%s%s\"",
             name, imagetype_ext(t));
}

struct timings {
    double download, process;
};

static int serve_image(struct handler_ctx *hc, const struct request *rq, struct response *r,
                       struct errinfo *e, struct timings *tm)
{
    struct urlparts u;
    struct procopts po;
    struct fetch_result fr;
    struct process_job *job = NULL;
    struct process_info info;
    enum imgtype src_type;
    const char *accept;
    double t;
    int ret;

    fetch_result_init(&fr);
    ret = url_split(&u, rq->uri, strlen(rq->uri), cfg.path_prefix, e);
    if (ret < 0)
        goto out;
    ret = signature_verify(u.signature, strlen(u.signature), u.path, u.path_len, e);
    if (ret < 0)
        goto out;
    ret = url_parse_path(&u, cfg.arguments_separator[0], e);
    if (ret < 0)
        goto out;
    options_init(&po);
    for (size_t i = 0; i < u.nsegments; i++) {
        ret = options_apply(&po, u.segments[i], strlen(u.segments[i]),
                            cfg.arguments_separator[0], e);
        if (ret < 0)
            goto out;
    }
    if (u.ext != NULL) {
        ret = options_apply_format(&po, u.ext, strlen(u.ext), e);
        if (ret < 0)
            goto out;
    }
    if (po.format != IMGTYPE_UNKNOWN && !imagetype_saveable(po.format)) {
        ret = err_set(e, ERR_UNSAVEABLE, "Resulting image format is not supported: %s",
                      imagetype_name(po.format));
        goto out;
    }

    t = now_ms();
    ret = fetch_source(hc->fetcher, u.source, &fr, e);
    tm->download = now_ms() - t;
    if (ret < 0)
        goto out;

    t = now_ms();
    src_type = imagetype_sniff(fr.body.data, fr.body.len, (size_t)cfg.max_svg_check_bytes);
    if (src_type == IMGTYPE_UNKNOWN) {
        ret = err_set(e, ERR_SOURCE_TYPE, "Source image type not supported");
        goto out;
    }
    accept = rq->param ? rq->param(rq->ctx, "HTTP_ACCEPT") : NULL;
    ret = process_prepare(&job, fr.body.data, fr.body.len, src_type, &po, accept, &info, e);
    if (ret < 0)
        goto out;

    r->status = 200;
    r->nheaders = 0;
    add_header(r, "Content-Type", imagetype_mime(info.out_type));
    if (cfg.ttl > 0)
        snprintf(r->cache_control, sizeof(r->cache_control), "max-age=%d, public", cfg.ttl);
    else
        snprintf(r->cache_control, sizeof(r->cache_control), "no-cache");
    add_header(r, "Cache-Control", r->cache_control);
    disposition(r, u.source, info.out_type);
    add_header(r, "Content-Disposition", r->content_disposition);
    if (cfg.auto_webp || cfg.enforce_webp || cfg.auto_avif || cfg.enforce_avif)
        add_header(r, "Vary", "Accept");
    add_header(r, "Content-Security-Policy", "script-src 'none'");
    add_header(r, "X-Request-ID", r->request_id);

    ret = process_save(job, send_body, r, e);
    tm->process = now_ms() - t;
    if (ret < 0)
        goto out;
    ret = send_head(r); /* an empty image still gets its headers */
out:
    /*
     * Order matters: libvips reads fr.body in place (no copy), so every image
     * made from it goes first; only then may the buffer return to the pool.
     */
    process_job_free(job);
    fetch_result_release(&fr);
    url_release(&u);
    return ret;
}

static bool path_is(const char *path, size_t len, const char *want)
{
    return want != NULL && *want != '\0' && strlen(want) == len && memcmp(path, want, len) == 0;
}

int handler_serve(struct handler_ctx *hc, const struct request *rq, const struct output *out)
{
    struct response r;
    struct errinfo e;
    struct timings tm = {0, 0};
    const char *method = rq->method ? rq->method : "GET";
    const char *uri = rq->uri ? rq->uri : "/";
    size_t plen = strcspn(uri, "?");
    const char *route = uri;
    size_t rlen = plen;
    size_t prefix_len = cfg.path_prefix ? strlen(cfg.path_prefix) : 0;
    double t0 = now_ms();
    char masked[512];
    bool head = strcmp(method, "HEAD") == 0;

    metrics_request_start();
    memset(&r, 0, sizeof(r));
    r.out = out;
    err_clear(&e);
    make_request_id(rq, r.request_id, sizeof(r.request_id));

    if (prefix_len > 0 && plen >= prefix_len && memcmp(uri, cfg.path_prefix, prefix_len) == 0) {
        route = uri + prefix_len;
        rlen = plen - prefix_len;
    }

    if (head || strcmp(method, "OPTIONS") == 0) {
        respond_simple(&r, 200, "text/plain", NULL, NULL, false);
    } else if (strcmp(method, "GET") != 0) {
        err_set(&e, ERR_NOT_FOUND, "Method %s is not served", method);
        respond_error(&r, &e, false);
    } else if (path_is(route, rlen, "/health") || path_is(uri, plen, "/health") ||
               path_is(uri, plen, cfg.health_check_path)) {
        if (process_health() == 0)
            respond_simple(&r, 200, "text/plain", "no-cache", "imgfcgi is running\n", true);
        else
            respond_simple(&r, 500, "text/plain", "no-cache", "Error", true);
    } else if (path_is(route, rlen, cfg.metrics_path) || path_is(uri, plen, cfg.metrics_path)) {
        respond_metrics(&r);
    } else if (rlen == 0 || path_is(route, rlen, "/")) {
        respond_simple(&r, 200, "text/html", NULL, landing_html, true);
    } else if (path_is(route, rlen, "/favicon.ico")) {
        err_set(&e, ERR_NOT_FOUND, "favicon.ico");
        respond_error(&r, &e, false);
    } else if (serve_image(hc, rq, &r, &e, &tm) < 0) {
        if (!r.head_sent) {
            respond_error(&r, &e, false);
        } else if (!r.failed && out->abort != NULL) {
            /* Part of the image is out: make the truncation visible. */
            out->abort(out->ctx);
        }
        if (r.failed && e.code != ERR_CANCELLED)
            err_set(&e, ERR_CANCELLED, "The client went away: %s", e.msg);
    }
    process_thread_cleanup();

    log_mask_signature(uri, masked, sizeof(masked));
    if (e.code != ERR_OK) {
        log_msg(e.code == ERR_INTERNAL || e.code == ERR_SOURCE_FAILED ? LOG_ERROR : LOG_WARN,
                "%s %s %d %zu total=%.0fms download=%.0fms processing=%.0fms id=%s error=\"%s\"",
                method, masked, r.failed ? 499 : r.status, r.bytes, now_ms() - t0, tm.download,
                tm.process, r.request_id, e.msg);
    } else {
        log_info("%s %s %d %zu total=%.0fms download=%.0fms processing=%.0fms id=%s", method,
                 masked, r.status, r.bytes, now_ms() - t0, tm.download, tm.process,
                 r.request_id);
    }
    metrics_observe(METRICS_REQUEST, (now_ms() - t0) / 1000.0);
    if (tm.download > 0)
        metrics_observe(METRICS_DOWNLOAD, tm.download / 1000.0);
    if (tm.process > 0)
        metrics_observe(METRICS_PROCESSING, tm.process / 1000.0);
    metrics_request_end(r.failed ? 499 : r.status);
    return r.failed ? 499 : r.status;
}
