/* options.h: processing options, their defaults and their parser (imgproxy v3 URL options). */
#ifndef IMGFCGI_OPTIONS_H
#define IMGFCGI_OPTIONS_H

#include <stdbool.h>

#include "errors.h"
#include "imagetype.h"
#include "save.h"

enum resize_type { RT_FIT = 0, RT_FILL, RT_FILL_DOWN, RT_FORCE, RT_AUTO };

enum gravity_type {
    GRAV_UNKNOWN = 0, /* crop gravity not given: use the main gravity */
    GRAV_CENTER,
    GRAV_NORTH,
    GRAV_SOUTH,
    GRAV_EAST,
    GRAV_WEST,
    GRAV_NORTH_EAST,
    GRAV_NORTH_WEST,
    GRAV_SOUTH_EAST,
    GRAV_SOUTH_WEST,
    GRAV_SMART,
    GRAV_FOCUS_POINT,
    GRAV_REPLICATE,  /* watermark only: tile */
    GRAV_CHESSBOARD, /* watermark only: tile, every other cell empty */
};

/* unsharp_masking modes, as IMGPROXY_UNSHARP_MASKING_MODE names them. */
enum ush_mode { USH_NONE = 0, USH_AUTO, USH_ALWAYS };

struct gravity {
    enum gravity_type type;
    double x, y; /* offsets; |v| >= 1 absolute px, else relative; fp: 0..1 */
};

#define OPTIONS_STR_MAX 256 /* longest filename or cachebuster argument, with the NUL */

/* blur_areas rectangles: a sigma and 4 x 3 coordinates fill an option's 16 arguments. */
#define OPTIONS_BLUR_AREAS 3

struct procopts {
    enum resize_type resizing_type;
    int width, height;
    int min_width, min_height;
    double zoom_w, zoom_h;
    double dpr;
    bool enlarge;
    bool extend;
    struct gravity extend_gravity;
    struct gravity gravity;
    double crop_w, crop_h;       /* >= 1 px, < 1 fraction, 0 = full side */
    struct gravity crop_gravity; /* GRAV_UNKNOWN = use gravity */
    int quality;                 /* 0 = from format_quality / IMGPROXY_QUALITY */
    int format_quality[IMGTYPE_COUNT];
    enum imgtype format; /* IMGTYPE_UNKNOWN = choose from the request */
    int rotate;          /* degrees, multiple of 90 */
    bool auto_rotate;
    bool strip_metadata;
    bool strip_color_profile;
    /* Options that change only the response headers. */
    bool has_expires;               /* expires/exp given */
    long long expires;              /* unix seconds */
    char filename[OPTIONS_STR_MAX]; /* filename/fn; "" = from the source URL */
    bool return_attachment;         /* return_attachment/att; default IMGPROXY_RETURN_ATTACHMENT */
    char cachebuster[OPTIONS_STR_MAX]; /* cachebuster/cb: only feeds the ETag's options hash */

