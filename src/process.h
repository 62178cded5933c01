/* process.h: the libvips pipeline, from source bytes to an encoded stream. */
#ifndef IMGFCGI_PROCESS_H
#define IMGFCGI_PROCESS_H

#include <stddef.h>

#include <vips/vips.h>

#include "deadline.h"
#include "errors.h"
#include "imagetype.h"
#include "options.h"

/* Writes len bytes of encoded output; returns 0, or -1 to stop (client gone). */
typedef int (*process_write_fn)(void *ctx, const void *data, size_t len);

struct process_info {
    enum imgtype src_type, out_type;
    int src_w, src_h; /* as stored in the source */
    int out_w, out_h;
};

/* A pipeline built but not yet run: holds libvips images. */
struct process_job;

/*
 * Starts libvips (once, from main, before any thread): operation cache off,
 * IMGFCGI_VIPS_CONCURRENCY threads per pipeline. Returns 0 or -1.
 */
int process_global_init(const char *argv0) __attribute__((warn_unused_result));
void process_global_shutdown(void);

/*
 * Builds the pipeline for the source (data/len, borrowed: it must stay alive
 * and unchanged until process_job_free()) of type src_type, options po and
 * the client's Accept header (may be NULL). The pipelines chained after po
 * (po->next, options.h) run in turn on its result, in the same libvips graph. Reads only the
 * header: no pixel is decoded yet, except where a step needs the whole image (rotation, trim, smart
 * crop, filters). Fills info (out_type, out sizes). dl (copied; NULL = none) is the request's
 * deadline: pixel work here and in process_save() stops once it has passed (see watch.h). On
 * success *job is set and the caller frees it with process_job_free(). Returns 0 or
 * ERR_SOURCE_TYPE, ERR_BROKEN_IMAGE, ERR_UNSAVEABLE, ERR_TIMEOUT, ERR_INTERNAL recorded in e.
 */
int process_prepare(struct process_job **job, const unsigned char *data, size_t len,
                    enum imgtype src_type, const struct procopts *po, const char *accept,
                    const struct deadline *dl, struct process_info *info, struct errinfo *e)
    __attribute__((warn_unused_result));

/*
 * Opens the source as process_prepare() does first (a header-only load:
 * nothing is decoded), for a caller that needs its header before (the
 * memory estimate). Returns a new reference, or NULL with the load's
 * failure recorded in e.
 */
VipsImage *process_open(const unsigned char *data, size_t len, enum imgtype src_type,
                        const struct procopts *po, struct errinfo *e);

/*
 * process_prepare() on a source already opened by process_open() from the
 * same bytes (borrowed; NULL: it opens the source itself), so the header is
 * read once.
 */
int process_prepare_opened(struct process_job **job, VipsImage *opened, const unsigned char *data,
                           size_t len, enum imgtype src_type, const struct procopts *po,
                           const char *accept, const struct deadline *dl, struct process_info *info,
                           struct errinfo *e) __attribute__((warn_unused_result));

/*
 * Runs the pipeline and the saver, calling write as encoded bytes come out
 * (PNG, BMP, and JPEG results over 1 MP, while rows are computed; smaller
 * JPEGs, whose Huffman tables are optimised, and WebP, AVIF, GIF, TIFF, ICO at
 * the end).
 * The first failed write stops the pipeline (ERR_CANCELLED); so does the
 * job's deadline, at the next tile, or before the first byte is written
 * when an encoder ran past it (ERR_TIMEOUT: how many bytes were already
 * written is in the message). Returns 0, ERR_CANCELLED, ERR_TIMEOUT,
 * ERR_BROKEN_IMAGE or ERR_INTERNAL.
 */
int process_save(struct process_job *job, process_write_fn write, void *ctx, struct errinfo *e)
    __attribute__((warn_unused_result));

/* Frees the job and every image it holds; NULL is a no-op. */
void process_job_free(struct process_job *job);

/*
 * Call at the end of every request on the thread that ran it: frees
 * libvips' per-thread buffers. (libvips' error buffer is shared by every
 * thread and is left alone: a request's error never depends on it.)
 */
void process_thread_cleanup(void);

/* Health check: makes a 4x4 image and copies it to memory. 0 or -1. */
int process_health(void);

#endif
