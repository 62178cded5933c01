/* imagetype.h: image formats, sniffed from magic bytes only. */
#ifndef IMGFCGI_IMAGETYPE_H
#define IMGFCGI_IMAGETYPE_H

#include <stdbool.h>
#include <stddef.h>

enum imgtype {
    IMGTYPE_UNKNOWN = 0,
    IMGTYPE_JPEG,
    IMGTYPE_JXL,
    IMGTYPE_PNG,
    IMGTYPE_WEBP,
    IMGTYPE_GIF,
    IMGTYPE_ICO,
    IMGTYPE_SVG,
    IMGTYPE_HEIC,
    IMGTYPE_AVIF,
    IMGTYPE_BMP,
    IMGTYPE_TIFF,
    IMGTYPE_PDF, /* read with IMGFCGI_ENABLE_PDF; written only when asked for (format:pdf) */
    IMGTYPE_COUNT
};

/*
 * The type of the image whose first len bytes are buf, or IMGTYPE_UNKNOWN.
 * SVG is recognised when the first start tag is <svg> or <svg:svg>, looking at
 * no more than svg_check_bytes bytes. PDF is recognised by "%PDF-" at the
 * start or, as PDF readers accept, within the first 1024 bytes.
 */
enum imgtype imagetype_sniff(const unsigned char *buf, size_t len, size_t svg_check_bytes);

/* The type named s (len bytes: "jpg", "jpeg", "png", ...), or IMGTYPE_UNKNOWN. */
enum imgtype imagetype_from_name(const char *s, size_t len);

/* Canonical name ("jpeg"), MIME type and file extension (".jpg"); static strings. */
const char *imagetype_name(enum imgtype t);
const char *imagetype_mime(enum imgtype t);
const char *imagetype_ext(enum imgtype t);

/*
 * Whether imgfcgi can write this format as a result. PDF can, but only when
 * the URL asks for it: no setting or negotiation picks it.
 */
bool imagetype_saveable(enum imgtype t);
/* Whether the format can carry an alpha channel / an animation / a quality setting. */
bool imagetype_supports_alpha(enum imgtype t);
bool imagetype_supports_animation(enum imgtype t);
bool imagetype_supports_quality(enum imgtype t);

#endif
