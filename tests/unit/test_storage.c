/* test_storage.c: storage URLs, key encoding, S3 URLs and SigV4, Keystone answers, 304s, tokens. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <glib.h>

#include "config.h"
#include "deadline.h"
#include "fetch.h"
#include "storage.h"
#include "store_s3.h"
#include "store_swift.h"
#include "testutil.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* Enables s3 and swift with settings that need no server; each test starts from here. */
static int enable_storages(void **state)
{
    tu_cfg_reset(state);
    cfg.use_s3 = true;
    cfg.s3_region = (char *)"us-east-1";
    cfg.s3_endpoint = (char *)"";
    cfg.aws_access_key_id = "AKIDEXAMPLE";
    cfg.aws_secret_access_key = "secret";
    cfg.use_swift = true;
    cfg.swift_auth_url = (char *)"http://127.0.0.1:1/auth/v1.0";
    cfg.swift_username = (char *)"u";
    cfg.swift_api_key = (char *)"k";
    storage_shutdown();
    return storage_init(&cfg) == 0 ? 0 : -1;
}

struct split_case {
    const char *src, *sep;
    int ret;
    enum storage_kind kind;
    const char *bucket, *key, *query;
};

static void test_split(void **state)
{
    static const struct split_case cases[] = {
        {"s3://b/a/b c.jpg", "?", 1, STORAGE_S3, "b", "a/b c.jpg", NULL},
        {"s3://b/a%20c.jpg", "?", 1, STORAGE_S3, "b", "a%20c.jpg", NULL},
        {"s3://b/x.jpg?3HL4kq", "?", 1, STORAGE_S3, "b", "x.jpg", "3HL4kq"},
        {"s3://b/x.jpg?version=3HL", "?", 1, STORAGE_S3, "b", "x.jpg", "version=3HL"},
        {"s3://b/x.jpg?version=3HL", "?version=", 1, STORAGE_S3, "b", "x.jpg", "3HL"},
        {"s3://b/x.jpg?a?b", "", 1, STORAGE_S3, "b", "x.jpg?a?b", NULL},
        {"s3://b/x.jpg?a", NULL, 1, STORAGE_S3, "b", "x.jpg?a", NULL},
        {"S3://b///x#1+%.png", "?", 1, STORAGE_S3, "b", "x#1+%.png", NULL},
        {"swift://c/o/p.jpg", "?", 1, STORAGE_SWIFT, "c", "o/p.jpg", NULL},
        {"SWIFT://user@c:8080/o", "?", 1, STORAGE_SWIFT, "c:8080", "o", NULL},
        {"http://b/x.jpg", "?", 0, 0, NULL, NULL, NULL},
        {"local:///x.jpg", "?", 0, 0, NULL, NULL, NULL},
        {"s3x://b/x.jpg", "?", 0, 0, NULL, NULL, NULL},
        {"s3", "?", 0, 0, NULL, NULL, NULL},
        {"s3://b/", "?", ERR_SOURCE_NOT_FOUND, 0, NULL, NULL, NULL},
        {"s3://b", "?", ERR_SOURCE_NOT_FOUND, 0, NULL, NULL, NULL},
        {"s3:///k", "?", ERR_SOURCE_NOT_FOUND, 0, NULL, NULL, NULL},
        {"s3://b/?v", "?", ERR_SOURCE_NOT_FOUND, 0, NULL, NULL, NULL},
        {"s3:b/k", "?", ERR_SOURCE_NOT_FOUND, 0, NULL, NULL, NULL},
    };

    enable_storages(state);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct split_case *c = &cases[i];
        struct storage_url u = {0};
        struct errinfo e;
        int ret;

        err_clear(&e);
        ret = storage_split(c->src, c->sep, &u, &e);
        if (ret != c->ret)
            fail_msg("%s: %d, want %d (%s)", c->src, ret, c->ret, e.msg);
        if (ret < 0) {
            assert_int_equal(e.status, 404);
            assert_non_null(strstr(e.msg, "Invalid"));
        }
        if (ret != 1)
            continue;
        assert_int_equal(u.kind, c->kind);
        assert_string_equal(u.bucket, c->bucket);
        assert_string_equal(u.key, c->key);
        if (c->query == NULL)
            assert_null(u.query);
        else
            assert_string_equal(u.query, c->query);
        storage_url_free(&u);
    }
}

