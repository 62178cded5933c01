/* fuzzutil.h: what the libFuzzer targets in tests/fuzz share. */
#ifndef IMGFCGI_FUZZUTIL_H
#define IMGFCGI_FUZZUTIL_H

#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry points, declared for -Wmissing-prototypes. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Loads cfg from an environment made of env only ("NAME=value" strings,
 * NULL-terminated; every other IMGPROXY_* and IMGFCGI_* variable is removed).
 * Exits the process when the configuration is refused: a harness bug.
 */
void fuzz_config(const char *const *env);

/* Defines LLVMFuzzerInitialize for a target whose only set-up is fuzz_config(env). */
#define FUZZ_INIT_CONFIG(env)                                                                      \
    int LLVMFuzzerInitialize(int *argc, char ***argv)                                              \
    {                                                                                              \
        (void)argc;                                                                                \
        (void)argv;                                                                                \
        fuzz_config(env);                                                                          \
        return 0;                                                                                  \
    }

/*
 * An exact-size heap copy of data (no NUL after it), so reading past the
 * end is an ASan report. Caller frees with free().
 */
char *fuzz_dup(const uint8_t *data, size_t size);

/* The same with a NUL after size bytes. Caller frees with free(). */
char *fuzz_strdup(const uint8_t *data, size_t size);

/* How a target adds one preset definition: presets_add(), info_presets_add(). */
typedef int (*fuzz_add_fn)(const char *def, size_t len, char *err, size_t errlen);

/*
 * The head of an option target's input (size >= 1): byte 0 holds flags
 * (bit 0 ',' as the arguments separator, returned in *sep; bit 1
 * IMGPROXY_ALLOW_SECURITY_OPTIONS, set in cfg: the caller saves and restores
 * it); then, up to the first '\n', preset definitions split by ';', given to
 * add until one is refused. Returns where the option segments start; they
 * end at data + size.
 */
const uint8_t *fuzz_option_head(const uint8_t *data, size_t size, fuzz_add_fn add, char *sep);

#endif
