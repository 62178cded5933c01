/* fuzzutil.c: a fixed configuration, exact-size input copies and the option targets' input head. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fuzzutil.h"
#include "log.h"

void fuzz_config(const char *const *env)
{
    char *names[512];
    size_t n = 0;
    char err[512] = "";

    /* Collect first: unsetenv() reshuffles environ while we walk it. */
    for (char **e = environ; e != NULL && *e != NULL && n < sizeof(names) / sizeof(names[0]); e++) {
        const char *eq;

        if (strncmp(*e, "IMGPROXY_", 9) != 0 && strncmp(*e, "IMGFCGI_", 8) != 0)
            continue;
        eq = strchr(*e, '=');
        names[n] = strndup(*e, eq != NULL ? (size_t)(eq - *e) : strlen(*e));
        if (names[n] != NULL)
            n++;
    }
    for (size_t i = 0; i < n; i++) {
        unsetenv(names[i]);
        free(names[i]);
    }
    for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
        const char *eq = strchr(env[i], '=');
        char *name;

        if (eq == NULL)
            continue;
        name = strndup(env[i], (size_t)(eq - env[i]));
        if (name == NULL || setenv(name, eq + 1, 1) != 0) {
            fprintf(stderr, "fuzz: setenv failed\n");
            exit(1);
        }
        free(name);
    }
    memset(&cfg, 0, sizeof(cfg));
    if (config_load(&cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz: config refused: %s\n", err);
        exit(1);
    }
    /* Every log line is formatted, so the logging of hostile input is fuzzed too;
     * `make fuzz-run` closes the target's stderr (-close_fd_mask=2). */
    log_set_level(LOG_DEBUG);
}

char *fuzz_dup(const uint8_t *data, size_t size)
{
    /* malloc(0) may return NULL; one byte keeps the pointer valid but unread. */
    char *p = malloc(size > 0 ? size : 1);

    if (p == NULL)
        abort();
    if (size > 0)
        memcpy(p, data, size);
    return p;
}

char *fuzz_strdup(const uint8_t *data, size_t size)
{
    char *p = malloc(size + 1);

    if (p == NULL)
        abort();
    if (size > 0)
        memcpy(p, data, size);
    p[size] = '\0';
    return p;
}

/* Gives the ';'-separated definitions in s[0..len) to add; stops at the first refused one. */
static void add_defs(const char *s, size_t len, fuzz_add_fn add)
{
    char err[256];

    while (len > 0) {
        const char *semi = memchr(s, ';', len);
        size_t n = semi != NULL ? (size_t)(semi - s) : len;

        if (add(s, n, err, sizeof(err)) < 0)
            return;
        if (semi == NULL)
            return;
        s += n + 1;
        len -= n + 1;
    }
}

const uint8_t *fuzz_option_head(const uint8_t *data, size_t size, fuzz_add_fn add, char *sep)
{
    const uint8_t *nl;
    char *defs;

    *sep = (data[0] & 1) != 0 ? ',' : ':';
    cfg.allow_security_options = (data[0] & 2) != 0;
    data++;
    size--;
    nl = memchr(data, '\n', size);
    if (nl == NULL)
        return data;
    defs = fuzz_dup(data, (size_t)(nl - data));
    add_defs(defs, (size_t)(nl - data), add);
    free(defs);
    return nl + 1;
}
