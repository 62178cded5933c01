/* metadata.c: strip_metadata with keep_copyright: which EXIF, IPTC and XMP survive. */
#include <stdbool.h>
#include <stdint.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <glib.h>
#include <libiptcdata/iptc-data.h>
#include <libiptcdata/iptc-jpeg.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
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

/* Kept: records other than 2, and 2:80 By-line, 2:110 Credit, 2:116 Copyright Notice. */
static bool iptc_keep(unsigned record, unsigned dataset)
{
    return record != 2 || dataset == 80 || dataset == 110 || dataset == 116;
}

/*
 * libiptcdata finds the IPTC resource among the block's resources, parses its
 * datasets, writes the kept ones back (iptc_data_save) and wraps them in a new
 * block holding only that resource (iptc_jpeg_ps3_save_iptc without a block to
 * start from), which always begins with the "Photoshop 3.0" name.
 */
unsigned char *metadata_filter_iptc(const unsigned char *data, size_t len, size_t *outlen)
{
    bool prefixed = len >= sizeof(PS3_PREFIX) && memcmp(data, PS3_PREFIX, sizeof(PS3_PREFIX)) == 0;
    unsigned char *ps3 = NULL, *iim = NULL, *out = NULL;
    unsigned int iimlen = 0, ilen = 0;
    size_t ps3len = prefixed ? len : len + sizeof(PS3_PREFIX);
    IptcData *d = NULL;
    int off, n;

    *outlen = 0;
    if (ps3len > UINT_MAX / 2)
        return NULL;
    ps3 = g_try_malloc(ps3len > 0 ? ps3len : 1);
    if (ps3 == NULL)
        return NULL;
    memcpy(ps3, PS3_PREFIX, sizeof(PS3_PREFIX)); /* with its NUL */
    memcpy(ps3 + (prefixed ? 0 : sizeof(PS3_PREFIX)), data, len);
    off = iptc_jpeg_ps3_find_iptc(ps3, (unsigned int)ps3len, &ilen);
    if (off <= 0 || ilen == 0)
        goto out;
    d = iptc_data_new_from_data(ps3 + off, ilen);
    if (d == NULL)
        goto out;
    for (unsigned int i = d->count; i-- > 0;) {
        IptcDataSet *ds = d->datasets[i];

        if (!iptc_keep(ds->record, ds->tag))
            iptc_data_remove_dataset(d, ds);
    }
    if (d->count == 0 || iptc_data_save(d, &iim, &iimlen) < 0 || iimlen == 0)
        goto out;
    /* The name, one resource header (12 bytes), the data and its padding byte. */
    out = g_try_malloc((size_t)iimlen + sizeof(PS3_PREFIX) + 12 + 2);
    if (out == NULL)
        goto out;
    n = iptc_jpeg_ps3_save_iptc(NULL, 0, iim, iimlen, out,
                                iimlen + (unsigned int)sizeof(PS3_PREFIX) + 12 + 2);
    if (n <= (int)sizeof(PS3_PREFIX)) {
        g_free(out);
        out = NULL;
        goto out;
    }
    *outlen = (size_t)n;
    if (!prefixed) {
        memmove(out, out + sizeof(PS3_PREFIX), (size_t)n - sizeof(PS3_PREFIX));
        *outlen -= sizeof(PS3_PREFIX);
    }
out:
    if (iim != NULL)
        iptc_data_free_buf(d, iim);
    if (d != NULL)
        iptc_data_unref(d);
    g_free(ps3);
    return out;
}

/* ---------------------------------------------------------------- XMP */

#define NS_RDF "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
#define NS_DC "http://purl.org/dc/elements/1.1/"
#define NS_XMP_RIGHTS "http://ns.adobe.com/xap/1.0/rights/"
#define NS_CC "http://creativecommons.org/ns#"

/* libxml2's parser is set up once for the process, before any thread parses. */
static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

/* Whether the top-level property local name of namespace uri (NULL: none) is kept. */
static bool xmp_keep(const xmlChar *uri, const xmlChar *local)
{
    const char *u = (const char *)uri, *l = (const char *)local;

    if (u == NULL)
        return false;
    if (strcmp(u, NS_XMP_RIGHTS) == 0 || strcmp(u, NS_CC) == 0)
        return true;
    return strcmp(u, NS_DC) == 0 && (strcmp(l, "rights") == 0 || strcmp(l, "creator") == 0 ||
                                     strcmp(l, "contributor") == 0 || strcmp(l, "publisher") == 0);
}

