/* inforeport.h: the /info answer as JSON (libvips, libexif, libiptcdata, exempi). */
#ifndef IMGFCGI_INFOREPORT_H
#define IMGFCGI_INFOREPORT_H

#include <stdbool.h>
#include <stddef.h>

#include <json-glib/json-glib.h>

#include "deadline.h"
#include "errors.h"
#include "imagetype.h"
#include "info.h"

/* The longest side of the shrink-on-load copy the pixel statistics are computed on. */
#define INFOREPORT_STATS_SIZE 128

/* What inforeport_build() knows of the source. */
struct info_source {
    const unsigned char *data; /* borrowed; len bytes: the whole file, or its first bytes */
    size_t len;
    bool complete;     /* data holds the whole file */
    long long size;    /* the file's size in bytes: Content-Length or len; 0 = unknown */
    enum imgtype type; /* sniffed from data, never IMGTYPE_UNKNOWN */
};

/*
 * Answers io for src: the JSON text (NUL-terminated; caller frees with
 * g_free()) in *json. dl (borrowed, may be NULL) bounds the libvips work.
 * Only the fields io asks for are read: a header-only libvips open for the
 * header fields, a shrink-on-load copy of at most INFOREPORT_STATS_SIZE
 * pixels a side for the pixel statistics. Returns 0, ERR_BROKEN_IMAGE (422)
 * when libvips cannot read what is asked, ERR_SOURCE_TYPE (422) when the
 * hashsum option does not match, ERR_TIMEOUT, or ERR_INTERNAL; e says why.
 */
int inforeport_build(const struct infoopts *io, const struct info_source *src,
                     const struct deadline *dl, char **json, struct errinfo *e)
    __attribute__((warn_unused_result));

/*
 * The "photoshop" object of /info from a Photoshop image resource block
 * (blob, len bytes, borrowed: 8BIM resources, with or without the JPEG APP13
 * "Photoshop 3.0" name before them): {"resolution": {...}} from the first
 * ResolutionInfo resource. A new object (caller unrefs), or NULL when the
 * block has no well-formed ResolutionInfo (every length is checked against
 * len; unknown unit codes count as malformed).
 */
JsonObject *inforeport_photoshop(const unsigned char *blob, size_t len)
    __attribute__((warn_unused_result));

/*
 * The BlurHash of an 8-bit sRGB image (pixels row-major, `bands` 3 or 4, the
 * alpha band ignored) with cx x cy components (1..9 each) into out (at least
 * INFOREPORT_BLURHASH_MAX bytes). Returns 0, or -1 for bad arguments.
 */
#define INFOREPORT_BLURHASH_MAX (1 + 1 + 4 + 2 * 80 + 1)
int inforeport_blurhash(const unsigned char *pixels, int w, int h, int bands, int cx, int cy,
                        char *out, size_t outlen) __attribute__((warn_unused_result));

#endif
