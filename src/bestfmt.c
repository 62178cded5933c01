/* bestfmt.c: format:best: candidates by complexity, each encoded, the smallest kept. */
#include <math.h>
#include <string.h>

#include <vips/vips.h>

#include "bestfmt.h"
#include "config.h"
#include "log.h"
#include "vipsop.h"
#include "banned.h"

/* The complexity is measured on at most about this many pixels. */
#define COMPLEXITY_PIXELS 1000000.0

bool bestfmt_wanted(const struct procopts *po)
{
    return po->best_format && po->format == IMGTYPE_UNKNOWN;
}

static bool accepts(const char *accept, const char *mime)
{
    return accept == NULL || strstr(accept, mime) != NULL;
}

static void add_format(enum imgtype *out, size_t *n, size_t max, enum imgtype t)
{
    for (size_t i = 0; i < *n; i++)
        if (out[i] == t)
            return;
    if (*n < max)
        out[(*n)++] = t;
}

size_t bestfmt_formats(const char *accept, enum imgtype *out, size_t max)
{
    size_t n = 0;

    if ((cfg.auto_jxl || cfg.enforce_jxl) && accepts(accept, "image/jxl"))
        add_format(out, &n, max, IMGTYPE_JXL);
    if ((cfg.auto_avif || cfg.enforce_avif) && accepts(accept, "image/avif"))
        add_format(out, &n, max, IMGTYPE_AVIF);
    if ((cfg.auto_webp || cfg.enforce_webp) && accepts(accept, "image/webp"))
        add_format(out, &n, max, IMGTYPE_WEBP);
    for (size_t i = 0; i < cfg.npreferred_formats; i++)
        add_format(out, &n, max, cfg.preferred_formats[i]);
    return n;
}

/* Mean |a - b| of two same-size one-band images. */
static int mean_abs_diff(VipsImage *a, VipsImage *b, double *out)
{
    VipsImage *d = NULL, *ab = NULL;
    int r = -1;

    if (vips_subtract(a, b, &d, NULL) == 0 && vips_abs(d, &ab, NULL) == 0 &&
        vips_avg(ab, out, NULL) == 0)
        r = 0;
    if (ab != NULL)
        g_object_unref(ab);
    if (d != NULL)
        g_object_unref(d);
    return r;
}

double bestfmt_complexity(VipsImage *img)
{
    VipsImage *t[7] = {NULL};
    int bands = vips_image_get_bands(img) - (vips_image_hasalpha(img) ? 1 : 0);
    int w = vips_image_get_width(img), h = vips_image_get_height(img);
    double px = (double)w * h, dx = 0, dy = 0, result = -1;
    int step = px > COMPLEXITY_PIXELS ? (int)ceil(sqrt(px / COMPLEXITY_PIXELS)) : 1;
    VipsImage *luma;

    if (bands != 1 && bands != 3) {
        vips_error("bestfmt", "no complexity for %d colour bands", bands);
        return -1;
    }
    if (vips_extract_band(img, &t[0], 0, "n", bands, NULL) || vips_cast_float(t[0], &t[1], NULL))
        goto out;
    if (bands == 3) {
        VipsImage *m = vips_image_new_matrixv(3, 1, 0.2126, 0.7152, 0.0722);

        if (m == NULL)
            goto out;
        if (vips_recomb(t[1], &t[2], m, NULL)) {
            g_object_unref(m);
            goto out;
        }
        g_object_unref(m);
    } else {
        g_object_ref(t[1]);
        t[2] = t[1];
    }
    luma = t[2];
    if (step > 1) {
        if (vips_subsample(t[2], &t[3], step, step, NULL))
            goto out;
        luma = t[3];
    }
    w = vips_image_get_width(luma);
    h = vips_image_get_height(luma);
    if (w < 2 || h < 2) {
        result = 0;
        goto out;
    }
    /* The sample is small: compute it once instead of once per difference. */
    t[4] = vips_image_copy_memory(luma);
    if (t[4] == NULL)
        goto out;
    {
        VipsImage *l = NULL, *r = NULL, *u = NULL, *d = NULL;
        int fail = vips_extract_area(t[4], &l, 0, 0, w - 1, h, NULL) ||
                   vips_extract_area(t[4], &r, 1, 0, w - 1, h, NULL) ||
                   vips_extract_area(t[4], &u, 0, 0, w, h - 1, NULL) ||
                   vips_extract_area(t[4], &d, 0, 1, w, h - 1, NULL) || mean_abs_diff(l, r, &dx) ||
                   mean_abs_diff(u, d, &dy);

        VipsImage *parts[] = {l, r, u, d};

        for (size_t i = 0; i < 4; i++)
            if (parts[i] != NULL)
                g_object_unref(parts[i]);
        if (fail)
            goto out;
    }
    result = (dx + dy) / 2.0;
out:
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (t[i] != NULL)
            g_object_unref(t[i]);
    return result;
}

