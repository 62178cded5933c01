/* test_svg.c: SVG sanitising (REFERENCE §6): scripts, on* attributes, external <use>. */
#include <stdarg.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_script_removed),
        cmocka_unit_test(test_event_handlers_removed),
        cmocka_unit_test(test_external_use_removed),
        cmocka_unit_test(test_rest_kept),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
