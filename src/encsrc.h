/* encsrc.h: /enc/ source URLs: AES-CBC encrypted, base64url-encoded (imgproxy Pro). */
#ifndef IMGFCGI_ENCSRC_H
#define IMGFCGI_ENCSRC_H

#include <stddef.h>

#include "errors.h"

/* The AES block size: the IV's length and the unit of the ciphertext. */
#define ENCSRC_BLOCK 16

/*
 * Decrypts an /enc/ payload: payload/len is the base64url text (padding
 * optional, already joined from its '/'-split parts, without the extension).
 * The decoded bytes are IV (16 bytes) + AES-CBC ciphertext (a whole number of
 * blocks, at least one) under IMGPROXY_SOURCE_URL_ENCRYPTION_KEY (16, 24 or 32
 * bytes: AES-128, -192, -256); the PKCS#7 padding is checked and removed.
 * On success *url is the plaintext with a NUL after it (a URL holding a NUL
 * is refused) and *url_len its length; the caller frees *url with g_free().
 * Returns 0, or ERR_INVALID_URL with *url NULL: no key configured, bad
 * base64, a short or misaligned payload, a wrong key or bad padding all give
 * the same message, so that an answer tells nothing about the padding, and
 * no message holds any decrypted byte.
 */
int encsrc_decrypt(const char *payload, size_t len, char **url, size_t *url_len, struct errinfo *e)
    __attribute__((warn_unused_result));

/*
 * The same with an explicit key (key_len 16, 24 or 32 bytes; borrowed), for
 * tests and for callers that hold their own key.
 */
int encsrc_decrypt_with(const unsigned char *key, size_t key_len, const char *payload, size_t len,
                        char **url, size_t *url_len, struct errinfo *e)
    __attribute__((warn_unused_result));

/* 1 when n is an AES key length (16, 24, 32), else 0. */
int encsrc_key_len_ok(size_t n);

#endif
