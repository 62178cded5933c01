/* parse.h: small value parsers shared by the config table, URLs and options. */
#ifndef IMGFCGI_PARSE_H
#define IMGFCGI_PARSE_H

#include <stdbool.h>

/* Value of hex digit c, or -1. */
int parse_hex_digit(int c);

/*
 * Go's strconv.ParseBool spellings: 1 t T TRUE true True / 0 f F FALSE false
 * False. Returns 0 and sets *out, or -1 for anything else (out untouched).
 */
int parse_go_bool(const char *s, bool *out);

#endif
