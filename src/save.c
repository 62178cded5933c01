/* save.c: encoding a finished image into a libvips target, one saver per result format. */
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vips/vips.h>

#include "config.h"
#include "save.h"
#include "watch.h"
#include "save_bmp_ico.h"
#include "banned.h"

/*
 * Optimised Huffman tables make libjpeg keep every DCT coefficient of the
 * image (about 3 bytes a pixel at 4:2:0) and write nothing until the last row
 * is in: no streaming, and 36 MB held for a 12 MP result. They save 3-5 % of
 * the bytes. Thumbnails keep them (imgproxy's output, and they are written in
 * one go anyway); larger results stream instead.
 */
#define JPEG_OPTIMIZE_MAX_PIXELS (1024L * 1024L)

static gboolean jpeg_optimize_coding(VipsImage *img)
{
    return (long)vips_image_get_width(img) * vips_image_get_height(img) <= JPEG_OPTIMIZE_MAX_PIXELS;
}

/*
 * Removes the RIFF chunk `fourcc` from the WebP file in d (*len bytes, edited
 * in place) and clears its VP8X feature flag. A malformed file is left as it is.
 */
static void webp_drop_chunk(unsigned char *d, size_t *len, const char *fourcc, unsigned flag)
{
    size_t i = 12;

    if (*len < 12 || memcmp(d, "RIFF", 4) != 0 || memcmp(d + 8, "WEBP", 4) != 0)
        return;
    while (*len - i >= 8) {
        size_t n = (size_t)d[i + 4] | (size_t)d[i + 5] << 8 | (size_t)d[i + 6] << 16 |
                   (size_t)d[i + 7] << 24;
        size_t whole = 8 + n + (n & 1);

        if (whole > *len - i)
            return;
        if (memcmp(d + i, "VP8X", 4) == 0 && n >= 1)
            d[i + 8] &= (unsigned char)~flag;
        if (memcmp(d + i, fourcc, 4) == 0) {
            uint32_t riff;

            memmove(d + i, d + i + whole, *len - i - whole);
            *len -= whole;
            riff = (uint32_t)(*len - 8);
            d[4] = (unsigned char)riff;
            d[5] = (unsigned char)(riff >> 8);
            d[6] = (unsigned char)(riff >> 16);
            d[7] = (unsigned char)(riff >> 24);
            continue;
        }
        i += whole;
    }
}

/*
 * webpsave in libvips 8.14 ignores `strip` and writes an EXIF chunk even for
 * an image without EXIF (a default block with resolution and dimensions):
 * the file is made in memory (libwebp hands it over whole anyway) and that
 * chunk removed unless the image carries EXIF of its own.
 */
static int save_webp(VipsImage *img, int q, bool strip, bool lossless, VipsTarget *target)
{
    VipsTarget *m = vips_target_new_to_memory();
    VipsBlob *blob = NULL;
    const void *data;
    unsigned char *copy = NULL;
    size_t len = 0;
    int r = -1;

    if (m == NULL)
        return -1;
    if (vips_webpsave_target(img, m, "Q", q, "effort", cfg.webp_effort, "lossless", lossless,
                             "strip", strip, NULL) ||
        vips_target_end(m))
        goto out;
    g_object_get(m, "blob", &blob, NULL);
    data = blob != NULL ? vips_blob_get(blob, &len) : NULL;
    if (data == NULL)
        goto out;
    copy = g_memdup2(data, len);
    if (strip || vips_image_get_typeof(img, VIPS_META_EXIF_NAME) == 0)
        webp_drop_chunk(copy, &len, "EXIF", 0x08);
    r = vips_target_write(target, copy, len) == 0 ? 0 : -1;
out:
    g_free(copy);
    if (blob != NULL)
        vips_area_unref(VIPS_AREA(blob));
    g_object_unref(m);
    return r;
}

/*
 * HEIC (HEVC through libheif and x265). With one side under 32 px and the
 * other over about 4300 (5000x19, 1x5000), libheif 1.15 + x265 write a file
 * whose primary item has no image and libvips reports success: the file is
 * made in memory (libheif hands it over whole anyway) and its header read
 * back, so such a result is an error, not a broken 200.
 */
