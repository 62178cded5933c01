/*
 * watermark.h: the watermark image, loaded once at start-up; per-request
 * watermarks (watermark_url, watermark_text); their shaping and placement.
 */
#ifndef IMGFCGI_WATERMARK_H
#define IMGFCGI_WATERMARK_H

#include <stdbool.h>
#include <stddef.h>

#include <vips/vips.h>

#include "errors.h"
#include "fetch.h"
#include "options.h"

/*
 * Loads the watermark from IMGPROXY_WATERMARK_DATA (base64), _PATH or _URL,
 * first one set wins, and checks that libvips can decode it; creates the
 * watermark_url cache (IMGPROXY_WATERMARKS_CACHE_SIZE entries,
 * IMGFCGI_WATERMARKS_CACHE_BYTES bytes). Call once after libvips and libcurl
 * are initialised, before threads start. Returns 0 (also when none is
 * configured) or -1 with a message in err.
 */
int watermark_init(char *err, size_t errlen) __attribute__((warn_unused_result));

/* Frees the watermark bytes and the cache. */
void watermark_release(void);

/* Is a watermark configured? */
bool watermark_available(void);

/*
 * Does po draw a watermark: an opacity above 0 and a text, a fetched
 * watermark_url image (po->wm_image), or the configured image when no
 * watermark_url is asked for.
 */
bool watermark_wanted(const struct procopts *po);

/*
 * The watermark_url image at url: from the cache, or fetched with f and o
 * (the request's limits and time left; the source-address guard applies)
 * and cached. Only image types imgfcgi reads (not PDF) are accepted. *out is
 * a new reference the caller drops with g_bytes_unref() once no image made
 * from it exists. Returns 0 or the fetch's error code recorded in e
 * (ERR_SOURCE_TYPE for a body that is no image).
 */
int watermark_fetch(struct fetcher *f, const char *url, const struct fetch_opts *o, GBytes **out,
                    struct errinfo *e) __attribute__((warn_unused_result));

/*
 * Draws the watermark over img (borrowed): the text, po->wm_image or the
 * configured image, sized by the scale or watermark_size, rotated, shadowed,
 * with po's opacity, position and offsets; dpr scales absolute offsets, the
 * box and the text's resolution. Returns a new reference, or NULL with e
 * set: 422 for a watermark over the limits (resolution, rendered text
 * pixels) or one libvips cannot read, 500 for a failed step.
 */
VipsImage *watermark_apply(VipsImage *img, const struct procopts *po, double dpr,
                           struct errinfo *e);

#endif
