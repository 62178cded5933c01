/* tsan.h: ThreadSanitizer annotations for hand-offs made inside uninstrumented libraries. */
#ifndef IMGFCGI_TSAN_H
#define IMGFCGI_TSAN_H

/*
 * libvips runs a pipeline on its own threads and hands work and results over
 * through GLib's GMutex/GCond, which are futexes ThreadSanitizer cannot see.
 * Where libvips calls imgfcgi back on one of its threads, the caller releases
 * before the libvips call and acquires after it, and the callback acquires on
 * entry and releases on exit, all on one address: that tells TSan the
 * ordering libvips provides, and TSan still checks every access of ours
 * against it. A test seam of the `make tsan` build (IMGFCGI_TSAN); no-ops
 * elsewhere.
 */
#ifdef IMGFCGI_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define tsan_acquire(p) __tsan_acquire(p)
#define tsan_release(p) __tsan_release(p)
#else
#define tsan_acquire(p) ((void)(p))
#define tsan_release(p) ((void)(p))
#endif

#endif
