/* handler.c: one request, start to finish: route, verify, fetch, process, stream, log. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <glib.h>

#include "buf.h"
#include "config.h"
#include "deadline.h"
#include "fallback.h"
#include "fetch.h"
#include "handler.h"
#include "headers.h"
#include "imagetype.h"
#include "info.h"
#include "inforeport.h"
#include "log.h"
#include "metrics.h"
#include "netguard.h"
#include "chain.h"
#include "options.h"
#include "playground.h"
#include "process.h"
#include "scheduler.h"
#include "signature.h"
#include "svg.h"
#include "url.h"
#include "watermark.h"
#include "banned.h"

#define MAX_HEADERS 24
#define REQUEST_ID_LEN 21

static const char landing_html[] =
    "<!doctype html><html><head><title>imgfcgi</title></head><body>"
    "<h1>imgfcgi</h1><p>An imgproxy-compatible image-processing proxy running as a FastCGI "
    "application.</p></body></html>\n";

/* The response under construction: headers are sent with the first body bytes. */
struct response {
    const struct output *out;
    struct header headers[MAX_HEADERS];
    size_t nheaders;
    int status;
    bool head_sent;
    bool failed; /* the client is gone */
    size_t bytes;
    bool cors; /* an image route: CORS headers go on every answer, errors too */
    char content_disposition[1024];
    char cache_control[512];
    char etag[HEADERS_HASH_LEN + HEADERS_ORIGIN_ETAG_MAX * 4 / 3 + 16];
    char debug[5][24];
    char *link; /* Link: <source>; rel="canonical", heap */
    char request_id[64];
    bool retry_after; /* a 503: tell the client when to come back */
};

static void add_header(struct response *r, const char *name, const char *value)
{
    if (r->nheaders < MAX_HEADERS) {
        r->headers[r->nheaders].name = name;
        r->headers[r->nheaders].value = value;
        r->nheaders++;
    }
}

/* CORS headers (IMGPROXY_ALLOW_ORIGIN) on image routes, HEAD and OPTIONS. */
static void add_cors(struct response *r)
{
    if (r->cors && cfg.allow_origin != NULL && cfg.allow_origin[0] != '\0') {
        add_header(r, "Access-Control-Allow-Origin", cfg.allow_origin);
        add_header(r, "Access-Control-Allow-Methods", "GET, OPTIONS");
    }
}

/* Vary from the format negotiation settings; NULL when nothing varies. */
static const char *vary_value(void)
{
    if (cfg.auto_webp || cfg.enforce_webp || cfg.auto_avif || cfg.enforce_avif || cfg.auto_jxl ||
        cfg.enforce_jxl)
        return "Accept";
    return NULL;
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
    add_cors(r);
    if (r->retry_after)
        add_header(r, "Retry-After", "1");
    add_header(r, "X-Request-ID", r->request_id);
    send_head(r);
    if (send && body != NULL && *body != '\0')
        send_body(r, body, strlen(body));
}

static void respond_error(struct response *r, const struct errinfo *e, bool head_only)
{
    const char *body =
        cfg.development_errors_mode && e->msg[0] ? e->msg : err_public_message(e->code);

    r->retry_after = e->status == 503;
    respond_simple(r, e->status, "text/plain", "no-cache", body, !head_only);
}

