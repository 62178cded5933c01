/*
 * svg.c: strips scripts, event handlers and external <use> references from SVG
 * text; finds entity declarations before an SVG is rasterised.
 */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "svg.h"
#include "banned.h"

/* buf_append for possibly empty spans (buf_append memcpy()s even 0 bytes). */
static int put(struct buf *b, const void *p, size_t n)
{
    return n == 0 ? 0 : buf_append(b, p, n);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static const char *find(const char *p, const char *end, const char *needle)
{
    size_t n = strlen(needle);

    for (; p + n <= end; p++)
        if (strncasecmp(p, needle, n) == 0)
            return p;
    return NULL;
}

/* The '>' that closes the tag starting at p, skipping quoted values; NULL if none. */
static const char *tag_end(const char *p, const char *end)
{
    char quote = 0;

    for (; p < end; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
        } else if (*p == '"' || *p == '\'') {
            quote = *p;
        } else if (*p == '>') {
            return p;
        }
    }
    return NULL;
}

/* The local name (after any prefix) of the tag name s..e equals want? */
static bool local_is(const char *s, const char *e, const char *want)
{
    const char *colon = memchr(s, ':', (size_t)(e - s));
    size_t n = strlen(want);

    if (colon != NULL)
        s = colon + 1;
    return (size_t)(e - s) == n && strncasecmp(s, want, n) == 0;
}

/* After the element whose start tag ends at gt: past its end tag, or end if none. */
static const char *skip_element(const char *gt, const char *end, const char *name, size_t nlen,
                                bool self_closing)
{
    const char *p = gt + 1;

    if (self_closing)
        return p;
    while ((p = find(p, end, "</")) != NULL) {
        if ((size_t)(end - p) >= nlen + 2 && strncasecmp(p + 2, name, nlen) == 0) {
            const char *close = tag_end(p, end);

            return close ? close + 1 : end;
        }
        p += 2;
    }
    return end;
}

struct attr {
    const char *start, *end; /* the whole attribute text */
    const char *name, *name_end;
    const char *value, *value_end; /* without quotes; NULL if none */
};

/* Parses the next attribute from *p (up to gt); false at the end of the tag. */
static bool next_attr(const char **p, const char *gt, struct attr *a)
{
    const char *s = *p;

    while (s < gt && is_space(*s))
        s++;
    if (s >= gt || *s == '/')
        return false;
    a->start = a->name = s;
    while (s < gt && !is_space(*s) && *s != '=' && *s != '/')
        s++;
    a->name_end = s;
    a->value = a->value_end = NULL;
    while (s < gt && is_space(*s))
        s++;
    if (s < gt && *s == '=') {
        s++;
        while (s < gt && is_space(*s))
            s++;
        if (s < gt && (*s == '"' || *s == '\'')) {
            char q = *s++;

            a->value = s;
            while (s < gt && *s != q)
                s++;
            a->value_end = s;
            if (s < gt)
                s++;
        } else {
            a->value = s;
            while (s < gt && !is_space(*s) && *s != '/')
                s++;
            a->value_end = s;
        }
    }
    if (s == a->start) /* a stray character: step over it */
        s++;
    a->end = s;
    *p = s;
    return true;
}

static bool attr_is(const struct attr *a, const char *want)
{
    return local_is(a->name, a->name_end, want);
}

int svg_sanitize(const char *in, size_t len, struct buf *out)
{
    const char *p = in, *end = in + len;

    while (p < end) {
        const char *lt = memchr(p, '<', (size_t)(end - p));
        const char *name, *name_end, *gt, *q;
        bool self_closing, drop = false;
        struct attr a;

        if (lt == NULL) {
            if (put(out, p, (size_t)(end - p)) < 0)
                return -1;
            break;
        }
        if (put(out, p, (size_t)(lt - p)) < 0)
            return -1;
        /* Comments, CDATA, declarations, processing instructions, end tags: as they are. */
        if (lt + 1 < end && (lt[1] == '!' || lt[1] == '?' || lt[1] == '/')) {
            const char *stop;

            if ((size_t)(end - lt) >= 4 && strncmp(lt, "<!--", 4) == 0) {
                stop = find(lt + 4, end, "-->");
                stop = stop ? stop + 3 : end;
            } else if ((size_t)(end - lt) >= 9 && strncmp(lt, "<![CDATA[", 9) == 0) {
                stop = find(lt + 9, end, "]]>");
                stop = stop ? stop + 3 : end;
            } else {
                stop = tag_end(lt, end);
                stop = stop ? stop + 1 : end;
            }
            if (put(out, lt, (size_t)(stop - lt)) < 0)
                return -1;
            p = stop;
            continue;
        }
        name = lt + 1;
        name_end = name;
        while (name_end < end && !is_space(*name_end) && *name_end != '>' && *name_end != '/')
            name_end++;
        gt = tag_end(name_end, end);
        if (gt == NULL) /* an unterminated tag: drop the rest */
            break;
        self_closing = gt > name_end && gt[-1] == '/';
        if (local_is(name, name_end, "script") || local_is(name, name_end, "iframe")) {
            p = skip_element(gt, end, name, (size_t)(name_end - name), self_closing);
            continue;
        }
        if (local_is(name, name_end, "use")) {
            q = name_end;
            while (next_attr(&q, gt, &a))
                if (attr_is(&a, "href") && a.value != NULL &&
                    (a.value == a.value_end || a.value[0] != '#'))
                    drop = true;
            if (drop) {
                p = skip_element(gt, end, name, (size_t)(name_end - name), self_closing);
                continue;
            }
        }
        /* Copy the tag without on* attributes. */
        if (put(out, lt, (size_t)(name_end - lt)) < 0)
            return -1;
        q = name_end;
        while (next_attr(&q, gt, &a)) {
            if ((size_t)(a.name_end - a.name) >= 2 && strncasecmp(a.name, "on", 2) == 0)
                continue;
            if (put(out, " ", 1) < 0 || put(out, a.start, (size_t)(a.end - a.start)) < 0)
                return -1;
        }
        if (put(out, self_closing ? "/>" : ">", self_closing ? 2 : 1) < 0)
            return -1;
        p = gt + 1;
    }
    return 0;
}

