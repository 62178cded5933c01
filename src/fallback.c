/* fallback.c: loading the fallback image once at start-up. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "config.h"
#include "fallback.h"
#include "banned.h"

static struct fetch_result image;
static bool loaded;

static int take_bytes(const void *data, size_t len)
{
    fetch_result_init(&image);
    if (buf_append(&image.body, data, len) < 0)
        return -1;
    image.origin_status = 200;
    loaded = true;
    return 0;
}

int fallback_global_init(char *err, size_t errlen)
{
    fallback_global_shutdown();
    if (cfg.fallback_image_data != NULL && cfg.fallback_image_data[0] != '\0') {
        gsize len = 0;
        guchar *data = g_base64_decode(cfg.fallback_image_data, &len);
        int ret = len > 0 ? take_bytes(data, len) : -1;

        g_free(data);
        if (ret < 0)
            snprintf(err, errlen, "IMGPROXY_FALLBACK_IMAGE_DATA: not a base64 image");
        return ret;
    }
    if (cfg.fallback_image_path != NULL && cfg.fallback_image_path[0] != '\0') {
        gchar *data = NULL;
        gsize len = 0;
        int ret = -1;

        if (g_file_get_contents(cfg.fallback_image_path, &data, &len, NULL) && len > 0)
            ret = take_bytes(data, len);
        g_free(data);
        if (ret < 0)
            snprintf(err, errlen, "IMGPROXY_FALLBACK_IMAGE_PATH=%s: cannot read the file",
                     cfg.fallback_image_path);
        return ret;
    }
    if (cfg.fallback_image_url != NULL && cfg.fallback_image_url[0] != '\0') {
        struct fetcher *f = fetcher_new();
        struct errinfo e;
        int ret = -1;

        err_clear(&e);
        fetch_result_init(&image);
        if (f != NULL)
            ret = fetch_source(f, cfg.fallback_image_url, &image, &e);
        fetcher_free(f);
        if (ret < 0 || image.body.len == 0) {
            snprintf(err, errlen, "IMGPROXY_FALLBACK_IMAGE_URL=%s: %s", cfg.fallback_image_url,
                     f == NULL  ? "out of memory"
                     : e.msg[0] ? e.msg
                                : "empty body");
            fetch_result_release(&image);
            return -1;
        }
        loaded = true;
    }
    return 0;
}

void fallback_global_shutdown(void)
{
    if (loaded)
        fetch_result_release(&image);
    loaded = false;
}

const struct fetch_result *fallback_image(void)
{
    return loaded ? &image : NULL;
}

int fallback_set_for_tests(const void *data, size_t len)
{
    fallback_global_shutdown();
    if (data == NULL)
        return 0;
    return take_bytes(data, len);
}
