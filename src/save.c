/* save.c: encoding a finished image into a libvips target, one saver per result format. */
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vips/vips.h>

#include "config.h"
#include "cpugate.h"
#include "save.h"
#include "watch.h"
#include "save_bmp_ico.h"
#include "save_pdf.h"
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
static int save_webp(VipsImage *img, int q, bool strip, const struct save_opts *so,
                     VipsTarget *target)
{
    VipsTarget *m = vips_target_new_to_memory();
    VipsBlob *blob = NULL;
    const void *data;
    unsigned char *copy = NULL;
    size_t len = 0;
    int r = -1;

    if (m == NULL)
        return -1;
    /* near_lossless is lossless with Q-driven preprocessing in libwebp. */
    if (vips_webpsave_target(img, m, "Q", q, "effort", cfg.webp_effort, "strip", strip, "lossless",
                             so->webp_compression != WEBP_LOSSY, "near_lossless",
                             so->webp_compression == WEBP_NEAR_LOSSLESS, "smart_subsample",
                             so->webp_smart_subsample, "preset",
                             (VipsForeignWebpPreset)so->webp_preset, NULL) ||
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

void save_opts_init(struct save_opts *so)
{
    so->jpeg_progressive = cfg.jpeg_progressive;
    so->jpeg_no_subsample = cfg.jpeg_no_subsample;
    so->jpeg_trellis_quant = cfg.jpeg_trellis_quant;
    so->jpeg_overshoot_deringing = cfg.jpeg_overshoot_deringing;
    so->jpeg_optimize_scans = cfg.jpeg_optimize_scans;
    so->jpeg_quant_table = cfg.jpeg_quant_table;
    so->png_interlaced = cfg.png_interlaced;
    so->png_quantize = cfg.png_quantize;
    so->png_quantization_colors = cfg.png_quantization_colors;
    so->webp_compression = cfg.webp_compression;
    so->webp_smart_subsample = cfg.webp_smart_subsample;
    so->webp_preset = cfg.webp_preset;
    so->avif_subsample = cfg.avif_subsample;
}

static const VipsForeignSubsample avif_subsample_modes[] = {
    [AVIF_SUBSAMPLE_AUTO] = VIPS_FOREIGN_SUBSAMPLE_AUTO,
    [AVIF_SUBSAMPLE_ON] = VIPS_FOREIGN_SUBSAMPLE_ON,
    [AVIF_SUBSAMPLE_OFF] = VIPS_FOREIGN_SUBSAMPLE_OFF,
};

/* IMGFCGI_PNG_FILTER as libvips' filter flags: all of them (adaptive), or one. */
static VipsForeignPngFilter png_filter(void)
{
    static const VipsForeignPngFilter flags[] = {
        VIPS_FOREIGN_PNG_FILTER_ALL, VIPS_FOREIGN_PNG_FILTER_NONE, VIPS_FOREIGN_PNG_FILTER_SUB,
        VIPS_FOREIGN_PNG_FILTER_UP,  VIPS_FOREIGN_PNG_FILTER_AVG,  VIPS_FOREIGN_PNG_FILTER_PAETH};

    return cfg.png_filter >= 0 && (size_t)cfg.png_filter < G_N_ELEMENTS(flags)
               ? flags[cfg.png_filter]
               : VIPS_FOREIGN_PNG_FILTER_ALL;
}

/*
 * JPEG. trellis_quant, overshoot_deringing, optimize_scans and quant_table
 * only do something when libvips is built with mozjpeg (Debian's is not:
 * libvips then ignores them with a warning); they are passed only when set,
 * so a default request sees no warning.
 */
static int save_jpeg(VipsImage *img, int q, bool strip, const struct save_opts *so,
                     VipsTarget *target)
{
    VipsForeignSubsample sub =
        so->jpeg_no_subsample ? VIPS_FOREIGN_SUBSAMPLE_OFF : VIPS_FOREIGN_SUBSAMPLE_AUTO;

    if (!so->jpeg_trellis_quant && !so->jpeg_overshoot_deringing && !so->jpeg_optimize_scans &&
        so->jpeg_quant_table == 0)
        return vips_jpegsave_target(img, target, "Q", q, "optimize_coding",
                                    jpeg_optimize_coding(img), "interlace", so->jpeg_progressive,
                                    "subsample_mode", sub, "strip", strip, NULL);
    return vips_jpegsave_target(img, target, "Q", q, "optimize_coding", jpeg_optimize_coding(img),
                                "interlace", so->jpeg_progressive, "subsample_mode", sub, "strip",
                                strip, "trellis_quant", so->jpeg_trellis_quant,
                                "overshoot_deringing", so->jpeg_overshoot_deringing,
                                "optimize_scans", so->jpeg_optimize_scans && so->jpeg_progressive,
                                "quant_table", so->jpeg_quant_table, NULL);
}

static int pdf_to_target(void *ctx, const unsigned char *data, size_t len)
{
    return vips_target_write(ctx, data, len) == 0 ? 0 : -1;
}

/*
 * PDF: the image encoded as JPEG (quality q, the JPEG settings) into
 * memory, then a one-page PDF around that file (save_pdf.h) written to
 * target. The JPEG encode streams strips like a JPEG result, so the
 * deadline stops it; wrapping the file is a copy of its bytes.
 */
static int save_as_pdf(VipsImage *img, int q, bool strip, const struct save_opts *so,
                       VipsTarget *target)
{
    VipsTarget *m = vips_target_new_to_memory();
    VipsBlob *blob = NULL;
    const void *jpeg = NULL;
    const char *why = NULL;
    size_t len = 0;
    int r = -1;

    if (m == NULL)
        return -1;
    if (save_jpeg(img, q, strip, so, m) || vips_target_end(m))
        goto out;
    g_object_get(m, "blob", &blob, NULL);
    jpeg = blob != NULL ? vips_blob_get(blob, &len) : NULL;
    r = save_pdf_jpeg(jpeg, len, vips_image_get_width(img), vips_image_get_height(img),
                      pdf_to_target, target, &why);
    if (r != 0)
        vips_error("pdfsave", "%s", why);
out:
    if (blob != NULL)
        vips_area_unref(VIPS_AREA(blob));
    g_object_unref(m);
    return r;
}

int save_image(VipsImage *img, enum imgtype t, int q, bool strip, VipsTarget *target)
{
    struct save_opts so;

    save_opts_init(&so);
    return save_image_opts(img, t, q, strip, &so, target);
}

int save_image_opts(VipsImage *img, enum imgtype t, int q, bool strip, const struct save_opts *so,
                    VipsTarget *target)
{
    int r;

    /* Both block writers take any run of lines: the deadline may stop them between a few. */
    cpugate_split_writes(t == IMGTYPE_JPEG || t == IMGTYPE_PNG);
    switch (t) {
    case IMGTYPE_JPEG:
        r = save_jpeg(img, q, strip, so, target);
        break;
    case IMGTYPE_PNG:
        if (so->png_quantize) {
            /* libvips 8.14 takes a bit depth, not a colour count: the smallest that holds them. */
            int bitdepth = 1;

            while (bitdepth < 8 && (1 << bitdepth) < so->png_quantization_colors)
                bitdepth *= 2;
            r = vips_pngsave_target(img, target, "palette", TRUE, "bitdepth", bitdepth, "interlace",
                                    so->png_interlaced, "compression", cfg.png_compression, "strip",
                                    strip, NULL);
        } else {
            r = vips_pngsave_target(img, target, "filter", png_filter(), "interlace",
                                    so->png_interlaced, "compression", cfg.png_compression, "strip",
                                    strip, NULL);
        }
        break;
    case IMGTYPE_WEBP:
        r = save_webp(img, q, strip, so, target);
        break;
    case IMGTYPE_AVIF:
        r = vips_heifsave_target(img, target, "Q", q, "compression",
                                 VIPS_FOREIGN_HEIF_COMPRESSION_AV1, "effort", 9 - cfg.avif_speed,
                                 "subsample_mode", avif_subsample_modes[so->avif_subsample],
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
    case IMGTYPE_PDF:
        r = save_as_pdf(img, q, strip, so, target);
        break;
    default:
        r = -1;
        vips_error("imgfcgi", "no saver for %s", imagetype_name(t));
        break;
    }
    cpugate_split_writes(false);
    return r;
}

int save_image_as(VipsImage *img, enum imgtype t, int q, bool strip, enum save_variant v,
                  const struct save_opts *so, VipsTarget *target)
{
    struct save_opts o;

    if (so != NULL)
        o = *so;
    else
        save_opts_init(&o);
    if (v == SAVE_LOSSLESS)
        o.webp_compression = WEBP_LOSSLESS;
    if (v == SAVE_PALETTE) {
        o.png_quantize = true;
        o.png_quantization_colors = 256;
    }
    return save_image_opts(img, t, q, strip, &o, target);
}

int save_to_memory(VipsImage *img, enum imgtype t, int q, bool strip, enum save_variant v,
                   const struct save_opts *so, void **data, size_t *len)
{
    VipsTarget *m = vips_target_new_to_memory();
    VipsBlob *blob = NULL;
    const void *d;
    int r = -1;

    *data = NULL;
    *len = 0;
    if (m == NULL)
        return -1;
    if (save_image_as(img, t, q, strip, v, so, m) != 0 || vips_target_end(m) != 0)
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
    return save_image_fit_opts(img, t, quality, strip, max_bytes, NULL, target);
}

int save_image_fit_opts(VipsImage *img, enum imgtype t, int quality, bool strip, int max_bytes,
                        const struct save_opts *so, VipsTarget *target)
{
    struct save_opts def;
    VipsImage *mem;
    int q = quality, r = -1;

    if (so == NULL) {
        save_opts_init(&def);
        so = &def;
    }
    mem = watch_copy_memory(img);
    if (mem == NULL)
        return -1;
    for (int round = 0; round < 16; round++) {
        VipsTarget *m = vips_target_new_to_memory();
        VipsBlob *blob = NULL; /* the "blob" property is a VipsBlob (a VipsArea), not GBytes */
        size_t len = 0;
        const void *data;

        if (m == NULL)
            break;
        if (save_image_opts(mem, t, q, strip, so, m) != 0 || vips_target_end(m) != 0) {
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
