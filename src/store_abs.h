/* store_abs.h: abs://container/blob sources from Azure Blob Storage, signed with Shared Key. */
#ifndef IMGFCGI_STORE_ABS_H
#define IMGFCGI_STORE_ABS_H

#include <stddef.h>

#include "config.h"
#include "storage.h"

/* The x-ms-version sent: accepted by Azure and by Azurite. */
#define STORE_ABS_VERSION "2021-08-06"

/*
 * Process-wide set-up from c (IMGPROXY_USE_ABS, _ABS_NAME, _ABS_KEY,
 * _ABS_ENDPOINT), before any thread starts. Off: 0 and nothing kept. On: the
 * account name and a key that is valid base64 are required (Entra ID
 * credentials are not supported), the endpoint must be an http(s) URL with no
 * query. Returns 0, or -1 with a log line naming the setting.
 */
int store_abs_init(const struct config *c, const struct storage_ops **ops)
    __attribute__((warn_unused_result));
/* Frees what store_abs_init() kept. */
void store_abs_shutdown(void);

/* One x-ms-* header for store_abs_string_to_sign(). Borrowed strings. */
struct store_abs_header {
    const char *name;
    const char *value;
};

/*
 * The Shared Key string to sign: verb; the eleven standard header values in
 * their fixed order (std[i] may be NULL or std NULL: empty; a Content-Length
 * of "0" counts as empty), each x-ms-* header of ms (lower-cased names,
 * sorted, "name:value"); "/" account path, path exactly as sent; then each
 * query parameter of query (raw "a=1&b=2", may be NULL), sorted by its
 * lower-cased name, as "\nname:value" with the value percent-decoded and the
 * values of a repeated name joined by ",". Returns a string the caller frees
 * with g_free(), or NULL when a query value does not decode.
 */
char *store_abs_string_to_sign(const char *verb, const char *const std[11],
                               const struct store_abs_header *ms, size_t nms, const char *account,
                               const char *path, const char *query);

/*
 * The base64 HMAC-SHA256 of sts under key (keylen bytes, the decoded account
 * key): what follows "SharedKey NAME:". Caller frees with g_free().
 */
char *store_abs_signature(const unsigned char *key, size_t keylen, const char *sts);

/*
 * Decodes s as standard padded base64 (what IMGPROXY_ABS_KEY holds) into a
 * new buffer (caller frees with g_free()) and its length in *len; NULL when
 * s is empty, has a character outside the alphabet, or bad padding.
 */
unsigned char *store_abs_decode_key(const char *s, size_t *len);

#endif
