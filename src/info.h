/* info.h: the /info endpoint's options (their parser and presets) and its JSON answer. */
#ifndef IMGFCGI_INFO_H
#define IMGFCGI_INFO_H

#include <stdbool.h>
#include <stddef.h>

#include "errors.h"
#include "imagetype.h"
#include "options.h"

/* calc_hashsums / hashsum types, as bits. */
enum info_hash {
    INFO_HASH_MD5 = 1 << 0,
    INFO_HASH_SHA1 = 1 << 1,
    INFO_HASH_SHA256 = 1 << 2,
    INFO_HASH_SHA512 = 1 << 3,
};

#define INFO_BLURHASH_MAX 9 /* components per axis */
#define INFO_HASHSUM_HEX_MAX 129

/* What one /info request asks for. */
struct infoopts {
    bool size, format, dimensions;
    bool exif, exif_canonical;
    bool iptc, xmp;
    bool video_meta;     /* accepted; no video source is decoded here */
    bool detect_objects; /* accepted; no object detection model: nothing is added */
    bool colorspace, bands, sample_format, pages_number;
    bool alpha, alpha_check_transparency;
    double crop_w, crop_h;       /* crop: as the processing crop; both > 0 to answer */
    struct gravity crop_gravity; /* GRAV_UNKNOWN = centre */
    int palette;                 /* 0 = off, else 2..256 colours */
    bool average, average_ignore_transparent;
    bool dominant_colors, dominant_build_missed;
    int blurhash_x, blurhash_y; /* 0 = off, else 1..INFO_BLURHASH_MAX */
    unsigned hashsums;          /* enum info_hash bits */
    int page;
    bool has_expires;
    long long expires;
    char cachebuster[OPTIONS_STR_MAX];
    unsigned hashsum_type; /* one enum info_hash bit, 0 = none */
    char hashsum_hex[INFO_HASHSUM_HEX_MAX];
    long long max_src_resolution; /* start from config; changed only when allowed */
    long long max_src_file_size;
    unsigned char preset_used[8]; /* info presets applied in this request */
};

/* Fills io with the documented defaults and the config-driven limits. */
void info_options_init(struct infoopts *io);

/*
 * Applies one info option segment ("blurhash:4:3", len bytes, no NUL needed;
 * sep is the arguments separator) to io. Returns 0, ERR_INVALID_URL for an
 * unknown option or a bad argument, or ERR_SECURITY_OPTION for msr/msfs
 * without IMGPROXY_ALLOW_SECURITY_OPTIONS, recorded in e.
 */
int info_options_apply(struct infoopts *io, const char *seg, size_t len, char sep,
                       struct errinfo *e) __attribute__((warn_unused_result));

/* info_options_apply() after the IMGPROXY_ALLOWED_INFO_OPTIONS check (presets not checked). */
int info_options_apply_url(struct infoopts *io, const char *seg, size_t len, char sep,
                           struct errinfo *e) __attribute__((warn_unused_result));

/*
 * Applies the info preset name/len; ERR_INVALID_URL when there is none of
 * that name. A preset already applied in this request is skipped.
 */
int info_options_apply_preset(struct infoopts *io, const char *name, size_t len, char sep,
                              struct errinfo *e) __attribute__((warn_unused_result));

/*
 * Reads IMGPROXY_INFO_PRESETS (split by IMGPROXY_PRESETS_SEPARATOR) and
 * IMGPROXY_INFO_PRESETS_PATH (one per line, `#` comments), and checks every
 * preset by applying it to the defaults. Call once after config_load(),
 * before threads start. Returns 0, or -1 with a message in err.
 */
int info_presets_init(char *err, size_t errlen) __attribute__((warn_unused_result));

/* Adds one `name=opt/opt` info preset (for start-up and tests); 0 or -1 with err. */
int info_presets_add(const char *def, size_t len, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Frees the info preset table; safe when never filled. */
void info_presets_release(void);

/* Whether an info preset of that name exists. */
bool info_presets_has(const char *name, size_t len);

/* Whether IMGPROXY_INFO_ONLY_PRESETS is in effect (its default is IMGPROXY_ONLY_PRESETS). */
bool info_only_presets(void);

/* Whether answering io opens the image's header with libvips (dimensions, metadata, ...). */
bool info_needs_header(const struct infoopts *io);

/*
 * Whether answering io needs the whole source (a hash, a decoded value) or
 * only its header: the fetch may stop early when this is false.
 */
bool info_needs_body(const struct infoopts *io);

/* Whether answering io decodes pixels (average, blurhash, palette, ...). */
bool info_needs_pixels(const struct infoopts *io);

#endif
