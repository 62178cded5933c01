/*
 * fuzz_storage.c: libFuzzer target for the object-store sources: storage_split()
 * (s3:// and swift:// enabled), the S3 object URL and key encoder
 * (store_s3__object_url(), storage_path_encode()), the s3 transport's
 * prepare() (no network: static credentials), and the Keystone v2/v3 token
 * answers (store_swift__parse_v2/v3()).
 *
 * Input: byte 0 holds flags (bits 0-1 the query separator: "?", "", "?version=",
 * "#"; bit 2 IMGPROXY_S3_ENDPOINT_USE_PATH_STYLE off; bit 3 the rest is also
 * parsed as Keystone answers); the rest is the source URL (up to a NUL).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "config.h"
#include "errors.h"
#include "fuzzutil.h"
#include "storage.h"
#include "store_s3.h"
#include "store_swift.h"

static const char *const env[] = {
    "IMGPROXY_USE_S3=true",
    "IMGPROXY_S3_ENDPOINT=http://127.0.0.1:1",
    "IMGPROXY_S3_REGION=us-east-1",
    "IMGPROXY_USE_SWIFT=true",
    "IMGPROXY_SWIFT_AUTH_URL=http://127.0.0.1:1/auth/v1.0",
    NULL,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_config(env);
    cfg.aws_access_key_id = "AKID";
    cfg.aws_secret_access_key = "secret";
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || storage_init(&cfg) != 0)
        abort();
    return 0;
}

static bool upper_hex(char c)
{
    return c != '\0' && strchr("0123456789ABCDEF", c) != NULL;
}

/* An encoded URL or path: printable ASCII, no space, every '%' followed by two upper hex digits. */
static void check_encoded(const char *s, size_t len)
{
    if (strlen(s) != len)
        abort();
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c <= ' ' || c >= 0x7f)
            abort();
        if (c == '%' && (i + 2 >= len || !upper_hex(s[i + 1]) || !upper_hex(s[i + 2])))
            abort();
    }
}

static void fuzz_keystone(const uint8_t *data, size_t size)
{
    char *json = fuzz_dup(data, size);
    char *token = NULL, *url = NULL;
    long long expires;

    if (store_swift__parse_v2(json, size, &token, &url, &expires) == 0) {
        if (token == NULL || url == NULL)
            abort();
        free(token);
        free(url);
    }
    url = NULL;
    if (store_swift__parse_v3(json, size, &url, &expires) == 0) {
        if (url == NULL)
            abort();
        free(url);
    }
    free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const seps[] = {"?", "", "?version=", "#"};
    struct storage_url u = {0};
    struct errinfo e;
    unsigned flags;
    char *src;
    int ret;

    if (size < 1)
        return 0;
    flags = data[0];
    data++;
    size--;
    if (flags & 8)
        fuzz_keystone(data, size);
    src = fuzz_strdup(data, size);
    err_clear(&e);
    ret = storage_split(src, seps[flags & 3], &u, &e);
    if (ret < 0 && (e.status != 404 && e.status != 500))
        abort();
    if (ret == 1) {
        struct buf b;

        if (u.bucket == NULL || u.key == NULL || u.bucket[0] == '\0' || u.key[0] == '\0' ||
            u.key[0] == '/')
            abort();
        buf_init(&b);
        if (store_s3__object_url(&b, (flags & 4) ? "http://s3.example:9000" : "", !(flags & 4),
                                 "us-east-1", u.bucket, u.key, strlen(u.key), u.query) == 0)
            check_encoded((char *)b.data, b.len);
        b.len = 0;
        if (storage_path_encode(&b, u.key, strlen(u.key), true) == 0)
            check_encoded((char *)b.data, b.len);
        buf_release(&b);
        if (u.kind == STORAGE_S3) {
            struct storage_get g = {0};

            if (storage_ops_for(STORAGE_S3)->prepare(&u, NULL, 0, &g, &e) == 0 && g.url == NULL)
                abort();
            storage_get_free(&g);
        }
        storage_url_free(&u);
    }
    free(src);
    return 0;
}
