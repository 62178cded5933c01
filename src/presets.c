/* presets.c: the preset table, filled once at start-up and read-only afterwards. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "options.h"
#include "presets.h"
#include "banned.h"

/* The recursion guard in struct procopts has one bit per preset. */
#define MAX_PRESETS 512

static struct preset table[MAX_PRESETS];
static size_t ntable;

size_t presets_count(void)
{
    return ntable;
}

static void preset_free(struct preset *p)
{
    for (size_t i = 0; i < p->nsegments; i++)
        free(p->segments[i]);
    free(p->segments);
    free(p->name);
    memset(p, 0, sizeof(*p));
}

void presets_release(void)
{
    for (size_t i = 0; i < ntable; i++)
        preset_free(&table[i]);
    ntable = 0;
}

const struct preset *presets_find(const char *name, size_t len)
{
    for (size_t i = 0; i < ntable; i++)
        if (strlen(table[i].name) == len && memcmp(table[i].name, name, len) == 0)
            return &table[i];
    return NULL;
}

int presets_index(const struct preset *p)
{
    return (int)(p - table);
}

static void trim_span(const char **s, size_t *len)
{
    while (*len > 0 && (**s == ' ' || **s == '\t' || **s == '\r' || **s == '\n')) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t' || (*s)[*len - 1] == '\r' ||
                        (*s)[*len - 1] == '\n'))
        (*len)--;
}

int presets_add(const char *def, size_t len, char *err, size_t errlen)
{
    const char *eq, *v, *end;
    struct preset p = {0};
    size_t nlen;

    trim_span(&def, &len);
    if (len == 0)
        return 0;
    eq = memchr(def, '=', len);
    if (eq == NULL) {
        snprintf(err, errlen, "Invalid preset string: %.*s", (int)(len > 100 ? 100 : len), def);
        return -1;
    }
    nlen = (size_t)(eq - def);
    trim_span(&def, &nlen);
    if (nlen == 0 || eq + 1 >= def + len) { /* "name=" and "=value" are both invalid */
        snprintf(err, errlen, "Empty preset name or value: %.*s", (int)(len > 100 ? 100 : len),
                 def);
        return -1;
    }
    if (ntable >= MAX_PRESETS) {
        snprintf(err, errlen, "Too many presets (max %d)", MAX_PRESETS);
        return -1;
    }
    p.name = strndup(def, nlen);
    if (p.name == NULL)
        goto oom;
    v = eq + 1;
    end = def + len;
    {
        size_t vlen = (size_t)(end - v);

        trim_span(&v, &vlen);
        end = v + vlen;
    }
    while (v < end) {
        const char *slash = memchr(v, '/', (size_t)(end - v));
        size_t slen = slash ? (size_t)(slash - v) : (size_t)(end - v);

        if (slen > 0) {
            char **segs = realloc(p.segments, (p.nsegments + 1) * sizeof(char *));

            if (segs == NULL)
                goto oom;
            p.segments = segs;
            p.segments[p.nsegments] = strndup(v, slen);
            if (p.segments[p.nsegments] == NULL)
                goto oom;
            p.nsegments++;
        }
        if (slash == NULL)
            break;
        v = slash + 1;
    }
    table[ntable++] = p;
    return 0;
oom:
    preset_free(&p);
    snprintf(err, errlen, "presets: out of memory");
    return -1;
}

static int add_list(const char *s, char sep, char *err, size_t errlen)
{
    while (s != NULL && *s != '\0') {
        const char *next = strchr(s, sep);
        size_t n = next ? (size_t)(next - s) : strlen(s);

        if (presets_add(s, n, err, errlen) < 0)
            return -1;
        s = next ? next + 1 : NULL;
    }
    return 0;
}

static int add_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int ret = 0;

    if (f == NULL) {
        snprintf(err, errlen, "IMGPROXY_PRESETS_PATH: can't open %s", path);
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char *hash = strchr(line, '#');

        if (hash != NULL)
            *hash = '\0';
        if (presets_add(line, strlen(line), err, errlen) < 0) {
            ret = -1;
            break;
        }
    }
    fclose(f);
    return ret;
}

int presets_init(char *err, size_t errlen)
{
    char sep = cfg.presets_separator && cfg.presets_separator[0] ? cfg.presets_separator[0] : ',';

    if (add_list(cfg.presets, sep, err, errlen) < 0)
        return -1;
    if (cfg.presets_path != NULL && cfg.presets_path[0] != '\0' &&
        add_file(cfg.presets_path, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < ntable; i++) {
        struct procopts po;
        struct errinfo e;

        options_init(&po);
        err_clear(&e);
        if (options_apply_preset(&po, table[i].name, strlen(table[i].name),
                                 cfg.arguments_separator[0], &e) < 0) {
            snprintf(err, errlen, "Invalid preset %s: %s", table[i].name, e.msg);
            return -1;
        }
    }
    return 0;
}
