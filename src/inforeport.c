/* inforeport.c: the /info JSON: header fields, metadata, pixel statistics on a small copy. */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <exempi/xmp.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <libexif/exif-data.h>
#include <libiptcdata/iptc-data.h>
#include <libiptcdata/iptc-jpeg.h>
#include <vips/vips.h>

#include "geometry.h"
#include "inforeport.h"
#include "log.h"
#include "vipsop.h"
#include "watch.h"
#include "banned.h"

/* Adds a string member, made valid UTF-8 (metadata text may be in any encoding). */
static void set_text(JsonObject *o, const char *key, const char *value, gssize len)
{
    char *k = g_utf8_make_valid(key, -1);
    char *v = g_utf8_make_valid(value, len);

    json_object_set_string_member(o, k, v);
    g_free(k);
    g_free(v);
}

/* Adds value under key; a key seen before becomes an array of its values. */
static void add_repeated(JsonObject *o, const char *key, const char *value, gssize len)
{
    char *k = g_utf8_make_valid(key, -1);
    char *v = g_utf8_make_valid(value, len);
    JsonNode *old = json_object_get_member(o, k);

    if (old == NULL) {
        json_object_set_string_member(o, k, v);
    } else if (JSON_NODE_HOLDS_ARRAY(old)) {
        json_array_add_string_element(json_node_get_array(old), v);
    } else {
        JsonArray *a = json_array_new();

        json_array_add_string_element(a, json_node_get_string(old));
        json_array_add_string_element(a, v);
        json_object_set_array_member(o, k, a);
    }
    g_free(k);
    g_free(v);
}

/* The "exif" object from libvips' exif-data blob, through libexif. */
static JsonObject *exif_object(VipsImage *img, bool canonical)
{
    JsonObject *o = json_object_new();
    const void *blob;
    size_t len;
    ExifData *ed;

    if (!vips_image_get_typeof(img, VIPS_META_EXIF_NAME) ||
        vips_image_get_blob(img, VIPS_META_EXIF_NAME, &blob, &len) != 0 || len > UINT_MAX)
        return o;
    /* PNG and WebP keep the bare TIFF structure: libexif wants the APP1 "Exif" name first. */
    if (len < 6 || memcmp(blob, "Exif\0\0", 6) != 0) {
        unsigned char *named = g_try_malloc(len + 6);

        if (named == NULL || len > UINT_MAX - 6) {
            g_free(named);
            return o;
        }
        memcpy(named, "Exif\0\0", 6);
        memcpy(named + 6, blob, len);
        ed = exif_data_new_from_data(named, (unsigned int)(len + 6));
        g_free(named);
    } else {
        ed = exif_data_new_from_data(blob, (unsigned int)len);
    }
    if (ed == NULL)
        return o;
    for (int ifd = 0; ifd < EXIF_IFD_COUNT; ifd++) {
        ExifContent *c = ed->ifd[ifd];

        for (unsigned i = 0; c != NULL && i < c->count; i++) {
            ExifEntry *en = c->entries[i];
            const char *name = canonical ? exif_tag_get_name_in_ifd(en->tag, (ExifIfd)ifd)
                                         : exif_tag_get_title_in_ifd(en->tag, (ExifIfd)ifd);
            char value[1024];

            /* The maker note is a vendor's binary block, not a value. */
            if (name == NULL || en->tag == EXIF_TAG_MAKER_NOTE || json_object_has_member(o, name))
                continue;
            value[0] = '\0';
            exif_entry_get_value(en, value, sizeof(value));
            set_text(o, name, value, -1);
        }
    }
    exif_data_unref(ed);
    return o;
}

/* The "iptc" object from libvips' iptc-data blob (a Photoshop resource block), through libiptcdata.
 */
static JsonObject *iptc_object(VipsImage *img)
{
    static const unsigned char ps3_id[14] = "Photoshop 3.0";
    JsonObject *o = json_object_new();
    const unsigned char *blob;
    unsigned char *ps3 = NULL;
    size_t len;
    unsigned int ilen = 0;
    IptcData *d = NULL;
    int off;

    if (!vips_image_get_typeof(img, VIPS_META_IPTC_NAME) ||
        vips_image_get_blob(img, VIPS_META_IPTC_NAME, (const void **)&blob, &len) != 0 ||
        len > UINT_MAX - 16)
        return o;
    /* libiptcdata wants the resources after the APP13 "Photoshop 3.0\0" name. */
    if (len < 14 || memcmp(blob, ps3_id, 14) != 0) {
        ps3 = g_try_malloc(len + 14);
        if (ps3 == NULL)
            return o;
        memcpy(ps3, ps3_id, 14);
        memcpy(ps3 + 14, blob, len);
        blob = ps3;
        len += 14;
    }
    off = iptc_jpeg_ps3_find_iptc(blob, (unsigned int)len, &ilen);
    if (off > 0 && ilen > 0)
        d = iptc_data_new_from_data(blob + off, ilen);
    for (unsigned i = 0; d != NULL && i < d->count; i++) {
        IptcDataSet *ds = d->datasets[i];
        const char *name = iptc_tag_get_name(ds->record, ds->tag);
        char value[2048];
        char num[32];

        if (name == NULL)
            continue;
        switch (iptc_dataset_get_format(ds)) {
        case IPTC_FORMAT_BYTE:
        case IPTC_FORMAT_SHORT:
        case IPTC_FORMAT_LONG:
            snprintf(num, sizeof(num), "%u", iptc_dataset_get_value(ds));
            add_repeated(o, name, num, -1);
            break;
        case IPTC_FORMAT_BINARY:
            break; /* not text: left out */
        default:
            if (iptc_dataset_get_data(ds, (unsigned char *)value, sizeof(value)) >= 0) {
                value[sizeof(value) - 1] = '\0';
                add_repeated(o, name, value, -1);
            }
            break;
        }
    }
    if (d != NULL)
        iptc_data_unref(d);
    g_free(ps3);
    return o;
}

