/* test_netguard.c: every address class, v4 and v6 forms, the policy, and the guard inside fetch. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <sched.h>
#include <stdio.h>
#include <netinet/in.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "fetch.h"
#include "netguard.h"
#include "testutil.h"

#define LO NETGUARD_LOOPBACK
#define LL NETGUARD_LINK_LOCAL
#define PRIV NETGUARD_PRIVATE
#define UNSP NETGUARD_UNSPECIFIED
#define MC NETGUARD_MULTICAST
#define PUB NETGUARD_PUBLIC

/*
 * The fetch tests run in a private network namespace when they can (root):
 * should the guard ever fail, no packet can reach a real link-local or
 * private host. Without one, only the loopback-class URLs run.
 */
static bool isolated;

struct addr_case {
    const char *addr;
    unsigned cls;
};

/* Classifies a numeric v4 or v6 address through the sockaddr entry point. */
static unsigned classify(const char *s)
{
    struct sockaddr_in in;
    struct sockaddr_in6 in6;

    memset(&in, 0, sizeof(in));
    memset(&in6, 0, sizeof(in6));
    if (inet_pton(AF_INET, s, &in.sin_addr) == 1) {
        in.sin_family = AF_INET;
        return netguard_classify_sockaddr((struct sockaddr *)&in, sizeof(in));
    }
    if (inet_pton(AF_INET6, s, &in6.sin6_addr) == 1) {
        in6.sin6_family = AF_INET6;
        return netguard_classify_sockaddr((struct sockaddr *)&in6, sizeof(in6));
    }
    fail_msg("not an address: %s", s);
    return 0;
}

static void check_cases(const struct addr_case *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned got = classify(c[i].addr);

        if (got != c[i].cls)
            fail_msg("%s: class 0x%x, expected 0x%x", c[i].addr, got, c[i].cls);
    }
}

