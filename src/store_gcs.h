/* store_gcs.h: gs://bucket/object sources from Google Cloud Storage with a service-account key. */
#ifndef IMGFCGI_STORE_GCS_H
#define IMGFCGI_STORE_GCS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "errors.h"
#include "storage.h"

/* The OAuth scope asked for: reads only. */
#define STORE_GCS_SCOPE "https://www.googleapis.com/auth/devstorage.read_only"
/* A cached access token is renewed this many seconds before it expires. */
#define STORE_GCS_TOKEN_MARGIN 300

/*
 * Process-wide set-up from c (IMGPROXY_USE_GCS, _GCS_KEY, _GCS_ENDPOINT),
 * before any thread starts. Off: 0. On: the key must be a service-account
 * key (IMGPROXY_GCS_KEY holds its JSON text; Application Default Credentials
 * are not supported) with an RSA private key, and the endpoint an http(s) URL.
 * No token is fetched here: the first gs:// request fetches it. Returns 0, or
 * -1 with a log line.
 */
int store_gcs_init(const struct config *c, const struct storage_ops **ops)
    __attribute__((warn_unused_result));
/* Frees what store_gcs_init() kept and the cached token. */
void store_gcs_shutdown(void);

/* A parsed service-account key. Owned strings; release with store_gcs_key_release(). */
struct store_gcs_key {
    char *client_email;
    char *private_key_id; /* may be NULL: the JWT then has no "kid" */
    char *token_uri;      /* the key's, or https://oauth2.googleapis.com/token */
    void *pkey;           /* OpenSSL EVP_PKEY * (RSA) */
};

/*
 * Parses the JSON text of a service-account key (len bytes, no NUL needed):
 * "type" must be "service_account"; "client_email" and "private_key" (a PEM
 * RSA key) are required. Returns 0, or -1 with a reason in *why (static).
 */
int store_gcs_parse_key(const char *json, size_t len, struct store_gcs_key *k, const char **why)
    __attribute__((warn_unused_result));
void store_gcs_key_release(struct store_gcs_key *k);

/*
 * The signed JWT assertion for k at time now: base64url header
 * {"alg":"RS256","typ":"JWT","kid":...}, claims {"iss","scope","aud","iat",
 * "exp": now + 3600}, RS256 signature. Caller frees with g_free(); NULL when
 * signing fails.
 */
char *store_gcs_jwt(const struct store_gcs_key *k, long long now);

/*
 * A token endpoint's JSON reply (len bytes): "access_token" (a non-empty
 * string without control characters) and "expires_in" (seconds, > 0;
 * 3600 when absent). Returns 0 with *token (caller frees with g_free()) and
 * *expires_in, or -1 with a reason in *why (static).
 */
int store_gcs_parse_token(const char *json, size_t len, char **token, long long *expires_in,
                          const char **why) __attribute__((warn_unused_result));

/* An object's metadata (JSON API): the fields imgfcgi uses. Owned strings, or NULL. */
struct store_gcs_meta {
    char *etag;          /* "etag", as given (unquoted) */
    char *last_modified; /* "updated" (RFC 3339) as an HTTP date */
    long long size;      /* "size"; -1 when absent */
};

/*
 * Parses an object resource (len bytes). Returns 0, or -1 when it is no JSON
 * object. Release m with store_gcs_meta_release().
 */
int store_gcs_parse_meta(const char *json, size_t len, struct store_gcs_meta *m)
    __attribute__((warn_unused_result));
void store_gcs_meta_release(struct store_gcs_meta *m);

/*
 * The generation of a gs:// query: the whole string an int64 > 0, else 0
 * (imgproxy ignores anything else silently). query may be NULL.
 */
long long store_gcs_generation(const char *query);

#endif
