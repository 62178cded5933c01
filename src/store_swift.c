/* store_swift.c: swift:// sources: a token from v1 auth or Keystone v2/v3, cached process-wide. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#include "deadline.h"
#include "log.h"
#include "store_swift.h"
#include "banned.h"

/* A token this close to its expiry is renewed before use (imgproxy's client does the same). */
#define RENEW_BEFORE_MS 60000LL

/*
 * The token and the storage URL it goes with (no trailing '/'), shared by
 * every thread (storage.h: requests that find no token wait for the one
 * authentication in progress, each at most until its own download deadline).
 */
static struct storage_token auth_token = STORAGE_TOKEN_INIT(
    STORAGE_SWIFT, "swift: timed out waiting for the authentication in progress");

/* The settings: read-only after store_swift_init(). */
static struct {
    int version; /* 1, 2 or 3 */
    long connect_ms;
    const struct config *c;
} sw;

static bool is_set(const char *s)
{
    return s != NULL && *s != '\0';
}

/* ---- Keystone answers ---- */

static JsonObject *member_object(JsonObject *o, const char *name)
{
    JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;

    return n != NULL && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

static JsonArray *member_array(JsonObject *o, const char *name)
{
    JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;

    return n != NULL && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

static const char *member_string(JsonObject *o, const char *name)
{
    JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;

    return n != NULL && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
               ? json_node_get_string(n)
               : NULL;
}

static JsonObject *element_object(JsonArray *a, guint i)
{
    JsonNode *n = json_array_get_element(a, i);

    return n != NULL && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

/* ISO 8601 (Keystone's "2024-10-01T12:00:00Z" or with fractions) -> unix seconds; 0 if absent or
 * bad. */
static long long iso_time(const char *s)
{
    GTimeZone *utc;
    GDateTime *t;
    long long v;

    if (s == NULL)
        return 0;
    utc = g_time_zone_new_utc();
    t = g_date_time_new_from_iso8601(s, utc);
    g_time_zone_unref(utc);
    if (t == NULL)
        return 0;
    v = (long long)g_date_time_to_unix(t);
    g_date_time_unref(t);
    return v;
}

static JsonObject *parse_root(JsonParser *p, const char *json, size_t len)
{
    JsonNode *root;

    if (len > STORAGE_REPLY_MAX || !json_parser_load_from_data(p, json, (gssize)len, NULL))
        return NULL;
    root = json_parser_get_root(p);
    return root != NULL && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
}

/* The endpoints of the catalog's i-th service when it is an object store, else NULL. */
static JsonArray *store_endpoints(JsonArray *catalog, guint i)
{
    JsonObject *svc = element_object(catalog, i);
    const char *type = member_string(svc, "type");

    return type != NULL && strcmp(type, "object-store") == 0 ? member_array(svc, "endpoints")
                                                             : NULL;
}

int store_swift__parse_v2(const char *json, size_t len, char **token, char **url,
                          long long *expires)
{
    JsonParser *p = json_parser_new();
    JsonObject *access = member_object(parse_root(p, json, len), "access");
    JsonObject *tok = member_object(access, "token");
    JsonArray *catalog = member_array(access, "serviceCatalog");
    const char *id = member_string(tok, "id"), *public_url = NULL;
    int ret = -1;

    for (guint i = 0; catalog != NULL && public_url == NULL && i < json_array_get_length(catalog);
         i++) {
        JsonArray *eps = store_endpoints(catalog, i);

        if (eps != NULL && json_array_get_length(eps) > 0)
            public_url = member_string(element_object(eps, 0), "publicURL");
    }
    if (id != NULL && *id != '\0' && public_url != NULL && *public_url != '\0') {
        *token = strdup(id);
        *url = strdup(public_url);
        *expires = iso_time(member_string(tok, "expires"));
        ret = *token != NULL && *url != NULL ? 0 : -1;
        if (ret < 0) {
            free(*token);
            free(*url);
        }
    }
    g_object_unref(p);
    return ret;
}

int store_swift__parse_v3(const char *json, size_t len, char **url, long long *expires)
{
    JsonParser *p = json_parser_new();
    JsonObject *tok = member_object(parse_root(p, json, len), "token");
    JsonArray *catalog = member_array(tok, "catalog");
    const char *public_url = NULL;
    int ret = -1;

    for (guint i = 0; catalog != NULL && public_url == NULL && i < json_array_get_length(catalog);
         i++) {
        JsonArray *eps = store_endpoints(catalog, i);

        for (guint j = 0; eps != NULL && public_url == NULL && j < json_array_get_length(eps);
             j++) {
            JsonObject *ep = element_object(eps, j);
            const char *iface = member_string(ep, "interface");

            if (iface != NULL && strcmp(iface, "public") == 0)
                public_url = member_string(ep, "url");
        }
    }
    if (public_url != NULL && *public_url != '\0') {
        *url = strdup(public_url);
        *expires = iso_time(member_string(tok, "expires_at"));
        ret = *url != NULL ? 0 : -1;
    }
    g_object_unref(p);
    return ret;
}

/* ---- authentication ---- */

static void add_string(JsonBuilder *b, const char *name, const char *v)
{
    json_builder_set_member_name(b, name);
    json_builder_add_string_value(b, v);
}

/* The auth request's JSON body (v2 or v3) from the settings; caller g_free()s. */
static char *auth_body(void)
{
    const struct config *c = sw.c;
    JsonBuilder *b = json_builder_new();
    JsonGenerator *gen = json_generator_new();
    JsonNode *root;
    char *text;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "auth");
    json_builder_begin_object(b);
    if (sw.version == 2) {
        json_builder_set_member_name(b, "passwordCredentials");
        json_builder_begin_object(b);
        add_string(b, "username", c->swift_username);
        add_string(b, "password", c->swift_api_key);
        json_builder_end_object(b);
        if (is_set(c->swift_tenant))
            add_string(b, "tenantName", c->swift_tenant);
    } else {
        json_builder_set_member_name(b, "identity");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "methods");
        json_builder_begin_array(b);
        json_builder_add_string_value(b, "password");
        json_builder_end_array(b);
        json_builder_set_member_name(b, "password");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "user");
        json_builder_begin_object(b);
        add_string(b, "name", c->swift_username);
        add_string(b, "password", c->swift_api_key);
        if (is_set(c->swift_domain)) {
            json_builder_set_member_name(b, "domain");
            json_builder_begin_object(b);
            add_string(b, "name", c->swift_domain);
            json_builder_end_object(b);
        }
        json_builder_end_object(b); /* user */
        json_builder_end_object(b); /* password */
        json_builder_end_object(b); /* identity */
        if (is_set(c->swift_tenant)) {
            json_builder_set_member_name(b, "scope");
            json_builder_begin_object(b);
            json_builder_set_member_name(b, "project");
            json_builder_begin_object(b);
            add_string(b, "name", c->swift_tenant);
            json_builder_set_member_name(b, "domain");
            json_builder_begin_object(b);
            add_string(b, "name", is_set(c->swift_domain) ? c->swift_domain : "Default");
            json_builder_end_object(b);
            json_builder_end_object(b); /* project */
            json_builder_end_object(b); /* scope */
        }
    }
    json_builder_end_object(b); /* auth */
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    text = json_generator_to_data(gen, NULL);
    json_node_unref(root);
    g_object_unref(gen);
    g_object_unref(b);
    return text;
}