/* The Prometheus text of metrics.h, with the scheduler s's figures. */
static void respond_metrics(struct response *r, struct sched *s)
{
    struct buf text;

    buf_init(&text);
    if (metrics_render(&text, s) < 0) {
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

/* A 200 whose body is bytes already in hand (raw, skip_processing, SVG); 0 or ERR_CANCELLED. */
static int respond_bytes(struct response *r, const char *type, const void *data, size_t len,
                         struct errinfo *e)
{
    r->status = 200;
    r->nheaders = 0;
    add_header(r, "Content-Type", type);
    add_header(r, "X-Request-ID", r->request_id);
    if (send_body(r, data, len) < 0)
        return err_set(e, ERR_CANCELLED, "The client went away during the response");
    return 0;
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

/* Client hints (IMGPROXY_ENABLE_CLIENT_HINTS): DPR and Width headers, before any option. */
static void apply_client_hints(struct procopts *po, const struct request *rq)
{
    const char *dpr = rq->param ? rq->param(rq->ctx, "HTTP_SEC_CH_DPR") : NULL;
    const char *width = rq->param ? rq->param(rq->ctx, "HTTP_SEC_CH_WIDTH") : NULL;
    char *end;

    if (dpr == NULL && rq->param)
        dpr = rq->param(rq->ctx, "HTTP_DPR");
    if (width == NULL && rq->param)
        width = rq->param(rq->ctx, "HTTP_WIDTH");
    if (dpr != NULL && *dpr != '\0') {
        double d = strtod(dpr, &end);

        if (*end == '\0' && d > 0 && d <= 8)
            po->dpr = d;
    }
    if (width != NULL && *width != '\0') {
        long w = strtol(width, &end, 10);

        if (*end == '\0' && w > 0 && w < 100000)
            po->width = (int)lround((double)w / po->dpr);
    }
}

/* Where a request's time went, CLOCK_MONOTONIC microseconds; 0 = that phase did not run. */
struct timings {
    long long download_us, process_us;
};

static const char *param(const struct request *rq, const char *name)
{
    return rq->param != NULL ? rq->param(rq->ctx, name) : NULL;
}

/*
 * Cache-Control for the origin headers in src, as imgproxy's setCacheControl:
 * IMGPROXY_TTL, the origin's Cache-Control/Expires with
 * IMGPROXY_CACHE_CONTROL_PASSTHROUGH, the expires option, the fallback TTL.
 */
static void set_cache_control(struct response *r, const struct procopts *po,
                              const struct fetch_result *src, bool fallback)
{
    struct cache_input ci = {
        .ttl = cfg.ttl,
        .passthrough = cfg.cache_control_passthrough,
        .fallback = fallback,
        .fallback_ttl = cfg.fallback_image_ttl,
        .has_expires = po->has_expires,
        .expires = po->expires,
        .origin_cache_control = src != NULL ? src->cache_control : NULL,
        .origin_expires = src != NULL ? src->expires : NULL,
        .now = time(NULL),
    };

    headers_cache_control(&ci, r->cache_control, sizeof(r->cache_control));
    if (!headers_value_safe(r->cache_control))
        snprintf(r->cache_control, sizeof(r->cache_control), "no-cache");
    add_header(r, "Cache-Control", r->cache_control);
}

/* A 304 (respondWithNotModified): Cache-Control, Vary, the ETag when known; no body. */
static int respond_not_modified(struct response *r, const struct procopts *po,
                                const struct fetch_result *src, bool fallback)
{
    const char *vary = vary_value();

    r->status = 304;
    r->nheaders = 0;
    set_cache_control(r, po, src, fallback);
    if (vary != NULL)
        add_header(r, "Vary", vary);
    if (r->etag[0] != '\0')
        add_header(r, "ETag", r->etag);
    add_cors(r);
    add_header(r, "X-Request-ID", r->request_id);
    return send_head(r);
}

/*
 * The Cookie header for the source under IMGPROXY_COOKIE_PASSTHROUGH: the
 * cookies belong to IMGPROXY_COOKIE_BASE_URL, else to the request's own host
 * (X-Forwarded-Proto/Host/Port, else Host), and go only to sources in that scope.
 */
static const char *cookie_for(const struct request *rq, const char *source, char *base,
                              size_t baselen)
{
    const char *cookie = param(rq, "HTTP_COOKIE");
    const char *proto, *host, *port;

    if (!cfg.cookie_passthrough || cookie == NULL || cookie[0] == '\0')
        return NULL;
    if (cfg.cookie_passthrough_all)
        return cookie;
    if (cfg.cookie_base_url != NULL && cfg.cookie_base_url[0] != '\0') {
        snprintf(base, baselen, "%s", cfg.cookie_base_url);
    } else {
        proto = param(rq, "HTTP_X_FORWARDED_PROTO");
        host = param(rq, "HTTP_X_FORWARDED_HOST");
        if (host == NULL || host[0] == '\0')
            host = param(rq, "HTTP_HOST");
        if (host == NULL || host[0] == '\0')
            return NULL;
        port = param(rq, "HTTP_X_FORWARDED_PORT");
        snprintf(base, baselen, "%s://%s%s%s/", proto != NULL && proto[0] ? proto : "http", host,
                 port != NULL && port[0] ? ":" : "", port != NULL ? port : "");
    }
    return headers_cookie_scope_ok(source, base) ? cookie : NULL;
}

/* ERR_TIMEOUT for a request whose deadline passed while it was doing what. */
static int timed_out(struct errinfo *e, const char *what)
{
    char cause[sizeof(e->msg)];

    snprintf(cause, sizeof(cause), "%s", e->code != ERR_OK ? e->msg : "");
    return err_set(e, ERR_TIMEOUT, "Timeout: IMGPROXY_TIMEOUT (%d s) passed %s%s%s", cfg.timeout,
                   what, cause[0] != '\0' ? ": " : "", cause);
}

/*
 * The error of a failed sched_slot_take() or sched_admit() into e:
 * ERR_QUEUE_FULL for a full queue, ERR_TIMEOUT when the deadline passed
 * while `what`; a refusal by the memory budget has set e already.
 */
static int sched_error(int rc, const char *what, struct errinfo *e)
{
    if (rc == SCHED_QUEUE_FULL)
        return err_set(e, ERR_QUEUE_FULL,
                       "Too many requests: %d waiting (IMGPROXY_REQUESTS_QUEUE_SIZE)",
                       cfg.requests_queue_size);
    if (rc == SCHED_TIMEOUT)
        return timed_out(e, what);
    return rc;
}

/* An image phase's result besides 0 (go on) and < 0 (failed, e says why): the response is out. */
#define PHASE_DONE 1

/*
 * One image request as it goes through the phases of serve_image(): each
 * phase reads what the ones before it left here, and image_req_release()
 * is the one cleanup for all of them.
 */
struct image_req {
    const struct request *rq; /* borrowed, as are r, e, tm and dl */
    struct response *r;
    struct errinfo *e;
    struct timings *tm;
    const struct deadline *dl;
    struct sched_req sched; /* the slot, the memory ticket, the CPU class */
    struct urlparts u;
    struct procopts po;
    char *source; /* u.source after IMGPROXY_URL_REPLACEMENTS and IMGPROXY_BASE_URL */
    struct fetch_opts fo;
    struct etag_expect want; /* what the client's If-None-Match holds */
    char po_hash[HEADERS_HASH_LEN];
    char img_hash[HEADERS_HASH_LEN];
    char cookie_base[1024];
    bool po_match; /* the client's ETag is for these options */
    struct fetch_result fr;
    const struct fetch_result *src; /* &fr, or the fallback image */
    GBytes *fiu;                    /* the fallback_image_url image in use, or NULL */
    bool fallback;
    int status; /* of the image response: 200, or IMGPROXY_FALLBACK_IMAGE_HTTP_CODE */
    enum imgtype src_type;
    long long process_start_us;
    struct buf svg;
    struct buf styled; /* an SVG with the `style` option's CSS injected */
    VipsImage *opened; /* the source opened for the memory estimate, reused by processing */
    struct process_job *job;
    struct process_info info;
    GBytes *wm_bytes; /* the watermark_url image po.wm_image points into */
};

static void image_req_init(struct image_req *ir, struct sched *s, const struct request *rq,
                           struct response *r, struct errinfo *e, struct timings *tm,
                           const struct deadline *dl)
{
    memset(ir, 0, sizeof(*ir));
    ir->rq = rq;
    ir->r = r;
    ir->e = e;
    ir->tm = tm;
    ir->dl = dl;
    sched_req_init(&ir->sched, s);
    fetch_result_init(&ir->fr);
    ir->src = &ir->fr;
    ir->status = 200;
    buf_init(&ir->svg);
    buf_init(&ir->styled);
}

static void image_req_release(struct image_req *ir)
{
    /*
     * Order matters: libvips reads fr.body in place (no copy), so every image
     * made from it goes first; only then may the buffer return to the pool.
     * The slot goes back last: at most one download buffer per slot is out.
     */
    process_job_free(ir->job);
    if (ir->opened != NULL)
        g_object_unref(ir->opened);
    if (ir->wm_bytes != NULL)
        g_bytes_unref(ir->wm_bytes);
    sched_admit_end(&ir->sched);
    g_free(ir->source);
    buf_release(&ir->svg);
    buf_release(&ir->styled);
    fallback_url_put(ir->fiu);
    fetch_result_release(&ir->fr);
    chain_free(&ir->po);
    url_release(&ir->u);
    sched_slot_put(&ir->sched);
}

/* The processing options: client hints, the default preset, the URL's segments. */
static int apply_options(struct image_req *ir)
{
    options_init(&ir->po);
    if (cfg.enable_client_hints)
        apply_client_hints(&ir->po, ir->rq);
    /* The default preset, the URL's segments, the pipelines of a chain (chain.h). */
    return chain_parse_url(&ir->po, ir->u.segments, ir->u.nsegments, cfg.arguments_separator[0],
                           ir->e);
}

/* Phase: the secret, the URL, its signature, the options, the source URL and the format. */
static int parse_and_authorise(struct image_req *ir)
{
    struct errinfo *e = ir->e;
    int ret;

    if (cfg.secret != NULL && cfg.secret[0] != '\0' &&
        !headers_secret_ok(param(ir->rq, "HTTP_AUTHORIZATION"), cfg.secret))
        return err_set(e, ERR_FORBIDDEN_SECRET, "Invalid secret");
    ret = url_split(&ir->u, ir->rq->uri, strlen(ir->rq->uri), cfg.path_prefix, e);
    if (ret < 0)
        return ret;
    ret = signature_verify(ir->u.signature, strlen(ir->u.signature), ir->u.path, ir->u.path_len, e);
    if (ret < 0)
        return ret;
    ret = url_parse_path(&ir->u, cfg.arguments_separator[0], e);
    if (ret < 0)
        return ret;
    ret = apply_options(ir);
    if (ret < 0)
        return ret;
    ir->source = url_preprocess(ir->u.source);
    if (ir->source == NULL)
        return err_set(e, ERR_INTERNAL, "out of memory");
    if (ir->u.ext != NULL && !ir->po.raw) {
        ret = options_apply_format(&ir->po, ir->u.ext, strlen(ir->u.ext), e);
        if (ret < 0)
            return ret;
    }
    /* IMGPROXY_ALLOWED_SOURCES, on the URL as it will be fetched (redirects are not re-checked). */
    ret = netguard_source_allowed(ir->source, strlen(ir->source), cfg.allowed_sources.items,
                                  cfg.allowed_sources.len);
    if (ret <= 0)
        return ret < 0 ? err_set(e, ERR_INTERNAL, "out of memory")
                       : err_set(e, ERR_INVALID_SOURCE, "Source URL is not allowed: %s",
                                 ir->u.encrypted ? "(encrypted)" : ir->source);
    if (ir->po.format != IMGTYPE_UNKNOWN && !ir->po.raw && !imagetype_saveable(ir->po.format))
        return err_set(e, ERR_UNSAVEABLE, "Resulting image format is not supported: %s",
                       imagetype_name(ir->po.format));
    return 0;
}

/* Phase: what the client holds decides what the origin is asked (the fetch options). */
static void conditional_request(struct image_req *ir)
{
    struct fetch_opts *fo = &ir->fo;

    headers_etag_parse(cfg.use_etag ? param(ir->rq, "HTTP_IF_NONE_MATCH") : NULL, &ir->want);
    if (cfg.use_etag) {
        headers_options_hash(&ir->po, cfg.etag_buster, ir->po_hash);
        ir->po_match = ir->want.valid && strcmp(ir->want.po_hash, ir->po_hash) == 0;
        if (ir->po_match && ir->want.has_origin_etag)
            fo->if_none_match = ir->want.origin_etag;
    }
    if (cfg.use_last_modified)
        fo->if_modified_since = param(ir->rq, "HTTP_IF_MODIFIED_SINCE");
    fo->cookie = cookie_for(ir->rq, ir->source, ir->cookie_base, sizeof(ir->cookie_base));
    /* raw passes any bytes on: no type or resolution checks (the size cap stays). */
    fo->has_limits = true;
    fo->max_file_size = ir->po.max_src_file_size;
    fo->max_resolution = ir->po.raw ? 0 : ir->po.max_src_resolution;
    fo->check_type = !ir->po.raw;
}

/*
 * A failed download of an /enc/ source: its message may name the decrypted
 * URL (a host, a path), so only the status and a generic text are kept.
 */
static void hide_source(struct errinfo *e)
{
    int status = e->status;

    err_set(e, e->code, "Can't fetch the encrypted source (status %d)", status);
    e->status = status;
}

/*
 * An extra image's URL (borrowed) as it will be fetched: preprocessed
 * (IMGPROXY_URL_REPLACEMENTS, IMGPROXY_BASE_URL) when preprocess, then
 * checked against IMGPROXY_ALLOWED_SOURCES as a source is; option names the
 * option in the message. Returns a new string the caller frees with
 * g_free(), or NULL with e set (ERR_INVALID_SOURCE, or ERR_INTERNAL).
 */
static char *allowed_url(const char *url, bool preprocess, const char *option, struct errinfo *e)
{
    char *u = preprocess ? url_preprocess(url) : g_strdup(url);
    int ret;

    if (u == NULL) {
        err_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    ret = netguard_source_allowed(u, strlen(u), cfg.allowed_sources.items, cfg.allowed_sources.len);
    if (ret > 0)
        return u;
    if (ret < 0)
        err_set(e, ERR_INTERNAL, "out of memory");
    else
        err_set(e, ERR_INVALID_SOURCE, "Source URL is not allowed: %s (%s)", u, option);
    g_free(u);
    return NULL;
}

/*
 * fallback_image_url in place of a source that failed to download: fetched
 * (or taken from the cache) within the request's limits and deadline, sent
 * with IMGPROXY_FALLBACK_IMAGE_HTTP_CODE. When it fails too, the source's
 * error stands (e). Returns 0 or that error code.
 */
static int fallback_from_url(struct image_req *ir)
{
    struct errinfo *e = ir->e, fe;
    struct fetch_opts fo = ir->fo;
    const struct fetch_result *img = NULL;
    char *url;
    long long t = deadline_now_us();
    int ret;

    err_clear(&fe);
    url = allowed_url(ir->po.fallback_url, cfg.fallback_image_preprocess_url, "fallback_image_url",
                      &fe);
    /* No condition of the client's and no cookie go with it: it is not the source. */
    fo.if_none_match = NULL;
    fo.if_modified_since = NULL;
    fo.cookie = NULL;
    fo.check_type = true;
    fo.max_resolution = ir->po.max_src_resolution;
    fo.timeout_ms =
        deadline_cap_ms(ir->dl, deadline_now_ms(), (long long)cfg.download_timeout * 1000);
    if (url == NULL)
        ret = fe.code;
    else if (fo.timeout_ms == 0)
        ret = err_set(&fe, ERR_TIMEOUT, "no time left");
    else
        ret = fallback_url_get(sched_fetcher(&ir->sched), url, &fo, &ir->fiu, &img, &fe);
    ir->tm->download_us += deadline_now_us() - t;
    if (ret < 0) {
        log_warn("Could not load the fallback image %s either: %s",
                 url != NULL ? url : ir->po.fallback_url, fe.msg);
        g_free(url);
        return deadline_passed(ir->dl) ? timed_out(e, "during the download") : e->code;
    }
    log_warn("Could not load image %s. Using fallback image %s. %s",
             ir->u.encrypted ? "(encrypted)" : ir->source, url, e->msg);
    g_free(url);
    ir->status = cfg.fallback_image_http_code > 0 ? cfg.fallback_image_http_code : e->status;
    err_clear(e);
    ir->src = img;
    ir->fallback = true;
    return 0;
}

/*
 * The download of the source with the request's fetcher and options, its
 * time kept: 0, the fetch's error, or ERR_TIMEOUT (the fetch never gives
 * that code) when the request's deadline came first.
 */
static int download(struct image_req *ir)
{
    long long t;
    int ret;

    ir->fo.timeout_ms =
        deadline_cap_ms(ir->dl, deadline_now_ms(), (long long)cfg.download_timeout * 1000);
    if (ir->fo.timeout_ms == 0)
        return timed_out(ir->e, "before the download");
    t = deadline_now_us();
    ret = fetch_source_with(sched_fetcher(&ir->sched), ir->source, &ir->fo, &ir->fr, ir->e);
    ir->tm->download_us = deadline_now_us() - t;
    if (ret < 0 && deadline_passed(ir->dl))
        return timed_out(ir->e, "during the download");
    return ret;
}

/*
 * Phase: a processing slot (the queue: 429 when full; the deadline: 503),
 * then the download within what is left of the request's time, or the
 * fallback image in its place. PHASE_DONE after a 304 the origin gave.
 */
static int fetch_or_fallback(struct image_req *ir)
{
    struct errinfo *e = ir->e;
    int ret;

    ret = sched_slot_take(&ir->sched, ir->dl);
    if (ret < 0)
        return sched_error(ret, "waiting for a worker", e);
    ret = download(ir);
    if (ret == ERR_TIMEOUT)
        return ret;
    if (ret < 0 && ir->u.encrypted)
        hide_source(e);
    if (ret < 0 && ir->po.fallback_url[0] != '\0')
        return fallback_from_url(ir);
    /* hashsum: the downloaded bytes as they are; a mismatch is a 422, never a fallback. */
    if (ret == 0 && ir->fr.origin_status != 304) {
        ret = options_hashsum_verify(&ir->po, ir->fr.body.data, ir->fr.body.len, e);
        if (ret < 0)
            return ret;
    }
    if (ret < 0) {
        if (fallback_image() == NULL)
            return ret;
        /* Download errors only: the fallback image takes the source's place. */
        log_warn("Could not load image %s. Using fallback image. %s",
                 ir->u.encrypted ? "(encrypted)" : ir->source, e->msg);
        ir->status = cfg.fallback_image_http_code > 0 ? cfg.fallback_image_http_code : e->status;
        err_clear(e);
        ir->src = fallback_image();
        ir->fallback = true;
    } else if (ir->fr.origin_status == 304) {
        /* The origin confirmed the client's copy: so do we. */
        if (ir->fo.if_none_match != NULL)
            headers_etag_make(ir->r->etag, sizeof(ir->r->etag), ir->po_hash, ir->want.origin_etag,
                              NULL);
        ret = respond_not_modified(ir->r, &ir->po, &ir->fr, false);
        return ret < 0 ? ret : PHASE_DONE;
    }
    return 0;
}

/*
 * Phase, with IMGPROXY_USE_ETAG: the response's ETag, from the origin's
 * ETag or the source's hash; PHASE_DONE (a 304) when the client holds it.
 */
static int etag_match(struct image_req *ir)
{
    const char *oetag = ir->src->etag;
    struct response *r = ir->r;
    bool match = false;
    int ret;

    if (!cfg.use_etag || ir->status != 200)
        return 0;
    if (oetag != NULL && strlen(oetag) >= HEADERS_ORIGIN_ETAG_MAX)
        oetag = NULL; /* too long to carry: fall back to the content hash */
    if (oetag != NULL && oetag[0] != '\0' && ir->want.has_origin_etag &&
        strcmp(ir->want.origin_etag, oetag) == 0) {
        match = true;
    } else if (oetag == NULL || oetag[0] == '\0' || ir->want.img_hash[0] != '\0') {
        headers_sha256_b64(ir->src->body.data, ir->src->body.len, NULL, 0, NULL, 0, ir->img_hash);
        match = ir->want.img_hash[0] != '\0' && strcmp(ir->want.img_hash, ir->img_hash) == 0;
    }
    headers_etag_make(r->etag, sizeof(r->etag), ir->po_hash,
                      oetag != NULL && oetag[0] != '\0' ? oetag : NULL, ir->img_hash);
    if (!match || !ir->po_match)
        return 0;
    ret = respond_not_modified(r, &ir->po, ir->src, ir->fallback);
    return ret < 0 ? ret : PHASE_DONE;
}

/* A pass-through answer: data (borrowed) as a 200 of type mime; its time counts as processing. */
static int pass_bytes(struct image_req *ir, const char *mime, const void *data, size_t len)
{
    int ret = respond_bytes(ir->r, mime, data, len, ir->e);

    ir->tm->process_us = deadline_now_us() - ir->process_start_us;
    return ret < 0 ? ret : PHASE_DONE;
}

/*
 * Phase: the source's type, and the answers that send the source's bytes as
 * they are (raw, skip_processing, SVG kept as SVG): PHASE_DONE after those.
 */
static int pass_through(struct image_req *ir)
{
    const struct fetch_result *src = ir->src;
    const struct procopts *po = &ir->po;
    const unsigned char *data = src->body.data;
    size_t len = src->body.len;
    enum imgtype type;
    /* format:best processes every source unless IMGPROXY_BEST_FORMAT_ALLOW_SKIPS. */
    bool may_skip = !po->best_format || cfg.best_format_allow_skips;

    ir->process_start_us = deadline_now_us();
    type = imagetype_sniff(data, len, (size_t)cfg.max_svg_check_bytes);
    ir->src_type = type;
    /* raw: no type, size or resolution checks, as imgproxy streams it. */
    if (po->raw) {
        const char *mime = type != IMGTYPE_UNKNOWN     ? imagetype_mime(type)
                           : src->content_type != NULL ? src->content_type
                                                       : "application/octet-stream";

        return pass_bytes(ir, mime, data, len);
    }
    if (type == IMGTYPE_UNKNOWN)
        return err_set(ir->e, ERR_SOURCE_TYPE, "Source image type not supported");
    if (type == IMGTYPE_PDF && !cfg.enable_pdf)
        return err_set(ir->e, ERR_SOURCE_TYPE,
                       "Source image type not supported: PDF (IMGFCGI_ENABLE_PDF is off)");
    if (po->max_src_file_size > 0 && len > (size_t)po->max_src_file_size)
        return err_set(ir->e, ERR_SOURCE_TYPE, "Source image file is too big");
    /* skip_processing for this source type: the source bytes as they are. */
    if (po->skip_processing[type] && (po->format == IMGTYPE_UNKNOWN || po->format == type) &&
        may_skip)
        return pass_bytes(ir, imagetype_mime(type), data, len);
    /* SVG stays SVG unless another format is asked for: sanitised, not rasterised. */
    if (type == IMGTYPE_SVG && !cfg.always_rasterize_svg && may_skip &&
        (po->format == IMGTYPE_UNKNOWN || po->format == IMGTYPE_SVG)) {
        /* style: its CSS goes in first, so the sanitiser sees the document as served. */
        if (po->style[0] != '\0') {
            if (svg_inject_style((const char *)data, len, po->style, strlen(po->style),
                                 &ir->styled) < 0)
                return err_set(ir->e, ERR_INTERNAL, "out of memory");
            data = ir->styled.data;
            len = ir->styled.len;
        }
        if (!cfg.sanitize_svg)
            return pass_bytes(ir, imagetype_mime(IMGTYPE_SVG), data, len);
        if (svg_sanitize((const char *)data, len, &ir->svg) < 0)
            return err_set(ir->e, ERR_INTERNAL, "out of memory");
        return pass_bytes(ir, imagetype_mime(IMGTYPE_SVG), ir->svg.data, ir->svg.len);
    }
    return 0;
}

/* fetch_watermark()'s download of url (borrowed), or its cache hit. */
static int fetch_watermark_url(struct image_req *ir, const char *url)
{
    struct fetch_opts fo = {0};
    int ret;

    fo.has_limits = true;
    fo.max_file_size = ir->po.max_src_file_size;
    fo.max_resolution = ir->po.max_src_resolution;
    fo.check_type = true;
    fo.timeout_ms =
        deadline_cap_ms(ir->dl, deadline_now_ms(), (long long)cfg.download_timeout * 1000);
    if (fo.timeout_ms == 0)
        return timed_out(ir->e, "before the watermark download");
    ret = watermark_fetch(sched_fetcher(&ir->sched), url, &fo, &ir->wm_bytes, ir->e);
    if (ret < 0 && deadline_passed(ir->dl))
        return timed_out(ir->e, "during the watermark download");
    if (ret < 0)
        return ret;
    ir->po.wm_image = g_bytes_get_data(ir->wm_bytes, &ir->po.wm_image_len);
    return 0;
}

/*
 * Phase: the watermark_url image (after IMGPROXY_URL_REPLACEMENTS and
 * IMGPROXY_BASE_URL when IMGPROXY_WATERMARK_PREPROCESS_URL is on), from the
 * cache or downloaded with the slot's fetcher under the request's limits and
 * what is left of its time; its failures are the request's (outside
 * IMGPROXY_ALLOWED_SOURCES or a refused address is 404, a watermark over the
 * limits 422). Only when a watermark will be drawn.
 */
static int fetch_watermark(struct image_req *ir)
{
    char *url;
    int ret;

    if (ir->po.wm_url[0] == '\0' || !(ir->po.wm_opacity > 0))
        return 0;
    url = allowed_url(ir->po.wm_url, cfg.watermark_preprocess_url, "watermark_url", ir->e);
    if (url == NULL)
        return ir->e->code;
    ret = fetch_watermark_url(ir, url);
    g_free(url);
    return ret;
}

/*
 * Phase: admission to processing by the scheduler (the memory budget and
 * the CPU class; nothing to wait for when the budget is off).
 */
static int admit(struct image_req *ir)
{
    int ret;

    if (deadline_passed(ir->dl))
        return timed_out(ir->e, "before processing");
    if (!sched_budget_on(ir->sched.s))
        return 0;
    /* The estimate reads the header from the image processing then starts from. */
    if (ir->opened == NULL) {
        ir->opened =
            process_open(ir->src->body.data, ir->src->body.len, ir->src_type, &ir->po, ir->e);
        if (ir->opened == NULL)
            return ir->e->code;
    }
    ret = sched_admit(&ir->sched, ir->opened, ir->src->body.len, ir->src_type, &ir->po,
                      param(ir->rq, "HTTP_ACCEPT"), ir->dl, ir->e);
    if (ret < 0)
        return sched_error(ret, "waiting for a worker after the memory budget", ir->e);
    return 0;
}

/* The Link header (IMGPROXY_SET_CANONICAL_HEADER) for an http(s) source. */
static void add_canonical_link(struct response *r, const char *source)
{
    size_t n;

    if (!cfg.set_canonical_header ||
        (strncmp(source, "http://", 7) != 0 && strncmp(source, "https://", 8) != 0) ||
        !headers_value_safe(source))
        return;
    n = strlen(source) + 20;
    r->link = malloc(n);
    if (r->link != NULL) {
        snprintf(r->link, n, "<%s>; rel=\"canonical\"", source);
        add_header(r, "Link", r->link);
    }
}

/* IMGPROXY_ENABLE_DEBUG_HEADERS: the source's and the result's sizes. */
static void add_debug_headers(struct response *r, const struct fetch_result *src,
                              const struct process_info *info)
{
    static const char *const names[] = {"X-Origin-Content-Length", "X-Origin-Width",
                                        "X-Origin-Height", "X-Result-Width", "X-Result-Height"};
    long long v[] = {(long long)src->body.len, info->src_w, info->src_h, info->out_w, info->out_h};

    for (size_t i = 0; i < 5; i++) {
        snprintf(r->debug[i], sizeof(r->debug[i]), "%lld", v[i]);
        add_header(r, names[i], r->debug[i]);
    }
}

/* Every header of the processed image: they leave with the first encoded bytes. */
static void set_image_headers(struct image_req *ir)
{
    struct response *r = ir->r;
    const struct fetch_result *src = ir->src;
    const char *vary = vary_value();

    r->status = ir->status;
    r->nheaders = 0;
    add_header(r, "Content-Type", imagetype_mime(ir->info.out_type));
    headers_content_disposition(r->content_disposition, sizeof(r->content_disposition),
                                ir->po.filename, ir->u.encrypted ? "" : ir->source,
                                ir->info.out_type, ir->po.return_attachment);
    add_header(r, "Content-Disposition", r->content_disposition);
    set_cache_control(r, &ir->po, src, ir->fallback);
    if (cfg.use_last_modified && headers_value_safe(src->last_modified) &&
        src->last_modified[0] != '\0')
        add_header(r, "Last-Modified", src->last_modified);
    if (vary != NULL)
        add_header(r, "Vary", vary);
    /* An /enc/ source stays hidden: no Link to it, no file name taken from it. */
    if (!ir->u.encrypted)
        add_canonical_link(r, ir->source);
    if (cfg.use_etag && ir->status == 200)
        add_header(r, "ETag", r->etag);
    if (cfg.enable_debug_headers)
        add_debug_headers(r, src, &ir->info);
    add_header(r, "Content-Security-Policy", "script-src 'none'");
    add_cors(r);
    add_header(r, "X-Request-ID", r->request_id);
}

/* process_write_fn into a struct buf: IMGFCGI_BUFFER_RESULT's whole-result copy. */
static int append_result(void *ctx, const void *data, size_t len)
{
    return buf_append(ctx, data, len);
}

/*
 * The saver writes into memory and the response leaves only once the result
 * is whole: a host that dies or stalls while encoding has sent nothing, so
 * the front may still try another host, and a failure is a clean status.
 */
static int save_buffered(struct image_req *ir)
{
    struct buf out;
    int ret;

    buf_init(&out);
    ret = process_save(ir->job, append_result, &out, ir->e);
    if (ret == 0 && send_body(ir->r, out.data, out.len) < 0)
        ret = err_set(ir->e, ERR_CANCELLED, "The client went away during the response");
    buf_release(&out);
    return ret;
}

/* Phase: the libvips pipeline, its headers, and the encoded bytes streamed out. */
static int process_and_stream(struct image_req *ir)
{
    int ret;

    ret = process_prepare_opened(&ir->job, ir->opened, ir->src->body.data, ir->src->body.len,
                                 ir->src_type, &ir->po, param(ir->rq, "HTTP_ACCEPT"), ir->dl,
                                 &ir->info, ir->e);
    if (ret < 0) {
        ir->tm->process_us = deadline_now_us() - ir->process_start_us;
        return ret;
    }
    set_image_headers(ir);
    if (cfg.buffer_result)
        ret = save_buffered(ir);
    else
        ret = process_save(ir->job, send_body, ir->r, ir->e);
    ir->tm->process_us = deadline_now_us() - ir->process_start_us;
    if (ret < 0)
        return ret;
    return send_head(ir->r); /* an empty image still gets its headers */
}

/* An image request, phase by phase; < 0 when it failed (e says why), else 0. */
static int serve_image(struct sched *s, const struct request *rq, struct response *r,
                       struct errinfo *e, struct timings *tm, const struct deadline *dl)
{
    struct image_req ir;
    int ret;

    image_req_init(&ir, s, rq, r, e, tm, dl);
    ret = parse_and_authorise(&ir);
    if (ret == 0) {
        conditional_request(&ir);
        ret = fetch_or_fallback(&ir);
    }
    if (ret == 0)
        ret = etag_match(&ir);
    if (ret == 0)
        ret = pass_through(&ir);
    if (ret == 0)
        ret = fetch_watermark(&ir);
    if (ret == 0)
        ret = admit(&ir);
    if (ret == 0)
        ret = process_and_stream(&ir);
    image_req_release(&ir);
    return ret < 0 ? ret : 0;
}

/* The info options: the `default` info preset, then the URL's segments. */
static int apply_info_options(struct image_req *ir, struct infoopts *io)
{
    char sep = cfg.arguments_separator[0];
    bool only = info_only_presets();
    int ret;

    info_options_init(io);
    if (info_presets_has("default", 7)) {
        ret = info_options_apply_preset(io, "default", 7, sep, ir->e);
        if (ret < 0)
            return ret;
    }
    for (size_t i = 0; i < ir->u.nsegments; i++) {
        const char *seg = ir->u.segments[i];

        while (only && *seg != '\0') {
            const char *next = strchr(seg, sep);
            size_t n = next ? (size_t)(next - seg) : strlen(seg);

            ret = info_options_apply_preset(io, seg, n, sep, ir->e);
            if (ret < 0)
                return ret;
            seg = next != NULL ? next + 1 : "";
        }
        if (!only) {
            ret = info_options_apply_url(io, seg, strlen(seg), sep, ir->e);
            if (ret < 0)
                return ret;
        }
    }
    return 0;
}

/*
 * Phase of /info: the secret, the URL (signed as processing URLs are, over
 * what follows the signature), the info options, the source URL. An
 * extension on an info URL is ignored.
 */
static int info_parse_and_authorise(struct image_req *ir, struct infoopts *io)
{
    struct errinfo *e = ir->e;
    char *prefix;
    int ret;

    if (cfg.secret != NULL && cfg.secret[0] != '\0' &&
        !headers_secret_ok(param(ir->rq, "HTTP_AUTHORIZATION"), cfg.secret))
        return err_set(e, ERR_FORBIDDEN_SECRET, "Invalid secret");
    prefix = g_strconcat(cfg.path_prefix != NULL ? cfg.path_prefix : "", "/info", NULL);
    ret = url_split(&ir->u, ir->rq->uri, strlen(ir->rq->uri), prefix, e);
    g_free(prefix);
    if (ret < 0)
        return ret;
    ret = signature_verify(ir->u.signature, strlen(ir->u.signature), ir->u.path, ir->u.path_len, e);
    if (ret < 0)
        return ret;
    ir->u.presets_override = true;
    ir->u.only_presets = info_only_presets();
    ret = url_parse_path(&ir->u, cfg.arguments_separator[0], e);
    if (ret < 0)
        return ret;
    ret = apply_info_options(ir, io);
    if (ret < 0)
        return ret;
    ir->source = url_preprocess(ir->u.source);
    if (ir->source == NULL)
        return err_set(e, ERR_INTERNAL, "out of memory");
    ret = netguard_source_allowed(ir->source, strlen(ir->source), cfg.allowed_sources.items,
                                  cfg.allowed_sources.len);
    if (ret <= 0)
        return ret < 0
                   ? err_set(e, ERR_INTERNAL, "out of memory")
                   : err_set(e, ERR_INVALID_SOURCE, "Source URL is not allowed: %s", ir->source);
    /* The response headers' options: the expiry and the cache rules of processing answers. */
    options_init(&ir->po);
    ir->po.has_expires = io->has_expires;
    ir->po.expires = io->expires;
    return 0;
}

/*
 * Phase of /info: a slot, then the download under the request's limits; the
 * fallback image never stands in for an info source. The download stops at
 * the header when io needs no more.
 */
static int info_fetch(struct image_req *ir, const struct infoopts *io)
{
    struct errinfo *e = ir->e;
    int ret;

    ret = sched_slot_take(&ir->sched, ir->dl);
    if (ret < 0)
        return sched_error(ret, "waiting for a worker", e);
    ir->fo.has_limits = true;
    ir->fo.max_file_size = io->max_src_file_size;
    ir->fo.max_resolution = io->max_src_resolution;
    ir->fo.check_type = true;
    ir->fo.header_only = !info_needs_body(io);
    ir->fo.cookie = cookie_for(ir->rq, ir->source, ir->cookie_base, sizeof(ir->cookie_base));
    return download(ir);
}

/* Phase of /info: the answer, read from the source and sent as JSON. */
static int info_answer(struct image_req *ir, const struct infoopts *io)
{
    const struct fetch_result *src = &ir->fr;
    struct info_source is;
    struct response *r = ir->r;
    char *json = NULL;
    int ret;

    ir->process_start_us = deadline_now_us();
    is.data = src->body.data;
    is.len = src->body.len;
    is.complete = !src->partial;
    /* A body cut after its header is as long as the origin said (0 when it did not). */
    is.size = !src->partial             ? (long long)src->body.len
              : src->content_length > 0 ? src->content_length
                                        : 0;
    is.type = imagetype_sniff(is.data, is.len, (size_t)cfg.max_svg_check_bytes);
    if (is.type == IMGTYPE_UNKNOWN)
        return err_set(ir->e, ERR_SOURCE_TYPE, "Source image type not supported");
    if (info_needs_pixels(io)) {
        /* Pixel statistics decode a small shrink-on-load copy: admitted as such a thumbnail. */
        ir->po.width = INFOREPORT_STATS_SIZE;
        ir->po.height = INFOREPORT_STATS_SIZE;
        ir->src_type = is.type;
        ret = admit(ir);
        if (ret < 0)
            return ret;
    }
    ret = inforeport_build(io, &is, ir->dl, &json, ir->e);
    ir->tm->process_us = deadline_now_us() - ir->process_start_us;
    if (ret < 0)
        return ret;
    r->status = 200;
    r->nheaders = 0;
    add_header(r, "Content-Type", "application/json");
    set_cache_control(r, &ir->po, src, false);
    if (cfg.use_last_modified && headers_value_safe(src->last_modified) &&
        src->last_modified != NULL && src->last_modified[0] != '\0')
        add_header(r, "Last-Modified", src->last_modified);
    add_cors(r);
    add_header(r, "X-Request-ID", r->request_id);
    ret = send_body(r, json, strlen(json));
    g_free(json);
    if (ret < 0)
        return err_set(ir->e, ERR_CANCELLED, "The client went away during the response");
    return 0;
}

/* An /info request, phase by phase; < 0 when it failed (e says why), else 0. */
static int serve_info(struct sched *s, const struct request *rq, struct response *r,
                      struct errinfo *e, struct timings *tm, const struct deadline *dl)
{
    struct image_req ir;
    struct infoopts io;
    int ret;

    image_req_init(&ir, s, rq, r, e, tm, dl);
    ret = info_parse_and_authorise(&ir, &io);
    if (ret == 0)
        ret = info_fetch(&ir, &io);
    if (ret == 0)
        ret = info_answer(&ir, &io);
    image_req_release(&ir);
    return ret < 0 ? ret : 0;
}

static bool path_is(const char *path, size_t len, const char *want)
{
    return want != NULL && *want != '\0' && strlen(want) == len && memcmp(path, want, len) == 0;
}

/* After a failed image request: its error response, or the visible end of a partial one. */
static void image_failed(struct response *r, struct errinfo *e, const struct output *out)
{
    char cause[sizeof(e->msg)]; /* e->msg cannot be both source and target */

    if (!r->head_sent) {
        respond_error(r, e, false);
    } else if (!r->failed && out->abort != NULL) {
        /* Part of the image is out: make the truncation visible. */
        out->abort(out->ctx);
        snprintf(cause, sizeof(cause), "%s", e->msg);
        err_set(e, e->code, "%s; response aborted", cause);
    }
    if (r->failed && e->code != ERR_CANCELLED) {
        snprintf(cause, sizeof(cause), "%s", e->msg);
        err_set(e, ERR_CANCELLED, "The client went away: %s", cause);
    }
}

/* The playground's routes (src/playground.h); false if path is none of them or they are off. */
static bool serve_playground(struct sched *s, const struct request *rq, struct response *r,
                             const char *path, size_t len)
{
    const char *q = strchr(rq->uri ? rq->uri : "", '?');
    struct playground_request pr = {q != NULL ? q + 1 : NULL, param(rq, "HTTP_HOST"),
                                    param(rq, "HTTP_ORIGIN"), param(rq, "HTTP_REFERER")};
    struct playground_reply reply = {0, NULL, NULL, 0, NULL};

    if (!playground_route(s, path, len, &pr, &reply))
        return false;
    r->status = reply.status;
    r->nheaders = 0;
    add_header(r, "Content-Type", reply.type);
    add_header(r, "Cache-Control", "no-cache");
    add_header(r, "X-Content-Type-Options", "nosniff");
    add_header(r, "X-Request-ID", r->request_id);
    send_head(r);
    send_body(r, reply.body, reply.len);
    playground_reply_free(&reply);
    return true;
}

/* Routes the request by method and path and sends its response. */
static void route(struct sched *s, const struct request *rq, struct response *r, struct errinfo *e,
                  struct timings *tm, const struct deadline *dl)
{
    const char *method = rq->method ? rq->method : "GET";
    const char *uri = rq->uri ? rq->uri : "/";
    size_t plen = strcspn(uri, "?");
    const char *path = uri;
    size_t len = plen;
    size_t prefix_len = cfg.path_prefix ? strlen(cfg.path_prefix) : 0;

    if (prefix_len > 0 && plen >= prefix_len && memcmp(uri, cfg.path_prefix, prefix_len) == 0) {
        path = uri + prefix_len;
        len = plen - prefix_len;
    }
    if (strcmp(method, "HEAD") == 0 || strcmp(method, "OPTIONS") == 0) {
        r->cors = true;
        respond_simple(r, 200, "text/plain", NULL, NULL, false);
    } else if (strcmp(method, "GET") != 0) {
        err_set(e, ERR_NOT_FOUND, "Method %s is not served", method);
        respond_error(r, e, false);
    } else if (path_is(path, len, "/health") || path_is(uri, plen, "/health") ||
               path_is(uri, plen, cfg.health_check_path)) {
        if (process_health() == 0)
            respond_simple(r, 200, "text/plain", "no-cache", "imgfcgi is running\n", true);
        else
            respond_simple(r, 500, "text/plain", "no-cache", "Error", true);
    } else if (path_is(path, len, cfg.metrics_path) || path_is(uri, plen, cfg.metrics_path)) {
        respond_metrics(r, s);
    } else if (serve_playground(s, rq, r, path, len)) {
        /* answered */
    } else if (len == 0 || path_is(path, len, "/")) {
        respond_simple(r, 200, "text/html", NULL, landing_html, true);
    } else if (path_is(path, len, "/favicon.ico")) {
        err_set(e, ERR_NOT_FOUND, "favicon.ico");
        respond_error(r, e, false);
    } else if (len > 6 && memcmp(path, "/info/", 6) == 0) {
        r->cors = true;
        if (serve_info(s, rq, r, e, tm, dl) < 0)
            image_failed(r, e, r->out);
    } else {
        r->cors = true;
        if (serve_image(s, rq, r, e, tm, dl) < 0)
            image_failed(r, e, r->out);
    }
}

/* Phase: the request's log line and its metrics. */
static void log_request(const struct request *rq, const struct response *r, const struct errinfo *e,
                        const struct timings *tm, long long start_us)
{
    const char *method = rq->method ? rq->method : "GET";
    int status = r->failed ? 499 : r->status;
    double total_ms = (double)(deadline_now_us() - start_us) / 1000.0;
    double download_ms = (double)tm->download_us / 1000.0;
    double process_ms = (double)tm->process_us / 1000.0;
    char masked[512];

    log_mask_signature(rq->uri ? rq->uri : "/", cfg.path_prefix, masked, sizeof(masked));
    if (e->code != ERR_OK) {
        log_msg(e->code == ERR_INTERNAL || e->code == ERR_SOURCE_FAILED ? LOG_ERROR : LOG_WARN,
                "%s %s %d %zu total=%.0fms download=%.0fms processing=%.0fms id=%s error=\"%s\"",
                method, masked, status, r->bytes, total_ms, download_ms, process_ms, r->request_id,
                e->msg);
    } else {
        log_info("%s %s %d %zu total=%.0fms download=%.0fms processing=%.0fms id=%s", method,
                 masked, r->status, r->bytes, total_ms, download_ms, process_ms, r->request_id);
    }
    metrics_observe(METRICS_REQUEST, (double)(deadline_now_us() - start_us) / 1e6);
    if (tm->download_us > 0)
        metrics_observe(METRICS_DOWNLOAD, (double)tm->download_us / 1e6);
    if (tm->process_us > 0)
        metrics_observe(METRICS_PROCESSING, (double)tm->process_us / 1e6);
    metrics_request_end(status);
}

int handler_serve(struct sched *s, const struct request *rq, const struct output *out)
{
    struct response r;
    struct errinfo e;
    struct timings tm = {0, 0};
    long long start_us = deadline_now_us();
    struct deadline dl;

    /* IMGPROXY_TIMEOUT counts from here: the wait for a slot, the download, the processing. */
    deadline_start(&dl, start_us / 1000, (long long)cfg.timeout * 1000);
    metrics_request_start();
    memset(&r, 0, sizeof(r));
    r.out = out;
    err_clear(&e);
    make_request_id(rq, r.request_id, sizeof(r.request_id));
    route(s, rq, &r, &e, &tm, &dl);
    process_thread_cleanup();
    free(r.link);
    log_request(rq, &r, &e, &tm, start_us);
    return r.failed ? 499 : r.status;
}
