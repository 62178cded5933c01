/* signature.h: HMAC-SHA256 URL signatures, as imgproxy v3 makes them. */
#ifndef IMGFCGI_SIGNATURE_H
#define IMGFCGI_SIGNATURE_H

#include <stddef.h>

#include "errors.h"

/*
 * Verifies sig (the first path segment) against path (the signed path,
 * starting with '/') with the keys, salts, size and trusted signatures in cfg.
 * With no keys or no salts every signature is accepted. Returns 0 or
 * ERR_SIGNATURE recorded in e. Compares in constant time.
 */
int signature_verify(const char *sig, size_t siglen, const char *path, size_t pathlen,
                     struct errinfo *e) __attribute__((warn_unused_result));

/*
 * Computes the base64url (unpadded) signature of path with one key and salt,
 * truncated to size bytes, into out (at least 44 bytes). Returns its length.
 */
size_t signature_compute(const unsigned char *key, size_t keylen, const unsigned char *salt,
                         size_t saltlen, const char *path, size_t pathlen, int size, char *out);

#endif
