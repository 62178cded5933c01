/*
 * autoq.h: autoquality (`aq`): the quality of a result chosen by encoding it
 * several times, within a bounded number of encodes and the deadline.
 *
 * Methods (docs/best-format.md): `size` looks for the highest quality in
 * [min, max] whose file fits the target bytes (max first, then min, then
 * bisection between them); `dssim` bisects [min, max] for a quality whose
 * DSSIM against the unencoded image (dssim.h) is within the allowed error of
 * the target, keeping the closest one tried; `ml` has no model here and
 * runs as `dssim`. Every encode goes through autoq_encode_once(), which
 * counts it against the request's budget and checks the deadline first.
 */
#ifndef IMGFCGI_AUTOQ_H
#define IMGFCGI_AUTOQ_H

#include <stdbool.h>
#include <stddef.h>

#include <vips/vips.h>

#include "config.h"
#include "deadline.h"
#include "imagetype.h"
#include "options.h"
#include "save.h"

/* What one request may still spend on encodes of its result. */
struct encode_budget {
    int left;                   /* encodes still allowed (IMGFCGI_MAX_ENCODES at start) */
    int used;                   /* encodes made */
    const struct deadline *dl;  /* borrowed; NULL = none */
    long long pixels;           /* pixels of the result, all frames: the encode-time bound */
    const struct save_opts *so; /* the request's encoder options (borrowed); NULL = settings' */
};

/* An encoded result held in memory. */
struct encoded {
    void *data; /* owned; g_free */
    size_t len;
    enum imgtype type;
    enum save_variant variant;
    int quality;
};

/* Frees e's bytes and zeroes it; a zeroed struct is fine. */
void encoded_release(struct encoded *e);

/* Moves src into dst (dst's old bytes freed); src is left empty. */
void encoded_move(struct encoded *dst, struct encoded *src);

/* Whether t's encoder takes a quality autoquality can search (JPEG, WebP, AVIF, HEIC, JPEG XL). */
bool autoq_format_has_quality(enum imgtype t);

/*
 * Whether autoquality runs for a result of type t and `pixels` pixels with
 * options po: a method other than none, t has a quality, no explicit
 * `quality` and no `max_bytes` in the options, and the result within
 * IMGPROXY_AUTOQUALITY_MAX_RESOLUTION.
 */
bool autoq_applies(const struct procopts *po, enum imgtype t, long long pixels);

/*
 * The quality range for t: the URL's min/max, else
 * IMGPROXY_AUTOQUALITY_FORMAT_MIN/MAX for t, else IMGPROXY_AUTOQUALITY_MIN/MAX;
 * *hi is raised to *lo when below it.
 */
void autoq_range(const struct procopts *po, enum imgtype t, int *lo, int *hi);

/* autoq_encode_once() result when the budget or the deadline allows no encode (none made). */
#define AUTOQ_NO_BUDGET 1

/*
 * Encodes img (borrowed) as t/v at quality q into *out (released first),
 * counting one encode. Returns 0; AUTOQ_NO_BUDGET when no encode is left or
 * the deadline would not leave time for it (encbound.h), nothing encoded;
 * -1 when the saver failed (libvips error set).
 */
int autoq_encode_once(VipsImage *img, enum imgtype t, enum save_variant v, int q, bool strip,
                      struct encode_budget *b, struct encoded *out)
    __attribute__((warn_unused_result));

/*
 * A search's view of encoding: probe(ctx, q, &metric) encodes at quality q
 * and gives the metric (bytes for size, DSSIM for dssim); it returns 0, or
 * AUTOQ_NO_BUDGET / a negative error, which ends the search.
 */
typedef int (*autoq_probe_fn)(void *ctx, int q, double *metric);

/*
 * Whether probe (qa, ma) is a better choice than (qb, mb) for method m and
 * target, allowed error err: for size, fitting (m <= target) beats not
 * fitting, then the higher quality among fitting ones and the lower among
 * the rest; for dssim, the smaller distance to the target (within err
 * counts as 0), then the lower quality.
 */
bool autoq_better(enum aq_method m, double target, double err, int qa, double ma, int qb,
                  double mb);

/*
 * Runs method m's search over [lo, hi] (see the top of this file) with
 * probe; *best_q is the best probe by autoq_better(), 0 when no probe ran.
 * Returns 0 when at least one probe ran (the search may have stopped early
 * on AUTOQ_NO_BUDGET), else what the first probe returned.
 */
int autoq_search(enum aq_method m, int lo, int hi, double target, double err, autoq_probe_fn probe,
                 void *ctx, int *best_q);

/*
 * Autoquality for img (borrowed; a memory image, so encodes do not recompute
 * it) as t/v: the search of po's method over autoq_range(), the result of
 * the best probe in *out. method_override (AQ_NONE = po's method) and
 * target_override (< 0 = po's target) let format:best run the size search
 * for max_bytes with the range [lo_override, hi_override] (0 = autoq_range()).
 * Returns 0, AUTOQ_NO_BUDGET (nothing encoded) or -1 (libvips error set).
 */
int autoq_run(VipsImage *img, enum imgtype t, enum save_variant v, const struct procopts *po,
              enum aq_method method_override, double target_override, int lo_override,
              int hi_override, bool strip, struct encode_budget *b, struct encoded *out)
    __attribute__((warn_unused_result));

#endif
