/* store_abs.c: abs://container/blob through Azure's Get Blob, signed with Shared Key. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <glib.h>

#include "headers.h"
#include "log.h"
#include "store_abs.h"
#include "banned.h"

/*
 * Set once by store_abs_init() before threads start, read-only afterwards:
 * requests share it without a lock.
 */
static struct {
    char *name;         /* the account */
    unsigned char *key; /* the decoded account key */
    size_t keylen;
    char *origin; /* "scheme://host[:port]" of the endpoint */
    char *path;   /* the endpoint's path without a trailing "/" ("" or "/devstoreaccount1") */
} az;

unsigned char *store_abs_decode_key(const char *s, size_t *len)
{
    size_t n = strlen(s), pad = 0;
    guchar *out;
    gsize outlen = 0;

    if (n == 0 || n % 4 != 0)
        return NULL;
    while (pad < 2 && n - pad > 0 && s[n - pad - 1] == '=')
        pad++;
    /* GLib's decoder skips what it does not know: check the alphabet first. */
    for (size_t i = 0; i < n - pad; i++)
        if (!g_ascii_isalnum(s[i]) && s[i] != '+' && s[i] != '/')
            return NULL;
    out = g_base64_decode(s, &outlen);
    if (out == NULL || outlen == 0) {
        g_free(out);
        return NULL;
    }
    *len = outlen;
    return out;
}

