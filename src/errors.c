/* errors.c: the one table from internal errors to HTTP statuses (as imgproxy v3 answers). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "banned.h"

static const struct {
    int code;
    int status;
    const char *public_msg;
} error_table[] = {
    {ERR_OK, 200, ""},
    {ERR_INVALID_URL, 404, "Invalid URL"},
    {ERR_SIGNATURE, 403, "Forbidden"},
    {ERR_SECURITY_OPTION, 403, "Invalid URL"},
    {ERR_INVALID_SOURCE, 404, "Invalid source URL"},
    {ERR_UNSAVEABLE, 422, "Invalid URL"},
    {ERR_SOURCE_TYPE, 422, "Invalid source image"},
    {ERR_BROKEN_IMAGE, 422, "Broken or unsupported image"},
    {ERR_QUEUE_FULL, 429, "Too many requests"},
    {ERR_TIMEOUT, 503, "Timeout"},
    {ERR_CANCELLED, 499, "Cancelled"},
    {ERR_SOURCE_TIMEOUT, 504, "Source image is unreachable"},
    {ERR_SOURCE_STATUS, 404, "Source image is unreachable"},
    {ERR_SOURCE_NOT_FOUND, 404, "Source image is unreachable"},
    {ERR_SOURCE_FAILED, 500, "Internal error"},
    {ERR_INTERNAL, 500, "Internal error"},
    {ERR_NOT_FOUND, 404, " "},
    {ERR_FORBIDDEN_SECRET, 403, "Forbidden"},
};

#define ERROR_TABLE_LEN (sizeof(error_table) / sizeof(error_table[0]))

void err_clear(struct errinfo *e)
{
    e->code = ERR_OK;
    e->status = 200;
    e->msg[0] = '\0';
}

int err_status(int code)
{
    for (size_t i = 0; i < ERROR_TABLE_LEN; i++)
        if (error_table[i].code == code)
            return error_table[i].status;
    return 500;
}

const char *err_public_message(int code)
{
    for (size_t i = 0; i < ERROR_TABLE_LEN; i++)
        if (error_table[i].code == code)
            return error_table[i].public_msg;
    return "Internal error";
}

int err_source_status(int origin_status)
{
    if (origin_status >= 400 && origin_status < 500)
        return origin_status;
    if (origin_status >= 500)
        return 502;
    return 404;
}

int err_set(struct errinfo *e, int code, const char *fmt, ...)
{
    va_list ap;

    if (e == NULL)
        return code;
    e->code = code;
    e->status = err_status(code);
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return code;
}
