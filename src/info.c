/* info.c: the /info options (own namespace, table and presets), parsed like processing ones. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "info.h"
#include "log.h"
#include "parse.h"
#include "presets.h"
#include "banned.h"

#define INFO_ARGS_MAX 16

/* The arguments of one segment, split at the separator (copies, NUL-terminated). */
struct info_args {
    char buf[1024];
    const char *v[INFO_ARGS_MAX];
    size_t n;
};

struct info_call {
    struct infoopts *io;
    const struct info_args *a;
    const char *seg; /* the whole segment, for the options the processing parser reads */
    size_t seglen;
    char sep;
    struct errinfo *e;
};

typedef int (*info_handler)(const struct info_call *c);

struct info_def {
    const char *name;
    const char *aliases[2];
    size_t min_args, max_args;
    info_handler handle;
};

/* strconv.ParseBool; anything else is an invalid argument here (a 404). */
static int arg_bool(const struct info_call *c, size_t i, bool *out)
{
    if (parse_go_bool(c->a->v[i], out) < 0)
        return err_set(c->e, ERR_INVALID_URL, "Invalid info option argument: %s", c->a->v[i]);
    return 0;
}

/* A decimal int in [lo, hi]. */
static int arg_int(const struct info_call *c, size_t i, int lo, int hi, int *out)
{
    const char *s = c->a->v[i];
    char *end;
    long v;

    if (!((*s >= '0' && *s <= '9') || *s == '-' || *s == '+'))
        return err_set(c->e, ERR_INVALID_URL, "Invalid info option argument: %s", s);
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return err_set(c->e, ERR_INVALID_URL, "Invalid info option argument: %s", s);
    *out = (int)v;
    return 0;
}

#define BOOL_HANDLER(fn, field)                                                                    \
    static int fn(const struct info_call *c)                                                       \
    {                                                                                              \
        return arg_bool(c, 0, &c->io->field);                                                      \
    }

BOOL_HANDLER(set_size, size)
BOOL_HANDLER(set_format, format)
BOOL_HANDLER(set_dimensions, dimensions)
BOOL_HANDLER(set_iptc, iptc)
BOOL_HANDLER(set_xmp, xmp)
BOOL_HANDLER(set_video_meta, video_meta)
BOOL_HANDLER(set_detect_objects, detect_objects)
BOOL_HANDLER(set_colorspace, colorspace)
BOOL_HANDLER(set_bands, bands)
BOOL_HANDLER(set_sample_format, sample_format)
BOOL_HANDLER(set_pages_number, pages_number)

/* A boolean with an optional second boolean. */
static int bool_pair(const struct info_call *c, bool *first, bool *second)
{
    int ret = arg_bool(c, 0, first);

    if (ret == 0 && c->a->n > 1)
        ret = arg_bool(c, 1, second);
    return ret;
}

static int set_exif(const struct info_call *c)
{
    return bool_pair(c, &c->io->exif, &c->io->exif_canonical);
}

static int set_alpha(const struct info_call *c)
{
    return bool_pair(c, &c->io->alpha, &c->io->alpha_check_transparency);
}

static int set_average(const struct info_call *c)
{
    return bool_pair(c, &c->io->average, &c->io->average_ignore_transparent);
}

static int set_dominant(const struct info_call *c)
{
    return bool_pair(c, &c->io->dominant_colors, &c->io->dominant_build_missed);
}

static int set_palette(const struct info_call *c)
{
    int v;
    int ret = arg_int(c, 0, 0, 256, &v);

    if (ret < 0)
        return ret;
    if (v == 1)
        return err_set(c->e, ERR_INVALID_URL, "Invalid palette size: %d (2..256, 0 = off)", v);
    c->io->palette = v;
    return 0;
}

static int set_blurhash(const struct info_call *c)
{
    int x, y;
    int ret = arg_int(c, 0, 0, INFO_BLURHASH_MAX, &x);

    if (ret == 0)
        ret = arg_int(c, 1, 0, INFO_BLURHASH_MAX, &y);
    if (ret < 0)
        return ret;
    c->io->blurhash_x = x;
    c->io->blurhash_y = y;
    return 0;
}

static int set_page(const struct info_call *c)
{
    return arg_int(c, 0, 0, 1000000, &c->io->page);
}

static const struct {
    const char *name;
    unsigned bit;
} hash_names[] = {
    {"md5", INFO_HASH_MD5},
    {"sha1", INFO_HASH_SHA1},
    {"sha256", INFO_HASH_SHA256},
    {"sha512", INFO_HASH_SHA512},
};

/* The enum info_hash bit called s; 0 for an unknown name. */
static unsigned hash_bit(const char *s)
{
    for (size_t i = 0; i < sizeof(hash_names) / sizeof(hash_names[0]); i++)
        if (strcmp(s, hash_names[i].name) == 0)
            return hash_names[i].bit;
    return 0;
}

