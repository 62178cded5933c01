/* fallback.c: the fallback image loaded once at start-up, and the cache of fallback_image_url. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "config.h"
#include "fallback.h"
#include "imgcache.h"
#include "log.h"
#include "banned.h"

/*
 * The fallback_image_url images (see fallback_url_get()): made by
 * fallback_global_init() before threads start, read-only afterwards (the
 * cache locks itself); NULL keeps nothing.
 */
static struct imgcache *url_cache;
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
    url_cache = imgcache_new(
        cfg.fallback_images_cache_size > 0 ? (size_t)cfg.fallback_images_cache_size : 0,
        (size_t)cfg.fallback_images_cache_bytes);
    if (url_cache == NULL) {
        snprintf(err, errlen, "fallback images cache: out of memory");
        return -1;
    }
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
    imgcache_free(url_cache);
    url_cache = NULL;
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

/*
 * The fallback_image_url cache (url_cache) maps a URL to a GBytes that boxes
 * one struct fetch_result (the GBytes' data is the struct, freed with the
 * last reference), so an image in use stays alive after the cache has let it
 * go.
 */

static void image_free(gpointer p)
{
    fetch_result_release(p);
    free(p);
}

/*
 * A fetched image boxed as a GBytes: the origin's status and headers (ETag,
 * Cache-Control, ...) move over, the body is copied out of its pool buffer (a
 * cached image must not hold a download buffer), which stays in fetched to
 * go back to the pool. NULL on no memory.
 */
static GBytes *box_image(struct fetch_result *fetched)
{
    struct fetch_result *img = malloc(sizeof(*img));
    struct buf body;

    buf_init(&body);
    if (img == NULL || buf_append(&body, fetched->body.data, fetched->body.len) < 0) {
        buf_release(&body);
        free(img);
        return NULL;
    }
    *img = *fetched;
    fetch_result_init(fetched);
    fetched->body = img->body;
    fetched->pooled = img->pooled;
    fetched->content_range = img->content_range; /* a range is no part of the cached image */
    img->body = body;
    img->pooled = false;
    img->content_range = NULL;
    return g_bytes_new_with_free_func(img, sizeof(*img), image_free, img);
}

int fallback_url_get(struct fetcher *f, const char *url, const struct fetch_opts *o, GBytes **ref,
                     const struct fetch_result **img, struct errinfo *e)
{
    struct fetch_result fetched;
    GBytes *box = url_cache != NULL ? imgcache_get(url_cache, url) : NULL;
    int ret;

    *ref = NULL;
    *img = NULL;
    if (box != NULL) {
        *ref = box;
        *img = g_bytes_get_data(box, NULL);
        log_debug("fallback image from the cache: %zu bytes", (*img)->body.len);
        return 0;
    }
    fetch_result_init(&fetched);
    ret = fetch_source_with(f, url, o, &fetched, e);
    if (ret == 0 && (fetched.origin_status == 304 || fetched.body.len == 0))
        ret = err_set(e, ERR_SOURCE_NOT_FOUND, "The fallback image is empty");
    box = ret == 0 ? box_image(&fetched) : NULL;
    fetch_result_release(&fetched);
    if (ret < 0)
        return ret;
    if (box == NULL)
        return err_set(e, ERR_INTERNAL, "out of memory");
    *ref = box;
    *img = g_bytes_get_data(box, NULL);
    /* Counted with its key; another request's copy of the same URL is replaced. */
    if (url_cache != NULL)
        (void)imgcache_put(url_cache, url, box, (*img)->body.len + strlen(url));
    return 0;
}

void fallback_url_put(GBytes *ref)
{
    if (ref != NULL)
        g_bytes_unref(ref);
}

void fallback_url_cache_clear(void)
{
    if (url_cache != NULL)
        imgcache_clear(url_cache);
}

void fallback_url_cache_stats(size_t *count, size_t *bytes)
{
    *count = url_cache != NULL ? imgcache_count(url_cache) : 0;
    *bytes = url_cache != NULL ? imgcache_bytes(url_cache) : 0;
}