/* Big-endian integers at p (the caller has checked the bytes are there). */
static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static unsigned be16(const unsigned char *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

/* A resolution unit code of ResolutionInfo (1 inches, 2 cm), NULL when unknown. */
static const char *ps_res_unit(unsigned code)
{
    return code == 1 ? "inches" : code == 2 ? "cm" : NULL;
}

/* A width/height unit code of ResolutionInfo (1..5), NULL when unknown. */
static const char *ps_size_unit(unsigned code)
{
    static const char *const names[] = {"inches", "cm", "points", "picas", "columns"};

    return code >= 1 && code <= 5 ? names[code - 1] : NULL;
}

/* A 16.16 fixed-point value as a JSON number: an integer when whole. */
static void set_fixed(JsonObject *o, const char *key, uint32_t v)
{
    if ((v & 0xffff) == 0)
        json_object_set_int_member(o, key, (gint64)(v >> 16));
    else
        json_object_set_double_member(o, key, (double)v / 65536.0);
}

/*
 * Walks the image resources ("8BIM", 2-byte id, Pascal name padded to an even
 * length, 4-byte big-endian size, data padded to an even length) for the
 * first ResolutionInfo (0x03ED). The walk stops at the first resource that
 * does not fit in the block or does not start with "8BIM". The padding byte
 * after the last resource's data may be missing.
 */
JsonObject *inforeport_photoshop(const unsigned char *blob, size_t len)
{
    static const char ps3_id[14] = "Photoshop 3.0";
    size_t off = 0;

    if (blob == NULL)
        return NULL;
    if (len >= sizeof(ps3_id) && memcmp(blob, ps3_id, sizeof(ps3_id)) == 0)
        off = sizeof(ps3_id);
    /* Signature, id and the name's length byte. */
    while (len - off >= 7 && memcmp(blob + off, "8BIM", 4) == 0) {
        unsigned id = be16(blob + off + 4);
        size_t name = 1 + (size_t)blob[off + 6];
        size_t size;
        const unsigned char *d;
        JsonObject *res, *o;
        const char *hu, *wu, *vu, *htu;

        off += 6;
        name += name & 1;
        if (len - off < name || len - off - name < 4)
            return NULL;
        off += name;
        size = be32(blob + off);
        off += 4;
        if (len - off < size)
            return NULL;
        d = blob + off;
        if (id == 0x03ED) {
            /* hRes 16.16, hResUnit, widthUnit, vRes 16.16, vResUnit, heightUnit. */
            if (size < 16)
                return NULL;
            hu = ps_res_unit(be16(d + 4));
            wu = ps_size_unit(be16(d + 6));
            vu = ps_res_unit(be16(d + 12));
            htu = ps_size_unit(be16(d + 14));
            if (hu == NULL || wu == NULL || vu == NULL || htu == NULL)
                return NULL;
            res = json_object_new();
            set_fixed(res, "XResolution", be32(d));
            json_object_set_string_member(res, "XResolutionUnit", hu);
            json_object_set_string_member(res, "WidthUnit", wu);
            set_fixed(res, "YResolution", be32(d + 8));
            json_object_set_string_member(res, "YResolutionUnit", vu);
            json_object_set_string_member(res, "HeightUnit", htu);
            o = json_object_new();
            json_object_set_object_member(o, "resolution", res);
            return o;
        }
        off += size;
        if ((size & 1) != 0 && off < len)
            off++;
    }
    return NULL;
}

/* The "photoshop" member from the blob libvips keeps a JPEG's APP13 block in (iptc-data). */
static void add_photoshop(JsonObject *root, VipsImage *img)
{
    const unsigned char *blob;
    size_t len;
    JsonObject *o;

    if (!vips_image_get_typeof(img, VIPS_META_IPTC_NAME) ||
        vips_image_get_blob(img, VIPS_META_IPTC_NAME, (const void **)&blob, &len) != 0)
        return;
    o = inforeport_photoshop(blob, len);
    if (o != NULL)
        json_object_set_object_member(root, "photoshop", o);
}

/*
 * "ns:Name[2]/ns:Field" -> the prefix "ns" and the key "Name/Field" (prefixes
 * of inner steps and array indexes dropped); *indexed says the top property
 * is an array item. Writes into prefix/key (their sizes); false when the
 * path has no prefix.
 */
static bool xmp_split(const char *path, char *prefix, size_t plen, char *key, size_t klen,
                      bool *indexed)
{
    const char *colon = strchr(path, ':');
    size_t k = 0;
    bool in_step = true;

    *indexed = false;
    if (colon == NULL || (size_t)(colon - path) >= plen)
        return false;
    memcpy(prefix, path, (size_t)(colon - path));
    prefix[colon - path] = '\0';
    for (const char *s = colon + 1; *s != '\0' && k + 1 < klen; s++) {
        if (*s == '[') {
            const char *close = strchr(s, ']');

            if (in_step && strchr(colon + 1, '/') == NULL)
                *indexed = true;
            if (close == NULL)
                break;
            s = close;
            continue;
        }
        if (*s == '/') {
            const char *c2 = strchr(s, ':');
            const char *next = strchr(s + 1, '/');

            key[k++] = '/';
            /* drop the step's own prefix */
            if (c2 != NULL && (next == NULL || c2 < next))
                s = c2;
            in_step = false;
            continue;
        }
        key[k++] = *s;
    }
    key[k] = '\0';
    return k > 0;
}

static gpointer xmp_start(gpointer unused)
{
    (void)unused;
    return GINT_TO_POINTER(xmp_init() ? 1 : 0);
}

/* exempi started once for the process (thread-safe); false when it cannot start. */
static bool xmp_ready(void)
{
    static GOnce once = G_ONCE_INIT;

    return g_once(&once, xmp_start, NULL) != NULL;
}

/* The "xmp" object: properties grouped by namespace prefix, through exempi. */
static JsonObject *xmp_object(VipsImage *img)
{
    JsonObject *o = json_object_new();
    const void *blob;
    size_t len;
    XmpPtr x;
    XmpIteratorPtr it;
    XmpStringPtr schema, path, value;
    uint32_t opts;

    if (!vips_image_get_typeof(img, VIPS_META_XMP_NAME) ||
        vips_image_get_blob(img, VIPS_META_XMP_NAME, &blob, &len) != 0 || len == 0)
        return o;
    /* libvips' blob may end in NULs and padding, which the XML parser refuses. */
    while (len > 0 && (((const char *)blob)[len - 1] == '\0' ||
                       g_ascii_isspace(((const char *)blob)[len - 1])))
        len--;
    if (len == 0 || memchr(blob, '\0', len) != NULL || !xmp_ready())
        return o;
    x = xmp_new(blob, len);
    if (x == NULL)
        return o;
    it = xmp_iterator_new(x, NULL, NULL, XMP_ITER_JUSTLEAFNODES | XMP_ITER_OMITQUALIFIERS);
    schema = xmp_string_new();
    path = xmp_string_new();
    value = xmp_string_new();
    while (it != NULL && xmp_iterator_next(it, schema, path, value, &opts)) {
        char prefix[64], key[256];
        bool indexed;
        JsonObject *ns;

        if (XMP_IS_PROP_QUALIFIER(opts) ||
            !xmp_split(xmp_string_cstr(path), prefix, sizeof(prefix), key, sizeof(key), &indexed))
            continue;
        if (!json_object_has_member(o, prefix))
            json_object_set_object_member(o, prefix, json_object_new());
        ns = json_object_get_object_member(o, prefix);
        if (indexed) {
            JsonNode *old = json_object_get_member(ns, key);
            char *v = g_utf8_make_valid(xmp_string_cstr(value), -1);

            if (old == NULL || !JSON_NODE_HOLDS_ARRAY(old))
                json_object_set_array_member(ns, key, json_array_new());
            json_array_add_string_element(json_object_get_array_member(ns, key), v);
            g_free(v);
        } else {
            set_text(ns, key, xmp_string_cstr(value), -1);
        }
    }
    xmp_string_free(schema);
    xmp_string_free(path);
    xmp_string_free(value);
    if (it != NULL)
        xmp_iterator_free(it);
    xmp_free(x);
    return o;
}

/* Whether a loader of type t takes a `page` argument. */
static bool has_pages(enum imgtype t)
{
    return t == IMGTYPE_GIF || t == IMGTYPE_WEBP || t == IMGTYPE_TIFF || t == IMGTYPE_HEIC ||
           t == IMGTYPE_AVIF || t == IMGTYPE_JXL;
}

/* The sRGB 8-bit pixels of the shrink-on-load copy, for the pixel statistics. */
struct stats_image {
    VipsPel *px; /* g_free */
    size_t len;
    int w, h, bands; /* bands 3 or 4 */
};

static const char blurhash_digits[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~";

/* Appends value as `digits` base-83 characters. */
static void base83(char *out, size_t *pos, int value, int digits)
{
    for (int i = 1; i <= digits; i++) {
        int div = 1;

        for (int k = 0; k < digits - i; k++)
            div *= 83;
        out[(*pos)++] = blurhash_digits[(value / div) % 83];
    }
}

static double srgb_to_linear(int v)
{
    double c = v / 255.0;

    return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4);
}

static int linear_to_srgb(double v)
{
    double c = v < 0 ? 0 : v > 1 ? 1 : v;

    if (c <= 0.0031308)
        return (int)(c * 12.92 * 255 + 0.5);
    return (int)((1.055 * pow(c, 1 / 2.4) - 0.055) * 255 + 0.5);
}

static double sign_pow(double v, double e)
{
    return copysign(pow(fabs(v), e), v);
}

int inforeport_blurhash(const unsigned char *pixels, int w, int h, int bands, int cx, int cy,
                        char *out, size_t outlen)
{
    double f[81][3];
    double lin[256];
    double max_ac = 0, scale_max = 1;
    size_t pos = 0;

    if (pixels == NULL || w < 1 || h < 1 || (bands != 3 && bands != 4) || cx < 1 || cx > 9 ||
        cy < 1 || cy > 9 || outlen < INFOREPORT_BLURHASH_MAX)
        return -1;
    for (int i = 0; i < 256; i++)
        lin[i] = srgb_to_linear(i);
    for (int j = 0; j < cy; j++) {
        for (int i = 0; i < cx; i++) {
            double norm = (i == 0 && j == 0) ? 1 : 2;
            double r = 0, g = 0, b = 0;

            for (int y = 0; y < h; y++) {
                double by = cos(M_PI * j * y / h);
                const unsigned char *row = pixels + (size_t)y * (size_t)w * (size_t)bands;

                for (int x = 0; x < w; x++) {
                    double basis = by * cos(M_PI * i * x / w);
                    const unsigned char *p = row + (size_t)x * (size_t)bands;

                    r += basis * lin[p[0]];
                    g += basis * lin[p[1]];
                    b += basis * lin[p[2]];
                }
            }
            f[j * cx + i][0] = r * norm / ((double)w * h);
            f[j * cx + i][1] = g * norm / ((double)w * h);
            f[j * cx + i][2] = b * norm / ((double)w * h);
        }
    }
    base83(out, &pos, (cx - 1) + (cy - 1) * 9, 1);
    for (int k = 1; k < cx * cy; k++)
        for (int c = 0; c < 3; c++)
            if (fabs(f[k][c]) > max_ac)
                max_ac = fabs(f[k][c]);
    if (cx * cy > 1) {
        int q = (int)floor(max_ac * 166 - 0.5);

        q = q < 0 ? 0 : q > 82 ? 82 : q;
        scale_max = (q + 1) / 166.0;
        base83(out, &pos, q, 1);
    } else {
        base83(out, &pos, 0, 1);
    }
    base83(out, &pos,
           (linear_to_srgb(f[0][0]) << 16) + (linear_to_srgb(f[0][1]) << 8) +
               linear_to_srgb(f[0][2]),
           4);
    for (int k = 1; k < cx * cy; k++) {
        int q[3];

        for (int c = 0; c < 3; c++) {
            int v = (int)floor(sign_pow(f[k][c] / scale_max, 0.5) * 9 + 9.5);

            q[c] = v < 0 ? 0 : v > 18 ? 18 : v;
        }
        base83(out, &pos, q[0] * 19 * 19 + q[1] * 19 + q[2], 2);
    }
    out[pos] = '\0';
    return 0;
}

static void add_rgba(JsonObject *o, const char *key, const int rgb[3], int alpha)
{
    JsonObject *c = json_object_new();

    json_object_set_int_member(c, "R", rgb[0]);
    json_object_set_int_member(c, "G", rgb[1]);
    json_object_set_int_member(c, "B", rgb[2]);
    if (alpha >= 0)
        json_object_set_int_member(c, "A", alpha);
    json_object_set_object_member(o, key, c);
}

/* "average": the mean of the copy's pixels, fully transparent ones skipped when asked. */
static void add_average(JsonObject *root, const struct stats_image *s, bool ignore_transparent)
{
    double sum[4] = {0, 0, 0, 0};
    size_t n = 0, count = (size_t)s->w * (size_t)s->h;
    int rgb[3] = {0, 0, 0};
    int a = 255;

    for (size_t i = 0; i < count; i++) {
        const VipsPel *p = s->px + i * (size_t)s->bands;

        if (s->bands == 4 && ignore_transparent && p[3] == 0)
            continue;
        for (int c = 0; c < 3; c++)
            sum[c] += p[c];
        sum[3] += s->bands == 4 ? p[3] : 255;
        n++;
    }
    if (n > 0) {
        for (int c = 0; c < 3; c++)
            rgb[c] = (int)lround(sum[c] / (double)n);
        a = (int)lround(sum[3] / (double)n);
    } else {
        a = 0;
    }
    add_rgba(root, "average", rgb, a);
}

/* One colour of a median-cut quantisation and how many pixels it stands for. */
struct swatch {
    int rgba[4];
    size_t population;
};

struct qpix {
    unsigned char c[4];
};

static int sort_channel; /* qsort has no context argument; set under qsort_lock */
static GMutex qsort_lock;

static int cmp_channel(const void *a, const void *b)
{
    return (int)((const struct qpix *)a)->c[sort_channel] -
           (int)((const struct qpix *)b)->c[sort_channel];
}

static int cmp_population(const void *a, const void *b)
{
    size_t pa = ((const struct swatch *)a)->population, pb = ((const struct swatch *)b)->population;

    return pa < pb ? 1 : pa > pb ? -1 : 0;
}

/*
 * Median cut: the box with the widest channel range is split at its median
 * until there are k boxes or none can be split; each box's mean is a swatch,
 * the most populous first. Returns the number of swatches (0 when no pixel
 * counts or out of memory). Fully transparent pixels are left out.
 */
static int median_cut(const struct stats_image *s, int k, struct swatch *out)
{
    size_t count = (size_t)s->w * (size_t)s->h, n = 0;
    struct qpix *p = g_try_new(struct qpix, count > 0 ? count : 1);
    size_t *from = g_try_new(size_t, (size_t)k), *len = g_try_new(size_t, (size_t)k);
    int nbox = 0;

    if (p == NULL || from == NULL || len == NULL)
        goto out;
    for (size_t i = 0; i < count; i++) {
        const VipsPel *q = s->px + i * (size_t)s->bands;

        if (s->bands == 4 && q[3] == 0)
            continue;
        p[n].c[0] = q[0];
        p[n].c[1] = q[1];
        p[n].c[2] = q[2];
        p[n].c[3] = s->bands == 4 ? q[3] : 255;
        n++;
    }
    if (n == 0)
        goto out;
    from[0] = 0;
    len[0] = n;
    nbox = 1;
    while (nbox < k) {
        int best = -1, best_ch = 0, best_range = 0;

        for (int b = 0; b < nbox; b++) {
            unsigned char lo[3] = {255, 255, 255}, hi[3] = {0, 0, 0};

            if (len[b] < 2)
                continue;
            for (size_t i = from[b]; i < from[b] + len[b]; i++)
                for (int c = 0; c < 3; c++) {
                    lo[c] = p[i].c[c] < lo[c] ? p[i].c[c] : lo[c];
                    hi[c] = p[i].c[c] > hi[c] ? p[i].c[c] : hi[c];
                }
            for (int c = 0; c < 3; c++)
                if (hi[c] - lo[c] > best_range) {
                    best_range = hi[c] - lo[c];
                    best = b;
                    best_ch = c;
                }
        }
        if (best < 0)
            break;
        g_mutex_lock(&qsort_lock);
        sort_channel = best_ch;
        qsort(p + from[best], len[best], sizeof(*p), cmp_channel);
        g_mutex_unlock(&qsort_lock);
        from[nbox] = from[best] + len[best] / 2;
        len[nbox] = len[best] - len[best] / 2;
        len[best] /= 2;
        nbox++;
    }
    for (int b = 0; b < nbox; b++) {
        double sum[4] = {0, 0, 0, 0};

        for (size_t i = from[b]; i < from[b] + len[b]; i++)
            for (int c = 0; c < 4; c++)
                sum[c] += p[i].c[c];
        for (int c = 0; c < 4; c++)
            out[b].rgba[c] = (int)lround(sum[c] / (double)len[b]);
        out[b].population = len[b];
    }
    qsort(out, (size_t)nbox, sizeof(*out), cmp_population);
out:
    g_free(p);
    g_free(from);
    g_free(len);
    return nbox;
}

static void add_palette(JsonObject *root, const struct stats_image *s, int k)
{
    struct swatch sw[256];
    int n = median_cut(s, k, sw);
    JsonArray *a = json_array_new();

    for (int i = 0; i < n; i++) {
        JsonObject *c = json_object_new();

        json_object_set_int_member(c, "R", sw[i].rgba[0]);
        json_object_set_int_member(c, "G", sw[i].rgba[1]);
        json_object_set_int_member(c, "B", sw[i].rgba[2]);
        json_object_set_int_member(c, "A", sw[i].rgba[3]);
        json_array_add_object_element(a, c);
    }
    json_object_set_array_member(root, "palette", a);
}

static void rgb_to_hsl(const int rgb[3], double hsl[3])
{
    double r = rgb[0] / 255.0, g = rgb[1] / 255.0, b = rgb[2] / 255.0;
    double mx = fmax(r, fmax(g, b)), mn = fmin(r, fmin(g, b)), d = mx - mn;

    hsl[2] = (mx + mn) / 2;
    if (d == 0) {
        hsl[0] = hsl[1] = 0;
        return;
    }
    hsl[1] = d / (1 - fabs(2 * hsl[2] - 1));
    if (mx == r)
        hsl[0] = fmod((g - b) / d + 6, 6);
    else if (mx == g)
        hsl[0] = (b - r) / d + 2;
    else
        hsl[0] = (r - g) / d + 4;
    hsl[0] *= 60;
}

static void hsl_to_rgb(const double hsl[3], int rgb[3])
{
    double c = (1 - fabs(2 * hsl[2] - 1)) * hsl[1];
    double hp = hsl[0] / 60, x = c * (1 - fabs(fmod(hp, 2) - 1)), m = hsl[2] - c / 2;
    double r = 0, g = 0, b = 0;

    if (hp < 1) {
        r = c;
        g = x;
    } else if (hp < 2) {
        r = x;
        g = c;
    } else if (hp < 3) {
        g = c;
        b = x;
    } else if (hp < 4) {
        g = x;
        b = c;
    } else if (hp < 5) {
        r = x;
        b = c;
    } else {
        r = c;
        b = x;
    }
    rgb[0] = (int)lround((r + m) * 255);
    rgb[1] = (int)lround((g + m) * 255);
    rgb[2] = (int)lround((b + m) * 255);
}

/*
 * The six "Vibrant" swatches: targets of lightness and saturation with their
 * bounds, as the Android Palette library defines them.
 */
static const struct {
    const char *name;
    double l_min, l_target, l_max, s_min, s_target, s_max;
} targets[6] = {
    {"vibrant", 0.3, 0.5, 0.7, 0.35, 1.0, 1.0},
    {"light_vibrant", 0.55, 0.74, 1.0, 0.35, 1.0, 1.0},
    {"dark_vibrant", 0.0, 0.26, 0.45, 0.35, 1.0, 1.0},
    {"muted", 0.3, 0.5, 0.7, 0.0, 0.3, 0.4},
    {"light_muted", 0.55, 0.74, 1.0, 0.0, 0.3, 0.4},
    {"dark_muted", 0.0, 0.26, 0.45, 0.0, 0.3, 0.4},
};

/*
 * "dominant_colors": 16 median-cut swatches scored against each target
 * (closeness of saturation 0.24, of lightness 0.52, population 0.24, as
 * Android's Palette weighs them); a swatch serves one target at most. A
 * target nothing fits is left out, or with build_missed made from the
 * found swatch of the same saturation class (else any) moved to the
 * target's lightness and saturation.
 */
static void add_dominant(JsonObject *root, const struct stats_image *s, bool build_missed)
{
    struct swatch sw[16];
    int n = median_cut(s, 16, sw);
    bool used[16] = {false};
    int pick[6];
    size_t max_pop = 1;
    JsonObject *o = json_object_new();

    for (int i = 0; i < n; i++)
        max_pop = sw[i].population > max_pop ? sw[i].population : max_pop;
    for (int t = 0; t < 6; t++) {
        double best = -1;

        pick[t] = -1;
        for (int i = 0; i < n; i++) {
            double hsl[3], score;

            rgb_to_hsl(sw[i].rgba, hsl);
            if (used[i] || hsl[1] < targets[t].s_min || hsl[1] > targets[t].s_max ||
                hsl[2] < targets[t].l_min || hsl[2] > targets[t].l_max)
                continue;
            score = (1 - fabs(hsl[1] - targets[t].s_target)) * 0.24 +
                    (1 - fabs(hsl[2] - targets[t].l_target)) * 0.52 +
                    (double)sw[i].population / (double)max_pop * 0.24;
            if (score > best) {
                best = score;
                pick[t] = i;
            }
        }
        if (pick[t] >= 0)
            used[pick[t]] = true;
    }
    for (int t = 0; t < 6; t++) {
        int rgb[3];

        if (pick[t] >= 0) {
            memcpy(rgb, sw[pick[t]].rgba, sizeof(rgb));
        } else if (build_missed) {
            int from = -1;
            double hsl[3];

            /* Same class first: vibrant targets are 0..2, muted ones 3..5. */
            for (int k = 0; k < 6 && from < 0; k++)
                if (pick[k] >= 0 && (k < 3) == (t < 3))
                    from = pick[k];
            for (int k = 0; k < 6 && from < 0; k++)
                if (pick[k] >= 0)
                    from = pick[k];
            if (from < 0)
                continue;
            rgb_to_hsl(sw[from].rgba, hsl);
            hsl[1] = targets[t].s_target;
            hsl[2] = targets[t].l_target;
            hsl_to_rgb(hsl, rgb);
        } else {
            continue;
        }
        add_rgba(o, targets[t].name, rgb, -1);
    }
    json_object_set_object_member(root, "dominant_colors", o);
}

/* Whether any pixel of the copy is not fully opaque. */
static bool any_transparent(const struct stats_image *s)
{
    size_t count = (size_t)s->w * (size_t)s->h;

    for (size_t i = 0; s->bands == 4 && i < count; i++)
        if (s->px[i * 4 + 3] < 255)
            return true;
    return false;
}

/* The shrink-on-load copy as sRGB 8-bit pixels in s. */
static int load_stats(const struct infoopts *io, const struct info_source *src, int page,
                      struct watch *w, struct stats_image *s, struct errinfo *e)
{
    VipsImage *t[4] = {NULL, NULL, NULL, NULL};
    VipsImage *cur;
    char opt[32];
    int ret = 0;

    (void)io;
    opt[0] = '\0';
    if (has_pages(src->type))
        snprintf(opt, sizeof(opt), "page=%d", page);
    if (vips_thumbnail_buffer((void *)src->data, src->len, &t[0], INFOREPORT_STATS_SIZE, "height",
                              INFOREPORT_STATS_SIZE, "size", VIPS_SIZE_DOWN, "option_string", opt,
                              NULL) != 0) {
        ret = vipsop_fail(e, VIPSOP_LOAD, "Can't load the image for its statistics");
        goto out;
    }
    cur = watch_attach(w, t[0]);
    if (vips_image_get_interpretation(cur) != VIPS_INTERPRETATION_sRGB || cur->Bands < 3) {
        VipsInterpretation from =
            cur->Bands < 3 ? VIPS_INTERPRETATION_B_W : vips_image_get_interpretation(cur);

        if (vips_colourspace(cur, &t[1], VIPS_INTERPRETATION_sRGB, "source_space", from, NULL) !=
            0) {
            ret = vipsop_fail(e, VIPSOP_DECODE, "Can't convert the image to sRGB");
            goto out;
        }
        cur = t[1];
    }
    if (vips_image_get_format(cur) != VIPS_FORMAT_UCHAR) {
        if (vips_cast_uchar(cur, &t[2], NULL) != 0) {
            ret = vipsop_fail(e, VIPSOP_DECODE, "Can't convert the image to 8 bits");
            goto out;
        }
        cur = t[2];
    }
    if (cur->Bands > 4) {
        /* sRGB from libvips has 3 or 4 bands; extra ones are cut off. */
        if (vips_extract_band(cur, &t[3], 0, "n", 4, NULL) != 0) {
            ret = vipsop_fail(e, VIPSOP_DECODE, "Can't arrange the image's bands");
            goto out;
        }
        cur = t[3];
    }
    s->px = vips_image_write_to_memory(cur, &s->len);
    if (s->px == NULL) {
        ret = w->reason != WATCH_RUNNING
                  ? err_set(e, ERR_TIMEOUT, "Timeout: the deadline passed during /info statistics")
                  : vipsop_fail(e, VIPSOP_DECODE, "Can't decode the image for its statistics");
        if (w->reason != WATCH_RUNNING)
            vipsop_discard();
        goto out;
    }
    s->w = cur->Xsize;
    s->h = cur->Ysize;
    s->bands = cur->Bands;
    if (s->bands < 3 || s->len < (size_t)s->w * (size_t)s->h * (size_t)s->bands) {
        ret = err_set(e, ERR_INTERNAL, "Unexpected statistics image layout");
        goto out;
    }
out:
    for (int i = 3; i >= 0; i--)
        if (t[i] != NULL)
            g_object_unref(t[i]);
    return ret;
}

static void add_hashsums(JsonObject *root, const struct info_source *src, unsigned bits)
{
    static const struct {
        unsigned bit;
        GChecksumType type;
        const char *name;
    } kinds[] = {
        {INFO_HASH_MD5, G_CHECKSUM_MD5, "md5"},
        {INFO_HASH_SHA1, G_CHECKSUM_SHA1, "sha1"},
        {INFO_HASH_SHA256, G_CHECKSUM_SHA256, "sha256"},
        {INFO_HASH_SHA512, G_CHECKSUM_SHA512, "sha512"},
    };
    JsonObject *o = json_object_new();

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (bits & kinds[i].bit) {
            char *hex = g_compute_checksum_for_data(kinds[i].type, src->data, src->len);

            json_object_set_string_member(o, kinds[i].name, hex);
            g_free(hex);
        }
    }
    json_object_set_object_member(root, "hashsums", o);
}

