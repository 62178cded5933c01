/* test_fetch.c: local:// sources stay inside IMGPROXY_LOCAL_FILESYSTEM_ROOT. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "fetch.h"
#include "testutil.h"

/*
 * Layout made by the group setup:
 *   base/outside.jpg              a file outside the root
 *   base/root/                    the root (realpath'd)
 *   base/root/file.jpg            FILE_BYTES
 *   base/root/sub/nested.png      NESTED_BYTES
 *   base/root/inlink.jpg    ->    file.jpg               (stays inside)
 *   base/root/outlink.jpg   ->    ../outside.jpg         (escapes, relative)
 *   base/root/abslink.jpg   ->    <base>/outside.jpg     (escapes, absolute)
 *   base/root/dirlink       ->    ..                     (a directory outside)
 */
static const char FILE_BYTES[] = "\xff\xd8\xff\xe0 not really a jpeg \x00\x01\x02 end";
static const char NESTED_BYTES[] = "\x89PNG\r\n\x1a\n nested";
static const char OUTSIDE_BYTES[] = "SECRET outside the root";

static char base[PATH_MAX];
static char root[PATH_MAX];
static char *saved_local_root; /* config_load's own string, restored before release */

/* out = a + "/" + b; aborts rather than truncate. */
static void join(char *out, size_t n, const char *a, const char *b)
{
    int w = snprintf(out, n, "%s/%s", a, b);

    if (w < 0 || (size_t)w >= n)
        abort();
}

static int write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char p[PATH_MAX];
    FILE *f;

    join(p, sizeof p, dir, name);
    f = fopen(p, "wb");
    if (!f)
        return -1;
    if (fwrite(data, 1, len, f) != len) {
        fclose(f);
        return -1;
    }
    return fclose(f);
}

static int link_in(const char *dir, const char *name, const char *target)
{
    char p[PATH_MAX];

    join(p, sizeof p, dir, name);
    return symlink(target, p);
}

static int group_setup(void **state)
{
    char tmpl[] = "/tmp/imgfcgi-fetch-XXXXXX";
    char p[PATH_MAX], abs_out[PATH_MAX];

    (void)state;
    if (tu_load_default_cfg() != 0)
        return -1;
    if (!mkdtemp(tmpl) || !realpath(tmpl, base))
        return -1;
    join(p, sizeof p, base, "root");
    if (mkdir(p, 0700) != 0 || !realpath(p, root))
        return -1;
    join(p, sizeof p, root, "sub");
    if (mkdir(p, 0700) != 0)
        return -1;
    join(abs_out, sizeof abs_out, base, "outside.jpg");
    if (write_file(base, "outside.jpg", OUTSIDE_BYTES, sizeof OUTSIDE_BYTES - 1) != 0 ||
        write_file(root, "file.jpg", FILE_BYTES, sizeof FILE_BYTES - 1) != 0 ||
        write_file(p, "nested.png", NESTED_BYTES, sizeof NESTED_BYTES - 1) != 0 ||
        link_in(root, "inlink.jpg", "file.jpg") != 0 ||
        link_in(root, "outlink.jpg", "../outside.jpg") != 0 ||
        link_in(root, "abslink.jpg", abs_out) != 0 || link_in(root, "dirlink", "..") != 0)
        return -1;
    saved_local_root = cfg.local_root;
    cfg.local_root = root;
    return 0;
}

static void rm(const char *dir, const char *name)
{
    char p[PATH_MAX];

    join(p, sizeof p, dir, name);
    unlink(p);
}

static int group_teardown(void **state)
{
    char p[PATH_MAX];

    (void)state;
    rm(root, "dirlink");
    rm(root, "abslink.jpg");
    rm(root, "outlink.jpg");
    rm(root, "inlink.jpg");
    rm(root, "file.jpg");
    join(p, sizeof p, root, "sub");
    rm(p, "nested.png");
    rmdir(p);
    rmdir(root);
    rm(base, "outside.jpg");
    rmdir(base);
    cfg.local_root = saved_local_root;
    config_release(&cfg);
    return 0;
}

/* fetch_local() of url under root into fresh r and e. */
static int fetch_at(const char *url, struct fetch_result *r, struct errinfo *e)
{
    fetch_result_init(r);
    err_clear(e);
    return fetch_local(root, url, r, e);
}

static void expect_file(const char *url, const char *bytes, size_t len)
{
    struct fetch_result r;
    struct errinfo e;
    int rc = fetch_at(url, &r, &e);

    if (rc != 0)
        fail_msg("fetch_local(\"%s\") = %d (%s), want the file", url, rc, e.msg);
    assert_int_equal(r.origin_status, 200);
    assert_int_equal(r.body.len, len);
    assert_memory_equal(r.body.data, bytes, len);
    fetch_result_release(&r);
}

