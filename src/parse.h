/* parse.h: small value parsers shared by the config table, URLs and options. */
#ifndef IMGFCGI_PARSE_H
#define IMGFCGI_PARSE_H

#include <stdbool.h>
#include <stddef.h>

/* Value of hex digit c, or -1. */
int parse_hex_digit(int c);

/*
 * Go's strconv.ParseBool spellings: 1 t T TRUE true True / 0 f F FALSE false
 * False. Returns 0 and sets *out, or -1 for anything else (out untouched).
 */
int parse_go_bool(const char *s, bool *out);

/*
 * Appends the parts of s (len bytes, no NUL needed) split at sep to *items,
 * *n of them (the array grown with realloc, each part a strndup copy; the
 * caller frees both), empty parts dropped when skip_empty. Returns 0, or -1
 * when out of memory (what was appended stays, for the caller to free).
 */
int parse_split(const char *s, size_t len, char sep, bool skip_empty, char ***items, size_t *n)
    __attribute__((warn_unused_result));

#endif
