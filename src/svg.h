/* svg.h: SVG passthrough sanitising (IMGPROXY_SANITIZE_SVG, REFERENCE §6). */
#ifndef IMGFCGI_SVG_H
#define IMGFCGI_SVG_H

#include <stddef.h>

#include "buf.h"

/*
 * Copies the SVG document in (len bytes, borrowed) to out without <script>
 * elements, event-handler attributes (on*) and <use> elements that refer to
 * anything but a fragment of the same document (href not starting with '#').
 * A text scanner, not an XML parser: comments, CDATA and processing
 * instructions are copied as they are. out must be initialised; returns 0 or
 * -1 when out cannot grow.
 */
int svg_sanitize(const char *in, size_t len, struct buf *out) __attribute__((warn_unused_result));

#endif
