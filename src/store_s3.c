/* store_s3.c: s3:// sources, signed with AWS Signature V4 by libcurl (CURLOPT_AWS_SIGV4). */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <glib.h>

#include "log.h"
#include "store_s3.h"
#include "banned.h"

/* SHA-256 of an empty body: the payload hash of every GET. */
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/* The AWS SDK's region when nothing names one. */
#define DEFAULT_REGION "us-west-1"

/*
 * Set once by store_s3_init() before threads start, read-only afterwards, so
 * prepare() needs no lock. Credentials are static (environment or file): no
 * token to refresh.
 */
static struct {
    char *region;
    char *endpoint; /* "" = AWS; otherwise with a scheme and no trailing '/' */
    bool path_style;
    char *akid, *secret, *token; /* akid NULL: no credentials */
} s3;

/*
 * Buckets whose region a 301 named (x-amz-bucket-region), kept for the
 * process's life as imgproxy does: bucket -> region, both g_strdup'd.
 * regions_lock guards the table; REGIONS_MAX bounds it, since a URL's author
 * chooses bucket names.
 */
#define REGIONS_MAX 10000
#define REGION_HEADER "x-amz-bucket-region"
static pthread_mutex_t regions_lock = PTHREAD_MUTEX_INITIALIZER;
static GHashTable *regions;

static bool is_set(const char *s)
{
    return s != NULL && *s != '\0';
}

/* A value of group/key in the INI file path (GKeyFile), or NULL; caller g_free()s. */
static char *ini_value(const char *path, const char *group, const char *key)
{
    GKeyFile *kf = g_key_file_new();
    char *v = NULL;

    if (g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, NULL))
        v = g_key_file_get_value(kf, group, key, NULL);
    g_key_file_free(kf);
    if (v != NULL) {
        g_strstrip(v);
        if (*v == '\0') {
            g_free(v);
            v = NULL;
        }
    }
    return v;
}

/* ~/.aws/<name>, or NULL without HOME; caller g_free()s. */
static char *aws_file(const struct config *c, const char *override, const char *name)
{
    if (is_set(override))
        return g_strdup(override);
    if (!is_set(c->home))
        return NULL;
    return g_build_filename(c->home, ".aws", name, NULL);
}

/* The profile's section: "NAME" in the credentials file, "profile NAME" in config (not default). */
static char *config_group(const char *profile)
{
    return strcmp(profile, "default") == 0 ? g_strdup("default")
                                           : g_strdup_printf("profile %s", profile);
}

static int take(char **dst, const char *src)
{
    *dst = strdup(src);
    return *dst != NULL ? 0 : -1;
}

/* Region: the setting, the SDK's variables, the profile's region, us-west-1. */
static int load_region(const struct config *c)
{
    const char *profile = is_set(c->aws_profile) ? c->aws_profile : "default";
    char *file, *group, *v = NULL;
    int ret;

    if (is_set(c->s3_region))
        return take(&s3.region, c->s3_region);
    if (is_set(c->aws_region))
        return take(&s3.region, c->aws_region);
    if (is_set(c->aws_default_region))
        return take(&s3.region, c->aws_default_region);
    file = aws_file(c, c->aws_config_file, "config");
    group = config_group(profile);
    if (file != NULL)
        v = ini_value(file, group, "region");
    ret = take(&s3.region, v != NULL ? v : DEFAULT_REGION);
    g_free(v);
    g_free(group);
    g_free(file);
    return ret;
}

/* Credentials from the INI file path, section group; 1 found, 0 not, -1 no memory. */
static int creds_from_file(const char *path, const char *group)
{
    char *akid = ini_value(path, group, "aws_access_key_id");
    char *secret = ini_value(path, group, "aws_secret_access_key");
    char *token = ini_value(path, group, "aws_session_token");
    int ret = 0;

    if (akid != NULL && secret != NULL) {
        ret = take(&s3.akid, akid) == 0 && take(&s3.secret, secret) == 0 &&
                      (token == NULL || take(&s3.token, token) == 0)
                  ? 1
                  : -1;
    }
    g_free(akid);
    if (secret != NULL)
        explicit_bzero(secret, strlen(secret));
    g_free(secret);
    g_free(token);
    return ret;
}

/* The first two links of the AWS default chain: environment, then the shared files. */
static int load_credentials(const struct config *c, const char **from)
{
    const char *profile = is_set(c->aws_profile) ? c->aws_profile : "default";
    char *file, *group;
    int ret = 0;

    if (is_set(c->aws_access_key_id) && is_set(c->aws_secret_access_key)) {
        *from = "AWS_ACCESS_KEY_ID";
        if (take(&s3.akid, c->aws_access_key_id) < 0 ||
            take(&s3.secret, c->aws_secret_access_key) < 0 ||
            (is_set(c->aws_session_token) && take(&s3.token, c->aws_session_token) < 0))
            return -1;
        return 1;
    }
    file = aws_file(c, c->aws_shared_credentials_file, "credentials");
    if (file != NULL) {
        *from = "the shared credentials file";
        ret = creds_from_file(file, profile);
        g_free(file);
        if (ret != 0)
            return ret;
    }
    file = aws_file(c, c->aws_config_file, "config");
    group = config_group(profile);
    if (file != NULL) {
        *from = "the shared config file";
        ret = creds_from_file(file, group);
    }
    g_free(group);
    g_free(file);
    return ret;
}

