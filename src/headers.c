/* headers.c: Cache-Control, Content-Disposition, ETag and secret rules of imgproxy v3. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <glib.h>

#include "headers.h"
#include "url.h"
#include "banned.h"

#define SHA256_LEN 32

void headers_cache_control(const struct cache_input *in, char *out, size_t outlen)
{
    long long ttl = -1;

    if (in->fallback && in->fallback_ttl > 0)
        ttl = in->fallback_ttl;
    /* The `expires` option wins when it comes sooner than the TTL so far. */
    if (in->has_expires && (ttl < 0 || in->expires < (long long)in->now + ttl)) {
        long long left = in->expires - (long long)in->now;

        if (left < 0)
            left = 0;
        ttl = left < in->ttl ? left : in->ttl;
    }
    if (in->passthrough && ttl < 0) {
        time_t t;

        if (in->origin_cache_control != NULL && in->origin_cache_control[0] != '\0') {
            snprintf(out, outlen, "%s", in->origin_cache_control);
            return;
        }
        if (in->origin_expires != NULL && in->origin_expires[0] != '\0' &&
            headers_parse_http_date(in->origin_expires, &t) == 0)
            ttl = (long long)t > (long long)in->now ? (long long)t - (long long)in->now : 0;
    }
    if (ttl < 0)
        ttl = in->ttl;
    if (ttl > 0)
        snprintf(out, outlen, "max-age=%lld, public", ttl);
    else
        snprintf(out, outlen, "no-cache");
}

