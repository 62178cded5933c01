/*
 * orient.c: turns and flips applied while an image is written to memory.
 *
 * vips_rot and a top-bottom flip read their input out of order, so a
 * streamed pipeline (a sequential loader, a resampler's line caches) has to
 * be copied to memory first, and the turn then reads that copy a pixel at a
 * time into a second image. Here vips_sink computes the pipeline once, tile
 * by tile in order, and the thread that computed a tile, while it is still
 * in that thread's cache, puts its pixels at their turned places in the one
 * memory image: no second pass and no second image. A transposing copy goes
 * in blocks of ORIENT_BLOCK columns, so that the lines it writes to stay in
 * cache.
 */
#include <stddef.h>
#include <string.h>

#include "memimage.h"
#include "orient.h"
#include "tsan.h"
#include "watch.h"
#include "banned.h"

#define ORIENT_BLOCK 32

void orient_map_init(struct orient_map *m, int w, int h)
{
    *m = (struct orient_map){1, 0, 0, 0, 1, 0, w, h};
}

/*
 * m followed by the move of (X, Y) to (xx * X + xy * Y + x0, yx * X + yy * Y + y0);
 * swap: it exchanges the sides.
 */
static void then(struct orient_map *m, int xx, int xy, int x0, int yx, int yy, int y0, bool swap)
{
    struct orient_map o = *m;

    m->ax = xx * o.ax + xy * o.ay;
    m->bx = xx * o.bx + xy * o.by;
    m->cx = xx * o.cx + xy * o.cy + x0;
    m->ay = yx * o.ax + yy * o.ay;
    m->by = yx * o.bx + yy * o.by;
    m->cy = yx * o.cx + yy * o.cy + y0;
    if (swap) {
        m->w = o.h;
        m->h = o.w;
    }
}

void orient_map_rotate(struct orient_map *m, int angle)
{
    switch (((angle % 360) + 360) % 360) {
    case 90: /* (X, Y) -> (h - 1 - Y, X) */
        then(m, 0, -1, m->h - 1, 1, 0, 0, true);
        break;
    case 180: /* (X, Y) -> (w - 1 - X, h - 1 - Y) */
        then(m, -1, 0, m->w - 1, 0, -1, m->h - 1, false);
        break;
    case 270: /* (X, Y) -> (Y, w - 1 - X) */
        then(m, 0, 1, 0, -1, 0, m->w - 1, true);
        break;
    default:
        break;
    }
}

void orient_map_flip(struct orient_map *m, bool horizontal)
{
    if (horizontal)
        then(m, -1, 0, m->w - 1, 0, 1, 0, false);
    else
        then(m, 1, 0, 0, 0, -1, m->h - 1, false);
}

bool orient_map_is_identity(const struct orient_map *m)
{
    return m->ax == 1 && m->bx == 0 && m->cx == 0 && m->ay == 0 && m->by == 1 && m->cy == 0;
}

struct writer {
    VipsPel *origin;  /* where source pixel (0, 0) lands */
    ptrdiff_t step_x; /* bytes between the places of (x, y) and (x + 1, y) */
    ptrdiff_t step_y; /* and of (x, y) and (x, y + 1) */
    size_t ps;        /* bytes per pixel */
};

/* n pixels of ps bytes from p (contiguous) to q, q + step, q + 2 step, ... */
static void scatter(VipsPel *q, ptrdiff_t step, const VipsPel *p, size_t ps, int n)
{
    int i;

#define SCATTER(size)                                                                              \
    for (i = 0; i < n; i++)                                                                        \
        memcpy(q + i * step, p + (size_t)i * (size), (size));                                      \
    break
    switch (ps) {
    case 1:
        SCATTER(1);
    case 2:
        SCATTER(2);
    case 3:
        SCATTER(3);
    case 4:
        SCATTER(4);
    case 6:
        SCATTER(6);
    case 8:
        SCATTER(8);
    case 12:
        SCATTER(12);
    case 16:
        SCATTER(16);
    default:
        SCATTER(ps);
    }
#undef SCATTER
}

/* vips_sink's callback, on the thread that computed the tile region->valid. */
static int write_tile(VipsRegion *region, void *seq, void *a, void *b, gboolean *stop)
{
    const struct writer *wr = a;
    const VipsRect *area = &region->valid;
    int bottom = area->top + area->height, right = area->left + area->width, x0, y;

    (void)seq;
    (void)b;
    (void)stop;
    tsan_acquire(a); /* runs on a libvips thread: see tsan.h */
    if ((size_t)wr->step_x == wr->ps) {
        for (y = area->top; y < bottom; y++)
            memcpy(wr->origin + y * wr->step_y + area->left * wr->step_x,
                   VIPS_REGION_ADDR(region, area->left, y), (size_t)area->width * wr->ps);
    } else {
        /* Columns in blocks: the block's destination lines stay in cache across its rows. */
        for (x0 = area->left; x0 < right; x0 += ORIENT_BLOCK)
            for (y = area->top; y < bottom; y++)
                scatter(wr->origin + y * wr->step_y + x0 * wr->step_x, wr->step_x,
                        VIPS_REGION_ADDR(region, x0, y), wr->ps,
                        right - x0 < ORIENT_BLOCK ? right - x0 : ORIENT_BLOCK);
    }
    tsan_release(a);
    return 0;
}

VipsImage *orient_to_memory(VipsImage *in, const struct orient_map *m)
{
    struct watch *w = watch_of(in);
    VipsImage *out = memimage_new(in, m->w, m->h); /* every pixel is written below */
    struct writer wr;
    ptrdiff_t ps, ls;
    int ret;

    if (out == NULL)
        return NULL;
    /*
     * The header and metadata of in, as an operation's output has them. The
     * progress reports in passed on are its own, made while it is computed
     * below; out, complete by then, reports for the images made from it.
     */
    if (vips_image_pipelinev(out, VIPS_DEMAND_STYLE_THINSTRIP, in, NULL) != 0)
        goto fail;
    out->progress_signal = NULL;
    out->Xsize = m->w;
    out->Ysize = m->h;
    ps = (ptrdiff_t)VIPS_IMAGE_SIZEOF_PEL(out);
    ls = (ptrdiff_t)VIPS_IMAGE_SIZEOF_LINE(out);
    wr.origin = (VipsPel *)out->data + m->cx * ps + m->cy * ls;
    wr.step_x = m->ax * ps + m->ay * ls;
    wr.step_y = m->bx * ps + m->by * ls;
    wr.ps = (size_t)ps;
    tsan_release(&wr);
    ret = vips_sink(in, NULL, write_tile, NULL, &wr, NULL);
    tsan_acquire(&wr);
    if (ret != 0)
        goto fail;
    return watch_attach(w, out);
fail:
    g_object_unref(out);
    return NULL;
}
