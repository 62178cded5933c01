/*
 * chain.c: chained pipelines (imgproxy Pro's "-" separator). The segments of
 * a URL and of the presets it names are first spread over the pipelines
 * (presets expanded in place, their "-" parts going to the pipelines after),
 * then each pipeline's options are built from its own segments plus every
 * request-level segment of the others, in URL order.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "config.h"
#include "log.h"
#include "options.h"
#include "presets.h"
#include "banned.h"

/* One option segment of a chain, with where it came from. */
struct chain_seg {
    const char *s; /* borrowed: the URL's or a preset's */
    size_t len;
    bool url; /* from the URL: IMGPROXY_ALLOWED_PROCESSING_OPTIONS applies */
};

/* The segments of each pipeline, presets expanded, before any is applied. */
struct chain {
    struct chain_seg *segs[CHAIN_MAX_PIPELINES];
    size_t nsegs[CHAIN_MAX_PIPELINES];
    size_t n; /* pipelines */
    /* Presets expanded into each pipeline (the recursion guard), one bit per preset. */
    unsigned char used[CHAIN_MAX_PIPELINES][sizeof(((struct procopts *)0)->preset_used)];
    char sep;
    struct errinfo *e;
};

static void chain_release(struct chain *c)
{
    for (size_t i = 0; i < CHAIN_MAX_PIPELINES; i++)
        free(c->segs[i]);
}

/* Opens pipeline i (and those before it); ERR_INVALID_URL past CHAIN_MAX_PIPELINES. */
static int chain_reach(struct chain *c, size_t i)
{
    if (i >= CHAIN_MAX_PIPELINES)
        return err_set(c->e, ERR_INVALID_URL, "Invalid path: more than %d chained pipelines",
                       CHAIN_MAX_PIPELINES);
    if (c->n <= i)
        c->n = i + 1;
    return 0;
}

static int chain_add(struct chain *c, size_t pipe, const char *s, size_t len, bool url);

/*
 * Preset name/len at pipeline pipe: its k-th part (parts split by "-") goes
 * to pipeline pipe + k, where it stands now.
 */
static int chain_preset(struct chain *c, size_t pipe, const char *name, size_t len)
{
    const struct preset *p = presets_find(name, len);
    size_t k = 0;
    int idx;

    if (p == NULL)
        return err_set(c->e, ERR_INVALID_URL, "Unknown preset: %.*s", (int)len, name);
    idx = presets_index(p);
    if (idx >= 0 && (size_t)idx < sizeof(c->used[0]) * 8) {
        if (c->used[pipe][idx / 8] & (1u << (idx % 8))) {
            log_warn("Recursive preset usage is detected: %s", p->name);
            return 0;
        }
        c->used[pipe][idx / 8] |= (unsigned char)(1u << (idx % 8));
    }
    for (size_t i = 0; i < p->nsegments; i++) {
        const char *seg = p->segments[i];
        int r;

        if (strcmp(seg, "-") == 0) {
            k++;
            r = chain_reach(c, pipe + k);
        } else {
            r = chain_add(c, pipe + k, seg, strlen(seg), false);
        }
        if (r < 0)
            return r;
    }
    return 0;
}

/* Names split by sep (preset:a:b's arguments, an IMGPROXY_ONLY_PRESETS segment), each expanded. */
static int chain_preset_list(struct chain *c, size_t pipe, const char *s, size_t len)
{
    const char *end = s + len;

    while (s <= end) {
        const char *next = memchr(s, c->sep, (size_t)(end - s));
        size_t n = next ? (size_t)(next - s) : (size_t)(end - s);
        int r = chain_preset(c, pipe, s, n);

        if (r < 0)
            return r;
        if (next == NULL)
            break;
        s = next + 1;
    }
    return 0;
}

