/* presets.h: named option lists from IMGPROXY_PRESETS / IMGPROXY_PRESETS_PATH. */
#ifndef IMGFCGI_PRESETS_H
#define IMGFCGI_PRESETS_H

#include <stddef.h>

#include "errors.h"

/* One preset: `name=opt/opt/...`, its options split at '/'. */
struct preset {
    char *name;
    char **segments;
    size_t nsegments;
};

/*
 * A table of presets, filled at start-up and read-only afterwards: the
 * processing presets below and the /info presets (info.c) each own one,
 * with rows of their own (max of them). what names the table in messages
 * ("preset", "info preset"), path_var the setting that names its file.
 */
struct preset_table {
    const char *what;
    const char *path_var;
    struct preset *rows;
    size_t max;
    size_t n;
};

/*
 * Checks the preset name (len bytes) of a table as a request would use it:
 * applied to default options, 0 or an error code with e set.
 */
typedef int (*preset_check_fn)(const char *name, size_t len, struct errinfo *e);

/*
 * Adds one `name=opt/opt` definition (len bytes, blanks around the name and
 * the value ignored, empty options dropped) to t. An empty definition adds
 * nothing. Returns 0, or -1 with a message in err (no '=', an empty name or
 * value, t full, no memory).
 */
int preset_table_add(struct preset_table *t, const char *def, size_t len, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * Adds the definitions of list (split by IMGPROXY_PRESETS_SEPARATOR; NULL
 * for none) and of the lines of the file path (`#` starts a comment; NULL or
 * "" for none), then checks every preset of t with check. Returns 0, or -1
 * with a message in err.
 */
int preset_table_load(struct preset_table *t, const char *list, const char *path,
                      preset_check_fn check, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The row of t named name (len bytes), or NULL. t owns it. */
const struct preset *preset_table_find(const struct preset_table *t, const char *name, size_t len);

/* Frees t's rows and empties it; an empty table is a no-op. */
void preset_table_release(struct preset_table *t);

/*
 * Reads IMGPROXY_PRESETS (entries split by IMGPROXY_PRESETS_SEPARATOR) and
 * the lines of IMGPROXY_PRESETS_PATH (`#` starts a comment), then validates
 * every preset by applying it to default options. Call once after
 * config_load(), before threads start. Returns 0, or -1 with a message in err.
 */
int presets_init(char *err, size_t errlen) __attribute__((warn_unused_result));

/* Frees the table; safe to call when presets_init() failed or never ran. */
void presets_release(void);

/* The preset named name (len bytes), or NULL. The table owns it. */
const struct preset *presets_find(const char *name, size_t len);

/* The position of p in the table (for a per-request recursion guard). */
int presets_index(const struct preset *p);

/* Number of presets loaded. */
size_t presets_count(void);

/*
 * Adds one `name=opt/opt` definition (len bytes). Used by presets_init() and
 * by tests. Returns 0 or -1 with a message in err.
 */
int presets_add(const char *def, size_t len, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
