/* memimage.c: memory images whose pixels are not cleared first. */
#include "memimage.h"
#include "banned.h"

/* The "postclose" handler of a memimage_new() image: frees its pixels. */
static void free_pixels(VipsImage *img, void *data)
{
    (void)img;
    g_free(data);
}

VipsImage *memimage_new(const VipsImage *like, int w, int h)
{
    size_t size = 0;
    void *data;
    VipsImage *img;

    if (w <= 0 || h <= 0 || __builtin_mul_overflow((size_t)w, (size_t)h, &size) ||
        __builtin_mul_overflow(size, (size_t)VIPS_IMAGE_SIZEOF_PEL(like), &size)) {
        vips_error("memimage", "%d x %d pixels: no such memory image", w, h);
        return NULL;
    }
    data = g_try_malloc(size);
    if (data == NULL) {
        vips_error("memimage", "out of memory: %zu bytes", size);
        return NULL;
    }
    img = vips_image_new_from_memory(data, size, w, h, like->Bands, like->BandFmt);
    if (img == NULL) {
        g_free(data);
        return NULL;
    }
    g_signal_connect(img, "postclose", G_CALLBACK(free_pixels), data);
    return img;
}

VipsImage *memimage_copy(VipsImage *in)
{
    VipsImage *out;

    switch (in->dtype) {
    case VIPS_IMAGE_SETBUF:
    case VIPS_IMAGE_SETBUF_FOREIGN:
    case VIPS_IMAGE_MMAPIN:
    case VIPS_IMAGE_MMAPINRW:
        g_object_ref(in);
        return in;
    case VIPS_IMAGE_OPENIN:
    case VIPS_IMAGE_OPENOUT:
    case VIPS_IMAGE_PARTIAL:
        break;
    default:
        vips_error("memimage", "%s", "image not readable");
        return NULL;
    }
    out = memimage_new(in, in->Xsize, in->Ysize);
    if (out != NULL && vips_image_write(in, out) != 0) {
        g_object_unref(out);
        out = NULL;
    }
    return out;
}
