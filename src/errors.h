/* errors.h: internal error codes, their HTTP statuses and public messages (imgproxy v3's table). */
#ifndef IMGFCGI_ERRORS_H
#define IMGFCGI_ERRORS_H

#include <stddef.h>

/*
 * Every fallible function in src/ returns 0 or one of these negative codes.
 * The status and the public body of each code follow imgproxy's table; a few
 * codes (ERR_SOURCE_STATUS) carry their status in struct errinfo instead.
 */
enum errcode {
    ERR_OK = 0,
    ERR_INVALID_URL = -1,       /* 404 Invalid URL: bad path, option, argument */
    ERR_SIGNATURE = -2,         /* 403 Forbidden: bad or badly encoded signature */
    ERR_SECURITY_OPTION = -3,   /* 403 Invalid URL: security option not allowed */
    ERR_INVALID_SOURCE = -4,    /* 404 Invalid source URL */
    ERR_UNSAVEABLE = -5,        /* 422 Invalid URL: result format cannot be saved */
    ERR_SOURCE_TYPE = -6,       /* 422 Invalid source image: unknown type, too big */
    ERR_BROKEN_IMAGE = -7,      /* 422 Broken or unsupported image */
    ERR_QUEUE_FULL = -8,        /* 429 Too many requests */
    ERR_TIMEOUT = -9,           /* 503 Timeout */
    ERR_CANCELLED = -10,        /* 499 Cancelled: the client went away */
    ERR_SOURCE_TIMEOUT = -11,   /* 504 Source image is unreachable */
    ERR_SOURCE_STATUS = -12,    /* origin answered non-200: 4xx same, 5xx 502, else 404 */
    ERR_SOURCE_NOT_FOUND = -13, /* 404 Source image is unreachable (local file, scheme) */
    ERR_SOURCE_FAILED = -14,    /* 500 Internal error: connection refused and the like */
    ERR_INTERNAL = -15,         /* 500 Internal error */
    ERR_NOT_FOUND = -16,        /* 404 " ": unknown route */
    ERR_FORBIDDEN_SECRET = -17, /* 403 Forbidden: bad Authorization secret */
};

/*
 * An error as a request carries it: the code, the HTTP status that code maps to
 * (overridable for ERR_SOURCE_STATUS) and a detailed message for the log and
 * for IMGPROXY_DEVELOPMENT_ERRORS_MODE.
 */
struct errinfo {
    int code;
    int status;
    char msg[256];
};

/* Clears e to "no error". */
void err_clear(struct errinfo *e);

/*
 * Records an error in e (NULL allowed: then it only returns code) with the
 * table's status for code and a printf-style detail message. Returns code, so
 * callers can write `return err_set(e, ERR_INVALID_URL, "...")`.
 */
int err_set(struct errinfo *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* HTTP status for an origin's status code: 4xx the same, >=500 502, else 404. */
int err_source_status(int origin_status);

/* The table's HTTP status for code (500 for unknown codes). */
int err_status(int code);

/* The public body text for code; a static string. */
const char *err_public_message(int code);

#endif
