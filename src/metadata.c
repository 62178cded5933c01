/* metadata.c: strip_metadata with keep_copyright: which EXIF, IPTC and XMP survive. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <vips/vips.h>

#include "metadata.h"
#include "vipsop.h"
#include "banned.h"

/* Fields savers need to encode the pixels as they are: never metadata to strip. */
static const char *const keep_always[] = {VIPS_META_ICC_NAME,
                                          "bits-per-sample",
                                          "palette",
                                          "palette-bit-depth",
                                          "background",
                                          "vips-loader",
                                          "vips-sequential",
                                          VIPS_META_PAGE_HEIGHT,
                                          VIPS_META_N_PAGES,
                                          "delay",
                                          "loop",
                                          "gif-delay",
                                          "gif-loop",
                                          NULL};

static bool in_list(const char *name, const char *const *list)
{
    for (size_t i = 0; list[i] != NULL; i++)
        if (strcmp(name, list[i]) == 0)
            return true;
    return false;
}

/* ---------------------------------------------------------------- IPTC */

#define PS3_PREFIX "Photoshop 3.0"
#define IPTC_RESOURCE 0x0404

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * Finds the IPTC resource in a Photoshop image-resource block: "8BIM", id
 * (2 bytes), a Pascal name padded to even length, size (4 bytes), data
 * padded to even length. Returns 0 and the data, or -1.
 */
static int find_iptc_resource(const unsigned char *p, size_t len, const unsigned char **data,
                              size_t *dlen)
{
    size_t i = 0;

    while (len - i >= 4 + 2 + 2 + 4 && memcmp(p + i, "8BIM", 4) == 0) {
        unsigned id = (unsigned)p[i + 4] << 8 | p[i + 5];
        size_t namelen = p[i + 6];
        size_t off = i + 6 + ((1 + namelen + 1) & ~(size_t)1);
        uint32_t size;

        if (off > len || len - off < 4)
            return -1;
        size = be32(p + off);
        off += 4;
        if (size > len - off)
            return -1;
        if (id == IPTC_RESOURCE) {
            *data = p + off;
            *dlen = size;
            return 0;
        }
        i = off + size + (size & 1);
        if (i > len)
            return -1;
    }
    return -1;
}

/* Kept: records other than 2, and 2:80 By-line, 2:110 Credit, 2:116 Copyright Notice. */
static bool iptc_keep(unsigned record, unsigned dataset)
{
    return record != 2 || dataset == 80 || dataset == 110 || dataset == 116;
}

unsigned char *metadata_filter_iptc(const unsigned char *data, size_t len, size_t *outlen)
{
    const unsigned char *iim = NULL;
    size_t iimlen = 0, prefix = 0, i = 0;
    GByteArray *kept = NULL, *out;
    unsigned char hdr[12];

    *outlen = 0;
    if (len >= sizeof(PS3_PREFIX) && memcmp(data, PS3_PREFIX, sizeof(PS3_PREFIX)) == 0)
        prefix = sizeof(PS3_PREFIX); /* with its NUL */
    if (find_iptc_resource(data + prefix, len - prefix, &iim, &iimlen) != 0)
        return NULL;
    kept = g_byte_array_new();
    /* IIM datasets: 0x1C, record, dataset, 2-byte length (bit 15: extended length). */
    while (i < iimlen) {
        size_t dlen, head = 5;

        if (iim[i] != 0x1C || iimlen - i < 5)
            break;
        dlen = (size_t)iim[i + 3] << 8 | iim[i + 4];
        if (dlen & 0x8000) {
            size_t n = dlen & 0x7FFF;

            if (n == 0 || n > 4 || iimlen - i - 5 < n)
                break;
            dlen = 0;
            for (size_t k = 0; k < n; k++)
                dlen = dlen << 8 | iim[i + 5 + k];
            head += n;
        }
        if (dlen > iimlen - i - head)
            break;
        if (iptc_keep(iim[i + 1], iim[i + 2]))
            g_byte_array_append(kept, iim + i, (guint)(head + dlen));
        i += head + dlen;
    }
    if (kept->len == 0) {
        g_byte_array_free(kept, TRUE);
        return NULL;
    }
    out = g_byte_array_new();
    if (prefix > 0)
        g_byte_array_append(out, (const guint8 *)PS3_PREFIX, sizeof(PS3_PREFIX));
    memcpy(hdr, "8BIM", 4);
    hdr[4] = IPTC_RESOURCE >> 8;
    hdr[5] = IPTC_RESOURCE & 0xFF;
    hdr[6] = 0; /* empty Pascal name, padded to 2 bytes */
    hdr[7] = 0;
    hdr[8] = (unsigned char)(kept->len >> 24);
    hdr[9] = (unsigned char)(kept->len >> 16);
    hdr[10] = (unsigned char)(kept->len >> 8);
    hdr[11] = (unsigned char)kept->len;
    g_byte_array_append(out, hdr, sizeof(hdr));
    g_byte_array_append(out, kept->data, kept->len);
    if (kept->len & 1)
        g_byte_array_append(out, (const guint8 *)"", 1);
    g_byte_array_free(kept, TRUE);
    *outlen = out->len;
    return g_byte_array_free(out, FALSE);
}

