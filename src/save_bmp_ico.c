/* save_bmp_ico.c: BMP (24-bit, top-down, streamed) and ICO (one PNG icon) encoders. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vips/vips.h>

#include "save_bmp_ico.h"
#include "tsan.h"
#include "banned.h"

#define BMP_HEADERS (14 + 40)
#define ICO_MAX_SIDE 256
#define PELS_PER_METRE_72DPI 2835 /* 72 / 0.0254 */

static void le16(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void le32(unsigned char *p, uint32_t v)
{
    le16(p, v);
    le16(p + 2, v >> 16);
}

/* A new reference to img as 8-bit sRGB with `bands` bands (3: alpha dropped, 4: alpha added). */
static VipsImage *to_rgb8(VipsImage *img, int bands)
{
    VipsImage *t[4] = {NULL}, *cur = img, *out = NULL;
    int n = 0;

    if (vips_image_get_interpretation(cur) != VIPS_INTERPRETATION_sRGB ||
        vips_image_get_bands(cur) < 3) {
        if (vips_colourspace(cur, &t[n], VIPS_INTERPRETATION_sRGB, NULL))
            goto out;
        cur = t[n++];
    }
    if (vips_image_get_format(cur) != VIPS_FORMAT_UCHAR) {
        if (vips_cast(cur, &t[n], VIPS_FORMAT_UCHAR, NULL))
            goto out;
        cur = t[n++];
    }
    if (vips_image_get_bands(cur) > bands) {
        if (vips_extract_band(cur, &t[n], 0, "n", bands, NULL))
            goto out;
        cur = t[n++];
    } else if (vips_image_get_bands(cur) < bands) {
        if (vips_bandjoin_const1(cur, &t[n], 255, NULL))
            goto out;
        cur = t[n++];
    }
    g_object_ref(cur);
    out = cur;
out:
    for (int i = 0; i < n; i++)
        g_object_unref(t[i]);
    return out;
}

struct bmp_writer {
    VipsTarget *target;
    unsigned char *row; /* one padded BGR row */
    size_t stride;
};

/* vips_sink_disc hands over areas top to bottom, one at a time: each row as BGR, padded. */
static int bmp_write_area(VipsRegion *reg, VipsRect *area, void *a)
{
    struct bmp_writer *w = a;
    int ret = 0;

    tsan_acquire(w); /* runs on a libvips thread: see tsan.h */
    for (int y = area->top; y < VIPS_RECT_BOTTOM(area) && ret == 0; y++) {
        const unsigned char *p = VIPS_REGION_ADDR(reg, area->left, y);

        for (int x = 0; x < area->width; x++) {
            w->row[3 * x] = p[3 * x + 2];
            w->row[3 * x + 1] = p[3 * x + 1];
            w->row[3 * x + 2] = p[3 * x];
        }
        if (vips_target_write(w->target, w->row, w->stride) != 0)
            ret = -1;
    }
    tsan_release(w);
    return ret;
}

int save_bmp(VipsImage *img, VipsTarget *target)
{
    VipsImage *rgb = to_rgb8(img, 3);
    unsigned char hdr[BMP_HEADERS] = {0};
    struct bmp_writer w = {target, NULL, 0};
    int width, h, ret = -1;
    uint64_t total;

    if (rgb == NULL)
        return -1;
    width = vips_image_get_width(rgb);
    h = vips_image_get_height(rgb);
    w.stride = (size_t)(((uint64_t)width * 3 + 3) & ~(uint64_t)3); /* rows are padded to 4 bytes */
    total = BMP_HEADERS + (uint64_t)w.stride * (uint64_t)h;
    if (total > UINT32_MAX) {
        vips_error("bmpsave", "a %dx%d BMP exceeds the format's 4 GB", width, h);
        goto out;
    }
    hdr[0] = 'B';
    hdr[1] = 'M';
    le32(hdr + 2, (uint32_t)total);
    le32(hdr + 10, BMP_HEADERS);
    le32(hdr + 14, 40);
    le32(hdr + 18, (uint32_t)width);
    le32(hdr + 22, (uint32_t)-h); /* negative height: rows run top to bottom */
    le16(hdr + 26, 1);            /* planes */
    le16(hdr + 28, 24);           /* bits per pixel */
    le32(hdr + 30, 0);            /* BI_RGB */
    le32(hdr + 34, (uint32_t)(total - BMP_HEADERS));
    le32(hdr + 38, PELS_PER_METRE_72DPI);
    le32(hdr + 42, PELS_PER_METRE_72DPI);
    w.row = g_try_malloc0(w.stride);
    if (w.row == NULL) {
        vips_error("bmpsave", "out of memory");
        goto out;
    }
    /* vips_sink_disc: libvips' own savers' loop, with eval progress and kill checks. */
    if (vips_target_write(target, hdr, sizeof(hdr)) != 0)
        goto out;
    tsan_release(&w);
    ret = vips_sink_disc(rgb, bmp_write_area, &w);
    tsan_acquire(&w);
    if (ret != 0) {
        ret = -1;
        goto out;
    }
    ret = 0;
out:
    g_free(w.row);
    g_object_unref(rgb);
    return ret;
}

int save_ico(VipsImage *img, VipsTarget *target)
{
    VipsImage *rgba = NULL;
    void *png = NULL;
    size_t len = 0;
    unsigned char hdr[6 + 16] = {0};
    int w = vips_image_get_width(img), h = vips_image_get_height(img), ret = -1;

    if (w > ICO_MAX_SIDE || h > ICO_MAX_SIDE) {
        vips_error("icosave", "an icon is at most %d px a side, not %dx%d", ICO_MAX_SIDE, w, h);
        return -1;
    }
    rgba = to_rgb8(img, 4);
    if (rgba == NULL)
        return -1;
    if (vips_pngsave_buffer(rgba, &png, &len, "strip", TRUE, NULL) != 0)
        goto out;
    le16(hdr + 2, 1);                   /* type: icon */
    le16(hdr + 4, 1);                   /* one image */
    hdr[6] = (unsigned char)(w & 0xFF); /* 0 means 256 */
    hdr[7] = (unsigned char)(h & 0xFF);
    le16(hdr + 10, 1);  /* planes */
    le16(hdr + 12, 32); /* bits per pixel */
    le32(hdr + 14, (uint32_t)len);
    le32(hdr + 18, sizeof(hdr)); /* the PNG follows the directory */
    if (vips_target_write(target, hdr, sizeof(hdr)) != 0 ||
        vips_target_write(target, png, len) != 0)
        goto out;
    ret = 0;
out:
    g_free(png);
    g_object_unref(rgba);
    return ret;
}
