/*
 * estimate.c: a request's memory cost from the source header and the options.
 *
 * The model. libvips runs a pipeline demand-driven: with sequential access
 * (what process.c asks every loader for) a plain load-resize-save holds only
 * a band of lines of each image in the chain, never the whole image. Memory
 * therefore comes from six places, and the estimate is their sum:
 *
 *   source     the downloaded bytes: libvips decodes from them in place, so
 *              the buffer lives until the last image is freed.
 *   fixed      per request: libvips objects, the worker thread's buffers,
 *              the decoder's tables (EST_FIXED).
 *   stream     the band of lines in flight: libvips' sequential line
 *              caches, all of the decoded width (vips_resize runs its
 *              vertical passes before the horizontal ones): the loader's,
 *              with the resampler's input windows (EST_LOAD_LINES), and one
 *              after each vertical pass, the integer box shrink (vips_shrinkv,
 *              when the vertical shrink is EST_RESIZE_GAP or more) and the
 *              residual reducev, each up to EST_CACHE_LINES or the rows that
 *              pass makes; bytes a pixel of the decoded image (alpha images
 *              are premultiplied around the resampler: 8-bit ones as 16-bit
 *              integers, others as float; both counted at 4 bytes a
 *              sample, the safe side). A small shrink
 *              therefore holds more lines than a large one. PNG has no
 *              shrink-on-load, so a 50 MP PNG streams ~9000-pixel-wide lines;
 *              JPEG decodes at 1/2, 1/4 or 1/8 (libjpeg DCT scaling) and
 *              WebP at any scale, so their lines are narrow.
 *   in_memory  steps that need random access copy an image to memory whole
 *              (vips_image_copy_memory in process.c and filters.c, and
 *              orient_to_memory):
 *                EXIF rotation, rotate, flips: the scaled image (8-bit sRGB),
 *                  or the decoded image when a smart crop makes them run first;
 *                trim: the full source, shrink-on-load is off;
 *                smart crop before scaling: the decoded image; smart crop of
 *                  the result: the scaled image;
 *                blur, sharpen, pixelate: the scaled image twice (input and
 *                  output copies, float when premultiplied) plus the blur
 *                  window;
 *                animation: n frames, each through the pipeline, joined;
 *                max_bytes: the result, plus each encoded attempt;
 *                format:best and autoquality: the result, the encoding
 *                  kept and the one being made (each at most the raw
 *                  result), and for autoquality's dssim two L*a*b* float
 *                  copies of the result and the decoded attempt.
 *              They add up: each copy is made while the previous is alive.
 *              The orientation copy after scaling also ends the streaming
 *              pipeline: process.c drops the loader and the resampler once
 *              it is made, so their line caches are gone before the encoder
 *              starts. The work is then fixed + the larger of (stream + that
 *              copy) and (in_memory + encoder), not their sum
 *              (ESTIMATE_SPLIT; an encoder on its own threads may reuse
 *              none of what the caches freed, EST_THREADED_UNREUSED);
 *              everywhere else the saver pulls the
 *              pipeline, so the encoder runs while the line caches live.
 *   encoder    the saver: JPEG streams (4 KB chunks) but keeps every DCT
 *              coefficient (3 B/px at 4:2:0, 6 at 4:4:4 for Q >= 90) when
 *              optimising Huffman tables (results <= 1 MP) or progressive;
 *              PNG streams rows (palette quantisation holds the RGBA image
 *              and libimagequant's copies); WebP imports the whole frame as
 *              ARGB, converts it to YUV and keeps the encoded bytes; AVIF
 *              (libheif + libaom) holds the RGB frame, its YUV copy and the
 *              encoder's reference and lookahead frames, and so does HEIC
 *              (libheif + x265); JPEG XL (libjxl) holds float planes of the
 *              whole frame; GIF quantises the
 *              whole frame; TIFF is encoded into memory.
 *
 * The constants were calibrated with tests/bench/budget (one request at a
 * time per workload class, peak RSS growth and libvips tracked high-water
 * measured; jemalloc, libvips 8.14, IMGFCGI_VIPS_CONCURRENCY=1) so that the
 * estimate sits between 1.0x and 1.5x the measured peak; each part is then
 * multiplied by EST_MARGIN.
 * libvips' tracked memory (its pixel buffers: line caches, regions, memory
 * images) gives the stream term alone, the RSS growth the whole; the line
 * counts follow libvips 8.14's line cache sizing (4 x 128 lines at
 * IMGFCGI_VIPS_CONCURRENCY=1), the loader's allowance is fitted. Cases not calibrated (16-bit and
 * alpha sources, GIF, TIFF, palette PNG, animations, filters) use the byte counts written next to
 * them, which are upper-side guesses from how the code allocates.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <vips/vips.h>

#include "adjust.h"
#include "autoq.h"
#include "bestfmt.h"
#include "config.h"
#include "estimate.h"
#include "geometry.h"
#include "plan.h"
#include "svg.h"
#include "vipsop.h"
#include "banned.h"

#define MB (1024.0 * 1024.0)

/*
 * Per request: objects, thread buffers, codec tables. Most of it is served
 * from the thread's allocator cache and libvips' buffers on a warm server:
 * connection threads are reused last-in first-out (fcgi/worker.c), so a
 * thumbnail's RSS growth shrinks over the first few requests to a fraction
 * of a megabyte.
 */
