/*
 * estimate.h: what one request will cost in memory, known before any pixel
 * is decoded. The model, and where each term comes from, is written at the
 * top of estimate.c.
 *
 * Two steps: estimate_read_header() opens the downloaded source with a
 * header-only libvips load (no pixel decoded), estimate_compute() is pure
 * arithmetic on that header and the parsed options, so it is unit-tested
 * with made-up headers.
 */
#ifndef IMGFCGI_ESTIMATE_H
#define IMGFCGI_ESTIMATE_H

#include <stdbool.h>
#include <stddef.h>

#include <vips/vips.h>

#include "errors.h"
#include "imagetype.h"
#include "options.h"

/* What the source's header says. */
struct estimate_header {
    enum imgtype type;
    int width, height; /* as stored; for a multi-page source, one page */
    int bands;         /* with alpha */
    int sample_bytes;  /* bytes per band sample: 1 (8-bit), 2 (16-bit), 4 (float) */
    int pages;         /* n-pages, 1 for a still image */
    int orientation;   /* EXIF orientation 1..8 */
    bool alpha;
};

/*
 * The estimate: total is what the budget is charged; the other fields are
 * its parts (bytes) and the facts they were computed from, for logs and tests.
 */
struct estimate {
    size_t total;  /* source + work */
    size_t source; /* the downloaded bytes the request holds while it runs */
    /*
     * total - source: what processing adds (compared with the measured peak):
     * fixed + stream + in_memory + encoder, or with ESTIMATE_SPLIT fixed + the
     * larger of (stream + the orientation copy) and (in_memory + encoder).
     */
    size_t work;
    size_t fixed;           /* per-request libvips objects, thread buffers */
    size_t stream;          /* line buffers of the streaming pipeline */
    size_t in_memory;       /* images that some step holds whole */
    size_t encoder;         /* the saver's own buffers and the encoded result */
    int shrink;             /* JPEG shrink-on-load 1/2/4/8 */
    double load_scale;      /* WebP/SVG load scale (1 = none) */
    int decode_w, decode_h; /* size the loader decodes to (one frame) */
    int out_w, out_h;       /* result size (one frame) */
    int frames;             /* frames processed */
    enum imgtype out_type;
    unsigned reasons; /* ESTIMATE_* bits: what forces whole images into memory */
};

/* Bits of estimate.reasons. */
#define ESTIMATE_ROTATE 0x01u /* EXIF orientation, rotate, flip: an image copied to memory */
#define ESTIMATE_TRIM 0x02u   /* trim: the full source decoded to memory */
#define ESTIMATE_SMART 0x04u  /* smart crop: the image to crop copied to memory */
#define ESTIMATE_FILTER                                                                            \
    0x08u /* blur, sharpen, pixelate: scaled image in memory twice; colour steps */
#define ESTIMATE_ANIMATION 0x10u /* several frames */
#define ESTIMATE_WHOLE_ENC                                                                         \
    0x20u /* encoder holds the whole frame (WebP, AVIF, HEIC, JPEG XL, GIF, TIFF, PNG palette) */
#define ESTIMATE_FIT_BYTES 0x40u /* max_bytes: result in memory, encoded several times */
#define ESTIMATE_MULTI_ENC 0x80u /* format:best, autoquality: result in memory, several encodes */
/* The orientation copy after scaling ends the streaming pipeline before the encoder starts. */
#define ESTIMATE_SPLIT 0x100u

/*
 * Reads the header of the source (data/len, borrowed, type already sniffed)
 * with a header-only libvips load. Returns 0, or ERR_BROKEN_IMAGE recorded
 * in e when libvips cannot read the header.
 */
int estimate_read_header(const unsigned char *data, size_t len, enum imgtype type,
                         struct estimate_header *h, struct errinfo *e)
    __attribute__((warn_unused_result));

/* The header of a source already opened (header only) as type; img borrowed. */
void estimate_header_of(VipsImage *img, enum imgtype type, struct estimate_header *h);

/*
 * The result format the pipeline will choose for this header, options and
 * Accept header (may be NULL): plan_format() on the header's alpha and
 * frame count, as process_prepare() decides them.
 */
enum imgtype estimate_out_type(const struct estimate_header *h, const struct procopts *po,
                               const char *accept);

/*
 * Fills est for header h, source size src_len, options po (with the
 * pipelines chained after it, po->next) and result format out_type.
 */
void estimate_compute(const struct estimate_header *h, size_t src_len, const struct procopts *po,
                      enum imgtype out_type, struct estimate *est);

#endif
