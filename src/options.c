/* options.c: parsing processing options the way imgproxy v3 does (applyURLOption). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include <vips/vips.h>

#include <glib.h>

#include "config.h"
#include "log.h"
#include "markup.h"
#include "options.h"
#include "parse.h"
#include "url.h"
#include "presets.h"
#include "svg.h"
#include "banned.h"

#define MAX_ARGS 16
#define ARG_MAX_LEN OPTIONS_STR_MAX

struct args {
    char v[MAX_ARGS][ARG_MAX_LEN];
    size_t n;
};

void options_init(struct procopts *po)
{
    memset(po, 0, sizeof(*po));
    po->resizing_type = RT_FIT;
    po->zoom_w = 1;
    po->zoom_h = 1;
    po->dpr = 1;
    po->extend_gravity.type = GRAV_CENTER;
    po->gravity.type = GRAV_CENTER;
    po->crop_gravity.type = GRAV_UNKNOWN;
    po->format = IMGTYPE_UNKNOWN;
    memcpy(po->format_quality, cfg.format_quality, sizeof(po->format_quality));
    po->auto_rotate = cfg.auto_rotate;
    po->strip_metadata = cfg.strip_metadata;
    po->strip_color_profile = cfg.strip_color_profile;
    po->return_attachment = cfg.return_attachment;
    po->extend_ar_gravity.type = GRAV_CENTER;
    po->trim_threshold = 10;
    po->background[0] = po->background[1] = po->background[2] = 255;
    po->keep_copyright = cfg.keep_copyright;
    po->enforce_thumbnail = cfg.enforce_thumbnail;
    memcpy(po->skip_processing, cfg.skip_processing, sizeof(po->skip_processing));
    po->wm_gravity.type = GRAV_CENTER;
    po->pages = 1;
    po->best_format = cfg.best_format_by_default;
    po->aq_method = (int)cfg.autoquality_method;
    po->aq_target = cfg.autoquality_target;
    po->aq_allowed_error = cfg.autoquality_allowed_error;
    po->max_src_resolution = cfg.max_src_resolution;
    po->max_src_file_size = cfg.max_src_file_size;
    po->max_animation_frames = cfg.max_animation_frames;
    po->max_animation_frame_resolution = cfg.max_animation_frame_resolution;
    po->max_result_dimension = cfg.max_result_dimension;
    po->contrast = 1;
    po->saturation = 1;
    po->mc_color[0] = po->mc_color[1] = po->mc_color[2] = 0xb3;
    po->dt_color2[0] = po->dt_color2[1] = po->dt_color2[2] = 0xff;
    po->gr_stop = 1;
    po->ush_mode = cfg.unsharp_masking_mode;
    po->ush_weight = cfg.unsharp_masking_weight;
    po->ush_divider = cfg.unsharp_masking_divider;
    po->background_alpha = 1;
    po->resize_kernel = VIPS_KERNEL_LANCZOS3;
    save_opts_init(&po->enc);
}

/* strconv.Atoi: an optional sign and digits, nothing else. */
static int parse_int(const char *s, int *out)
{
    char *end;
    long long v;

    if (!(*s == '-' || *s == '+' || (*s >= '0' && *s <= '9')))
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < -2147483647LL - 1 || v > 2147483647LL)
        return -1;
    *out = (int)v;
    return 0;
}

/* strconv.ParseFloat, finite values only. */
static int parse_float(const char *s, double *out)
{
    char *end;
    double v;

    if (*s == '\0' || *s == ' ' || *s == '\t' || *s == '\n')
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* strconv.ParseBool; anything else is false with a warning, as in imgproxy. */
static bool parse_bool(const char *s)
{
    bool v = false;

    if (parse_go_bool(s, &v) < 0)
        log_warn("`%s` is not a valid boolean value. Treated as false", s);
    return v;
}

static const struct {
    const char *name;
    enum gravity_type type;
} gravity_names[] = {
    {"ce", GRAV_CENTER},       {"no", GRAV_NORTH},        {"so", GRAV_SOUTH},
    {"ea", GRAV_EAST},         {"we", GRAV_WEST},         {"noea", GRAV_NORTH_EAST},
    {"nowe", GRAV_NORTH_WEST}, {"soea", GRAV_SOUTH_EAST}, {"sowe", GRAV_SOUTH_WEST},
    {"sm", GRAV_SMART},        {"fp", GRAV_FOCUS_POINT},  {"re", GRAV_REPLICATE},
    {"ch", GRAV_CHESSBOARD},
};

const char *options_gravity_name(enum gravity_type t)
{
    for (size_t i = 0; i < sizeof(gravity_names) / sizeof(gravity_names[0]); i++)
        if (gravity_names[i].type == t)
            return gravity_names[i].name;
    return "";
}

/* Sets *t to the gravity called name; false (t untouched) for an unknown name. */
static bool gravity_lookup(const char *name, enum gravity_type *t)
{
    for (size_t i = 0; i < sizeof(gravity_names) / sizeof(gravity_names[0]); i++) {
        if (strcmp(name, gravity_names[i].name) == 0) {
            *t = gravity_names[i].type;
            return true;
        }
    }
    return false;
}

/* imgproxy's parseGravity over args[from..]; allow_smart: sm is accepted. */
static int parse_gravity(struct gravity *g, const char *what, const struct args *a, size_t from,
                         bool allow_smart, struct errinfo *e)
{
    size_t n = a->n - from;
    const char *name = a->v[from];

    if (!gravity_lookup(name, &g->type) || (g->type == GRAV_SMART && !allow_smart) ||
        g->type == GRAV_REPLICATE || g->type == GRAV_CHESSBOARD)
        return err_set(e, ERR_INVALID_URL, "Invalid %s: %s", what, name);
    g->x = 0;
    g->y = 0;
    if (g->type == GRAV_SMART) {
        if (n > 1)
            return err_set(e, ERR_INVALID_URL, "Invalid %s arguments", what);
        return 0;
    }
    if (g->type == GRAV_FOCUS_POINT && n != 3)
        return err_set(e, ERR_INVALID_URL, "Invalid %s arguments", what);
    if (n > 3)
        return err_set(e, ERR_INVALID_URL, "Invalid %s arguments", what);
    for (size_t i = 1; i < n; i++) {
        double v;

        if (parse_float(a->v[from + i], &v) < 0 ||
            (g->type == GRAV_FOCUS_POINT && (v < 0 || v > 1)))
            return err_set(e, ERR_INVALID_URL, "Invalid %s %s: %s", what, i == 1 ? "X" : "Y",
                           a->v[from + i]);
        if (i == 1)
            g->x = v;
        else
            g->y = v;
    }
    return 0;
}

static int parse_dimension(int *dst, const char *what, const char *s, struct errinfo *e)
{
    int v;

    if (parse_int(s, &v) < 0 || v < 0)
        return err_set(e, ERR_INVALID_URL, "Invalid %s: %s", what, s);
    *dst = v;
    return 0;
}

static int apply_resizing_type(struct procopts *po, const char *s, struct errinfo *e)
{
    static const struct {
        const char *name;
        enum resize_type t;
    } names[] = {{"fit", RT_FIT},
                 {"fill", RT_FILL},
                 {"fill-down", RT_FILL_DOWN},
                 {"force", RT_FORCE},
                 {"auto", RT_AUTO}};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i].name) == 0) {
            po->resizing_type = names[i].t;
            return 0;
        }
    }
    return err_set(e, ERR_INVALID_URL, "Invalid resize type: %s", s);
}

/* extend and extend_aspect_ratio: on[:gravity[:x:y]] from args[from..], at most 4 arguments. */
static int apply_extend_to(bool *on, struct gravity *g, const struct args *a, size_t from,
                           struct errinfo *e)
{
    *on = parse_bool(a->v[from]);
    if (a->n - from > 1)
        return parse_gravity(g, "extend gravity", a, from + 1, false, e);
    return 0;
}

/* A 3- or 6-digit hex colour ("f00", "ff0000"). */
static int parse_hex_color(const char *s, unsigned char rgb[3])
{
    size_t n = strlen(s);

    for (size_t i = 0; i < n; i++)
        if (parse_hex_digit(s[i]) < 0)
            return -1;
    if (n == 3) {
        for (size_t i = 0; i < 3; i++)
            rgb[i] = (unsigned char)(parse_hex_digit(s[i]) * 17);
        return 0;
    }
    if (n == 6) {
        for (size_t i = 0; i < 3; i++)
            rgb[i] =
                (unsigned char)(parse_hex_digit(s[2 * i]) * 16 + parse_hex_digit(s[2 * i + 1]));
        return 0;
    }
    return -1;
}

/* size: w:h:enlarge:extend[:gravity:x:y] from args[from..], at most 7; empty ones are skipped. */
static int apply_size(struct procopts *po, const struct args *a, size_t from, struct errinfo *e)
{
    size_t n = a->n - from;
    int r;

    if (n >= 1 && a->v[from][0] != '\0') {
        r = parse_dimension(&po->width, "width", a->v[from], e);
        if (r < 0)
            return r;
    }
    if (n >= 2 && a->v[from + 1][0] != '\0') {
        r = parse_dimension(&po->height, "height", a->v[from + 1], e);
        if (r < 0)
            return r;
    }
    if (n >= 3 && a->v[from + 2][0] != '\0')
        po->enlarge = parse_bool(a->v[from + 2]);
    if (n >= 4 && a->v[from + 3][0] != '\0')
        return apply_extend_to(&po->extend, &po->extend_gravity, a, from + 3, e);
    return 0;
}