static void test_v4_classes(void **state)
{
    static const struct addr_case cases[] = {
        {"0.0.0.0", UNSP},        {"0.1.2.3", UNSP},        {"0.255.255.255", UNSP},
        {"1.0.0.0", PUB},         {"127.0.0.1", LO},        {"127.255.255.254", LO},
        {"126.255.255.255", PUB}, {"128.0.0.1", PUB},       {"169.254.169.254", LL},
        {"169.254.0.0", LL},      {"169.253.255.255", PUB}, {"169.255.0.1", PUB},
        {"10.0.0.1", PRIV},       {"10.255.255.255", PRIV}, {"11.0.0.1", PUB},
        {"172.16.0.1", PRIV},     {"172.31.255.255", PRIV}, {"172.15.255.255", PUB},
        {"172.32.0.0", PUB},      {"192.168.0.1", PRIV},    {"192.168.255.255", PRIV},
        {"192.169.0.1", PUB},     {"100.64.0.1", PRIV},     {"100.127.255.255", PRIV},
        {"100.63.255.255", PUB},  {"100.128.0.0", PUB},     {"224.0.0.1", MC},
        {"239.255.255.255", MC},  {"255.255.255.255", MC},  {"223.255.255.255", PUB},
        {"8.8.8.8", PUB},         {"192.0.2.1", PUB},
    };

    (void)state;
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_v6_classes(void **state)
{
    static const struct addr_case cases[] = {
        {"::", UNSP},
        {"::1", LO},
        {"::2", UNSP}, /* v4-compatible 0.0.0.2 */
        {"fe80::1", LL},
        {"febf:ffff::1", LL},
        {"fec0::1", PRIV},
        {"fc00::1", PRIV},
        {"fd12:3456::1", PRIV},
        {"fe00::1", PUB},
        {"ff02::1", MC},
        {"ff05::2", MC},
        {"2001:db8::1", PUB},
        {"2606:4700::1111", PUB},
        /* v4-mapped ::ffff:0:0/96 */
        {"::ffff:127.0.0.1", LO},
        {"::ffff:169.254.169.254", LL},
        {"::ffff:10.1.2.3", PRIV},
        {"::ffff:100.64.0.1", PRIV},
        {"::ffff:0.0.0.0", UNSP},
        {"::ffff:224.0.0.1", MC},
        {"::ffff:8.8.8.8", PUB},
        /* SIIT ::ffff:0:0:0/96 */
        {"::ffff:0:169.254.169.254", LL},
        {"::ffff:0:8.8.8.8", PUB},
        /* v4-compatible ::/96 */
        {"::127.0.0.1", LO},
        {"::169.254.169.254", LL},
        {"::192.168.1.1", PRIV},
        {"::8.8.8.8", PUB},
        /* 6to4 2002::/16 */
        {"2002:a9fe:a9fe::", LL},
        {"2002:7f00:1::1", LO},
        {"2002:ac10:1::", PRIV},
        {"2002:0:0::1", UNSP},
        {"2002:808:808::1", PUB},
        /* NAT64 64:ff9b::/96 */
        {"64:ff9b::a9fe:a9fe", LL},
        {"64:ff9b::127.0.0.1", LO},
        {"64:ff9b::10.0.0.1", PRIV},
        {"64:ff9b::8.8.8.8", PUB},
        /* NAT64 local-use 64:ff9b:1::/48: private in itself, plus both embeddings */
        {"64:ff9b:1::8.8.8.8", PRIV},
        {"64:ff9b:1::169.254.169.254", PRIV | LL},
        {"64:ff9b:1:7f00:1::", PRIV | LO}, /* /48 layout: 127.0.0.1 in bits 48..63, 72..87 */
        /* Teredo 2001::/32, client address inverted in the last 32 bits */
        {"2001:0:4136:e378:8000:63bf:5601:5601", LL},   /* ~169.254.169.254 */
        {"2001:0:4136:e378:8000:63bf:80ff:fffe", LO},   /* ~127.0.0.1 */
        {"2001:0:4136:e378:8000:63bf:f5ff:fffe", PRIV}, /* ~10.0.0.1 */
        {"2001:0:4136:e378:8000:63bf:f7f7:f7f7", PUB},  /* ~8.8.8.8 */
        {"2001:1::1", PUB},                             /* not Teredo: 2001:1::/32 */
        /* ISATAP interface identifiers */
        {"2001:db8::5efe:169.254.169.254", LL},
        {"fe80::200:5efe:10.0.0.1", LL | PRIV},
        {"2001:db8::200:5efe:8.8.8.8", PUB},
    };

    (void)state;
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_policy(void **state)
{
    struct netguard_policy def = {false, false, true};
    struct netguard_policy all = {true, true, true};
    struct netguard_policy none = {false, false, false};

    (void)state;
    /* imgproxy's defaults: loopback and link-local refused, private allowed. */
    assert_true(netguard_allowed(PUB, &def));
    assert_false(netguard_allowed(LO, &def));
    assert_false(netguard_allowed(LL, &def));
    assert_true(netguard_allowed(PRIV, &def));
    assert_false(netguard_allowed(PRIV | LL, &def));
    assert_false(netguard_allowed(PRIV, &none));
    /* Unspecified, multicast and non-IP are never allowed, whatever the settings. */
    assert_false(netguard_allowed(UNSP, &all));
    assert_false(netguard_allowed(MC, &all));
    assert_false(netguard_allowed(NETGUARD_INVALID, &all));
    assert_true(netguard_allowed(LO | LL | PRIV, &all));
    assert_string_equal(netguard_class_name(PRIV | LL), "link-local");
    assert_string_equal(netguard_class_name(PUB), "public");
    assert_string_equal(netguard_class_name(UNSP), "unspecified");
}

static void test_sockaddr_edges(void **state)
{
    struct sockaddr_in in;
    struct sockaddr sa;
    char out[64];

    (void)state;
    memset(&in, 0, sizeof(in));
    in.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
    /* A short length or another family is not an address the guard can judge. */
    assert_int_equal(netguard_classify_sockaddr((struct sockaddr *)&in, 4), NETGUARD_INVALID);
    memset(&sa, 0, sizeof(sa));
    sa.sa_family = AF_UNIX;
    assert_int_equal(netguard_classify_sockaddr(&sa, sizeof(sa)), NETGUARD_INVALID);
    assert_int_equal(netguard_classify_sockaddr(NULL, 0), NETGUARD_INVALID);
    netguard_format((struct sockaddr *)&in, sizeof(in), out, sizeof(out));
    assert_string_equal(out, "127.0.0.1");
}

static int allowed(const char *url, const char *const *pats, size_t n)
{
    return netguard_source_allowed(url, strlen(url), (char *const *)pats, n);
}

static void test_allowed_sources(void **state)
{
    static const char *const pats[] = {"http://img.example.com/", "https://*.cdn.example.org/pics/",
                                       " s3://bucket/ "};
    static const char *const empty[] = {"", "  "};

    (void)state;
    assert_int_equal(allowed("http://anything/", NULL, 0), 1);
    assert_int_equal(allowed("http://img.example.com/a.jpg", pats, 3), 1);
    assert_int_equal(allowed("http://img.example.com.evil.net/a.jpg", pats, 3), 0);
    assert_int_equal(allowed("http://img.example.com", pats, 3), 0);
    assert_int_equal(allowed("https://a.cdn.example.org/pics/x.png", pats, 3), 1);
    assert_int_equal(allowed("https://.cdn.example.org/pics/x.png", pats, 3), 1);
    assert_int_equal(allowed("https://a.b.cdn.example.org/pics/x.png", pats, 3), 1);
    /* `*` does not cross a `/`. */
    assert_int_equal(allowed("https://evil.net/.cdn.example.org/pics/x.png", pats, 3), 0);
    assert_int_equal(allowed("https://a.cdn.example.org/other/x.png", pats, 3), 0);
    assert_int_equal(allowed("s3://bucket/key", pats, 3), 1);
    assert_int_equal(allowed("HTTP://img.example.com/a.jpg", pats, 3), 0);
    /* Empty patterns (a trailing comma) allow nothing. */
    assert_int_equal(allowed("http://img.example.com/a.jpg", empty, 2), 0);
}

/* Many stars against a long URL: the matcher stays linear per star. */
static void test_allowed_sources_stars(void **state)
{
    static char url[8192];
    static const char *const pats[] = {"http://*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b"};

    (void)state;
    memcpy(url, "http://", 7);
    memset(url + 7, 'a', sizeof(url) - 8);
    url[sizeof(url) - 1] = '\0';
    assert_int_equal(allowed(url, pats, 1), 0);
    url[sizeof(url) - 2] = 'b';
    assert_int_equal(allowed(url, pats, 1), 1);
}

/* The guard inside fetch: refused before any socket exists, so no network is needed. */
static void test_fetch_refuses(void **state)
{
    static const char *const urls[] = {
        /* From here on the addresses never leave the host, isolated or not. */
        "http://127.0.0.1:1/x.jpg",
        "http://[::1]:1/",
        "http://[::127.0.0.1]:1/",
        "http://localhost:1/",
        "http://2130706433:1/", /* 127.0.0.1 as one number */
        "http://0.0.0.0:1/",
        "http://[::]:1/",
        /* Only in the private namespace. */
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[2002:a9fe:a9fe::]/",
        "http://[2001:0:4136:e378:8000:63bf:5601:5601]/",
        "http://[fe80::1]/",
        "http://224.0.0.1/",
        "http://[ff02::1]/",
    };
    struct fetcher *f = fetcher_new();

    (void)state;
    assert_non_null(f);
    cfg.allow_loopback_source_addresses = false;
    cfg.allow_link_local_source_addresses = false;
    cfg.allow_private_source_addresses = true;
    for (size_t i = 0; i < (isolated ? sizeof(urls) / sizeof(urls[0]) : 7); i++) {
        struct fetch_result r;
        struct errinfo e;
        int ret;

        fetch_result_init(&r);
        err_clear(&e);
        ret = fetch_source(f, urls[i], &r, &e);
        if (ret != ERR_SOURCE_NOT_FOUND || strstr(e.msg, "not allowed") == NULL)
            fail_msg("%s: %d \"%s\"", urls[i], ret, e.msg);
        assert_int_equal(e.status, 404);
        fetch_result_release(&r);
    }
    fetcher_free(f);
}

/* Private refused by setting; loopback allowed turns a refusal into a plain connect failure. */
static void test_fetch_policy(void **state)
{
    struct fetcher *f = fetcher_new();
    struct fetch_result r;
    struct errinfo e;

    (void)state;
    assert_non_null(f);
    if (!isolated) {
        fetcher_free(f);
        skip();
    }
    cfg.allow_private_source_addresses = false;
    fetch_result_init(&r);
    err_clear(&e);
    assert_int_equal(fetch_source(f, "http://10.0.0.1/", &r, &e), ERR_SOURCE_NOT_FOUND);
    assert_non_null(strstr(e.msg, "10.0.0.1 (private)"));
    fetch_result_release(&r);
    err_clear(&e);
    assert_int_equal(fetch_source(f, "http://[fd00::1]/", &r, &e), ERR_SOURCE_NOT_FOUND);
    assert_non_null(strstr(e.msg, "(private)"));
    fetch_result_release(&r);
    err_clear(&e);
    assert_int_equal(fetch_source(f, "http://100.64.0.1/", &r, &e), ERR_SOURCE_NOT_FOUND);
    fetch_result_release(&r);

    /* Loopback allowed: port 1 on 127.0.0.1 refuses the connection (not the guard). */
    cfg.allow_loopback_source_addresses = true;
    err_clear(&e);
    assert_int_equal(fetch_source(f, "http://127.0.0.1:1/", &r, &e), ERR_SOURCE_FAILED);
    assert_null(strstr(e.msg, "not allowed"));
    fetch_result_release(&r);
    cfg.allow_loopback_source_addresses = false;
    cfg.allow_private_source_addresses = true;
    fetcher_free(f);
}

static int group_setup(void **state)
{
    (void)state;
    isolated = unshare(CLONE_NEWNET) == 0;
    if (!isolated)
        fprintf(stderr, "test_netguard: no private network namespace (not root?): "
                        "fetch tests limited to loopback-class addresses\n");
    return tu_load_default_cfg();
}

static int group_teardown(void **state)
{
    (void)state;
    config_release(&cfg);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v4_classes),      cmocka_unit_test(test_v6_classes),
        cmocka_unit_test(test_policy),          cmocka_unit_test(test_sockaddr_edges),
        cmocka_unit_test(test_allowed_sources), cmocka_unit_test(test_allowed_sources_stars),
        cmocka_unit_test(test_fetch_refuses),   cmocka_unit_test(test_fetch_policy),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
