/* options.c: parsing processing options the way imgproxy v3 does (applyURLOption). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "options.h"
#include "parse.h"
#include "url.h"
#include "presets.h"
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

static int apply_extend(struct procopts *po, const struct args *a, size_t from, struct errinfo *e)
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
        if (!found || po->wm_gravity.type == GRAV_SMART || po->wm_gravity.type == GRAV_FOCUS_POINT)
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
        int *dst = name_is(name, "width", "w", NULL)        ? &po->width
                   : name_is(name, "height", "h", NULL)     ? &po->height
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
    if (name_is(name, "expires", "exp", NULL)) {
        char *endp;
        long long ts;

        if (a.n > 1)
            return err_set(e, ERR_INVALID_URL, "Invalid expires arguments");
        errno = 0;
        ts = strtoll(a.v[0], &endp, 10);
        if (a.v[0][0] == '\0' || *endp != '\0' || errno != 0)
            return err_set(e, ERR_INVALID_URL, "Invalid expires argument: %s", a.v[0]);
        /* 0 and negative stamps are kept, as imgproxy does: they mean no-cache. */
        if (ts > 0 && ts < (long long)time(NULL))
            return err_set(e, ERR_INVALID_URL, "Expired URL");
        po->has_expires = true;
        po->expires = ts;
        return 0;
    }
    if (name_is(name, "filename", "fn", NULL)) {
        if (a.n > 2)
            return err_set(e, ERR_INVALID_URL, "Invalid filename arguments");
        if (a.n > 1 && parse_bool(a.v[1])) {
            size_t l = strlen(a.v[0]);
            long dl;

            while (l > 0 && a.v[0][l - 1] == '=')
                l--;
            dl = url_base64_decode(a.v[0], l, (unsigned char *)po->filename);
            if (dl < 0 || memchr(po->filename, '\0', (size_t)dl) != NULL) {
                po->filename[0] = '\0';
                return err_set(e, ERR_INVALID_URL, "Invalid filename encoding: %s", a.v[0]);
            }
            po->filename[dl] = '\0';
        } else {
            memcpy(po->filename, a.v[0], strlen(a.v[0]) + 1);
        }
        return 0;
    }
    if (name_is(name, "return_attachment", "att", NULL)) {
        if (a.n > 1)
            return err_set(e, ERR_INVALID_URL, "Invalid return_attachment arguments");
        po->return_attachment = parse_bool(a.v[0]);
        return 0;
    }
    if (name_is(name, "cachebuster", "cb", NULL)) {
        if (a.n > 1)
            return err_set(e, ERR_INVALID_URL, "Invalid cachebuster arguments");
        memcpy(po->cachebuster, a.v[0], strlen(a.v[0]) + 1);
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

int options_apply_url(struct procopts *po, const char *seg, size_t len, char sep, struct errinfo *e)
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

size_t options_canonical(const struct procopts *po, char *out, size_t outlen)
{
    struct procopts d;
    size_t used = 0;

    if (outlen == 0)
        return 0;
    out[0] = '\0';
    options_init(&d);
#define PUT_INT(f)                                                                                 \
    do {                                                                                           \
        if (po->f != d.f)                                                                          \
            put(out, outlen, &used, #f "=%d\n", (int)po->f);                                       \
    } while (0)
#define PUT_DBL(f)                                                                                 \
    do {                                                                                           \
        if (po->f != d.f)                                                                          \
            put(out, outlen, &used, #f "=%.17g\n", po->f);                                         \
    } while (0)
    PUT_INT(resizing_type);
    PUT_INT(width);
    PUT_INT(height);
    PUT_INT(min_width);
    PUT_INT(min_height);
    PUT_DBL(zoom_w);
    PUT_DBL(zoom_h);
    PUT_DBL(dpr);
    PUT_INT(enlarge);
    PUT_INT(extend);
    put_gravity(out, outlen, &used, "extend_gravity", &po->extend_gravity, &d.extend_gravity);
    put_gravity(out, outlen, &used, "gravity", &po->gravity, &d.gravity);
    PUT_DBL(crop_w);
    PUT_DBL(crop_h);
    put_gravity(out, outlen, &used, "crop_gravity", &po->crop_gravity, &d.crop_gravity);
    PUT_INT(quality);
    for (int t = 1; t < IMGTYPE_COUNT; t++)
        if (po->format_quality[t] != d.format_quality[t])
            put(out, outlen, &used, "format_quality.%s=%d\n", imagetype_name((enum imgtype)t),
                po->format_quality[t]);
    if (po->format != d.format)
        put(out, outlen, &used, "format=%s\n", imagetype_name(po->format));
    PUT_INT(rotate);
    PUT_INT(auto_rotate);
    PUT_INT(strip_metadata);
    PUT_INT(strip_color_profile);
    if (po->has_expires)
        put(out, outlen, &used, "expires=%lld\n", po->expires);
    if (po->filename[0] != '\0')
        put_string(out, outlen, &used, "filename", po->filename);
    PUT_INT(return_attachment);
    if (po->cachebuster[0] != '\0')
        put_string(out, outlen, &used, "cachebuster", po->cachebuster);
    /* The processing options of issue 4: any change must change the hash. */
    PUT_INT(extend_ar);
    put_gravity(out, outlen, &used, "extend_ar_gravity", &po->extend_ar_gravity,
                &d.extend_ar_gravity);
    for (int i = 0; i < 4; i++)
        if (po->padding[i] != d.padding[i])
            put(out, outlen, &used, "padding.%d=%d\n", i, po->padding[i]);
    PUT_INT(trim);
    PUT_DBL(trim_threshold);
    PUT_INT(trim_has_color);
    for (int i = 0; i < 3; i++)
        if (po->trim_color[i] != d.trim_color[i])
            put(out, outlen, &used, "trim_color.%d=%d\n", i, po->trim_color[i]);
    PUT_INT(trim_equal_hor);
    PUT_INT(trim_equal_ver);
    PUT_INT(flip_h);
    PUT_INT(flip_v);
    PUT_INT(flatten);
    for (int i = 0; i < 3; i++)
        if (po->background[i] != d.background[i])
            put(out, outlen, &used, "background.%d=%d\n", i, po->background[i]);
    PUT_DBL(blur);
    PUT_DBL(sharpen);
    PUT_INT(pixelate);
    PUT_INT(keep_copyright);
    PUT_INT(enforce_thumbnail);
    PUT_INT(max_bytes);
    for (int t = 1; t < IMGTYPE_COUNT; t++)
        if (po->skip_processing[t] != d.skip_processing[t])
            put(out, outlen, &used, "skip_processing.%s=%d\n", imagetype_name((enum imgtype)t),
                po->skip_processing[t]);
    PUT_INT(raw);
    PUT_DBL(wm_opacity);
    put_gravity(out, outlen, &used, "wm_gravity", &po->wm_gravity, &d.wm_gravity);
    PUT_DBL(wm_scale);
    if (po->max_src_resolution != d.max_src_resolution)
        put(out, outlen, &used, "max_src_resolution=%lld\n", po->max_src_resolution);
    if (po->max_src_file_size != d.max_src_file_size)
        put(out, outlen, &used, "max_src_file_size=%lld\n", po->max_src_file_size);
    PUT_INT(max_animation_frames);
    if (po->max_animation_frame_resolution != d.max_animation_frame_resolution)
        put(out, outlen, &used, "max_animation_frame_resolution=%lld\n",
            po->max_animation_frame_resolution);
    PUT_INT(max_result_dimension);
#undef PUT_INT
#undef PUT_DBL
    return used;
}