#define EST_FIXED (0.2 * MB)
/*
 * Lines of the decoded width held by the streaming pipeline: the loader's
 * cache with the resampler's input windows, and each line cache after a
 * vertical pass (libvips 8.14 sizes one at 4 x its 128-line tile geometry,
 * growing to the largest request). vips_resize box-shrinks by the integer
 * part of vshrink / EST_RESIZE_GAP before its residual reduce (its "gap").
 */
#define EST_LOAD_LINES 760.0
#define EST_CACHE_LINES 512.0
#define EST_RESIZE_GAP 2.0
/* Lines of the result's width each colour-adjustment stage keeps. */
#define EST_ADJUST_LINES 600.0
/* Smart crop: the copy, plus libvips' attention pass over it. */
#define EST_SMART_FACTOR 1.1
#define EST_SMART_EXTRA (1.5 * MB)
/* Encoders, bytes per result pixel (one frame). */
#define EST_WEBP_BPP 5.5
#define EST_AVIF_BPP 21.0
/*
 * Not calibrated with tests/bench/budget: peak RSS growth of libvips' own
 * jxlsave/heifsave over a plain copy, saving a 4 MP 8-bit RGB noise image
 * (the worst case for both), rounded up. libjxl 0.7 at effort 4 keeps
 * float planes of the whole frame and its own per-group buffers (about
 * 50 B/px); libheif + x265 (HEVC) hold about what AVIF does.
 */
#define EST_JXL_BPP 50.0
#define EST_HEIC_BPP 26.0
#define EST_GIF_BPP 8.0
#define EST_PNG_PALETTE_BPP 10.0
/* autoquality dssim: two images of 3 floats a pixel, and the decoded attempt. */
#define EST_DSSIM_BPP 28.0
#define EST_JPEG_STREAM (0.1 * MB)
/*
 * What the orientation copy frees of the line caches goes whole to an
 * encoder that runs on the libvips thread (WebP, the streaming savers);
 * libaom's, x265's and libjxl's own threads (which may allocate from
 * another jemalloc arena) got back anywhere between all and none of it from
 * one run to the next: the whole stream stays counted for those, so that
 * the estimate is not below the peak when they reuse none of it.
 */
#define EST_THREADED_UNREUSED 1.0
/*
 * The sum above is fitted to the measured peak; the peak itself varies from
 * run to run, so every part gets this margin on top.
 */
#define EST_MARGIN 1.15
/* Float images a colour adjustment chain holds a window of (adjust.c). */
#define EST_ADJUST_STAGES 8.0
#define JPEG_OPTIMIZE_MAX_PIXELS (1024.0 * 1024.0) /* process.c keeps the same bound */

int estimate_read_header(const unsigned char *data, size_t len, enum imgtype type,
                         struct estimate_header *h, struct errinfo *e)
{
    VipsImage *img;

    memset(h, 0, sizeof(*h));
    h->type = type;
    /*
     * An SVG with DTD entities is refused as process.c refuses it, before
     * librsvg parses it: expanding its entities can take seconds.
     */
    if (type == IMGTYPE_SVG && svg_declares_entities((const char *)data, len)) {
        vips_error("svgload_buffer", "SVGs with DTD entities are not rasterised");
        return vipsop_fail(e, VIPSOP_LOAD, "Can't read the source header");
    }
    /* A header-only open: with sequential access nothing is decoded until pixels are asked. */
    img = vips_image_new_from_buffer(data, len, "", "access", VIPS_ACCESS_SEQUENTIAL, NULL);
    if (img == NULL)
        return vipsop_fail(e, VIPSOP_LOAD, "Can't read the source header");
    estimate_header_of(img, type, h);
    g_object_unref(img);
    return 0;
}