int options_apply_format(struct procopts *po, const char *ext, size_t len, struct errinfo *e)
{
    enum imgtype t = imagetype_from_name(ext, len);

    if (len == 4 && memcmp(ext, "best", 4) == 0) {
        po->best_format = true;
        po->format = IMGTYPE_UNKNOWN;
        return 0;
    }
    if (t == IMGTYPE_UNKNOWN)
        return err_set(e, ERR_INVALID_URL, "Invalid image format: %.*s", (int)len, ext);
    po->format = t;
    po->best_format = false;
    return 0;
}

/*
 * The option table, in the manner of nginx's ngx_command_t: one row per
 * option with its name, its aliases, how many arguments it takes and the
 * handler that applies them. options_apply() finds the row, checks the
 * argument count and calls the handler, which sees the call below.
 */
struct option_def;

struct option_call {
    struct procopts *po;
    const struct option_def *def;
    const char *name; /* as written in the URL: the name or one of its aliases */
    const struct args *a;
    char sep;
    struct errinfo *e;
};

typedef int (*option_fn)(const struct option_call *c);

#define OPT_SECURITY 1u /* only with IMGPROXY_ALLOW_SECURITY_OPTIONS, else 403 */
#define OPT_POSITIVE 2u /* set_int: at least 1 */
#define OPT_LLONG 4u    /* set_int: the field is a long long */
/*
 * Acts once per request, whichever pipeline of a chain names it: the
 * result's format, quality and size cap, metadata, the response headers,
 * the source and its limits. Every other option belongs to the pipeline
 * that names it (options__request_level()).
 */
#define OPT_REQUEST 8u

struct option_def {
    const char *name;
    const char *aliases[2]; /* NULL when fewer */
    /*
     * Bounds of the argument count. The splitter always gives at least one
     * (possibly empty) argument and at most MAX_ARGS; outside the bounds is
     * "Invalid <what> arguments", what being the name as written when NULL.
     */
    size_t min_args, max_args;
    const char *what;
    unsigned flags;
    size_t off; /* offsetof(struct procopts, field) for the generic setters */
    option_fn apply;
};

/* The procopts field a generic setter writes, from the row's offset. */
static void *opt_field(const struct option_call *c)
{
    return (char *)c->po + c->def->off;
}

static int invalid_value(const struct option_call *c, const char *arg)
{
    return err_set(c->e, ERR_INVALID_URL, "Invalid %s: %s", c->name, arg);
}

/* The first argument as an int >= lo, or "Invalid <name>: <arg>". */
static int int_arg(const struct option_call *c, int lo, int *out)
{
    if (parse_int(c->a->v[0], out) < 0 || *out < lo)
        return invalid_value(c, c->a->v[0]);
    return 0;
}

static int set_bool(const struct option_call *c)
{
    *(bool *)opt_field(c) = parse_bool(c->a->v[0]);
    return 0;
}

/* An int >= 0 (>= 1 with OPT_POSITIVE) into an int, or a long long with OPT_LLONG. */
static int set_int(const struct option_call *c)
{
    int v;
    int r = int_arg(c, (c->def->flags & OPT_POSITIVE) ? 1 : 0, &v);

    if (r < 0)
        return r;
    if (c->def->flags & OPT_LLONG)
        *(long long *)opt_field(c) = v;
    else
        *(int *)opt_field(c) = v;
    return 0;
}

static int set_nonneg_double(const struct option_call *c)
{
    double v;

    if (parse_float(c->a->v[0], &v) < 0 || v < 0)
        return invalid_value(c, c->a->v[0]);
    *(double *)opt_field(c) = v;
    return 0;
}

/* Megapixels in (0, 1e9] stored as a pixel count. */
static int set_megapixels(const struct option_call *c)
{
    double f;

    if (parse_float(c->a->v[0], &f) < 0 || !(f > 0) || f > 1e9)
        return invalid_value(c, c->a->v[0]);
    *(long long *)opt_field(c) = (long long)(f * 1e6);
    return 0;
}

/* A string field of OPTIONS_STR_MAX bytes; arguments are shorter than that. */
static int set_string(const struct option_call *c)
{
    memcpy(opt_field(c), c->a->v[0], strlen(c->a->v[0]) + 1);
    return 0;
}

static int opt_resize(const struct option_call *c)
{
    if (c->a->v[0][0] != '\0') {
        int r = apply_resizing_type(c->po, c->a->v[0], c->e);

        if (r < 0)
            return r;
    }
    if (c->a->n > 1)
        return apply_size(c->po, c->a, 1, c->e);
    return 0;
}

static int opt_size(const struct option_call *c)
{
    return apply_size(c->po, c->a, 0, c->e);
}

static int opt_resizing_type(const struct option_call *c)
{
    return apply_resizing_type(c->po, c->a->v[0], c->e);
}

/* A positive float, "Invalid <what>: <arg>" otherwise. */
static int positive_float(const struct option_call *c, const char *what, const char *s, double *v)
{
    if (parse_float(s, v) < 0 || !(*v > 0))
        return err_set(c->e, ERR_INVALID_URL, "Invalid %s: %s", what, s);
    return 0;
}

static int opt_zoom(const struct option_call *c)
{
    double z;
    int r = positive_float(c, "zoom value", c->a->v[0], &z);

    if (r < 0)
        return r;
    c->po->zoom_w = c->po->zoom_h = z;
    if (c->a->n > 1) {
        r = positive_float(c, "zoom value", c->a->v[1], &z);
        if (r < 0)
            return r;
        c->po->zoom_h = z;
    }
    return 0;
}

static int opt_dpr(const struct option_call *c)
{
    double d;
    int r = positive_float(c, "dpr", c->a->v[0], &d);

    if (r == 0)
        c->po->dpr = d;
    return r;
}

static int opt_extend(const struct option_call *c)
{
    return apply_extend_to(&c->po->extend, &c->po->extend_gravity, c->a, 0, c->e);
}

static int opt_extend_ar(const struct option_call *c)
{
    return apply_extend_to(&c->po->extend_ar, &c->po->extend_ar_gravity, c->a, 0, c->e);
}

static int opt_gravity(const struct option_call *c)
{
    return parse_gravity(&c->po->gravity, "gravity", c->a, 0, true, c->e);
}

static int opt_crop(const struct option_call *c)
{
    const struct args *a = c->a;
    double v;

    if (parse_float(a->v[0], &v) < 0 || v < 0)
        return err_set(c->e, ERR_INVALID_URL, "Invalid crop width: %s", a->v[0]);
    c->po->crop_w = v;
    if (a->n > 1) {
        if (parse_float(a->v[1], &v) < 0 || v < 0)
            return err_set(c->e, ERR_INVALID_URL, "Invalid crop height: %s", a->v[1]);
        c->po->crop_h = v;
    }
    if (a->n > 2)
        return parse_gravity(&c->po->crop_gravity, "crop gravity", a, 2, true, c->e);
    return 0;
}

/* A quality 0..100 (0 = the default's). */
static int parse_quality(const char *s, int *q)
{
    return parse_int(s, q) < 0 || *q < 0 || *q > 100 ? -1 : 0;
}

static int opt_quality(const struct option_call *c)
{
    int q;

    if (parse_quality(c->a->v[0], &q) < 0)
        return err_set(c->e, ERR_INVALID_URL, "Invalid quality: %s", c->a->v[0]);
    c->po->quality = q;
    return 0;
}

static int opt_format(const struct option_call *c)
{
    return options_apply_format(c->po, c->a->v[0], strlen(c->a->v[0]), c->e);
}

static int opt_rotate(const struct option_call *c)
{
    int deg;

    if (parse_int(c->a->v[0], &deg) < 0 || deg % 90 != 0)
        return err_set(c->e, ERR_INVALID_URL, "Invalid rotation angle: %s", c->a->v[0]);
    c->po->rotate = ((deg % 360) + 360) % 360;
    return 0;
}

static int opt_format_quality(const struct option_call *c)
{
    const struct args *a = c->a;

    if (a->n % 2 != 0)
        return err_set(c->e, ERR_INVALID_URL, "Missing quality for: %s", a->v[a->n - 1]);
    for (size_t i = 0; i < a->n; i += 2) {
        enum imgtype t = imagetype_from_name(a->v[i], strlen(a->v[i]));
        int q;

        if (t == IMGTYPE_UNKNOWN)
            return err_set(c->e, ERR_INVALID_URL, "Invalid image format: %s", a->v[i]);
        if (parse_quality(a->v[i + 1], &q) < 0)
            return err_set(c->e, ERR_INVALID_URL, "Invalid quality for %s: %s", a->v[i],
                           a->v[i + 1]);
        c->po->format_quality[t] = q;
    }
    return 0;
}

static int opt_expires(const struct option_call *c)
{
    const char *s = c->a->v[0];
    char *endp;
    long long ts;

    errno = 0;
    ts = strtoll(s, &endp, 10);
    if (s[0] == '\0' || *endp != '\0' || errno != 0)
        return err_set(c->e, ERR_INVALID_URL, "Invalid expires argument: %s", s);
    /* 0 and negative stamps are kept, as imgproxy does: they mean no-cache. */
    if (ts > 0 && ts < (long long)time(NULL))
        return err_set(c->e, ERR_INVALID_URL, "Expired URL");
    c->po->has_expires = true;
    c->po->expires = ts;
    return 0;
}