static int cmp_lower(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "name:value" lines of the x-ms-* headers, names lower-cased, sorted, each ending in "\n". */
static void append_ms_headers(GString *s, const struct store_abs_header *ms, size_t nms)
{
    char **lines = g_new0(char *, nms + 1);

    for (size_t i = 0; i < nms; i++) {
        char *name = g_ascii_strdown(ms[i].name, -1);

        lines[i] = g_strdup_printf("%s:%s", name, ms[i].value ? ms[i].value : "");
        g_free(name);
    }
    qsort(lines, nms, sizeof(*lines), cmp_lower);
    for (size_t i = 0; i < nms; i++) {
        g_string_append(s, lines[i]);
        g_string_append_c(s, '\n');
    }
    g_strfreev(lines);
}

/* One decoded query parameter. */
struct qparam {
    char *name; /* lower-cased */
    char *value;
};

static int cmp_qparam(const void *a, const void *b)
{
    const struct qparam *x = a, *y = b;

    return strcmp(x->name, y->name);
}

/* "\nname:v1,v2" per distinct parameter of query, sorted. -1 if a part does not decode. */
static int append_query(GString *s, const char *query)
{
    char **parts = g_strsplit(query, "&", -1);
    guint n = g_strv_length(parts);
    struct qparam *p = g_new0(struct qparam, n + 1);
    size_t np = 0;
    int ret = 0;

    for (guint i = 0; i < n && ret == 0; i++) {
        char *eq = strchr(parts[i], '=');
        char *rawname, *name;

        if (parts[i][0] == '\0')
            continue;
        rawname = g_strndup(parts[i], eq ? (gsize)(eq - parts[i]) : strlen(parts[i]));
        name = g_uri_unescape_string(rawname, NULL);
        p[np].value = g_uri_unescape_string(eq ? eq + 1 : "", NULL);
        g_free(rawname);
        if (name == NULL || p[np].value == NULL) {
            g_free(name);
            g_free(p[np].value);
            p[np].value = NULL;
            ret = -1;
            break;
        }
        p[np].name = g_ascii_strdown(name, -1);
        g_free(name);
        np++;
    }
    /* A stable order for equal names: values keep their order in the URL. */
    if (ret == 0) {
        for (size_t i = 1; i < np; i++)
            for (size_t j = i; j > 0 && cmp_qparam(&p[j - 1], &p[j]) > 0; j--) {
                struct qparam t = p[j - 1];

                p[j - 1] = p[j];
                p[j] = t;
            }
        for (size_t i = 0; i < np; i++) {
            if (i > 0 && strcmp(p[i].name, p[i - 1].name) == 0) {
                g_string_append_c(s, ',');
            } else {
                g_string_append_c(s, '\n');
                g_string_append(s, p[i].name);
                g_string_append_c(s, ':');
            }
            g_string_append(s, p[i].value);
        }
    }
    for (size_t i = 0; i < np; i++) {
        g_free(p[i].name);
        g_free(p[i].value);
    }
    g_free(p);
    g_strfreev(parts);
    return ret;
}

char *store_abs_string_to_sign(const char *verb, const char *const std[11],
                               const struct store_abs_header *ms, size_t nms, const char *account,
                               const char *path, const char *query)
{
    GString *s = g_string_new(verb);

    g_string_append_c(s, '\n');
    for (size_t i = 0; i < 11; i++) {
        const char *v = std != NULL && std[i] != NULL ? std[i] : "";

        /* Content-Length (index 2) of 0 is signed as empty since version 2015-02-21. */
        if (i == 2 && strcmp(v, "0") == 0)
            v = "";
        g_string_append(s, v);
        g_string_append_c(s, '\n');
    }
    append_ms_headers(s, ms, nms);
    g_string_append_c(s, '/');
    g_string_append(s, account);
    g_string_append(s, path);
    if (query != NULL && append_query(s, query) < 0) {
        g_string_free(s, TRUE);
        return NULL;
    }
    return g_string_free(s, FALSE);
}

char *store_abs_signature(const unsigned char *key, size_t keylen, const char *sts)
{
    GHmac *h = g_hmac_new(G_CHECKSUM_SHA256, key, keylen);
    guint8 digest[32];
    gsize dlen = sizeof(digest);

    g_hmac_update(h, (const guchar *)sts, (gssize)strlen(sts));
    g_hmac_get_digest(h, digest, &dlen);
    g_hmac_unref(h);
    return g_base64_encode(digest, dlen);
}

/* Splits the endpoint into az.origin and az.path. -1 when it is no http(s) URL. */
static int split_endpoint(const char *ep)
{
    const char *host, *slash;
    size_t plen;

    if (strncasecmp(ep, "http://", 7) == 0)
        host = ep + 7;
    else if (strncasecmp(ep, "https://", 8) == 0)
        host = ep + 8;
    else
        return -1;
    if (*host == '\0' || *host == '/' || strpbrk(ep, "?# \r\n") != NULL)
        return -1;
    slash = strchr(host, '/');
    if (slash == NULL)
        slash = host + strlen(host);
    plen = strlen(slash);
    while (plen > 0 && slash[plen - 1] == '/')
        plen--;
    az.origin = g_strndup(ep, (gsize)(slash - ep));
    az.path = g_strndup(slash, plen);
    return 0;
}

/* Appends "Name: value" to *list; -1 when libcurl runs out of memory. */
static int add_header(struct curl_slist **list, const char *name, const char *value)
{
    char *line = g_strdup_printf("%s: %s", name, value);
    struct curl_slist *next = curl_slist_append(*list, line);

    g_free(line);
    if (next == NULL)
        return -1;
    *list = next;
    return 0;
}

static int abs_prepare(const struct storage_url *u, const struct fetch_opts *o,
                       long long deadline_ms, struct storage_get *g, struct errinfo *e)
{
    char date[30];
    char *container = NULL, *blob = NULL, *path = NULL, *sts = NULL, *sig = NULL, *auth = NULL;
    char *url = NULL;
    struct store_abs_header ms[2] = {{"x-ms-date", date}, {"x-ms-version", STORE_ABS_VERSION}};
    int ret = 0;

    /* No conditional goes to Azure: the local 304 rule decides after the GET. */
    (void)o;
    (void)deadline_ms;
    /* Every byte but the unreserved ones escaped, "/" kept: this is the path curl sends. */
    container = g_uri_escape_string(u->bucket, NULL, FALSE);
    blob = g_uri_escape_string(u->key, "/", FALSE);
    path = g_strdup_printf("%s/%s/%s", az.path, container, blob);
    headers_format_http_date(time(NULL), date);
    sts = store_abs_string_to_sign("GET", NULL, ms, 2, az.name, path, NULL);
    sig = store_abs_signature(az.key, az.keylen, sts);
    auth = g_strdup_printf("SharedKey %s:%s", az.name, sig);
    url = g_strdup_printf("%s%s", az.origin, path);
    g->url = strdup(url);
    if (g->url == NULL || add_header(&g->headers, "x-ms-date", date) < 0 ||
        add_header(&g->headers, "x-ms-version", STORE_ABS_VERSION) < 0 ||
        add_header(&g->headers, "Authorization", auth) < 0)
        ret = err_set(e, ERR_INTERNAL, "out of memory");
    g_free(container);
    g_free(blob);
    g_free(path);
    g_free(sts);
    g_free(sig);
    g_free(auth);
    g_free(url);
    return ret;
}

/* Shared Key has no token to renew: a 401 stays one. */
static bool abs_unauthorized(void)
{
    return false;
}

/*
 * azblob keeps a response error's status (404 BlobNotFound, 403
 * AuthenticationFailed, ...); a 301 is an error of its own (500); other
 * redirects fall to the generic "not found".
 */
static int abs_map_status(long status)
{
    if (status == 301)
        return 500;
    if (status >= 300 && status < 400 && status != 304)
        return 404;
    return (int)status;
}

static const struct storage_ops abs_ops = {
    .prepare = abs_prepare,
    .unauthorized = abs_unauthorized,
    .map_status = abs_map_status,
};

int store_abs_init(const struct config *c, const struct storage_ops **ops)
{
    char *ep = NULL;
    int ret = -1;

    store_abs_shutdown();
    *ops = NULL;
    if (!c->use_abs)
        return 0;
    if (c->abs_name == NULL || c->abs_name[0] == '\0') {
        log_error("IMGPROXY_ABS_NAME must be set with IMGPROXY_USE_ABS");
        return -1;
    }
    if (c->abs_key == NULL || c->abs_key[0] == '\0') {
        log_error("IMGPROXY_ABS_KEY must be set with IMGPROXY_USE_ABS: imgfcgi signs with the "
                  "account key (Shared Key) and does not support Entra ID credentials");
        return -1;
    }
    az.key = store_abs_decode_key(c->abs_key, &az.keylen);
    if (az.key == NULL) {
        log_error("IMGPROXY_ABS_KEY is not valid base64");
        goto out;
    }
    if (c->abs_endpoint != NULL && c->abs_endpoint[0] != '\0')
        ep = g_strdup(c->abs_endpoint);
    else
        ep = g_strdup_printf("https://%s.blob.core.windows.net", c->abs_name);
    if (split_endpoint(ep) < 0) {
        log_error("IMGPROXY_ABS_ENDPOINT=\"%s\": want an http:// or https:// URL without a query",
                  ep);
        goto out;
    }
    az.name = g_strdup(c->abs_name);
    *ops = &abs_ops;
    log_info("abs: account %s at %s%s", az.name, az.origin, az.path);
    ret = 0;
out:
    g_free(ep);
    if (ret < 0)
        store_abs_shutdown();
    return ret;
}

void store_abs_shutdown(void)
{
    if (az.key != NULL)
        memset(az.key, 0, az.keylen);
    g_free(az.key);
    g_free(az.name);
    g_free(az.origin);
    g_free(az.path);
    memset(&az, 0, sizeof(az));
}
