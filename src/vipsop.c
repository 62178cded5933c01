/*
 * vipsop.c: a request's error from the stage of the libvips call that
 * failed, and the per-request decode guard.
 *
 * Threads: the guard's generate function runs on libvips worker threads and
 * only sets an atomic flag; the request's thread reads it after the sink
 * returns. libvips' own buffer is read only through its locked calls.
 */
#include <glib.h>

#include "vipsop.h"
#include "banned.h"

void vipsop_decode_init(struct vipsop_decode *d)
{
    atomic_init(&d->failed, false);
}

bool vipsop_decode_failed(struct vipsop_decode *d)
{
    return atomic_load(&d->failed);
}

enum vipsop_stage vipsop_stage_after_load(struct vipsop_decode *d)
{
    return d != NULL && vipsop_decode_failed(d) ? VIPSOP_DECODE : VIPSOP_PROCESS;
}

/* Asks the loaded image for the pixels of out's region and shows them through. */
static int guard_gen(VipsRegion *out, void *seq, void *a, void *b, gboolean *stop)
{
    VipsRegion *ir = seq;
    struct vipsop_decode *d = b;

    (void)a;
    (void)stop;
    if (vips_region_prepare(ir, &out->valid) != 0) {
        atomic_store(&d->failed, true);
        return -1;
    }
    return vips_region_region(out, ir, &out->valid, out->valid.left, out->valid.top);
}

VipsImage *vipsop_decode_guard(struct vipsop_decode *d, VipsImage *in)
{
    VipsImage *out;

    if (in == NULL)
        return NULL;
    out = vips_image_new();
    if (vips_image_pipelinev(out, VIPS_DEMAND_STYLE_ANY, in, NULL) != 0 ||
        vips_image_generate(out, vips_start_one, guard_gen, vips_stop_one, in, d) != 0) {
        g_object_unref(out);
        vipsop_discard();
        return in;
    }
    /* out holds in from here: in goes when out closes. */
    vips_object_local(out, in);
    return out;
}

char *vipsop_error_text(void)
{
    char *msg = vips_error_buffer_copy();

    if (msg == NULL || msg[0] == '\0') {
        g_free(msg);
        return g_strdup("libvips error");
    }
    return g_strchomp(msg);
}

int vipsop_fail(struct errinfo *e, enum vipsop_stage stage, const char *what)
{
    int code = stage == VIPSOP_PROCESS ? ERR_INTERNAL : ERR_BROKEN_IMAGE;
    char *msg = vipsop_error_text();

    err_set(e, code, "%s: %s", what, msg);
    g_free(msg);
    return code;
}

void vipsop_discard(void)
{
    vips_error_clear();
}
