/* save_bmp_ico.h: BMP and ICO results, which libvips 8.14 can only write through ImageMagick. */
#ifndef IMGFCGI_SAVE_BMP_ICO_H
#define IMGFCGI_SAVE_BMP_ICO_H

#include <vips/vips.h>

/*
 * Writes img (borrowed) to target (borrowed; the caller ends it) as a 24-bit
 * BMP: BITMAPFILEHEADER + BITMAPINFOHEADER, uncompressed BGR rows stored top
 * down (negative height) so rows stream out as they are computed, 72 dpi.
 * Alpha is dropped (the pipeline flattens for BMP). Returns 0, or -1 with the
 * libvips error buffer set (also for a result over the format's 4 GB).
 */
int save_bmp(VipsImage *img, VipsTarget *target) __attribute__((warn_unused_result));

/*
 * Writes img (borrowed, at most 256 x 256: the pipeline's fixSize caps it) to
 * target as an ICO holding one PNG-compressed 32-bit icon, alpha kept.
 * Returns 0, or -1 with the libvips error buffer set.
 */
int save_ico(VipsImage *img, VipsTarget *target) __attribute__((warn_unused_result));

#endif