    bool extend_ar; /* extend_aspect_ratio */
    struct gravity extend_ar_gravity;
    int padding[4]; /* top, right, bottom, left; all 0 = off */
    bool trim;
    double trim_threshold;
    bool trim_has_color;
    unsigned char trim_color[3];
    bool trim_equal_hor, trim_equal_ver;
    bool flip_h, flip_v;
    bool flatten;                /* background given (or forced by the format) */
    unsigned char background[3]; /* default white */
    double blur, sharpen;
    int pixelate;
    bool keep_copyright;
    bool enforce_thumbnail;
    int max_bytes; /* 0 = no limit */
    bool skip_processing[IMGTYPE_COUNT];
    bool raw;
    double wm_opacity;         /* 0 = no watermark */
    struct gravity wm_gravity; /* compass types or GRAV_REPLICATE */
    double wm_scale;
    char wm_url[OPTIONS_STR_MAX];  /* watermark_url/wmu, decoded; "" = the configured image */
    char wm_text[OPTIONS_STR_MAX]; /* watermark_text/wmt, decoded Pango markup; "" = none */
    int wm_size_w, wm_size_h;      /* watermark_size/wms: fit box; 0:0 = off */
    double wm_rotate;              /* watermark_rotate/wmr: degrees clockwise */
    double wm_shadow;              /* watermark_shadow/wmsh: blur sigma; 0 = no shadow */
    int page;                      /* page/pg: zero-based; past the last = the last */
    int pages;                     /* pages/pgs: how many from page on, stacked; >= 1 */
    bool disable_animation;        /* disable_animation/da */
    double dpi;                    /* dpi: written into the result; 0 = keep / reset */
    /* format:best, autoquality (docs/best-format.md) */
    bool best_format;        /* f:best, @best; default IMGPROXY_BEST_FORMAT_BY_DEFAULT */
    int aq_method;           /* enum aq_method (config.h); default IMGPROXY_AUTOQUALITY_METHOD */
    double aq_target;        /* bytes (size) or DSSIM (dssim, ml) */
    int aq_min, aq_max;      /* 1..100; 0 = the IMGPROXY_AUTOQUALITY_(FORMAT_)MIN/MAX settings */
    double aq_allowed_error; /* dssim, ml */
    /* security options: start from config, only changed when allowed */
    long long max_src_resolution;
    long long max_src_file_size;
    int max_animation_frames;
    long long max_animation_frame_resolution;
    int max_result_dimension;
    /* Colour adjustments and filters (imgproxy Pro; applied by adjust.c). */
    int brightness;                 /* -255..255, 0 = unchanged */
    double contrast;                /* factor >= 0, 1 = unchanged */
    double saturation;              /* chroma factor >= 0, 1 = unchanged */
    double mc_intensity;            /* monochrome 0..1, 0 = off */
    unsigned char mc_color[3];      /* default b3b3b3 */
    double dt_intensity;            /* duotone 0..1, 0 = off */
    unsigned char dt_color1[3];     /* shadows, default 000000 */
    unsigned char dt_color2[3];     /* highlights, default ffffff */
    double col_opacity;             /* colorize 0..1, 0 = off */
    unsigned char col_color[3];     /* default 000 */
    bool col_keep_alpha;            /* colorize leaves the alpha band as it is */
    double gr_opacity;              /* gradient 0..1, 0 = off */
    unsigned char gr_color[3];      /* default 000 */
    double gr_angle;                /* degrees clockwise, 0 = down (opaque at the bottom) */
    double gr_start, gr_stop;       /* 0..1 along the direction */
    int ush_mode;                   /* enum ush_mode; from IMGPROXY_UNSHARP_MASKING_MODE */
    double ush_weight, ush_divider; /* from IMGPROXY_UNSHARP_MASKING_WEIGHT / _DIVIDER */
    double background_alpha;        /* alpha of the flatten background 0..1, 1 = opaque */
    double ba_sigma;                /* blur_areas: Gaussian sigma in result pixels, 0 = off */
    int ba_n;                       /* blur_areas: how many rectangles */
    double ba_rects[OPTIONS_BLUR_AREAS][4]; /* left, top, width, height: fractions 0..1 */
    /* Geometry (imgproxy Pro). */
    double crop_ar;       /* crop_aspect_ratio: width / height, 0 = off */
    bool crop_ar_enlarge; /* grow one side of the crop area instead of shrinking one */
    int resize_kernel;    /* resizing_algorithm: a VipsKernel, default lanczos3 */
    /* Encoder options (imgproxy Pro): start from the IMGPROXY_* saver settings. */
    struct save_opts enc;
    char color_profile[OPTIONS_STR_MAX]; /* "" = none; srgb, cmyk or a file name */
    char style[OPTIONS_STR_MAX];         /* CSS for SVG sources (decoded `style`); "" = none */
    /* presets already applied in this request (recursion guard) */
    unsigned char preset_used[64];
    /* Sources (docs/pro-sources.md). */
    int hashsum_type;                   /* hashsum/hs: enum options_hashsum */
    char hashsum_hex[OPTIONS_STR_MAX];  /* its expected digest, lower-case hex */
    char fallback_url[OPTIONS_STR_MAX]; /* fallback_image_url/fiu, decoded; "" = none */
    /*
     * Chained pipelines (docs/pro-sources.md): the options of the pipeline
     * that runs on this one's result, or NULL. Set by chain_parse_url(),
     * freed with chain_free() (chain.h).
     */
    struct procopts *next;
    /*
     * Not an option: the watermark_url image the handler fetched (or took
     * from the cache) for this request, borrowed; NULL = none.
     */
    const unsigned char *wm_image;
    size_t wm_image_len;
};