static void test_split_disabled(void **state)
{
    struct storage_url u = {0};
    struct errinfo e;

    enable_storages(state);
    storage_shutdown();
    err_clear(&e);
    assert_int_equal(storage_split("s3://b/k", "?", &u, &e), ERR_SOURCE_NOT_FOUND);
    assert_int_equal(e.status, 404);
    assert_string_equal(e.msg, "Unknown scheme: s3");
    assert_int_equal(storage_split("gs://b/k", "?", &u, &e), ERR_SOURCE_NOT_FOUND);
    assert_null(storage_ops_for(STORAGE_SWIFT));
}

static void test_path_encode(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b);
    assert_int_equal(storage_path_encode(&b, "a b+c", 5, true), 0);
    assert_string_equal((char *)b.data, "a%20b%2Bc");
    b.len = 0;
    assert_int_equal(storage_path_encode(&b, "d/é~_.-/?#%", 12, true), 0);
    assert_string_equal((char *)b.data, "d/%C3%A9~_.-/%3F%23%25");
    b.len = 0;
    assert_int_equal(storage_path_encode(&b, "x/y", 3, false), 0);
    assert_string_equal((char *)b.data, "x%2Fy");
    buf_release(&b);
}

static void expect_url(const char *endpoint, bool path_style, const char *bucket, const char *key,
                       const char *version, const char *want)
{
    struct buf b;

    buf_init(&b);
    assert_int_equal(store_s3__object_url(&b, endpoint, path_style, "eu-west-2", bucket, key,
                                          strlen(key), version),
                     0);
    assert_string_equal((char *)b.data, want);
    buf_release(&b);
}

static void test_s3_urls(void **state)
{
    (void)state;
    expect_url("", true, "media", "a b/c.jpg", NULL,
               "https://media.s3.eu-west-2.amazonaws.com/a%20b/c.jpg");
    expect_url("", true, "my.bucket", "k", NULL, "https://s3.eu-west-2.amazonaws.com/my.bucket/k");
    expect_url("", true, "Upper", "k", NULL, "https://s3.eu-west-2.amazonaws.com/Upper/k");
    expect_url("", true, "media", "k",
               "3HL4kq+/=", "https://media.s3.eu-west-2.amazonaws.com/k?versionId=3HL4kq%2B%2F%3D");
    expect_url("http://minio:9000", true, "b", "x/./y.jpg", NULL, "http://minio:9000/b/x/./y.jpg");
    expect_url("https://s3.example", false, "media", "k", NULL, "https://media.s3.example/k");
    expect_url("https://s3.example", false, "b_x", "k", NULL, "https://s3.example/b_x/k");
    expect_url("http://127.0.0.1:9000", false, "b", "k", NULL, "http://127.0.0.1:9000/b/k");
}

/* ---- SigV4, computed here the way the AWS documentation describes it ---- */

static void sha256_hex(const char *s, char out[65])
{
    gchar *h = g_compute_checksum_for_string(G_CHECKSUM_SHA256, s, -1);

    memcpy(out, h, 65);
    g_free(h);
}

static void hmac(const guchar *key, gsize klen, const char *msg, guchar out[32])
{
    GHmac *m = g_hmac_new(G_CHECKSUM_SHA256, key, klen);
    gsize n = 32;

    g_hmac_update(m, (const guchar *)msg, -1);
    g_hmac_get_digest(m, out, &n);
    g_hmac_unref(m);
}

/* The hex signature of canonical (a whole canonical request) per SigV4. */
static void sigv4(const char *secret, const char *amzdate, const char *region, const char *service,
                  const char *canonical, char out[65])
{
    char date[9], scope[128], hash[65], sts[512];
    gchar *k0 = g_strconcat("AWS4", secret, NULL);
    guchar k[32];

    memcpy(date, amzdate, 8);
    date[8] = '\0';
    snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", date, region, service);
    sha256_hex(canonical, hash);
    snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%s\n%s", amzdate, scope, hash);
    hmac((const guchar *)k0, strlen(k0), date, k);
    hmac(k, 32, region, k);
    hmac(k, 32, service, k);
    hmac(k, 32, "aws4_request", k);
    hmac(k, 32, sts, k);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", k[i]);
    g_free(k0);
}

