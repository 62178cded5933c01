/* url.c: taking an imgproxy request path apart (imgproxy v3 handleProcessing, fixPath, ParsePath).
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "config.h"
#include "encsrc.h"
#include "parse.h"
#include "url.h"
#include "banned.h"

long url_unescape(const char *s, size_t len, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%') {
            int hi, lo;

            if (i + 2 >= len)
                return -1;
            hi = parse_hex_digit((unsigned char)s[i + 1]);
            lo = parse_hex_digit((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return (long)o;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

long url_base64_decode(const char *s, size_t len, unsigned char *out)
{
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;

    while (len > 0 && s[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int v = b64val((unsigned char)s[i]);

        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return (long)o;
}

/*
 * fixPath's second half: in the plain part, the longest prefix of non-space
 * characters followed by ":/" and a character other than '/' is a scheme
 * whose "//" a proxy collapsed (regex ^(\S+):/([^/])). Rewrites p in place
 * into out. Returns the new length.
 */
static size_t fix_plain_scheme(const char *p, size_t n, char *out)
{
    size_t ws = 0;
    size_t best = 0;

    while (ws < n &&
           !(p[ws] == ' ' || p[ws] == '\t' || p[ws] == '\n' || p[ws] == '\f' || p[ws] == '\r'))
        ws++;
    for (size_t i = 1; i <= ws && i + 2 < n; i++) {
        if (p[i] == ':' && p[i + 1] == '/' && p[i + 2] != '/')
            best = i;
    }
    if (best == 0) {
        memcpy(out, p, n);
        return n;
    }
    {
        bool local = best == 5 && memcmp(p, "local", 5) == 0;
        size_t o = 0;

        memcpy(out, p, best);
        o = best;
        memcpy(out + o, local ? ":///" : "://", local ? 4 : 3);
        o += local ? 4 : 3;
        memcpy(out + o, p + best + 2, n - best - 2);
        return o + n - best - 2;
    }
}

int url_split(struct urlparts *u, const char *uri, size_t len, const char *prefix,
              struct errinfo *e)
{
    const char *q, *p, *end, *slash, *plain;
    size_t plen;
    char *o;

    memset(u, 0, sizeof(*u));
    if (len > URL_MAX_LEN)
        return err_set(e, ERR_INVALID_URL, "Request URI is too long (%zu bytes)", len);
    q = memchr(uri, '?', len);
    end = q ? q : uri + len;
    p = uri;
    if (prefix != NULL && *prefix != '\0') {
        size_t pl = strlen(prefix);

        if ((size_t)(end - p) >= pl && memcmp(p, prefix, pl) == 0)
            p += pl;
    }
    if (p < end && *p == '/')
        p++;
    slash = memchr(p, '/', (size_t)(end - p));
    if (slash == NULL || slash == p)
        return err_set(e, ERR_INVALID_URL, "Invalid path: %.*s", (int)(end - p), p);

    /* Room for the signature, the path and the fix-ups (each adds at most one byte). */
    u->storage_ = malloc((size_t)(end - p) * 2 + 8);
    if (u->storage_ == NULL)
        return err_set(e, ERR_INTERNAL, "out of memory");
    o = u->storage_;
    memcpy(o, p, (size_t)(slash - p));
    o[slash - p] = '\0';
    u->signature = o;
    o += (slash - p) + 1;
    u->path = o;

    /* Options part: up to the first "/plain/", with %3A turned into ':'. */
    plen = (size_t)(end - slash);
    plain = memmem(slash, plen, "/plain/", 7);
    {
        const char *optend = plain ? plain : end;
        size_t olen = 0;

        for (const char *s = slash; s < optend; s++) {
            if (s + 2 < optend && s[0] == '%' && s[1] == '3' && s[2] == 'A') {
                o[olen++] = ':';
                s += 2;
            } else {
                o[olen++] = *s;
            }
        }
        if (plain != NULL) {
            memcpy(o + olen, "/plain/", 7);
            olen += 7;
            olen += fix_plain_scheme(plain + 7, (size_t)(end - plain - 7), o + olen);
        }
        o[olen] = '\0';
        u->path_len = olen;
    }
    return 0;
}