static int append(struct curl_slist **l, const char *name, const char *value)
{
    char *line = NULL;
    struct curl_slist *next;

    if (asprintf(&line, "%s: %s", name, value) < 0)
        return -1;
    next = curl_slist_append(*l, line);
    free(line);
    if (next == NULL)
        return -1;
    *l = next;
    return 0;
}

/* The answer's text for the log: the start of its body, printable. */
static void body_excerpt(const struct storage_reply *rep, char *out, size_t n)
{
    size_t len = rep->body.len < n - 1 ? rep->body.len : n - 1;

    for (size_t i = 0; i < len; i++) {
        unsigned char ch = rep->body.data[i];

        out[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : ' ';
    }
    out[len] = '\0';
}

/*
 * Hands a token and its storage URL (both owned; the URL without its trailing
 * '/') to the token cache, renewed RENEW_BEFORE_MS before expires_unix (unix
 * seconds; 0 = no expiry known: never).
 */
static void keep_token(char *tok, char *url, long long expires_unix, char **out_tok, char **out_url,
                       long long *renew_ms)
{
    size_t n = strlen(url);

    while (n > 0 && url[n - 1] == '/')
        url[--n] = '\0';
    *out_tok = tok;
    *out_url = url;
    *renew_ms = 0;
    if (expires_unix > 0) {
        long long at = deadline_now_ms() + (expires_unix - (long long)time(NULL)) * 1000LL;

        *renew_ms = at - RENEW_BEFORE_MS > 0 ? at - RENEW_BEFORE_MS : 1;
    }
}

/*
 * One authentication with the configured version: the token cache's fetch,
 * called with its lock held. Renewed RENEW_BEFORE_MS before the expiry the
 * answer gives, never when it gives none.
 */
static int authenticate(long long deadline_ms, char **out_tok, char **out_url, long long *renew_ms,
                        struct errinfo *e)
{
    const struct config *c = sw.c;
    struct curl_slist *h = NULL;
    struct storage_reply rep;
    char *body = NULL, *url = NULL, *tok = NULL, *surl = NULL;
    const char *method = "GET";
    char excerpt[160];
    long long expires = 0;
    int ret;

    if (sw.version == 1) {
        url = strdup(c->swift_auth_url);
        if (url == NULL || append(&h, "X-Auth-User", c->swift_username) < 0 ||
            append(&h, "X-Auth-Key", c->swift_api_key) < 0) {
            ret = err_set(e, ERR_INTERNAL, "out of memory");
            goto out;
        }
    } else {
        size_t n = strlen(c->swift_auth_url);
        bool slash = n > 0 && c->swift_auth_url[n - 1] == '/';

        method = "POST";
        body = auth_body();
        if (asprintf(&url, "%s%s", c->swift_auth_url,
                     sw.version == 2 ? (slash ? "tokens" : "/tokens")
                                     : (slash ? "auth/tokens" : "/auth/tokens")) < 0)
            url = NULL;
        if (body == NULL || url == NULL || append(&h, "Content-Type", "application/json") < 0) {
            ret = err_set(e, ERR_INTERNAL, "out of memory");
            goto out;
        }
    }
    storage_count_auth(STORAGE_SWIFT);
    ret = storage_http(method, url, h, body, body != NULL ? strlen(body) : 0, deadline_ms,
                       sw.connect_ms, &rep, e);
    if (ret < 0) {
        log_warn("swift: authentication at %s failed: %s", url, e->msg);
        goto out;
    }
    body_excerpt(&rep, excerpt, sizeof(excerpt));
    if (rep.status < 200 || rep.status > 299) {
        ret = err_set(e, ERR_SOURCE_FAILED, "swift: authentication failed: status %ld from %s: %s",
                      rep.status, url, excerpt);
    } else if (sw.version == 1) {
        const char *t = storage_reply_header(&rep, "X-Auth-Token");
        const char *s = storage_reply_header(&rep, "X-Storage-Url");
        const char *ex = storage_reply_header(&rep, "X-Auth-Token-Expires");

        tok = t != NULL && *t != '\0' ? strdup(t) : NULL;
        surl = s != NULL && *s != '\0' ? strdup(s) : NULL;
        if (ex != NULL)
            expires = (long long)time(NULL) + strtoll(ex, NULL, 10);
    } else if (sw.version == 2) {
        if (store_swift__parse_v2((const char *)rep.body.data, rep.body.len, &tok, &surl,
                                  &expires) < 0)
            tok = surl = NULL;
    } else {
        const char *t = storage_reply_header(&rep, "X-Subject-Token");

        if (t != NULL && *t != '\0' &&
            store_swift__parse_v3((const char *)rep.body.data, rep.body.len, &surl, &expires) == 0)
            tok = strdup(t);
    }
    if (ret == 0 && (tok == NULL || surl == NULL))
        ret =
            err_set(e, ERR_SOURCE_FAILED,
                    "swift: the auth answer from %s has no token or storage URL: %s", url, excerpt);
    if (ret == 0) {
        keep_token(tok, surl, expires, out_tok, out_url, renew_ms);
        tok = surl = NULL;
        log_info("swift: authenticated (v%d) at %s", sw.version, url);
    } else {
        log_warn("%s", e->msg);
    }
    storage_reply_release(&rep);
out:
    free(tok);
    free(surl);
    curl_slist_free_all(h);
    free(url);
    g_free(body);
    return ret;
}

/* ---- the transport ---- */

static int swift_prepare(const struct storage_url *u, const struct fetch_opts *o,
                         long long deadline_ms, struct storage_get *g, struct errinfo *e)
{
    struct buf url;
    char *tok = NULL, *surl = NULL;
    int ret;

    (void)o;
    buf_init(&url);
    ret = storage_token_get(&auth_token, authenticate, deadline_ms, &tok, &surl, e);
    if (ret < 0)
        return ret;
    if (buf_append(&url, surl, strlen(surl)) < 0 || buf_append(&url, "/", 1) < 0 ||
        storage_path_encode(&url, u->bucket, strlen(u->bucket), false) < 0 ||
        buf_append(&url, "/", 1) < 0 || storage_path_encode(&url, u->key, strlen(u->key), true) < 0)
        ret = err_set(e, ERR_INTERNAL, "out of memory");
    if (ret == 0 && append(&g->headers, "X-Auth-Token", tok) < 0)
        ret = err_set(e, ERR_INTERNAL, "out of memory");
    explicit_bzero(tok, strlen(tok));
    free(tok);
    free(surl);
    if (ret < 0) {
        buf_release(&url);
        return ret;
    }
    g->url = (char *)url.data; /* NUL-terminated by storage_path_encode; moves into g */
    g->gunzip = true;
    g->connect_timeout_ms = sw.connect_ms;
    return 0;
}

/* Drops the token this thread used, unless another thread has replaced it already. */
static bool swift_unauthorized(void)
{
    storage_token_drop(&auth_token);
    return true;
}

/* imgproxy's swift transport: a missing object is 404, anything else an internal error. */
static int swift_map_status(long status)
{
    return status == 404 ? 404 : 500;
}

static const struct storage_ops swift_ops = {
    .prepare = swift_prepare,
    .unauthorized = swift_unauthorized,
    .map_status = swift_map_status,
};

int store_swift_init(const struct config *c, const struct storage_ops **ops)
{
    const char *a = c->swift_auth_url;

    *ops = NULL;
    if (!c->use_swift)
        return 0;
    if (!is_set(a)) {
        log_error("IMGPROXY_USE_SWIFT=true needs IMGPROXY_SWIFT_AUTH_URL");
        return -1;
    }
    /* imgproxy takes the version from the auth URL: the first of v3, v2, v1 found in it. */
    sw.version = c->swift_auth_version > 0 ? c->swift_auth_version
                 : strstr(a, "v3") != NULL ? 3
                 : strstr(a, "v2") != NULL ? 2
                 : strstr(a, "v1") != NULL ? 1
                                           : 0;
    if (sw.version == 0) {
        log_error("IMGPROXY_SWIFT_AUTH_URL=%s: can't find the auth version (v1, v2 or v3) in it; "
                  "set IMGPROXY_SWIFT_AUTH_VERSION",
                  a);
        return -1;
    }
    sw.connect_ms = (c->swift_connect_timeout > 0 ? c->swift_connect_timeout : 10) * 1000L;
    sw.c = c;
    log_info("swift: auth v%d at %s as %s; the first request authenticates", sw.version, a,
             c->swift_username != NULL ? c->swift_username : "");
    *ops = &swift_ops;
    return 0;
}

void store_swift_shutdown(void)
{
    storage_token_clear(&auth_token);
    sw.c = NULL;
}