static void test_sigv4_vectors(void **state)
{
    char sig[65];

    (void)state;
    /* AWS get-vanilla. */
    sigv4("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830T123600Z", "us-east-1", "service",
          "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
          "host;x-amz-date\n" EMPTY_SHA256,
          sig);
    assert_string_equal(sig, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    /* The S3 documentation's GET Object with a range. */
    sigv4("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524T000000Z", "us-east-1", "s3",
          "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
          "x-amz-content-sha256:" EMPTY_SHA256 "\nx-amz-date:20130524T000000Z\n\n"
          "host;range;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA256,
          sig);
    assert_string_equal(sig, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

/* A small HTTP server: n connections, one request each, reply[i] to the i-th; heads kept. */
struct one_shot {
    int fd;
    int port;
    int n;
    const char *reply[2];
    char request[2][8192];
};

static void *serve_one(void *arg)
{
    struct one_shot *s = arg;

    for (int i = 0; i < s->n; i++) {
        int c = accept(s->fd, NULL, NULL);
        size_t n = 0;

        if (c < 0)
            return NULL;
        while (n < sizeof(s->request[i]) - 1 && strstr(s->request[i], "\r\n\r\n") == NULL) {
            ssize_t r = read(c, s->request[i] + n, sizeof(s->request[i]) - 1 - n);

            if (r <= 0)
                break;
            n += (size_t)r;
            s->request[i][n] = '\0';
        }
        if (write(c, s->reply[i], strlen(s->reply[i])) < 0)
            n = 0;
        close(c);
    }
    return NULL;
}

static void one_shot_start(struct one_shot *s, pthread_t *t)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);

    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->fd >= 0);
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->fd, 4), 0);
    assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &alen), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(t, NULL, serve_one, s), 0);
}

/* The value of header name in a captured request head ("" if absent). */
static void header_of(const char *req, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);

    out[0] = '\0';
    for (const char *l = strstr(req, "\r\n"); l != NULL; l = strstr(l + 2, "\r\n")) {
        const char *p = l + 2;

        if (g_ascii_strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            const char *end = strstr(v, "\r\n");

            while (*v == ' ')
                v++;
            snprintf(out, n, "%.*s", (int)(end - v), v);
            return;
        }
    }
}

/*
 * The request libcurl signs for an s3:// source through fetch.c: its
 * signature recomputed here from what was sent (path, query, the signed
 * headers) must be the one in Authorization. The key holds a space, an '@'
 * and "/./", the access key a ':' (as Swift's s3api has), with a session token.
 */
