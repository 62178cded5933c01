/*
 * fuzz_storage_cloud.c: libFuzzer target for what abs:// and gs:// parse or
 * build from outside text: the Shared Key string to sign
 * (store_abs_string_to_sign, with fuzzed path, query and x-ms-* headers),
 * account keys (store_abs_decode_key), service-account keys
 * (store_gcs_parse_key), token replies (store_gcs_parse_token), object
 * metadata (store_gcs_parse_meta) and generations (store_gcs_generation).
 *
 * Input: byte 0 % 6 picks the parser; the rest is its text. For the string
 * to sign, the text is split at '\n': verb, account, path, query (an empty
 * line = none), then one "name:value" x-ms-* header per line (at most 8).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "config.h"
#include "fuzzutil.h"
#include "store_abs.h"
#include "store_gcs.h"

#define MAX_HEADERS 8

static const char *const env[] = {NULL};

FUZZ_INIT_CONFIG(env)

static void fuzz_sts(const char *text)
{
    char **lines = g_strsplit(text, "\n", 4 + MAX_HEADERS);
    guint n = g_strv_length(lines);
    struct store_abs_header ms[MAX_HEADERS];
    size_t nms = 0;
    const char *query;
    char *sts, *sig;

    if (n < 3) {
        g_strfreev(lines);
        return;
    }
    query = n > 3 && lines[3][0] != '\0' ? lines[3] : NULL;
    for (guint i = 4; i < n && nms < MAX_HEADERS; i++) {
        char *colon = strchr(lines[i], ':');

        if (colon == NULL)
            continue;
        *colon = '\0';
        ms[nms].name = lines[i];
        ms[nms].value = colon + 1;
        nms++;
    }
    sts = store_abs_string_to_sign(lines[0], NULL, ms, nms, lines[1], lines[2], query);
    /* Only an undecodable query refuses; without one the resource ends the string. */
    if (sts == NULL && query == NULL)
        abort();
    if (sts != NULL) {
        size_t alen = strlen(lines[1]), plen = strlen(lines[2]), slen = strlen(sts);

        if (strncmp(sts, lines[0], strlen(lines[0])) != 0)
            abort();
        if (query == NULL && (slen < alen + plen + 1 || strcmp(sts + slen - plen, lines[2]) != 0 ||
                              sts[slen - plen - alen - 1] != '/'))
            abort();
        sig = store_abs_signature((const unsigned char *)"k", 1, sts);
        if (sig == NULL || strlen(sig) != 44)
            abort();
        g_free(sig);
    }
    g_free(sts);
    g_strfreev(lines);
}

static bool has_control(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *exact, *text;
    size_t len;

    if (size < 1)
        return 0;
    len = size - 1;
    exact = fuzz_dup(data + 1, len);
    text = fuzz_strdup(data + 1, len);
    switch (data[0] % 6) {
    case 0:
        fuzz_sts(text);
        break;
    case 1: {
        size_t klen = 0;
        unsigned char *k = store_abs_decode_key(text, &klen);

        if (k != NULL && (klen == 0 || klen > len))
            abort();
        g_free(k);
        break;
    }
    case 2: {
        struct store_gcs_key k;
        const char *why = NULL;

        if (store_gcs_parse_key(exact, len, &k, &why) == 0) {
            char *jwt = store_gcs_jwt(&k, 1700000000);

            /* Signing may fail for a key that parses (a key OpenSSL will not sign
             * with): the transport answers 500 then; only the fields must be set. */
            if (k.client_email == NULL || k.token_uri == NULL)
                abort();
            g_free(jwt);
            store_gcs_key_release(&k);
        } else if (why == NULL || k.pkey != NULL) {
            abort();
        }
        break;
    }
    case 3: {
        char *tok = NULL;
        long long exp = 0;
        const char *why = NULL;

        if (store_gcs_parse_token(exact, len, &tok, &exp, &why) == 0) {
            /* A token goes into a header line: never empty, never a control character. */
            if (tok == NULL || tok[0] == '\0' || has_control(tok) || exp <= 0)
                abort();
        } else if (tok != NULL || why == NULL) {
            abort();
        }
        g_free(tok);
        break;
    }
    case 4: {
        struct store_gcs_meta m;

        if (store_gcs_parse_meta(exact, len, &m) == 0 && m.etag != NULL && has_control(m.etag))
            abort();
        store_gcs_meta_release(&m);
        break;
    }
    default:
        if (store_gcs_generation(text) < 0)
            abort();
        break;
    }
    free(exact);
    free(text);
    return 0;
}
