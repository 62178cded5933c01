/* svg.h: SVG passthrough sanitising (IMGPROXY_SANITIZE_SVG). */
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

/*
 * Whether the SVG document data (len bytes, borrowed) declares entities in an
 * internal DTD subset. Such an SVG is not rasterised: libxml2 2.9 stops a
 * "billion laughs" but spends minutes and gigabytes on one large entity
 * referenced many times (a quadratic blowup), and librsvg 2.54 leaks each
 * internal entity's text on every parse, so a stranger could grow the process
 * by up to IMGPROXY_MAX_SVG_CHECK_BYTES a request. Passthrough does not need
 * this: nothing there expands entities.
 */
bool svg_declares_entities(const char *data, size_t len);

/*
 * Whether css (len bytes) may be injected as an SVG <style> (the `style`
 * option): no markup characters ('<', '>', '&'), no CSS escapes ('\\'), no
 * control characters, and none of @import, url(, image( or image-set(, so
 * that the style cannot fetch or read another resource.
 */
bool svg_style_acceptable(const char *css, size_t len);

/*
 * Copies the SVG document in (len bytes, borrowed) to out with a <style>
 * element holding css (css_len bytes, checked by svg_style_acceptable()) as
 * the first child of the root <svg> element (any prefix), after an XML
 * declaration, comments, processing instructions and a DOCTYPE. A document
 * whose root is not svg is copied as it is. out must be initialised; returns 0
 * or -1 when out cannot grow.
 */
int svg_inject_style(const char *in, size_t len, const char *css, size_t css_len, struct buf *out)
    __attribute__((warn_unused_result));

#endif