static void test_s3_request_signed(void **state)
{
    struct one_shot s = {.n = 1,
                         .reply = {"HTTP/1.1 404 Not Found\r\nContent-Type: application/xml\r\n"
                                   "Connection: close\r\n\r\n"
                                   "<Error><Code>NoSuchKey</Code></Error>"}};
    char endpoint[64], auth[1024], amzdate[32], signed_hdrs[256], canonical[4096], sig[65];
    char want_cred[128], line[512];
    const char *sp1, *sp2, *q, *sigp;
    struct fetcher *f;
    struct fetch_result r;
    struct errinfo e;
    pthread_t t;
    gchar **names;
    size_t used;

    tu_cfg_reset(state);
    one_shot_start(&s, &t);
    snprintf(endpoint, sizeof(endpoint), "127.0.0.1:%d", s.port);
    cfg.use_s3 = true;
    cfg.s3_endpoint = endpoint; /* no scheme: http:// is added */
    cfg.s3_region = (char *)"us-east-1";
    cfg.aws_access_key_id = "test:tester";
    cfg.aws_secret_access_key = "testing";
    cfg.aws_session_token = "tok/en+1";
    storage_shutdown();
    assert_int_equal(storage_init(&cfg), 0);
    f = fetcher_new();
    fetch_result_init(&r);
    err_clear(&e);
    assert_int_equal(fetch_source(f, "s3://imgs/a/./my photo@2x.jpg?v1", &r, &e),
                     ERR_SOURCE_STATUS);
    assert_int_equal(e.status, 404);
    assert_non_null(strstr(e.msg, "NoSuchKey"));
    fetch_result_release(&r);
    fetcher_free(f);
    pthread_join(t, NULL);
    close(s.fd);

    /* Request line: the key pre-encoded, "/./" kept, the version as versionId. */
    sp1 = strchr(s.request[0], ' ');
    assert_non_null(sp1);
    sp2 = strchr(sp1 + 1, ' ');
    assert_non_null(sp2);
    snprintf(line, sizeof(line), "%.*s", (int)(sp2 - sp1 - 1), sp1 + 1);
    assert_string_equal(line, "/imgs/a/./my%20photo%402x.jpg?versionId=v1");
    header_of(s.request[0], "Authorization", auth, sizeof(auth));
    header_of(s.request[0], "X-Amz-Date", amzdate, sizeof(amzdate));
    assert_true(strlen(amzdate) == 16);
    snprintf(want_cred, sizeof(want_cred), "Credential=test:tester/%.8s/us-east-1/s3/aws4_request",
             amzdate);
    assert_non_null(strstr(auth, want_cred));
    assert_non_null(strstr(auth, "x-amz-content-sha256"));
    assert_non_null(strstr(auth, "x-amz-security-token"));
    q = strstr(auth, "SignedHeaders=");
    assert_non_null(q);
    snprintf(signed_hdrs, sizeof(signed_hdrs), "%.*s", (int)strcspn(q + 14, ", "), q + 14);

    /* The canonical request from what was sent. */
    q = memchr(sp1, '?', (size_t)(sp2 - sp1));
    used = (size_t)snprintf(canonical, sizeof(canonical), "GET\n%.*s\n%.*s\n", (int)(q - sp1 - 1),
                            sp1 + 1, (int)(sp2 - q - 1), q + 1);
    names = g_strsplit(signed_hdrs, ";", -1);
    for (gchar **n = names; *n != NULL; n++) {
        char v[512];

        header_of(s.request[0], *n, v, sizeof(v));
        used += (size_t)snprintf(canonical + used, sizeof(canonical) - used, "%s:%s\n", *n, v);
    }
    g_strfreev(names);
    header_of(s.request[0], "x-amz-content-sha256", line, sizeof(line));
    assert_string_equal(line, EMPTY_SHA256);
    snprintf(canonical + used, sizeof(canonical) - used, "\n%s\n%s", signed_hdrs, line);
    sigv4("testing", amzdate, "us-east-1", "s3", canonical, sig);
    sigp = strstr(auth, "Signature=");
    assert_non_null(sigp);
    assert_string_equal(sigp + 10, sig);
    storage_shutdown();
}

