/* signature.c: HMAC-SHA256 URL signatures through glib's GHmac, compared in constant time. */
#include <string.h>

#include <glib.h>

#include "config.h"
#include "signature.h"
#include "url.h"
#include "banned.h"

#define SHA256_LEN 32

static void hmac_sha256(const unsigned char *key, size_t keylen, const unsigned char *salt,
                        size_t saltlen, const char *path, size_t pathlen,
                        unsigned char digest[SHA256_LEN])
{
    GHmac *mac = g_hmac_new(G_CHECKSUM_SHA256, key, keylen);
    gsize dlen = SHA256_LEN;

    g_hmac_update(mac, salt, (gssize)saltlen);
    g_hmac_update(mac, (const guchar *)path, (gssize)pathlen);
    g_hmac_get_digest(mac, digest, &dlen);
    g_hmac_unref(mac);
}

/* Constant time in the length of a (the expected value). */
static bool equal_ct(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen)
{
    unsigned char diff = (unsigned char)(alen != blen);

    for (size_t i = 0; i < alen; i++)
        diff |= (unsigned char)(a[i] ^ (i < blen ? b[i] : 0));
    return diff == 0;
}

size_t signature_compute(const unsigned char *key, size_t keylen, const unsigned char *salt,
                         size_t saltlen, const char *path, size_t pathlen, int size, char *out)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char digest[SHA256_LEN];
    size_t n = size > 0 && size < SHA256_LEN ? (size_t)size : SHA256_LEN;
    size_t o = 0;
    size_t i;

    hmac_sha256(key, keylen, salt, saltlen, path, pathlen, digest);
    for (i = 0; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)digest[i] << 16 | (unsigned)digest[i + 1] << 8 | digest[i + 2];

        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        out[o++] = alphabet[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)digest[i] << 16;

        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)digest[i] << 16 | (unsigned)digest[i + 1] << 8;

        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
    }
    out[o] = '\0';
    return o;
}

int signature_verify(const char *sig, size_t siglen, const char *path, size_t pathlen,
                     struct errinfo *e)
{
    unsigned char given[64];
    long glen;

    if (cfg.nkeys == 0 || cfg.nsalts == 0)
        return 0;
    for (size_t i = 0; i < cfg.trusted_signatures.len; i++) {
        const char *t = cfg.trusted_signatures.items[i];

        if (strlen(t) == siglen && memcmp(t, sig, siglen) == 0)
            return 0;
    }
    /* base64url without padding: a '=' or any other character is an encoding error. */
    if (siglen > 86 || memchr(sig, '=', siglen) != NULL)
        return err_set(e, ERR_SIGNATURE, "Invalid signature encoding");
    glen = url_base64_decode(sig, siglen, given);
    if (glen < 0)
        return err_set(e, ERR_SIGNATURE, "Invalid signature encoding");
    for (size_t i = 0; i < cfg.nkeys && i < cfg.nsalts; i++) {
        unsigned char digest[SHA256_LEN];
        size_t n = cfg.signature_size < SHA256_LEN ? (size_t)cfg.signature_size : SHA256_LEN;

        hmac_sha256(cfg.keys[i].data, cfg.keys[i].len, cfg.salts[i].data, cfg.salts[i].len, path,
                    pathlen, digest);
        if (equal_ct(digest, n, given, (size_t)glen))
            return 0;
    }
    return err_set(e, ERR_SIGNATURE, "Invalid signature");
}
