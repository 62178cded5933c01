/* worker.h: connection threads sharing one scheduler: accept, serve, repeat. */
#ifndef IMGFCGI_WORKER_H
#define IMGFCGI_WORKER_H

/* The threads and what each owns; see the design note in worker.c. */
struct worker_pool;

struct sched;

/*
 * Starts n connection threads accepting on listen_fd (borrowed: it must stay
 * open until worker_pool_free()) that serve their requests under sched
 * (borrowed: it must outlive the pool), whose processing slots (at most n)
 * decide how many image requests are processed at once and how many wait;
 * the other threads wait for a connection or for the next request on a
 * kept one. Call from the main thread after FCGX_Init() and the
 * libvips and libcurl global inits, with SIGUSR2 blocked (threads inherit the
 * mask and unblock SIGUSR2 only while waiting for a request). Installs the
 * SIGUSR2 handler used to wake them. A failure leaves no thread running.
 * Returns the pool, or NULL after logging why.
 */
struct worker_pool *worker_pool_start(int listen_fd, int n, struct sched *sched);

/*
 * Asks every thread to end after the request it is serving, if any. Idempotent.
 * No new request is taken once worker_pool_wake() has run after this.
 */
void worker_pool_stop(struct worker_pool *p);

/*
 * Interrupts, with SIGUSR2, every thread waiting for a connection or a
 * request so it sees the stop flag; a thread serving a request is never
 * signalled. Call after worker_pool_stop() and repeat (every 50 ms) until it
 * returns 0: a signal can arrive just before a thread starts waiting.
 * Returns how many threads have not finished yet.
 */
int worker_pool_wake(struct worker_pool *p);

/* How many threads hold an accepted request right now (served or waiting for a slot). */
int worker_pool_busy(const struct worker_pool *p);

/*
 * Joins every thread and frees the pool; NULL is a no-op. Only once
 * worker_pool_wake() has returned 0: it would block on a thread still working.
 */
void worker_pool_free(struct worker_pool *p);

#endif