/* filename:name[:encoded]: with encoded true the name is URL-safe base64, padding optional. */
static int opt_filename(const struct option_call *c)
{
    const struct args *a = c->a;
    char *fn = c->po->filename;
    size_t l = strlen(a->v[0]);
    long dl;

    if (a->n < 2 || !parse_bool(a->v[1])) {
        memcpy(fn, a->v[0], l + 1);
        return 0;
    }
    while (l > 0 && a->v[0][l - 1] == '=')
        l--;
    dl = url_base64_decode(a->v[0], l, (unsigned char *)fn);
    if (dl < 0 || memchr(fn, '\0', (size_t)dl) != NULL) {
        fn[0] = '\0';
        return err_set(c->e, ERR_INVALID_URL, "Invalid filename encoding: %s", a->v[0]);
    }
    fn[dl] = '\0';
    return 0;
}

/* padding:top[:right[:bottom[:left]]] in CSS order; empty arguments keep what it gives. */
static int opt_padding(const struct option_call *c)
{
    const struct args *a = c->a;
    int *pd = c->po->padding;
    int v[4] = {-1, -1, -1, -1};

    for (size_t i = 0; i < a->n; i++) {
        if (a->v[i][0] == '\0') {
            v[i] = -1;
            continue;
        }
        if (parse_int(a->v[i], &v[i]) < 0 || v[i] < 0)
            return err_set(c->e, ERR_INVALID_URL, "Invalid padding: %s", a->v[i]);
    }
    /* CSS order: top sets all; right sets left; bottom; left. */
    if (v[0] >= 0)
        pd[0] = pd[1] = pd[2] = pd[3] = v[0];
    if (a->n > 1 && v[1] >= 0)
        pd[1] = pd[3] = v[1];
    if (a->n > 2 && v[2] >= 0)
        pd[2] = v[2];
    if (a->n > 3 && v[3] >= 0)
        pd[3] = v[3];
    return 0;
}

/* trim:threshold[:color[:equal_hor[:equal_ver]]] */
static int opt_trim(const struct option_call *c)
{
    const struct args *a = c->a;
    struct procopts *po = c->po;
    double t;

    if (parse_float(a->v[0], &t) < 0 || t < 0)
        return err_set(c->e, ERR_INVALID_URL, "Invalid trim threshold: %s", a->v[0]);
    po->trim = true;
    po->trim_threshold = t;
    if (a->n > 1 && a->v[1][0] != '\0') {
        if (parse_hex_color(a->v[1], po->trim_color) < 0)
            return err_set(c->e, ERR_INVALID_URL, "Invalid trim color: %s", a->v[1]);
        po->trim_has_color = true;
    } else {
        po->trim_has_color = false;
    }
    if (a->n > 2 && a->v[2][0] != '\0')
        po->trim_equal_hor = parse_bool(a->v[2]);
    if (a->n > 3 && a->v[3][0] != '\0')
        po->trim_equal_ver = parse_bool(a->v[3]);
    return 0;
}

static int opt_flip(const struct option_call *c)
{
    c->po->flip_h = parse_bool(c->a->v[0]);
    c->po->flip_v = c->a->n > 1 ? parse_bool(c->a->v[1]) : false;
    return 0;
}

/* background: "" turns it off; a hex colour; or r:g:b in 0..255. */
static int opt_background(const struct option_call *c)
{
    const struct args *a = c->a;
    struct procopts *po = c->po;

    if (a->n == 1 && a->v[0][0] == '\0') {
        po->flatten = false;
        return 0;
    }
    if (a->n == 1) {
        if (parse_hex_color(a->v[0], po->background) < 0)
            return err_set(c->e, ERR_INVALID_URL, "Invalid background argument: %s", a->v[0]);
        po->flatten = true;
        return 0;
    }
    if (a->n != 3)
        return err_set(c->e, ERR_INVALID_URL, "Invalid background arguments");
    for (size_t i = 0; i < 3; i++) {
        int v;

        if (parse_int(a->v[i], &v) < 0 || v < 0 || v > 255)
            return err_set(c->e, ERR_INVALID_URL, "Invalid background argument: %s", a->v[i]);
        po->background[i] = (unsigned char)v;
    }
    po->flatten = true;
    return 0;
}

static int opt_skip_processing(const struct option_call *c)
{
    for (size_t i = 0; i < c->a->n; i++) {
        const char *s = c->a->v[i];
        enum imgtype t = imagetype_from_name(s, strlen(s));

        if (t == IMGTYPE_UNKNOWN)
            return err_set(c->e, ERR_INVALID_URL, "Invalid image format in skip_processing: %s", s);
        c->po->skip_processing[t] = true;
    }
    return 0;
}

/* An optional float argument i of the watermark: empty or absent keeps *dst. */
static int wm_float(const struct option_call *c, size_t i, const char *what, double lo, double *dst)
{
    const struct args *a = c->a;
    double v;

    if (a->n <= i || a->v[i][0] == '\0')
        return 0;
    if (parse_float(a->v[i], &v) < 0 || v < lo)
        return err_set(c->e, ERR_INVALID_URL, "Invalid watermark %s: %s", what, a->v[i]);
    *dst = v;
    return 0;
}

/* watermark:opacity[:position[:x[:y[:scale]]]] */
static int opt_watermark(const struct option_call *c)
{
    const struct args *a = c->a;
    struct procopts *po = c->po;
    double v;
    int r;

    if (parse_float(a->v[0], &v) < 0 || v < 0 || v > 1)
        return err_set(c->e, ERR_INVALID_URL, "Invalid watermark opacity: %s", a->v[0]);
    po->wm_opacity = v;
    if (a->n > 1 && a->v[1][0] != '\0') {
        if (!gravity_lookup(a->v[1], &po->wm_gravity.type) || po->wm_gravity.type == GRAV_SMART ||
            po->wm_gravity.type == GRAV_FOCUS_POINT)
            return err_set(c->e, ERR_INVALID_URL, "Invalid watermark position: %s", a->v[1]);
    }
    r = wm_float(c, 2, "X offset", -INFINITY, &po->wm_gravity.x);
    if (r == 0)
        r = wm_float(c, 3, "Y offset", -INFINITY, &po->wm_gravity.y);
    if (r == 0)
        r = wm_float(c, 4, "scale", 0, &po->wm_scale);
    return r;
}

/*
 * watermark_url and watermark_text: URL-safe base64 (padding optional) into
 * the OPTIONS_STR_MAX field; "" clears it. Arguments are shorter than
 * OPTIONS_STR_MAX, so the decoded bytes always fit. NULs are refused.
 */
static int set_base64_string(const struct option_call *c)
{
    char *dst = opt_field(c);
    const char *s = c->a->v[0];
    size_t l = strlen(s);
    long dl;

    while (l > 0 && s[l - 1] == '=')
        l--;
    dl = url_base64_decode(s, l, (unsigned char *)dst);
    if (dl < 0 || memchr(dst, '\0', (size_t)dl) != NULL) {
        dst[0] = '\0';
        return invalid_value(c, s);
    }
    dst[dl] = '\0';
    return 0;
}

/* watermark_url: the image at this URL; a later watermark_text replaces it (last wins). */
static int opt_watermark_url(const struct option_call *c)
{
    int r = set_base64_string(c);

    if (r == 0 && c->po->wm_url[0] != '\0')
        c->po->wm_text[0] = '\0';
    return r;
}

/* watermark_text: Pango markup, checked by Pango with its sizes bounded (markup.h). */
static int opt_watermark_text(const struct option_call *c)
{
    char why[160];
    int r = set_base64_string(c);

    if (r < 0 || c->po->wm_text[0] == '\0')
        return r;
    if (markup_check(c->po->wm_text, strlen(c->po->wm_text), why, sizeof(why)) < 0) {
        c->po->wm_text[0] = '\0';
        return err_set(c->e, ERR_INVALID_URL, "Invalid watermark text: %s", why);
    }
    c->po->wm_url[0] = '\0';
    return 0;
}

/* watermark_size:width:height, integers >= 0 (0: from the other side). */
static int opt_watermark_size(const struct option_call *c)
{
    int w = 0, h = 0;

    if (parse_int(c->a->v[0], &w) < 0 || w < 0)
        return invalid_value(c, c->a->v[0]);
    if (c->a->n > 1 && (parse_int(c->a->v[1], &h) < 0 || h < 0))
        return invalid_value(c, c->a->v[1]);
    c->po->wm_size_w = w;
    c->po->wm_size_h = h;
    return 0;
}

/* watermark_rotate: any finite angle in degrees, kept in [0, 360). */
static int opt_watermark_rotate(const struct option_call *c)
{
    double v;

    if (parse_float(c->a->v[0], &v) < 0 || fabs(v) > 1e6)
        return invalid_value(c, c->a->v[0]);
    v = fmod(v, 360.0);
    c->po->wm_rotate = v < 0 ? v + 360.0 : v;
    return 0;
}

/* watermark_shadow: a blur sigma in [0, 100]; 0 turns it off. */
static int opt_watermark_shadow(const struct option_call *c)
{
    double v;

    if (parse_float(c->a->v[0], &v) < 0 || v < 0 || v > 100)
        return invalid_value(c, c->a->v[0]);
    c->po->wm_shadow = v;
    return 0;
}

/* dpi: a number in [0, 100000]. */
static int opt_dpi(const struct option_call *c)
{
    double v;

    if (parse_float(c->a->v[0], &v) < 0 || v < 0 || v > 100000)
        return invalid_value(c, c->a->v[0]);
    c->po->dpi = v;
    return 0;
}

/*
 * autoquality:method:target:min_quality:max_quality:allowed_error; an empty
 * or missing part keeps what the settings (or an earlier option) gave.
 */
