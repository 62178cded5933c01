/* imgcache.h: a small thread-safe cache of fetched images, bounded by entries and bytes. */
#ifndef IMGFCGI_IMGCACHE_H
#define IMGFCGI_IMGCACHE_H

#include <stddef.h>

#include <glib.h>

/*
 * Keys are strings (a URL); values are GBytes, shared by reference, so a
 * value handed out stays valid after it has been evicted. When an insertion
 * would pass max_entries or max_bytes, the least recently used entries go
 * first. Every function may be called from any thread.
 */
struct imgcache;

/*
 * A cache of at most max_entries values and max_bytes bytes of values.
 * max_entries 0 makes a cache that keeps nothing. NULL on allocation failure.
 * Free with imgcache_free().
 */
struct imgcache *imgcache_new(size_t max_entries, size_t max_bytes);

/* Frees c and drops its references; NULL is a no-op. */
void imgcache_free(struct imgcache *c);

/*
 * The value stored under key, marked most recently used: a new reference
 * the caller drops with g_bytes_unref(); NULL when there is none.
 */
GBytes *imgcache_get(struct imgcache *c, const char *key);

/*
 * Stores value under key (the cache takes a reference of its own and copies
 * key), replacing an older value, counted as bytes against max_bytes (the
 * value's size, or what the value stands for when it boxes a struct). A
 * value of more than max_bytes is not kept. Returns 0, or -1 when it was not
 * kept.
 */
int imgcache_put(struct imgcache *c, const char *key, GBytes *value, size_t bytes);

/* Drops every entry; values handed out stay valid. */
void imgcache_clear(struct imgcache *c);

/* Entries and bytes held now. */
size_t imgcache_count(struct imgcache *c);
size_t imgcache_bytes(struct imgcache *c);

#endif
