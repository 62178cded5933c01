/* fallback.h: the fallback image sent instead of a failed download. */
#ifndef IMGFCGI_FALLBACK_H
#define IMGFCGI_FALLBACK_H

#include <stddef.h>

#include <glib.h>

#include "fetch.h"

/*
 * Loads the image named by IMGPROXY_FALLBACK_IMAGE_DATA (base64), _PATH or
 * _URL, in that priority, once, from main before threads start (libcurl must
 * be initialised for _URL). Nothing configured is not an error. Returns 0, or
 * -1 with a message in err (errlen bytes): start-up must fail then.
 */
int fallback_global_init(char *err, size_t errlen) __attribute__((warn_unused_result));

/* Frees the loaded image and the fallback_image_url cache; safe when none was loaded. */
void fallback_global_shutdown(void);

/*
 * The loaded image with the headers its origin sent (for _URL), or NULL when
 * none is configured. Read-only after fallback_global_init(): any thread may
 * borrow it.
 */
const struct fetch_result *fallback_image(void);

/*
 * Per-request fallback images (fallback_image_url, fiu). A fetched image is
 * kept in an imgcache of at most IMGPROXY_FALLBACK_IMAGES_CACHE_SIZE images
 * and IMGFCGI_FALLBACK_IMAGES_CACHE_BYTES bytes (made by
 * fallback_global_init()), least recently used out first; an image in use
 * stays alive until its last user puts it back, even when the cache has let
 * it go. Thread-safe (no lock held while fetching: two requests missing the
 * same URL at once both fetch it, and one copy is kept).
 */

/*
 * The image at url (NUL-terminated, as fetched): from the cache, or fetched
 * with f and o (borrowed: the request's fetcher, limits and deadline, so the
 * address guard and size limits of any source apply) and then cached. On
 * success *ref holds it until fallback_url_put(*ref), and *img points at it
 * (read-only) until then. Returns 0 or the fetch's error code recorded in e.
 */
int fallback_url_get(struct fetcher *f, const char *url, const struct fetch_opts *o, GBytes **ref,
                     const struct fetch_result **img, struct errinfo *e)
    __attribute__((warn_unused_result));

/* Gives back an image of fallback_url_get(); NULL is a no-op. */
void fallback_url_put(GBytes *ref);

/* Empties the cache (tests); images in use go with their last put. */
void fallback_url_cache_clear(void);

/* How many images and bytes the cache holds now. */
void fallback_url_cache_stats(size_t *count, size_t *bytes);

/* Tests only: installs len bytes of data (copied) as the fallback; NULL clears it. */
int fallback_set_for_tests(const void *data, size_t len) __attribute__((warn_unused_result));

#endif