static int opt_autoquality(const struct option_call *c)
{
    const struct args *a = c->a;
    struct procopts *po = c->po;
    double v;
    int q;

    if (a->v[0][0] != '\0') {
        int m = config_aq_method(a->v[0], strlen(a->v[0]));

        if (m < 0)
            return err_set(c->e, ERR_INVALID_URL, "Invalid autoquality method: %s", a->v[0]);
        po->aq_method = m;
    }
    if (a->n > 1 && a->v[1][0] != '\0') {
        if (parse_float(a->v[1], &v) < 0 || v < 0)
            return err_set(c->e, ERR_INVALID_URL, "Invalid autoquality target: %s", a->v[1]);
        po->aq_target = v;
    }
    for (size_t i = 2; i < 4 && i < a->n; i++) {
        if (a->v[i][0] == '\0')
            continue;
        if (parse_int(a->v[i], &q) < 0 || q < 1 || q > 100)
            return err_set(c->e, ERR_INVALID_URL, "Invalid autoquality %s quality: %s",
                           i == 2 ? "min" : "max", a->v[i]);
        *(i == 2 ? &po->aq_min : &po->aq_max) = q;
    }
    if (a->n > 4 && a->v[4][0] != '\0') {
        if (parse_float(a->v[4], &v) < 0 || v < 0)
            return err_set(c->e, ERR_INVALID_URL, "Invalid autoquality allowed error: %s", a->v[4]);
        po->aq_allowed_error = v;
    }
    return 0;
}

static int opt_preset(const struct option_call *c)
{
    for (size_t i = 0; i < c->a->n; i++) {
        const char *name = c->a->v[i];
        int r = options_apply_preset(c->po, name, strlen(name), c->sep, c->e);

        if (r < 0)
            return r;
    }
    return 0;
}

/*
 * imgproxy Pro's colour, geometry and encoder options. Every part of a
 * multi-part argument list is optional: an empty or absent part keeps what
 * the field holds.
 */

/* Whether argument i is given and not empty. */
static bool has_arg(const struct option_call *c, size_t i)
{
    return c->a->n > i && c->a->v[i][0] != '\0';
}

/* Argument i as a float in [lo, hi] into *dst when given; "Invalid <what>: <arg>" otherwise. */
static int float_part(const struct option_call *c, size_t i, const char *what, double lo, double hi,
                      double *dst)
{
    double v;

    if (!has_arg(c, i))
        return 0;
    if (parse_float(c->a->v[i], &v) < 0 || v < lo || v > hi)
        return err_set(c->e, ERR_INVALID_URL, "Invalid %s: %s", what, c->a->v[i]);
    *dst = v;
    return 0;
}

/* Argument i as a hex colour into rgb when given. */
static int color_part(const struct option_call *c, size_t i, const char *what, unsigned char rgb[3])
{
    unsigned char v[3];

    if (!has_arg(c, i))
        return 0;
    if (parse_hex_color(c->a->v[i], v) < 0)
        return err_set(c->e, ERR_INVALID_URL, "Invalid %s color: %s", what, c->a->v[i]);
    memcpy(rgb, v, 3);
    return 0;
}

/* Argument i as a boolean into *dst when given. */
static void bool_part(const struct option_call *c, size_t i, bool *dst)
{
    if (has_arg(c, i))
        *dst = parse_bool(c->a->v[i]);
}

/* Argument i as one of names (NULL-terminated) into *dst when given. */
static int choice_part(const struct option_call *c, size_t i, const char *what,
                       const char *const *names, int *dst)
{
    int v;

    if (!has_arg(c, i))
        return 0;
    v = config_choice(names, c->a->v[i]);
    if (v < 0)
        return err_set(c->e, ERR_INVALID_URL, "Invalid %s: %s", what, c->a->v[i]);
    *dst = v;
    return 0;
}

static int parse_brightness(const struct option_call *c, size_t i)
{
    int v;

    if (!has_arg(c, i))
        return 0;
    if (parse_int(c->a->v[i], &v) < 0 || v < -255 || v > 255)
        return err_set(c->e, ERR_INVALID_URL, "Invalid brightness: %s", c->a->v[i]);
    c->po->brightness = v;
    return 0;
}

/* adjust:brightness:contrast:saturation */
static int opt_adjust(const struct option_call *c)
{
    int r = parse_brightness(c, 0);

    if (r == 0)
        r = float_part(c, 1, "contrast", 0, INFINITY, &c->po->contrast);
    if (r == 0)
        r = float_part(c, 2, "saturation", 0, INFINITY, &c->po->saturation);
    return r;
}

static int opt_brightness(const struct option_call *c)
{
    if (!has_arg(c, 0))
        return invalid_value(c, c->a->v[0]);
    return parse_brightness(c, 0);
}

/* A single non-negative float (contrast, saturation): required. */
static int set_factor(const struct option_call *c)
{
    if (!has_arg(c, 0))
        return invalid_value(c, c->a->v[0]);
    return float_part(c, 0, c->name, 0, INFINITY, (double *)opt_field(c));
}

/* An intensity or opacity 0..1 as the first argument: required. */
static int amount(const struct option_call *c, const char *what, double *dst)
{
    if (!has_arg(c, 0))
        return err_set(c->e, ERR_INVALID_URL, "Invalid %s: %s", what, c->a->v[0]);
    return float_part(c, 0, what, 0, 1, dst);
}

/* monochrome:intensity[:hex] */
static int opt_monochrome(const struct option_call *c)
{
    int r = amount(c, "monochrome intensity", &c->po->mc_intensity);

    return r < 0 ? r : color_part(c, 1, "monochrome", c->po->mc_color);
}

/* duotone:intensity[:hex1[:hex2]] */
static int opt_duotone(const struct option_call *c)
{
    int r = amount(c, "duotone intensity", &c->po->dt_intensity);

    if (r == 0)
        r = color_part(c, 1, "duotone", c->po->dt_color1);
    if (r == 0)
        r = color_part(c, 2, "duotone", c->po->dt_color2);
    return r;
}

/* colorize:opacity[:hex[:keep_alpha]] */
static int opt_colorize(const struct option_call *c)
{
    int r = amount(c, "colorize opacity", &c->po->col_opacity);

    if (r == 0)
        r = color_part(c, 1, "colorize", c->po->col_color);
    bool_part(c, 2, &c->po->col_keep_alpha);
    return r;
}

/* gradient:opacity[:hex[:direction[:start[:stop]]]]; direction a name or degrees clockwise. */
static int opt_gradient(const struct option_call *c)
{
    static const struct {
        const char *name;
        double angle;
    } dirs[] = {{"down", 0}, {"left", 90}, {"up", 180}, {"right", 270}};
    struct procopts *po = c->po;
    int r = amount(c, "gradient opacity", &po->gr_opacity);

    if (r == 0)
        r = color_part(c, 1, "gradient", po->gr_color);
    if (r == 0 && has_arg(c, 2)) {
        size_t i;
        double deg;

        for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
            if (strcmp(c->a->v[2], dirs[i].name) == 0)
                break;
        if (i < sizeof(dirs) / sizeof(dirs[0]))
            po->gr_angle = dirs[i].angle;
        else if (parse_float(c->a->v[2], &deg) == 0 && fabs(deg) <= 1e6)
            po->gr_angle = fmod(fmod(deg, 360) + 360, 360);
        else
            r = err_set(c->e, ERR_INVALID_URL, "Invalid gradient direction: %s", c->a->v[2]);
    }
    if (r == 0)
        r = float_part(c, 3, "gradient start", 0, 1, &po->gr_start);
    if (r == 0)
        r = float_part(c, 4, "gradient stop", 0, 1, &po->gr_stop);
    return r;
}

/* unsharp_masking:mode[:weight[:divider]] */
static int opt_unsharp_masking(const struct option_call *c)
{
    struct procopts *po = c->po;
    double v = 0;
    int r = choice_part(c, 0, "unsharp masking mode", config_ush_modes, &po->ush_mode);

    if (r == 0 && has_arg(c, 1)) {
        r = float_part(c, 1, "unsharp masking weight", 0, 1e6, &v);
        if (r == 0 && !(v > 0))
            r = invalid_value(c, c->a->v[1]);
        if (r == 0)
            po->ush_weight = v;
    }
    if (r == 0 && has_arg(c, 2)) {
        r = float_part(c, 2, "unsharp masking divider", 0, 1e6, &v);
        if (r == 0 && !(v > 0))
            r = invalid_value(c, c->a->v[2]);
        if (r == 0)
            po->ush_divider = v;
    }
    return r;
}

/* blur_areas:sigma{:left:top:width:height}, fractions of the source in its stored orientation. */
static int opt_blur_areas(const struct option_call *c)
{
    struct procopts *po = c->po;
    double sigma, r[OPTIONS_BLUR_AREAS][4];
    size_t n = (c->a->n - 1) / 4;

    if (parse_float(c->a->v[0], &sigma) < 0 || sigma < 0 || sigma > 1000)
        return err_set(c->e, ERR_INVALID_URL, "Invalid blur areas sigma: %s", c->a->v[0]);
    if ((c->a->n - 1) % 4 != 0 || n > OPTIONS_BLUR_AREAS)
        return err_set(c->e, ERR_INVALID_URL, "Invalid blur areas arguments");
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < 4; j++) {
            const char *s = c->a->v[1 + 4 * i + j];

            if (parse_float(s, &r[i][j]) < 0 || r[i][j] < 0 || r[i][j] > 1)
                return err_set(c->e, ERR_INVALID_URL, "Invalid blur area: %s", s);
        }
    }
    po->ba_sigma = sigma;
    po->ba_n = (int)n;
    memset(po->ba_rects, 0, sizeof(po->ba_rects));
    memcpy(po->ba_rects, r, n * sizeof(r[0]));
    return 0;
}

