/* test_playground.c: the playground's routes, its JSON figures and its signing endpoint's checks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <json-glib/json-glib.h>

#include "config.h"
#include "playground.h"
#include "signature.h"
#include "testutil.h"

#define HOST "127.0.0.1:8080"
#define SIGN_QUERY "path=%2Frs%3Afit%3A300%3A200%2Fplain%2Flocal%3A%2F%2F%2Fphoto.jpg"

static unsigned char key[] = "secret";
static unsigned char salt[] = "hello";
static struct bytes k = {key, 6}, s = {salt, 5};

/* Routes path with the given query and Referer; returns the reply's status, 0 when not routed. */
static int route(const char *path, const char *query, const char *referer,
                 struct playground_reply *r)
{
    struct playground_request rq = {query, HOST, NULL, referer};

    memset(r, 0, sizeof(*r));
    if (!playground_route(NULL, path, strlen(path), &rq, r))
        return 0;
    return r->status;
}

static void test_off(void **state)
{
    struct playground_reply r;
    static const char *const paths[] = {"/memory", "/playground/sign", "/playground/stats.json",
                                        "/playground/playground.js", "/playground/x"};

    (void)state;
    cfg.playground = false;
    assert_int_equal(route("/", NULL, NULL, &r), 0); /* the landing page */
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        assert_int_equal(route(paths[i], SIGN_QUERY, "http://" HOST "/", &r), 404);
        playground_reply_free(&r);
    }
    assert_int_equal(route("/insecure/plain/local:///photo.jpg", NULL, NULL, &r), 0);
}

/* With IMGFCGI_METRICS_PATH alone: the memory view and its figures, no playground. */
static void test_metrics_only(void **state)
{
    struct playground_reply r;

    (void)state;
    cfg.playground = false;
    cfg.metrics_path = (char *)"/metrics";
    assert_int_equal(route("/", NULL, NULL, &r), 0);
    assert_int_equal(route("/memory", NULL, NULL, &r), 200);
    assert_int_equal(route("/playground/stats.json", NULL, NULL, &r), 200);
    playground_reply_free(&r);
    assert_int_equal(route("/playground/sign", SIGN_QUERY, "http://" HOST "/", &r), 404);
}

static void test_pages(void **state)
{
    struct playground_reply r;

    (void)state;
    cfg.playground = true;
    assert_int_equal(route("/", NULL, NULL, &r), 200);
    assert_string_equal(r.type, "text/html; charset=utf-8");
    assert_true(r.len > 1000 && r.body[r.len] == '\0');
    assert_non_null(strstr(r.body, "<script src=\"playground/playground.js\">"));
    assert_int_equal(route("/playground/playground.js", NULL, NULL, &r), 200);
    assert_non_null(strstr(r.body, "stats.json"));
    assert_int_equal(route("/playground/playground.css", NULL, NULL, &r), 200);
    assert_string_equal(r.type, "text/css; charset=utf-8");
    assert_int_equal(route("/playground/nothing", NULL, NULL, &r), 404);
}

static void test_stats(void **state)
{
    struct playground_reply r;
    JsonParser *p = json_parser_new();
    JsonObject *o;

    (void)state;
    cfg.playground = true;
    assert_int_equal(route("/playground/stats.json", NULL, NULL, &r), 200);
    assert_string_equal(r.type, "application/json");
    assert_true(json_parser_load_from_data(p, r.body, (gssize)r.len, NULL));
    o = json_node_get_object(json_parser_get_root(p));
    assert_true(json_object_get_int_member(o, "rss") > 1000000);
    assert_true(json_object_has_member(o, "pool_max_size"));
    assert_true(json_object_has_member(o, "queued"));
    assert_false(json_object_get_boolean_member(o, "budget_on"));
    g_object_unref(p);
    playground_reply_free(&r);
}