static void expect_not_found(const char *url)
{
    struct fetch_result r;
    struct errinfo e;
    int rc = fetch_at(url, &r, &e);

    if (rc != ERR_SOURCE_NOT_FOUND) {
        if (rc == 0 && r.body.len > 0 && r.body.len == sizeof OUTSIDE_BYTES - 1 &&
            memcmp(r.body.data, OUTSIDE_BYTES, r.body.len) == 0)
            fail_msg("fetch_local(\"%s\") read the file OUTSIDE the root", url);
        fail_msg("fetch_local(\"%s\") = %d, want ERR_SOURCE_NOT_FOUND (%d)", url, rc,
                 ERR_SOURCE_NOT_FOUND);
    }
    assert_int_equal(e.code, ERR_SOURCE_NOT_FOUND);
    assert_int_equal(e.status, 404);
    fetch_result_release(&r);
}

static void test_regular_file(void **state)
{
    (void)state;
    expect_file("local:///file.jpg", FILE_BYTES, sizeof FILE_BYTES - 1);
    expect_file("local:///sub/nested.png", NESTED_BYTES, sizeof NESTED_BYTES - 1);
}

static void test_symlink_inside(void **state)
{
    (void)state;
    /* Resolves inside the root: allowed. */
    expect_file("local:///inlink.jpg", FILE_BYTES, sizeof FILE_BYTES - 1);
}

static void test_dotdot_inside(void **state)
{
    (void)state;
    /* http.Dir cleans the path: sub/.. is the root itself. */
    expect_file("local:///sub/../file.jpg", FILE_BYTES, sizeof FILE_BYTES - 1);
}

/* Paths that must not be read: missing, escaping the root, or not a regular file. */
static void test_not_found(void **state)
{
    static const char *const urls[] = {
        /* missing */
        "local:///nope.jpg",
        "local:///sub/nope.png",
        "local:///file.jpg/x",
        /* .. out of the root */
        "local:///../outside.jpg",
        "local:///sub/../../outside.jpg",
        "local:///./../outside.jpg",
        "local:///sub/../../root/../outside.jpg",
        /* .. percent-encoded */
        "local:///%2e%2e/outside.jpg",
        "local:///%2E%2E/outside.jpg",
        "local:///sub/%2e%2e/%2e%2e/outside.jpg",
        "local:///..%2foutside.jpg",
        "local:///%2e%2e%2foutside.jpg",
        /* symlinks that lead out */
        "local:///outlink.jpg",
        "local:///abslink.jpg",
        "local:///dirlink/outside.jpg",
        /* directories */
        "local:///sub",
        "local:///sub/",
        "local:///",
        "local:///dirlink",
        /* a NUL in the decoded path */
        "local:///file.jpg%00.png",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++)
        expect_not_found(urls[i]);
}

/* The host part of local://host/path is skipped and the query is cut. */
static void test_local_url_parts(void **state)
{
    (void)state;
    expect_file("local://somehost/file.jpg", FILE_BYTES, sizeof FILE_BYTES - 1);
    expect_file("local:///file.jpg?v=2", FILE_BYTES, sizeof FILE_BYTES - 1);
    expect_file("local:///sub%2Fnested.png", NESTED_BYTES, sizeof NESTED_BYTES - 1);
}

/* Only http, https and local (when a root is set) are sources. */
static void test_schemes(void **state)
{
    static char none[] = "";
    struct fetch_result r;
    struct errinfo e;
    char *saved = cfg.local_root;

    (void)state;
    fetch_result_init(&r);
    err_clear(&e);
    assert_int_equal(fetch_source(NULL, "ftp://host/a.jpg", &r, &e), ERR_SOURCE_NOT_FOUND);
    assert_string_equal(e.msg, "Unknown scheme: ftp");
    err_clear(&e);
    assert_int_equal(fetch_source_with(NULL, "s3://bucket/a.jpg", NULL, &r, &e),
                     ERR_SOURCE_NOT_FOUND);
    assert_string_equal(e.msg, "Unknown scheme: s3");
    cfg.local_root = none;
    err_clear(&e);
    assert_int_equal(fetch_source(NULL, "local:///file.jpg", &r, &e), ERR_SOURCE_NOT_FOUND);
    assert_string_equal(e.msg, "Unknown scheme: local (local:// is disabled)");
    cfg.local_root = saved;
    fetch_result_release(&r);
}