static int opt_background_alpha(const struct option_call *c)
{
    return amount(c, "background alpha", &c->po->background_alpha);
}

/* crop_aspect_ratio:ratio[:enlarge] (ratio = width / height, 0 = off) */
static int opt_crop_ar(const struct option_call *c)
{
    double v;

    if (parse_float(c->a->v[0], &v) < 0 || v < 0 || v > 1e6)
        return err_set(c->e, ERR_INVALID_URL, "Invalid crop aspect ratio: %s", c->a->v[0]);
    c->po->crop_ar = v;
    c->po->crop_ar_enlarge = c->a->n > 1 ? parse_bool(c->a->v[1]) : false;
    return 0;
}

static int opt_resizing_algorithm(const struct option_call *c)
{
    static const struct {
        const char *name;
        VipsKernel k;
    } kernels[] = {{"nearest", VIPS_KERNEL_NEAREST},
                   {"linear", VIPS_KERNEL_LINEAR},
                   {"cubic", VIPS_KERNEL_CUBIC},
                   {"lanczos2", VIPS_KERNEL_LANCZOS2},
                   {"lanczos3", VIPS_KERNEL_LANCZOS3}};

    for (size_t i = 0; i < sizeof(kernels) / sizeof(kernels[0]); i++) {
        if (strcmp(c->a->v[0], kernels[i].name) == 0) {
            c->po->resize_kernel = kernels[i].k;
            return 0;
        }
    }
    return err_set(c->e, ERR_INVALID_URL, "Invalid resizing algorithm: %s", c->a->v[0]);
}

/* jpeg_options:progressive:no_subsample:trellis_quant:overshoot_deringing:optimize_scans:quant_table
 */
static int opt_jpeg_options(const struct option_call *c)
{
    struct save_opts *so = &c->po->enc;
    int q;

    bool_part(c, 0, &so->jpeg_progressive);
    bool_part(c, 1, &so->jpeg_no_subsample);
    bool_part(c, 2, &so->jpeg_trellis_quant);
    bool_part(c, 3, &so->jpeg_overshoot_deringing);
    bool_part(c, 4, &so->jpeg_optimize_scans);
    if (!has_arg(c, 5))
        return 0;
    if (parse_int(c->a->v[5], &q) < 0 || q < 0 || q > 8)
        return err_set(c->e, ERR_INVALID_URL, "Invalid JPEG quant table: %s", c->a->v[5]);
    so->jpeg_quant_table = q;
    return 0;
}

/* png_options:interlaced:quantize:quantization_colors */
static int opt_png_options(const struct option_call *c)
{
    struct save_opts *so = &c->po->enc;
    int n;

    bool_part(c, 0, &so->png_interlaced);
    bool_part(c, 1, &so->png_quantize);
    if (!has_arg(c, 2))
        return 0;
    if (parse_int(c->a->v[2], &n) < 0 || n < 2 || n > 256)
        return err_set(c->e, ERR_INVALID_URL, "Invalid PNG quantization colors: %s", c->a->v[2]);
    so->png_quantization_colors = n;
    return 0;
}

/* webp_options:compression:smart_subsample:preset */
static int opt_webp_options(const struct option_call *c)
{
    struct save_opts *so = &c->po->enc;
    int r = choice_part(c, 0, "WebP compression", config_webp_compressions, &so->webp_compression);

    bool_part(c, 1, &so->webp_smart_subsample);
    if (r == 0)
        r = choice_part(c, 2, "WebP preset", config_webp_presets, &so->webp_preset);
    return r;
}

/* avif_options:subsample */
static int opt_avif_options(const struct option_call *c)
{
    return choice_part(c, 0, "AVIF subsample", config_avif_subsamples, &c->po->enc.avif_subsample);
}

/*
 * color_profile:name: srgb and cmyk are libvips' built-in profiles; anything
 * else is a percent-encoded file name in IMGPROXY_COLOR_PROFILES_DIR, tried
 * as given, then with .icc and .icm. No path separators, no dot files.
 */
static int opt_color_profile(const struct option_call *c)
{
    static const char *const exts[] = {"", ".icc", ".icm"};
    char name[ARG_MAX_LEN];
    long n = url_unescape(c->a->v[0], strlen(c->a->v[0]), name);

    if (n < 0 || memchr(name, '\0', (size_t)n) != NULL)
        return invalid_value(c, c->a->v[0]);
    name[n] = '\0';
    if (n == 0 || strcmp(name, "srgb") == 0 || strcmp(name, "cmyk") == 0) {
        memcpy(c->po->color_profile, name, (size_t)n + 1);
        return 0;
    }
    if (name[0] == '.' || strchr(name, '/') != NULL || strchr(name, '\\') != NULL)
        return err_set(c->e, ERR_INVALID_URL, "Invalid color profile: %s", c->a->v[0]);
    for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
        char path[4096];
        struct stat st;
        int pl = snprintf(path, sizeof(path), "%s/%s%s", cfg.color_profiles_dir, name, exts[i]);

        if (pl < 0 || (size_t)pl >= sizeof(path) || (size_t)n + strlen(exts[i]) >= OPTIONS_STR_MAX)
            break;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            memcpy(c->po->color_profile, name, (size_t)n);
            memcpy(c->po->color_profile + n, exts[i], strlen(exts[i]) + 1);
            return 0;
        }
    }
    return err_set(c->e, ERR_INVALID_URL, "Unknown color profile: %s", c->a->v[0]);
}

/* style:<base64url CSS>, padding optional; only CSS svg_style_acceptable() lets through. */
static int opt_style(const struct option_call *c)
{
    char *css = c->po->style;
    size_t l = strlen(c->a->v[0]);
    long dl;

    while (l > 0 && c->a->v[0][l - 1] == '=')
        l--;
    dl = url_base64_decode(c->a->v[0], l, (unsigned char *)css);
    if (dl < 0 || memchr(css, '\0', (size_t)dl) != NULL || !svg_style_acceptable(css, (size_t)dl)) {
        css[0] = '\0';
        return err_set(c->e, ERR_INVALID_URL, "Invalid style: %s", c->a->v[0]);
    }
    css[dl] = '\0';
    return 0;
}

/* The digests of hashsum, with the hex length each has. */
static const struct {
    const char *name;
    enum options_hashsum type;
    size_t hexlen;
    GChecksumType checksum;
} hashsum_types[] = {
    {"none", HASHSUM_NONE, 0, G_CHECKSUM_MD5},
    {"md5", HASHSUM_MD5, 32, G_CHECKSUM_MD5},
    {"sha1", HASHSUM_SHA1, 40, G_CHECKSUM_SHA1},
    {"sha256", HASHSUM_SHA256, 64, G_CHECKSUM_SHA256},
    {"sha512", HASHSUM_SHA512, 128, G_CHECKSUM_SHA512},
};

/* hashsum:type[:hex]: none (hex may be left out), md5, sha1, sha256, sha512; hex in any case. */
static int opt_hashsum(const struct option_call *c)
{
    const struct args *a = c->a;

    for (size_t i = 0; i < sizeof(hashsum_types) / sizeof(hashsum_types[0]); i++) {
        size_t hl = hashsum_types[i].hexlen;

        if (strcmp(a->v[0], hashsum_types[i].name) != 0)
            continue;
        if (hl == 0) {
            c->po->hashsum_type = HASHSUM_NONE;
            c->po->hashsum_hex[0] = '\0';
            return 0;
        }
        if (a->n < 2 || strlen(a->v[1]) != hl)
            return err_set(c->e, ERR_INVALID_URL, "Invalid hashsum: %s needs %zu hex digits",
                           a->v[0], hl);
        for (size_t j = 0; j < hl; j++) {
            if (parse_hex_digit(a->v[1][j]) < 0)
                return err_set(c->e, ERR_INVALID_URL, "Invalid hashsum: %s", a->v[1]);
            c->po->hashsum_hex[j] = g_ascii_tolower(a->v[1][j]);
        }
        c->po->hashsum_hex[hl] = '\0';
        c->po->hashsum_type = (int)hashsum_types[i].type;
        return 0;
    }
    return err_set(c->e, ERR_INVALID_URL, "Invalid hashsum type: %s", a->v[0]);
}

int options_hashsum_verify(const struct procopts *po, const void *data, size_t len,
                           struct errinfo *e)
{
    GChecksum *ck;
    bool ok;

    if (po->hashsum_type == HASHSUM_NONE)
        return 0;
    ck = g_checksum_new(hashsum_types[po->hashsum_type].checksum);
    if (ck == NULL)
        return err_set(e, ERR_INTERNAL, "out of memory");
    g_checksum_update(ck, data, (gssize)len);
    ok = strcmp(g_checksum_get_string(ck), po->hashsum_hex) == 0;
    g_checksum_free(ck);
    if (!ok)
        return err_set(e, ERR_SOURCE_TYPE, "Source image hashsum mismatch (%s)",
                       hashsum_types[po->hashsum_type].name);
    return 0;
}

/* fallback_image_url:<base64url URL>; an empty argument clears it. */
static int opt_fallback_url(const struct option_call *c)
{
    const char *s = c->a->v[0];
    char *out = c->po->fallback_url;
    long n = url_base64_decode(s, strlen(s), (unsigned char *)out);

    if (n < 0 || memchr(out, '\0', (size_t)n) != NULL) {
        out[0] = '\0';
        return err_set(c->e, ERR_INVALID_URL, "Invalid fallback image URL: %s", s);
    }
    out[n] = '\0';
    return 0;
}

