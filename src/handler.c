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

#include "admission.h"
#include "cpugate.h"
#include "config.h"
#include "deadline.h"
#include "fallback.h"
#include "fetch.h"
#include "handler.h"
#include "headers.h"
#include "imagetype.h"
#include "log.h"
#include "metrics.h"
#include "netguard.h"
#include "options.h"
#include "presets.h"
#include "process.h"
#include "signature.h"
#include "svg.h"
#include "url.h"
#include "banned.h"

#define MAX_HEADERS 24
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
    bool cors; /* an image route: CORS headers go on every answer, errors too */
    char content_disposition[1024];
    char cache_control[512];
    char etag[HEADERS_HASH_LEN + HEADERS_ORIGIN_ETAG_MAX * 4 / 3 + 16];
    char debug[5][24];
    char *link; /* Link: <source>; rel="canonical", heap */
    char request_id[64];
    bool retry_after; /* a 503: tell the client when to come back */
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
    if (cfg.auto_webp || cfg.enforce_webp || cfg.auto_avif || cfg.enforce_avif)
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

/* IMGPROXY_ONLY_PRESETS: a segment is preset names split by the separator. */
static int apply_preset_list(struct procopts *po, const char *seg, char sep, struct errinfo *e)
{
    while (*seg != '\0') {
        const char *next = strchr(seg, sep);
        size_t n = next ? (size_t)(next - seg) : strlen(seg);
        int ret = options_apply_preset(po, seg, n, sep, e);

        if (ret < 0)
            return ret;
        if (next == NULL)
            break;
        seg = next + 1;
    }
    return 0;
}

struct timings {
    double download, process;
    double start; /* the request's start, monotonic ms: IMGPROXY_TIMEOUT counts from here */
};

static const char *param(const struct request *rq, const char *name)
{
    return rq->param != NULL ? rq->param(rq->ctx, name) : NULL;
}

/* Cache-Control for the origin headers in src (REFERENCE §8 setCacheControl). */
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
 * A processing slot from slots (the queue: ERR_QUEUE_FULL at once when it is
 * full; the deadline: ERR_TIMEOUT), recorded in e; NULL on failure.
 */
static struct handler_ctx *take_slot(const struct handler_slots *slots, const struct deadline *dl,
                                     const char *what, struct errinfo *e)
{
    int code = ERR_TIMEOUT;
    struct handler_ctx *slot = slots->acquire(slots->ctx, dl, &code);

    if (slot == NULL) {
        if (code == ERR_QUEUE_FULL)
            err_set(e, ERR_QUEUE_FULL,
                    "Too many requests: %d waiting (IMGPROXY_REQUESTS_QUEUE_SIZE)",
                    cfg.requests_queue_size);
        else
            timed_out(e, what);
    }
    return slot;
}

static int serve_image(struct handler_ctx *hc, const struct handler_slots *slots,
                       const struct request *rq, struct response *r, struct errinfo *e,
                       struct timings *tm, const struct deadline *dl)
{
    struct urlparts u;
    struct procopts po;
    struct fetch_result fr;
    const struct fetch_result *src = &fr;
    struct process_job *job = NULL;
    struct admission_ticket ticket;
    struct process_info info;
    struct fetch_opts fo = {.if_none_match = NULL};
    struct handler_ctx *slot = NULL;
    struct etag_expect want;
    enum imgtype src_type;
    const char *accept, *vary;
    char po_hash[HEADERS_HASH_LEN] = "", img_hash[HEADERS_HASH_LEN] = "";
    char cookie_base[1024];
    bool fallback = false, po_match = false;
    int status = 200;
    double t;
    int ret;

    char *source = NULL; /* u.source after IMGPROXY_URL_REPLACEMENTS and IMGPROXY_BASE_URL */
    struct buf svg = {NULL, 0, 0};