/* The hashsum option: 0, or ERR_SOURCE_TYPE (422) when the source's hash differs. */
static int check_hashsum(const struct infoopts *io, const struct info_source *src,
                         struct errinfo *e)
{
    GChecksumType type = io->hashsum_type == INFO_HASH_MD5      ? G_CHECKSUM_MD5
                         : io->hashsum_type == INFO_HASH_SHA1   ? G_CHECKSUM_SHA1
                         : io->hashsum_type == INFO_HASH_SHA256 ? G_CHECKSUM_SHA256
                                                                : G_CHECKSUM_SHA512;
    char *hex;
    bool ok;

    if (io->hashsum_type == 0)
        return 0;
    hex = g_compute_checksum_for_data(type, src->data, src->len);
    ok = hex != NULL && g_ascii_strcasecmp(hex, io->hashsum_hex) == 0;
    g_free(hex);
    return ok ? 0 : err_set(e, ERR_SOURCE_TYPE, "Source image hashsum mismatch");
}

/* "crop": the crop option's rectangle in the oriented image, as fractions of its sides. */
static void add_crop(JsonObject *root, const struct infoopts *io, int w, int h)
{
    struct gravity g = io->crop_gravity;
    int cw = geom_crop_size(w, io->crop_w), ch = geom_crop_size(h, io->crop_h);
    int left = 0, top = 0;
    JsonObject *o;

    if (cw <= 0 || ch <= 0 || w <= 0 || h <= 0)
        return;
    cw = cw > w ? w : cw;
    ch = ch > h ? h : ch;
    /* Smart gravity needs the attention pass: answered as the centre (docs/info.md). */
    if (g.type == GRAV_UNKNOWN || g.type == GRAV_SMART)
        g.type = GRAV_CENTER;
    geom_position(w, h, cw, ch, &g, 1.0, false, &left, &top);
    o = json_object_new();
    json_object_set_double_member(o, "left", (double)left / w);
    json_object_set_double_member(o, "top", (double)top / h);
    json_object_set_double_member(o, "width", (double)cw / w);
    json_object_set_double_member(o, "height", (double)ch / h);
    json_object_set_object_member(root, "crop", o);
}

