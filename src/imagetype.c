/* imagetype.c: image formats and magic-byte sniffing (imgproxy imagemeta order). */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "imagetype.h"
#include "banned.h"

static const struct {
    const char *name;
    const char *mime;
    const char *ext;
    bool saveable, alpha, animation, quality;
} types[IMGTYPE_COUNT] = {
    [IMGTYPE_UNKNOWN] = {"unknown", "application/octet-stream", "", false, false, false, false},
    [IMGTYPE_JPEG] = {"jpeg", "image/jpeg", ".jpg", true, false, false, true},
    [IMGTYPE_JXL] = {"jxl", "image/jxl", ".jxl", true, true, true, true},
    [IMGTYPE_PNG] = {"png", "image/png", ".png", true, true, false, false},
    [IMGTYPE_WEBP] = {"webp", "image/webp", ".webp", true, true, true, true},
    [IMGTYPE_GIF] = {"gif", "image/gif", ".gif", true, true, true, false},
    [IMGTYPE_ICO] = {"ico", "image/x-icon", ".ico", true, true, false, false},
    [IMGTYPE_SVG] = {"svg", "image/svg+xml", ".svg", false, true, false, false},
    [IMGTYPE_HEIC] = {"heic", "image/heif", ".heic", true, true, false, true},
    [IMGTYPE_AVIF] = {"avif", "image/avif", ".avif", true, true, false, true},
    [IMGTYPE_BMP] = {"bmp", "image/bmp", ".bmp", true, false, false, false},
    [IMGTYPE_TIFF] = {"tiff", "image/tiff", ".tiff", true, true, false, true},
    [IMGTYPE_PDF] = {"pdf", "application/pdf", ".pdf", true, false, false, false},
};

static bool valid(enum imgtype t)
{
    return t > IMGTYPE_UNKNOWN && t < IMGTYPE_COUNT;
}

const char *imagetype_name(enum imgtype t)
{
    return types[valid(t) ? t : IMGTYPE_UNKNOWN].name;
}

const char *imagetype_mime(enum imgtype t)
{
    return types[valid(t) ? t : IMGTYPE_UNKNOWN].mime;
}

const char *imagetype_ext(enum imgtype t)
{
    return types[valid(t) ? t : IMGTYPE_UNKNOWN].ext;
}

bool imagetype_saveable(enum imgtype t)
{
    return valid(t) && types[t].saveable;
}

bool imagetype_supports_alpha(enum imgtype t)
{
    return valid(t) && types[t].alpha;
}

bool imagetype_supports_animation(enum imgtype t)
{
    return valid(t) && types[t].animation;
}

bool imagetype_supports_quality(enum imgtype t)
{
    return valid(t) && types[t].quality;
}

enum imgtype imagetype_from_name(const char *s, size_t len)
{
    static const struct {
        const char *name;
        enum imgtype t;
    } names[] = {
        {"jpeg", IMGTYPE_JPEG}, {"jpg", IMGTYPE_JPEG},  {"jxl", IMGTYPE_JXL},
        {"png", IMGTYPE_PNG},   {"webp", IMGTYPE_WEBP}, {"gif", IMGTYPE_GIF},
        {"ico", IMGTYPE_ICO},   {"svg", IMGTYPE_SVG},   {"heic", IMGTYPE_HEIC},
        {"avif", IMGTYPE_AVIF}, {"bmp", IMGTYPE_BMP},   {"tiff", IMGTYPE_TIFF},
        {"pdf", IMGTYPE_PDF},
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i].name) == len && memcmp(names[i].name, s, len) == 0)
            return names[i].t;
    return IMGTYPE_UNKNOWN;
}

/* Compares a magic pattern where '?' matches any byte. */
static bool magic_match(const unsigned char *buf, size_t len, const char *magic, size_t mlen)
{
    if (len < mlen)
        return false;
    for (size_t i = 0; i < mlen; i++)
        if (magic[i] != '?' && (unsigned char)magic[i] != buf[i])
            return false;
    return true;
}

static enum imgtype sniff_heif(const unsigned char *buf, size_t len)
{
    static const char *brands[] = {"heic", "heix", "hevc", "heim", "heis",
                                   "hevm", "hevs", "mif1", "avif"};