    fetch_result_init(&fr);
    memset(&u, 0, sizeof(u));
    memset(&ticket, 0, sizeof(ticket));
    if (cfg.secret != NULL && cfg.secret[0] != '\0' &&
        !headers_secret_ok(param(rq, "HTTP_AUTHORIZATION"), cfg.secret)) {
        ret = err_set(e, ERR_FORBIDDEN_SECRET, "Invalid secret");
        goto out;
    }
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
    if (cfg.enable_client_hints)
        apply_client_hints(&po, rq);
    if (presets_find("default", 7) != NULL) {
        ret = options_apply_preset(&po, "default", 7, cfg.arguments_separator[0], e);
        if (ret < 0)
            goto out;
    }
    for (size_t i = 0; i < u.nsegments; i++) {
        if (cfg.only_presets) {
            ret = apply_preset_list(&po, u.segments[i], cfg.arguments_separator[0], e);
        } else {
            ret = options_apply_url(&po, u.segments[i], strlen(u.segments[i]),
                                    cfg.arguments_separator[0], e);
        }
        if (ret < 0)
            goto out;
    }
    source = url_preprocess(u.source);
    if (source == NULL) {
        ret = err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    if (u.ext != NULL && !po.raw) {
        ret = options_apply_format(&po, u.ext, strlen(u.ext), e);
        if (ret < 0)
            goto out;
    }
    /* IMGPROXY_ALLOWED_SOURCES, on the URL as it will be fetched (redirects are not re-checked). */
    ret = netguard_source_allowed(source, strlen(source), cfg.allowed_sources.items,
                                  cfg.allowed_sources.len);
    if (ret <= 0) {
        ret = ret < 0 ? err_set(e, ERR_INTERNAL, "out of memory")
                      : err_set(e, ERR_INVALID_SOURCE, "Source URL is not allowed: %s", source);
        goto out;
    }
    if (po.format != IMGTYPE_UNKNOWN && !po.raw && !imagetype_saveable(po.format)) {
        ret = err_set(e, ERR_UNSAVEABLE, "Resulting image format is not supported: %s",
                      imagetype_name(po.format));
        goto out;
    }

    /* Conditional request: what the client holds decides what the origin is asked. */
    headers_etag_parse(cfg.use_etag ? param(rq, "HTTP_IF_NONE_MATCH") : NULL, &want);
    if (cfg.use_etag) {
        headers_options_hash(&po, cfg.etag_buster, po_hash);
        po_match = want.valid && strcmp(want.po_hash, po_hash) == 0;
        if (po_match && want.has_origin_etag)
            fo.if_none_match = want.origin_etag;
    }
    if (cfg.use_last_modified)
        fo.if_modified_since = param(rq, "HTTP_IF_MODIFIED_SINCE");
    fo.cookie = cookie_for(rq, source, cookie_base, sizeof(cookie_base));
    /* raw passes any bytes on: no type or resolution checks (the size cap stays). */
    fo.has_limits = true;
    fo.max_file_size = po.max_src_file_size;
    fo.max_resolution = po.raw ? 0 : po.max_src_resolution;
    fo.check_type = !po.raw;

    /* The queue (429 when full), then a worker, within the deadline (503). */
    if (slots != NULL) {
        slot = take_slot(slots, dl, "waiting for a worker", e);
        if (slot == NULL) {
            ret = -1;
            goto out;
        }
        hc = slot;
    }
    /* The download may take what is left of the request's time, and no more. */
    fo.timeout_ms = deadline_cap_ms(dl, deadline_now_ms(), (long long)cfg.download_timeout * 1000);
    if (fo.timeout_ms == 0) {
        ret = timed_out(e, "before the download");
        goto out;
    }
    t = now_ms();
    ret = fetch_source_with(hc->fetcher, source, &fo, &fr, e);
    tm->download = now_ms() - t;
    if (ret < 0 && deadline_passed(dl)) {
        ret = timed_out(e, "during the download");
        goto out;
    }
    if (ret < 0) {
        if (fallback_image() == NULL)
            goto out;
        /* Download errors only: the fallback image takes the source's place. */
        log_warn("Could not load image %s. Using fallback image. %s", source, e->msg);
        status = cfg.fallback_image_http_code > 0 ? cfg.fallback_image_http_code : e->status;
        err_clear(e);
        src = fallback_image();
        fallback = true;
    } else if (fr.origin_status == 304) {
        /* The origin confirmed the client's copy: so do we. */
        if (fo.if_none_match != NULL)
            headers_etag_make(r->etag, sizeof(r->etag), po_hash, want.origin_etag, NULL);
        ret = respond_not_modified(r, &po, &fr, false);
        goto out;
    }

    if (cfg.use_etag && status == 200) {
        const char *oetag = src->etag;
        bool match = false;

        if (oetag != NULL && strlen(oetag) >= HEADERS_ORIGIN_ETAG_MAX)
            oetag = NULL; /* too long to carry: fall back to the content hash */
        if (oetag != NULL && oetag[0] != '\0' && want.has_origin_etag &&
            strcmp(want.origin_etag, oetag) == 0) {
            match = true;
        } else if (oetag == NULL || oetag[0] == '\0' || want.img_hash[0] != '\0') {
            headers_sha256_b64(src->body.data, src->body.len, NULL, 0, NULL, 0, img_hash);
            match = want.img_hash[0] != '\0' && strcmp(want.img_hash, img_hash) == 0;
        }
        headers_etag_make(r->etag, sizeof(r->etag), po_hash,
                          oetag != NULL && oetag[0] != '\0' ? oetag : NULL, img_hash);
        if (match && po_match) {
            ret = respond_not_modified(r, &po, src, fallback);
            goto out;
        }
    }

    t = now_ms();
    src_type = imagetype_sniff(src->body.data, src->body.len, (size_t)cfg.max_svg_check_bytes);
    /* raw: no type, size or resolution checks, as imgproxy streams it. */
    if (po.raw) {
        ret = respond_bytes(r,
                            src_type != IMGTYPE_UNKNOWN ? imagetype_mime(src_type)
                            : src->content_type != NULL ? src->content_type
                                                        : "application/octet-stream",
                            src->body.data, src->body.len, e);
        tm->process = now_ms() - t;
        goto out;
    }
    if (src_type == IMGTYPE_UNKNOWN) {
        ret = err_set(e, ERR_SOURCE_TYPE, "Source image type not supported");
        goto out;
    }
    if (po.max_src_file_size > 0 && src->body.len > (size_t)po.max_src_file_size) {
        ret = err_set(e, ERR_SOURCE_TYPE, "Source image file is too big");
        goto out;
    }
    /* skip_processing for this source type: the source bytes as they are. */
    if (po.skip_processing[src_type] && (po.format == IMGTYPE_UNKNOWN || po.format == src_type)) {
        ret = respond_bytes(r, imagetype_mime(src_type), src->body.data, src->body.len, e);
        tm->process = now_ms() - t;
        goto out;
    }
    /* SVG stays SVG unless another format is asked for: sanitised, not rasterised. */
    if (src_type == IMGTYPE_SVG && !cfg.always_rasterize_svg &&
        (po.format == IMGTYPE_UNKNOWN || po.format == IMGTYPE_SVG)) {
        buf_init(&svg);
        if (cfg.sanitize_svg &&
            svg_sanitize((const char *)src->body.data, src->body.len, &svg) < 0) {
            ret = err_set(e, ERR_INTERNAL, "out of memory");
            goto out;
        }
        ret = cfg.sanitize_svg
                  ? respond_bytes(r, imagetype_mime(IMGTYPE_SVG), svg.data, svg.len, e)
                  : respond_bytes(r, imagetype_mime(IMGTYPE_SVG), src->body.data, src->body.len, e);
        tm->process = now_ms() - t;
        goto out;
    }
    accept = param(rq, "HTTP_ACCEPT");
    if (deadline_passed(dl)) {
        ret = timed_out(e, "before processing");
        goto out;
    }
    /*
     * IMGFCGI_MEMORY_BUDGET: wait for memory before any pixel is decoded (a
     * no-op when off). The wait gives the processing slot back first: a big
     * request waiting for memory must not keep thumbnails from the workers.
     * The download is done; only processing needs a slot again.
     */
    if (admission_global() != NULL) {
        if (slot != NULL) {
            slots->release(slots->ctx, slot);
            slot = NULL;
        }
        ret = admission_request_begin(
            &ticket, src->body.data, src->body.len, src_type, &po, accept,
            dl != NULL && dl->end_ms > 0 ? (double)dl->end_ms : admission_now_ms() + 3.6e6, e);
        if (ret < 0)
            goto out;
        if (slots != NULL) {
            slot = take_slot(slots, dl, "waiting for a worker after the memory budget", e);
            if (slot == NULL) {
                ret = -1;
                goto out;
            }
        }
        /* From here, until out: a thumbnail's strips go first, a big request's yield. */
        cpugate_request_begin(ticket.adm == NULL                ? CPUGATE_NONE
                              : admission_ticket_small(&ticket) ? CPUGATE_SMALL
                                                                : CPUGATE_BIG);
    }
    ret = process_prepare(&job, src->body.data, src->body.len, src_type, &po, accept, dl, &info, e);
    if (ret < 0) {
        tm->process = now_ms() - t;
        goto out;
    }

    /* Every header is decided here: they leave with the first encoded bytes. */
    r->status = status;
    r->nheaders = 0;
    add_header(r, "Content-Type", imagetype_mime(info.out_type));
    headers_content_disposition(r->content_disposition, sizeof(r->content_disposition), po.filename,
                                source, info.out_type, po.return_attachment);
    add_header(r, "Content-Disposition", r->content_disposition);
    set_cache_control(r, &po, src, fallback);
    if (cfg.use_last_modified && headers_value_safe(src->last_modified) &&
        src->last_modified[0] != '\0')
        add_header(r, "Last-Modified", src->last_modified);
    vary = vary_value();
    if (vary != NULL)
        add_header(r, "Vary", vary);
    if (cfg.set_canonical_header &&
        (strncmp(source, "http://", 7) == 0 || strncmp(source, "https://", 8) == 0) &&
        headers_value_safe(source)) {
        size_t n = strlen(source) + 20;

        r->link = malloc(n);
        if (r->link != NULL) {
            snprintf(r->link, n, "<%s>; rel=\"canonical\"", source);
            add_header(r, "Link", r->link);
        }
    }
    if (cfg.use_etag && status == 200)
        add_header(r, "ETag", r->etag);
    if (cfg.enable_debug_headers) {
        static const char *const names[] = {"X-Origin-Content-Length", "X-Origin-Width",
                                            "X-Origin-Height", "X-Result-Width", "X-Result-Height"};
        long long v[] = {(long long)src->body.len, info.src_w, info.src_h, info.out_w, info.out_h};

        for (size_t i = 0; i < 5; i++) {
            snprintf(r->debug[i], sizeof(r->debug[i]), "%lld", v[i]);
            add_header(r, names[i], r->debug[i]);
        }
    }
    add_header(r, "Content-Security-Policy", "script-src 'none'");
    add_cors(r);
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
    admission_request_end(&ticket); /* a big one's memory release runs at its priority */
    cpugate_request_end();
    g_free(source);
    buf_release(&svg);
    fetch_result_release(&fr);
    url_release(&u);
    if (slot != NULL)
        slots->release(slots->ctx, slot);
    return ret;
}

static bool path_is(const char *path, size_t len, const char *want)
{
    return want != NULL && *want != '\0' && strlen(want) == len && memcmp(path, want, len) == 0;
}

static int serve(struct handler_ctx *hc, const struct handler_slots *slots,
                 const struct request *rq, const struct output *out)
{
    struct response r;
    struct errinfo e;
    struct timings tm = {0, 0, 0};
    const char *method = rq->method ? rq->method : "GET";
    const char *uri = rq->uri ? rq->uri : "/";
    size_t plen = strcspn(uri, "?");
    const char *route = uri;
    size_t rlen = plen;
    size_t prefix_len = cfg.path_prefix ? strlen(cfg.path_prefix) : 0;
    double t0 = now_ms();
    struct deadline dl;
    char masked[512];
    bool head = strcmp(method, "HEAD") == 0;

    deadline_start(&dl, deadline_now_ms(), (long long)cfg.timeout * 1000);
    metrics_request_start();
    tm.start = t0;
    memset(&r, 0, sizeof(r));
    r.out = out;
    err_clear(&e);
    make_request_id(rq, r.request_id, sizeof(r.request_id));

    if (prefix_len > 0 && plen >= prefix_len && memcmp(uri, cfg.path_prefix, prefix_len) == 0) {
        route = uri + prefix_len;
        rlen = plen - prefix_len;
    }

    if (head || strcmp(method, "OPTIONS") == 0) {
        r.cors = true;
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
    } else {
        r.cors = true;
        if (serve_image(hc, slots, rq, &r, &e, &tm, &dl) < 0) {
            if (!r.head_sent) {
                respond_error(&r, &e, false);
            } else if (!r.failed && out->abort != NULL) {
                char cause[sizeof(e.msg)];

                /* Part of the image is out: make the truncation visible. */
                out->abort(out->ctx);
                snprintf(cause, sizeof(cause), "%s", e.msg);
                err_set(&e, e.code, "%s; response aborted", cause);
            }
            if (r.failed && e.code != ERR_CANCELLED) {
                char cause[sizeof(e.msg)]; /* e.msg cannot be both source and target */

                snprintf(cause, sizeof(cause), "%s", e.msg);
                err_set(&e, ERR_CANCELLED, "The client went away: %s", cause);
            }
        }
    }
    process_thread_cleanup();
    free(r.link);

    log_mask_signature(uri, cfg.path_prefix, masked, sizeof(masked));
    if (e.code != ERR_OK) {
        log_msg(e.code == ERR_INTERNAL || e.code == ERR_SOURCE_FAILED ? LOG_ERROR : LOG_WARN,
                "%s %s %d %zu total=%.0fms download=%.0fms processing=%.0fms id=%s error=\"%s\"",
                method, masked, r.failed ? 499 : r.status, r.bytes, now_ms() - t0, tm.download,
                tm.process, r.request_id, e.msg);
    } else {
        log_info("%s %s %d %zu total=%.0fms download=%.0fms processing=%.0fms id=%s", method,
                 masked, r.status, r.bytes, now_ms() - t0, tm.download, tm.process, r.request_id);
    }
    metrics_observe(METRICS_REQUEST, (now_ms() - t0) / 1000.0);
    if (tm.download > 0)
        metrics_observe(METRICS_DOWNLOAD, tm.download / 1000.0);
    if (tm.process > 0)
        metrics_observe(METRICS_PROCESSING, tm.process / 1000.0);
    metrics_request_end(r.failed ? 499 : r.status);
    return r.failed ? 499 : r.status;
}

int handler_serve(struct handler_ctx *hc, const struct request *rq, const struct output *out)
{
    return serve(hc, NULL, rq, out);
}

int handler_serve_queued(const struct handler_slots *slots, const struct request *rq,
                         const struct output *out)
{
    return serve(NULL, slots, rq, out);
}
