/* svg.h: SVG passthrough sanitising (IMGPROXY_SANITIZE_SVG, REFERENCE §6). */
#ifndef IMGFCGI_SVG_H
#define IMGFCGI_SVG_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/*
 * Copies the SVG document in (len bytes, borrowed) to out without <script>
 * and <iframe> elements, event-handler attributes (on*) and <use> elements that refer to
 * anything but a fragment of the same document (href not starting with '#').
 * A text scanner, not an XML parser: comments, CDATA and processing
 * instructions are copied as they are. out must be initialised; returns 0 or
 * -1 when out cannot grow.
 */
int svg_sanitize(const char *in, size_t len, struct buf *out) __attribute__((warn_unused_result));

/* Bytes entity references may add to an SVG that is rasterised. */
#define SVG_MAX_ENTITY_EXPANSION (1024 * 1024)

/*
 * Whether the internal DTD subset of the SVG document data (len bytes,
 * borrowed) declares entities that expand the document by more than
 * SVG_MAX_ENTITY_EXPANSION bytes, refer to themselves, or are parameter
 * entities (or more than 256). libxml2 2.9 stops a "billion laughs" but
 * spends minutes and gigabytes on one large entity referenced many times,
 * before librsvg sees a single element; rasterising checks this first.
 * Passthrough does not need it: nothing there expands entities.
 */
bool svg_entities_too_big(const char *data, size_t len);

#endif
