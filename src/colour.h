/* colour.h: colour management: importing embedded ICC profiles to sRGB, and keeping them. */
#ifndef IMGFCGI_COLOUR_H
#define IMGFCGI_COLOUR_H

#include <stdbool.h>
#include <stddef.h>

#include <vips/vips.h>

#include "imagetype.h"

/*
 * Parses a rendering-intent name (s, len bytes, no NUL needed): "perceptual",
 * "relative", "saturation" or "absolute". Returns 0 and the intent in *out,
 * or -1 for anything else.
 */
int colour_intent_parse(const char *s, size_t len, VipsIntent *out)
    __attribute__((warn_unused_result));

/*
 * Sets the intent every conversion uses from IMGFCGI_COLOR_INTENT's value
 * (borrowed; NULL or "" = relative). Call once before worker threads start.
 * Returns 0, or -1 (logged, naming the variable) for a value that does not
 * parse.
 */
int colour_global_init(const char *intent) __attribute__((warn_unused_result));

/* The intent colour_global_init chose (relative colorimetric before it is called). */
VipsIntent colour_intent(void);

/*
 * Whether result format t can carry an ICC profile with RGB or grey pixels:
 * JPEG, JPEG XL, PNG, WebP, AVIF/HEIC and TIFF. GIF, BMP and ICO cannot, so their
 * pixels are always converted to sRGB.
 */
bool colour_format_keeps_profile(enum imgtype t);

/*
 * Converts in (borrowed) to 8-bit sRGB through its embedded ICC profile with
 * the configured intent and black-point compensation. A CMYK image without a
 * profile goes through libvips' built-in "cmyk" profile (the 961 644-byte
 * v2 printer profile libvips ships); an image of another kind without a
 * profile is assumed to be sRGB. Alpha passes through. The result carries
 * libvips' sRGB profile. A profile that does not fit the pixels (a CMYK
 * profile on RGB) is ignored with a libvips warning and the fallback used.
 * Returns 0 and a new image in *out (caller unrefs), or -1 with the libvips
 * error buffer set (a profile that does not parse).
 */
int colour_import_srgb(VipsImage *in, VipsImage **out) __attribute__((warn_unused_result));

#endif