void estimate_header_of(VipsImage *img, enum imgtype type, struct estimate_header *h)
{
    memset(h, 0, sizeof(*h));
    h->type = type;
    h->width = vips_image_get_width(img);
    h->height = vips_image_get_page_height(img);
    h->pages = vips_image_get_n_pages(img);
    if (h->pages < 1)
        h->pages = 1;
    h->bands = vips_image_get_bands(img);
    h->sample_bytes = (int)vips_format_sizeof(vips_image_get_format(img));
    /* PDF pages lose pdfload's alpha band unless IMGPROXY_PDF_NO_BACKGROUND (process.c). */
    h->alpha = vips_image_hasalpha(img) && (type != IMGTYPE_PDF || cfg.pdf_no_background);
    h->orientation =
        vips_image_get_typeof(img, VIPS_META_ORIENTATION) ? vips_image_get_orientation(img) : 1;
}

enum imgtype estimate_out_type(const struct estimate_header *h, const struct procopts *po,
                               const char *accept)
{
    struct geom_plan plan;

    geom_plan(&plan, h->width > 0 ? h->width : 1, h->height > 0 ? h->height : 1, h->orientation,
              h->type == IMGTYPE_SVG, po);
    return plan_format(po, h->type, plan_alpha(h->alpha, po, &plan),
                       plan_frames(h->type, h->pages, po) > 1, accept);
}

static double encoder_bytes(enum imgtype t, double px, int bands, int quality, int frames,
                            const struct save_opts *so)
{
    switch (t) {
    case IMGTYPE_JPEG:
        if (px <= JPEG_OPTIMIZE_MAX_PIXELS || so->jpeg_progressive)
            return EST_JPEG_STREAM + px * (quality >= 90 ? 6.0 : 3.0);
        return EST_JPEG_STREAM;
    case IMGTYPE_PNG:
        if (so->png_quantize)
            return px * EST_PNG_PALETTE_BPP;
        return EST_JPEG_STREAM;
    case IMGTYPE_WEBP:
        /* Animated: one frame encoded at a time, the encoded frames kept. */
        return px * EST_WEBP_BPP + (frames > 1 ? px * 0.5 * frames : 0);
    case IMGTYPE_AVIF:
        return px * EST_AVIF_BPP;
    case IMGTYPE_HEIC:
        return px * EST_HEIC_BPP;
    case IMGTYPE_JXL:
        return px * EST_JXL_BPP;
    case IMGTYPE_GIF:
        return px * EST_GIF_BPP * (frames > 1 ? 2 : 1) + (frames > 1 ? px * 0.5 * frames : 0);
    case IMGTYPE_TIFF:
        /* Uncompressed into a growing memory buffer (doubling), then written. */
        return px * bands * 2.0;
    case IMGTYPE_PDF:
        /*
         * The JPEG encoder, its file whole in memory, and the PDF around it on
         * its way out (a buffered result keeps it whole): each file at most
         * about the raw pixels.
         */
        return encoder_bytes(IMGTYPE_JPEG, px, bands, quality, frames, so) + px * bands * 2.0;
    default:
        return px * 4.0;
    }
}

static size_t clamp_size(double v)
{
    if (!(v > 0))
        return 0;
    if (v >= (double)SIZE_MAX / 2)
        return SIZE_MAX / 2;
    return (size_t)v;
}

/* Shrink-on-load as the pipeline will do it (plan_load()): the size the loader decodes to. */
static void decode_size(const struct estimate_header *h, const struct geom_plan *plan,
                        const struct procopts *po, bool animated, struct estimate *est)
{
    struct plan_load l;
    double dw, dh;

    plan_load(plan, h->type, po->trim, animated, &l);
    est->shrink = l.jpeg_shrink;
    est->load_scale = l.scale;
    dw = ceil((double)h->width / est->shrink * est->load_scale);
    dh = ceil((double)h->height / est->shrink * est->load_scale);
    est->decode_w = dw < 1 ? 1 : (int)dw;
    est->decode_h = dh < 1 ? 1 : (int)dh;
}