static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void headers_format_http_date(time_t t, char out[30])
{
    struct tm tm;

    gmtime_r(&t, &tm);
    snprintf(out, 30, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
             months[tm.tm_mon % 12], (tm.tm_year + 1900) % 10000, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int headers_parse_http_date(const char *s, time_t *out)
{
    struct tm tm;
    char day[4], mon[4], zone[4];
    int d, y, hh, mm, ss, n = 0;
    size_t i;

    memset(&tm, 0, sizeof(tm));
    /* Exactly "Mon, 02 Jan 2006 15:04:05 GMT": 29 characters. */
    if (strlen(s) != 29 ||
        sscanf(s, "%3s, %2d %3s %4d %2d:%2d:%2d %3s%n", day, &d, mon, &y, &hh, &mm, &ss, zone,
               &n) != 8 ||
        n != 29 || strcmp(zone, "GMT") != 0)
        return -1;
    for (i = 0; i < 7 && strcmp(day, days[i]) != 0; i++)
        ;
    if (i == 7)
        return -1;
    for (i = 0; i < 12 && strcmp(mon, months[i]) != 0; i++)
        ;
    if (i == 12 || d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60 || y < 1970)
        return -1;
    tm.tm_mday = d;
    tm.tm_mon = (int)i;
    tm.tm_year = y - 1900;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss;
    *out = timegm(&tm);
    return 0;
}

/* Copies s[0..len) into out (outlen > 0) for a quoted header value. */
static size_t put_quoted(char *out, size_t outlen, size_t used, const char *s, size_t len)
{
    for (size_t i = 0; i < len && used + 4 < outlen; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"') {
            memcpy(out + used, "%22", 3);
            used += 3;
        } else {
            /* Go's net/http turns CR and LF into spaces; any control byte here too. */
            out[used++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
        }
    }
    out[used] = '\0';
    return used;
}

void headers_content_disposition(char *out, size_t outlen, const char *filename,
                                 const char *source_url, enum imgtype t, bool attachment)
{
    char *decoded = NULL;
    const char *name = "image";
    size_t nlen = 5, used;
    int n;

    if (outlen == 0)
        return;
    if (filename != NULL && filename[0] != '\0') {
        name = filename;
        nlen = strlen(filename);
    } else if (source_url != NULL) {
        /* url.Parse(source).Path: after "scheme://authority", before "?" or "#". */
        const char *p = strstr(source_url, "://");
        const char *end;

        p = p != NULL ? p + 3 : source_url;
        p += strcspn(p, "/?#");
        end = p + strcspn(p, "?#");
        decoded = malloc((size_t)(end - p) + 1);
        if (decoded != NULL) {
            long dl = url_unescape(p, (size_t)(end - p), decoded);

            if (dl > 0) {
                const char *base = decoded + dl, *dot = NULL;

                while (base > decoded && base[-1] != '/')
                    base--;
                /* filepath.Ext: from the last dot of the last element. */
                for (const char *q = base; q < decoded + dl; q++)
                    if (*q == '.')
                        dot = q;
                if (base < decoded + dl) {
                    name = base;
                    nlen = (size_t)((dot != NULL ? dot : decoded + dl) - base);
                }
            }
        }
    }
    n = snprintf(out, outlen, "%s; filename=\"", attachment ? "attachment" : "inline");
    if (n < 0 || (size_t)n >= outlen) {
        free(decoded);
        return;
    }
    used = put_quoted(out, outlen, (size_t)n, name, nlen);
    snprintf(out + used, outlen - used, "%s\"", imagetype_ext(t));
    free(decoded);
}

static void b64url(const unsigned char *data, size_t len, char *out, size_t outlen)
{
    gchar *b = g_base64_encode(data, len);
    size_t j = 0;

    for (size_t i = 0; b[i] != '\0' && b[i] != '=' && j + 1 < outlen; i++)
        out[j++] = b[i] == '+' ? '-' : b[i] == '/' ? '_' : b[i];
    out[j] = '\0';
    g_free(b);
}

void headers_sha256_b64(const void *a, size_t alen, const void *b, size_t blen, const void *c,
                        size_t clen, char out[HEADERS_HASH_LEN])
{
    GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
    guint8 digest[SHA256_LEN];
    gsize dlen = sizeof(digest);

    if (a != NULL && alen > 0)
        g_checksum_update(ck, a, (gssize)alen);
    if (b != NULL && blen > 0)
        g_checksum_update(ck, b, (gssize)blen);
    if (c != NULL && clen > 0)
        g_checksum_update(ck, c, (gssize)clen);
    g_checksum_get_digest(ck, digest, &dlen);
    g_checksum_free(ck);
    b64url(digest, dlen, out, HEADERS_HASH_LEN);
}

void headers_options_hash(const struct procopts *po, const char *buster, char out[HEADERS_HASH_LEN])
{
    char canon[OPTIONS_CANONICAL_MAX];
    size_t len = options_canonical(po, canon, sizeof(canon));

    headers_sha256_b64(buster, buster != NULL ? strlen(buster) : 0, canon, len, "\n", 1, out);
}

void headers_etag_parse(const char *inm, struct etag_expect *x)
{
    const char *s, *end, *slash, *tag;
    size_t hlen;

    memset(x, 0, sizeof(*x));
    if (inm == NULL)
        return;
    /* The first value only, trimmed as textproto.TrimString does. */
    s = inm;
    end = s + strcspn(s, ",");
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (end - s < 2 || s[0] != '"' || end[-1] != '"')
        return;
    s++;
    end--;
    slash = memchr(s, '/', (size_t)(end - s));
    if (slash == NULL || end - slash < 2)
        return;
    hlen = (size_t)(slash - s);
    if (hlen >= HEADERS_HASH_LEN)
        return;
    tag = slash + 1;
    if (*tag == 'R') {
        size_t blen = (size_t)(end - tag - 1);
        long dl;

        if (blen * 3 / 4 + 3 > sizeof(x->origin_etag))
            return;
        dl = url_base64_decode(tag + 1, blen, (unsigned char *)x->origin_etag);
        if (dl < 0 || memchr(x->origin_etag, '\0', (size_t)dl) != NULL) {
            x->origin_etag[0] = '\0';
            return;
        }
        x->origin_etag[dl] = '\0';
        x->has_origin_etag = dl > 0;
    } else if (*tag == 'D') {
        size_t dlen = (size_t)(end - tag - 1);

        if (dlen >= HEADERS_HASH_LEN)
            return;
        memcpy(x->img_hash, tag + 1, dlen);
        x->img_hash[dlen] = '\0';
    } else {
        return;
    }
    memcpy(x->po_hash, s, hlen);
    x->po_hash[hlen] = '\0';
    x->valid = true;
}

int headers_etag_make(char *out, size_t outlen, const char *po_hash, const char *origin_etag,
                      const char *img_hash)
{
    if (origin_etag != NULL && origin_etag[0] != '\0' &&
        strlen(origin_etag) < HEADERS_ORIGIN_ETAG_MAX) {
        char b[HEADERS_ORIGIN_ETAG_MAX * 4 / 3 + 4];

        b64url((const unsigned char *)origin_etag, strlen(origin_etag), b, sizeof(b));
        snprintf(out, outlen, "\"%s/R%s\"", po_hash, b);
        return 'R';
    }
    snprintf(out, outlen, "\"%s/D%s\"", po_hash, img_hash != NULL ? img_hash : "");
    return 'D';
}

bool headers_secret_ok(const char *authorization, const char *secret)
{
    static const char prefix[] = "Bearer ";
    size_t plen = sizeof(prefix) - 1, slen = strlen(secret), alen;
    unsigned char diff;

    if (authorization == NULL)
        return false;
    alen = strlen(authorization);
    diff = (unsigned char)(alen != plen + slen);
    /* Walk the expected value whatever the given one is: no early exit. */
    for (size_t i = 0; i < plen + slen; i++) {
        unsigned char want = (unsigned char)(i < plen ? prefix[i] : secret[i - plen]);
        unsigned char got = (unsigned char)(i < alen ? authorization[i] : 0);

        diff |= (unsigned char)(want ^ got);
    }
    return diff == 0;
}

/* Splits "scheme://host[:port]/path?q" into host (no port) and path ("" if none). */
static bool split_url(const char *u, const char **host, size_t *hlen, const char **path,
                      size_t *plen)
{
    const char *p = strstr(u, "://"), *h, *colon;

    if (p == NULL)
        return false;
    h = p + 3;
    p = h + strcspn(h, "/?#");
    colon = memchr(h, ':', (size_t)(p - h));
    *host = h;
    *hlen = (size_t)((colon != NULL ? colon : p) - h);
    *path = p;
    *plen = strcspn(p, "?#");
    return *hlen > 0;
}

bool headers_cookie_scope_ok(const char *source_url, const char *base_url)
{
    const char *sh, *sp, *bh, *bp;
    size_t shl, spl, bhl, bpl, dir;

    if (source_url == NULL || base_url == NULL || !split_url(source_url, &sh, &shl, &sp, &spl) ||
        !split_url(base_url, &bh, &bhl, &bp, &bpl))
        return false;
    /* Domain match: equal, or a subdomain of base's host. */
    if (!(shl == bhl && strncasecmp(sh, bh, shl) == 0) &&
        !(shl > bhl + 1 && sh[shl - bhl - 1] == '.' && strncasecmp(sh + shl - bhl, bh, bhl) == 0))
        return false;
    /* cookiejar's defaultPath: base's path up to its last slash, at least "/". */
    dir = 0;
    for (size_t i = 0; i < bpl; i++)
        if (bp[i] == '/')
            dir = i;
    if (bpl == 0 || bp[0] != '/' || dir == 0)
        return true;
    if (spl < dir || memcmp(sp, bp, dir) != 0)
        return false;
    return spl == dir || sp[dir] == '/';
}

bool headers_value_safe(const char *s)
{
    if (s == NULL)
        return false;
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}