static int set_calc_hashsums(const struct info_call *c)
{
    unsigned bits = 0;

    for (size_t i = 0; i < c->a->n; i++) {
        unsigned b = hash_bit(c->a->v[i]);

        /* An empty list (chs:) turns the hashes off, as the default is. */
        if (b == 0 && !(c->a->n == 1 && c->a->v[0][0] == '\0'))
            return err_set(c->e, ERR_INVALID_URL, "Invalid hashsum type: %s", c->a->v[i]);
        bits |= b;
    }
    c->io->hashsums = bits;
    return 0;
}

static int set_hashsum(const struct info_call *c)
{
    const char *type = c->a->v[0];
    const char *hex = c->a->n > 1 ? c->a->v[1] : "";
    unsigned bit = hash_bit(type);
    size_t hl = strlen(hex);

    if (strcmp(type, "none") == 0) {
        c->io->hashsum_type = 0;
        c->io->hashsum_hex[0] = '\0';
        return 0;
    }
    if (bit == 0)
        return err_set(c->e, ERR_INVALID_URL, "Invalid hashsum type: %s", type);
    if (hl == 0 || hl >= INFO_HASHSUM_HEX_MAX || strspn(hex, "0123456789abcdefABCDEF") != hl)
        return err_set(c->e, ERR_INVALID_URL, "Invalid hashsum: %s", hex);
    c->io->hashsum_type = bit;
    memcpy(c->io->hashsum_hex, hex, hl + 1);
    return 0;
}

/* The video options: accepted for URL compatibility; no video source is read here. */
static int set_video_number(const struct info_call *c)
{
    char *end;
    double v = strtod(c->a->v[0], &end);

    if (*c->a->v[0] == '\0' || *end != '\0' || !isfinite(v) || v < 0)
        return err_set(c->e, ERR_INVALID_URL, "Invalid video thumbnail second: %s", c->a->v[0]);
    return 0;
}

static int set_video_bool(const struct info_call *c)
{
    bool v;

    return arg_bool(c, 0, &v);
}

static int set_objects_position(const struct info_call *c)
{
    static const char *const types[] = {"ce",   "no",   "so",   "ea", "we",  "noea",
                                        "nowe", "soea", "sowe", "fp", "prop"};

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(c->a->v[0], types[i]) == 0)
            return 0;
    return err_set(c->e, ERR_INVALID_URL, "Invalid objects position: %s", c->a->v[0]);
}

/*
 * crop, expires, cachebuster and the security options read their arguments
 * exactly as the processing options of the same name do: the segment goes
 * through the processing parser on a scratch copy, and the fields move over.
 */
static int via_processing(const struct info_call *c, const char *pname)
{
    struct procopts po;
    char seg[1024];
    const char *args = memchr(c->seg, c->sep, c->seglen);
    size_t alen = args != NULL ? (size_t)(c->seg + c->seglen - args) : 0;
    int n, ret;

    n = snprintf(seg, sizeof(seg), "%s%.*s", pname, (int)alen, args != NULL ? args : "");
    if (n < 0 || (size_t)n >= sizeof(seg))
        return err_set(c->e, ERR_INVALID_URL, "Info option too long");
    options_init(&po);
    po.max_src_resolution = c->io->max_src_resolution;
    po.max_src_file_size = c->io->max_src_file_size;
    ret = options_apply(&po, seg, (size_t)n, c->sep, c->e);
    if (ret < 0)
        return ret;
    if (strcmp(pname, "crop") == 0) {
        c->io->crop_w = po.crop_w;
        c->io->crop_h = po.crop_h;
        c->io->crop_gravity = po.crop_gravity;
    } else if (strcmp(pname, "expires") == 0) {
        c->io->has_expires = po.has_expires;
        c->io->expires = po.expires;
    } else if (strcmp(pname, "cachebuster") == 0) {
        memcpy(c->io->cachebuster, po.cachebuster, sizeof(c->io->cachebuster));
    } else {
        c->io->max_src_resolution = po.max_src_resolution;
        c->io->max_src_file_size = po.max_src_file_size;
    }
    return 0;
}

static int set_crop(const struct info_call *c)
{
    return via_processing(c, "crop");
}

static int set_expires(const struct info_call *c)
{
    return via_processing(c, "expires");
}

static int set_cachebuster(const struct info_call *c)
{
    return via_processing(c, "cachebuster");
}

static int set_msr(const struct info_call *c)
{
    return via_processing(c, "max_src_resolution");
}

static int set_msfs(const struct info_call *c)
{
    return via_processing(c, "max_src_file_size");
}

