/* save.h: encoding a finished image as the result format. */
#ifndef IMGFCGI_SAVE_H
#define IMGFCGI_SAVE_H

#include <stdbool.h>

#include <vips/vips.h>

#include "imagetype.h"

/* WebP compression and AVIF chroma subsampling (webp_options, avif_options). */
enum webp_compression { WEBP_LOSSY = 0, WEBP_NEAR_LOSSLESS, WEBP_LOSSLESS };
enum avif_subsample { AVIF_SUBSAMPLE_AUTO = 0, AVIF_SUBSAMPLE_ON, AVIF_SUBSAMPLE_OFF };

/*
 * The savers' settings one request may override (jpeg_options, png_options,
 * webp_options, avif_options); save_opts_init() fills them from cfg.
 */
struct save_opts {
    bool jpeg_progressive;         /* IMGPROXY_JPEG_PROGRESSIVE */
    bool jpeg_no_subsample;        /* IMGPROXY_JPEG_NO_SUBSAMPLE */
    bool jpeg_trellis_quant;       /* IMGPROXY_JPEG_TRELLIS_QUANT (mozjpeg only) */
    bool jpeg_overshoot_deringing; /* IMGPROXY_JPEG_OVERSHOOT_DERINGING (mozjpeg only) */
    bool jpeg_optimize_scans;      /* IMGPROXY_JPEG_OPTIMIZE_SCANS (mozjpeg, progressive) */
    int jpeg_quant_table;          /* IMGPROXY_JPEG_QUANT_TABLE 0..8 (mozjpeg only) */
    bool png_interlaced;           /* IMGPROXY_PNG_INTERLACED */
    bool png_quantize;             /* IMGPROXY_PNG_QUANTIZE */
    int png_quantization_colors;   /* IMGPROXY_PNG_QUANTIZATION_COLORS 2..256 */
    int webp_compression;          /* enum webp_compression, IMGPROXY_WEBP_COMPRESSION */
    bool webp_smart_subsample;     /* IMGPROXY_WEBP_SMART_SUBSAMPLE */
    int webp_preset;               /* a VipsForeignWebpPreset, IMGPROXY_WEBP_PRESET */
    int avif_subsample;            /* enum avif_subsample, IMGPROXY_AVIF_SUBSAMPLE */
};

/* The saver settings of cfg. */
void save_opts_init(struct save_opts *so);

/* Like save_image() with so's saver settings instead of cfg's (so borrowed). */
int save_image_opts(VipsImage *img, enum imgtype t, int q, bool strip, const struct save_opts *so,
                    VipsTarget *target) __attribute__((warn_unused_result));

/* Like save_image_fit() with so's saver settings (so borrowed; NULL = cfg's). */
int save_image_fit_opts(VipsImage *img, enum imgtype t, int quality, bool strip, int max_bytes,
                        const struct save_opts *so, VipsTarget *target)
    __attribute__((warn_unused_result));

/*
 * Encodes img (borrowed) as type t at quality q into target (borrowed; the
 * caller ends it), with the IMGPROXY_* saver settings of cfg. strip asks
 * savers that honour it to drop metadata. Returns 0, or -1 with the libvips
 * error buffer set (also for a type without a saver).
 */
int save_image(VipsImage *img, enum imgtype t, int q, bool strip, VipsTarget *target)
    __attribute__((warn_unused_result));

/* How save_image_as() encodes: as save_image() does, or one of format:best's variants. */
enum save_variant {
    SAVE_PLAIN = 0, /* save_image(): the settings' encoding */
    SAVE_LOSSLESS,  /* WebP: lossless (other formats: plain) */
    SAVE_PALETTE,   /* PNG: quantised to a palette of up to 256 colours (others: plain) */
};

/* save_image_opts() with so (NULL: the settings' encoding) changed by the variant v. */
int save_image_as(VipsImage *img, enum imgtype t, int q, bool strip, enum save_variant v,
                  const struct save_opts *so, VipsTarget *target)
    __attribute__((warn_unused_result));

/*
 * save_image_as() into memory: on success *data (caller frees with g_free())
 * and *len hold the encoded file. Returns 0 or -1 (libvips error buffer set).
 */
int save_to_memory(VipsImage *img, enum imgtype t, int q, bool strip, enum save_variant v,
                   const struct save_opts *so, void **data, size_t *len)
    __attribute__((warn_unused_result));

/*
 * max_bytes (imgproxy saveImageToFitBytes): encodes to memory, lowering the
 * quality from `quality` until the result is at most max_bytes or the quality
 * is 10, then writes that result to target. The pixels are computed once.
 * Returns 0 or -1 (libvips error buffer set).
 */
int save_image_fit(VipsImage *img, enum imgtype t, int quality, bool strip, int max_bytes,
                   VipsTarget *target) __attribute__((warn_unused_result));

/*
 * imgproxy's fixSize: the largest size a result of w x h can be saved at as
 * type t. WebP sides are capped at 16383, AVIF/HEIC at 16384, ICO at 256, and
 * GIF at 65535 with w x h <= INT_MAX / 4 (the whole image scaled by the
 * square root of the area overshoot). The aspect ratio is kept (sides rounded,
 * never below 1). Returns true and sets *nw, *nh when the image must shrink;
 * false (and *nw = w, *nh = h) when it fits. Other formats have no cap.
 */
bool save_fit_limits(enum imgtype t, int w, int h, int *nw, int *nh);

#endif