#define PO(f) offsetof(struct procopts, f)
#define NA MAX_ARGS /* no upper bound of its own */
#define SEC OPT_SECURITY
#define REQ OPT_REQUEST

/* clang-format off */
static const struct option_def option_defs[] = {
    /* name, aliases, min and max arguments, what, flags, field, handler */
    {"resize", {"rs", NULL}, 1, 8, "resize", 0, 0, opt_resize},
    {"size", {"s", NULL}, 1, 7, "size", 0, 0, opt_size},
    {"resizing_type", {"rt", NULL}, 1, 1, "resizing type", 0, 0, opt_resizing_type},
    {"width", {"w", NULL}, 1, 1, NULL, 0, PO(width), set_int},
    {"height", {"h", NULL}, 1, 1, NULL, 0, PO(height), set_int},
    {"min-width", {"mw", NULL}, 1, 1, NULL, 0, PO(min_width), set_int},
    {"min-height", {"mh", NULL}, 1, 1, NULL, 0, PO(min_height), set_int},
    {"zoom", {"z", NULL}, 1, 2, "zoom", 0, 0, opt_zoom},
    {"dpr", {NULL, NULL}, 1, 1, "dpr", 0, 0, opt_dpr},
    {"enlarge", {"el", NULL}, 1, 1, "enlarge", 0, PO(enlarge), set_bool},
    {"extend", {"ex", NULL}, 1, 4, "extend", 0, 0, opt_extend},
    {"gravity", {"g", NULL}, 1, NA, NULL, 0, 0, opt_gravity},
    {"crop", {"c", NULL}, 1, 5, "crop", 0, 0, opt_crop},
    {"quality", {"q", NULL}, 1, 1, "quality", REQ, 0, opt_quality},
    {"format", {"f", "ext"}, 1, 1, "format", REQ, 0, opt_format},
    {"rotate", {"rot", NULL}, 1, 1, "rotate", 0, 0, opt_rotate},
    {"format_quality", {"fq", NULL}, 1, NA, NULL, REQ, 0, opt_format_quality},
    {"strip_metadata", {"sm", NULL}, 1, 1, NULL, REQ, PO(strip_metadata), set_bool},
    {"strip_color_profile", {"scp", NULL}, 1, 1, NULL, REQ, PO(strip_color_profile), set_bool},
    {"auto_rotate", {"ar", NULL}, 1, 1, "auto rotate", REQ, PO(auto_rotate), set_bool},
    {"expires", {"exp", NULL}, 1, 1, "expires", REQ, 0, opt_expires},
    {"filename", {"fn", NULL}, 1, 2, "filename", REQ, 0, opt_filename},
    {"return_attachment", {"att", NULL}, 1, 1, "return_attachment", REQ,
     PO(return_attachment), set_bool},
    {"cachebuster", {"cb", NULL}, 1, 1, "cachebuster", REQ, PO(cachebuster), set_string},
    {"extend_aspect_ratio", {"extend_ar", "exar"}, 1, 4, "extend", 0, 0, opt_extend_ar},
    {"padding", {"pd", NULL}, 1, 4, "padding", 0, 0, opt_padding},
    {"trim", {"t", NULL}, 1, 4, "trim", 0, 0, opt_trim},
    {"flip", {"fl", NULL}, 1, 2, "flip", 0, 0, opt_flip},
    {"background", {"bg", NULL}, 1, NA, NULL, 0, 0, opt_background},
    {"blur", {"bl", NULL}, 1, 1, NULL, 0, PO(blur), set_nonneg_double},
    {"sharpen", {"sh", NULL}, 1, 1, NULL, 0, PO(sharpen), set_nonneg_double},
    {"pixelate", {"pix", NULL}, 1, 1, NULL, 0, PO(pixelate), set_int},
    {"max_bytes", {"mb", NULL}, 1, 1, NULL, REQ, PO(max_bytes), set_int},
    {"keep_copyright", {"kcr", NULL}, 1, 1, NULL, REQ, PO(keep_copyright), set_bool},
    {"enforce_thumbnail", {"eth", NULL}, 1, 1, NULL, REQ, PO(enforce_thumbnail), set_bool},
    {"raw", {NULL, NULL}, 1, 1, NULL, REQ, PO(raw), set_bool},
    {"skip_processing", {"skp", NULL}, 1, NA, NULL, REQ, 0, opt_skip_processing},
    {"watermark", {"wm", NULL}, 1, 7, "watermark", 0, 0, opt_watermark},
    {"preset", {"pr", NULL}, 1, NA, NULL, 0, 0, opt_preset},
    {"watermark_url", {"wmu", NULL}, 1, 1, NULL, 0, PO(wm_url), opt_watermark_url},
    {"watermark_text", {"wmt", NULL}, 1, 1, NULL, 0, PO(wm_text), opt_watermark_text},
    {"watermark_size", {"wms", NULL}, 1, 2, NULL, 0, 0, opt_watermark_size},
    {"watermark_rotate", {"wm_rot", "wmr"}, 1, 1, NULL, 0, 0, opt_watermark_rotate},
    {"watermark_shadow", {"wmsh", NULL}, 1, 1, NULL, 0, 0, opt_watermark_shadow},
    {"page", {"pg", NULL}, 1, 1, NULL, 0, PO(page), set_int},
    {"pages", {"pgs", NULL}, 1, 1, NULL, OPT_POSITIVE, PO(pages), set_int},
    {"disable_animation", {"da", NULL}, 1, 1, NULL, 0, PO(disable_animation), set_bool},
    {"dpi", {NULL, NULL}, 1, 1, NULL, 0, 0, opt_dpi},
    /* imgproxy Pro: colour and filters, geometry, encoder options. */
    {"adjust", {"a", NULL}, 1, 3, "adjust", 0, 0, opt_adjust},
    {"brightness", {"br", NULL}, 1, 1, NULL, 0, 0, opt_brightness},
    {"contrast", {"co", NULL}, 1, 1, NULL, 0, PO(contrast), set_factor},
    {"saturation", {"sa", NULL}, 1, 1, NULL, 0, PO(saturation), set_factor},
    {"monochrome", {"mc", NULL}, 1, 2, "monochrome", 0, 0, opt_monochrome},
    {"duotone", {"dt", NULL}, 1, 3, "duotone", 0, 0, opt_duotone},
    {"colorize", {"col", NULL}, 1, 3, "colorize", 0, 0, opt_colorize},
    {"gradient", {"gr", NULL}, 1, 5, "gradient", 0, 0, opt_gradient},
    {"unsharp_masking", {"ush", NULL}, 1, 3, "unsharp masking", 0, 0, opt_unsharp_masking},
    {"background_alpha", {"bga", NULL}, 1, 1, NULL, 0, 0, opt_background_alpha},
    {"blur_areas", {"ba", NULL}, 1, NA, "blur areas", 0, 0, opt_blur_areas},
    {"crop_aspect_ratio", {"crop_ar", "car"}, 1, 2, "crop aspect ratio", 0, 0, opt_crop_ar},
    {"resizing_algorithm", {"ra", NULL}, 1, 1, NULL, 0, 0, opt_resizing_algorithm},
    {"jpeg_options", {"jpgo", "jpego"}, 1, 6, "jpeg options", REQ, 0, opt_jpeg_options},
    {"png_options", {"pngo", NULL}, 1, 3, "png options", REQ, 0, opt_png_options},
    {"webp_options", {"webpo", NULL}, 1, 3, "webp options", REQ, 0, opt_webp_options},
    {"avif_options", {"avifo", NULL}, 1, 1, "avif options", REQ, 0, opt_avif_options},
    {"color_profile", {"cp", "icc"}, 1, 1, NULL, REQ, 0, opt_color_profile},
    {"style", {"st", "stl"}, 1, 1, NULL, REQ, 0, opt_style},
    {"autoquality", {"aq", NULL}, 1, 5, "autoquality", REQ, 0, opt_autoquality},
    {"hashsum", {"hs", NULL}, 1, 2, "hashsum", REQ, 0, opt_hashsum},
    {"fallback_image_url", {"fiu", NULL}, 1, 1, NULL, REQ, 0, opt_fallback_url},
    /* The security options. */
    {"max_src_resolution", {"msr", NULL}, 1, 1, NULL, SEC | REQ,
     PO(max_src_resolution), set_megapixels},
    {"max_src_file_size", {"msfs", NULL}, 1, 1, NULL, SEC | OPT_LLONG | REQ,
     PO(max_src_file_size), set_int},
    {"max_animation_frames", {"maf", NULL}, 1, 1, NULL, SEC | OPT_POSITIVE | REQ,
     PO(max_animation_frames), set_int},
    {"max_animation_frame_resolution", {"mafr", NULL}, 1, 1, NULL, SEC | REQ,
     PO(max_animation_frame_resolution), set_megapixels},
    {"max_result_dimension", {"mrd", NULL}, 1, 1, NULL, SEC | REQ,
     PO(max_result_dimension), set_int},
};
/* clang-format on */

#undef PO
#undef NA
#undef SEC
#undef REQ

/* The row whose name or alias is name; NULL when there is none. */
static const struct option_def *option_find(const char *name)
{
    for (size_t i = 0; i < sizeof(option_defs) / sizeof(option_defs[0]); i++) {
        const struct option_def *d = &option_defs[i];

        if (strcmp(name, d->name) == 0)
            return d;
        for (size_t j = 0; j < 2 && d->aliases[j] != NULL; j++)
            if (strcmp(name, d->aliases[j]) == 0)
                return d;
    }
    return NULL;
}

