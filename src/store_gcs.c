/*
 * store_gcs.c: gs://bucket/object through the JSON API (metadata) and the
 * XML API (media), with an OAuth access token from a service-account key.
 *
 * Threads: the key and endpoints are set before threads start and read-only
 * after. The access token is process-wide in a storage_token (storage.h): a
 * request that finds none (or one about to expire) fetches it while holding
 * its lock, so concurrent requests wait for that one exchange instead of
 * making their own; the wait is bounded by each request's deadline.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "deadline.h"
#include "headers.h"
#include "log.h"
#include "store_gcs.h"
#include "banned.h"

#define DEFAULT_TOKEN_URI "https://oauth2.googleapis.com/token"
#define JWT_LIFETIME 3600
#define LOG_BODY 200 /* bytes of an error reply quoted in the log */

static struct {
    struct store_gcs_key key;
    char *endpoint;     /* JSON API base, ending in "/" */
    char *media_origin; /* "scheme://host[:port]" of the endpoint */
} gcs;

/* The cached access token; see the note at the top. */
static struct storage_token auth_token =
    STORAGE_TOKEN_INIT(STORAGE_GCS, "The image request timed out waiting for a GCS access token");
static long long token_number; /* tokens fetched, for the log; guarded by auth_token.lock */

/* -------------------------------------------------------------- JSON parsing */

/* The root object of json (len bytes), or NULL; *parser is unreffed by the caller. */
static JsonObject *json_root(const char *json, size_t len, JsonParser **parser)
{
    JsonNode *root;

    *parser = json_parser_new();
    if (json == NULL || len == 0 || len > (size_t)G_MAXSSIZE ||
        !json_parser_load_from_data(*parser, json, (gssize)len, NULL))
        return NULL;
    root = json_parser_get_root(*parser);
    if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
        return NULL;
    return json_node_get_object(root);
}

