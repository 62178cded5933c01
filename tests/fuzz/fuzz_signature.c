/*
 * fuzz_signature.c: libFuzzer target for src/signature.c, as the handler
 * calls it: url_split() of a request path, then signature_verify() of its
 * first segment against the signed path.
 *
 * Input: byte 0 picks IMGPROXY_SIGNATURE_SIZE (1..32); the rest is the
 * REQUEST_URI. Beyond "no crash", two oracles: the signature
 * signature_compute() makes for the path is always accepted, and a fuzzed
 * signature is accepted only if it is trusted or decodes to the first
 * IMGPROXY_SIGNATURE_SIZE bytes of one key's HMAC.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "errors.h"
#include "fuzzutil.h"
#include "signature.h"
#include "url.h"

static const char *const env[] = {
    "IMGPROXY_KEY=943b421c9eb07c830af81030552c86009268de4e532ba2ee2eab8247c6da0881,6b6579",
    "IMGPROXY_SALT=520f986b998545b4785e0defbc4f3c1203f22de2374a3d53cb7a7fe9fea309c5,73616c74",
    "IMGPROXY_TRUSTED_SIGNATURES=trusted-one,AAAA",
    NULL,
};

FUZZ_INIT_CONFIG(env)

static bool is_trusted(const char *sig, size_t len)
{
    for (size_t i = 0; i < cfg.trusted_signatures.len; i++) {
        const char *t = cfg.trusted_signatures.items[i];

        if (strlen(t) == len && memcmp(t, sig, len) == 0)
            return true;
    }
    return false;
}

/*
 * Whether sig is unpadded base64url (as imgproxy's RawURLEncoding) that
 * decodes to the first signature_size bytes of key i's HMAC of path.
 */
static bool matches_key(const char *sig, size_t siglen, const char *path, size_t pathlen, size_t i)
{
    char want[48];
    unsigned char a[48], b[96];
    size_t wlen = signature_compute(cfg.keys[i].data, cfg.keys[i].len, cfg.salts[i].data,
                                    cfg.salts[i].len, path, pathlen, cfg.signature_size, want);
    long alen = url_base64_decode(want, wlen, a);
    long blen;

    if (siglen > 86 || memchr(sig, '=', siglen) != NULL)
        return false;
    blen = url_base64_decode(sig, siglen, b);
    return alen >= 0 && alen == blen && memcmp(a, b, (size_t)alen) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct urlparts u;
    struct errinfo e;
    char *copy, good[48];
    int saved_size = cfg.signature_size;

    if (size < 1)
        return 0;
    cfg.signature_size = 1 + data[0] % 32;
    copy = fuzz_dup(data + 1, size - 1);
    memset(&u, 0, sizeof(u));
    err_clear(&e);
    if (url_split(&u, copy, size - 1, "", &e) == 0) {
        size_t siglen = strlen(u.signature), glen;
        bool ok = signature_verify(u.signature, siglen, u.path, u.path_len, &e) == 0;
        bool any = false;

        for (size_t i = 0; i < cfg.nkeys && !any; i++)
            any = matches_key(u.signature, siglen, u.path, u.path_len, i);
        if (ok != (any || is_trusted(u.signature, siglen)))
            abort();

        for (size_t i = 0; i < cfg.nkeys; i++) {
            glen =
                signature_compute(cfg.keys[i].data, cfg.keys[i].len, cfg.salts[i].data,
                                  cfg.salts[i].len, u.path, u.path_len, cfg.signature_size, good);
            if (signature_verify(good, glen, u.path, u.path_len, &e) != 0)
                abort();
        }
    }
    url_release(&u);
    free(copy);
    cfg.signature_size = saved_size;
    return 0;
}