/* What the estimate's terms are computed from. */
struct est_in {
    const struct estimate_header *h;
    const struct procopts *po;
    const struct geom_plan *plan;
    int frames;
    double dec_bpp;   /* bytes a decoded pixel */
    int out_bands;    /* bands of the result */
    bool alpha;       /* the result has alpha */
    double scaled_px; /* pixels after scaling (one frame) */
    double out_px;    /* result pixels (one frame) */
};

/* Whole images held by random-access steps; sets est->reasons. */
static double in_memory_bytes(const struct est_in *in, struct estimate *est)
{
    const struct procopts *po = in->po;
    double dpx = (double)est->decode_w * est->decode_h, mem = 0;

    if (po->trim && in->frames < 2) {
        mem += (double)in->h->width * in->h->height * in->dec_bpp;
        est->reasons |= ESTIMATE_TRIM;
    }
    if (plan_orients_first(in->plan, po)) {
        mem += dpx * in->dec_bpp * in->frames;
        est->reasons |= ESTIMATE_ROTATE;
    } else if (plan_orients(in->plan, po)) {
        mem += in->scaled_px * (in->h->alpha ? 4 : 3) * in->frames;
        est->reasons |= ESTIMATE_ROTATE;
    }
    if (plan_smart_crop(in->plan, po)) {
        mem += dpx * in->dec_bpp * in->frames * EST_SMART_FACTOR + EST_SMART_EXTRA;
        est->reasons |= ESTIMATE_SMART;
    }
    if (plan_smart_result_crop(in->plan, po)) {
        /* Scaled and converted to 8-bit sRGB by then. */
        mem += in->scaled_px * in->out_bands * in->frames * EST_SMART_FACTOR + EST_SMART_EXTRA;
        est->reasons |= ESTIMATE_SMART;
    }
    if (po->blur > 0 || po->sharpen > 0 || po->pixelate > 1) {
        double fbpp = in->alpha ? in->out_bands * 4.0 : in->out_bands;
        double sigma = po->blur > po->sharpen ? po->blur : po->sharpen;

        mem += (in->scaled_px * fbpp + in->scaled_px * in->out_bands) * in->frames;
        mem += (double)in->plan->scaled_w * (6.0 * sigma + 1.0) * in->out_bands * 4.0;
        est->reasons |= ESTIMATE_FILTER;
    }
    if (po->ba_sigma > 0 && po->ba_n > 0) {
        /* blur_areas: the decoded image in memory, and the copy after each rectangle. */
        mem += dpx * in->dec_bpp * in->frames * 2.0;
        est->reasons |= ESTIMATE_FILTER;
    }
    if (adjust_colour_active(po) || adjust_unsharp_runs(po, true) || po->color_profile[0] != '\0' ||
        po->background_alpha < 1) {
        /*
         * Colour steps, unsharp masking, the translucent background and the
         * output profile stream, but through float intermediates (up to
         * EST_ADJUST_STAGES of them, 3 bands of 4 bytes) that libvips keeps a
         * strip of each.
         */
        mem += (double)in->plan->out_w * EST_ADJUST_LINES * EST_ADJUST_STAGES * 3.0 * 4.0;
        est->reasons |= ESTIMATE_FILTER;
    }
    if (in->frames > 1) {
        /* Every transformed frame exists before arrayjoin hands them to the saver. */
        mem += in->out_px * in->out_bands * in->frames;
        est->reasons |= ESTIMATE_ANIMATION;
    }
    return mem;
}

/*
 * The streaming window: the loader's lines, then a line cache after the box
 * shrink (if vips_resize makes one) and after the residual reduce, each at
 * most the rows its pass makes.
 */
static double stream_bytes(const struct estimate_header *h, const struct geom_plan *plan,
                           const struct estimate *est, double work_bpp)
{
    double dh = est->decode_h;
    /* Scaling runs in the stored orientation: a quarter turn comes afterwards. */
    int sh = plan_swaps_sides(plan) ? plan->scaled_w : plan->scaled_h;
    double out_h = sh > 0 ? sh : 1;
    double box = floor(dh / out_h / EST_RESIZE_GAP), rows = dh, lines = EST_LOAD_LINES;
    double stream;

    if (box > 1) {
        rows = ceil(dh / box);
        lines += fmin(EST_CACHE_LINES, rows);
    }
    if (rows > out_h)
        lines += fmin(EST_CACHE_LINES, out_h);
    /* ...never more lines than the decoded image has: a small image's caches are not all full. */
    stream = est->decode_w * work_bpp * fmin(dh, lines);
    if (h->type == IMGTYPE_GIF)
        stream += (double)h->width * h->height * 4.0 * 2.0; /* libnsgif frame + previous */
    return stream;
}