/* A string member of o, or NULL when absent or not a string. Borrowed. */
static const char *member_string(JsonObject *o, const char *name)
{
    JsonNode *n = json_object_get_member(o, name);

    if (n == NULL || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
        return NULL;
    return json_node_get_string(n);
}

/* An integer member given as a JSON number or a decimal string; -1 when neither. */
static long long member_int(JsonObject *o, const char *name)
{
    JsonNode *n = json_object_get_member(o, name);
    const char *s;
    char *end;
    long long v;

    if (n == NULL || !JSON_NODE_HOLDS_VALUE(n))
        return -1;
    if (json_node_get_value_type(n) == G_TYPE_INT64)
        return json_node_get_int(n);
    if (json_node_get_value_type(n) != G_TYPE_STRING)
        return -1;
    s = json_node_get_string(n);
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    return errno != 0 || *end != '\0' ? -1 : v;
}

static bool has_control(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

void store_gcs_key_release(struct store_gcs_key *k)
{
    g_free(k->client_email);
    g_free(k->private_key_id);
    g_free(k->token_uri);
    EVP_PKEY_free(k->pkey);
    memset(k, 0, sizeof(*k));
}

/* The RSA private key of a PEM text, or NULL. */
static EVP_PKEY *read_rsa_key(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *pkey = NULL;

    if (bio == NULL)
        return NULL;
    pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (pkey != NULL && !EVP_PKEY_is_a(pkey, "RSA")) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    /* OpenSSL's per-thread error queue must not reach this thread's next TLS transfer. */
    ERR_clear_error();
    return pkey;
}

int store_gcs_parse_key(const char *json, size_t len, struct store_gcs_key *k, const char **why)
{
    JsonParser *p = NULL;
    JsonObject *o = json_root(json, len, &p);
    const char *type, *email, *pem, *kid, *uri;
    int ret = -1;

    memset(k, 0, sizeof(*k));
    if (o == NULL) {
        *why = "not a JSON object";
        goto out;
    }
    type = member_string(o, "type");
    email = member_string(o, "client_email");
    pem = member_string(o, "private_key");
    kid = member_string(o, "private_key_id");
    uri = member_string(o, "token_uri");
    if (type == NULL || strcmp(type, "service_account") != 0) {
        *why = "only \"type\": \"service_account\" keys are supported";
        goto out;
    }
    if (email == NULL || email[0] == '\0' || pem == NULL) {
        *why = "\"client_email\" or \"private_key\" is missing";
        goto out;
    }
    if (uri != NULL && uri[0] != '\0' && strncasecmp(uri, "https://", 8) != 0 &&
        strncasecmp(uri, "http://", 7) != 0) {
        *why = "\"token_uri\" is not an http(s) URL";
        goto out;
    }
    k->pkey = read_rsa_key(pem);
    if (k->pkey == NULL) {
        *why = "\"private_key\" is not a PEM RSA private key";
        goto out;
    }
    k->client_email = g_strdup(email);
    k->private_key_id = kid != NULL && kid[0] != '\0' ? g_strdup(kid) : NULL;
    k->token_uri = g_strdup(uri != NULL && uri[0] != '\0' ? uri : DEFAULT_TOKEN_URI);
    ret = 0;
out:
    if (p != NULL)
        g_object_unref(p);
    if (ret < 0)
        store_gcs_key_release(k);
    return ret;
}

int store_gcs_parse_token(const char *json, size_t len, char **out, long long *expires_in,
                          const char **why)
{
    JsonParser *p = NULL;
    JsonObject *o = json_root(json, len, &p);
    const char *t;
    long long exp;
    int ret = -1;

    *out = NULL;
    if (o == NULL) {
        *why = "the token reply is not a JSON object";
        goto out;
    }
    t = member_string(o, "access_token");
    if (t == NULL || t[0] == '\0' || has_control(t)) {
        *why = "the token reply has no usable \"access_token\"";
        goto out;
    }
    exp = json_object_has_member(o, "expires_in") ? member_int(o, "expires_in") : JWT_LIFETIME;
    if (exp <= 0) {
        *why = "the token reply's \"expires_in\" is not a positive number";
        goto out;
    }
    *out = g_strdup(t);
    *expires_in = exp > INT_MAX ? INT_MAX : exp;
    ret = 0;
out:
    if (p != NULL)
        g_object_unref(p);
    return ret;
}

void store_gcs_meta_release(struct store_gcs_meta *m)
{
    g_free(m->etag);
    g_free(m->last_modified);
    m->etag = m->last_modified = NULL;
    m->size = -1;
}

int store_gcs_parse_meta(const char *json, size_t len, struct store_gcs_meta *m)
{
    JsonParser *p = NULL;
    JsonObject *o = json_root(json, len, &p);
    const char *etag, *updated;
    int ret = -1;

    m->etag = m->last_modified = NULL;
    m->size = -1;
    if (o == NULL)
        goto out;
    etag = member_string(o, "etag");
    updated = member_string(o, "updated");
    if (etag != NULL && etag[0] != '\0' && !has_control(etag))
        m->etag = g_strdup(etag);
    if (updated != NULL) {
        GDateTime *dt = g_date_time_new_from_iso8601(updated, NULL);

        if (dt != NULL) {
            char date[30];

            headers_format_http_date((time_t)g_date_time_to_unix(dt), date);
            m->last_modified = g_strdup(date);
            g_date_time_unref(dt);
        }
    }
    m->size = member_int(o, "size");
    ret = 0;
out:
    if (p != NULL)
        g_object_unref(p);
    return ret;
}

long long store_gcs_generation(const char *query)
{
    char *end;
    long long g;

    if (query == NULL || *query < '0' || *query > '9')
        return 0;
    errno = 0;
    g = strtoll(query, &end, 10);
    return errno != 0 || *end != '\0' || g <= 0 ? 0 : g;
}

/* --------------------------------------------------------------------- JWT */

/* base64url without padding of n bytes. Caller frees with g_free(). */
static char *b64url(const void *p, size_t n)
{
    char *s = g_base64_encode(p, n);
    size_t j = 0;

    for (size_t i = 0; s[i] != '\0' && s[i] != '='; i++)
        s[j++] = s[i] == '+' ? '-' : s[i] == '/' ? '_' : s[i];
    s[j] = '\0';
    return s;
}

/* The compact JSON text of the object b has built, base64url. */
static char *b64url_json(JsonBuilder *b)
{
    JsonGenerator *g = json_generator_new();
    JsonNode *root = json_builder_get_root(b);
    gsize n = 0;
    char *text, *out;

    json_generator_set_root(g, root);
    text = json_generator_to_data(g, &n);
    out = b64url(text, n);
    g_free(text);
    json_node_unref(root);
    g_object_unref(g);
    return out;
}

static void add_string(JsonBuilder *b, const char *name, const char *v)
{
    json_builder_set_member_name(b, name);
    json_builder_add_string_value(b, v);
}

static void add_int(JsonBuilder *b, const char *name, long long v)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, (gint64)v);
}