static int save_heic(VipsImage *img, int q, bool strip, VipsTarget *target)
{
    void *buf = NULL;
    size_t len = 0;
    VipsImage *check = NULL;
    int r = -1;

    if (vips_heifsave_buffer(img, &buf, &len, "Q", q, "compression",
                             VIPS_FOREIGN_HEIF_COMPRESSION_HEVC, "strip", strip, NULL))
        goto out;
    if (vips_heifload_buffer(buf, len, &check, NULL) || vips_image_get_width(check) < 1) {
        vips_error("heifsave", "the HEVC encoder wrote no image for %dx%d",
                   vips_image_get_width(img), vips_image_get_height(img));
        goto out;
    }
    r = vips_target_write(target, buf, len) == 0 ? 0 : -1;
out:
    if (check != NULL)
        g_object_unref(check);
    g_free(buf);
    return r;
}

int save_image(VipsImage *img, enum imgtype t, int q, bool strip, VipsTarget *target)
{
    return save_image_as(img, t, q, strip, SAVE_PLAIN, target);
}

int save_image_as(VipsImage *img, enum imgtype t, int q, bool strip, enum save_variant v,
                  VipsTarget *target)
{
    int r;

    switch (t) {
    case IMGTYPE_JPEG:
        r = vips_jpegsave_target(img, target, "Q", q, "optimize_coding", jpeg_optimize_coding(img),
                                 "interlace", cfg.jpeg_progressive, "strip", strip, NULL);
        break;
    case IMGTYPE_PNG:
        if (cfg.png_quantize || v == SAVE_PALETTE) {
            /* libvips 8.14 takes a bit depth, not a colour count: the smallest that holds them. */
            int colours = v == SAVE_PALETTE ? 256 : cfg.png_quantization_colors;
            int bitdepth = 1;

            while (bitdepth < 8 && (1 << bitdepth) < colours)
                bitdepth *= 2;
            r = vips_pngsave_target(img, target, "palette", TRUE, "bitdepth", bitdepth, "interlace",
                                    cfg.png_interlaced, "compression", cfg.png_compression, "strip",
                                    strip, NULL);
        } else {
            r = vips_pngsave_target(img, target, "filter", VIPS_FOREIGN_PNG_FILTER_ALL, "interlace",
                                    cfg.png_interlaced, "compression", cfg.png_compression, "strip",
                                    strip, NULL);
        }
        break;
    case IMGTYPE_WEBP:
        r = save_webp(img, q, strip, v == SAVE_LOSSLESS, target);
        break;
    case IMGTYPE_AVIF:
        r = vips_heifsave_target(img, target, "Q", q, "compression",
                                 VIPS_FOREIGN_HEIF_COMPRESSION_AV1, "effort", 9 - cfg.avif_speed,
                                 "strip", strip, NULL);
        break;
    case IMGTYPE_HEIC:
        r = save_heic(img, q, strip, target);
        break;
    case IMGTYPE_JXL:
        r = vips_jxlsave_target(img, target, "Q", q, "effort", cfg.jxl_effort, "strip", strip,
                                NULL);
        break;
    case IMGTYPE_GIF:
        r = vips_gifsave_target(img, target, "strip", strip, NULL);
        break;
    case IMGTYPE_TIFF: {
        /*
         * libtiff seeks back to patch offsets, which a stream cannot do: TIFF
         * is the one format encoded to memory first and then written.
         */
        void *mem = NULL;
        size_t len = 0;

        r = vips_tiffsave_buffer(img, &mem, &len, "Q", q, "strip", strip, NULL);
        if (r == 0 && vips_target_write(target, mem, len) != 0)
            r = -1;
        g_free(mem);
        break;
    }
    case IMGTYPE_BMP:
        r = save_bmp(img, target);
        break;
    case IMGTYPE_ICO:
        r = save_ico(img, target);
        break;
    default:
        r = -1;
        vips_error("imgfcgi", "no saver for %s", imagetype_name(t));
        break;
    }
    return r;
}