static void test_result_init_release(void **state)
{
    struct fetch_result r;

    (void)state;
    fetch_result_init(&r);
    assert_int_equal(r.body.len, 0);
    assert_null(r.etag);
    assert_null(r.last_modified);
    assert_null(r.cache_control);
    assert_null(r.expires);
    assert_null(r.content_type);
    fetch_result_release(&r);
    /* Released twice after a re-init is fine. */
    fetch_result_init(&r);
    fetch_result_release(&r);
}

/* A local file checked as a download is: limits and type from the first bytes read. */
static int local_with(const char *name, const void *head, size_t hlen, size_t pad,
                      const struct fetch_opts *o, struct fetch_result *r, struct errinfo *e)
{
    char url[64];
    char path[PATH_MAX];
    FILE *f;
    int rc;

    join(path, sizeof path, root, name);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(head, 1, hlen, f), hlen);
    for (size_t i = 0; i < pad; i++)
        fputc(0, f);
    assert_int_equal(fclose(f), 0);
    snprintf(url, sizeof url, "local:///%s", name);
    fetch_result_init(r);
    err_clear(e);
    rc = fetch_source_with(NULL, url, o, r, e);
    unlink(path);
    return rc;
}

static void test_local_limits(void **state)
{
    /* A PNG header claiming 65535 x 65535 in front of 3 MB of zeros. */
    static const unsigned char bomb[] = {0x89, 'P', 'N',  'G',  '\r', '\n', 0x1a, '\n', 0,    0,
                                         0,    13,  'I',  'H',  'D',  'R',  0,    0,    0xff, 0xff,
                                         0,    0,   0xff, 0xff, 8,    2,    0,    0,    0};
    static const char svg[] = "<svg xmlns=\"http://www.w3.org/2000/svg\"><!-- ";
    static const char text[] = "plain text, no image";
    struct fetch_opts o = {.has_limits = true, .max_resolution = 50000000, .check_type = true};
    struct fetch_result r;
    struct errinfo e;
    long long saved_svg = cfg.max_svg_file_size;

    (void)state;
    assert_int_equal(local_with("bomb.png", bomb, sizeof bomb, 3000000, &o, &r, &e),
                     ERR_SOURCE_TYPE);
    assert_non_null(strstr(e.msg, "65535x65535 png"));
    /* Refused after the first read step, not after the whole file. */
    assert_true(r.body.len <= 1024 * 1024);
    fetch_result_release(&r);
    /* The same file with no resolution limit is read whole. */
    o.max_resolution = 0;
    assert_int_equal(local_with("bomb.png", bomb, sizeof bomb, 3000000, &o, &r, &e), 0);
    assert_int_equal(r.body.len, sizeof bomb + 3000000);
    fetch_result_release(&r);
    /* Not an image: refused when check_type, passed on when not (raw). */
    assert_int_equal(local_with("t.txt", text, strlen(text), 0, &o, &r, &e), ERR_SOURCE_TYPE);
    assert_string_equal(e.msg, "Source image type not supported");
    fetch_result_release(&r);
    o.check_type = false;
    assert_int_equal(local_with("t.txt", text, strlen(text), 0, &o, &r, &e), 0);
    fetch_result_release(&r);
    /* An SVG past IMGFCGI_MAX_SVG_FILE_SIZE; the file-size limit (0) does not matter. */
    o.check_type = true;
    cfg.max_svg_file_size = 100000;
    assert_int_equal(local_with("big.svg", svg, strlen(svg), 200000, &o, &r, &e), ERR_SOURCE_TYPE);
    assert_non_null(strstr(e.msg, "SVG is too big"));
    fetch_result_release(&r);
    assert_int_equal(local_with("ok.svg", svg, strlen(svg), 50000, &o, &r, &e), 0);
    fetch_result_release(&r);
    /* The request's own file-size limit. */
    o.max_file_size = 1000;
    assert_int_equal(local_with("ok.svg", svg, strlen(svg), 5000, &o, &r, &e), ERR_SOURCE_TYPE);
    assert_non_null(strstr(e.msg, "too big"));
    fetch_result_release(&r);
    cfg.max_svg_file_size = saved_svg;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regular_file),        cmocka_unit_test(test_symlink_inside),
        cmocka_unit_test(test_dotdot_inside),       cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_local_url_parts),     cmocka_unit_test(test_schemes),
        cmocka_unit_test(test_result_init_release), cmocka_unit_test(test_local_limits),
    };
    return cmocka_run_group_tests_name("fetch", tests, group_setup, group_teardown);
}
