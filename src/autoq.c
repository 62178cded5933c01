/* autoq.c: autoquality searches over a bounded number of encodes. */
#include <math.h>
#include <string.h>

#include <vips/vips.h>

#include "autoq.h"
#include "dssim.h"
#include "encbound.h"
#include "log.h"
#include "vipsop.h"
#include "banned.h"

void encoded_release(struct encoded *e)
{
    g_free(e->data);
    memset(e, 0, sizeof(*e));
}

void encoded_move(struct encoded *dst, struct encoded *src)
{
    if (dst == src)
        return;
    encoded_release(dst);
    *dst = *src;
    memset(src, 0, sizeof(*src));
}

bool autoq_format_has_quality(enum imgtype t)
{
    return t == IMGTYPE_JPEG || t == IMGTYPE_WEBP || t == IMGTYPE_AVIF || t == IMGTYPE_HEIC ||
           t == IMGTYPE_JXL;
}

bool autoq_applies(const struct procopts *po, enum imgtype t, long long pixels)
{
    if (po->aq_method == AQ_NONE || po->quality > 0 || po->max_bytes > 0)
        return false;
    if (!autoq_format_has_quality(t))
        return false;
    /*
     * dssim decodes each attempt, and libvips 8.14 counts its JPEG XL loader
     * as untrusted (imgfcgi keeps it blocked): JPEG XL results keep their quality.
     */
    if (po->aq_method != AQ_SIZE && t == IMGTYPE_JXL)
        return false;
    return cfg.autoquality_max_resolution <= 0 || pixels <= cfg.autoquality_max_resolution;
}

void autoq_range(const struct procopts *po, enum imgtype t, int *lo, int *hi)
{
    bool known = t > IMGTYPE_UNKNOWN && t < IMGTYPE_COUNT;

    *lo = po->aq_min > 0                               ? po->aq_min
          : known && cfg.autoquality_format_min[t] > 0 ? cfg.autoquality_format_min[t]
                                                       : cfg.autoquality_min;
    *hi = po->aq_max > 0                               ? po->aq_max
          : known && cfg.autoquality_format_max[t] > 0 ? cfg.autoquality_format_max[t]
                                                       : cfg.autoquality_max;
    if (*hi < *lo)
        *hi = *lo;
}

int autoq_encode_once(VipsImage *img, enum imgtype t, enum save_variant v, int q, bool strip,
                      struct encode_budget *b, struct encoded *out)
{
    encoded_release(out);
    if (b->left <= 0)
        return AUTOQ_NO_BUDGET;
    if (b->dl != NULL && (deadline_passed(b->dl) ||
                          !encbound_fits(t, b->pixels, deadline_left_ms(b->dl, deadline_now_ms()))))
        return AUTOQ_NO_BUDGET;
    b->left--;
    b->used++;
    if (save_to_memory(img, t, q, strip, v, b->so, &out->data, &out->len) != 0)
        return -1;
    out->type = t;
    out->variant = v;
    out->quality = q;
    return 0;
}

bool autoq_better(enum aq_method m, double target, double err, int qa, double ma, int qb, double mb)
{
    if (m == AQ_SIZE) {
        bool fa = ma <= target, fb = mb <= target;

        if (fa != fb)
            return fa;
        return fa ? qa > qb : qa < qb;
    } else {
        double da = fabs(ma - target), db = fabs(mb - target);

        if (da <= err)
            da = 0;
        if (db <= err)
            db = 0;
        if (da != db)
            return da < db;
        return qa < qb;
    }
}

/* The search state: the best probe so far and how the first failed probe ended. */
struct search {
    enum aq_method m;
    double target, err;
    autoq_probe_fn probe;
    void *ctx;
    int best_q;
    double best_metric;
    int ran;
    int stop; /* the return of the probe that ended the search, else 0 */
};

/* Probes q; false when the search must end (no budget, an error). */
static bool probe_at(struct search *s, int q, double *metric)
{
    int r = s->probe(s->ctx, q, metric);

    if (r != 0) {
        s->stop = r;
        return false;
    }
    s->ran++;
    if (s->best_q == 0 ||
        autoq_better(s->m, s->target, s->err, q, *metric, s->best_q, s->best_metric)) {
        s->best_q = q;
        s->best_metric = *metric;
    }
    return true;
}

/* size: max first (fits: done), min next (too big: done), then bisect between them. */
static void search_size(struct search *s, int lo, int hi)
{
    double v;
    int l, h;

    if (!probe_at(s, hi, &v) || v <= s->target || lo >= hi)
        return;
    if (!probe_at(s, lo, &v) || v > s->target)
        return;
    /* lo fits and hi does not: the highest fitting quality is in [lo, hi - 1]. */
    l = lo + 1;
    h = hi - 1;
    while (l <= h) {
        int mid = (l + h + 1) / 2;

        if (!probe_at(s, mid, &v))
            return;
        if (v <= s->target)
            l = mid + 1;
        else
            h = mid - 1;
    }
}

