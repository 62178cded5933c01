/* store_swift.h: the swift:// transport (OpenStack Swift: v1, Keystone v2 and v3 tokens). */
#ifndef IMGFCGI_STORE_SWIFT_H
#define IMGFCGI_STORE_SWIFT_H

#include <stddef.h>

#include "config.h"
#include "storage.h"

/*
 * With c->use_swift: checks the settings (IMGPROXY_SWIFT_AUTH_URL set, the
 * auth version from IMGPROXY_SWIFT_AUTH_VERSION or the URL) and sets *ops;
 * *ops NULL when swift is off. Authentication is lazy: the first request
 * authenticates, holding a process-wide lock so that concurrent first
 * requests wait for that one token; the token is reused until 60 s before
 * its expiry (when the auth answer gives one) or a 401. 0, or -1 after a
 * log line.
 */
int store_swift_init(const struct config *c, const struct storage_ops **ops)
    __attribute__((warn_unused_result));
void store_swift_shutdown(void);

/*
 * Keystone answers, parsed (exposed for the unit tests and the fuzz target).
 * v2: the body of POST /tokens -> *token (access.token.id), *url (publicURL of
 * the first "object-store" in access.serviceCatalog), *expires (unix seconds
 * of access.token.expires, 0 when absent). v3: the body of POST /auth/tokens
 * -> *url (the "public" endpoint of the first "object-store" in
 * token.catalog), *expires (token.expires_at); the token is the
 * X-Subject-Token header. 0 with the strings set (caller frees), or -1 with
 * nothing to free.
 */
int store_swift__parse_v2(const char *json, size_t len, char **token, char **url,
                          long long *expires) __attribute__((warn_unused_result));
int store_swift__parse_v3(const char *json, size_t len, char **url, long long *expires)
    __attribute__((warn_unused_result));

#endif
