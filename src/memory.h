/*
 * memory.h: which allocator serves malloc, giving free memory back to the OS,
 * and the sidecar thread that does it every IMGPROXY_FREE_MEMORY_INTERVAL.
 *
 * Detection, at run time and with no link-time dependency on jemalloc or
 * tcmalloc: dlsym(RTLD_DEFAULT, "mallctl") means jemalloc is loaded,
 * dlsym(RTLD_DEFAULT, "MallocExtension_ReleaseFreeMemory") means gperftools
 * tcmalloc; dladdr() on the malloc that dlsym finds first
 * names the library that really serves malloc. A release call is only used
 * when both agree (jemalloc linked in by some library while glibc still
 * serves malloc gets glibc's malloc_trim); anything else (an ASan runtime,
 * musl) gets no release call at all.
 */
#ifndef IMGFCGI_MEMORY_H
#define IMGFCGI_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum memory_allocator {
    MEMORY_GLIBC,
    MEMORY_JEMALLOC,
    MEMORY_TCMALLOC,
    MEMORY_OTHER, /* e.g. the ASan runtime: no release call */
};

/*
 * Looks up the allocator (once; later calls return the cached answer, so it
 * is safe from any thread after the first call from main).
 */
enum memory_allocator memory_allocator(void);

/* "glibc", "jemalloc", "tcmalloc" or "other". Static string. */
const char *memory_allocator_name(enum memory_allocator a);

/* The file of the library whose malloc is in use, as dladdr() names it; static storage. */
const char *memory_allocator_library(void);

/* The effective arena setting as text (MALLOC_ARENA_MAX / MALLOC_CONF / "-"); static storage. */
const char *memory_arena_setting(void);

/*
 * Returns free memory to the OS with the call that fits the allocator:
 * malloc_trim(0), mallctl("arena.4096.purge") or
 * MallocExtension_ReleaseFreeMemory(). Counts the call. Returns the bytes
 * released as far as they can be told (jemalloc: drop of stats.resident;
 * tcmalloc: rise of pageheap_unmapped_bytes; glibc: drop of the process's
 * RSS across the call), 0 when none or unknown, -1 when there is no call for
 * this allocator. Thread-safe.
 */
long long memory_release(void);

/* The process's resident set size from /proc/self/statm, bytes; 0 if unreadable. */
size_t memory_rss(void);

/*
 * glibc only: fixes malloc's thresholds at trim_threshold (M_TRIM_THRESHOLD)
 * and at most 32 MB of it (M_MMAP_THRESHOLD), so that a request's big
 * buffers - libjpeg keeps every DCT coefficient of a progressive JPEG, about
 * 3 bytes per pixel - stay in the heap for the next request instead of going
 * back to the OS and being faulted in again on every request. glibc's
 * dynamic trim threshold settles at twice the largest buffer it has
 * unmapped; when two such requests' buffers meet in one arena its free top
 * goes past that and is trimmed at every free. 64 MB, the most the dynamic
 * threshold can reach, holds them. Free memory still goes back to the OS from the
 * sidecar (memory_release) - but glibc's malloc_trim does not shrink the
 * top of an arena other than the main one, so each arena may keep up to
 * trim_threshold: it is only set when MALLOC_ARENA_MAX bounds their number
 * (spawn.sh and conf/ set 2; glibc's default is 8 per core). Does nothing
 * for another allocator, for 0, or when the environment sets a threshold
 * itself (glibc read it).
 * Returns true when the thresholds were set. Call once from main, early.
 */
bool memory_tune(long long trim_threshold);

/* Counters since start: release calls and bytes they released. */
uint64_t memory_releases(void);
uint64_t memory_released_bytes(void);

/*
 * Starts the sidecar thread (and, under jemalloc with release on,
 * jemalloc's background purging thread): every interval_s seconds it trims
 * bufpool_download (bufpool_trim), calls memory_release() when release is
 * true, and logs the memory figures when log_stats is true. Call from main
 * after the signal mask is set (the thread inherits it). Returns 0 or -1
 * (thread not started; nothing to stop).
 */
int memory_sidecar_start(int interval_s, bool release, bool log_stats)
    __attribute__((warn_unused_result));

/* Stops the sidecar and joins it; wakes it at once. A no-op when not running. */
void memory_sidecar_stop(void);

/* Sidecar rounds done since the last start (for tests). */
uint64_t memory_sidecar_ticks(void);

/* Logs the allocator, its library and the arena setting at info level. */
void memory_log_allocator(void);

/* Logs RSS, libvips tracked memory and the download pool at info level. */
void memory_log_stats(void);

#endif
