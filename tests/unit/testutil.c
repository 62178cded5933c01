/* testutil.c: helpers shared by the unit tests. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vips/vips.h>

#include "config.h"
#include "process.h"
#include "testutil.h"

void tu_clear_env(void)
{
    char *names[512];
    size_t n = 0;

    /* Collect first: unsetenv() reshuffles environ while we walk it. */
    for (char **e = environ; e && *e && n < sizeof names / sizeof names[0]; e++) {
        if (strncmp(*e, "IMGPROXY_", 9) != 0 && strncmp(*e, "IMGFCGI_", 8) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        size_t len = eq ? (size_t)(eq - *e) : strlen(*e);
        names[n] = strndup(*e, len);
        if (names[n])
            n++;
    }
    for (size_t i = 0; i < n; i++) {
        unsetenv(names[i]);
        free(names[i]);
    }
}

int tu_load_default_cfg(void)
{
    char err[512] = "";

    tu_clear_env();
    memset(&cfg, 0, sizeof cfg);
    if (config_load(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "config_load with an empty environment failed: %s\n", err);
        return -1;
    }
    return 0;
}

/* The defaults as tu_cfg_setup() loaded them, put back by tu_cfg_reset(). */
static struct config tu_saved_cfg;

int tu_cfg_setup(void **state)
{
    (void)state;
    if (tu_load_default_cfg() != 0)
        return -1;
    tu_saved_cfg = cfg;
    return 0;
}

int tu_cfg_reset(void **state)
{
    (void)state;
    cfg = tu_saved_cfg;
    return 0;
}

int tu_cfg_teardown(void **state)
{
    (void)state;
    cfg = tu_saved_cfg;
    config_release(&cfg);
    return 0;
}

char *tu_memdup(const void *p, size_t n)
{
    /* malloc(0) may return NULL; one spare byte keeps the pointer valid but unread. */
    char *c = malloc(n ? n : 1);

    if (!c)
        abort();
    if (n)
        memcpy(c, p, n);
    return c;
}

int tu_near(double a, double b, double eps)
{
    return fabs(a - b) <= eps;
}

int tu_vips_setup(void **state)
{
    (void)state;
    if (VIPS_INIT("imgfcgi-unit-test") != 0)
        return -1;
    vips_cache_set_max(0);
    vips_concurrency_set(1);
    return 0;
}

int tu_vips_teardown(void **state)
{
    (void)state;
    vips_shutdown();
    return 0;
}

int tu_process_setup(void **state)
{
    (void)state;
    if (tu_load_default_cfg() < 0)
        return -1;
    return process_global_init("imgfcgi-unit-test");
}

int tu_process_teardown(void **state)
{
    (void)state;
    config_release(&cfg);
    return 0;
}
