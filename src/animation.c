/* animation.c: every frame of an animation through the pipeline, delays and loop kept. */
#include <stdlib.h>

#include "animation.h"
#include "banned.h"

#define DEFAULT_DELAY_MS 40

/*
 * libvips checks an image's links each time it makes a region on it: it looks
 * the image up in the list of images downstream of each of its inputs. Frames
 * all cut from the one strip make that list n long, and the work grows with
 * n^2 per region, which dominates for thousands of small frames. Frames are
 * cut from blocks of about sqrt(n) frames instead, which keeps every list
 * short.
 */
static int block_frames(int n)
{
    int b = 1;

    while (b * b < n)
        b++;
    return b;
}

int animation_map(VipsImage **imgp, int n, animation_frame_fn fn, void *ctx)
{
    VipsImage *in = *imgp, *out = NULL, *block = NULL;
    VipsImage **frames = NULL;
    int *delays = NULL, *src_delays = NULL, nsrc = 0, loop = 0, ret = -1;
    int w = vips_image_get_width(in), ph = vips_image_get_page_height(in);
    int per_block = block_frames(n);

    if (n < 1 || ph * n > vips_image_get_height(in)) {
        vips_error("animation", "%d frames of %d px do not fit the image", n, ph);
        return -1;
    }
    frames = calloc((size_t)n, sizeof(*frames));
    delays = calloc((size_t)n, sizeof(*delays));
    if (frames == NULL || delays == NULL) {
        vips_error("animation", "out of memory");
        goto out;
    }
    if (vips_image_get_typeof(in, "delay") &&
        vips_image_get_array_int(in, "delay", &src_delays, &nsrc) != 0)
        nsrc = 0;
    if (vips_image_get_typeof(in, "loop"))
        vips_image_get_int(in, "loop", &loop);
    for (int i = 0; i < n; i++) {
        delays[i] = i < nsrc && src_delays[i] > 0 ? src_delays[i] : DEFAULT_DELAY_MS;
        if (i % per_block == 0) {
            int k = n - i < per_block ? n - i : per_block;

            if (block != NULL)
                g_object_unref(block); /* its frames keep it alive */
            block = NULL;
            if (vips_extract_area(in, &block, 0, i * ph, w, k * ph, NULL))
                goto out;
        }
        if (vips_extract_area(block, &frames[i], 0, (i % per_block) * ph, w, ph, NULL))
            goto out;
        /* Each frame is one image: no strip metadata inside the pipeline. */
        vips_image_remove(frames[i], VIPS_META_PAGE_HEIGHT);
        vips_image_remove(frames[i], VIPS_META_N_PAGES);
        ret = fn(&frames[i], ctx);
        if (ret != 0)
            goto out;
        ret = -1;
        if (i > 0 && (vips_image_get_width(frames[i]) != vips_image_get_width(frames[0]) ||
                      vips_image_get_height(frames[i]) != vips_image_get_height(frames[0]) ||
                      vips_image_get_bands(frames[i]) != vips_image_get_bands(frames[0]))) {
            vips_error("animation", "frames came out in different sizes");
            goto out;
        }
    }
    if (vips_arrayjoin(frames, &out, n, "across", 1, NULL))
        goto out;
    vips_image_set_int(out, VIPS_META_PAGE_HEIGHT, vips_image_get_height(frames[0]));
    vips_image_set_int(out, VIPS_META_N_PAGES, n);
    vips_image_set_array_int(out, "delay", delays, n);
    vips_image_set_int(out, "loop", loop);
    /* gifsave reads the old single-value delay too; keep it consistent (centiseconds). */
    vips_image_set_int(out, "gif-delay", (delays[0] + 5) / 10);
    g_object_unref(in);
    *imgp = out;
    ret = 0;
out:
    if (block != NULL)
        g_object_unref(block);
    for (int i = 0; frames != NULL && i < n; i++)
        if (frames[i] != NULL)
            g_object_unref(frames[i]);
    free(frames);
    free(delays);
    return ret;
}