/* ---------------------------------------------------------------- XMP */

#define NS_RDF "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
#define NS_DC "http://purl.org/dc/elements/1.1/"
#define NS_XMP_RIGHTS "http://ns.adobe.com/xap/1.0/rights/"
#define NS_CC "http://creativecommons.org/ns#"

struct nsdecl {
    char *prefix; /* "" for the default namespace */
    char *uri;
    int depth;
};

struct xmp_filter {
    GArray *ns; /* struct nsdecl, innermost last */
    int depth;
    int desc_depth; /* depth of the rdf:Description being read, 0 = none */
    int copy_depth; /* depth of the kept property being copied, 0 = none */
    int skip_depth; /* depth of the dropped property being skipped, 0 = none */
    GString *desc_attrs, *desc_body, *desc_ns;
    GString *out; /* kept rdf:Description elements */
};

static const char *ns_lookup(const struct xmp_filter *f, const char *prefix, size_t plen)
{
    for (guint i = f->ns->len; i-- > 0;) {
        const struct nsdecl *d = &g_array_index(f->ns, struct nsdecl, i);

        if (strlen(d->prefix) == plen && strncmp(d->prefix, prefix, plen) == 0)
            return d->uri;
    }
    return NULL;
}

/* Resolves "pfx:local" (or "local": default namespace) to its URI; *local points into name. */
static const char *resolve(const struct xmp_filter *f, const char *name, const char **local)
{
    const char *colon = strchr(name, ':');

    if (colon == NULL) {
        *local = name;
        return ns_lookup(f, "", 0);
    }
    *local = colon + 1;
    return ns_lookup(f, name, (size_t)(colon - name));
}

static bool xmp_keep(const char *uri, const char *local)
{
    if (uri == NULL)
        return false;
    if (strcmp(uri, NS_XMP_RIGHTS) == 0 || strcmp(uri, NS_CC) == 0)
        return true;
    return strcmp(uri, NS_DC) == 0 &&
           (strcmp(local, "rights") == 0 || strcmp(local, "creator") == 0 ||
            strcmp(local, "contributor") == 0 || strcmp(local, "publisher") == 0);
}

static void append_start(GString *s, const char *name, const char **an, const char **av)
{
    g_string_append_printf(s, "<%s", name);
    for (size_t i = 0; an[i] != NULL; i++) {
        char *v = g_markup_escape_text(av[i], -1);

        g_string_append_printf(s, " %s=\"%s\"", an[i], v);
        g_free(v);
    }
    g_string_append_c(s, '>');
}

