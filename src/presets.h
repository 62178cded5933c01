/* presets.h: named option lists from IMGPROXY_PRESETS / IMGPROXY_PRESETS_PATH. */
#ifndef IMGFCGI_PRESETS_H
#define IMGFCGI_PRESETS_H

#include <stddef.h>

/* One preset: `name=opt/opt/...`, its options split at '/'. */
struct preset {
    char *name;
    char **segments;
    size_t nsegments;
};

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
