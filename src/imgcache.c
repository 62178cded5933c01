/*
 * imgcache.c: an LRU map from strings to GBytes under one mutex.
 *
 * Design: a GHashTable finds the entry, a GQueue keeps the entries in use
 * order (head = most recently used); each entry holds its own queue link so
 * that a hit moves it to the head in O(1). Lookups are short (no I/O under
 * the lock): fetching a missing value is the caller's business.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "imgcache.h"
#include "banned.h"

struct entry {
    char *key;
    GBytes *value;
    size_t bytes; /* counted against max_bytes */
    GList link;   /* in order; data points back to the entry */
};

struct imgcache {
    pthread_mutex_t lock; /* guards everything below */
    GHashTable *map;      /* key -> struct entry * (owns the entries) */
    GQueue order;
    size_t max_entries, max_bytes;
    size_t bytes;
};

static void entry_free(gpointer p)
{
    struct entry *en = p;

    g_bytes_unref(en->value);
    g_free(en->key);
    g_free(en);
}

struct imgcache *imgcache_new(size_t max_entries, size_t max_bytes)
{
    struct imgcache *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    pthread_mutex_init(&c->lock, NULL);
    c->map = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, entry_free);
    g_queue_init(&c->order);
    c->max_entries = max_entries;
    c->max_bytes = max_bytes;
    return c;
}

void imgcache_free(struct imgcache *c)
{
    if (c == NULL)
        return;
    g_hash_table_destroy(c->map);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* Removes en (locked). */
static void drop(struct imgcache *c, struct entry *en)
{
    g_queue_unlink(&c->order, &en->link);
    c->bytes -= en->bytes;
    g_hash_table_remove(c->map, en->key);
}

GBytes *imgcache_get(struct imgcache *c, const char *key)
{
    struct entry *en;
    GBytes *v = NULL;

    pthread_mutex_lock(&c->lock);
    en = g_hash_table_lookup(c->map, key);
    if (en != NULL) {
        g_queue_unlink(&c->order, &en->link);
        g_queue_push_head_link(&c->order, &en->link);
        v = g_bytes_ref(en->value);
    }
    pthread_mutex_unlock(&c->lock);
    return v;
}

int imgcache_put(struct imgcache *c, const char *key, GBytes *value, size_t size)
{
    struct entry *en;

    if (c->max_entries == 0 || size > c->max_bytes)
        return -1;
    en = g_new0(struct entry, 1);
    en->key = g_strdup(key);
    en->value = g_bytes_ref(value);
    en->bytes = size;
    en->link.data = en;
    pthread_mutex_lock(&c->lock);
    {
        struct entry *old = g_hash_table_lookup(c->map, key);

        if (old != NULL)
            drop(c, old);
    }
    /* Least recently used first, until the new entry fits both bounds. */
    while (c->order.length > 0 &&
           (c->order.length + 1 > c->max_entries || c->bytes + size > c->max_bytes))
        drop(c, c->order.tail->data);
    g_hash_table_insert(c->map, en->key, en);
    g_queue_push_head_link(&c->order, &en->link);
    c->bytes += size;
    pthread_mutex_unlock(&c->lock);
    return 0;
}

void imgcache_clear(struct imgcache *c)
{
    pthread_mutex_lock(&c->lock);
    g_hash_table_remove_all(c->map);
    g_queue_init(&c->order);
    c->bytes = 0;
    pthread_mutex_unlock(&c->lock);
}

size_t imgcache_count(struct imgcache *c)
{
    size_t n;

    pthread_mutex_lock(&c->lock);
    n = c->order.length;
    pthread_mutex_unlock(&c->lock);
    return n;
}

size_t imgcache_bytes(struct imgcache *c)
{
    size_t n;

    pthread_mutex_lock(&c->lock);
    n = c->bytes;
    pthread_mutex_unlock(&c->lock);
    return n;
}
