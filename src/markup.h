/* markup.h: checking user-supplied Pango markup (watermark_text) before anything renders it. */
#ifndef IMGFCGI_MARKUP_H
#define IMGFCGI_MARKUP_H

#include <stddef.h>

/* Largest font size, scale and spacing markup may ask for (points, factors). */
#define MARKUP_MAX_SIZE_PT 128
#define MARKUP_MAX_SCALE 4.0
#define MARKUP_MAX_SPACING_PT 64

/*
 * Checks len bytes of s (UTF-8 Pango markup, no NUL needed): it must parse
 * (pango_parse_markup) and every size it sets must stay within the bounds
 * above, so that the rendered text stays small whatever the markup says
 * (font sizes, <big> nesting, letter spacing, rise, line height). Returns 0,
 * or -1 with the reason in why (at most whylen bytes with the NUL).
 */
int markup_check(const char *s, size_t len, char *why, size_t whylen)
    __attribute__((warn_unused_result));

#endif
