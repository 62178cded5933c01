/* metadata.h: strip_metadata and keep_copyright on a finished image. */
#ifndef IMGFCGI_METADATA_H
#define IMGFCGI_METADATA_H

#include <stdbool.h>
#include <stddef.h>

#include <vips/vips.h>

/*
 * Removes, in place, every metadata field of img (which the caller owns and
 * has not shared: a fresh vips_copy) except what savers need to encode the
 * pixels: the ICC profile, palette and bit-depth hints, animation fields.
 * With keep_copyright:
 * - EXIF keeps IFD0 Copyright and Artist (libvips rebuilds the EXIF block from
 *   the remaining exif-ifd* fields on save; the block goes when it had
 *   neither);
 * - IPTC keeps datasets 2:80 (By-line), 2:110 (Credit), 2:116 (Copyright
 *   Notice) and records other than 2;
 * - XMP keeps the dc:rights, dc:creator, dc:contributor, dc:publisher
 *   properties and every xmpRights and cc (Creative Commons) property.
 * Metadata that cannot be parsed is dropped.
 */
void metadata_strip(VipsImage *img, bool keep_copyright);

/*
 * Whether img still carries metadata a saver would write (EXIF, XMP, IPTC,
 * ICC). When it does not, savers can be told to strip, which also keeps
 * libvips from writing a default EXIF block into JPEG and WebP.
 */
bool metadata_any(VipsImage *img);

/*
 * The IPTC filter on its own (libiptcdata): from a Photoshop image-resource block (with or
 * without the "Photoshop 3.0" prefix libvips keeps from JPEG APP13), a new
 * block holding only an IPTC resource with the kept datasets. Returns a
 * g_malloc'd buffer (caller frees with g_free) and its length in *outlen, or
 * NULL when nothing is kept or the input is malformed.
 */
unsigned char *metadata_filter_iptc(const unsigned char *data, size_t len, size_t *outlen);

/*
 * The XMP filter on its own (libxml2): a new XMP packet holding only the kept
 * properties of data (len bytes, UTF-8 XML). Returns a NUL-terminated
 * g_malloc'd string (caller frees with g_free) and its length in *outlen, or
 * NULL when nothing is kept or the XML does not parse.
 */
char *metadata_filter_xmp(const char *data, size_t len, size_t *outlen);

#endif
