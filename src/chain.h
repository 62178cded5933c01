/* chain.h: chained pipelines: a URL's options split at "-" into passes over one image. */
#ifndef IMGFCGI_CHAIN_H
#define IMGFCGI_CHAIN_H

#include <stddef.h>

#include "errors.h"
#include "options.h"

/* The most pipelines one request runs, those from presets included. */
#define CHAIN_MAX_PIPELINES 32

/*
 * The options of a URL: segs (n, borrowed) are its option segments in URL
 * order, "-" closing one pipeline (IMGPROXY_ONLY_PRESETS: each segment is a
 * list of preset names). po is the first pipeline, initialised by the caller
 * (options_init(), client hints). The `default` preset comes first; a
 * preset's parts split by "-" go to the pipeline that names it and the ones
 * after it, in place. Options that act once per request
 * (options__request_level()) hold in every pipeline, whichever pipeline
 * names them, the last one winning; all the others belong to their own
 * pipeline. IMGPROXY_ALLOWED_PROCESSING_OPTIONS applies to the URL's
 * segments. More than IMGPROXY_MAX_CHAINED_PIPELINES pipelines in the URL
 * (presets' not counted) or CHAIN_MAX_PIPELINES in all is ERR_INVALID_URL.
 * Pipelines after the first are linked from po->next; the caller frees them
 * with chain_free() whatever the result. Returns 0, ERR_INVALID_URL,
 * ERR_SECURITY_OPTION or ERR_INTERNAL recorded in e.
 */
int chain_parse_url(struct procopts *po, char *const *segs, size_t n, char sep, struct errinfo *e)
    __attribute__((warn_unused_result));

/* Frees the pipelines linked from po->next (not po) and clears po->next; NULL is a no-op. */
void chain_free(struct procopts *po);

/* How many pipelines po starts: 1 + the length of its next chain. */
size_t chain_length(const struct procopts *po);

#endif
