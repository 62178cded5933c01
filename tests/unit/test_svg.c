/*
 * test_svg.c: SVG sanitising (REFERENCE §6): scripts, iframes, on* attributes,
 * external <use>; entity expansion measured before rasterising.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "svg.h"
#include "testutil.h"

/* Sanitises in (copied to an exact-size heap buffer) and returns a NUL-terminated copy. */
static char *clean(const char *in)
{
    struct buf b;
    char *copy = tu_memdup(in, strlen(in));
    char *out;

    buf_init(&b);
    assert_int_equal(svg_sanitize(copy, strlen(in), &b), 0);
    out = calloc(1, b.len + 1);
    assert_non_null(out);
    if (b.len > 0)
        memcpy(out, b.data, b.len);
    buf_release(&b);
    free(copy);
    return out;
}

static void expect(const char *in, const char *want)
{
    char *got = clean(in);

    assert_string_equal(got, want);
    free(got);
}

static void test_script_removed(void **state)
{
    (void)state;
    expect("<svg><script>alert(1)</script><rect/></svg>", "<svg><rect/></svg>");
    expect("<svg><SCRIPT type=\"x\">a<b</SCRIPT></svg>", "<svg></svg>");
    expect("<svg><svg:script xlink:href=\"x.js\"/><g/></svg>", "<svg><g/></svg>");
    expect("<svg><foreignObject><iframe src=\"javascript:x()\">t</iframe></foreignObject></svg>",
           "<svg><foreignObject></foreignObject></svg>");
    expect("<svg><IFRAME/><g/></svg>", "<svg><g/></svg>");
}

static void test_event_handlers_removed(void **state)
{
    (void)state;
    expect("<svg onload=\"alert(1)\" width=\"10\"><rect onClick='x()' x=\"1\"/></svg>",
           "<svg width=\"10\"><rect x=\"1\"/></svg>");
    expect("<svg><a title=\"on > off\" onmouseover=x>t</a></svg>",
           "<svg><a title=\"on > off\">t</a></svg>");
}

static void test_external_use_removed(void **state)
{
    (void)state;
    expect("<svg><use href=\"#a\"/><use xlink:href=\"http://evil/x.svg#a\"/></svg>",
           "<svg><use href=\"#a\"/></svg>");
    expect("<svg><use href=\"data:x\"></use><g/></svg>", "<svg><g/></svg>");
}

static void test_rest_kept(void **state)
{
    (void)state;
    expect("<?xml version=\"1.0\"?><!-- <script> --><svg><![CDATA[<script>]]></svg>",
           "<?xml version=\"1.0\"?><!-- <script> --><svg><![CDATA[<script>]]></svg>");
    expect("plain text", "plain text");
    expect("<svg><rect", "<svg>"); /* an unterminated tag is dropped */
}

/* svg_entities_too_big on a NUL-terminated document, from an exact-size heap copy. */
static bool too_big(const char *doc)
{
    char *copy = tu_memdup(doc, strlen(doc));
    bool r = svg_entities_too_big(copy, strlen(doc));

    free(copy);
    return r;
}

/* <!DOCTYPE svg [DTD]><svg>BODY</svg> in a heap string. */
static char *doc(const char *dtd, const char *body)
{
    size_t n = strlen(dtd) + strlen(body) + 64;
    char *s = malloc(n);

    assert_non_null(s);
    snprintf(s, n, "<!DOCTYPE svg [%s]><svg>%s</svg>", dtd, body);
    return s;
}

/* A string of n copies of piece. */
static char *repeat(const char *piece, size_t n)
{
    size_t len = strlen(piece);
    char *s = malloc(len * n + 1);

    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * len, piece, len);
    s[len * n] = '\0';
    return s;
}

static void test_entities(void **state)
{
    char *value, *dtd, *refs, *d;

    (void)state;
    /* No DTD, no internal subset, small entities: fine. */
    assert_false(too_big("<svg><text>&amp;&lt;</text></svg>"));
    assert_false(too_big("<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"x.dtd\"><svg/>"));
    assert_false(too_big("<!DOCTYPE svg [<!ENTITY ns \"http://ns.adobe.com/x/\">]>"
                         "<svg xmlns:x=\"&ns;\"><!-- ] --><text>&ns;&ns;</text></svg>"));
    assert_false(
        too_big("<!DOCTYPE svg [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><svg>&x;</svg>"));
    /* A loop and a parameter entity are refused whatever their size. */
    assert_true(too_big("<!DOCTYPE svg [<!ENTITY a \"&b;\"><!ENTITY b \"&a;\">]><svg>&a;</svg>"));
    assert_true(too_big("<!DOCTYPE svg [<!ENTITY % p SYSTEM \"http://x/\"> %p;]><svg/>"));
    /* Billion laughs: ten levels of ten references. */
    {
        char lol[2048] = "<!ENTITY l0 \"lol\">";

        for (int i = 1; i < 10; i++) {
            size_t at = strlen(lol);

            at += (size_t)snprintf(lol + at, sizeof(lol) - at, "<!ENTITY l%d \"", i);
            for (int j = 0; j < 10; j++)
                at += (size_t)snprintf(lol + at, sizeof(lol) - at, "&l%d;", i - 1);
            snprintf(lol + at, sizeof(lol) - at, "\">");
        }
        d = doc(lol, "&l9;");
        assert_true(too_big(d));
        free(d);
        d = doc(lol, "&l4;"); /* 30 KB: fine */
        assert_false(too_big(d));
        free(d);
    }
    /* One 10 KB entity: 100 references are 1 MB, 200 are over the limit. */
    value = repeat("A", 10000);
    dtd = malloc(strlen(value) + 32);
    assert_non_null(dtd);
    snprintf(dtd, strlen(value) + 32, "<!ENTITY a \"%s\">", value);
    refs = repeat("&a;", 100);
    d = doc(dtd, refs);
    assert_false(too_big(d));
    free(d);
    free(refs);
    refs = repeat("&a;", 200);
    d = doc(dtd, refs);
    assert_true(too_big(d));
    free(d);
    free(refs);
    free(dtd);
    free(value);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_script_removed),
        cmocka_unit_test(test_event_handlers_removed),
        cmocka_unit_test(test_external_use_removed),
        cmocka_unit_test(test_rest_kept),
        cmocka_unit_test(test_entities),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