/* A 301 naming the bucket's region: the GET is signed again for that region, and it is kept. */
static void test_s3_region_retry(void **state)
{
    struct one_shot s = {.n = 2,
                         .reply = {"HTTP/1.1 301 Moved Permanently\r\n"
                                   "x-amz-bucket-region: eu-central-1\r\n"
                                   "Content-Length: 0\r\nConnection: close\r\n\r\n",
                                   "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                                   "Connection: close\r\n\r\nhello"}};
    char endpoint[64], auth[1024];
    struct fetcher *f;
    struct fetch_result r;
    struct errinfo e;
    pthread_t t;

    tu_cfg_reset(state);
    one_shot_start(&s, &t);
    snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", s.port);
    cfg.use_s3 = true;
    cfg.s3_endpoint = endpoint;
    cfg.s3_region = (char *)"us-east-1";
    cfg.aws_access_key_id = "AKID";
    cfg.aws_secret_access_key = "secret";
    storage_shutdown();
    assert_int_equal(storage_init(&cfg), 0);
    f = fetcher_new();
    fetch_result_init(&r);
    err_clear(&e);
    assert_int_equal(fetch_source(f, "s3://far/k.jpg", &r, &e), 0);
    assert_int_equal(r.body.len, 5);
    fetch_result_release(&r);
    fetcher_free(f);
    pthread_join(t, NULL);
    close(s.fd);
    header_of(s.request[0], "Authorization", auth, sizeof(auth));
    assert_non_null(strstr(auth, "/us-east-1/s3/aws4_request"));
    header_of(s.request[1], "Authorization", auth, sizeof(auth));
    assert_non_null(strstr(auth, "/eu-central-1/s3/aws4_request"));
    storage_shutdown();
}

/* Credentials from a shared credentials file and a named profile. */
static void test_s3_credentials_file(void **state)
{
    char path[] = "/tmp/test_storage_credsXXXXXX";
    const char *text = "[default]\naws_access_key_id = DEF\naws_secret_access_key = defsecret\n"
                       "\n[media]\naws_access_key_id=MEDIA\naws_secret_access_key=m/secret+1\n"
                       "aws_session_token = sess\n";
    int fd = mkstemp(path);
    const struct storage_ops *ops;
    struct storage_url u = {.kind = STORAGE_S3, .bucket = (char *)"bkt", .key = (char *)"k"};
    struct storage_get g = {0};
    struct errinfo e;
    bool token = false;

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    tu_cfg_reset(state);
    cfg.aws_access_key_id = cfg.aws_secret_access_key = cfg.aws_session_token = NULL;
    cfg.aws_default_region = cfg.aws_config_file = cfg.home = NULL;
    cfg.use_s3 = true;
    cfg.s3_region = (char *)"";
    cfg.aws_region = "ap-south-1";
    cfg.aws_shared_credentials_file = path;
    cfg.aws_profile = "media";
    storage_shutdown();
    assert_int_equal(storage_init(&cfg), 0);
    ops = storage_ops_for(STORAGE_S3);
    assert_non_null(ops);
    assert_int_equal(ops->prepare(&u, NULL, 0, &g, &e), 0);
    assert_string_equal(g.username, "MEDIA");
    assert_string_equal(g.password, "m/secret+1");
    assert_string_equal(g.aws_sigv4, "aws:amz:ap-south-1:s3");
    assert_string_equal(g.url, "https://bkt.s3.ap-south-1.amazonaws.com/k");
    for (struct curl_slist *h = g.headers; h != NULL; h = h->next)
        token = token || strcmp(h->data, "x-amz-security-token: sess") == 0;
    assert_true(token);
    assert_true(g.forward_conditionals);
    storage_get_free(&g);
    unlink(path);

    /* No credentials anywhere: every fetch is a 500. */
    cfg.aws_shared_credentials_file = "/nonexistent/credentials";
    cfg.aws_config_file = "/nonexistent/config";
    cfg.aws_region = NULL;
    storage_shutdown();
    assert_int_equal(storage_init(&cfg), 0);
    err_clear(&e);
    assert_int_equal(storage_ops_for(STORAGE_S3)->prepare(&u, NULL, 0, &g, &e), ERR_SOURCE_FAILED);
    assert_int_equal(e.status, 500);
    storage_get_free(&g);
    /* IMGPROXY_S3_USE_DECRYPTION_CLIENT stops start-up. */
    cfg.s3_use_decryption_client = true;
    storage_shutdown();
    assert_int_equal(storage_init(&cfg), -1);
    storage_shutdown();
}

static void test_s3_status(void **state)
{
    const struct storage_ops *ops;

    enable_storages(state);
    ops = storage_ops_for(STORAGE_S3);
    assert_int_equal(ops->map_status(404), 404);
    assert_int_equal(ops->map_status(403), 403);
    assert_int_equal(ops->map_status(503), 503);
    assert_int_equal(ops->map_status(301), 500);
    assert_int_equal(ops->map_status(307), 404);
    ops = storage_ops_for(STORAGE_SWIFT);
    assert_int_equal(ops->map_status(404), 404);
    assert_int_equal(ops->map_status(401), 500);
    assert_int_equal(ops->map_status(403), 500);
    assert_int_equal(ops->map_status(503), 500);
    storage_shutdown();
}

static void test_keystone_answers(void **state)
{
    static const char v2[] =
        "{\"access\":{\"token\":{\"id\":\"tok2\",\"expires\":\"2030-01-01T00:00:00Z\"},"
        "\"serviceCatalog\":[{\"type\":\"identity\",\"endpoints\":[{\"publicURL\":\"http://x\"}]},"
        "{\"type\":\"object-store\",\"endpoints\":[{\"publicURL\":\"http://s/v1/AUTH_a\"}]}]}}";
    static const char v3[] =
        "{\"token\":{\"expires_at\":\"2030-01-01T00:00:00.000000Z\",\"catalog\":["
        "{\"type\":\"object-store\",\"endpoints\":[{\"interface\":\"internal\",\"url\":\"http://"
        "i\"},"
        "{\"interface\":\"public\",\"url\":\"http://p/v1/AUTH_b\"}]}]}}";
    char *token = NULL, *url = NULL;
    long long expires = 0;

    (void)state;
    assert_int_equal(store_swift__parse_v2(v2, strlen(v2), &token, &url, &expires), 0);
    assert_string_equal(token, "tok2");
    assert_string_equal(url, "http://s/v1/AUTH_a");
    assert_int_equal(expires, 1893456000LL);
    free(token);
    free(url);
    assert_int_equal(store_swift__parse_v3(v3, strlen(v3), &url, &expires), 0);
    assert_string_equal(url, "http://p/v1/AUTH_b");
    assert_int_equal(expires, 1893456000LL);
    free(url);
    assert_int_equal(store_swift__parse_v3("{\"token\":{}}", 12, &url, &expires), -1);
    assert_int_equal(store_swift__parse_v2("[1,2", 4, &token, &url, &expires), -1);
    assert_int_equal(
        store_swift__parse_v2("{\"access\":{\"token\":{\"id\":1}}}", 29, &token, &url, &expires),
        -1);
}

static void test_local_not_modified(void **state)
{
    struct fetch_opts o = {0};
    const char *lm = "Wed, 21 Oct 2015 07:28:00 GMT";

    tu_cfg_reset(state);
    cfg.use_etag = true;
    cfg.use_last_modified = true;
    o.if_none_match = "\"abc\"";
    assert_true(storage_local_not_modified(&o, "\"abc\"", NULL));
    assert_false(storage_local_not_modified(&o, "abc", NULL));
    /* An If-None-Match mismatch still lets If-Modified-Since decide (imgproxy's rule). */
    o.if_modified_since = "Wed, 21 Oct 2015 07:28:00 GMT";
    assert_true(storage_local_not_modified(&o, "\"zzz\"", lm));
    o.if_modified_since = "Wed, 21 Oct 2015 07:27:59 GMT";
    assert_false(storage_local_not_modified(&o, "\"zzz\"", lm));
    o.if_modified_since = "yesterday";
    assert_false(storage_local_not_modified(&o, NULL, lm));
    cfg.use_etag = false;
    o.if_modified_since = NULL;
    assert_false(storage_local_not_modified(&o, "\"abc\"", lm));
    assert_false(storage_local_not_modified(NULL, "\"abc\"", lm));
}

/* The token cache's fetch in the tests: counts its calls, hands out "tok<N>" and a URL. */
static int fake_fetches;
static long long fake_renew_ms;
static bool fake_fail;

static int fake_fetch(long long deadline_ms, char **token, char **extra, long long *renew_ms,
                      struct errinfo *e)
{
    char t[32];

    (void)deadline_ms;
    fake_fetches++;
    if (fake_fail)
        return err_set(e, ERR_SOURCE_FAILED, "no token today");
    snprintf(t, sizeof(t), "tok%d", fake_fetches);
    *token = strdup(t);
    *extra = strdup("http://store");
    *renew_ms = fake_renew_ms;
    return 0;
}

static struct storage_token test_token = STORAGE_TOKEN_INIT(STORAGE_SWIFT, "waited too long");
static pthread_barrier_t token_barrier;

/* The token test_token holds now, through the cache (the caller's generation noted). */
static void expect_token(const char *want)
{
    struct errinfo e;
    char *tok = NULL, *extra = NULL;

    err_clear(&e);
    assert_int_equal(
        storage_token_get(&test_token, fake_fetch, deadline_now_ms() + 60000, &tok, &extra, &e), 0);
    assert_string_equal(tok, want);
    assert_string_equal(extra, "http://store");
    free(tok);
    free(extra);
}

/* Another request: uses tok1, is refused (a 401), renews to tok2. */
static void *refused_elsewhere(void *arg)
{
    (void)arg;
    expect_token("tok1");
    storage_token_drop(&test_token);
    expect_token("tok2");
    return NULL;
}

/* An authentication in progress: holds the lock for 300 ms. */
static void *auth_in_progress(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&test_token.lock);
    pthread_barrier_wait(&token_barrier);
    usleep(300 * 1000);
    pthread_mutex_unlock(&test_token.lock);
    return NULL;
}

/* One token shared, renewed when due, dropped on a 401 only if still the one used. */
static void test_token_cache(void **state)
{
    struct errinfo e;
    char *tok = (char *)"x";
    pthread_t th;
    long long t0;

    tu_cfg_reset(state);
    fake_fetches = 0;
    fake_renew_ms = 0; /* never */
    fake_fail = false;
    expect_token("tok1");
    expect_token("tok1");
    assert_int_equal(fake_fetches, 1);
    /* Another thread drops tok1 and renews: this thread's later 401 for tok1 keeps tok2. */
    assert_int_equal(pthread_create(&th, NULL, refused_elsewhere, NULL), 0);
    pthread_join(th, NULL);
    storage_token_drop(&test_token);
    expect_token("tok2");
    assert_int_equal(fake_fetches, 2);
    /* A 401 for the token this thread used drops it. */
    storage_token_drop(&test_token);
    expect_token("tok3");
    /* Due for renewal (a time already passed): fetched on every use. */
    storage_token_clear(&test_token);
    fake_renew_ms = 1;
    expect_token("tok4");
    expect_token("tok5");
    fake_renew_ms = deadline_now_ms() + 60000;
    expect_token("tok6");
    expect_token("tok6");
    /* A failed fetch is the caller's error, and nothing is kept. */
    storage_token_clear(&test_token);
    fake_fail = true;
    err_clear(&e);
    assert_int_equal(
        storage_token_get(&test_token, fake_fetch, deadline_now_ms() + 60000, &tok, NULL, &e),
        ERR_SOURCE_FAILED);
    assert_null(tok);
    assert_string_equal(e.msg, "no token today");
    fake_fail = false;
    /* Waiting for an authentication in progress ends at the request's deadline. */
    assert_int_equal(pthread_barrier_init(&token_barrier, NULL, 2), 0);
    assert_int_equal(pthread_create(&th, NULL, auth_in_progress, NULL), 0);
    pthread_barrier_wait(&token_barrier);
    t0 = deadline_now_ms();
    err_clear(&e);
    assert_int_equal(
        storage_token_get(&test_token, fake_fetch, deadline_now_ms() + 50, &tok, NULL, &e),
        ERR_SOURCE_TIMEOUT);
    assert_true(deadline_now_ms() - t0 < 250);
    assert_string_equal(e.msg, "waited too long");
    pthread_join(th, NULL);
    pthread_barrier_destroy(&token_barrier);
    expect_token("tok8");
    storage_token_clear(&test_token);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_split_disabled),
        cmocka_unit_test(test_path_encode),
        cmocka_unit_test(test_s3_urls),
        cmocka_unit_test(test_sigv4_vectors),
        cmocka_unit_test(test_s3_request_signed),
        cmocka_unit_test(test_s3_region_retry),
        cmocka_unit_test(test_s3_credentials_file),
        cmocka_unit_test(test_s3_status),
        cmocka_unit_test(test_keystone_answers),
        cmocka_unit_test(test_local_not_modified),
        cmocka_unit_test(test_token_cache),
    };
    int ret;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    ret = cmocka_run_group_tests(tests, tu_cfg_setup, tu_cfg_teardown);
    storage_shutdown();
    curl_global_cleanup();
    return ret;
}
