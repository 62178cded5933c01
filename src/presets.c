/* presets.c: preset tables, filled once at start-up and read-only afterwards. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "options.h"
#include "parse.h"
#include "presets.h"
#include "banned.h"

/* The recursion guard in struct procopts has one bit per preset. */
#define MAX_PRESETS 512

static struct preset rows[MAX_PRESETS];
static struct preset_table table = {
    .what = "preset", .path_var = "IMGPROXY_PRESETS_PATH", .rows = rows, .max = MAX_PRESETS};

static void preset_free(struct preset *p)
{
    for (size_t i = 0; i < p->nsegments; i++)
        free(p->segments[i]);
    free(p->segments);
    free(p->name);
    memset(p, 0, sizeof(*p));
}

void preset_table_release(struct preset_table *t)
{
    for (size_t i = 0; i < t->n; i++)
        preset_free(&t->rows[i]);
    t->n = 0;
}

const struct preset *preset_table_find(const struct preset_table *t, const char *name, size_t len)
{
    for (size_t i = 0; i < t->n; i++)
        if (strlen(t->rows[i].name) == len && memcmp(t->rows[i].name, name, len) == 0)
            return &t->rows[i];
    return NULL;
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

int preset_table_add(struct preset_table *t, const char *def, size_t len, char *err, size_t errlen)
{
    const char *eq, *v;
    struct preset p = {0};
    size_t nlen, vlen;

    trim_span(&def, &len);
    if (len == 0)
        return 0;
    eq = memchr(def, '=', len);
    if (eq == NULL) {
        snprintf(err, errlen, "Invalid %s string: %.*s", t->what, (int)(len > 100 ? 100 : len),
                 def);
        return -1;
    }
    nlen = (size_t)(eq - def);
    trim_span(&def, &nlen);
    if (nlen == 0 || eq + 1 >= def + len) { /* "name=" and "=value" are both invalid */
        snprintf(err, errlen, "Empty %s name or value: %.*s", t->what, (int)(len > 100 ? 100 : len),
                 def);
        return -1;
    }
    if (t->n >= t->max) {
        snprintf(err, errlen, "Too many %ss (max %zu)", t->what, t->max);
        return -1;
    }
    v = eq + 1;
    vlen = (size_t)(def + len - v);
    trim_span(&v, &vlen);
    p.name = strndup(def, nlen);
    if (p.name == NULL || parse_split(v, vlen, '/', true, &p.segments, &p.nsegments) < 0) {
        preset_free(&p);
        snprintf(err, errlen, "%ss: out of memory", t->what);
        return -1;
    }
    t->rows[t->n++] = p;
    return 0;
}

static int add_list(struct preset_table *t, const char *s, char *err, size_t errlen)
{
    char sep = cfg.presets_separator && cfg.presets_separator[0] ? cfg.presets_separator[0] : ',';

    while (s != NULL && *s != '\0') {
        const char *next = strchr(s, sep);
        size_t n = next ? (size_t)(next - s) : strlen(s);

        if (preset_table_add(t, s, n, err, errlen) < 0)
            return -1;
        s = next ? next + 1 : NULL;
    }
    return 0;
}

static int add_file(struct preset_table *t, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int ret = 0;

    if (f == NULL) {
        snprintf(err, errlen, "%s: can't open %s", t->path_var, path);
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char *hash = strchr(line, '#');

        if (hash != NULL)
            *hash = '\0';
        if (preset_table_add(t, line, strlen(line), err, errlen) < 0) {
            ret = -1;
            break;
        }
    }
    fclose(f);
    return ret;
}

int preset_table_load(struct preset_table *t, const char *list, const char *path,
                      preset_check_fn check, char *err, size_t errlen)
{
    if (add_list(t, list, err, errlen) < 0)
        return -1;
    if (path != NULL && path[0] != '\0' && add_file(t, path, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < t->n; i++) {
        struct errinfo e;

        err_clear(&e);
        if (check(t->rows[i].name, strlen(t->rows[i].name), &e) < 0) {
            snprintf(err, errlen, "Invalid %s %s: %s", t->what, t->rows[i].name, e.msg);
            return -1;
        }
    }
    return 0;
}

/* The processing presets. */

size_t presets_count(void)
{
    return table.n;
}

void presets_release(void)
{
    preset_table_release(&table);
}

const struct preset *presets_find(const char *name, size_t len)
{
    return preset_table_find(&table, name, len);
}

int presets_index(const struct preset *p)
{
    return (int)(p - table.rows);
}

int presets_add(const char *def, size_t len, char *err, size_t errlen)
{
    return preset_table_add(&table, def, len, err, errlen);
}

/* A preset applied to default processing options. */
static int check_preset(const char *name, size_t len, struct errinfo *e)
{
    struct procopts po;

    options_init(&po);
    return options_apply_preset(&po, name, len, cfg.arguments_separator[0], e);
}

int presets_init(char *err, size_t errlen)
{
    return preset_table_load(&table, cfg.presets, cfg.presets_path, check_preset, err, errlen);
}