static bool is_resizing_type(const char *s)
{
    return strcmp(s, "fit") == 0 || strcmp(s, "fill") == 0 || strcmp(s, "fill-down") == 0 ||
           strcmp(s, "force") == 0 || strcmp(s, "auto") == 0;
}

/*
 * The /enc/ source: the n parts joined without their '/', an extension after
 * the last '.', the rest decrypted (encsrc.h) into joined, which has room for
 * the payload text and its NUL; the plaintext is always shorter.
 */
static int parse_enc(struct urlparts *u, char **parts, size_t n, char *joined, struct errinfo *e)
{
    size_t jl = 0, plen;
    char *mark, *url = NULL;
    int ret;

    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(parts[i]);

        memcpy(joined + jl, parts[i], l);
        jl += l;
    }
    joined[jl] = '\0';
    mark = strrchr(joined, '.');
    if (mark != NULL) {
        *mark = '\0';
        jl = (size_t)(mark - joined);
        if (mark[1] != '\0')
            u->ext = mark + 1;
    }
    if (jl == 0)
        return err_set(e, ERR_INVALID_URL, "Invalid path: Image URL is empty");
    ret = encsrc_decrypt(joined, jl, &url, &plen, e);
    if (ret < 0)
        return ret;
    memcpy(joined, url, plen + 1);
    g_free(url);
    u->source = joined;
    u->source_len = plen;
    u->encrypted = 1;
    return 0;
}

int url_parse_path(struct urlparts *u, char sep, struct errinfo *e)
{
    char *s, *parts[URL_MAX_SEGMENTS + 1];
    size_t nparts = 0, first_url;

    if (u->path == NULL || u->path_len <= 1)
        return err_set(e, ERR_INVALID_URL, "Invalid path: empty");
    u->storage2_ = malloc(u->path_len * 2 + 2);
    if (u->storage2_ == NULL)
        return err_set(e, ERR_INTERNAL, "out of memory");
    memcpy(u->storage2_, u->path + 1, u->path_len);
    s = u->storage2_;
    /* Split on '/' in place. */
    parts[nparts++] = s;
    for (char *c = s; *c; c++) {
        if (*c == '/') {
            if (nparts > URL_MAX_SEGMENTS)
                return err_set(e, ERR_INVALID_URL, "Invalid path: too many segments");
            *c = '\0';
            parts[nparts++] = c + 1;
        }
    }
    if (is_resizing_type(parts[0]))
        return err_set(e, ERR_INVALID_URL,
                       "Invalid path: It looks like you're using the deprecated basic URL "
                       "format");
    first_url = nparts;
    /* IMGPROXY_ONLY_PRESETS: the first segment is a preset list, whatever it holds. */
    if ((u->presets_override ? u->only_presets : cfg.only_presets) && nparts > 1) {
        u->segments[u->nsegments++] = parts[0];
        first_url = 1;
    } else {
        for (size_t i = 0; i < nparts; i++) {
            /* "-" closes one pipeline of a chain: only here, among the options. */
            if (strchr(parts[i], sep) == NULL && strcmp(parts[i], "-") != 0) {
                first_url = i;
                break;
            }
            /* parts holds one more than segments: a path of options only may fill it. */
            if (u->nsegments >= URL_MAX_SEGMENTS)
                return err_set(e, ERR_INVALID_URL, "Invalid path: too many segments");
            u->segments[u->nsegments++] = parts[i];
        }
    }
    /* Decoded source and extension go after the copy, in the second half. */
    {
        char *joined = u->storage2_ + u->path_len + 1;
        size_t jl = 0;
        bool plain = first_url < nparts && strcmp(parts[first_url], "plain") == 0;
        bool enc = first_url < nparts && strcmp(parts[first_url], "enc") == 0;
        size_t from = plain || enc ? first_url + 1 : first_url;
        char *mark;

        /* IMGPROXY_BASE64_URL_INCLUDES_FILENAME: the last segment is a name for humans. */
        if (!plain && cfg.base64_url_includes_filename && nparts - from > 1)
            nparts--;
        if (enc)
            return parse_enc(u, parts + from, nparts - from, joined, e);
        for (size_t i = from; i < nparts; i++) {
            size_t l = strlen(parts[i]);

            if (plain && i > from)
                joined[jl++] = '/';
            memcpy(joined + jl, parts[i], l);
            jl += l;
        }
        joined[jl] = '\0';
        mark = strchr(joined, plain ? '@' : '.');
        if (mark != NULL) {
            if (strchr(mark + 1, plain ? '@' : '.') != NULL)
                return err_set(e, ERR_INVALID_URL, "Invalid path: Multiple formats are specified");
            *mark = '\0';
            jl = (size_t)(mark - joined);
            if (mark[1] != '\0')
                u->ext = mark + 1;
        }
        if (jl == 0)
            return err_set(e, ERR_INVALID_URL, "Invalid path: Image URL is empty");
        /* Decoding never grows the string, so it can happen in place. */
        if (plain) {
            long n = url_unescape(joined, jl, joined);

            if (n < 0)
                return err_set(e, ERR_INVALID_URL, "Invalid path: Invalid url encoding");
            u->source_len = (size_t)n;
        } else {
            long n = url_base64_decode(joined, jl, (unsigned char *)joined);

            if (n < 0)
                return err_set(e, ERR_INVALID_URL, "Invalid path: Invalid url encoding");
            joined[n] = '\0';
            u->source_len = (size_t)n;
        }
        u->source = joined;
        if (memchr(u->source, '\0', u->source_len) != NULL)
            return err_set(e, ERR_INVALID_URL, "Invalid path: NUL in source URL");
    }
    return 0;
}

