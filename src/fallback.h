/* fallback.h: the fallback image sent instead of a failed download. */
#ifndef IMGFCGI_FALLBACK_H
#define IMGFCGI_FALLBACK_H

#include <stddef.h>

#include "fetch.h"

/*
 * Loads the image named by IMGPROXY_FALLBACK_IMAGE_DATA (base64), _PATH or
 * _URL, in that priority, once, from main before threads start (libcurl must
 * be initialised for _URL). Nothing configured is not an error. Returns 0, or
 * -1 with a message in err (errlen bytes): start-up must fail then.
 */
int fallback_global_init(char *err, size_t errlen) __attribute__((warn_unused_result));

/* Frees the loaded image; safe when none was loaded. */
void fallback_global_shutdown(void);

/*
 * The loaded image with the headers its origin sent (for _URL), or NULL when
 * none is configured. Read-only after fallback_global_init(): any thread may
 * borrow it.
 */
const struct fetch_result *fallback_image(void);

/* Tests only: installs len bytes of data (copied) as the fallback; NULL clears it. */
int fallback_set_for_tests(const void *data, size_t len) __attribute__((warn_unused_result));

#endif