/*
 * Splits "name<sep>arg<sep>arg..." into name (NUL-terminated, namelen bytes
 * of room) and a. Every segment has at least one argument, possibly empty.
 */
static int split_option(const char *seg, size_t len, char sep, char *name, size_t namelen,
                        struct args *a, struct errinfo *e)
{
    const char *p, *end = seg + len, *s = memchr(seg, sep, len);
    size_t nlen;

    if (s == NULL)
        return err_set(e, ERR_INVALID_URL, "Invalid option: %.*s", (int)len, seg);
    nlen = (size_t)(s - seg);
    if (nlen >= namelen)
        return err_set(e, ERR_INVALID_URL, "Unknown processing option");
    memcpy(name, seg, nlen);
    name[nlen] = '\0';
    a->n = 0;
    p = s + 1;
    for (;;) {
        const char *next = memchr(p, sep, (size_t)(end - p));
        size_t alen = next ? (size_t)(next - p) : (size_t)(end - p);

        if (a->n >= MAX_ARGS || alen >= ARG_MAX_LEN)
            return err_set(e, ERR_INVALID_URL, "Invalid %s arguments: too many or too long", name);
        memcpy(a->v[a->n], p, alen);
        a->v[a->n][alen] = '\0';
        if (memchr(a->v[a->n], '\0', alen) != NULL)
            return err_set(e, ERR_INVALID_URL, "Invalid %s arguments", name);
        a->n++;
        if (next == NULL)
            return 0;
        p = next + 1;
    }
}

int options_apply(struct procopts *po, const char *seg, size_t len, char sep, struct errinfo *e)
{
    struct args a;
    char name[64];
    const struct option_def *d;
    struct option_call c;
    int r = split_option(seg, len, sep, name, sizeof(name), &a, e);

    if (r < 0)
        return r;
    d = option_find(name);
    if (d == NULL)
        return err_set(e, ERR_INVALID_URL, "Unknown processing option: %s", name);
    if ((d->flags & OPT_SECURITY) && !cfg.allow_security_options)
        return err_set(e, ERR_SECURITY_OPTION, "Security processing options are not allowed: %s",
                       name);
    if (a.n < d->min_args || a.n > d->max_args)
        return err_set(e, ERR_INVALID_URL, "Invalid %s arguments", d->what ? d->what : name);
    c = (struct option_call){.po = po, .def = d, .name = name, .a = &a, .sep = sep, .e = e};
    return d->apply(&c);
}

int options__allowed(const char *seg, size_t len, char sep, struct errinfo *e)
{
    if (cfg.allowed_processing_options.len > 0) {
        const char *s = memchr(seg, sep, len);
        size_t nlen = s ? (size_t)(s - seg) : len;
        bool ok = false;

        for (size_t i = 0; i < cfg.allowed_processing_options.len; i++) {
            const char *n = cfg.allowed_processing_options.items[i];

            if (strlen(n) == nlen && memcmp(n, seg, nlen) == 0)
                ok = true;
        }
        if (!ok)
            return err_set(e, ERR_INVALID_URL, "Forbidden processing option %.*s", (int)nlen, seg);
    }
    return 0;
}

int options_apply_url(struct procopts *po, const char *seg, size_t len, char sep, struct errinfo *e)
{
    int r = options__allowed(seg, len, sep, e);

    return r < 0 ? r : options_apply(po, seg, len, sep, e);
}

int options_apply_preset(struct procopts *po, const char *name, size_t len, char sep,
                         struct errinfo *e)
{
    const struct preset *p = presets_find(name, len);
    int idx;

    if (p == NULL)
        return err_set(e, ERR_INVALID_URL, "Unknown preset: %.*s", (int)len, name);
    idx = presets_index(p);
    if (idx >= 0 && (size_t)idx < sizeof(po->preset_used) * 8) {
        if (po->preset_used[idx / 8] & (1u << (idx % 8))) {
            log_warn("Recursive preset usage is detected: %s", p->name);
            return 0;
        }
        po->preset_used[idx / 8] |= (unsigned char)(1u << (idx % 8));
    }
    for (size_t i = 0; i < p->nsegments; i++) {
        int r;

        if (strcmp(p->segments[i], "-") == 0)
            continue;
        r = options_apply(po, p->segments[i], strlen(p->segments[i]), sep, e);
        if (r < 0)
            return r;
    }
    return 0;
}

bool options__request_level(const char *seg, size_t len, char sep)
{
    const char *s = memchr(seg, sep, len);
    size_t nlen = s ? (size_t)(s - seg) : len;
    char name[64];
    const struct option_def *d;

    if (nlen >= sizeof(name))
        return false;
    memcpy(name, seg, nlen);
    name[nlen] = '\0';
    d = option_find(name);
    return d != NULL && (d->flags & OPT_REQUEST) != 0;
}

int options_quality(const struct procopts *po, enum imgtype t)
{
    /* A PDF result is a JPEG inside a PDF: the JPEG's quality. */
    if (t == IMGTYPE_PDF)
        t = IMGTYPE_JPEG;
    if (po->quality > 0)
        return po->quality;
    if (t > IMGTYPE_UNKNOWN && t < IMGTYPE_COUNT && po->format_quality[t] > 0)
        return po->format_quality[t];
    return cfg.quality;
}

/* Appends printf output to out at *used, never past outlen. */
__attribute__((format(printf, 4, 5))) static void put(char *out, size_t outlen, size_t *used,
                                                      const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*used >= outlen)
        return;
    va_start(ap, fmt);
    n = vsnprintf(out + *used, outlen - *used, fmt, ap);
    va_end(ap);
    if (n > 0)
        *used += (size_t)n < outlen - *used ? (size_t)n : outlen - *used - 1;
}

static void put_gravity(char *out, size_t outlen, size_t *used, const char *name,
                        const struct gravity *g, const struct gravity *d)
{
    if (g->type != d->type || g->x != d->x || g->y != d->y)
        put(out, outlen, used, "%s=%s:%.17g:%.17g\n", name,
            g->type == GRAV_UNKNOWN ? "" : options_gravity_name(g->type), g->x, g->y);
}

static void put_string(char *out, size_t outlen, size_t *used, const char *name, const char *v)
{
    put(out, outlen, used, "%s=", name);
    for (const char *p = v; *p != '\0'; p++) {
        if (*p == '\\')
            put(out, outlen, used, "\\\\");
        else if (*p == '\n')
            put(out, outlen, used, "\\n");
        else
            put(out, outlen, used, "%c", *p);
    }
    put(out, outlen, used, "\n");
}

/*
 * The fields options_canonical() writes, in struct order: a new option adds
 * its fields here so that any change to them changes the ETag.
 */
enum canon_kind {
    CK_INT,       /* int */
    CK_BOOL,      /* bool, as 0/1 */
    CK_RESIZE,    /* enum resize_type, as a number */
    CK_DOUBLE,    /* double, %.17g */
    CK_LLONG,     /* long long */
    CK_GRAVITY,   /* struct gravity, "type:x:y" */
    CK_QUALITIES, /* int[IMGTYPE_COUNT], one "name.format=q" per differing format */
    CK_TYPES,     /* bool[IMGTYPE_COUNT], one "name.format=0/1" per differing format */
    CK_FORMAT,    /* enum imgtype, by name */
    CK_EXPIRES,   /* long long, written whenever has_expires */
    CK_STRING,    /* char[OPTIONS_STR_MAX], written when not empty, escaped */
    CK_SIDES,     /* int[4], one "name.i=v" per differing side */
    CK_RGB,       /* unsigned char[3], one "name.i=v" per differing channel */
};

struct canon_field {
    const char *name;
    enum canon_kind kind;
    size_t off;
};

#define CF(f, kind)                                                                                \
    {                                                                                              \
#f, kind, offsetof(struct procopts, f)                                                     \
    }

