/*
 * cpuhome.h: a home CPU for each request, where its threads run while
 * every CPU is busy with requests.
 *
 * libvips computes a request's strips on threads from one process-wide
 * pool, and a saver writes on another pool thread; a thread that last
 * served one request is woken for the next on whichever core it last ran
 * on. With as many requests processing as cores, the kernel then often
 * queues a woken thread behind another request's on one core while the
 * request's own core goes idle; requests that hand work between threads at
 * every strip (a turn or flip, which is computed to memory before it is
 * encoded) lose most. Two processes of one worker each do not see it.
 *
 * So each request gets the least used CPU of the process's affinity mask
 * as its home (cpuhome_begin), and every thread about to work for it
 * (the request's own, the strips' and the writer) calls cpuhome_pin with
 * that home: while the homes are balanced - every CPU the home of at least
 * one request, no CPU the home of two more than another - the thread is
 * pinned to its request's home; otherwise it may run on any CPU of the
 * mask, as without homes. With fewer requests than cores nothing is
 * pinned, so one request alone still has every core for its threads
 * (libaom's encoder threads among them).
 *
 * A big request (cpugate.h: one that yields to thumbnails under a memory
 * budget) takes no home: pinned beside a thumbnail it would lose the idle
 * core the CPU gate leaves it, and big requests would overlap longer, each
 * holding its memory. Its threads run on any CPU of the mask, and it does
 * not count towards the balance.
 *
 * Off unless enabled (cpuhome_enable, from IMGFCGI_CPU_HOMES, off by
 * default: under the ASan build a run of oversized requests peaks higher
 * with homes on); every call is then a no-op. Thread-safe: the homes'
 * counts are under one mutex, the balance is an atomic flag, a thread's
 * pin is thread-local.
 */
#ifndef IMGFCGI_CPUHOME_H
#define IMGFCGI_CPUHOME_H

#include <stdbool.h>

/* cpuhome_begin's answer for a request that takes no home (its threads run free). */
#define CPUHOME_ANY (-2)

/*
 * Turns homes on or off (on: the CPUs are the process's affinity mask at
 * this call; fewer than 2 leaves them off). Call from one thread, with no
 * request processing.
 */
void cpuhome_enable(bool on);

/* Whether homes are on. */
bool cpuhome_enabled(void);

/*
 * The calling thread starts a request: returns its home (a CPU number), or
 * -1 when homes are off. The thread itself is pinned by the rule above.
 * With take false (a big request) it takes none: returns CPUHOME_ANY, and
 * the thread is freed. Nested calls on one thread (a request inside a
 * request) get the outer answer and count once. Pair with cpuhome_end(home)
 * on the same thread.
 */
int cpuhome_begin(bool take);

/* The request started by the matching cpuhome_begin() has ended; -1 is a no-op. */
void cpuhome_end(int home);

/*
 * The home of the request the calling thread is serving (set by
 * cpuhome_begin on that thread): a CPU, CPUHOME_ANY, or -1 (none).
 */
int cpuhome_current(void);

/*
 * The calling thread is about to work for a request whose home is home:
 * pinned to it while the homes are balanced, else (or for CPUHOME_ANY)
 * free to run on any CPU of the mask. A syscall only when that changes for
 * the thread. -1, or homes off, is a no-op.
 */
void cpuhome_pin(int home);

/* For tests: whether the homes are balanced now (see above). */
bool cpuhome_balanced(void);

#endif
