/*
 * fuzz_url.c: libFuzzer target for src/url.c: url_split(), url_parse_path(),
 * url_preprocess() with fuzzed IMGPROXY_URL_REPLACEMENTS, url_unescape(),
 * url_base64_decode(), and the /enc/ form's encsrc_decrypt().
 *
 * Input: byte 0 holds flags (bit 0 IMGPROXY_BASE64_URL_INCLUDES_FILENAME,
 * bit 1 a "/img" path prefix, bit 2 ',' as the arguments separator, bit 3
 * IMGPROXY_BASE_URL set, bit 4 IMGPROXY_ONLY_PRESETS, bit 5 no
 * IMGPROXY_SOURCE_URL_ENCRYPTION_KEY, bits 6-7 the key's length: AES-256,
 * -128, -192, -256); then, up to the first '\n', the
 * IMGPROXY_URL_REPLACEMENTS value; the rest is the REQUEST_URI.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "config.h"
#include "encsrc.h"
#include "errors.h"
#include "fuzzutil.h"
#include "url.h"

#define REPLACEMENTS_MAX 512 /* regex compilation dominates past this */

static const char *const env[] = {NULL};

/* The documented /enc/ vector's key, so that corpus entries made with it decrypt. */
static unsigned char enc_key[32] = {
    0x1e, 0xb5, 0xb0, 0xe9, 0x71, 0xad, 0x7f, 0x45, 0x32, 0x4c, 0x1b, 0xb1, 0x5c, 0x94, 0x7c, 0xb2,
    0x07, 0xc4, 0x31, 0x52, 0xfa, 0x5c, 0x6c, 0x7f, 0x35, 0xc4, 0xf3, 0x6e, 0x0c, 0x18, 0xe0, 0xf1};

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
    static const size_t key_lens[4] = {32, 16, 24, 32};
    struct bytes key;
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
    key.data = enc_key;
    key.len = key_lens[(flags >> 6) & 3];
    cfg.source_url_encryption_key = (flags & 32) != 0 ? NULL : &key;
    cfg.nsource_url_encryption_key = (flags & 32) != 0 ? 0 : 1;

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
    {
        char *plain = NULL;
        size_t plen = 0;

        /* A decrypted URL is a C string of its length, shorter than the payload text. */
        if (encsrc_decrypt(copy, ulen, &plain, &plen, &e) == 0 &&
            (plain == NULL || strlen(plain) != plen || plen >= ulen))
            abort();
        g_free(plain);
    }
    free(copy);

    cfg.url_replacements = saved_repl;
    cfg.base_url = saved_base;
    cfg.base64_url_includes_filename = saved_b64;
    cfg.only_presets = saved_only;
    cfg.source_url_encryption_key = NULL;
    cfg.nsource_url_encryption_key = 0;
    free(replacements);
    return 0;
}
