/*
 * fuzz_loaders.c: libFuzzer target for libvips' JPEG XL (libjxl) and HEIF
 * (libheif: HEVC through libde265, AV1 through dav1d) loaders, the evidence
 * for which source formats imgfcgi reads (docs/formats.md).
 *
 * Input: byte 0 picks the loader (even: jxlload_buffer, odd:
 * heifload_buffer); the rest is the file. The header is read, and when the
 * image is at most 1 MP (imgfcgi refuses larger sources before decoding
 * them, IMGPROXY_MAX_SRC_RESOLUTION) every pixel is decoded to memory, as
 * the pipeline would. A loader error is an expected outcome; a crash, a
 * sanitizer report, a leak or a timeout is a finding.
 *
 * The loaders are called directly, so jxlload runs although imgfcgi keeps it
 * blocked with libvips' other untrusted loaders.
 */
#include <stdbool.h>
#include <stdlib.h>

#include <vips/vips.h>

#include "fuzzutil.h"

#define MAX_PIXELS (1000L * 1000L)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    if (VIPS_INIT((*argv)[0]) != 0)
        abort();
    vips_cache_set_max(0);
    vips_concurrency_set(1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    VipsImage *img = NULL, *mem;
    char *copy;
    int r;

    if (size < 2)
        return 0;
    copy = fuzz_dup(data + 1, size - 1);
    if (data[0] & 1)
        r = vips_heifload_buffer(copy, size - 1, &img, "access", VIPS_ACCESS_SEQUENTIAL, NULL);
    else
        r = vips_jxlload_buffer(copy, size - 1, &img, "access", VIPS_ACCESS_SEQUENTIAL, NULL);
    if (r == 0 && (long)vips_image_get_width(img) * vips_image_get_height(img) <= MAX_PIXELS) {
        mem = vips_image_copy_memory(img);
        if (mem != NULL)
            g_object_unref(mem);
    }
    if (img != NULL)
        g_object_unref(img);
    vips_error_clear();
    free(copy);
    return 0;
}