    if (len < 12 || memcmp(buf + 4, "ftyp", 4) != 0)
        return IMGTYPE_UNKNOWN;
    for (size_t i = 0; i < sizeof(brands) / sizeof(brands[0]); i++) {
        if (memcmp(buf + 8, brands[i], 4) == 0)
            return strcmp(brands[i], "avif") == 0 ? IMGTYPE_AVIF : IMGTYPE_HEIC;
    }
    return IMGTYPE_UNKNOWN;
}

/*
 * A small XML scan: skips the prolog (<?xml ?>, comments, <!DOCTYPE>) and
 * whitespace, and says whether the first element is svg or svg:svg.
 */
static bool sniff_svg(const unsigned char *buf, size_t len)
{
    size_t i = 0;

    if (len >= 3 && buf[0] == 0xEF && buf[1] == 0xBB && buf[2] == 0xBF)
        i = 3;
    while (i < len) {
        if (isspace(buf[i])) {
            i++;
            continue;
        }
        if (buf[i] != '<')
            return false;
        if (i + 1 >= len)
            return false;
        if (buf[i + 1] == '?' || buf[i + 1] == '!') {
            const char *close = "?>";
            size_t clen = 2;

            if (i + 3 < len && buf[i + 1] == '!' && buf[i + 2] == '-' && buf[i + 3] == '-') {
                close = "-->";
                clen = 3;
            } else if (buf[i + 1] == '!') {
                close = ">";
                clen = 1;
            }
            i += 2;
            /* DOCTYPE may hold an internal subset in [...]. */
            if (clen == 1) {
                int depth = 0;

                while (i < len && (buf[i] != '>' || depth > 0)) {
                    if (buf[i] == '[')
                        depth++;
                    else if (buf[i] == ']')
                        depth--;
                    i++;
                }
                if (i >= len)
                    return false;
                i++;
                continue;
            }
            while (i + clen <= len && memcmp(buf + i, close, clen) != 0)
                i++;
            if (i + clen > len)
                return false;
            i += clen;
            continue;
        }
        i++;
        {
            size_t start = i;

            while (i < len && !isspace(buf[i]) && buf[i] != '>' && buf[i] != '/')
                i++;
            if (i >= len)
                return false;
            if (i - start == 3 && strncasecmp((const char *)buf + start, "svg", 3) == 0)
                return true;
            if (i - start == 7 && strncasecmp((const char *)buf + start, "svg:svg", 7) == 0)
                return true;
            return false;
        }
    }
    return false;
}

enum imgtype imagetype_sniff(const unsigned char *buf, size_t len, size_t svg_check_bytes)
{
    enum imgtype t;

    if (magic_match(buf, len, "BM", 2))
        return IMGTYPE_BMP;
    if (magic_match(buf, len, "GIF8?a", 6))
        return IMGTYPE_GIF;
    t = sniff_heif(buf, len);
    if (t != IMGTYPE_UNKNOWN)
        return t;
    if (magic_match(buf, len, "\x00\x00\x01\x00", 4))
        return IMGTYPE_ICO;
    if (magic_match(buf, len, "\xff\xd8", 2))
        return IMGTYPE_JPEG;
    if (magic_match(buf, len, "\xff\x0a", 2) ||
        magic_match(buf, len, "\x00\x00\x00\x0cJXL \x0d\x0a\x87\x0a", 12))
        return IMGTYPE_JXL;
    if (magic_match(buf, len, "\x89PNG\r\n\x1a\n", 8))
        return IMGTYPE_PNG;
    if (magic_match(buf, len, "II*\x00", 4) || magic_match(buf, len, "MM\x00*", 4))
        return IMGTYPE_TIFF;
    if (magic_match(buf, len, "RIFF????WEBPVP8", 15))
        return IMGTYPE_WEBP;
    if (magic_match(buf, len, "%PDF-", 5))
        return IMGTYPE_PDF;
    if (sniff_svg(buf, len < svg_check_bytes ? len : svg_check_bytes))
        return IMGTYPE_SVG;
    /* PDF readers look for the header in the first 1024 bytes; so does poppler. */
    if (len >= 5 && memmem(buf, len < 1024 ? len : 1024, "%PDF-", 5) != NULL)
        return IMGTYPE_PDF;
    return IMGTYPE_UNKNOWN;
}