static bool is_blank_text(const xmlNode *n)
{
    return n->type == XML_TEXT_NODE && xmlIsBlankNode(n);
}

static bool is_rdf(const xmlNode *n, const char *local)
{
    return n->type == XML_ELEMENT_NODE && n->ns != NULL &&
           strcmp((const char *)n->ns->href, NS_RDF) == 0 &&
           strcmp((const char *)n->name, local) == 0;
}

/* The first rdf:RDF element at or under n, depth first. */
static xmlNode *find_rdf(xmlNode *n)
{
    for (; n != NULL; n = n->next) {
        xmlNode *r;

        if (is_rdf(n, "RDF"))
            return n;
        if (n->type == XML_ELEMENT_NODE && (r = find_rdf(n->children)) != NULL)
            return r;
    }
    return NULL;
}

/* Unlinks and frees n with the whitespace text just before it. */
static void drop_node(xmlNode *n)
{
    xmlNode *prev = n->prev;

    if (prev != NULL && is_blank_text(prev)) {
        xmlUnlinkNode(prev);
        xmlFreeNode(prev);
    }
    xmlUnlinkNode(n);
    xmlFreeNode(n);
}

/*
 * One rdf:Description: drops the properties (attributes in the compact form,
 * child elements otherwise) that are not kept; returns how many are kept.
 */
static size_t filter_description(xmlNode *d)
{
    size_t kept = 0;
    xmlAttr *a = d->properties;
    xmlNode *c = d->children;

    while (a != NULL) {
        xmlAttr *next = a->next;

        if (a->ns != NULL && strcmp((const char *)a->ns->href, NS_RDF) == 0)
            ; /* rdf:about and its kind describe the node, not a property */
        else if (xmp_keep(a->ns != NULL ? a->ns->href : NULL, a->name))
            kept++;
        else
            xmlRemoveProp(a);
        a = next;
    }
    while (c != NULL) {
        xmlNode *next = c->next;

        if (c->type == XML_ELEMENT_NODE && xmp_keep(c->ns != NULL ? c->ns->href : NULL, c->name))
            kept++;
        else if (!is_blank_text(c))
            drop_node(c);
        c = next;
    }
    return kept;
}

/*
 * libxml2 parses the packet (no network, no DTD, no entity expansion, errors
 * not printed); in each rdf:Description under rdf:RDF, every top-level
 * property that is not kept is removed, kept ones stay as the source wrote
 * them (arrays, qualifiers, structure); descriptions left empty and other
 * nodes of rdf:RDF go too. The packet is not checked as RDF, so a source
 * that repeats a property (common in edited photos) keeps its copyright all
 * the same. The root element is written inside a packet wrapper of our own.
 */
char *metadata_filter_xmp(const char *data, size_t len, size_t *outlen)
{
    static const char head[] =
        "<?xpacket begin=\"\xEF\xBB\xBF\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n";
    static const char tail[] = "\n<?xpacket end=\"w\"?>";
    xmlDoc *doc = NULL;
    xmlNode *rdf, *c;
    xmlBuffer *buf = NULL;
    size_t kept = 0;
    char *ret = NULL;

    *outlen = 0;
    /* libvips' blob may end in NULs and padding. */
    while (len > 0 && (data[len - 1] == '\0' || g_ascii_isspace(data[len - 1])))
        len--;
    if (len == 0 || len > INT_MAX || memchr(data, '\0', len) != NULL)
        return NULL;
    pthread_once(&xml_once, xmlInitParser);
    doc = xmlReadMemory(data, (int)len, NULL, NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (doc == NULL || doc->intSubset != NULL || xmlDocGetRootElement(doc) == NULL ||
        (rdf = find_rdf(xmlDocGetRootElement(doc))) == NULL)
        goto out;
    c = rdf->children;
    while (c != NULL) {
        xmlNode *next = c->next;
        size_t k = is_rdf(c, "Description") ? filter_description(c) : 0;

        kept += k;
        if (k == 0 && !is_blank_text(c))
            drop_node(c);
        c = next;
    }
    if (kept == 0 || (buf = xmlBufferCreate()) == NULL ||
        xmlNodeDump(buf, doc, xmlDocGetRootElement(doc), 0, 0) < 0)
        goto out;
    ret = g_strconcat(head, (const char *)xmlBufferContent(buf), tail, NULL);
    *outlen = strlen(ret);
out:
    if (buf != NULL)
        xmlBufferFree(buf);
    xmlFreeDoc(doc);
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
