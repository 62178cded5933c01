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

#endif