/* The next c outside quotes and comments in p..end, or NULL. */
static const char *unquoted(const char *p, const char *end, char c)
{
    for (; p < end; p++) {
        if ((size_t)(end - p) >= 4 && strncmp(p, "<!--", 4) == 0) {
            p = find(p + 4, end, "-->");
            if (p == NULL)
                return NULL;
            p += 2;
        } else if (*p == c) {
            return p;
        } else if (*p == '"' || *p == '\'') {
            p = memchr(p + 1, *p, (size_t)(end - p - 1));
            if (p == NULL)
                return NULL;
        }
    }
    return NULL;
}

bool svg_declares_entities(const char *data, size_t len)
{
    const char *end = data + len, *doctype, *open, *close;

    doctype = find(data, end, "<!DOCTYPE");
    if (doctype == NULL)
        return false;
    /* The internal subset: from the '[' before the DOCTYPE's '>' to its ']'. */
    open = unquoted(doctype + 9, end, '[');
    close = unquoted(doctype + 9, end, '>');
    if (open == NULL || (close != NULL && close < open))
        return false;
    close = unquoted(open + 1, end, ']');
    if (close == NULL)
        close = end;
    for (const char *p = unquoted(open + 1, close, '<'); p != NULL; p = unquoted(p + 1, close, '<'))
        if ((size_t)(close - p) >= 8 && strncmp(p, "<!ENTITY", 8) == 0)
            return true;
    return false;
}

bool svg_style_acceptable(const char *css, size_t len)
{
    const char *end = css + len;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)css[i];

        /* Markup, entities and CSS escapes (which could spell the words below). */
        if (c == '<' || c == '>' || c == '&' || c == '\\' || c == 0x7f ||
            (c < 0x20 && c != '\t' && c != '\n' && c != '\r'))
            return false;
    }
    /* Nothing that makes librsvg fetch or read another resource. */
    return find(css, end, "@import") == NULL && find(css, end, "url(") == NULL &&
           find(css, end, "image(") == NULL && find(css, end, "image-set(") == NULL;
}

/* Past the XML declaration, comments, processing instructions and DOCTYPE before the root. */
static const char *prolog_end(const char *p, const char *end)
{
    for (;;) {
        const char *lt = memchr(p, '<', (size_t)(end - p));
        const char *stop;

        if (lt == NULL || lt + 1 >= end)
            return end;
        if ((size_t)(end - lt) >= 4 && strncmp(lt, "<!--", 4) == 0) {
            stop = find(lt + 4, end, "-->");
            stop = stop ? stop + 3 : NULL;
        } else if (lt[1] == '?') {
            stop = find(lt + 2, end, "?>");
            stop = stop ? stop + 2 : NULL;
        } else if (lt[1] == '!') {
            /* DOCTYPE, with its internal subset in [...] if any. */
            const char *open = unquoted(lt + 2, end, '['), *close = unquoted(lt + 2, end, '>');

            if (open != NULL && (close == NULL || open < close)) {
                close = unquoted(open + 1, end, ']');
                close = close ? unquoted(close, end, '>') : NULL;
            }
            stop = close ? close + 1 : NULL;
        } else {
            return lt;
        }
        if (stop == NULL)
            return end;
        p = stop;
    }
}

int svg_inject_style(const char *in, size_t len, const char *css, size_t css_len, struct buf *out)
{
    const char *end = in + len, *lt = prolog_end(in, end), *name, *name_end, *gt;
    bool self_closing;

    if (lt >= end)
        return put(out, in, len);
    name = lt + 1;
    name_end = name;
    while (name_end < end && !is_space(*name_end) && *name_end != '>' && *name_end != '/')
        name_end++;
    gt = tag_end(name_end, end);
    if (gt == NULL || !local_is(name, name_end, "svg"))
        return put(out, in, len);
    self_closing = gt > name_end && gt[-1] == '/';
    /* The root's start tag, then the style element, then the rest (a self-closing root opens). */
    if (put(out, in, (size_t)((self_closing ? gt - 1 : gt) - in)) < 0 || put(out, ">", 1) < 0 ||
        put(out, "<style>", 7) < 0 || put(out, css, css_len) < 0 || put(out, "</style>", 8) < 0)
        return -1;
    if (self_closing) {
        if (put(out, "</", 2) < 0 || put(out, name, (size_t)(name_end - name)) < 0 ||
            put(out, ">", 1) < 0)
            return -1;
        return put(out, gt + 1, (size_t)(end - gt - 1));
    }
    return put(out, gt + 1, (size_t)(end - gt - 1));
}
