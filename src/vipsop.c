/*
 * vipsop.c: a request's error from the stage of the libvips call that
 * failed, and the per-request decode guard.
 *
 * Threads: the guard's generate function runs on libvips worker threads and
 * only sets an atomic flag; the request's thread reads it after the sink
 * returns. libvips' own buffer is read only through its locked calls.
 *
 * Orc's code memory. libvips compiles an Orc program when it builds some
 * operations (integer convolutions: blur, sharpen; morphology; reductions)
 * and frees it with the operation; with libvips' operation cache off, every
 * request does both. liborc 0.4.33 allocates code memory under its global
 * lock but frees it (orc_code_chunk_free, merging neighbouring chunks)
 * without, so a free in one request and a compile in another can corrupt
 * its chunk list and crash the process. imgfcgi defines the two entry points
 * libvips calls, orc_program_compile and orc_program_free (exported from the
 * executable, as cpugate.c's vips_sink_disc: the Makefile's EXPORT_LDFLAGS),
 * and runs both under one lock before calling liborc's. A binary that does
 * not export them calls liborc directly.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "vipsop.h"
#include "banned.h"

static pthread_mutex_t orc_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t orc_once = PTHREAD_ONCE_INIT;
static int (*orc_compile_next)(void *program);
static void (*orc_free_next)(void *program);

/* liborc's two functions; only libvips calls ours, and libvips links liborc. */
static void orc_find(void)
{
    void *c = dlsym(RTLD_NEXT, "orc_program_compile");
    void *f = dlsym(RTLD_NEXT, "orc_program_free");

    if (c == NULL || f == NULL)
        abort();
    memcpy(&orc_compile_next, &c, sizeof(c));
    memcpy(&orc_free_next, &f, sizeof(f));
}

/* liborc's own declarations take OrcProgram *; its header is not included. */
int orc_program_compile(void *program);
void orc_program_free(void *program);

int orc_program_compile(void *program)
{
    int ret;

    pthread_once(&orc_once, orc_find);
    pthread_mutex_lock(&orc_lock);
    ret = orc_compile_next(program);
    pthread_mutex_unlock(&orc_lock);
    return ret;
}

void orc_program_free(void *program)
{
    pthread_once(&orc_once, orc_find);
    pthread_mutex_lock(&orc_lock);
    orc_free_next(program);
    pthread_mutex_unlock(&orc_lock);
}

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