static void add_candidate(struct bestfmt_candidate *out, size_t *n, enum imgtype t,
                          enum save_variant v, bool lossless)
{
    if (*n < BESTFMT_MAX_CANDIDATES)
        out[(*n)++] = (struct bestfmt_candidate){t, v, lossless};
}

/* Whether a w x h frame fits t's side limits (save_fit_limits()) and AVIF's 16 px minimum. */
static bool size_fits(enum imgtype t, int w, int h)
{
    int nw, nh;

    if (t == IMGTYPE_AVIF && (w < 16 || h < 16))
        return false;
    return !save_fit_limits(t, w, h, &nw, &nh);
}

/* Every candidate of the formats, before the complexity picks lossless or lossy ones. */
static size_t all_candidates(const enum imgtype *formats, size_t n, bool alpha, bool animated,
                             int w, int h, bool palette, struct bestfmt_candidate *out)
{
    size_t c = 0;

    for (size_t i = 0; i < n; i++) {
        enum imgtype t = formats[i];

        if (!size_fits(t, w, h) || (alpha && !imagetype_supports_alpha(t)))
            continue;
        switch (t) {
        case IMGTYPE_JPEG:
        case IMGTYPE_AVIF:
        case IMGTYPE_JXL:
        case IMGTYPE_HEIC:
            if (!animated)
                add_candidate(out, &c, t, SAVE_PLAIN, false);
            break;
        case IMGTYPE_PNG:
            if (animated)
                break;
            add_candidate(out, &c, t, SAVE_PLAIN, true);
            if (palette)
                add_candidate(out, &c, t, SAVE_PALETTE, true);
            break;
        case IMGTYPE_WEBP:
            add_candidate(out, &c, t, SAVE_PLAIN, false);
            add_candidate(out, &c, t, SAVE_LOSSLESS, true);
            break;
        case IMGTYPE_GIF:
            /* A palette of 256: lossless only for the few images that fit; kept for animations. */
            if (animated)
                add_candidate(out, &c, t, SAVE_PLAIN, true);
            break;
        default:
            break;
        }
    }
    return c;
}

size_t bestfmt_candidates(const enum imgtype *formats, size_t n, bool alpha, bool animated, int w,
                          int h, double complexity, struct bestfmt_candidate *out)
{
    struct bestfmt_candidate all[BESTFMT_MAX_CANDIDATES];
    bool measured = complexity >= 0;
    size_t na = all_candidates(formats, n, alpha, animated, w, h,
                               measured && complexity < BESTFMT_VERY_SIMPLE, all);
    bool simple = measured && complexity < cfg.best_format_complexity_threshold;
    size_t c = 0;

    for (size_t i = 0; i < na; i++) {
        /* GIF stays on both sides: it is the one other format an animation has. */
        if (!measured || all[i].lossless == simple || all[i].type == IMGTYPE_GIF)
            out[c++] = all[i];
    }
    if (c == 0) {
        memcpy(out, all, na * sizeof(all[0]));
        c = na;
    }
    return c;
}

static const char *variant_name(enum save_variant v)
{
    return v == SAVE_LOSSLESS ? " lossless" : v == SAVE_PALETTE ? " palette" : "";
}