static int set_preset(const struct info_call *c)
{
    for (size_t i = 0; i < c->a->n; i++) {
        int ret = info_options_apply_preset(c->io, c->a->v[i], strlen(c->a->v[i]), c->sep, c->e);

        if (ret < 0)
            return ret;
    }
    return 0;
}

#define NA INFO_ARGS_MAX

static const struct info_def info_defs[] = {
    /* name, aliases, min and max arguments, handler */
    {"size", {"s", NULL}, 1, 1, set_size},
    {"format", {"f", NULL}, 1, 1, set_format},
    {"dimensions", {"d", NULL}, 1, 1, set_dimensions},
    {"exif", {NULL, NULL}, 1, 2, set_exif},
    {"iptc", {NULL, NULL}, 1, 1, set_iptc},
    {"xmp", {NULL, NULL}, 1, 1, set_xmp},
    {"video_meta", {"vm", NULL}, 1, 1, set_video_meta},
    {"detect_objects", {"do", NULL}, 1, 1, set_detect_objects},
    {"colorspace", {"cs", NULL}, 1, 1, set_colorspace},
    {"bands", {"b", NULL}, 1, 1, set_bands},
    {"sample_format", {"sf", NULL}, 1, 1, set_sample_format},
    {"pages_number", {"pn", NULL}, 1, 1, set_pages_number},
    {"alpha", {"a", NULL}, 1, 2, set_alpha},
    {"crop", {"c", NULL}, 1, 5, set_crop},
    {"objects_position", {"op", "obj_pos"}, 1, 3, set_objects_position},
    {"palette", {"p", NULL}, 1, 1, set_palette},
    {"average", {"avg", NULL}, 1, 2, set_average},
    {"dominant_colors", {"dc", NULL}, 1, 2, set_dominant},
    {"blurhash", {"bh", NULL}, 2, 2, set_blurhash},
    {"calc_hashsums", {"chs", NULL}, 1, 4, set_calc_hashsums},
    {"page", {"pg", NULL}, 1, 1, set_page},
    {"video_thumbnail_second", {"vts", NULL}, 1, 1, set_video_number},
    {"video_thumbnail_keyframes", {"vtk", NULL}, 1, 1, set_video_bool},
    {"cachebuster", {"cb", NULL}, 1, 1, set_cachebuster},
    {"expires", {"exp", NULL}, 1, 1, set_expires},
    {"preset", {"pr", NULL}, 1, NA, set_preset},
    {"hashsum", {"hs", NULL}, 1, 2, set_hashsum},
    {"max_src_resolution", {"msr", NULL}, 1, 1, set_msr},
    {"max_src_file_size", {"msfs", NULL}, 1, 1, set_msfs},
};

void info_options_init(struct infoopts *io)
{
    memset(io, 0, sizeof(*io));
    io->size = true;
    io->format = true;
    io->dimensions = true;
    io->exif = true;
    io->iptc = true;
    io->xmp = true;
    io->video_meta = true;
    io->average_ignore_transparent = true;
    io->crop_gravity.type = GRAV_UNKNOWN;
    io->max_src_resolution = cfg.max_src_resolution;
    io->max_src_file_size = cfg.max_src_file_size;
}

static const struct info_def *find_def(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(info_defs) / sizeof(info_defs[0]); i++) {
        const struct info_def *d = &info_defs[i];

        if (strlen(d->name) == len && memcmp(d->name, name, len) == 0)
            return d;
        for (size_t k = 0; k < 2; k++)
            if (d->aliases[k] != NULL && strlen(d->aliases[k]) == len &&
                memcmp(d->aliases[k], name, len) == 0)
                return d;
    }
    return NULL;
}

int info_options_apply(struct infoopts *io, const char *seg, size_t len, char sep,
                       struct errinfo *e)
{
    struct info_args a;
    const char *name_end = memchr(seg, sep, len);
    size_t nlen = name_end != NULL ? (size_t)(name_end - seg) : len;
    const struct info_def *d;
    struct info_call c;
    char *p;

    if (len >= sizeof(a.buf))
        return err_set(e, ERR_INVALID_URL, "Info option too long");
    d = find_def(seg, nlen);
    if (d == NULL)
        return err_set(e, ERR_INVALID_URL, "Unknown info option: %.*s", (int)nlen, seg);
    a.n = 0;
    if (name_end != NULL) {
        memcpy(a.buf, name_end + 1, len - nlen - 1);
        a.buf[len - nlen - 1] = '\0';
        p = a.buf;
        a.v[a.n++] = p;
        for (; *p != '\0'; p++) {
            if (*p == sep) {
                if (a.n >= INFO_ARGS_MAX)
                    return err_set(e, ERR_INVALID_URL, "Too many arguments for %s", d->name);
                *p = '\0';
                a.v[a.n++] = p + 1;
            }
        }
    }
    if (memchr(seg, '\0', len) != NULL)
        return err_set(e, ERR_INVALID_URL, "NUL in info option");
    if (a.n < d->min_args || a.n > d->max_args)
        return err_set(e, ERR_INVALID_URL, "Invalid %s arguments: %.*s", d->name, (int)len, seg);
    c.io = io;
    c.a = &a;
    c.seg = seg;
    c.seglen = len;
    c.sep = sep;
    c.e = e;
    if ((d->handle == set_msr || d->handle == set_msfs) && !cfg.allow_security_options)
        return err_set(e, ERR_SECURITY_OPTION, "Security processing options are not allowed");
    return d->handle(&c);
}

