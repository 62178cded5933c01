/* testutil.h: helpers shared by the unit tests (environment, exact-size buffers, doubles). */
#ifndef IMGFCGI_TESTUTIL_H
#define IMGFCGI_TESTUTIL_H

#include <stddef.h>

/* Unsets every IMGPROXY_* and IMGFCGI_* variable so config_load() sees defaults. */
void tu_clear_env(void);

/*
 * Clears the environment and loads the defaults into the global cfg.
 * Returns 0, or -1 (with the loader's message on stderr).
 */
int tu_load_default_cfg(void);

/*
 * cmocka group setup/teardown for tests that change the global cfg:
 * tu_cfg_setup() loads the defaults (tu_load_default_cfg()) and keeps a
 * copy; tu_cfg_reset(), a per-test setup, puts the copy back, so a test may
 * point cfg fields at its own data; tu_cfg_teardown() puts it back and
 * releases what config_load() allocated.
 */
int tu_cfg_setup(void **state);
int tu_cfg_reset(void **state);
int tu_cfg_teardown(void **state);

/*
 * A heap copy of exactly n bytes of p with no NUL after it, so a parser that
 * reads past its (s, len) bounds shows up under ASan. Caller frees with free().
 */
char *tu_memdup(const void *p, size_t n);

/* 1 when |a - b| <= eps. */
int tu_near(double a, double b, double eps);

#define TU_ASSERT_NEAR(a, b) assert_true(tu_near((a), (b), 1e-9))

/*
 * cmocka group setup/teardown for tests that run libvips pipelines: libvips
 * started, its operation cache off and one libvips thread per image (as
 * imgfcgi runs it); the teardown shuts libvips down.
 */
int tu_vips_setup(void **state);
int tu_vips_teardown(void **state);

/*
 * cmocka group setup/teardown for tests of imgfcgi's own pipeline: the
 * default cfg (tu_load_default_cfg()) and libvips started as imgfcgi starts
 * it (process_global_init()); the teardown releases cfg.
 */
int tu_process_setup(void **state);
int tu_process_teardown(void **state);

#endif