/* Appends one segment to pipeline pipe, a preset option expanded in its place. */
static int chain_add(struct chain *c, size_t pipe, const char *s, size_t len, bool url)
{
    const char *colon = memchr(s, c->sep, len);
    size_t nlen = colon ? (size_t)(colon - s) : len;
    struct chain_seg *grown;
    int r = chain_reach(c, pipe);

    if (r < 0)
        return r;
    if (colon != NULL &&
        ((nlen == 6 && memcmp(s, "preset", 6) == 0) || (nlen == 2 && memcmp(s, "pr", 2) == 0))) {
        r = url ? options__allowed(s, len, c->sep, c->e) : 0;
        return r < 0 ? r : chain_preset_list(c, pipe, colon + 1, len - nlen - 1);
    }
    grown = realloc(c->segs[pipe], (c->nsegs[pipe] + 1) * sizeof(*grown));
    if (grown == NULL)
        return err_set(c->e, ERR_INTERNAL, "out of memory");
    c->segs[pipe] = grown;
    grown[c->nsegs[pipe]++] = (struct chain_seg){s, len, url};
    return 0;
}

/*
 * Applies segment cs to po: wholly when own (the pipeline's own segment),
 * else only when it names a request-level option (errors are found in the
 * segment's own pipeline).
 */
static int chain_apply(struct procopts *po, const struct chain_seg *cs, bool own, char sep,
                       struct errinfo *e)
{
    if (!own)
        return options__request_level(cs->s, cs->len, sep)
                   ? options_apply(po, cs->s, cs->len, sep, e)
                   : 0;
    return cs->url ? options_apply_url(po, cs->s, cs->len, sep, e)
                   : options_apply(po, cs->s, cs->len, sep, e);
}

/* Fills pipeline po (already initialised) from every pipeline's segments. */
static int chain_fill(const struct chain *c, size_t k, struct procopts *po)
{
    for (size_t j = 0; j < c->n; j++) {
        for (size_t i = 0; i < c->nsegs[j]; i++) {
            int r = chain_apply(po, &c->segs[j][i], j == k, c->sep, c->e);

            if (r < 0)
                return r;
        }
    }
    return 0;
}

int chain_parse_url(struct procopts *po, char *const *segs, size_t n, char sep, struct errinfo *e)
{
    struct chain *c = calloc(1, sizeof(*c));
    struct procopts **tail = &po->next;
    size_t pipe = 0;
    int r = 0;

    if (c == NULL)
        return err_set(e, ERR_INTERNAL, "out of memory");
    c->sep = sep;
    c->e = e;
    c->n = 1;
    if (presets_find("default", 7) != NULL)
        r = chain_preset(c, 0, "default", 7);
    for (size_t i = 0; i < n && r == 0; i++) {
        size_t len = strlen(segs[i]);

        if (strcmp(segs[i], "-") == 0)
            r = chain_reach(c, ++pipe);
        else if (cfg.only_presets)
            r = chain_preset_list(c, pipe, segs[i], len);
        else
            r = chain_add(c, pipe, segs[i], len, true);
    }
    /* The URL's own pipelines count: the separators it holds, plus one. */
    if (r == 0 && cfg.max_chained_pipelines > 0 && pipe + 1 > (size_t)cfg.max_chained_pipelines)
        r = err_set(e, ERR_INVALID_URL,
                    "Invalid path: %zu chained pipelines, more than "
                    "IMGPROXY_MAX_CHAINED_PIPELINES (%d)",
                    pipe + 1, cfg.max_chained_pipelines);
    for (size_t k = 0; k < c->n && r == 0; k++) {
        struct procopts *p = po;

        if (k > 0) {
            p = malloc(sizeof(*p));
            if (p == NULL) {
                r = err_set(e, ERR_INTERNAL, "out of memory");
                break;
            }
            options_init(p);
            *tail = p;
            tail = &p->next;
        }
        r = chain_fill(c, k, p);
    }
    chain_release(c);
    free(c);
    return r;
}

void chain_free(struct procopts *po)
{
    struct procopts *p;

    if (po == NULL)
        return;
    p = po->next;
    po->next = NULL;
    while (p != NULL) {
        struct procopts *next = p->next;

        free(p);
        p = next;
    }
}

size_t chain_length(const struct procopts *po)
{
    size_t n = 1;

    for (const struct procopts *p = po->next; p != NULL; p = p->next)
        n++;
    return n;
}
