/* log.h: one line per event on stderr, safe to call from any thread. */
#ifndef IMGFCGI_LOG_H
#define IMGFCGI_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* Lines below this level are dropped; set once at start-up. */
void log_set_level(enum log_level level);

/* Writes "<ISO time> <LEVEL> <message>\n" as one write(2). Never fails. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/*
 * Copies path into out (size outlen, always NUL-terminated) with the first
 * segment after prefix (IMGPROXY_PATH_PREFIX, may be NULL or empty), the
 * signature, replaced by "***" unless it is one of the
 * placeholders a client uses when signing is off. Borrows path.
 */
void log_mask_signature(const char *path, const char *prefix, char *out, unsigned long outlen);

#endif
