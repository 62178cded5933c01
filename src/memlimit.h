/*
 * memlimit.h: how much memory the process may use, as the kernel says, and
 * the memory budget imgfcgi takes from it when IMGFCGI_MEMORY_BUDGET is not
 * set ("auto", the default).
 *
 * The limit is the smallest of: the cgroup v2 memory.max of the process's
 * cgroup and of each of its ancestors, the cgroup v1 memory.limit_in_bytes
 * likewise, and the machine's MemTotal (/proc/meminfo). A cgroup value of
 * "max", or one at least MemTotal (v1 writes "no limit" as a page-rounded
 * LLONG_MAX), is no limit. The files are read under a root directory so that
 * tests can feed their own.
 */
#ifndef IMGFCGI_MEMLIMIT_H
#define IMGFCGI_MEMLIMIT_H

#include <stddef.h>

/* The default budget is this fraction of the limit (docs/memory-budget.md says why). */
#define MEMLIMIT_BUDGET_FRACTION 0.5

enum memlimit_source {
    MEMLIMIT_NONE,     /* nothing readable: no default budget */
    MEMLIMIT_CGROUP2,  /* memory.max */
    MEMLIMIT_CGROUP1,  /* memory.limit_in_bytes */
    MEMLIMIT_MEMTOTAL, /* /proc/meminfo MemTotal */
};

struct memlimit {
    unsigned long long bytes; /* 0 with MEMLIMIT_NONE */
    enum memlimit_source source;
};

/*
 * Reads the limit under root ("" for the real system; otherwise a directory
 * holding proc/self/cgroup, proc/meminfo and sys/fs/cgroup/...). Borrows
 * root. Never fails: an unreadable file is skipped, and with nothing
 * readable the result is MEMLIMIT_NONE.
 */
void memlimit_read(const char *root, struct memlimit *out);

/* MEMLIMIT_BUDGET_FRACTION of the limit, bytes; 0 when there is none. */
size_t memlimit_budget(const struct memlimit *m);

/* "cgroup v2 memory.max", "cgroup v1 memory.limit_in_bytes", "MemTotal" or "none". Static. */
const char *memlimit_source_name(enum memlimit_source s);

/*
 * Parses one cgroup limit file's text: a decimal number of bytes, or "max".
 * Returns the bytes, 0 for "max" (no limit), -1 for anything else.
 */
long long memlimit_parse_limit(const char *text);

#endif
