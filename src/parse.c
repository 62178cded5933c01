/* parse.c: small value parsers shared by the config table, URLs and options. */
#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "banned.h"

int parse_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int parse_go_bool(const char *s, bool *out)
{
    static const char *yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *no[] = {"0", "f", "F", "FALSE", "false", "False"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

int parse_split(const char *s, size_t len, char sep, bool skip_empty, char ***items, size_t *n)
{
    const char *end = s + len;

    for (;;) {
        const char *at = memchr(s, sep, (size_t)(end - s));
        size_t part = at != NULL ? (size_t)(at - s) : (size_t)(end - s);

        if (part > 0 || !skip_empty) {
            char **grown = realloc(*items, (*n + 1) * sizeof(char *));

            if (grown == NULL)
                return -1;
            *items = grown;
            (*items)[*n] = strndup(s, part);
            if ((*items)[*n] == NULL)
                return -1;
            (*n)++;
        }
        if (at == NULL)
            return 0;
        s = at + 1;
    }
}
