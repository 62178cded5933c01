/*
 * fuzz_options.c: libFuzzer target for src/options.c and src/presets.c:
 * presets_add() on fuzzed definitions, then options_apply_url() on fuzzed
 * segments (presets, their recursion guard, security options), then
 * options_apply_format(), options_quality() and options_canonical(); and
 * chain_parse_url() on the same segments ("-" chains pipelines, presets
 * spread their parts), its canonical form and chain_free().
 *
 * Input: byte 0 holds flags (bit 0 ',' as the arguments separator, bit 1
 * IMGPROXY_ALLOW_SECURITY_OPTIONS); then, up to the first '\n', preset
 * definitions split by ';' ("name=opt/opt"); the rest is option segments
 * split by '/', the last one's ".ext" (if any) a format.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "errors.h"
#include "fuzzutil.h"
#include "chain.h"
#include "options.h"
#include "presets.h"

#define SEGMENTS_MAX 64

static const char *const env[] = {NULL};

FUZZ_INIT_CONFIG(env)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct procopts po, chain;
    struct errinfo e;
    char *segs[SEGMENTS_MAX];
    const uint8_t *p, *end = data + size;
    char *canon;
    char sep;
    bool saved_allow = cfg.allow_security_options;
    int nseg = 0;

    if (size < 1)
        return 0;
    p = fuzz_option_head(data, size, presets_add, &sep);

    options_init(&po);
    err_clear(&e);
    while (p < end && nseg < SEGMENTS_MAX) {
        const uint8_t *slash = memchr(p, '/', (size_t)(end - p));
        size_t n = slash != NULL ? (size_t)(slash - p) : (size_t)(end - p);
        char *seg = fuzz_dup(p, n);
        int ret;

        if (slash == NULL) {
            const char *dot = memchr(seg, '.', n);

            /* The last segment: "opts.ext" splits like a URL's extension. */
            if (dot != NULL) {
                ret = options_apply_format(&po, dot + 1, n - (size_t)(dot + 1 - seg), &e);
                n = (size_t)(dot - seg);
                (void)ret;
            }
        }
        ret = options_apply_url(&po, seg, n, sep, &e);
        segs[nseg++] = fuzz_strdup((const uint8_t *)seg, n);
        free(seg);
        /* "-" is no option of its own: the chain parser below takes it. */
        if (ret < 0 && !(n == 1 && segs[nseg - 1][0] == '-'))
            break;
        if (slash == NULL)
            break;
        p = slash + 1;
    }

    for (int t = 0; t < IMGTYPE_COUNT; t++)
        (void)options_quality(&po, (enum imgtype)t);
    canon = malloc(OPTIONS_CANONICAL_MAX);
    if (canon == NULL)
        abort();
    if (options_canonical(&po, canon, OPTIONS_CANONICAL_MAX) >= OPTIONS_CANONICAL_MAX ||
        strlen(canon) >= OPTIONS_CANONICAL_MAX)
        abort();
    /* The same segments as a URL's: a chain of at most CHAIN_MAX_PIPELINES pipelines. */
    options_init(&chain);
    err_clear(&e);
    if (chain_parse_url(&chain, segs, (size_t)nseg, sep, &e) == 0 &&
        chain_length(&chain) > CHAIN_MAX_PIPELINES)
        abort();
    if (options_canonical(&chain, canon, OPTIONS_CANONICAL_MAX) >= OPTIONS_CANONICAL_MAX)
        abort();
    chain_free(&chain);
    for (int i = 0; i < nseg; i++)
        free(segs[i]);
    free(canon);

    presets_release();
    cfg.allow_security_options = saved_allow;
    return 0;
}