/*
 * The orientation copy after scaling when it splits the request in two
 * phases (the model above): the scaled image, whole; 0 when it does not.
 * Only for one still pipeline: with frames, a chain, trim or blurred areas,
 * other copies and windows overlap it.
 */
static double split_copy(const struct est_in *in)
{
    const struct procopts *po = in->po;

    if (!plan_orients(in->plan, po) || plan_orients_first(in->plan, po) || in->frames > 1 ||
        po->next != NULL || po->trim || (po->ba_sigma > 0 && po->ba_n > 0))
        return 0;
    return in->scaled_px * (in->h->alpha ? 4 : 3);
}

/*
 * The pipelines chained after the first (chain.h): each works on the
 * previous result as it streams out (8-bit, oriented, no shrink-on-load)
 * and adds its own line window and its own whole-image copies. in's result
 * size becomes the last pipeline's.
 */
static void chain_bytes(struct est_in *in, struct estimate *est, double *stream, double *in_mem)
{
    int w = in->plan->out_w, h = in->plan->out_h;

    for (const struct procopts *p = in->po->next; p != NULL; p = p->next) {
        struct estimate_header ch = {.type = IMGTYPE_PNG,
                                     .width = w > 0 ? w : 1,
                                     .height = h > 0 ? h : 1,
                                     .bands = in->out_bands,
                                     .sample_bytes = 1,
                                     .pages = in->frames,
                                     .orientation = 1,
                                     .alpha = in->alpha};
        struct geom_plan plan;
        struct estimate sub;
        struct est_in pin = *in;

        memset(&sub, 0, sizeof(sub));
        geom_plan(&plan, ch.width, ch.height, 1, false, p);
        sub.decode_w = ch.width;
        sub.decode_h = ch.height;
        pin.h = &ch;
        pin.po = p;
        pin.plan = &plan;
        pin.dec_bpp = in->out_bands;
        pin.scaled_px = (double)plan.scaled_w * plan.scaled_h;
        pin.out_px = (double)plan.out_w * plan.out_h;
        *stream += stream_bytes(&ch, &plan, &sub, in->alpha ? in->out_bands * 4.0 : in->out_bands);
        *in_mem += in_memory_bytes(&pin, &sub);
        est->reasons |= sub.reasons;
        in->out_px = pin.out_px;
        w = plan.out_w;
        h = plan.out_h;
    }
    est->out_w = w;
    est->out_h = h;
}

void estimate_compute(const struct estimate_header *h, size_t src_len, const struct procopts *po,
                      enum imgtype out_type, struct estimate *est)
{
    struct geom_plan plan;
    struct est_in in;
    struct estimate_header stacked;
    int sample = h->sample_bytes > 0 ? h->sample_bytes : 1;
    int bands = h->bands > 0 ? h->bands : 3;
    int first;
    double work_bpp, in_mem, stream, enc, copy;

    memset(est, 0, sizeof(*est));
    /* page/pages: several pages of a document are one tall still image. */
    stacked = *h;
    stacked.height *= plan_stacked_pages(h->type, h->pages, po, &first);
    h = &stacked;
    geom_plan(&plan, h->width > 0 ? h->width : 1, h->height > 0 ? h->height : 1, h->orientation,
              h->type == IMGTYPE_SVG, po);
    in.h = h;
    in.po = po;
    in.plan = &plan;
    in.frames = plan_frames(h->type, h->pages, po);
    in.alpha = plan_alpha(h->alpha, po, &plan);
    in.out_bands = in.alpha && imagetype_supports_alpha(out_type) ? 4 : 3;
    /* GIF decodes to RGBA; everything else as the header says. */
    in.dec_bpp = h->type == IMGTYPE_GIF ? 4.0 : (double)bands * sample;
    in.scaled_px = (double)plan.scaled_w * plan.scaled_h;
    in.out_px = (double)plan.out_w * plan.out_h;
    est->out_type = out_type;
    est->frames = in.frames;
    est->source = src_len;
    decode_size(h, &plan, po, in.frames > 1, est);
    est->out_w = plan.out_w;
    est->out_h = plan.out_h;

