/*
 * test_svg.c: SVG sanitising: scripts, iframes, on* attributes,
 * external <use>; entity declarations found before rasterising.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
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

/* svg_declares_entities on a NUL-terminated document, from an exact-size heap copy. */
static bool declares(const char *doc)
{
    char *copy = tu_memdup(doc, strlen(doc));
    bool r = svg_declares_entities(copy, strlen(doc));

    free(copy);
    return r;
}

static void test_entities(void **state)
{
    (void)state;
    /* No DTD, an external DTD only, "<!ENTITY" outside the subset: nothing declared. */
    assert_false(declares("<svg><text>&amp;&lt;</text></svg>"));
    assert_false(declares("<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"x[1].dtd\"><svg/>"));
    assert_false(declares("<!DOCTYPE svg [<!-- <!ENTITY a \"x\"> -->]><svg><!ENTITY/></svg>"));
    assert_false(declares("<!DOCTYPE svg [<!ELEMENT svg ANY>]><svg/>"));
    /* Internal, external and parameter entities; a quoted ']' does not end the subset. */
    assert_true(declares("<!DOCTYPE svg [<!ENTITY ns \"http://ns.adobe.com/x/\">]><svg/>"));
    assert_true(
        declares("<!DOCTYPE svg [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><svg>&x;</svg>"));
    assert_true(declares("<!DOCTYPE svg [<!ENTITY % p SYSTEM \"http://x/\"> %p;]><svg/>"));
    assert_true(declares("<!DOCTYPE svg [<!ATTLIST svg a CDATA \"]\"><!ENTITY b \"c\">]><svg/>"));
    assert_true(declares("<?xml version=\"1.0\"?>\n<!DOCTYPE svg [\n<!ENTITY l0 \"lol\">\n"
                         "<!ENTITY l1 \"&l0;&l0;&l0;\">\n]>\n<svg>&l1;</svg>"));
    /* Cut short inside the subset: still refused. */
    assert_true(declares("<!DOCTYPE svg [<!ENTITY a \"AAAA"));
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