static void test_same_site(void **state)
{
    (void)state;
    assert_true(playground_same_site(HOST, NULL, "http://" HOST "/"));
    assert_true(playground_same_site(HOST, "https://" HOST, "https://" HOST "/memory"));
    assert_false(playground_same_site(HOST, NULL, NULL));
    assert_false(playground_same_site(NULL, NULL, "http://" HOST "/"));
    assert_false(playground_same_site(HOST, NULL, "http://evil.example/"));
    assert_false(playground_same_site(HOST, NULL, "http://" HOST ".evil.example/"));
    assert_false(playground_same_site(HOST, "http://evil.example", "http://" HOST "/"));
    assert_false(playground_same_site(HOST, "http://" HOST "/x", "http://" HOST "/"));
    assert_false(playground_same_site(HOST, NULL, "http://user@" HOST "/"));
    assert_false(playground_same_site(HOST, NULL, "http://127.0.0.10/"));
    /* nginx's HTTP_HOST may carry no port: ports are not compared. */
    assert_true(playground_same_site("127.0.0.1", "http://" HOST, "http://" HOST "/"));
    assert_true(playground_same_site("[::1]:80", NULL, "http://[::1]:8080/"));
    assert_false(playground_same_site("[::1]", NULL, "http://[::2]/"));
    assert_false(playground_same_site(HOST, NULL, "ftp://" HOST "/"));
}

static void test_source_ok(void **state)
{
    (void)state;
    cfg.playground_origin = (char *)"";
    assert_true(playground_source_ok("local:///photo.jpg"));
    assert_false(playground_source_ok("local:///../etc/passwd"));
    assert_false(playground_source_ok("http://img.example.com/a.jpg"));
    cfg.playground_origin = (char *)"http://img.example.com/";
    assert_true(playground_source_ok("http://img.example.com/a.jpg"));
    assert_false(playground_source_ok("http://img.example.com.evil/a.jpg"));
    assert_false(playground_source_ok("https://other.example/a.jpg"));
    cfg.playground_origin = (char *)"http://127.0.0.1:1";
    assert_true(playground_source_ok("http://127.0.0.1:1/a.jpg"));
    assert_false(playground_source_ok("http://127.0.0.1:12/a.jpg"));
}

static void test_sign(void **state)
{
    struct playground_reply r;
    char want[64];
    const char *path = "/rs:fit:300:200/plain/local:///photo.jpg";

    (void)state;
    cfg.playground = true;
    cfg.keys = &k;
    cfg.nkeys = 1;
    cfg.salts = &s;
    cfg.nsalts = 1;
    cfg.playground_origin = (char *)"";
    signature_compute(key, 6, salt, 5, path, strlen(path), cfg.signature_size, want);
    assert_int_equal(route("/playground/sign", SIGN_QUERY, "http://" HOST "/", &r), 200);
    assert_non_null(strstr(r.body, want));
    playground_reply_free(&r);
    /* Another site, no Referer, another source, a base64 source elsewhere, no path. */
    assert_int_equal(route("/playground/sign", SIGN_QUERY, "http://evil.example/", &r), 403);
    assert_int_equal(route("/playground/sign", SIGN_QUERY, NULL, &r), 403);
    assert_int_equal(route("/playground/sign",
                           "path=%2Frs%3Afit%3A30%3A20%2Fplain%2Fhttp%3A%2F%2Fevil.example%2Fa.jpg",
                           "http://" HOST "/", &r),
                     403);
    assert_int_equal(route("/playground/sign", "path=/w:10/aHR0cDovL2V2aWwuZXhhbXBsZS9hLmpwZw",
                           "http://" HOST "/", &r),
                     403);
    assert_int_equal(route("/playground/sign", "x=1", "http://" HOST "/", &r), 400);
    cfg.nkeys = cfg.nsalts = 0;
    assert_int_equal(route("/playground/sign", SIGN_QUERY, "http://" HOST "/", &r), 200);
    assert_non_null(strstr(r.body, "\"insecure\""));
    playground_reply_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_off, tu_cfg_reset),
        cmocka_unit_test_setup(test_metrics_only, tu_cfg_reset),
        cmocka_unit_test_setup(test_pages, tu_cfg_reset),
        cmocka_unit_test_setup(test_stats, tu_cfg_reset),
        cmocka_unit_test_setup(test_same_site, tu_cfg_reset),
        cmocka_unit_test_setup(test_source_ok, tu_cfg_reset),
        cmocka_unit_test_setup(test_sign, tu_cfg_reset),
    };

    return cmocka_run_group_tests(tests, tu_cfg_setup, tu_cfg_teardown);
}
