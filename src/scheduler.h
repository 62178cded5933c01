/*
 * scheduler.h: whether a request may run now. The one scheduling API: the
 * processing slots (IMGPROXY_WORKERS) with each slot's fetcher, the FIFO
 * queue in front of them (IMGPROXY_REQUESTS_QUEUE_SIZE) bounded by each
 * request's deadline, the memory ticket (IMGFCGI_MEMORY_BUDGET) and the CPU
 * class of a request. Its parts are slots.h, admission.h and cpugate.h;
 * nothing but this module calls them on a request's behalf.
 *
 * An image request runs through it in this order:
 *   sched_req_init     nothing held yet
 *   sched_slot_take    a slot (and its fetcher), after the URL checked out
 *                      and before the download, as imgproxy orders it
 *   sched_admit        the memory ticket and the CPU class, after the
 *                      download and before any pixel is decoded; while it
 *                      waits for memory the slot goes back to the queue
 *   sched_admit_end    the ticket and the class are given back
 *   sched_slot_put     the slot is given back
 * The two ends are separate so that the caller can let go of what libvips
 * reads (the download buffer) between them.
 *
 * Threads: one struct sched is shared by every connection thread; every
 * call is thread-safe. A struct sched_req belongs to one request on one
 * thread (the CPU class is thread-local).
 */
#ifndef IMGFCGI_SCHEDULER_H
#define IMGFCGI_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>

#include "admission.h"
#include "cpugate.h"
#include "deadline.h"
#include "errors.h"
#include "imagetype.h"
#include "options.h"

struct config;
struct fetcher;

struct sched_config {
    int slots;            /* requests processed at once, >= 1 */
    int queue_max;        /* requests waiting for a slot at most; 0 = no limit */
    size_t memory_budget; /* bytes; 0 = no admission by memory */
    long starve_ms;       /* a memory waiter gets priority after waiting this long */
    long admit_wait_ms;   /* longest wait for memory before a 503; 0 = the request's deadline */
    bool cpu_gate;        /* with a budget: give small requests the CPU first (cpugate.h) */
};

/*
 * The scheduler's settings from c: IMGPROXY_WORKERS,
 * IMGPROXY_REQUESTS_QUEUE_SIZE, IMGFCGI_MEMORY_BUDGET (starving after a
 * quarter of IMGPROXY_TIMEOUT), with the CPU gate.
 */
void sched_config_from(struct sched_config *sc, const struct config *c);

struct sched;

/*
 * Creates the slots, one fetcher per slot, and the budget when sc asks for
 * one (which turns the process-wide CPU gate on when sc->cpu_gate). Call
 * before any thread uses it. Returns NULL when out of memory or when
 * sc->slots < 1 or sc->queue_max < 0. Free with sched_free().
 */
struct sched *sched_new(const struct sched_config *sc);

/*
 * Frees s (and turns the CPU gate off if s turned it on); NULL is a no-op.
 * No request may hold or wait for anything of s any more.
 */
void sched_free(struct sched *s);

/* Results of sched_slot_take() and sched_admit(). */
enum {
    SCHED_QUEUE_FULL = -1, /* queue_max requests already wait for a slot: answer 429 */
    SCHED_TIMEOUT = -2,    /* the deadline passed waiting for a slot: answer 503 */
    SCHED_REFUSED = -3,    /* sched_admit(): the memory budget refused, e says why */
};

/* What one request holds of a scheduler. Embedded in the request; no heap. */
struct sched_req {
    struct sched *s; /* borrowed */
    int slot;        /* -1 while no slot is held */
    struct admission_ticket ticket;
};

/* r holds nothing of s (borrowed) yet. */
void sched_req_init(struct sched_req *r, struct sched *s);

/*
 * Takes a processing slot for r: a free one at once, else queued (FIFO)
 * until the deadline d (borrowed; NULL = none). Returns 0,
 * SCHED_QUEUE_FULL at once when the queue is full, or SCHED_TIMEOUT.
 * r must hold no slot.
 */
int sched_slot_take(struct sched_req *r, const struct deadline *d)
    __attribute__((warn_unused_result));

/* The fetcher of the slot r holds (borrowed for as long as the slot); NULL without a slot. */
struct fetcher *sched_fetcher(const struct sched_req *r);

/* Whether s admits by memory (IMGFCGI_MEMORY_BUDGET is set). */
bool sched_budget_on(const struct sched *s);

/*
 * Admits r to processing, before any pixel is decoded. With the budget off,
 * returns 0 at once and changes nothing. Otherwise: estimates the request
 * from the source's header (`header`, process_open()'s image of the len
 * bytes of type `type`, borrowed; po and accept as in process.h); if that
 * many bytes of the budget are free, takes them and keeps r's slot; else
 * gives the slot (if it holds one) back, so a request waiting for memory
 * keeps no slot from a thumbnail, waits for the bytes until d and takes a
 * slot again (queued as in sched_slot_take); and sets the calling thread's CPU class
 * from the estimate. Returns 0; SCHED_REFUSED with e set (ERR_SOURCE_TYPE
 * when the estimate is over the whole budget, ERR_TIMEOUT when d passed
 * waiting for memory); or
 * SCHED_QUEUE_FULL or SCHED_TIMEOUT from taking the slot again, e untouched.
 * Whatever it returns, release with sched_admit_end() and sched_slot_put().
 */
int sched_admit(struct sched_req *r, VipsImage *header, size_t len, enum imgtype type,
                const struct procopts *po, const char *accept, const struct deadline *d,
                struct errinfo *e) __attribute__((warn_unused_result));

/*
 * Gives back r's memory ticket (returning a big request's freed pages to the
 * OS first, at its CPU class) and then its CPU class. A no-op when it holds
 * neither. Call on the thread that called sched_admit().
 */
void sched_admit_end(struct sched_req *r);

/* Gives r's slot back, to the longest-waiting request first; a no-op without one. */
void sched_slot_put(struct sched_req *r);

struct sched_stats {
    int slots_in_use;
    int slots_waiting;
    bool budget_on; /* false: memory and cpu are zero */
    struct admission_stats memory;
    int cpu_mode; /* 0 off, 1 cooperative waits, 2 nice values */
    struct cpugate_stats cpu;
};

/* A snapshot of s's counters. */
void sched_get_stats(struct sched *s, struct sched_stats *st);

#endif
