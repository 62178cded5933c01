/* fallback.c: the fallback image loaded once at start-up, and the cache of fallback_image_url. */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "config.h"
#include "fallback.h"
#include "log.h"
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
    fallback_url_cache_clear();
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
 * The fallback_image_url cache: a list, most recently used first. lock
 * guards the list, the totals and every entry's refs and cached flag; an
 * entry's url and img never change once it is made, so users read them
 * without the lock.
 */
struct fallback_ref {
    struct fallback_ref *prev, *next;
    char *url;
    struct fetch_result img; /* unpooled: a cached image must not hold a download buffer */
    size_t bytes;
    int refs;    /* users, plus one while cached */
    bool cached; /* in the list */
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fallback_ref *cache_head, *cache_tail;
static size_t cache_count, cache_bytes;

static void ref_free(struct fallback_ref *r)
{
    fetch_result_release(&r->img);
    free(r->url);
    free(r);
}

/* Takes r out of the list (lock held); returns true when nobody uses it any more. */
static bool unlink_locked(struct fallback_ref *r)
{
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        cache_head = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    else
        cache_tail = r->prev;
    r->prev = r->next = NULL;
    r->cached = false;
    cache_count--;
    cache_bytes -= r->bytes;
    return --r->refs == 0;
}

static void push_front_locked(struct fallback_ref *r)
{
    r->prev = NULL;
    r->next = cache_head;
    if (cache_head != NULL)
        cache_head->prev = r;
    cache_head = r;
    if (cache_tail == NULL)
        cache_tail = r;
}

/* The cached entry for url with one more user (lock held), or NULL. */
static struct fallback_ref *find_locked(const char *url)
{
    for (struct fallback_ref *r = cache_head; r != NULL; r = r->next) {
        if (strcmp(r->url, url) == 0) {
            r->refs++;
            if (r != cache_head) {
                /* Most recently used first. */
                r->prev->next = r->next;
                if (r->next != NULL)
                    r->next->prev = r->prev;
                else
                    cache_tail = r->prev;
                push_front_locked(r);
            }
            return r;
        }
    }
    return NULL;
}

/* A fetched image as a cache entry with one user: the body copied out of its pool buffer. */
static struct fallback_ref *make_entry(const char *url, struct fetch_result *fetched)
{
    struct fallback_ref *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    fetch_result_init(&r->img);
    r->url = strdup(url);
    if (r->url == NULL || buf_append(&r->img.body, fetched->body.data, fetched->body.len) < 0) {
        ref_free(r);
        return NULL;
    }
    /* The origin's headers move over (ETag, Cache-Control, ...), the body was copied. */
    r->img.origin_status = fetched->origin_status;
    r->img.etag = fetched->etag;
    r->img.last_modified = fetched->last_modified;
    r->img.cache_control = fetched->cache_control;
    r->img.expires = fetched->expires;
    r->img.content_type = fetched->content_type;
    fetched->etag = fetched->last_modified = fetched->cache_control = NULL;
    fetched->expires = fetched->content_type = NULL;
    r->bytes = fetched->body.len + strlen(url);
    r->refs = 1;
    return r;
}

int fallback_url_get(struct fetcher *f, const char *url, const struct fetch_opts *o,
                     struct fallback_ref **ref, const struct fetch_result **img, struct errinfo *e)
{
    struct fetch_result fetched;
    struct fallback_ref *r, *dup = NULL, *drop = NULL;
    size_t max_count =
        cfg.fallback_images_cache_size > 0 ? (size_t)cfg.fallback_images_cache_size : 0;
    size_t max_bytes = (size_t)cfg.fallback_images_cache_bytes;
    int ret;

    *ref = NULL;
    *img = NULL;
    pthread_mutex_lock(&cache_lock);
    r = max_count > 0 ? find_locked(url) : NULL;
    pthread_mutex_unlock(&cache_lock);
    if (r != NULL) {
        log_debug("fallback image from the cache: %zu bytes", r->img.body.len);
        *ref = r;
        *img = &r->img;
        return 0;
    }
    fetch_result_init(&fetched);
    ret = fetch_source_with(f, url, o, &fetched, e);
    if (ret == 0 && (fetched.origin_status == 304 || fetched.body.len == 0))
        ret = err_set(e, ERR_SOURCE_NOT_FOUND, "The fallback image is empty");
    r = ret == 0 ? make_entry(url, &fetched) : NULL;
    fetch_result_release(&fetched);
    if (ret < 0)
        return ret;
    if (r == NULL)
        return err_set(e, ERR_INTERNAL, "out of memory");
    pthread_mutex_lock(&cache_lock);
    if (max_count > 0 && r->bytes <= max_bytes) {
        /* Another request may have cached the same URL meanwhile: keep one copy. */
        dup = find_locked(url);
        if (dup == NULL) {
            r->refs++;
            r->cached = true;
            push_front_locked(r);
            cache_count++;
            cache_bytes += r->bytes;
            while (cache_tail != NULL && (cache_count > max_count || cache_bytes > max_bytes)) {
                struct fallback_ref *old = cache_tail;

                if (unlink_locked(old)) {
                    old->next = drop;
                    drop = old;
                }
            }
        }
    }
    pthread_mutex_unlock(&cache_lock);
    /* Freed outside the lock: entries nobody uses any more. */
    while (drop != NULL) {
        struct fallback_ref *next = drop->next;

        ref_free(drop);
        drop = next;
    }
    if (dup != NULL) {
        ref_free(r);
        r = dup;
    }
    *ref = r;
    *img = &r->img;
    return 0;
}

void fallback_url_put(struct fallback_ref *ref)
{
    bool last;

    if (ref == NULL)
        return;
    pthread_mutex_lock(&cache_lock);
    last = --ref->refs == 0;
    pthread_mutex_unlock(&cache_lock);
    if (last)
        ref_free(ref);
}

void fallback_url_cache_clear(void)
{
    struct fallback_ref *drop = NULL;

    pthread_mutex_lock(&cache_lock);
    while (cache_tail != NULL) {
        struct fallback_ref *old = cache_tail;

        if (unlink_locked(old)) {
            old->next = drop;
            drop = old;
        }
    }
    pthread_mutex_unlock(&cache_lock);
    while (drop != NULL) {
        struct fallback_ref *next = drop->next;

        ref_free(drop);
        drop = next;
    }
}

void fallback_url_cache_stats(size_t *count, size_t *bytes)
{
    pthread_mutex_lock(&cache_lock);
    *count = cache_count;
    *bytes = cache_bytes;
    pthread_mutex_unlock(&cache_lock);
}