/* dssim: bisection on a DSSIM that falls as the quality rises; stops within the allowed error. */
static void search_dssim(struct search *s, int lo, int hi)
{
    int l = lo, h = hi;

    while (l <= h) {
        int mid = (l + h) / 2;
        double v;

        if (!probe_at(s, mid, &v))
            return;
        if (fabs(v - s->target) <= s->err)
            return;
        if (v > s->target)
            l = mid + 1;
        else
            h = mid - 1;
    }
}

int autoq_search(enum aq_method m, int lo, int hi, double target, double err, autoq_probe_fn probe,
                 void *ctx, int *best_q)
{
    struct search s = {.m = m, .target = target, .err = err, .probe = probe, .ctx = ctx};

    if (hi < lo)
        hi = lo;
    if (m == AQ_SIZE)
        search_size(&s, lo, hi);
    else
        search_dssim(&s, lo, hi);
    *best_q = s.best_q;
    return s.ran > 0 ? 0 : s.stop;
}

/* What autoq_run()'s probes need, and the best result so far. */
struct probe_ctx {
    VipsImage *img;
    enum imgtype t;
    enum save_variant v;
    bool strip;
    struct encode_budget *b;
    enum aq_method m;
    double target, err;
    struct dssim_image ref;
    struct encoded best;
    double best_metric;
};

/* The DSSIM of an encoded attempt against the reference; -1 or -2 (deadline) on failure. */
static double attempt_dssim(struct probe_ctx *c, const struct encoded *e)
{
    VipsImage *dec = vips_image_new_from_buffer(e->data, e->len, "", NULL);
    double d;

    if (dec == NULL)
        return -1;
    d = dssim_compare(&c->ref, dec, c->b->dl);
    g_object_unref(dec);
    return d;
}

static int probe_encode(void *vctx, int q, double *metric)
{
    struct probe_ctx *c = vctx;
    struct encoded cur = {0};
    int r = autoq_encode_once(c->img, c->t, c->v, q, c->strip, c->b, &cur);

    if (r != 0)
        return r;
    if (c->m == AQ_SIZE) {
        *metric = (double)cur.len;
    } else {
        *metric = attempt_dssim(c, &cur);
        if (*metric < 0) {
            encoded_release(&cur);
            /* The deadline passed while comparing: stop with what there is. */
            return *metric == -2 ? AUTOQ_NO_BUDGET : -1;
        }
    }
    if (c->m == AQ_SIZE)
        log_debug("autoquality: %s q=%d: %zu bytes", imagetype_name(c->t), q, cur.len);
    else
        log_debug("autoquality: %s q=%d: %zu bytes, dssim %.5f", imagetype_name(c->t), q, cur.len,
                  *metric);
    if (c->best.data == NULL ||
        autoq_better(c->m, c->target, c->err, q, *metric, c->best.quality, c->best_metric)) {
        encoded_move(&c->best, &cur);
        c->best_metric = *metric;
    }
    encoded_release(&cur);
    return 0;
}

int autoq_run(VipsImage *img, enum imgtype t, enum save_variant v, const struct procopts *po,
              enum aq_method method_override, double target_override, int lo_override,
              int hi_override, bool strip, struct encode_budget *b, struct encoded *out)
{
    struct probe_ctx c = {.img = img, .t = t, .v = v, .strip = strip, .b = b};
    int lo, hi, best_q = 0, r;

    c.m = method_override != AQ_NONE ? method_override : (enum aq_method)po->aq_method;
    if (c.m == AQ_ML) /* no model is loaded: the documented fallback */
        c.m = AQ_DSSIM;
    c.target = target_override >= 0 ? target_override : po->aq_target;
    c.err = po->aq_allowed_error;
    autoq_range(po, t, &lo, &hi);
    if (lo_override > 0)
        lo = lo_override;
    if (hi_override > 0)
        hi = hi_override;
    if (hi < lo)
        hi = lo;
    if (c.m == AQ_DSSIM && dssim_image_init(&c.ref, img) != 0) {
        /* Too small to measure (or not comparable): the highest quality allowed. */
        vipsop_discard();
        log_debug("autoquality: no DSSIM for a %dx%d result: quality %d", vips_image_get_width(img),
                  vips_image_get_height(img), hi);
        return autoq_encode_once(img, t, v, hi, strip, b, out);
    }
    r = autoq_search(c.m, lo, hi, c.target, c.err, probe_encode, &c, &best_q);
    dssim_image_release(&c.ref);
    if (r != 0 || c.best.data == NULL) {
        encoded_release(&c.best);
        return r != 0 ? r : -1;
    }
    log_debug("autoquality: %s %s target %g in q %d..%d: q=%d, %zu bytes, %d encodes",
              c.m == AQ_SIZE ? "size" : "dssim", imagetype_name(t), c.target, lo, hi,
              c.best.quality, c.best.len, b->used);
    encoded_move(out, &c.best);
    return 0;
}
