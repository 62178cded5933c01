/*
 * memimage.h: memory images whose pixels are not cleared first.
 *
 * libvips allocates a memory image's pixels with g_try_malloc0(): under
 * imgfcgi's malloc thresholds a large buffer comes from the heap, and calloc
 * clears all of it, a write of the whole image before the real one. Where
 * every pixel is about to be written (a copy, a turn), these images skip it.
 */
#ifndef IMGFCGI_MEMIMAGE_H
#define IMGFCGI_MEMIMAGE_H

#include <vips/vips.h>

/*
 * A new w x h memory image of like's band count and format (its other
 * header fields are libvips' defaults), its pixels uninitialised and freed
 * with the image. NULL with the libvips error set when the size is empty or
 * overflows (checked before any allocation) or the memory cannot be had.
 */
VipsImage *memimage_new(const VipsImage *like, int w, int h);

/*
 * vips_image_copy_memory() into a memimage_new() image: in itself (a new
 * reference) when it is already in memory, else in computed into a new
 * memory image with in's header and metadata. NULL with the libvips error
 * set on failure. in is borrowed.
 */
VipsImage *memimage_copy(VipsImage *in);

#endif