/* imgproxy adds http:// to an endpoint with no scheme; a trailing '/' goes. */
static int load_endpoint(const struct config *c)
{
    const char *ep = is_set(c->s3_endpoint) ? c->s3_endpoint : "";
    size_t n = strlen(ep);

    while (n > 0 && ep[n - 1] == '/')
        n--;
    if (n == 0)
        s3.endpoint = strdup("");
    else if (strstr(ep, "://") != NULL)
        s3.endpoint = strndup(ep, n);
    else if (asprintf(&s3.endpoint, "http://%.*s", (int)n, ep) < 0)
        s3.endpoint = NULL;
    return s3.endpoint != NULL ? 0 : -1;
}

/* Lower-case letters, digits, '-', 3 to 63 of them: a bucket that may be a host name label. */
static bool dns_safe(const char *b)
{
    size_t n = strlen(b);

    if (n < 3 || n > 63 || b[0] == '-' || b[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '-'))
            return false;
    return true;
}

static int put(struct buf *out, const char *s, size_t n)
{
    if (buf_append(out, s, n) < 0 || buf_reserve(out, out->len + 1) < 0)
        return -1;
    out->data[out->len] = '\0';
    return 0;
}

static int puts_(struct buf *out, const char *s)
{
    return put(out, s, strlen(s));
}

/* Whether host (up to an optional ":port") is an IPv4 literal or a bracketed IPv6 one. */
static bool ip_host(const char *host, size_t n)
{
    char tmp[64];
    struct in_addr a;
    const char *colon;

    if (n > 0 && host[0] == '[')
        return true;
    colon = memchr(host, ':', n);
    if (colon != NULL)
        n = (size_t)(colon - host);
    if (n >= sizeof(tmp))
        return false;
    memcpy(tmp, host, n);
    tmp[n] = '\0';
    return inet_pton(AF_INET, tmp, &a) == 1;
}

int store_s3__object_url(struct buf *out, const char *endpoint, bool path_style, const char *region,
                         const char *bucket, const char *key, size_t len, const char *version)
{
    size_t blen = strlen(bucket);
    int ret;

    if (*endpoint == '\0') {
        if (dns_safe(bucket))
            ret = puts_(out, "https://") < 0 || put(out, bucket, blen) < 0 ||
                          puts_(out, ".s3.") < 0 || puts_(out, region) < 0 ||
                          puts_(out, ".amazonaws.com/") < 0
                      ? -1
                      : 0;
        else
            ret = puts_(out, "https://s3.") < 0 || puts_(out, region) < 0 ||
                          puts_(out, ".amazonaws.com/") < 0 ||
                          storage_path_encode(out, bucket, blen, false) < 0 || puts_(out, "/") < 0
                      ? -1
                      : 0;
    } else {
        const char *sep = strstr(endpoint, "://");
        const char *host = sep != NULL ? sep + 3 : endpoint;
        size_t hlen = strcspn(host, "/");

        /* Virtual-host style only for buckets that can be a host name label, as the SDK. */
        if (path_style || ip_host(host, hlen) || !dns_safe(bucket))
            ret = puts_(out, endpoint) < 0 || puts_(out, "/") < 0 ||
                          storage_path_encode(out, bucket, blen, false) < 0 || puts_(out, "/") < 0
                      ? -1
                      : 0;
        else
            ret = put(out, endpoint, (size_t)(host - endpoint)) < 0 || put(out, bucket, blen) < 0 ||
                          puts_(out, ".") < 0 || puts_(out, host) < 0 || puts_(out, "/") < 0
                      ? -1
                      : 0;
    }
    if (ret == 0)
        ret = storage_path_encode(out, key, len, true);
    if (ret == 0 && version != NULL && *version != '\0')
        ret = puts_(out, "?versionId=") < 0 ||
                      storage_path_encode(out, version, strlen(version), false) < 0
                  ? -1
                  : 0;
    return ret;
}

/* The region to use for bucket (a learnt one, else the configured one), into out. */
static void region_for(const char *bucket, char *out, size_t n)
{
    const char *r = NULL;

    pthread_mutex_lock(&regions_lock);
    if (regions != NULL)
        r = g_hash_table_lookup(regions, bucket);
    snprintf(out, n, "%s", r != NULL ? r : s3.region);
    pthread_mutex_unlock(&regions_lock);
}