/* The winner tuned by autoquality or fitted to max_bytes; it stays as it is when neither runs. */
static void tune(VipsImage *img, const struct procopts *po, bool strip, struct encode_budget *b,
                 struct encoded *best)
{
    struct encoded tuned = {0};
    int r;

    if (best->variant != SAVE_PLAIN || !autoq_format_has_quality(best->type))
        return;
    if (autoq_applies(po, best->type, b->pixels))
        r = autoq_run(img, best->type, SAVE_PLAIN, po, AQ_NONE, -1, 0, 0, strip, b, &tuned);
    else if (po->max_bytes > 0 && best->len > (size_t)po->max_bytes)
        /* max_bytes: the size search from the winner's quality down to 10, as imgproxy's floor. */
        r = autoq_run(img, best->type, SAVE_PLAIN, po, AQ_SIZE, (double)po->max_bytes, 10,
                      best->quality, strip, b, &tuned);
    else
        return;
    if (r == 0) {
        encoded_move(best, &tuned);
        return;
    }
    if (r < 0)
        vipsop_discard();
    log_debug("best format: %s keeps quality %d (%s)", imagetype_name(best->type), best->quality,
              r < 0 ? "an encode failed" : "no encode left");
}

int bestfmt_encode(VipsImage *img, const struct procopts *po, const char *accept, bool animated,
                   bool strip, enum imgtype fallback, struct encode_budget *b, struct encoded *out)
{
    enum imgtype formats[IMGTYPE_COUNT + 3];
    struct bestfmt_candidate cand[BESTFMT_MAX_CANDIDATES];
    struct encoded best = {0}, cur = {0};
    int w = vips_image_get_width(img), h = vips_image_get_page_height(img);
    size_t nf = bestfmt_formats(accept, formats, sizeof(formats) / sizeof(formats[0])), n;
    bool over =
        cfg.best_format_max_resolution > 0 && (long long)w * h > cfg.best_format_max_resolution;
    double complexity = -1;
    bool failed = false;

    if (cfg.best_format_complexity_threshold > 0 || over) {
        complexity = bestfmt_complexity(img);
        if (complexity < 0)
            vipsop_discard(); /* not measured: every candidate */
    }
    n = bestfmt_candidates(formats, nf, vips_image_hasalpha(img), animated, w, h,
                           cfg.best_format_complexity_threshold > 0 || over ? complexity : -1,
                           cand);
    if (n == 0) {
        cand[0] = (struct bestfmt_candidate){fallback, SAVE_PLAIN, false};
        n = 1;
    }
    if (over)
        n = 1; /* one format, picked by complexity, for results this large */
    for (size_t i = 0; i < n; i++) {
        int q = options_quality(po, cand[i].type);
        int r = autoq_encode_once(img, cand[i].type, cand[i].variant, q, strip, b, &cur);

        if (r == AUTOQ_NO_BUDGET) {
            log_debug("best format: no encode left for %s%s", imagetype_name(cand[i].type),
                      variant_name(cand[i].variant));
            continue; /* a cheaper encoder later in the list may still fit the deadline */
        }
        if (r < 0) {
            failed = true;
            log_debug("best format: candidate %s%s failed", imagetype_name(cand[i].type),
                      variant_name(cand[i].variant));
            vipsop_discard();
            continue;
        }
        log_debug("best format: candidate %s%s q=%d: %zu bytes", imagetype_name(cand[i].type),
                  variant_name(cand[i].variant), q, cur.len);
        if (best.data == NULL || cur.len < best.len)
            encoded_move(&best, &cur);
        encoded_release(&cur);
    }
    if (best.data == NULL) {
        if (failed)
            vips_error("bestfmt", "every candidate format failed to encode");
        return failed ? -1 : AUTOQ_NO_BUDGET;
    }
    log_debug("best format: %s%s, %zu bytes, of %zu candidates (complexity %.2f)",
              imagetype_name(best.type), variant_name(best.variant), best.len, n, complexity);
    tune(img, po, strip, b, &best);
    encoded_move(out, &best);
    return 0;
}