/* The fields a header-only open answers. */
static void add_header_fields(JsonObject *root, const struct infoopts *io, VipsImage *img, int *ow,
                              int *oh)
{
    int orientation = vips_image_get_orientation(img);
    int w = vips_image_get_width(img), h = vips_image_get_page_height(img);

    if (orientation < 1 || orientation > 8)
        orientation = 1;
    if (orientation >= 5) {
        int t = w;

        w = h;
        h = t;
    }
    *ow = w;
    *oh = h;
    if (io->dimensions) {
        json_object_set_int_member(root, "width", w);
        json_object_set_int_member(root, "height", h);
        json_object_set_int_member(root, "orientation", orientation);
    }
    if (io->exif)
        json_object_set_object_member(root, "exif", exif_object(img, io->exif_canonical));
    if (io->iptc) {
        json_object_set_object_member(root, "iptc", iptc_object(img));
        add_photoshop(root, img);
    }
    if (io->xmp)
        json_object_set_object_member(root, "xmp", xmp_object(img));
    if (io->colorspace)
        json_object_set_string_member(
            root, "colorspace",
            vips_enum_nick(VIPS_TYPE_INTERPRETATION, vips_image_get_interpretation(img)));
    if (io->bands)
        json_object_set_int_member(root, "bands", vips_image_get_bands(img));
    if (io->sample_format)
        json_object_set_string_member(
            root, "sample_format",
            vips_enum_nick(VIPS_TYPE_BAND_FORMAT, vips_image_get_format(img)));
    if (io->pages_number)
        json_object_set_int_member(root, "pages_number", vips_image_get_n_pages(img));
}