/* RS256: the base64url RSA-SHA256 signature of s with pkey, or NULL. */
static char *rs256(EVP_PKEY *pkey, const char *s)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *sig = NULL;
    size_t siglen = 0;
    char *out = NULL;

    if (ctx == NULL)
        return NULL;
    if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) != 1 ||
        EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *)s, strlen(s)) != 1)
        goto out;
    sig = malloc(siglen);
    if (sig == NULL || EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)s, strlen(s)) != 1)
        goto out;
    out = b64url(sig, siglen);
out:
    if (out == NULL)
        ERR_clear_error();
    free(sig);
    EVP_MD_CTX_free(ctx);
    return out;
}

char *store_gcs_jwt(const struct store_gcs_key *k, long long now)
{
    JsonBuilder *b = json_builder_new();
    char *header, *claims, *input, *sig, *jwt = NULL;

    json_builder_begin_object(b);
    add_string(b, "alg", "RS256");
    add_string(b, "typ", "JWT");
    if (k->private_key_id != NULL)
        add_string(b, "kid", k->private_key_id);
    json_builder_end_object(b);
    header = b64url_json(b);
    json_builder_reset(b);
    json_builder_begin_object(b);
    add_string(b, "iss", k->client_email);
    add_string(b, "scope", STORE_GCS_SCOPE);
    add_string(b, "aud", k->token_uri);
    add_int(b, "iat", now);
    add_int(b, "exp", now + JWT_LIFETIME);
    json_builder_end_object(b);
    claims = b64url_json(b);
    g_object_unref(b);
    input = g_strdup_printf("%s.%s", header, claims);
    sig = rs256(k->pkey, input);
    if (sig != NULL)
        jwt = g_strdup_printf("%s.%s", input, sig);
    g_free(header);
    g_free(claims);
    g_free(input);
    g_free(sig);
    return jwt;
}

/* ------------------------------------------------------------- HTTP calls */

/*
 * One call to the token endpoint (body != NULL: a form POST) or the JSON API
 * (bearer != NULL), through storage_http(): no address guard, no redirects.
 */
static int api_call(const char *url, const char *body, const char *bearer, long long deadline_ms,
                    struct storage_reply *rep, struct errinfo *e)
{
    struct curl_slist *h = NULL;
    int ret;

    if (bearer != NULL) {
        char *line = g_strdup_printf("Authorization: Bearer %s", bearer);

        h = curl_slist_append(NULL, line);
        g_free(line);
        if (h == NULL)
            return err_set(e, ERR_INTERNAL, "out of memory");
    }
    ret = storage_http(body != NULL ? "POST" : "GET", url, h, body, body ? strlen(body) : 0,
                       deadline_ms, 0, rep, e);
    curl_slist_free_all(h);
    return ret;
}

/* Exchanges a new JWT for an access token: the token cache's fetch, called with its lock held. */
static int fetch_token(long long deadline_ms, char **out, char **extra, long long *renew_ms,
                       struct errinfo *e)
{
    char *jwt = store_gcs_jwt(&gcs.key, (long long)time(NULL));
    char *form = NULL, *fresh = NULL;
    struct storage_reply r = {0};
    long long expires_in = 0;
    const char *why = NULL, *body;
    int ret;