    /* Alpha images are premultiplied around the resampler (counted as float). */
    work_bpp = h->alpha ? (double)bands * 4.0 : in.dec_bpp;
    stream = stream_bytes(h, &plan, est, work_bpp);
    in_mem = in_memory_bytes(&in, est);
    copy = split_copy(&in);
    chain_bytes(&in, est, &stream, &in_mem);
    enc = encoder_bytes(out_type, in.out_px, in.out_bands, options_quality(po, out_type), in.frames,
                        &po->enc);
    if (out_type == IMGTYPE_WEBP || out_type == IMGTYPE_AVIF || out_type == IMGTYPE_HEIC ||
        out_type == IMGTYPE_JXL || out_type == IMGTYPE_GIF || out_type == IMGTYPE_TIFF ||
        out_type == IMGTYPE_PDF || (out_type == IMGTYPE_PNG && po->enc.png_quantize))
        est->reasons |= ESTIMATE_WHOLE_ENC;
    /* A per-request watermark: its RGBA canvas the size of the result, and its source. */
    if (po->wm_opacity > 0 && (po->wm_text[0] != '\0' || po->wm_image != NULL))
        in_mem += in.out_px * 4.0 * 2.0 + (double)po->wm_image_len;
    if (cfg.buffer_result && !(est->reasons & ESTIMATE_WHOLE_ENC))
        /*
         * IMGFCGI_BUFFER_RESULT keeps the encoded result of a streaming saver
         * (JPEG, PNG, BMP) whole: at most about the raw pixels. The savers that
         * encode whole already hold their (compressed) bytes in the encoder term.
         */
        enc += in.out_px * in.out_bands * in.frames;
    if (po->max_bytes > 0 && imagetype_supports_quality(out_type)) {
        /* save_to_fit: the result in memory, and one encoded attempt beside it. */
        in_mem += in.out_px * in.out_bands * in.frames;
        enc += in.out_px * in.out_bands;
        est->reasons |= ESTIMATE_FIT_BYTES;
    }

    if (bestfmt_wanted(po) || autoq_applies(po, out_type, (long long)(in.out_px * in.frames))) {
        /*
         * Encodes run one after the other, so the costliest encoder counts,
         * not their sum; the result sits in memory for all of them.
         */
        double px = in.out_px * in.frames, raw = px * in.out_bands;

        if (bestfmt_wanted(po)) {
            enum imgtype f[IMGTYPE_COUNT + 3];
            size_t nf = bestfmt_formats(NULL, f, sizeof(f) / sizeof(f[0]));

            for (size_t i = 0; i < nf; i++)
                enc = fmax(enc, encoder_bytes(f[i], in.out_px, in.out_bands,
                                              options_quality(po, f[i]), in.frames, &po->enc));
        }
        in_mem += raw + 2.0 * raw;
        if (po->aq_method == AQ_DSSIM || po->aq_method == AQ_ML)
            in_mem += px * EST_DSSIM_BPP;
        est->reasons |= ESTIMATE_MULTI_ENC;
    }
    est->fixed = clamp_size(EST_FIXED * EST_MARGIN);
    est->stream = clamp_size(stream * EST_MARGIN);
    est->in_memory = clamp_size(in_mem * EST_MARGIN);
    est->encoder = clamp_size(enc * EST_MARGIN);
    if (copy > 0) {
        /* Phase one streams into the copy; phase two holds the copy and encodes. */
        bool threaded =
            out_type == IMGTYPE_AVIF || out_type == IMGTYPE_HEIC || out_type == IMGTYPE_JXL;
        double left = threaded ? (double)est->stream * EST_THREADED_UNREUSED : 0;

        est->reasons |= ESTIMATE_SPLIT;
        est->work = clamp_size((double)est->fixed +
                               fmax((double)est->stream + (double)clamp_size(copy * EST_MARGIN),
                                    (double)est->in_memory + (double)est->encoder + left));
    } else {
        est->work = clamp_size((double)est->fixed + (double)est->stream + (double)est->in_memory +
                               (double)est->encoder);
    }
    est->total = clamp_size((double)est->work + (double)est->source);
}
