/*
 * orient.h: turns and flips applied while an image is written to memory.
 *
 * A sequence of quarter turns and flips is one of the eight symmetries of a
 * rectangle: struct orient_map records where it sends each pixel, and
 * orient_to_memory() computes the image once, in order, and writes each
 * pixel straight to its place in the turned result.
 */
#ifndef IMGFCGI_ORIENT_H
#define IMGFCGI_ORIENT_H

#include <stdbool.h>

#include <vips/vips.h>

/*
 * Source pixel (x, y) lands at (ax * x + bx * y + cx, ay * x + by * y + cy)
 * of a w x h result.
 */
struct orient_map {
    int ax, bx, cx;
    int ay, by, cy;
    int w, h;
};

/* The identity of a w x h image. */
void orient_map_init(struct orient_map *m, int w, int h);

/* Then a clockwise turn by angle (0, 90, 180 or 270; as vips_rot). */
void orient_map_rotate(struct orient_map *m, int angle);

/* Then a mirror: left-right when horizontal, else top-bottom (as vips_flip). */
void orient_map_flip(struct orient_map *m, bool horizontal);

/* Whether m moves no pixel. */
bool orient_map_is_identity(const struct orient_map *m);

/*
 * A new memory image: in computed once (tile by tile, through vips_sink)
 * and laid out by m, which must start from in's size; in's
 * metadata as vips_rot and vips_flip keep it. A watch on in (watch.h) stops
 * the computation and is carried to the result. NULL on failure, with
 * libvips' error set. in is borrowed.
 */
VipsImage *orient_to_memory(VipsImage *in, const struct orient_map *m);

#endif
