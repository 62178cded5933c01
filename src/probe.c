/* probe.c: header sniffing for the resolution check that runs while a source downloads. */
#include <stdint.h>
#include <string.h>

#include "probe.h"
#include "banned.h"

/* Reading helpers; callers check the bounds first. */
static unsigned be16(const unsigned char *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

static unsigned le16(const unsigned char *p)
{
    return (unsigned)p[1] << 8 | p[0];
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint64_t be64(const unsigned char *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* "Need more bytes", unless there are no more to come. */
static enum probe_status short_of(bool complete)
{
    return complete ? PROBE_NONE : PROBE_MORE;
}

static enum probe_status found(struct probe_info *out, unsigned long long w, unsigned long long h)
{
    if (w == 0 || h == 0)
        return PROBE_NONE;
    out->width = w;
    out->height = h;
    return PROBE_FOUND;
}

/* JPEG: walk the marker segments to the first SOFn. */
static enum probe_status probe_jpeg(const unsigned char *b, size_t len, bool complete,
                                    struct probe_info *out)
{
    size_t pos = 2;

    for (;;) {
        unsigned marker, seglen;

        while (pos < len && b[pos] == 0xff && pos + 1 < len && b[pos + 1] == 0xff)
            pos++; /* fill bytes */
        if (pos + 4 > len)
            return short_of(complete);
        if (b[pos] != 0xff)
            return PROBE_NONE;
        marker = b[pos + 1];
        if (marker == 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
            pos += 2; /* TEM, RSTn, SOI: no length */
            continue;
        }
        if (marker == 0xd9 || marker == 0xda)
            return PROBE_NONE; /* EOI or scan data before any frame header */
        seglen = be16(b + pos + 2);
        if (seglen < 2)
            return PROBE_NONE;
        if (marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 &&
            marker != 0xcc) {
            /* SOFn: length, precision, height, width. */
            if (pos + 9 > len)
                return short_of(complete);
            return found(out, be16(b + pos + 7), be16(b + pos + 5));
        }
        pos += 2 + (size_t)seglen;
    }
}

static enum probe_status probe_png(const unsigned char *b, size_t len, bool complete,
                                   struct probe_info *out)
{
    if (len < 24)
        return short_of(complete);
    if (memcmp(b + 12, "IHDR", 4) != 0)
        return PROBE_NONE;
    return found(out, be32(b + 16), be32(b + 20));
}

static enum probe_status probe_gif(const unsigned char *b, size_t len, bool complete,
                                   struct probe_info *out)
{
    if (len < 10)
        return short_of(complete);
    return found(out, le16(b + 6), le16(b + 8));
}

static enum probe_status probe_webp(const unsigned char *b, size_t len, bool complete,
                                    struct probe_info *out)
{
    const unsigned char *d = b + 20; /* the first chunk's data */

    if (len < 30)
        return short_of(complete);
    if (memcmp(b + 12, "VP8 ", 4) == 0) {
        if (d[3] != 0x9d || d[4] != 0x01 || d[5] != 0x2a)
            return PROBE_NONE;
        return found(out, le16(d + 6) & 0x3fff, le16(d + 8) & 0x3fff);
    }
    if (memcmp(b + 12, "VP8L", 4) == 0) {
        uint32_t bits = le32(d + 1);

        if (d[0] != 0x2f)
            return PROBE_NONE;
        return found(out, (bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1);
    }
    if (memcmp(b + 12, "VP8X", 4) == 0) {
        unsigned long long w = (unsigned long long)(d[4] | d[5] << 8 | d[6] << 16) + 1;
        unsigned long long h = (unsigned long long)(d[7] | d[8] << 8 | d[9] << 16) + 1;

        return found(out, w, h);
    }
    return PROBE_NONE;
}

static enum probe_status probe_bmp(const unsigned char *b, size_t len, bool complete,
                                   struct probe_info *out)
{
    uint32_t dib;
    int32_t w, h;

    if (len < 26)
        return short_of(complete);
    dib = le32(b + 14);
    if (dib == 12)
        return found(out, le16(b + 18), le16(b + 20)); /* BITMAPCOREHEADER */
    if (dib < 16)
        return PROBE_NONE;
    w = (int32_t)le32(b + 18);
    h = (int32_t)le32(b + 22);
    if (w <= 0 || h == INT32_MIN)
        return PROBE_NONE;
    return found(out, (unsigned long long)w,
                 (unsigned long long)(h < 0 ? -h : h)); /* <0: top-down */
}

/*
 * TIFF: ImageWidth (256) and ImageLength (257) of the first IFD. (BigTIFF is
 * not sniffed as TIFF, as in imgproxy, so it never gets here.)
 */
static enum probe_status probe_tiff(const unsigned char *b, size_t len, bool complete,
                                    struct probe_info *out)
{
    bool le = b[0] == 'I';
    uint32_t ifd, w = 0, h = 0;
    unsigned count;

#define U16(p) (le ? le16(p) : be16(p))
#define U32(p) (le ? le32(p) : be32(p))
    if (len < 8)
        return short_of(complete);
    ifd = U32(b + 4);
    if (ifd < 8 || ifd > PROBE_MAX_BYTES)
        return PROBE_NONE; /* an IFD this far in: leave it to the decoder */
    if ((size_t)ifd + 2 > len)
        return short_of(complete);
    count = U16(b + ifd);
    for (unsigned i = 0; i < count && (w == 0 || h == 0); i++) {
        const unsigned char *e = b + ifd + 2 + (size_t)i * 12;
        unsigned tag, type;

        if ((size_t)ifd + 2 + ((size_t)i + 1) * 12 > len)
            return short_of(complete);
        tag = U16(e);
        type = U16(e + 2);
        if (tag != 256 && tag != 257)
            continue;
        if (type != 3 && type != 4)
            return PROBE_NONE;
        if (tag == 256)
            w = type == 3 ? U16(e + 8) : U32(e + 8);
        else
            h = type == 3 ? U16(e + 8) : U32(e + 8);
    }
#undef U16
#undef U32
    return w != 0 && h != 0 ? found(out, w, h) : PROBE_NONE;
}

/*
 * ISO BMFF boxes in [pos, end): the largest ispe under meta/iprp/ipco. Returns
 * 1 when the walk got to the end of the range, 0 when a box runs past the
 * bytes in hand, -1 when a box is malformed.
 */
static int walk_boxes(const unsigned char *b, size_t pos, size_t end, int depth,
                      unsigned long long *bw, unsigned long long *bh, bool *in_meta_done)
{
    while (pos + 8 <= end) {
        uint64_t size = be32(b + pos);
        size_t hdr = 8;
        const unsigned char *type = b + pos + 4;

        if (size == 1) {
            if (pos + 16 > end)
                return 0;
            size = be64(b + pos + 8);
            hdr = 16;
        } else if (size == 0) {
            size = end - pos; /* to the end: only for the last box */
        }
        if (size < hdr)
            return -1;
        if (depth == 0 && memcmp(type, "meta", 4) == 0) {
            int r;

            if (size > end - pos)
                return 0; /* the whole meta box is needed */
            if (size < hdr + 4)
                return -1;
            r = walk_boxes(b, pos + hdr + 4, pos + (size_t)size, 1, bw, bh, in_meta_done);
            if (r < 0)
                return r;
            *in_meta_done = true;
            return 1;
        }
        if (depth > 0 && (memcmp(type, "iprp", 4) == 0 || memcmp(type, "ipco", 4) == 0)) {
            int r;

            if (size > end - pos || depth > 3)
                return -1;
            r = walk_boxes(b, pos + hdr, pos + (size_t)size, depth + 1, bw, bh, in_meta_done);
            if (r < 0)
                return r;
        } else if (depth > 0 && memcmp(type, "ispe", 4) == 0) {
            unsigned long long w, h;

            if (size < hdr + 12 || size > end - pos)
                return -1;
            w = be32(b + pos + hdr + 4);
            h = be32(b + pos + hdr + 8);
            if (w * h > *bw * *bh) {
                *bw = w;
                *bh = h;
            }
        }
        if (size > end - pos)
            return 0;
        pos += (size_t)size;
    }
    return 1;
}

static enum probe_status probe_heif(const unsigned char *b, size_t len, bool complete,
                                    struct probe_info *out)
{
    unsigned long long w = 0, h = 0;
    bool meta = false;
    int r = walk_boxes(b, 0, len, 0, &w, &h, &meta);

    if (r < 0)
        return PROBE_NONE;
    if (!meta)
        return short_of(complete);
    return w != 0 && h != 0 ? found(out, w, h) : PROBE_NONE;
}

/* JPEG XL's bit reader: LSB first. */
struct bits {
    const unsigned char *p;
    size_t len, pos; /* pos in bits */
};

static int get_bits(struct bits *r, unsigned n, uint32_t *v)
{
    *v = 0;
    if (r->pos + n > r->len * 8)
        return -1;
    for (unsigned i = 0; i < n; i++, r->pos++)
        *v |= (uint32_t)((r->p[r->pos / 8] >> (r->pos % 8)) & 1) << i;
    return 0;
}

/* U32(Bits(9)+1, Bits(13)+1, Bits(18)+1, Bits(30)+1) of the SizeHeader. */
static int jxl_dim(struct bits *r, uint32_t *v)
{
    static const unsigned nbits[4] = {9, 13, 18, 30};
    uint32_t sel;

    if (get_bits(r, 2, &sel) < 0 || get_bits(r, nbits[sel], v) < 0)
        return -1;
    *v += 1;
    return 0;
}

static enum probe_status jxl_codestream(const unsigned char *p, size_t len, bool complete,
                                        struct probe_info *out)
{
    struct bits r = {p, len, 16};
    uint32_t small, h, w, ratio;
    unsigned long long ww;

    if (len < 2 || p[0] != 0xff || p[1] != 0x0a)
        return len < 2 ? short_of(complete) : PROBE_NONE;
    if (get_bits(&r, 1, &small) < 0)
        return short_of(complete);
    if (small ? get_bits(&r, 5, &h) < 0 : jxl_dim(&r, &h) < 0)
        return short_of(complete);
    if (small)
        h = (h + 1) * 8;
    if (get_bits(&r, 3, &ratio) < 0)
        return short_of(complete);
    if (ratio == 0) {
        if (small ? get_bits(&r, 5, &w) < 0 : jxl_dim(&r, &w) < 0)
            return short_of(complete);
        ww = small ? (unsigned long long)(w + 1) * 8 : w;
    } else {
        static const unsigned num[8] = {0, 1, 12, 4, 3, 16, 5, 2};
        static const unsigned den[8] = {0, 1, 10, 3, 2, 9, 4, 1};

        ww = (unsigned long long)h * num[ratio] / den[ratio];
    }
    return found(out, ww, h);
}

static enum probe_status probe_jxl(const unsigned char *b, size_t len, bool complete,
                                   struct probe_info *out)
{
    size_t pos = 12;

    if (b[0] == 0xff)
        return jxl_codestream(b, len, complete, out);
    /* The container: the codestream is in jxlc, or split over jxlp boxes (4-byte index first). */
    while (pos + 8 <= len) {
        uint64_t size = be32(b + pos);
        size_t hdr = 8;

        if (size == 1) {
            if (pos + 16 > len)
                return short_of(complete);
            size = be64(b + pos + 8);
            hdr = 16;
        }
        if (memcmp(b + pos + 4, "jxlc", 4) == 0)
            return jxl_codestream(b + pos + hdr, len - pos - hdr, complete, out);
        if (memcmp(b + pos + 4, "jxlp", 4) == 0) {
            if (pos + hdr + 4 > len)
                return short_of(complete);
            return jxl_codestream(b + pos + hdr + 4, len - pos - hdr - 4, complete, out);
        }
        if (size == 0)
            return PROBE_NONE;
        if (size < hdr || size > len - pos)
            return size < hdr ? PROBE_NONE : short_of(complete);
        pos += (size_t)size;
    }
    return short_of(complete);
}

/* The header reader of each type; SVG (sized at render time), ICO and unknown types have none. */
static const struct {
    enum imgtype type;
    enum probe_status (*probe)(const unsigned char *buf, size_t len, bool complete,
                               struct probe_info *out);
} probers[] = {
    {IMGTYPE_JPEG, probe_jpeg}, {IMGTYPE_PNG, probe_png},   {IMGTYPE_GIF, probe_gif},
    {IMGTYPE_WEBP, probe_webp}, {IMGTYPE_BMP, probe_bmp},   {IMGTYPE_TIFF, probe_tiff},
    {IMGTYPE_HEIC, probe_heif}, {IMGTYPE_AVIF, probe_heif}, {IMGTYPE_JXL, probe_jxl},
};

enum probe_status probe_header(const unsigned char *buf, size_t len, bool complete,
                               struct probe_info *out)
{
    memset(out, 0, sizeof(*out));
    out->type = imagetype_sniff(buf, len, 0);
    /* 15 bytes tell every magic of imagetype_sniff apart (RIFF????WEBPVP8 is the longest). */
    if (out->type == IMGTYPE_UNKNOWN && len < 16 && !complete)
        return PROBE_MORE;
    for (size_t i = 0; i < sizeof(probers) / sizeof(probers[0]); i++)
        if (probers[i].type == out->type)
            return probers[i].probe(buf, len, complete, out);
    return PROBE_NONE;
}

bool probe_exceeds(const struct probe_info *p, long long max)
{
    if (max <= 0)
        return false;
    /* Both sides fit 32 bits in every format above; the division avoids any overflow. */
    return p->width > 0 && p->height > (unsigned long long)max / p->width;
}
