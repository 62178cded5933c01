/*
 * fuzz_url.c: libFuzzer target for src/url.c: url_split(), url_parse_path(),
 * url_preprocess() with fuzzed IMGPROXY_URL_REPLACEMENTS, url_unescape() and
 * url_base64_decode().
 *
 * Input: byte 0 holds flags (bit 0 IMGPROXY_BASE64_URL_INCLUDES_FILENAME,
 * bit 1 a "/img" path prefix, bit 2 ',' as the arguments separator, bit 3
 * IMGPROXY_BASE_URL set, bit 4 IMGPROXY_ONLY_PRESETS); then, up to the first
 * '\n', the IMGPROXY_URL_REPLACEMENTS value; the rest is the REQUEST_URI.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "config.h"
#include "errors.h"
#include "fuzzutil.h"
#include "url.h"

#define REPLACEMENTS_MAX 512 /* regex compilation dominates past this */

static const char *const env[] = {NULL};

FUZZ_INIT_CONFIG(env)

/* The source a parse produced must be a plain C string of source_len bytes. */
static void check_source(const struct urlparts *u)
{
    if (u->source == NULL || strlen(u->source) != u->source_len)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char base_url[] = "http://base.example/";
    static char empty[] = "";
    struct urlparts u;
    struct errinfo e;
    const uint8_t *uri, *nl;
    size_t ulen;
    unsigned flags;
    char *replacements = NULL, *copy, *out;
    char *saved_repl = cfg.url_replacements, *saved_base = cfg.base_url;
    bool saved_b64 = cfg.base64_url_includes_filename, saved_only = cfg.only_presets;
    long n;

    if (size < 1)
        return 0;
    flags = data[0];
    data++;
    size--;
    nl = memchr(data, '\n', size);
    if (nl != NULL) {
        if ((size_t)(nl - data) > REPLACEMENTS_MAX)
            return 0;
        replacements = fuzz_strdup(data, (size_t)(nl - data));
        uri = nl + 1;
        ulen = size - (size_t)(nl - data) - 1;
    } else {
        uri = data;
        ulen = size;
    }

    cfg.base64_url_includes_filename = (flags & 1) != 0;
    cfg.url_replacements = replacements != NULL ? replacements : empty;
    cfg.base_url = (flags & 8) != 0 ? base_url : empty;
    cfg.only_presets = (flags & 16) != 0;

    copy = fuzz_dup(uri, ulen);
    memset(&u, 0, sizeof(u));
    err_clear(&e);
    if (url_split(&u, copy, ulen, (flags & 2) != 0 ? "/img" : "", &e) == 0 &&
        url_parse_path(&u, (flags & 4) != 0 ? ',' : ':', &e) == 0) {
        char *pre;

        check_source(&u);
        pre = url_preprocess(u.source);
        if (pre == NULL)
            abort();
        g_free(pre);
    }
    url_release(&u);

    /* The decoders on the raw bytes; out is exactly as large as each promises to need. */
    out = malloc(ulen + 1);
    if (out == NULL)
        abort();
    n = url_unescape(copy, ulen, out);
    if (n > (long)ulen)
        abort();
    n = url_base64_decode(copy, ulen, (unsigned char *)out);
    if (n > (long)ulen)
        abort();
    free(out);
    free(copy);

    cfg.url_replacements = saved_repl;
    cfg.base_url = saved_base;
    cfg.base64_url_includes_filename = saved_b64;
    cfg.only_presets = saved_only;
    free(replacements);
    return 0;
}