static const struct canon_field canon_fields[] = {
    CF(resizing_type, CK_RESIZE),
    CF(width, CK_INT),
    CF(height, CK_INT),
    CF(min_width, CK_INT),
    CF(min_height, CK_INT),
    CF(zoom_w, CK_DOUBLE),
    CF(zoom_h, CK_DOUBLE),
    CF(dpr, CK_DOUBLE),
    CF(enlarge, CK_BOOL),
    CF(extend, CK_BOOL),
    CF(extend_gravity, CK_GRAVITY),
    CF(gravity, CK_GRAVITY),
    CF(crop_w, CK_DOUBLE),
    CF(crop_h, CK_DOUBLE),
    CF(crop_gravity, CK_GRAVITY),
    CF(quality, CK_INT),
    CF(format_quality, CK_QUALITIES),
    CF(format, CK_FORMAT),
    CF(rotate, CK_INT),
    CF(auto_rotate, CK_BOOL),
    CF(strip_metadata, CK_BOOL),
    CF(strip_color_profile, CK_BOOL),
    CF(expires, CK_EXPIRES),
    CF(filename, CK_STRING),
    CF(return_attachment, CK_BOOL),
    CF(cachebuster, CK_STRING),
    CF(extend_ar, CK_BOOL),
    CF(extend_ar_gravity, CK_GRAVITY),
    CF(padding, CK_SIDES),
    CF(trim, CK_BOOL),
    CF(trim_threshold, CK_DOUBLE),
    CF(trim_has_color, CK_BOOL),
    CF(trim_color, CK_RGB),
    CF(trim_equal_hor, CK_BOOL),
    CF(trim_equal_ver, CK_BOOL),
    CF(flip_h, CK_BOOL),
    CF(flip_v, CK_BOOL),
    CF(flatten, CK_BOOL),
    CF(background, CK_RGB),
    CF(blur, CK_DOUBLE),
    CF(sharpen, CK_DOUBLE),
    CF(pixelate, CK_INT),
    CF(keep_copyright, CK_BOOL),
    CF(enforce_thumbnail, CK_BOOL),
    CF(max_bytes, CK_INT),
    CF(skip_processing, CK_TYPES),
    CF(raw, CK_BOOL),
    CF(wm_opacity, CK_DOUBLE),
    CF(wm_gravity, CK_GRAVITY),
    CF(wm_scale, CK_DOUBLE),
    CF(wm_url, CK_STRING),
    CF(wm_text, CK_STRING),
    CF(wm_size_w, CK_INT),
    CF(wm_size_h, CK_INT),
    CF(wm_rotate, CK_DOUBLE),
    CF(wm_shadow, CK_DOUBLE),
    CF(page, CK_INT),
    CF(pages, CK_INT),
    CF(disable_animation, CK_BOOL),
    CF(dpi, CK_DOUBLE),
    CF(best_format, CK_BOOL),
    CF(aq_method, CK_INT),
    CF(aq_target, CK_DOUBLE),
    CF(aq_min, CK_INT),
    CF(aq_max, CK_INT),
    CF(aq_allowed_error, CK_DOUBLE),
    CF(max_src_resolution, CK_LLONG),
    CF(max_src_file_size, CK_LLONG),
    CF(max_animation_frames, CK_INT),
    CF(max_animation_frame_resolution, CK_LLONG),
    CF(max_result_dimension, CK_INT),
    CF(brightness, CK_INT),
    CF(contrast, CK_DOUBLE),
    CF(saturation, CK_DOUBLE),
    CF(mc_intensity, CK_DOUBLE),
    CF(mc_color, CK_RGB),
    CF(dt_intensity, CK_DOUBLE),
    CF(dt_color1, CK_RGB),
    CF(dt_color2, CK_RGB),
    CF(col_opacity, CK_DOUBLE),
    CF(col_color, CK_RGB),
    CF(col_keep_alpha, CK_BOOL),
    CF(gr_opacity, CK_DOUBLE),
    CF(gr_color, CK_RGB),
    CF(gr_angle, CK_DOUBLE),
    CF(gr_start, CK_DOUBLE),
    CF(gr_stop, CK_DOUBLE),
    CF(ush_mode, CK_INT),
    CF(ush_weight, CK_DOUBLE),
    CF(ush_divider, CK_DOUBLE),
    CF(background_alpha, CK_DOUBLE),
    CF(ba_sigma, CK_DOUBLE),
    CF(ba_n, CK_INT),
    CF(ba_rects[0][0], CK_DOUBLE),
    CF(ba_rects[0][1], CK_DOUBLE),
    CF(ba_rects[0][2], CK_DOUBLE),
    CF(ba_rects[0][3], CK_DOUBLE),
    CF(ba_rects[1][0], CK_DOUBLE),
    CF(ba_rects[1][1], CK_DOUBLE),
    CF(ba_rects[1][2], CK_DOUBLE),
    CF(ba_rects[1][3], CK_DOUBLE),
    CF(ba_rects[2][0], CK_DOUBLE),
    CF(ba_rects[2][1], CK_DOUBLE),
    CF(ba_rects[2][2], CK_DOUBLE),
    CF(ba_rects[2][3], CK_DOUBLE),
    CF(crop_ar, CK_DOUBLE),
    CF(crop_ar_enlarge, CK_BOOL),
    CF(resize_kernel, CK_INT),
    CF(enc.jpeg_progressive, CK_BOOL),
    CF(enc.jpeg_no_subsample, CK_BOOL),
    CF(enc.jpeg_trellis_quant, CK_BOOL),
    CF(enc.jpeg_overshoot_deringing, CK_BOOL),
    CF(enc.jpeg_optimize_scans, CK_BOOL),
    CF(enc.jpeg_quant_table, CK_INT),
    CF(enc.png_interlaced, CK_BOOL),
    CF(enc.png_quantize, CK_BOOL),
    CF(enc.png_quantization_colors, CK_INT),
    CF(enc.webp_compression, CK_INT),
    CF(enc.webp_smart_subsample, CK_BOOL),
    CF(enc.webp_preset, CK_INT),
    CF(enc.avif_subsample, CK_INT),
    CF(color_profile, CK_STRING),
    CF(style, CK_STRING),
    CF(hashsum_type, CK_INT),
    CF(hashsum_hex, CK_STRING),
    CF(fallback_url, CK_STRING),
};

#undef CF

/* Where to write: the buffer, its size and how much is used. */
struct canon_out {
    char *out;
    size_t outlen;
    size_t used;
};

/* The per-format arrays: "name.format=v" for each format whose value differs. */
static void put_per_type(struct canon_out *o, const struct canon_field *f, const void *pv,
                         const void *dv)
{
    for (int t = 1; t < IMGTYPE_COUNT; t++) {
        int v = f->kind == CK_TYPES ? ((const bool *)pv)[t] : ((const int *)pv)[t];
        int d = f->kind == CK_TYPES ? ((const bool *)dv)[t] : ((const int *)dv)[t];

        if (v != d)
            put(o->out, o->outlen, &o->used, "%s.%s=%d\n", f->name, imagetype_name((enum imgtype)t),
                v);
    }
}

/* The small fixed arrays: "name.i=v" for each element that differs. */
static void put_indexed(struct canon_out *o, const struct canon_field *f, const void *pv,
                        const void *dv)
{
    int n = f->kind == CK_SIDES ? 4 : 3;

    for (int i = 0; i < n; i++) {
        int v = f->kind == CK_SIDES ? ((const int *)pv)[i] : ((const unsigned char *)pv)[i];
        int d = f->kind == CK_SIDES ? ((const int *)dv)[i] : ((const unsigned char *)dv)[i];

        if (v != d)
            put(o->out, o->outlen, &o->used, "%s.%d=%d\n", f->name, i, v);
    }
}

/* Writes field f of po when it differs from the default d. */
static void put_field(struct canon_out *o, const struct canon_field *f, const struct procopts *po,
                      const struct procopts *d)
{
    const void *pv = (const char *)po + f->off, *dv = (const char *)d + f->off;
    size_t *used = &o->used;

    switch (f->kind) {
    case CK_INT:
        if (*(const int *)pv != *(const int *)dv)
            put(o->out, o->outlen, used, "%s=%d\n", f->name, *(const int *)pv);
        break;
    case CK_BOOL:
        if (*(const bool *)pv != *(const bool *)dv)
            put(o->out, o->outlen, used, "%s=%d\n", f->name, (int)*(const bool *)pv);
        break;
    case CK_RESIZE:
        if (*(const enum resize_type *)pv != *(const enum resize_type *)dv)
            put(o->out, o->outlen, used, "%s=%d\n", f->name, (int)*(const enum resize_type *)pv);
        break;
    case CK_DOUBLE:
        if (*(const double *)pv != *(const double *)dv)
            put(o->out, o->outlen, used, "%s=%.17g\n", f->name, *(const double *)pv);
        break;
    case CK_LLONG:
        if (*(const long long *)pv != *(const long long *)dv)
            put(o->out, o->outlen, used, "%s=%lld\n", f->name, *(const long long *)pv);
        break;
    case CK_GRAVITY:
        put_gravity(o->out, o->outlen, used, f->name, pv, dv);
        break;
    case CK_QUALITIES:
    case CK_TYPES:
        put_per_type(o, f, pv, dv);
        break;
    case CK_FORMAT:
        if (*(const enum imgtype *)pv != *(const enum imgtype *)dv)
            put(o->out, o->outlen, used, "%s=%s\n", f->name,
                imagetype_name(*(const enum imgtype *)pv));
        break;
    case CK_EXPIRES:
        if (po->has_expires)
            put(o->out, o->outlen, used, "%s=%lld\n", f->name, *(const long long *)pv);
        break;
    case CK_STRING:
        if (*(const char *)pv != '\0')
            put_string(o->out, o->outlen, used, f->name, pv);
        break;
    case CK_SIDES:
    case CK_RGB:
        put_indexed(o, f, pv, dv);
        break;
    }
}

/* One pipeline's canonical form, without the chain behind it. */
static size_t options_canonical_one(const struct procopts *po, char *out, size_t outlen)
{
    struct procopts one = *po;

    one.next = NULL;
    return options_canonical(&one, out, outlen);
}

size_t options_canonical(const struct procopts *po, char *out, size_t outlen)
{
    struct procopts d;
    struct canon_out o = {.out = out, .outlen = outlen, .used = 0};

    if (outlen == 0)
        return 0;
    out[0] = '\0';
    options_init(&d);
    for (size_t i = 0; i < sizeof(canon_fields) / sizeof(canon_fields[0]); i++)
        put_field(&o, &canon_fields[i], po, &d);
    /*
     * Each pipeline of a chain as the SHA-256 of its own canonical form: a
     * fixed-size line each, so a long chain never runs past outlen.
     */
    if (po->next != NULL) {
        char *sub = malloc(OPTIONS_CANONICAL_MAX);
        size_t k = 1;

        for (const struct procopts *p = po->next; p != NULL; p = p->next, k++) {
            size_t n = sub != NULL ? options_canonical_one(p, sub, OPTIONS_CANONICAL_MAX) : 0;
            gchar *hex = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)sub, n);

            put(out, outlen, &o.used, "pipeline.%zu=%s\n", k, hex != NULL ? hex : "");
            g_free(hex);
        }
        free(sub);
    }
    return o.used;
}