void url_release(struct urlparts *u)
{
    free(u->storage_);
    free(u->storage2_);
    memset(u, 0, sizeof(*u));
}

/* One `pattern=repl` pair applied to *url (replaced on a match). */
static void replace_one(char **url, const char *pair, size_t len)
{
    const char *eq = memchr(pair, '=', len);
    GString *re, *repl;
    GRegex *rx;
    char *out;

    if (eq == NULL || eq == pair)
        return;
    re = g_string_new("^");
    for (const char *p = pair; p < eq; p++) {
        if (*p == '*') {
            g_string_append(re, "([^/]*)");
        } else {
            char c[2] = {*p, '\0'};
            char *q = g_regex_escape_string(c, 1);

            g_string_append(re, q);
            g_free(q);
        }
    }
    /* ${N} -> \N; other backslashes are literal. */
    repl = g_string_new(NULL);
    for (const char *p = eq + 1; p < pair + len; p++) {
        if (p[0] == '$' && p + 1 < pair + len && p[1] == '{') {
            const char *close = memchr(p, '}', (size_t)(pair + len - p));

            if (close != NULL && close > p + 2 &&
                strspn(p + 2, "0123456789") == (size_t)(close - p - 2)) {
                g_string_append(repl, "\\g<");
                g_string_append_len(repl, p + 2, close - p - 2);
                g_string_append_c(repl, '>');
                p = close;
                continue;
            }
        }
        if (*p == '\\')
            g_string_append_c(repl, '\\');
        g_string_append_c(repl, *p);
    }
    /*
     * RAW: match bytes. A decoded source URL may be any bytes, and GLib 2.74's
     * UTF-8 mode reads past the end of a string that is not valid UTF-8.
     */
    rx = g_regex_new(re->str, G_REGEX_OPTIMIZE | G_REGEX_RAW, 0, NULL);
    if (rx != NULL) {
        out = g_regex_replace(rx, *url, -1, 0, repl->str, 0, NULL);
        if (out != NULL) {
            g_free(*url);
            *url = out;
        }
        g_regex_unref(rx);
    }
    g_string_free(re, TRUE);
    g_string_free(repl, TRUE);
}

char *url_preprocess(const char *src)
{
    char *url = g_strdup(src);
    const char *r = cfg.url_replacements;

    while (r != NULL && *r != '\0') {
        const char *semi = strchr(r, ';');
        size_t n = semi ? (size_t)(semi - r) : strlen(r);

        replace_one(&url, r, n);
        r = semi ? semi + 1 : NULL;
    }
    if (cfg.base_url != NULL && cfg.base_url[0] != '\0' &&
        strncmp(url, cfg.base_url, strlen(cfg.base_url)) != 0) {
        char *full = g_strconcat(cfg.base_url, url, NULL);

        g_free(url);
        url = full;
    }
    return url;
}