int info_options_apply_url(struct infoopts *io, const char *seg, size_t len, char sep,
                           struct errinfo *e)
{
    if (cfg.allowed_info_options.len > 0) {
        const char *s = memchr(seg, sep, len);
        size_t nlen = s ? (size_t)(s - seg) : len;
        bool ok = false;

        for (size_t i = 0; i < cfg.allowed_info_options.len; i++) {
            const char *n = cfg.allowed_info_options.items[i];

            if (strlen(n) == nlen && memcmp(n, seg, nlen) == 0)
                ok = true;
        }
        if (!ok)
            return err_set(e, ERR_INVALID_URL, "Forbidden info option %.*s", (int)nlen, seg);
    }
    return info_options_apply(io, seg, len, sep, e);
}

bool info_needs_header(const struct infoopts *io)
{
    return io->dimensions || io->exif || io->iptc || io->xmp || io->colorspace || io->bands ||
           io->sample_format || io->pages_number || io->alpha || (io->crop_w > 0 && io->crop_h > 0);
}

bool info_needs_body(const struct infoopts *io)
{
    return info_needs_header(io) || io->hashsums != 0 || io->hashsum_type != 0 ||
           info_needs_pixels(io);
}

bool info_needs_pixels(const struct infoopts *io)
{
    return (io->alpha && io->alpha_check_transparency) || io->palette > 0 || io->average ||
           io->dominant_colors || (io->blurhash_x > 0 && io->blurhash_y > 0);
}

bool info_only_presets(void)
{
    bool v;

    if (cfg.info_only_presets != NULL && parse_go_bool(cfg.info_only_presets, &v) == 0)
        return v;
    return cfg.only_presets;
}

/* The info presets: a table of their own, filled at start-up, read-only afterwards. */

#define INFO_PRESETS_MAX 64 /* one bit each in infoopts.preset_used */

static struct preset rows[INFO_PRESETS_MAX];
static struct preset_table presets = {.what = "info preset",
                                      .path_var = "IMGPROXY_INFO_PRESETS_PATH",
                                      .rows = rows,
                                      .max = INFO_PRESETS_MAX};

void info_presets_release(void)
{
    preset_table_release(&presets);
}

int info_presets_add(const char *def, size_t len, char *err, size_t errlen)
{
    return preset_table_add(&presets, def, len, err, errlen);
}

bool info_presets_has(const char *name, size_t len)
{
    return preset_table_find(&presets, name, len) != NULL;
}

int info_options_apply_preset(struct infoopts *io, const char *name, size_t len, char sep,
                              struct errinfo *e)
{
    const struct preset *p = preset_table_find(&presets, name, len);
    size_t idx;

    if (p == NULL)
        return err_set(e, ERR_INVALID_URL, "Unknown info preset: %.*s", (int)len, name);
    idx = (size_t)(p - rows);
    if (io->preset_used[idx / 8] & (1u << (idx % 8))) {
        log_warn("Recursive info preset usage is detected: %s", p->name);
        return 0;
    }
    io->preset_used[idx / 8] |= (unsigned char)(1u << (idx % 8));
    for (size_t i = 0; i < p->nsegments; i++) {
        int ret = info_options_apply(io, p->segments[i], strlen(p->segments[i]), sep, e);

        if (ret < 0)
            return ret;
    }
    return 0;
}

/* An info preset applied to the default info options. */
static int check_preset(const char *name, size_t len, struct errinfo *e)
{
    struct infoopts io;

    info_options_init(&io);
    return info_options_apply_preset(&io, name, len, cfg.arguments_separator[0], e);
}

int info_presets_init(char *err, size_t errlen)
{
    bool only;

    if (cfg.info_only_presets != NULL && cfg.info_only_presets[0] != '\0' &&
        parse_go_bool(cfg.info_only_presets, &only) < 0) {
        snprintf(err, errlen, "IMGPROXY_INFO_ONLY_PRESETS: not a boolean: %s",
                 cfg.info_only_presets);
        return -1;
    }
    return preset_table_load(&presets, cfg.info_presets, cfg.info_presets_path, check_preset, err,
                             errlen);
}
