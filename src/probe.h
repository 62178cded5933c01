/* probe.h: image dimensions from the first bytes of a file, before anything is decoded. */
#ifndef IMGFCGI_PROBE_H
#define IMGFCGI_PROBE_H

#include <stdbool.h>
#include <stddef.h>

#include "imagetype.h"

/*
 * Bytes a caller should offer before giving up on the header: a JPEG may
 * carry large APPn segments (EXIF, ICC, XMP) before its SOF, a TIFF its IFD
 * anywhere. Past this the full decoder's own header check decides.
 */
#define PROBE_MAX_BYTES (1024 * 1024)

enum probe_status {
    PROBE_MORE = 0,  /* the header is not complete yet: call again with more bytes */
    PROBE_FOUND = 1, /* type, width and height are filled in */
    PROBE_NONE = 2,  /* these bytes will not tell: unknown type, SVG, ICO, or a broken header */
};

struct probe_info {
    enum imgtype type;
    unsigned long long width, height; /* as the header claims them; never 0 when FOUND */
};

/*
 * Reads the type and the claimed dimensions from the first len bytes of an
 * image (buf, borrowed, no NUL needed). complete says these are all the
 * file's bytes, so a header cut short is PROBE_NONE rather than PROBE_MORE.
 * Formats: JPEG (SOFn), PNG (IHDR), GIF (logical screen), WebP (VP8, VP8L,
 * VP8X canvas), HEIC/AVIF (largest `ispe` in meta/iprp/ipco), BMP, TIFF
 * (first IFD), JPEG XL (SizeHeader, bare or in jxlc/jxlp boxes).
 * Never reads outside buf; cost is linear in len.
 */
enum probe_status probe_header(const unsigned char *buf, size_t len, bool complete,
                               struct probe_info *out);

/* Whether width x height is more than max pixels (no overflow for any header's values). */
bool probe_exceeds(const struct probe_info *p, long long max);

#endif