static void on_start(GMarkupParseContext *ctx, const char *name, const char **an, const char **av,
                     gpointer user, GError **err)
{
    struct xmp_filter *f = user;
    const char *uri, *local;

    (void)ctx;
    (void)err;
    f->depth++;
    for (size_t i = 0; an[i] != NULL; i++) {
        struct nsdecl d;

        if (strcmp(an[i], "xmlns") == 0)
            d.prefix = g_strdup("");
        else if (strncmp(an[i], "xmlns:", 6) == 0)
            d.prefix = g_strdup(an[i] + 6);
        else
            continue;
        d.uri = g_strdup(av[i]);
        d.depth = f->depth;
        g_array_append_val(f->ns, d);
    }
    if (f->copy_depth > 0) {
        append_start(f->desc_body, name, an, av);
        return;
    }
    if (f->skip_depth > 0)
        return;
    if (f->desc_depth > 0 && f->depth == f->desc_depth + 1) {
        uri = resolve(f, name, &local);
        if (xmp_keep(uri, local)) {
            f->copy_depth = f->depth;
            append_start(f->desc_body, name, an, av);
        } else {
            f->skip_depth = f->depth;
        }
        return;
    }
    if (f->desc_depth > 0)
        return;
    uri = resolve(f, name, &local);
    if (uri == NULL || strcmp(uri, NS_RDF) != 0 || strcmp(local, "Description") != 0)
        return;
    /* A top-level rdf:Description: its namespaces in scope and its kept property attributes. */
    f->desc_depth = f->depth;
    g_string_truncate(f->desc_attrs, 0);
    g_string_truncate(f->desc_body, 0);
    g_string_truncate(f->desc_ns, 0);
    for (guint i = 0; i < f->ns->len; i++) {
        const struct nsdecl *d = &g_array_index(f->ns, struct nsdecl, i);
        char *v = g_markup_escape_text(d->uri, -1);
        bool shadowed = false;

        for (guint j = i + 1; j < f->ns->len; j++)
            if (strcmp(g_array_index(f->ns, struct nsdecl, j).prefix, d->prefix) == 0)
                shadowed = true;
        if (!shadowed)
            g_string_append_printf(f->desc_ns, " xmlns%s%s=\"%s\"", d->prefix[0] ? ":" : "",
                                   d->prefix, v);
        g_free(v);
    }
    for (size_t i = 0; an[i] != NULL; i++) {
        const char *auri, *alocal;
        char *v;

        if (strchr(an[i], ':') == NULL)
            continue; /* unqualified attributes are not properties */
        auri = resolve(f, an[i], &alocal);
        if (!xmp_keep(auri, alocal))
            continue;
        v = g_markup_escape_text(av[i], -1);
        g_string_append_printf(f->desc_attrs, " %s=\"%s\"", an[i], v);
        g_free(v);
    }
}

static void on_end(GMarkupParseContext *ctx, const char *name, gpointer user, GError **err)
{
    struct xmp_filter *f = user;

    (void)ctx;
    (void)err;
    if (f->copy_depth > 0)
        g_string_append_printf(f->desc_body, "</%s>", name);
    if (f->depth == f->copy_depth)
        f->copy_depth = 0;
    else if (f->depth == f->skip_depth)
        f->skip_depth = 0;
    else if (f->depth == f->desc_depth) {
        if (f->desc_attrs->len > 0 || f->desc_body->len > 0)
            g_string_append_printf(f->out,
                                   "<rdf:Description rdf:about=\"\"%s%s>%s</rdf:Description>",
                                   f->desc_ns->str, f->desc_attrs->str, f->desc_body->str);
        f->desc_depth = 0;
    }
    while (f->ns->len > 0 &&
           g_array_index(f->ns, struct nsdecl, f->ns->len - 1).depth == f->depth) {
        struct nsdecl *d = &g_array_index(f->ns, struct nsdecl, f->ns->len - 1);

        g_free(d->prefix);
        g_free(d->uri);
        g_array_set_size(f->ns, f->ns->len - 1);
    }
    f->depth--;
}

static void on_text(GMarkupParseContext *ctx, const char *text, gsize len, gpointer user,
                    GError **err)
{
    struct xmp_filter *f = user;
    char *v;

    (void)ctx;
    (void)err;
    if (f->copy_depth == 0)
        return;
    v = g_markup_escape_text(text, (gssize)len);
    g_string_append(f->desc_body, v);
    g_free(v);
}

