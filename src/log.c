/* log.c: timestamped lines on stderr, each written with a single write(2). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "banned.h"

static enum log_level min_level = LOG_INFO;

void log_set_level(enum log_level level)
{
    min_level = level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    char line[4096];
    struct timespec ts;
    struct tm tm;
    size_t n;
    int r;
    va_list ap;

    if (level < min_level)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    r = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s ", ts.tv_nsec / 1000000L,
                 names[level > LOG_ERROR ? LOG_ERROR : level]);
    if (r > 0)
        n += (size_t)r;
    va_start(ap, fmt);
    r = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (r > 0)
        n += (size_t)r < sizeof(line) - n - 1 ? (size_t)r : sizeof(line) - n - 2;
    /* Control characters and raw bytes from requests must not forge or garble log lines. */
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)line[i] < 0x20 && line[i] != '\t') || (unsigned char)line[i] >= 0x7f)
            line[i] = '?';
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, n) < 0) {
        /* Nowhere left to report it. */
    }
}

void log_mask_signature(const char *path, const char *prefix, char *out, unsigned long outlen)
{
    static const char *placeholders[] = {"insecure", "unsafe", "_"};
    const char *p = path;
    const char *seg, *end;
    size_t seglen, plen = prefix != NULL ? strlen(prefix) : 0;

    if (outlen == 0)
        return;
    /* The signature is the first segment after IMGPROXY_PATH_PREFIX, as url_split() reads it. */
    if (plen > 0 && strncmp(p, prefix, plen) == 0)
        p += plen;
    if (*p == '/')
        p++;
    seg = p;
    end = strchr(seg, '/');
    seglen = end ? (size_t)(end - seg) : strlen(seg);
    for (size_t i = 0; i < sizeof(placeholders) / sizeof(placeholders[0]); i++) {
        if (seglen == strlen(placeholders[i]) && memcmp(seg, placeholders[i], seglen) == 0) {
            snprintf(out, outlen, "%s", path);
            return;
        }
    }
    if (end == NULL) {
        snprintf(out, outlen, "%s", path);
        return;
    }
    snprintf(out, outlen, "%.*s***%s", (int)(seg - path), path, end);
}
