/*
 * cpugate.h: CPU priority for small requests while big ones run; a part of the scheduler
 * (scheduler.h), which turns it on with the memory budget.
 *
 * The memory budget keeps thumbnails from waiting for memory, but on a host
 * with few cores they still share the CPU with every 50 MP decode in flight,
 * and the scheduler splits a core evenly between them. Thread priorities
 * cannot simply be set per request: libvips runs pixels on a shared pool of
 * threads that serve big and small pipelines in turn.
 *
 * So the gate works at libvips' own granularity. A big request's images
 * are wrapped (cpugate_wrap) in a pass-through stage, and every libvips
 * thread computing a strip of them runs under SCHED_IDLE at nice
 * CPUGATE_BIG_NICE for the time of that strip; the kernel then gives a
 * thumbnail's threads (SCHED_OTHER, nice 0) the CPU whenever they are
 * runnable, and idle cores still go to big requests. That needs the right
 * to lower a nice value back (CAP_SYS_NICE, or RLIMIT_NICE of 20: spawn.sh
 * raises it when started as root; systemd's LimitNICE=); cpugate_enable
 * tries it once.
 * Without it the gate is cooperative: while a small request is processing,
 * at most (cores - small requests processing) big strips run at once, and a
 * big strip waits at most CPUGATE_MAX_WAIT_MS each time it asks, so a
 * stream of small requests slows big ones down but cannot stop them.
 * A saver's writer thread (where libjpeg, libpng, libwebp and libaom
 * encode) runs at the big priority too while it writes for a big request,
 * in nice mode only (cpugate.c, "Writers"). Nothing reaches the request's
 * download or header read, which come before it is classified.
 *
 * A big request's work runs at normal priority from CPUGATE_BOOST_MS before
 * its deadline, and none of its strips starts after the deadline or once its
 * client is gone (its watch, watch.h; cpugate.c, "Late work").
 *
 * Which requests are small is the memory budget's classification
 * (admission.h: an estimate of at most budget / ADMISSION_SMALL_DIVISOR), so
 * the gate is on only with IMGFCGI_MEMORY_BUDGET; without it every call
 * here is a no-op, but for the home stage and the writer's pin of a request
 * with a home CPU (cpuhome.h), which this module's stage and vips_sink_disc
 * carry as well.
 *
 * Threads: one mutex and condition variable; the class of the request a
 * thread is serving is thread-local (set by cpugate_request_begin on the
 * request's thread, read by cpugate_wrap on the same thread).
 */
#ifndef IMGFCGI_CPUGATE_H
#define IMGFCGI_CPUGATE_H

#include <stdbool.h>
#include <stdint.h>

#include <vips/vips.h>

/*
 * A big request's threads run at this nice value, under SCHED_IDLE, when the
 * process may renice (see below).
 */
#define CPUGATE_BIG_NICE 19

/*
 * Big work runs at normal priority from this long before its request's
 * deadline on (nice mode; cpugate.c, "Late work"), so that the deadline
 * finds it computing, not starved.
 */
#define CPUGATE_BOOST_MS 1000

/* The longest a big strip waits for small requests each time it asks. */
#define CPUGATE_MAX_WAIT_MS 50

enum cpugate_class {
    CPUGATE_NONE = 0,  /* not classified (gate off, or outside a request) */
    CPUGATE_SMALL = 1, /* has priority: counted while it processes */
    CPUGATE_BIG = 2,   /* its images are wrapped and yield to small ones */
};

/*
 * Turns the gate on for a host with ncpu cores (< 1: counted from the
 * affinity mask); with try_nice, through nice values if the process may.
 */
void cpugate_enable(int ncpu, bool try_nice);

/* Turns it off again (tests); every request must have ended. */
void cpugate_disable(void);

bool cpugate_enabled(void);

/* Whether the gate works through nice values (else cooperatively); see above. */
bool cpugate_uses_nice(void);

/*
 * The calling thread starts processing a request of class c; a no-op when
 * the gate is off or c is CPUGATE_NONE. Must be paired with
 * cpugate_request_end() on the same thread.
 */
void cpugate_request_begin(enum cpugate_class c);
void cpugate_request_end(void);

/* The class the calling thread's request began with (CPUGATE_NONE outside one). */
enum cpugate_class cpugate_request_class(void);

/*
 * For a big request (the calling thread's class is CPUGATE_BIG): returns a
 * pass-through image of in whose strips ask the gate first; takes ownership
 * of in (the new image holds it). When homes are on for the calling
 * thread's request (cpuhome.h: a home CPU, or CPUHOME_ANY), in goes behind
 * a pass-through stage first whose strips pin their thread there, or free
 * it (cpuhome_pin). Otherwise, or if libvips
 * cannot make a stage, returns in itself. NULL passes through.
 */
VipsImage *cpugate_wrap(VipsImage *in);

/* Lines a split write hands the saver's writer at a time (cpugate_split_writes). */
#define CPUGATE_WRITE_LINES 8

/*
 * Writes of at most this many pixels go to the writer whole: such a write
 * is short whatever the format, so parts would only add calls; the split is
 * for the wide images whose one write could outlast the deadline.
 */
#define CPUGATE_SPLIT_MIN_PIXELS (1024 * 1024)

/*
 * Whether the calling thread's saves hand their writer at most
 * CPUGATE_WRITE_LINES lines at a time, checking the request's watch
 * (watch.h) between parts, so that the deadline stops a wide image's encode
 * within a few lines (cpugate.c, "Writers"). Only for savers whose block
 * writer takes any run of whole lines (libvips 8.14's PNG and JPEG); works
 * whether the gate is on or off.
 */
void cpugate_split_writes(bool on);

/* Cooperative mode only (with nice values nothing waits). */
struct cpugate_stats {
    uint64_t waits;    /* big strips that waited */
    uint64_t wait_ms;  /* their total wait */
    uint64_t timeouts; /* waits cut off at CPUGATE_MAX_WAIT_MS */
};

void cpugate_get_stats(struct cpugate_stats *st);

#endif