/* The digests hashsum (hs) checks the source against. */
enum options_hashsum {
    HASHSUM_NONE = 0,
    HASHSUM_MD5,
    HASHSUM_SHA1,
    HASHSUM_SHA256,
    HASHSUM_SHA512,
};

/* Fills po with the defaults, taking config-driven ones from cfg. */
void options_init(struct procopts *po);

/*
 * Applies one option segment ("rs:fit:300:300", len bytes) to po. sep is
 * the arguments separator. Returns 0 or ERR_INVALID_URL (or
 * ERR_SECURITY_OPTION) recorded in e.
 */
int options_apply(struct procopts *po, const char *seg, size_t len, char sep, struct errinfo *e)
    __attribute__((warn_unused_result));

/*
 * Applies one option segment from a URL: like options_apply(), but first
 * checks IMGPROXY_ALLOWED_PROCESSING_OPTIONS (presets are not checked).
 */
int options_apply_url(struct procopts *po, const char *seg, size_t len, char sep, struct errinfo *e)
    __attribute__((warn_unused_result));

/*
 * Applies the named preset (name/len) to po; ERR_INVALID_URL when unknown.
 * A preset already applied in this request is skipped with a warning. A "-"
 * in the preset is skipped here: all its parts apply to po (chain_parse_url()
 * is what spreads them over a chain's pipelines).
 */
int options_apply_preset(struct procopts *po, const char *name, size_t len, char sep,
                         struct errinfo *e) __attribute__((warn_unused_result));

/*
 * For src/chain.c: IMGPROXY_ALLOWED_PROCESSING_OPTIONS for the option named
 * by seg (up to sep): 0 or ERR_INVALID_URL recorded in e.
 */
int options__allowed(const char *seg, size_t len, char sep, struct errinfo *e)
    __attribute__((warn_unused_result));

/*
 * For src/chain.c: true when seg (up to sep) names an option that acts once
 * per request, whichever pipeline of a chain names it (the result format and
 * quality, metadata, response headers, the source and its limits).
 */
bool options__request_level(const char *seg, size_t len, char sep);

/*
 * hashsum (hs): checks data/len (the downloaded source) against po's
 * expected digest. Returns 0 (a match, or no check asked for), or
 * ERR_SOURCE_TYPE (422) on a mismatch, recorded in e.
 */
int options_hashsum_verify(const struct procopts *po, const void *data, size_t len,
                           struct errinfo *e) __attribute__((warn_unused_result));

/*
 * Applies a URL extension or `format` argument ("webp"); "best" asks for
 * format:best (po->format stays IMGTYPE_UNKNOWN). 0 or ERR_INVALID_URL.
 */
int options_apply_format(struct procopts *po, const char *ext, size_t len, struct errinfo *e)
    __attribute__((warn_unused_result));

/*
 * Effective quality for result format t: quality, else format_quality, else
 * IMGPROXY_QUALITY. PDF results take JPEG's (they hold a JPEG).
 */
int options_quality(const struct procopts *po, enum imgtype t);

/* Room options_canonical() needs at most. */
#define OPTIONS_CANONICAL_MAX 8192

/*
 * The canonical serialisation of the options in po that differ from the
 * defaults (options_init() with the current cfg), for the ETag's options hash.
 * One line per differing field, in struct order, "name=value\n"; numbers in
 * C locale (%d, %.17g), booleans 0/1, gravities "type:x:y", formats by name,
 * strings with '\\' and newlines escaped. No differing field gives "".
 * Writes at most outlen bytes with the NUL (OPTIONS_CANONICAL_MAX always
 * fits) and returns the length.
 */
size_t options_canonical(const struct procopts *po, char *out, size_t outlen);

/* Name of a gravity type as in URLs ("ce", "noea", "fp"), static. */
const char *options_gravity_name(enum gravity_type t);

#endif
