/*
 * fuzz_request.c: libFuzzer target for the whole request path:
 * handler_serve() from a REQUEST_URI, client headers and source bytes to a
 * response (routing, signature-less URL, options, presets, ETag and
 * conditional logic, type sniffing, limits, libvips load, process, save,
 * streaming, logging).
 *
 * Input, like an HTTP request: the first line is the REQUEST_URI; the
 * following lines up to an empty line are "Name: value" client headers
 * (Accept, If-None-Match, If-Modified-Since, Cookie, Host, X-Forwarded-*,
 * Width, DPR, ...), passed as HTTP_* parameters; the rest is the source
 * image. The source comes from memory through the fuzz build's fetch_hook
 * (src/fetch.h), never from the network or the file system.
 *
 * libvips is set up once as imgfcgi does it (process_global_init(): cache
 * off, untrusted loaders blocked but SVG); the configuration below keeps a
 * run from being only slow decodes: 1 MP sources, 128 px results, 4
 * animation frames, fast encoder settings.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "bufpool.h"
#include "config.h"
#include "errors.h"
#include "fallback.h"
#include "fetch.h"
#include "fuzzutil.h"
#include "handler.h"
#include "presets.h"
#include "process.h"
#include "scheduler.h"
#include "watermark.h"

#define HEADERS_MAX 16
#define HEADER_LINE_MAX 1024
#define RESPONSE_MAX (4 << 20) /* more from a 1 MP source capped at 128 px is a bug */

static const char *const env[] = {
    "IMGPROXY_MAX_SRC_RESOLUTION=1",
    "IMGPROXY_MAX_SRC_FILE_SIZE=1048576",
    "IMGPROXY_MAX_RESULT_DIMENSION=128",
    "IMGPROXY_MAX_ANIMATION_FRAMES=4",
    "IMGPROXY_MAX_SVG_CHECK_BYTES=4096",
    "IMGFCGI_VIPS_CONCURRENCY=1",
    "IMGPROXY_AVIF_SPEED=9",
    "IMGPROXY_WEBP_EFFORT=1",
    "IMGPROXY_AUTO_WEBP=true",
    "IMGPROXY_USE_ETAG=true",
    "IMGPROXY_USE_LAST_MODIFIED=true",
    "IMGPROXY_SET_CANONICAL_HEADER=true",
    "IMGPROXY_ENABLE_DEBUG_HEADERS=true",
    "IMGPROXY_ENABLE_CLIENT_HINTS=true",
    "IMGPROXY_COOKIE_PASSTHROUGH=true",
    "IMGPROXY_ALLOW_ORIGIN=*",
    "IMGPROXY_PRESETS=small=rs:fit:32:32,loop=pr:loop/q:50,default=q:70",
    "IMGFCGI_METRICS_PATH=/metrics",
    "IMGPROXY_WATERMARK_DATA=iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAYAAACp8Z5+"
    "AAAACXBIWXMAAAPoAAAD6AG1e1Jr"
    "AAAADElEQVQI12NgoBwAAABEAAEGwFeiAAAAAElFTkSuQmCC",
    NULL,
};

/* The current input, for the hook and the parameter lookup. */
static struct {
    const uint8_t *body;
    size_t body_len;
    char names[HEADERS_MAX][64];
    char *values[HEADERS_MAX];
    size_t nheaders;
} input;

static struct sched *hc; /* one slot: one request at a time */

static int hook(const char *url, struct fetch_result *r, struct errinfo *e)
{
    (void)url;
    if (input.body_len == 0) {
        /* As an origin's 404 would be. */
        int ret = err_set(e, ERR_SOURCE_STATUS, "fuzz: empty source");

        e->status = 404;
        return ret;
    }
    if (buf_append(&r->body, input.body, input.body_len) < 0)
        return err_set(e, ERR_INTERNAL, "fuzz: out of memory");
    r->origin_status = 200;
    return 0;
}

static const char *param(void *ctx, const char *name)
{
    (void)ctx;
    for (size_t i = 0; i < input.nheaders; i++)
        if (strcmp(input.names[i], name) == 0)
            return input.values[i];
    return NULL;
}

struct sink {
    int status;
    bool head;
    size_t len;
};

static int on_head(void *ctx, int status, const struct header *h, size_t n)
{
    struct sink *s = ctx;

    if (s->head || status < 100 || status > 599)
        abort(); /* handler.h: exactly once, a real status */
    s->head = true;
    s->status = status;
    for (size_t i = 0; i < n; i++)
        if (h[i].name == NULL || h[i].value == NULL || strpbrk(h[i].value, "\r\n") != NULL)
            abort(); /* header injection */
    return 0;
}

static int on_body(void *ctx, const void *data, size_t len)
{
    struct sink *s = ctx;

    if (!s->head || (len > 0 && data == NULL))
        abort();
    s->len += len;
    if (s->len > RESPONSE_MAX)
        abort();
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256];

    (void)argc;
    fuzz_config(env);
    if (presets_init(err, sizeof(err)) != 0 || process_global_init((*argv)[0]) != 0 ||
        curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
        fallback_global_init(err, sizeof(err)) != 0 || watermark_init(err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_request: start-up failed\n");
        exit(1);
    }
    bufpool_download =
        bufpool_new("download", 1, (size_t)cfg.download_buffer_size,
                    (unsigned)cfg.buffer_pool_calibration_threshold, (size_t)cfg.max_src_file_size);
    hc = sched_new(&(struct sched_config){.slots = 1});
    if (bufpool_download == NULL || hc == NULL)
        exit(1);
    fetch_hook = hook;
    return 0;
}

/* "Accept" -> "HTTP_ACCEPT", "x-forwarded-host" -> "HTTP_X_FORWARDED_HOST". */
static bool cgi_name(const char *s, size_t len, char *out, size_t outlen)
{
    size_t o = 5;

    if (len == 0 || len + 6 > outlen)
        return false;
    memcpy(out, "HTTP_", 5);
    for (size_t i = 0; i < len; i++)
        out[o++] = s[i] == '-' ? '_' : (char)toupper((unsigned char)s[i]);
    out[o] = '\0';
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size, *nl;
    struct sink s = {0};
    struct request rq = {.method = "GET", .param = param};
    struct output out = {.head = on_head, .body = on_body, .ctx = &s};
    char *uri;
    int status;

    nl = memchr(p, '\n', size);
    if (nl == NULL)
        return 0;
    uri = fuzz_strdup(p, (size_t)(nl - p));
    p = nl + 1;
    memset(&input, 0, sizeof(input));
    while (p < end) {
        const uint8_t *colon;
        size_t len;

        nl = memchr(p, '\n', (size_t)(end - p));
        len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
        if (len == 0) {
            p = nl + 1;
            break;
        }
        colon = memchr(p, ':', len);
        if (len <= HEADER_LINE_MAX && colon != NULL && input.nheaders < HEADERS_MAX &&
            cgi_name((const char *)p, (size_t)(colon - p), input.names[input.nheaders],
                     sizeof(input.names[0]))) {
            const uint8_t *v = colon + 1;

            while (v < p + len && *v == ' ')
                v++;
            input.values[input.nheaders++] = fuzz_strdup(v, (size_t)(p + len - v));
        }
        p = nl != NULL ? nl + 1 : end;
    }
    input.body = p;
    input.body_len = (size_t)(end - p);

    rq.uri = uri;
    status = handler_serve(hc, &rq, &out);
    if (!s.head || status != s.status)
        abort();

    for (size_t i = 0; i < input.nheaders; i++)
        free(input.values[i]);
    free(uri);
    return 0;
}
