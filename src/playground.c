/* playground.c: the playground page, the live memory view's figures, the signing endpoint. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "config.h"
#include "errors.h"
#include "metrics.h"
#include "playground.h"
#include "signature.h"
#include "url.h"
#include "banned.h"

/*
 * The files of web/, in .rodata: each between NAME and NAME_end, followed by
 * a NUL. The Makefile makes this object depend on the files of web/; paths are relative
 * to the repository, where make runs the compiler.
 */
#define WEB_FILE(sym, file)                                                                        \
    __asm__(".section .rodata\n"                                                                   \
            ".balign 16\n"                                                                         \
            ".globl " #sym "\n" #sym ":\n"                                                         \
            ".incbin \"" file "\"\n"                                                               \
            ".globl " #sym "_end\n" #sym "_end:\n"                                                 \
            ".byte 0\n"                                                                            \
            ".previous\n")
WEB_FILE(imgfcgi_web_html, "web/playground.html");
WEB_FILE(imgfcgi_web_js, "web/playground.js");
WEB_FILE(imgfcgi_web_css, "web/playground.css");
extern const char imgfcgi_web_html[], imgfcgi_web_html_end[];
extern const char imgfcgi_web_js[], imgfcgi_web_js_end[];
extern const char imgfcgi_web_css[], imgfcgi_web_css_end[];

#define ROUTE_FILES "/playground/"
#define ROUTE_STATS "/playground/stats.json"
#define ROUTE_SIGN "/playground/sign"

static bool path_eq(const char *path, size_t len, const char *want)
{
    return strlen(want) == len && memcmp(path, want, len) == 0;
}

static void reply_static(struct playground_reply *r, int status, const char *type,
                         const char *start, const char *end)
{
    r->status = status;
    r->type = type;
    r->body = start;
    r->len = (size_t)(end - start);
    r->heap = NULL;
}

static void reply_text(struct playground_reply *r, int status, const char *text)
{
    r->status = status;
    r->type = "text/plain";
    r->body = text;
    r->len = strlen(text);
    r->heap = NULL;
}

/* Takes over the builder's root as the reply's JSON body. */
static void reply_json(struct playground_reply *r, int status, JsonBuilder *b)
{
    JsonGenerator *g = json_generator_new();
    JsonNode *root = json_builder_get_root(b);
    gsize n = 0;

    json_generator_set_root(g, root);
    r->heap = json_generator_to_data(g, &n);
    r->body = r->heap;
    r->len = n;
    r->status = status;
    r->type = "application/json";
    json_node_unref(root);
    g_object_unref(g);
    g_object_unref(b);
}

static void add_int(JsonBuilder *b, const char *name, unsigned long long v)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, (gint64)v);
}

static void add_str(JsonBuilder *b, const char *name, const char *v)
{
    json_builder_set_member_name(b, name);
    json_builder_add_string_value(b, v != NULL ? v : "");
}

/* The live memory view's figures, one object. */
static void reply_stats(struct playground_reply *r, struct sched *s)
{
    JsonBuilder *b = json_builder_new();
    struct metrics_snapshot st;

    metrics_snapshot(&st, s);
    json_builder_begin_object(b);
    add_int(b, "time_ms", (unsigned long long)(g_get_real_time() / 1000));
    add_int(b, "rss", st.rss);
    add_str(b, "allocator", st.allocator);
    add_str(b, "allocator_library", st.allocator_library);
    add_str(b, "malloc_arena_max", cfg.malloc_arena_max);
    add_str(b, "malloc_conf", cfg.malloc_conf);
    add_int(b, "free_memory_interval", (unsigned long long)cfg.free_memory_interval);
    add_int(b, "releases", st.releases);
    add_int(b, "released_bytes", st.released_bytes);
    add_int(b, "vips_mem", st.vips_mem);
    add_int(b, "vips_mem_highwater", st.vips_mem_highwater);
    add_int(b, "pool_default_size", st.pool_default_size);
    add_int(b, "pool_max_size", st.pool_max_size);
    add_int(b, "pool_calibrations", st.pool_calibrations);
    add_int(b, "pool_buffers", st.pool_buffers);
    add_int(b, "pool_bytes", st.pool_bytes);
    add_int(b, "pool_in_use", st.pool_in_use);
    /* Not counting this request. */
    add_int(b, "in_flight", (unsigned long long)(st.in_flight > 0 ? st.in_flight - 1 : 0));
    add_int(b, "slots_in_use", (unsigned long long)st.slots_in_use);
    add_int(b, "queued", (unsigned long long)st.slots_waiting);
    json_builder_set_member_name(b, "budget_on");
    json_builder_add_boolean_value(b, st.budget_on);
    add_int(b, "budget", st.budget);
    add_int(b, "budget_used", st.budget_used);
    add_int(b, "budget_waiting", st.budget_waiting);
    json_builder_set_member_name(b, "playground");
    json_builder_add_boolean_value(b, cfg.playground);
    json_builder_set_member_name(b, "signed");
    json_builder_add_boolean_value(b, cfg.nkeys > 0 && cfg.nsalts > 0);
    add_str(b, "sample_origin", cfg.playground_origin);
    json_builder_end_object(b);
    reply_json(r, 200, b);
}

/* The length of the host name at the start of authority: up to a port, path, query or end. */
static size_t host_name_len(const char *a)
{
    if (a[0] == '[') {
        const char *end = strchr(a, ']');

        return end != NULL ? (size_t)(end - a) + 1 : 0;
    }
    return strcspn(a, ":/?#");
}

/*
 * True if url is an http(s) URL whose host name is host's (ports aside: nginx's
 * HTTP_HOST may carry none), with only a path after the authority when !exact.
 */