    if (jwt == NULL) {
        ret = err_set(e, ERR_SOURCE_FAILED, "GCS: signing the JWT failed");
        goto out;
    }
    form = g_strdup_printf("grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Ajwt-bearer"
                           "&assertion=%s",
                           jwt);
    storage_count_auth(STORAGE_GCS);
    ret = api_call(gcs.key.token_uri, form, NULL, deadline_ms, &r, e);
    if (ret < 0)
        goto out;
    body = r.body.len > 0 ? (const char *)r.body.data : "";
    if (r.status != 200) {
        ret = err_set(e, ERR_SOURCE_FAILED, "GCS: no access token: status %ld from %s: %.*s",
                      r.status, gcs.key.token_uri, (int)MIN(r.body.len, LOG_BODY), body);
        goto out;
    }
    if (store_gcs_parse_token(body, r.body.len, &fresh, &expires_in, &why) < 0) {
        ret = err_set(e, ERR_SOURCE_FAILED, "GCS: %s (%s)", why, gcs.key.token_uri);
        goto out;
    }
    (void)extra;
    *out = strdup(fresh);
    if (*out == NULL) {
        ret = err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    /* Renewed STORE_GCS_TOKEN_MARGIN s early, or at 3/4 of a shorter life. */
    *renew_ms = deadline_now_ms() + 1000 * (expires_in > 4 * STORE_GCS_TOKEN_MARGIN
                                                ? expires_in - STORE_GCS_TOKEN_MARGIN
                                                : expires_in * 3 / 4);
    token_number++;
    log_info("gcs: access token %lld from %s, valid %lld s", token_number, gcs.key.token_uri,
             expires_in);
out:
    g_free(jwt);
    g_free(form);
    g_free(fresh);
    storage_reply_release(&r);
    return ret;
}

/* A copy of a valid access token in *out (caller frees with free()). */
static int get_token(long long deadline_ms, char **out, struct errinfo *e)
{
    return storage_token_get(&auth_token, fetch_token, deadline_ms, out, NULL, e);
}

/* ------------------------------------------------------------- the transport */

static int gcs_map_status(long status)
{
    if (status == 404 || status == 304 || status == 200)
        return (int)status;
    /* As imgproxy: every other answer of the storage is an internal error. */
    return 500;
}

/*
 * The object's metadata (only with ETag or Last-Modified on): its etag and
 * updated time are the validators imgproxy uses, and the local 304 rule
 * decides with them, so a 304 costs no media GET. A 401 renews the token once.
 */
static int metadata(const struct storage_url *u, long long generation, char **tok,
                    long long deadline_ms, struct store_gcs_meta *m, struct errinfo *e)
{
    char *bucket = g_uri_escape_string(u->bucket, NULL, FALSE);
    char *object = g_uri_escape_string(u->key, NULL, FALSE);
    char *url;
    int ret = 0;

    url = generation > 0 ? g_strdup_printf("%sb/%s/o/%s?alt=json&prettyPrint=false&projection=full"
                                           "&generation=%lld",
                                           gcs.endpoint, bucket, object, generation)
                         : g_strdup_printf("%sb/%s/o/%s?alt=json&prettyPrint=false&projection=full",
                                           gcs.endpoint, bucket, object);
    for (int attempt = 0;; attempt++) {
        struct storage_reply r = {0};
        const char *body;

        ret = api_call(url, NULL, *tok, deadline_ms, &r, e);
        if (ret < 0)
            break;
        if (r.status == 401 && attempt == 0) {
            storage_reply_release(&r);
            storage_token_drop(&auth_token);
            free(*tok);
            *tok = NULL;
            ret = get_token(deadline_ms, tok, e);
            if (ret < 0)
                break;
            continue;
        }
        body = r.body.len > 0 ? (const char *)r.body.data : "";
        if (r.status == 200 && store_gcs_parse_meta(body, r.body.len, m) < 0) {
            ret = err_set(e, ERR_SOURCE_FAILED, "GCS: the metadata of %s/%s is not JSON", u->bucket,
                          u->key);
        } else if (r.status != 200) {
            int mapped = gcs_map_status(r.status);

            ret = err_set(e, mapped == 500 ? ERR_SOURCE_FAILED : ERR_SOURCE_STATUS,
                          "Status %ld from gs (metadata of %s/%s): %.*s", r.status, u->bucket,
                          u->key, (int)MIN(r.body.len, LOG_BODY), body);
            if (mapped != 500)
                e->status = err_source_status(mapped);
        }
        storage_reply_release(&r);
        break;
    }
    g_free(url);
    g_free(bucket);
    g_free(object);
    return ret;
}

/* Appends "Authorization: Bearer tok" to g's headers. */
static int bearer_header(struct storage_get *g, const char *tok)
{
    char *line = g_strdup_printf("Authorization: Bearer %s", tok);
    struct curl_slist *next = curl_slist_append(g->headers, line);

    g_free(line);
    if (next == NULL)
        return -1;
    g->headers = next;
    return 0;
}

static int gcs_prepare(const struct storage_url *u, const struct fetch_opts *o,
                       long long deadline_ms, struct storage_get *g, struct errinfo *e)
{
    long long generation = store_gcs_generation(u->query);
    struct store_gcs_meta m = {.size = -1};
    char *tok = NULL, *bucket = NULL, *object = NULL, *url = NULL;
    int ret = get_token(deadline_ms, &tok, e);

    if (ret < 0)
        goto out;
    if (cfg.use_etag || cfg.use_last_modified) {
        ret = metadata(u, generation, &tok, deadline_ms, &m, e);
        if (ret < 0)
            goto out;
        if ((m.etag != NULL && (g->etag = strdup(m.etag)) == NULL) ||
            (m.last_modified != NULL && (g->last_modified = strdup(m.last_modified)) == NULL)) {
            ret = err_set(e, ERR_INTERNAL, "out of memory");
            goto out;
        }
        g->not_modified = storage_local_not_modified(
            o, cfg.use_etag ? m.etag : NULL, cfg.use_last_modified ? m.last_modified : NULL);
    }
    bucket = g_uri_escape_string(u->bucket, NULL, FALSE);
    object = g_uri_escape_string(u->key, NULL, FALSE);
    url = generation > 0 ? g_strdup_printf("%s/%s/%s?generation=%lld", gcs.media_origin, bucket,
                                           object, generation)
                         : g_strdup_printf("%s/%s/%s", gcs.media_origin, bucket, object);
    g->url = strdup(url);
    if (g->url == NULL || bearer_header(g, tok) < 0)
        ret = err_set(e, ERR_INTERNAL, "out of memory");
out:
    store_gcs_meta_release(&m);
    free(tok);
    g_free(bucket);
    g_free(object);
    g_free(url);
    return ret;
}

/* The media GET answered 401: the token is dropped and the request tried once more. */
static bool gcs_unauthorized(void)
{
    storage_token_drop(&auth_token);
    return true;
}

static const struct storage_ops gcs_ops = {
    .prepare = gcs_prepare,
    .unauthorized = gcs_unauthorized,
    .map_status = gcs_map_status,
};

/* ------------------------------------------------------------- set-up */

int store_gcs_init(const struct config *c, const struct storage_ops **ops)
{
    const char *why = NULL;
    const char *ep = c->gcs_endpoint;
    const char *host, *slash;

    store_gcs_shutdown();
    *ops = NULL;
    if (!c->use_gcs)
        return 0;
    if (c->use_gcs_implied)
        log_warn("IMGPROXY_GCS_KEY is set and IMGPROXY_USE_GCS is not: gs:// is on; this is "
                 "deprecated, set IMGPROXY_USE_GCS=true");
    if (c->gcs_key == NULL || c->gcs_key[0] == '\0') {
        log_error("IMGPROXY_GCS_KEY must be set with IMGPROXY_USE_GCS: imgfcgi needs a "
                  "service-account key and does not look for Application Default Credentials");
        return -1;
    }
    if (store_gcs_parse_key(c->gcs_key, strlen(c->gcs_key), &gcs.key, &why) < 0) {
        log_error("IMGPROXY_GCS_KEY: %s", why);
        return -1;
    }
    if (ep == NULL || (strncasecmp(ep, "http://", 7) != 0 && strncasecmp(ep, "https://", 8) != 0) ||
        strpbrk(ep, "?# \r\n") != NULL) {
        log_error("IMGPROXY_GCS_ENDPOINT=\"%s\": want an http:// or https:// URL without a query",
                  ep ? ep : "");
        store_gcs_shutdown();
        return -1;
    }
    host = strstr(ep, "://") + 3;
    slash = strchr(host, '/');
    if (slash == NULL)
        slash = host + strlen(host);
    if (slash == host) {
        log_error("IMGPROXY_GCS_ENDPOINT=\"%s\": no host", ep);
        store_gcs_shutdown();
        return -1;
    }
    gcs.media_origin = g_strndup(ep, (gsize)(slash - ep));
    gcs.endpoint = g_str_has_suffix(ep, "/") ? g_strdup(ep) : g_strconcat(ep, "/", NULL);
    *ops = &gcs_ops;
    log_info("gcs: service account %s, tokens from %s, objects at %s", gcs.key.client_email,
             gcs.key.token_uri, gcs.endpoint);
    return 0;
}

void store_gcs_shutdown(void)
{
    store_gcs_key_release(&gcs.key);
    g_free(gcs.endpoint);
    g_free(gcs.media_origin);
    memset(&gcs, 0, sizeof(gcs));
    storage_token_clear(&auth_token);
}