char *metadata_filter_xmp(const char *data, size_t len, size_t *outlen)
{
    static const GMarkupParser parser = {on_start, on_end, on_text, NULL, NULL};
    struct xmp_filter f = {0};
    GMarkupParseContext *ctx;
    bool ok;
    char *ret = NULL;

    *outlen = 0;
    /* libvips' blob may end in NULs and padding: GMarkup refuses a NUL. */
    while (len > 0 && (data[len - 1] == '\0' || g_ascii_isspace(data[len - 1])))
        len--;
    if (len == 0 || len > G_MAXSSIZE || memchr(data, '\0', len) != NULL)
        return NULL;
    f.ns = g_array_new(FALSE, FALSE, sizeof(struct nsdecl));
    f.desc_attrs = g_string_new(NULL);
    f.desc_body = g_string_new(NULL);
    f.desc_ns = g_string_new(NULL);
    f.out = g_string_new(NULL);
    ctx = g_markup_parse_context_new(&parser, 0, &f, NULL);
    ok = g_markup_parse_context_parse(ctx, data, (gssize)len, NULL) &&
         g_markup_parse_context_end_parse(ctx, NULL);
    g_markup_parse_context_free(ctx);
    if (ok && f.out->len > 0) {
        GString *s =
            g_string_new("<?xpacket begin=\"\xEF\xBB\xBF\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n"
                         "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">"
                         "<rdf:RDF xmlns:rdf=\"" NS_RDF "\">");

        g_string_append(s, f.out->str);
        g_string_append(s, "</rdf:RDF></x:xmpmeta>\n<?xpacket end=\"w\"?>");
        *outlen = s->len;
        ret = g_string_free(s, FALSE);
    }
    for (guint i = 0; i < f.ns->len; i++) {
        g_free(g_array_index(f.ns, struct nsdecl, i).prefix);
        g_free(g_array_index(f.ns, struct nsdecl, i).uri);
    }
    g_array_free(f.ns, TRUE);
    g_string_free(f.desc_attrs, TRUE);
    g_string_free(f.desc_body, TRUE);
    g_string_free(f.desc_ns, TRUE);
    g_string_free(f.out, TRUE);
    return ret;
}

/* ---------------------------------------------------------------- the image */

/* Replaces blob field name of img by filter(blob), or removes it when nothing is kept. */
static void filter_blob(VipsImage *img, const char *name, bool xmp)
{
    const void *data = NULL;
    size_t len = 0, outlen = 0;
    void *out;

    if (vips_image_get_typeof(img, name) == 0)
        return;
    if (vips_image_get_blob(img, name, &data, &len) != 0 || data == NULL) {
        vipsop_discard();
        vips_image_remove(img, name);
        return;
    }
    out = xmp ? (void *)metadata_filter_xmp(data, len, &outlen)
              : (void *)metadata_filter_iptc(data, len, &outlen);
    vips_image_remove(img, name);
    if (out != NULL)
        vips_image_set_blob_copy(img, name, out, outlen);
    g_free(out);
}

void metadata_strip(VipsImage *img, bool keep_copyright)
{
    static const char *const copyright_exif[] = {"exif-ifd0-Copyright", "exif-ifd0-Artist", NULL};
    bool keep_exif = keep_copyright && (vips_image_get_typeof(img, copyright_exif[0]) != 0 ||
                                        vips_image_get_typeof(img, copyright_exif[1]) != 0);
    gchar **fields = vips_image_get_fields(img);

    for (size_t i = 0; fields[i] != NULL; i++) {
        const char *n = fields[i];

        if (in_list(n, keep_always))
            continue;
        if (keep_exif && (strcmp(n, VIPS_META_EXIF_NAME) == 0 || in_list(n, copyright_exif)))
            continue;
        if (keep_copyright &&
            (strcmp(n, VIPS_META_XMP_NAME) == 0 || strcmp(n, VIPS_META_IPTC_NAME) == 0))
            continue;
        vips_image_remove(img, n);
    }
    g_strfreev(fields);
    if (keep_copyright) {
        filter_blob(img, VIPS_META_XMP_NAME, true);
        filter_blob(img, VIPS_META_IPTC_NAME, false);
    }
}

bool metadata_any(VipsImage *img)
{
    return vips_image_get_typeof(img, VIPS_META_EXIF_NAME) != 0 ||
           vips_image_get_typeof(img, VIPS_META_XMP_NAME) != 0 ||
           vips_image_get_typeof(img, VIPS_META_IPTC_NAME) != 0 ||
           vips_image_get_typeof(img, VIPS_META_ICC_NAME) != 0;
}