static bool names_host(const char *url, const char *host, bool exact)
{
    size_t hl = host_name_len(host), ul;
    const char *p, *rest;

    if (strncmp(url, "http://", 7) == 0)
        p = url + 7;
    else if (strncmp(url, "https://", 8) == 0)
        p = url + 8;
    else
        return false;
    ul = host_name_len(p);
    if (hl == 0 || ul != hl || g_ascii_strncasecmp(p, host, hl) != 0)
        return false;
    rest = p + ul;
    if (*rest == ':')
        rest += strspn(rest + 1, "0123456789") + 1;
    return exact ? *rest == '\0' : *rest == '/';
}

bool playground_same_site(const char *host, const char *origin, const char *referer)
{
    if (host == NULL || *host == '\0' || referer == NULL)
        return false;
    if (origin != NULL && !names_host(origin, host, true))
        return false;
    return names_host(referer, host, false);
}

bool playground_source_ok(const char *source)
{
    const char *o = cfg.playground_origin;
    size_t n = o != NULL ? strlen(o) : 0;

    if (strncmp(source, "local:///", 9) == 0)
        return strstr(source, "/../") == NULL;
    /* A prefix without a trailing '/' still ends at a path: "http://a:1" is not "http://a:12". */
    return n > 0 && strncmp(source, o, n) == 0 &&
           (o[n - 1] == '/' || source[n] == '\0' || source[n] == '/');
}

/* Splits and checks path (the URL after the signature) the way the image route will. */
static int sign_path(const char *path, char *sig, size_t siglen, struct errinfo *e)
{
    struct urlparts u;
    char *uri = g_strconcat("/_", path, NULL);
    int ret;

    memset(&u, 0, sizeof(u));
    ret = url_split(&u, uri, strlen(uri), "", e);
    if (ret == 0)
        ret = url_parse_path(&u, cfg.arguments_separator[0], e);
    if (ret == 0 && !playground_source_ok(u.source))
        ret = err_set(e, ERR_INVALID_SOURCE, "The playground does not sign this source: %s",
                      u.source);
    if (ret == 0 && (cfg.nkeys == 0 || cfg.nsalts == 0))
        snprintf(sig, siglen, "insecure");
    else if (ret == 0)
        signature_compute(cfg.keys[0].data, cfg.keys[0].len, cfg.salts[0].data, cfg.salts[0].len,
                          u.path, u.path_len, cfg.signature_size, sig);
    url_release(&u);
    g_free(uri);
    return ret;
}

/* GET /playground/sign?path=/OPTIONS/plain/SOURCE: {"signature": ..., "path": ...}. */
static void reply_sign(struct playground_reply *r, const struct playground_request *rq)
{
    GHashTable *params;
    const char *path;
    char sig[64];
    struct errinfo e;
    JsonBuilder *b;

    err_clear(&e);
    if (!playground_same_site(rq->host, rq->origin, rq->referer)) {
        reply_text(r, 403, "Forbidden: not from this site\n");
        return;
    }
    params =
        g_uri_parse_params(rq->query != NULL ? rq->query : "", -1, "&", G_URI_PARAMS_NONE, NULL);
    path = params != NULL ? g_hash_table_lookup(params, "path") : NULL;
    if (path == NULL || path[0] != '/' || strlen(path) > URL_MAX_LEN) {
        reply_text(r, 400, "Bad request: path=/OPTIONS/plain/SOURCE expected\n");
    } else if (sign_path(path, sig, sizeof(sig), &e) < 0) {
        reply_text(r, e.code == ERR_INVALID_SOURCE ? 403 : 400,
                   e.code == ERR_INVALID_SOURCE ? "Forbidden: source not signed here\n"
                                                : "Bad request: invalid path\n");
    } else {
        b = json_builder_new();
        json_builder_begin_object(b);
        add_str(b, "signature", sig);
        add_str(b, "path", path);
        json_builder_end_object(b);
        reply_json(r, 200, b);
    }
    if (params != NULL)
        g_hash_table_unref(params);
}

bool playground_route(struct sched *s, const char *path, size_t len,
                      const struct playground_request *rq, struct playground_reply *reply)
{
    bool pg = cfg.playground;
    bool view = pg || (cfg.metrics_path != NULL && cfg.metrics_path[0] != '\0');
    bool ours = len >= strlen(ROUTE_FILES) && memcmp(path, ROUTE_FILES, strlen(ROUTE_FILES)) == 0;

    if (len <= 1)
        ours = pg; /* "/" is the landing page without the playground */
    else if (path_eq(path, len, "/memory"))
        ours = true;
    if (!ours)
        return false;
    if (len <= 1 || (view && path_eq(path, len, "/memory")))
        reply_static(reply, 200, "text/html; charset=utf-8", imgfcgi_web_html,
                     imgfcgi_web_html_end);
    else if (view && path_eq(path, len, ROUTE_FILES "playground.js"))
        reply_static(reply, 200, "text/javascript; charset=utf-8", imgfcgi_web_js,
                     imgfcgi_web_js_end);
    else if (view && path_eq(path, len, ROUTE_FILES "playground.css"))
        reply_static(reply, 200, "text/css; charset=utf-8", imgfcgi_web_css, imgfcgi_web_css_end);
    else if (view && path_eq(path, len, ROUTE_STATS))
        reply_stats(reply, s);
    else if (pg && path_eq(path, len, ROUTE_SIGN))
        reply_sign(reply, rq);
    else
        reply_text(reply, 404, "Not found\n");
    return true;
}

void playground_reply_free(struct playground_reply *reply)
{
    g_free(reply->heap);
    reply->heap = NULL;
}