int inforeport_build(const struct infoopts *io, const struct info_source *src,
                     const struct deadline *dl, char **json, struct errinfo *e)
{
    JsonObject *root = json_object_new();
    JsonNode *node = NULL;
    VipsImage *img = NULL;
    struct stats_image st = {NULL, 0, 0, 0, 0};
    struct watch w;
    int page = io->page;
    int ow = 0, oh = 0;
    bool has_alpha = false;
    int ret = 0;

    *json = NULL;
    watch_init(&w, dl);
    if (src->complete) {
        ret = check_hashsum(io, src, e);
        if (ret < 0)
            goto out;
    }
    if (io->size)
        json_object_set_int_member(root, "size", src->size);
    if (io->format) {
        json_object_set_string_member(root, "format", imagetype_name(src->type));
        json_object_set_string_member(root, "mime_type", imagetype_mime(src->type));
    }
    if (info_needs_header(io)) {
        char opt[32];

        if (has_pages(src->type) && page > 0) {
            /* A page past the last one means the last one, as for processing. */
            img = vips_image_new_from_buffer(src->data, src->len, "", NULL);
            if (img != NULL && page >= vips_image_get_n_pages(img))
                page = vips_image_get_n_pages(img) - 1;
            if (img != NULL)
                g_object_unref(img);
            img = NULL;
        }
        opt[0] = '\0';
        if (has_pages(src->type) && page > 0)
            snprintf(opt, sizeof(opt), "page=%d", page);
        img = vips_image_new_from_buffer(src->data, src->len, opt, "access", VIPS_ACCESS_SEQUENTIAL,
                                         NULL);
        if (img == NULL) {
            ret = vipsop_fail(e, VIPSOP_LOAD, "Can't read the image header");
            goto out;
        }
        add_header_fields(root, io, img, &ow, &oh);
        has_alpha = vips_image_hasalpha(img);
        if (io->crop_w > 0 && io->crop_h > 0)
            add_crop(root, io, ow, oh);
    }
    if (info_needs_pixels(io)) {
        if (deadline_passed(dl)) {
            ret = err_set(e, ERR_TIMEOUT, "Timeout: the deadline passed before /info statistics");
            goto out;
        }
        ret = load_stats(io, src, page, &w, &st, e);
        if (ret < 0)
            goto out;
        if (io->average)
            add_average(root, &st, io->average_ignore_transparent);
        if (io->palette > 0)
            add_palette(root, &st, io->palette);
        if (io->dominant_colors)
            add_dominant(root, &st, io->dominant_build_missed);
        if (io->blurhash_x > 0 && io->blurhash_y > 0) {
            char bh[INFOREPORT_BLURHASH_MAX];

            if (inforeport_blurhash(st.px, st.w, st.h, st.bands, io->blurhash_x, io->blurhash_y, bh,
                                    sizeof(bh)) == 0)
                json_object_set_string_member(root, "blurhash", bh);
        }
    }
    if (io->alpha)
        json_object_set_boolean_member(
            root, "alpha",
            io->alpha_check_transparency ? has_alpha && any_transparent(&st) : has_alpha);
    if (io->hashsums != 0 && src->complete)
        add_hashsums(root, src, io->hashsums);
    node = json_node_init_object(json_node_alloc(), root);
    *json = json_to_string(node, FALSE);
    if (*json == NULL)
        ret = err_set(e, ERR_INTERNAL, "out of memory");
out:
    if (node != NULL)
        json_node_unref(node);
    json_object_unref(root);
    if (img != NULL)
        g_object_unref(img);
    g_free(st.px);
    return ret;
}
