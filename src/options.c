/* options.c: parsing processing options the way imgproxy v3 does (applyURLOption). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "options.h"
#include "presets.h"
#include "banned.h"

#define MAX_ARGS 16
#define ARG_MAX_LEN 256

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
    po->extend_ar_gravity.type = GRAV_CENTER;
    po->trim_threshold = 10;
    po->background[0] = po->background[1] = po->background[2] = 255;
    po->keep_copyright = cfg.keep_copyright;
    po->enforce_thumbnail = cfg.enforce_thumbnail;
    memcpy(po->skip_processing, cfg.skip_processing, sizeof(po->skip_processing));
    po->wm_gravity.type = GRAV_CENTER;
    po->max_src_resolution = cfg.max_src_resolution;
    po->max_src_file_size = cfg.max_src_file_size;
    po->max_animation_frames = cfg.max_animation_frames;
    po->max_animation_frame_resolution = cfg.max_animation_frame_resolution;
    po->max_result_dimension = cfg.max_result_dimension;
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
    static const char *yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *no[] = {"0", "f", "F", "FALSE", "false", "False"};

    for (size_t i = 0; i < 6; i++) {
        if (strcmp(s, yes[i]) == 0)
            return true;
        if (strcmp(s, no[i]) == 0)
            return false;
    }
    log_warn("`%s` is not a valid boolean value. Treated as false", s);
    return false;
}

static const struct {
    const char *name;
    enum gravity_type type;
} gravity_names[] = {
    {"ce", GRAV_CENTER},       {"no", GRAV_NORTH},       {"so", GRAV_SOUTH},
    {"ea", GRAV_EAST},         {"we", GRAV_WEST},        {"noea", GRAV_NORTH_EAST},
    {"nowe", GRAV_NORTH_WEST}, {"soea", GRAV_SOUTH_EAST}, {"sowe", GRAV_SOUTH_WEST},
    {"sm", GRAV_SMART},        {"fp", GRAV_FOCUS_POINT},  {"re", GRAV_REPLICATE},
};

const char *options_gravity_name(enum gravity_type t)
{
    for (size_t i = 0; i < sizeof(gravity_names) / sizeof(gravity_names[0]); i++)
        if (gravity_names[i].type == t)
            return gravity_names[i].name;
    return "";
}

/* imgproxy's parseGravity over args[from..]; allow_smart: sm is accepted. */
static int parse_gravity(struct gravity *g, const char *what, const struct args *a, size_t from,
                         bool allow_smart, struct errinfo *e)
{
    size_t n = a->n - from;
    const char *name = a->v[from];
    bool found = false;

    for (size_t i = 0; i < sizeof(gravity_names) / sizeof(gravity_names[0]); i++) {
        if (strcmp(name, gravity_names[i].name) == 0) {
            g->type = gravity_names[i].type;
            found = true;
        }
    }
    if (!found || (g->type == GRAV_SMART && !allow_smart) || g->type == GRAV_REPLICATE)
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

static int apply_extend_to(bool *on, struct gravity *g, const struct args *a, size_t from,
                           struct errinfo *e)
{
    if (a->n - from > 4)
        return err_set(e, ERR_INVALID_URL, "Invalid extend arguments");
    *on = parse_bool(a->v[from]);
    if (a->n - from > 1) {
        int r = parse_gravity(g, "extend gravity", a, from + 1, false, e);

        if (r == 0 && g->type == GRAV_SMART)
            return err_set(e, ERR_INVALID_URL, "Invalid extend gravity: sm");
        return r;
    }
    return 0;
}

static int apply_extend(struct procopts *po, const struct args *a, size_t from,
                        struct errinfo *e)
{
    return apply_extend_to(&po->extend, &po->extend_gravity, a, from, e);
}

static int hexdigit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A 3- or 6-digit hex colour ("f00", "ff0000"). */
static int parse_hex_color(const char *s, unsigned char rgb[3])
{
    size_t n = strlen(s);

    for (size_t i = 0; i < n; i++)
        if (hexdigit(s[i]) < 0)
            return -1;
    if (n == 3) {
        for (size_t i = 0; i < 3; i++)
            rgb[i] = (unsigned char)(hexdigit(s[i]) * 17);
        return 0;
    }
    if (n == 6) {
        for (size_t i = 0; i < 3; i++)
            rgb[i] = (unsigned char)(hexdigit(s[2 * i]) * 16 + hexdigit(s[2 * i + 1]));
        return 0;
    }
    return -1;
}

static int apply_background(struct procopts *po, const struct args *a, struct errinfo *e)
{
    if (a->n == 1 && a->v[0][0] == '\0') {
        po->flatten = false;
        return 0;
    }
    if (a->n == 1) {
        if (parse_hex_color(a->v[0], po->background) < 0)
            return err_set(e, ERR_INVALID_URL, "Invalid background argument: %s", a->v[0]);
        po->flatten = true;
        return 0;
    }
    if (a->n == 3) {
        for (size_t i = 0; i < 3; i++) {
            int c;

            if (parse_int(a->v[i], &c) < 0 || c < 0 || c > 255)
                return err_set(e, ERR_INVALID_URL, "Invalid background argument: %s", a->v[i]);
            po->background[i] = (unsigned char)c;
        }
        po->flatten = true;
        return 0;
    }
    return err_set(e, ERR_INVALID_URL, "Invalid background arguments");
}

static int apply_padding(struct procopts *po, const struct args *a, struct errinfo *e)
{
    int v[4];

    if (a->n > 4)
        return err_set(e, ERR_INVALID_URL, "Invalid padding arguments");
    for (size_t i = 0; i < a->n; i++) {
        if (a->v[i][0] == '\0') {
            v[i] = -1; /* keep what CSS order gives */
            continue;
        }
        if (parse_int(a->v[i], &v[i]) < 0 || v[i] < 0)
            return err_set(e, ERR_INVALID_URL, "Invalid padding: %s", a->v[i]);
    }
    /* CSS order: top sets all; right sets left; bottom; left. */
    if (v[0] >= 0)
        po->padding[0] = po->padding[1] = po->padding[2] = po->padding[3] = v[0];
    if (a->n > 1 && v[1] >= 0)
        po->padding[1] = po->padding[3] = v[1];
    if (a->n > 2 && v[2] >= 0)
        po->padding[2] = v[2];
    if (a->n > 3 && v[3] >= 0)
        po->padding[3] = v[3];
    return 0;
}

static int apply_trim(struct procopts *po, const struct args *a, struct errinfo *e)
{
    double t;

    if (a->n > 4)
        return err_set(e, ERR_INVALID_URL, "Invalid trim arguments");
    if (parse_float(a->v[0], &t) < 0 || t < 0)
        return err_set(e, ERR_INVALID_URL, "Invalid trim threshold: %s", a->v[0]);
    po->trim = true;
    po->trim_threshold = t;
    if (a->n > 1 && a->v[1][0] != '\0') {
        if (parse_hex_color(a->v[1], po->trim_color) < 0)
            return err_set(e, ERR_INVALID_URL, "Invalid trim color: %s", a->v[1]);
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

static int apply_watermark(struct procopts *po, const struct args *a, struct errinfo *e)
{
    double v;

    if (a->n > 7)
        return err_set(e, ERR_INVALID_URL, "Invalid watermark arguments");
    if (parse_float(a->v[0], &v) < 0 || v < 0 || v > 1)
        return err_set(e, ERR_INVALID_URL, "Invalid watermark opacity: %s", a->v[0]);
    po->wm_opacity = v;
    if (a->n > 1 && a->v[1][0] != '\0') {
        bool found = false;

        for (size_t i = 0; i < sizeof(gravity_names) / sizeof(gravity_names[0]); i++) {
            if (strcmp(a->v[1], gravity_names[i].name) == 0) {
                po->wm_gravity.type = gravity_names[i].type;
                found = true;
            }
        }
        if (!found || po->wm_gravity.type == GRAV_SMART ||
            po->wm_gravity.type == GRAV_FOCUS_POINT)
            return err_set(e, ERR_INVALID_URL, "Invalid watermark position: %s", a->v[1]);
    }
    if (a->n > 2 && a->v[2][0] != '\0') {
        if (parse_float(a->v[2], &v) < 0)
            return err_set(e, ERR_INVALID_URL, "Invalid watermark X offset: %s", a->v[2]);
        po->wm_gravity.x = v;
    }
    if (a->n > 3 && a->v[3][0] != '\0') {
        if (parse_float(a->v[3], &v) < 0)
            return err_set(e, ERR_INVALID_URL, "Invalid watermark Y offset: %s", a->v[3]);
        po->wm_gravity.y = v;
    }
    if (a->n > 4 && a->v[4][0] != '\0') {
        if (parse_float(a->v[4], &v) < 0 || v < 0)
            return err_set(e, ERR_INVALID_URL, "Invalid watermark scale: %s", a->v[4]);
        po->wm_scale = v;
    }
    return 0;
}

/* The security options: only with IMGPROXY_ALLOW_SECURITY_OPTIONS, else 403. */
static int apply_security(struct procopts *po, const char *name, const struct args *a,
                          struct errinfo *e)
{
    double f;
    int i;

    if (!cfg.allow_security_options)
        return err_set(e, ERR_SECURITY_OPTION, "Security processing options are not allowed: %s",
                       name);
    if (a->n > 1)
        return err_set(e, ERR_INVALID_URL, "Invalid %s arguments", name);
    if (strcmp(name, "max_src_resolution") == 0 || strcmp(name, "msr") == 0 ||
        strcmp(name, "max_animation_frame_resolution") == 0 || strcmp(name, "mafr") == 0) {
        if (parse_float(a->v[0], &f) < 0 || !(f > 0) || f > 1e9)
            return err_set(e, ERR_INVALID_URL, "Invalid %s: %s", name, a->v[0]);
        if (name[1] == 's' || strcmp(name, "max_src_resolution") == 0)
            po->max_src_resolution = (long long)(f * 1e6);
        else
            po->max_animation_frame_resolution = (long long)(f * 1e6);
        return 0;
    }
    if (parse_int(a->v[0], &i) < 0 || i < 0)
        return err_set(e, ERR_INVALID_URL, "Invalid %s: %s", name, a->v[0]);
    if (strcmp(name, "max_src_file_size") == 0 || strcmp(name, "msfs") == 0)
        po->max_src_file_size = i;
    else if (strcmp(name, "max_animation_frames") == 0 || strcmp(name, "maf") == 0) {
        if (i < 1)
            return err_set(e, ERR_INVALID_URL, "Invalid %s: %s", name, a->v[0]);
        po->max_animation_frames = i;
    } else
        po->max_result_dimension = i;
    return 0;
}

static bool is_security_option(const char *name)
{
    static const char *names[] = {"max_src_resolution",
                                  "msr",
                                  "max_src_file_size",
                                  "msfs",
                                  "max_animation_frames",
                                  "maf",
                                  "max_animation_frame_resolution",
                                  "mafr",
                                  "max_result_dimension",
                                  "mrd"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    return false;
}

/* size: w:h:enlarge:extend[:gravity:x:y] from args[from..]; empty arguments are skipped. */
static int apply_size(struct procopts *po, const struct args *a, size_t from, struct errinfo *e)
{
    size_t n = a->n - from;
    int r;

    if (n > 7)
        return err_set(e, ERR_INVALID_URL, "Invalid size arguments");
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
        return apply_extend(po, a, from + 3, e);
    return 0;
}

int options_apply_format(struct procopts *po, const char *ext, size_t len, struct errinfo *e)
{
    enum imgtype t = imagetype_from_name(ext, len);

    if (t == IMGTYPE_UNKNOWN)
        return err_set(e, ERR_INVALID_URL, "Invalid image format: %.*s", (int)len, ext);
    po->format = t;
    return 0;
}

static bool name_is(const char *name, const char *a, const char *b, const char *c)
{
    return strcmp(name, a) == 0 || (b && strcmp(name, b) == 0) || (c && strcmp(name, c) == 0);
}

int options_apply(struct procopts *po, const char *seg, size_t len, char sep, struct errinfo *e)
{
    struct args a;
    char name[64];
    const char *p = seg, *end = seg + len, *s;
    size_t nlen;
    int r;

    s = memchr(p, sep, len);
    if (s == NULL)
        return err_set(e, ERR_INVALID_URL, "Invalid option: %.*s", (int)len, seg);
    nlen = (size_t)(s - p);
    if (nlen >= sizeof(name))
        return err_set(e, ERR_INVALID_URL, "Unknown processing option");
    memcpy(name, p, nlen);
    name[nlen] = '\0';
    a.n = 0;
    p = s + 1;
    for (;;) {
        const char *next = memchr(p, sep, (size_t)(end - p));
        size_t alen = next ? (size_t)(next - p) : (size_t)(end - p);

        if (a.n >= MAX_ARGS || alen >= ARG_MAX_LEN)
            return err_set(e, ERR_INVALID_URL, "Invalid %s arguments: too many or too long", name);
        memcpy(a.v[a.n], p, alen);
        a.v[a.n][alen] = '\0';
        if (memchr(a.v[a.n], '\0', alen) != NULL)
            return err_set(e, ERR_INVALID_URL, "Invalid %s arguments", name);
        a.n++;
        if (next == NULL)
            break;
        p = next + 1;
    }

    if (name_is(name, "resize", "rs", NULL)) {
        if (a.n > 8)
            return err_set(e, ERR_INVALID_URL, "Invalid resize arguments");
        if (a.v[0][0] != '\0') {
            r = apply_resizing_type(po, a.v[0], e);
            if (r < 0)
                return r;
        }
        if (a.n > 1)
            return apply_size(po, &a, 1, e);
        return 0;
    }
    if (name_is(name, "size", "s", NULL))
        return apply_size(po, &a, 0, e);
    if (name_is(name, "resizing_type", "rt", NULL)) {
        if (a.n > 1)
            return err_set(e, ERR_INVALID_URL, "Invalid resizing type arguments");
        return apply_resizing_type(po, a.v[0], e);
    }
    if (name_is(name, "width", "w", NULL) || name_is(name, "height", "h", NULL) ||
        name_is(name, "min-width", "mw", NULL) || name_is(name, "min-height", "mh", NULL)) {
        int *dst = name_is(name, "width", "w", NULL)       ? &po->width
                   : name_is(name, "height", "h", NULL)    ? &po->height
                   : name_is(name, "min-width", "mw", NULL) ? &po->min_width
                                                            : &po->min_height;

        if (a.n > 1)
            return err_set(e, ERR_INVALID_URL, "Invalid %s arguments", name);
        return parse_dimension(dst, name, a.v[0], e);
    }
    if (name_is(name, "zoom", "z", NULL)) {
        double z;

        if (a.n > 2)
            return err_set(e, ERR_INVALID_URL, "Invalid zoom arguments");
        if (parse_float(a.v[0], &z) < 0 || !(z > 0))
            return err_set(e, ERR_INVALID_URL, "Invalid zoom value: %s", a.v[0]);
        po->zoom_w = po->zoom_h = z;
        if (a.n > 1) {
            if (parse_float(a.v[1], &z) < 0 || !(z > 0))
                return err_set(e, ERR_INVALID_URL, "Invalid zoom value: %s", a.v[1]);
            po->zoom_h = z;
        }
        return 0;
    }
    if (name_is(name, "dpr", NULL, NULL)) {
        double d;

        if (a.n > 1)
            return err_set(e, ERR_INVALID_URL, "Invalid dpr arguments");
        if (parse_float(a.v[0], &d) < 0 || !(d > 0))
            return err_set(e, ERR_INVALID_URL, "Invalid dpr: %s", a.v[0]);
        po->dpr = d;
        return 0;
    }
    if (name_is(name, "enlarge", "el", NULL)) {
        if (a.n > 1)
            return err_set(e, ERR_INVALID_URL, "Invalid enlarge arguments");
        po->enlarge = parse_bool(a.v[0]);
        return 0;
    }
    if (name_is(name, "extend", "ex", NULL))
        return apply_extend(po, &a, 0, e);
    if (name_is(name, "gravity", "g", NULL))
        return parse_gravity(&po->gravity, "gravity", &a, 0, true, e);
    if (name_is(name, "crop", "c", NULL)) {
        double v;

        if (a.n > 5)
            return err_set(e, ERR_INVALID_URL, "Invalid crop arguments");
        if (parse_float(a.v[0], &v) < 0 || v < 0)
            return err_set(e, ERR_INVALID_URL, "Invalid crop width: %s", a.v[0]);
        po->crop_w = v;
        if (a.n > 1) {
            if (parse_float(a.v[1], &v) < 0 || v < 0)
                return err_set(e, ERR_INVALID_URL, "Invalid crop height: %s", a.v[1]);
            po->crop_h = v;
        }
        if (a.n > 2)
            return parse_gravity(&po->crop_gravity, "crop gravity", &a, 2, true, e);
        return 0;
    }
    if (name_is(name, "quality", "q", NULL)) {
        int q;

        if (a.n > 1)
            return err_set(e, ERR_INVALID_URL, "Invalid quality arguments");
        if (parse_int(a.v[0], &q) < 0 || q < 0 || q > 100)
            return err_set(e, ERR_INVALID_URL, "Invalid quality: %s", a.v[0]);
        po->quality = q;
        return 0;
    }
    if (name_is(name, "format", "f", "ext")) {
        if (a.n > 1)
            return err_set(e, ERR_INVALID_URL, "Invalid format arguments");
        return options_apply_format(po, a.v[0], strlen(a.v[0]), e);
    }
    if (name_is(name, "rotate", "rot", NULL)) {
        int deg;

        if (a.n > 1)
            return err_set(e, ERR_INVALID_URL, "Invalid rotate arguments");
        if (parse_int(a.v[0], &deg) < 0 || deg % 90 != 0)
            return err_set(e, ERR_INVALID_URL, "Invalid rotation angle: %s", a.v[0]);
        po->rotate = ((deg % 360) + 360) % 360;
        return 0;
    }
    if (name_is(name, "format_quality", "fq", NULL)) {
        if (a.n % 2 != 0)
            return err_set(e, ERR_INVALID_URL, "Missing quality for: %s", a.v[a.n - 1]);
        for (size_t i = 0; i < a.n; i += 2) {
            enum imgtype t = imagetype_from_name(a.v[i], strlen(a.v[i]));
            int q;

            if (t == IMGTYPE_UNKNOWN)
                return err_set(e, ERR_INVALID_URL, "Invalid image format: %s", a.v[i]);
            if (parse_int(a.v[i + 1], &q) < 0 || q < 0 || q > 100)
                return err_set(e, ERR_INVALID_URL, "Invalid quality for %s: %s", a.v[i],
                               a.v[i + 1]);
            po->format_quality[t] = q;
        }
        return 0;
    }
    if (name_is(name, "strip_metadata", "sm", NULL) ||
        name_is(name, "strip_color_profile", "scp", NULL)) {
        if (a.n > 1)
            return err_set(e, ERR_INVALID_URL, "Invalid %s arguments", name);
        if (name_is(name, "strip_metadata", "sm", NULL))
            po->strip_metadata = parse_bool(a.v[0]);
        else
            po->strip_color_profile = parse_bool(a.v[0]);
        return 0;
    }
    if (name_is(name, "auto_rotate", "ar", NULL)) {
        if (a.n > 1)
            return err_set(e, ERR_INVALID_URL, "Invalid auto rotate arguments");
        po->auto_rotate = parse_bool(a.v[0]);
        return 0;
    }
    if (name_is(name, "extend_aspect_ratio", "extend_ar", "exar"))
        return apply_extend_to(&po->extend_ar, &po->extend_ar_gravity, &a, 0, e);
    if (name_is(name, "padding", "pd", NULL))
        return apply_padding(po, &a, e);
    if (name_is(name, "trim", "t", NULL))
        return apply_trim(po, &a, e);
    if (name_is(name, "flip", "fl", NULL)) {
        if (a.n > 2)
            return err_set(e, ERR_INVALID_URL, "Invalid flip arguments");
        po->flip_h = parse_bool(a.v[0]);
        po->flip_v = a.n > 1 ? parse_bool(a.v[1]) : false;
        return 0;
    }
    if (name_is(name, "background", "bg", NULL))
        return apply_background(po, &a, e);
    if (name_is(name, "blur", "bl", NULL) || name_is(name, "sharpen", "sh", NULL)) {
        double v;

        if (a.n > 1)
            return err_set(e, ERR_INVALID_URL, "Invalid %s arguments", name);
        if (parse_float(a.v[0], &v) < 0 || v < 0)
            return err_set(e, ERR_INVALID_URL, "Invalid %s: %s", name, a.v[0]);
        if (name_is(name, "blur", "bl", NULL))
            po->blur = v;
        else
            po->sharpen = v;
        return 0;
    }
    if (name_is(name, "pixelate", "pix", NULL) || name_is(name, "max_bytes", "mb", NULL)) {
        int v;

        if (a.n > 1)
            return err_set(e, ERR_INVALID_URL, "Invalid %s arguments", name);
        if (parse_int(a.v[0], &v) < 0 || v < 0)
            return err_set(e, ERR_INVALID_URL, "Invalid %s: %s", name, a.v[0]);
        if (name_is(name, "pixelate", "pix", NULL))
            po->pixelate = v;
        else
            po->max_bytes = v;
        return 0;
    }
    if (name_is(name, "keep_copyright", "kcr", NULL) ||
        name_is(name, "enforce_thumbnail", "eth", NULL) || name_is(name, "raw", NULL, NULL)) {
        bool v;

        if (a.n > 1)
            return err_set(e, ERR_INVALID_URL, "Invalid %s arguments", name);
        v = parse_bool(a.v[0]);
        if (name_is(name, "keep_copyright", "kcr", NULL))
            po->keep_copyright = v;
        else if (name_is(name, "raw", NULL, NULL))
            po->raw = v;
        else
            po->enforce_thumbnail = v;
        return 0;
    }
    if (name_is(name, "skip_processing", "skp", NULL)) {
        for (size_t i = 0; i < a.n; i++) {
            enum imgtype t = imagetype_from_name(a.v[i], strlen(a.v[i]));

            if (t == IMGTYPE_UNKNOWN)
                return err_set(e, ERR_INVALID_URL, "Invalid image format in skip_processing: %s",
                               a.v[i]);
            po->skip_processing[t] = true;
        }
        return 0;
    }
    if (name_is(name, "watermark", "wm", NULL))
        return apply_watermark(po, &a, e);
    if (name_is(name, "preset", "pr", NULL)) {
        for (size_t i = 0; i < a.n; i++) {
            r = options_apply_preset(po, a.v[i], strlen(a.v[i]), sep, e);
            if (r < 0)
                return r;
        }
        return 0;
    }
    if (is_security_option(name))
        return apply_security(po, name, &a, e);
    return err_set(e, ERR_INVALID_URL, "Unknown processing option: %s", name);
}

int options_apply_url(struct procopts *po, const char *seg, size_t len, char sep,
                      struct errinfo *e)
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
            return err_set(e, ERR_INVALID_URL, "Forbidden processing option %.*s", (int)nlen,
                           seg);
    }
    return options_apply(po, seg, len, sep, e);
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
        int r = options_apply(po, p->segments[i], strlen(p->segments[i]), sep, e);

        if (r < 0)
            return r;
    }
    return 0;
}

int options_quality(const struct procopts *po, enum imgtype t)
{
    if (po->quality > 0)
        return po->quality;
    if (t > IMGTYPE_UNKNOWN && t < IMGTYPE_COUNT && po->format_quality[t] > 0)
        return po->format_quality[t];
    return cfg.quality;
}
