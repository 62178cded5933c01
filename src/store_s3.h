/* store_s3.h: the s3:// transport (AWS Signature V4 through libcurl's CURLOPT_AWS_SIGV4). */
#ifndef IMGFCGI_STORE_S3_H
#define IMGFCGI_STORE_S3_H

#include <stdbool.h>

#include "buf.h"
#include "config.h"
#include "storage.h"

/*
 * With c->use_s3: reads the region (IMGPROXY_S3_REGION, AWS_REGION,
 * AWS_DEFAULT_REGION, the profile's region in ~/.aws/config, us-west-1),
 * the credentials (AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY [+
 * AWS_SESSION_TOKEN], else the AWS_PROFILE (default "default") section of
 * AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, then of ~/.aws/config)
 * and the endpoint, and sets *ops. Without credentials every s3:// fetch is a
 * 500, as imgproxy's (logged once here). Sets *ops NULL when s3 is off.
 * Returns 0, or -1 after a log line (IMGPROXY_S3_USE_DECRYPTION_CLIENT=true).
 */
int store_s3_init(const struct config *c, const struct storage_ops **ops)
    __attribute__((warn_unused_result));
void store_s3_shutdown(void);

/*
 * The object URL for bucket/key (key len bytes) with an optional version id
 * (NULL or ""), appended to out: endpoint "" = AWS
 * (https://BUCKET.s3.REGION.amazonaws.com/KEY, path style for buckets that
 * are not DNS-safe); else endpoint/BUCKET/KEY with path_style, or
 * scheme://BUCKET.HOST/KEY (path style still for IP hosts and buckets that are
 * not DNS-safe). The key is
 * encoded as S3's canonical URI (storage_path_encode). Exposed for the unit
 * tests and the fuzz target. 0 or -1 (no memory).
 */
int store_s3__object_url(struct buf *out, const char *endpoint, bool path_style, const char *region,
                         const char *bucket, const char *key, size_t len, const char *version)
    __attribute__((warn_unused_result));

#endif
