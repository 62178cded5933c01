/* encsrc.c: decrypting /enc/ source URLs with OpenSSL's AES-CBC, base64 through GLib. */
#include <stdbool.h>
#include <string.h>

#include <glib.h>
#include <openssl/evp.h>

#include "config.h"
#include "encsrc.h"
#include "log.h"
#include "banned.h"

/* The longest payload text taken: the request URI is capped below this anyway. */
#define ENCSRC_MAX_TEXT 16384

/* One message for every failure: an answer must not tell bad padding from a bad key. */
#define ENCSRC_FAIL "Invalid path: the encrypted source URL can't be decrypted"

int encsrc_key_len_ok(size_t n)
{
    return n == 16 || n == 24 || n == 32;
}

/*
 * base64url (padding optional) to bytes through GLib: the alphabet is checked
 * here first, since g_base64_decode() skips characters it does not know.
 * Returns the bytes (caller g_free()s) or NULL.
 */
static guchar *b64url_decode(const char *s, size_t len, gsize *out_len)
{
    char *std;
    size_t n = len, padded;
    guchar *out;

    while (n > 0 && s[n - 1] == '=')
        n--;
    if (n == 0 || n % 4 == 1 || len - n > 2)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return NULL;
    }
    padded = (n + 3) / 4 * 4;
    std = g_malloc(padded + 1);
    for (size_t i = 0; i < n; i++)
        std[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    memset(std + n, '=', padded - n);
    std[padded] = '\0';
    out = g_base64_decode(std, out_len);
    g_free(std);
    return out;
}

static const EVP_CIPHER *cipher_for(size_t key_len)
{
    switch (key_len) {
    case 16:
        return EVP_aes_128_cbc();
    case 24:
        return EVP_aes_192_cbc();
    case 32:
        return EVP_aes_256_cbc();
    default:
        return NULL;
    }
}

/* Why a payload was refused, at debug level only: never a decrypted byte. */
static int refuse(struct errinfo *e, const char *why)
{
    log_debug("/enc/ source refused: %s", why);
    return err_set(e, ERR_INVALID_URL, ENCSRC_FAIL);
}

int encsrc_decrypt_with(const unsigned char *key, size_t key_len, const char *payload, size_t len,
                        char **url, size_t *url_len, struct errinfo *e)
{
    const EVP_CIPHER *cipher = cipher_for(key_len);
    EVP_CIPHER_CTX *ctx = NULL;
    guchar *raw = NULL;
    gsize raw_len = 0;
    unsigned char *plain = NULL;
    int n1 = 0, n2 = 0;
    int ret;

    *url = NULL;
    *url_len = 0;
    if (cipher == NULL)
        return refuse(e, "no IMGPROXY_SOURCE_URL_ENCRYPTION_KEY");
    if (len > ENCSRC_MAX_TEXT)
        return refuse(e, "payload too long");
    raw = b64url_decode(payload, len, &raw_len);
    if (raw == NULL) {
        ret = refuse(e, "not base64url");
        goto out;
    }
    if (raw_len < 2 * ENCSRC_BLOCK || raw_len % ENCSRC_BLOCK != 0) {
        ret = refuse(e, "not an IV and whole blocks");
        goto out;
    }
    /* PKCS#7 leaves at most raw_len - IV - 1 bytes of text; +1 for the NUL. */
    plain = g_malloc(raw_len);
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        ret = err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    /* EVP's padding check on (DecryptFinal): a bad pad byte or a wrong key fails there. */
    if (EVP_DecryptInit_ex(ctx, cipher, NULL, key, raw) != 1 ||
        EVP_DecryptUpdate(ctx, plain, &n1, raw + ENCSRC_BLOCK, (int)(raw_len - ENCSRC_BLOCK)) !=
            1 ||
        EVP_DecryptFinal_ex(ctx, plain + n1, &n2) != 1) {
        ret = refuse(e, "wrong key or bad padding");
        goto out;
    }
    if (n1 + n2 == 0 || memchr(plain, '\0', (size_t)(n1 + n2)) != NULL) {
        ret = refuse(e, "empty or NUL in the plaintext");
        goto out;
    }
    plain[n1 + n2] = '\0';
    *url = (char *)plain;
    *url_len = (size_t)(n1 + n2);
    plain = NULL;
    ret = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    if (plain != NULL) {
        /* Whatever was decrypted does not outlive the failure. */
        memset(plain, 0, raw_len);
        g_free(plain);
    }
    g_free(raw);
    return ret;
}

int encsrc_decrypt(const char *payload, size_t len, char **url, size_t *url_len, struct errinfo *e)
{
    const struct bytes *k =
        cfg.nsource_url_encryption_key > 0 ? &cfg.source_url_encryption_key[0] : NULL;

    return encsrc_decrypt_with(k ? k->data : NULL, k ? k->len : 0, payload, len, url, url_len, e);
}
