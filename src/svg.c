/*
 * svg.c: strips scripts, event handlers and external <use> references from SVG
 * text; measures what its internal DTD's entities expand to.
 */
#include <stdbool.h>
#include <stdlib.h>
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

/* Entities of an internal DTD subset, for svg_entities_too_big. */
#define SVG_MAX_ENTITIES 256

struct entity {
    const char *name, *value; /* value NULL: an external entity (libxml2 does not load it) */
    size_t nlen, vlen;
    unsigned long long size; /* expanded, saturated at dtd.cap */
    int state;               /* 0 not measured, 1 being measured (a loop if met again), 2 done */
};

struct dtd {
    struct entity e[SVG_MAX_ENTITIES];
    size_t n;
    unsigned long long cap; /* sizes stop growing here: the document is too big */
    bool bad;               /* a loop, a parameter entity, too many entities */
};

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == ':' || c == '-' || c == '.' || (unsigned char)c >= 0x80;
}

static const char *skip_space(const char *p, const char *end)
{
    while (p < end && is_space(*p))
        p++;
    return p;
}

/* Bytes p..end become once every reference to a declared entity is replaced. */
static unsigned long long expanded_size(struct dtd *d, const char *p, const char *end)
{
    unsigned long long total = 0;

    while (p < end && !d->bad) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *q;
        struct entity *e = NULL;

        if (amp == NULL) {
            total += (unsigned long long)(end - p);
            break;
        }
        total += (unsigned long long)(amp - p) + 1;
        q = amp + 1;
        while (q < end && name_char(*q))
            q++;
        p = amp + 1;
        if (q == amp + 1 || q >= end || *q != ';')
            continue; /* not a named reference: counted as text */
        for (size_t i = 0; i < d->n && e == NULL; i++)
            if (d->e[i].nlen == (size_t)(q - amp - 1) &&
                memcmp(d->e[i].name, amp + 1, d->e[i].nlen) == 0)
                e = &d->e[i];
        p = q + 1;
        if (e == NULL)
            continue; /* a predefined or undeclared entity */
        if (e->state == 1) {
            d->bad = true;
            break;
        }
        if (e->state == 0) {
            e->state = 1;
            e->size = e->value != NULL ? expanded_size(d, e->value, e->value + e->vlen) : 0;
            e->state = 2;
        }
        total += e->size;
        if (total >= d->cap)
            return d->cap;
    }
    return total < d->cap ? total : d->cap;
}

/* Reads the declarations of the internal subset p..end into d. */
static void read_subset(struct dtd *d, const char *p, const char *end)
{
    while (p < end && !d->bad) {
        const char *lt = memchr(p, '<', (size_t)(end - p));
        const char *q;
        struct entity *e;

        if (lt == NULL)
            break;
        if ((size_t)(end - lt) >= 4 && strncmp(lt, "<!--", 4) == 0) {
            q = find(lt + 4, end, "-->");
            p = q != NULL ? q + 3 : end;
            continue;
        }
        if ((size_t)(end - lt) < 9 || strncmp(lt, "<!ENTITY", 8) != 0 || !is_space(lt[8])) {
            q = tag_end(lt + 1, end);
            p = q != NULL ? q + 1 : end;
            continue;
        }
        q = skip_space(lt + 8, end);
        if (q < end && *q == '%') {
            d->bad = true; /* parameter entities: not something an image needs */
            break;
        }
        if (d->n == SVG_MAX_ENTITIES) {
            d->bad = true;
            break;
        }
        e = &d->e[d->n];
        memset(e, 0, sizeof(*e));
        e->name = q;
        while (q < end && name_char(*q))
            q++;
        e->nlen = (size_t)(q - e->name);
        q = skip_space(q, end);
        if (q < end && (*q == '"' || *q == '\'')) {
            const char *close = memchr(q + 1, *q, (size_t)(end - q - 1));

            if (close == NULL)
                break;
            e->value = q + 1;
            e->vlen = (size_t)(close - q - 1);
            q = close + 1;
        }
        if (e->nlen > 0)
            d->n++;
        q = tag_end(q, end);
        p = q != NULL ? q + 1 : end;
    }
}

bool svg_entities_too_big(const char *data, size_t len)
{
    const char *end = data + len, *p, *q, *body;
    struct dtd *d;
    unsigned long long size;
    bool too_big;

    p = find(data, end, "<!DOCTYPE");
    if (p == NULL)
        return false;
    /* The internal subset: from '[' to the ']' before the DOCTYPE's '>', quotes skipped. */
    for (q = p + 9; q < end && *q != '[' && *q != '>'; q++)
        if (*q == '"' || *q == '\'') {
            const char *close = memchr(q + 1, *q, (size_t)(end - q - 1));

            if (close == NULL)
                return false;
            q = close;
        }
    if (q >= end || *q != '[')
        return false;
    p = q + 1;
    for (q = p; q < end && *q != ']'; q++) {
        if (*q == '"' || *q == '\'') {
            const char *close = memchr(q + 1, *q, (size_t)(end - q - 1));

            if (close == NULL)
                return false;
            q = close;
        } else if ((size_t)(end - q) >= 4 && strncmp(q, "<!--", 4) == 0) {
            const char *close = find(q + 4, end, "-->");

            if (close == NULL)
                return false;
            q = close + 2;
        }
    }
    if (q >= end)
        return false;
    body = q + 1;
    d = calloc(1, sizeof(*d));
    if (d == NULL)
        return true; /* cannot tell: do not hand it to libxml2 */
    d->cap = (unsigned long long)(end - body) + SVG_MAX_ENTITY_EXPANSION + 1;
    read_subset(d, p, q);
    size = d->bad ? 0 : expanded_size(d, body, end);
    too_big = d->bad || size >= d->cap;
    free(d);
    return too_big;
}