/* A 301 naming the bucket's region: remember it and try again there. */
static bool s3_redirected(const struct storage_url *u, long status, const char *hint)
{
    size_t n = strlen(hint);
    bool ok = status == 301 && n > 0 && n < 64 &&
              strspn(hint, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;

    if (!ok)
        return false;
    pthread_mutex_lock(&regions_lock);
    if (regions == NULL)
        regions = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    ok = g_hash_table_size(regions) < REGIONS_MAX || g_hash_table_contains(regions, u->bucket);
    if (ok)
        g_hash_table_replace(regions, g_strdup(u->bucket), g_strdup(hint));
    pthread_mutex_unlock(&regions_lock);
    return ok;
}

static int s3_prepare(const struct storage_url *u, const struct fetch_opts *o,
                      long long deadline_ms, struct storage_get *g, struct errinfo *e)
{
    struct buf url;
    struct curl_slist *h;
    char line[4200], region[64];

    (void)o;
    (void)deadline_ms;
    if (s3.akid == NULL)
        return err_set(e, ERR_SOURCE_FAILED,
                       "s3: no AWS credentials (AWS_ACCESS_KEY_ID or ~/.aws)");
    region_for(u->bucket, region, sizeof(region));
    buf_init(&url);
    if (store_s3__object_url(&url, s3.endpoint, s3.path_style, region, u->bucket, u->key,
                             strlen(u->key), u->query) < 0) {
        buf_release(&url);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    g->url = (char *)url.data; /* NUL-terminated by the builder; the buffer moves into g */
    /*
     * libcurl 7.88 does not add x-amz-content-sha256 (S3 wants it) and signs
     * every header of this list: the empty body's hash, and the session token.
     */
    h = curl_slist_append(NULL, "x-amz-content-sha256: " EMPTY_SHA256);
    if (h == NULL)
        return err_set(e, ERR_INTERNAL, "out of memory");
    g->headers = h;
    if (s3.token != NULL) {
        snprintf(line, sizeof(line), "x-amz-security-token: %s", s3.token);
        h = curl_slist_append(g->headers, line);
        if (h == NULL)
            return err_set(e, ERR_INTERNAL, "out of memory");
        g->headers = h;
    }
    if (asprintf(&g->aws_sigv4, "aws:amz:%s:s3", region) < 0)
        g->aws_sigv4 = NULL;
    g->username = strdup(s3.akid);
    g->password = strdup(s3.secret);
    if (g->aws_sigv4 == NULL || g->username == NULL || g->password == NULL)
        return err_set(e, ERR_INTERNAL, "out of memory");
    g->forward_conditionals = true;
    g->gunzip = true;
    g->hint_header = REGION_HEADER;
    return 0;
}

/*
 * S3's status as imgproxy passes it on: 4xx and 5xx as they are (the generic
 * mapping makes 5xx 502); a 301 that named no region (or still came after
 * the retry in the bucket's region) is an internal error, any other 3xx a 404.
 */
static int s3_map_status(long status)
{
    if (status == 301)
        return 500;
    if (status >= 300 && status < 400)
        return 404;
    return (int)status;
}

static const struct storage_ops s3_ops = {
    .prepare = s3_prepare,
    .unauthorized = NULL,
    .map_status = s3_map_status,
    .redirected = s3_redirected,
};

int store_s3_init(const struct config *c, const struct storage_ops **ops)
{
    const char *from = "";
    int found;

    *ops = NULL;
    if (!c->use_s3)
        return 0;
    if (c->s3_use_decryption_client) {
        log_error("IMGPROXY_S3_USE_DECRYPTION_CLIENT=true: S3 client-side decryption is not "
                  "supported by imgfcgi");
        return -1;
    }
    if (is_set(c->s3_assume_role_arn))
        log_warn("IMGPROXY_S3_ASSUME_ROLE_ARN is set, but imgfcgi does not support AssumeRole: "
                 "s3:// uses the base credentials");
    s3.path_style = c->s3_endpoint_use_path_style;
    found = load_region(c) < 0 || load_endpoint(c) < 0 ? -1 : load_credentials(c, &from);
    if (found < 0) {
        log_error("s3: out of memory at start-up");
        store_s3_shutdown();
        return -1;
    }
    if (found == 0)
        log_warn("s3: no AWS credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                 "AWS_SHARED_CREDENTIALS_FILE, ~/.aws): every s3:// source will fail (500)");
    log_info("s3: region %s, endpoint %s%s, credentials from %s", s3.region,
             *s3.endpoint ? s3.endpoint : "AWS",
             *s3.endpoint && !s3.path_style ? " (virtual host)" : "", found ? from : "nowhere");
    *ops = &s3_ops;
    return 0;
}

void store_s3_shutdown(void)
{
    free(s3.region);
    free(s3.endpoint);
    free(s3.akid);
    if (s3.secret != NULL)
        explicit_bzero(s3.secret, strlen(s3.secret));
    free(s3.secret);
    free(s3.token);
    memset(&s3, 0, sizeof(s3));
    pthread_mutex_lock(&regions_lock);
    if (regions != NULL)
        g_hash_table_destroy(regions);
    regions = NULL;
    pthread_mutex_unlock(&regions_lock);
}