int save_to_memory(VipsImage *img, enum imgtype t, int q, bool strip, enum save_variant v,
                   void **data, size_t *len)
{
    VipsTarget *m = vips_target_new_to_memory();
    VipsBlob *blob = NULL;
    const void *d;
    int r = -1;

    *data = NULL;
    *len = 0;
    if (m == NULL)
        return -1;
    if (save_image_as(img, t, q, strip, v, m) != 0 || vips_target_end(m) != 0)
        goto out;
    g_object_get(m, "blob", &blob, NULL);
    d = blob != NULL ? vips_blob_get(blob, len) : NULL;
    if (d == NULL) {
        vips_error("imgfcgi", "the %s saver wrote nothing", imagetype_name(t));
        goto out;
    }
    *data = g_memdup2(d, *len);
    r = 0;
out:
    if (blob != NULL)
        vips_area_unref(VIPS_AREA(blob));
    g_object_unref(m);
    return r;
}

/*
 * max_bytes (imgproxy saveImageToFitBytes): encode to memory, lower the
 * quality by how far off the size is, stop at the limit or at quality 10.
 * The pixels are computed once: the image is copied to memory first.
 */
int save_image_fit(VipsImage *img, enum imgtype t, int quality, bool strip, int max_bytes,
                   VipsTarget *target)
{
    VipsImage *mem = watch_copy_memory(img);
    int q = quality, r = -1;

    if (mem == NULL)
        return -1;
    for (int round = 0; round < 16; round++) {
        VipsTarget *m = vips_target_new_to_memory();
        VipsBlob *blob = NULL; /* the "blob" property is a VipsBlob (a VipsArea), not GBytes */
        size_t len = 0;
        const void *data;

        if (m == NULL)
            break;
        if (save_image(mem, t, q, strip, m) != 0 || vips_target_end(m) != 0) {
            g_object_unref(m);
            break;
        }
        g_object_get(m, "blob", &blob, NULL);
        data = blob ? vips_blob_get(blob, &len) : NULL;
        if (len <= (size_t)max_bytes || q <= 10) {
            r = data != NULL && vips_target_write(target, data, len) == 0 ? 0 : -1;
            if (blob != NULL)
                vips_area_unref(VIPS_AREA(blob));
            g_object_unref(m);
            break;
        }
        {
            double d = (double)len / (double)max_bytes;

            q = (int)((double)q * (d > 3 ? 0.25 : d > 1.5 ? 0.5 : 0.75));
        }
        if (blob != NULL)
            vips_area_unref(VIPS_AREA(blob));
        g_object_unref(m);
    }
    g_object_unref(mem);
    return r;
}

/* Per-format side limits: libwebp's encoder, libheif/AV1, the GIF format, ICO directory bytes. */
#define WEBP_MAX_SIDE 16383
#define HEIF_MAX_SIDE 16384
#define GIF_MAX_SIDE 65535
#define GIF_MAX_AREA (INT_MAX / 4)
#define ICO_MAX_SIDE 256

bool save_fit_limits(enum imgtype t, int w, int h, int *nw, int *nh)
{
    int side = w > h ? w : h;
    double scale = 1.0;

    *nw = w;
    *nh = h;
    switch (t) {
    case IMGTYPE_WEBP:
        scale = (double)WEBP_MAX_SIDE / side;
        break;
    case IMGTYPE_AVIF:
    case IMGTYPE_HEIC:
        scale = (double)HEIF_MAX_SIDE / side;
        break;
    case IMGTYPE_ICO:
        scale = (double)ICO_MAX_SIDE / side;
        break;
    case IMGTYPE_GIF: {
        double area = sqrt((double)GIF_MAX_AREA / ((double)w * h));

        scale = fmin((double)GIF_MAX_SIDE / side, area);
        break;
    }
    default:
        break;
    }
    if (scale >= 1.0)
        return false;
    /* Rounded as vips_resize rounds its output size. */
    *nw = (int)fmax(1.0, floor(w * scale + 0.5));
    *nh = (int)fmax(1.0, floor(h * scale + 0.5));
    return true;
}
