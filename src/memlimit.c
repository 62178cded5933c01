/*
 * memlimit.c: the process's memory limit from cgroup v2/v1 and /proc/meminfo,
 * and the default memory budget taken from it.
 */
#include "memlimit.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads a small text file whole into buf (NUL-terminated); 0 or -1. */
static int read_small(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL)
        return -1;
    n = fread(buf, 1, len - 1, f);
    fclose(f);
    buf[n] = '\0';
    return 0;
}

long long memlimit_parse_limit(const char *text)
{
    char *end;
    unsigned long long v;

    while (isspace((unsigned char)*text))
        text++;
    if (strncmp(text, "max", 3) == 0 && (text[3] == '\0' || isspace((unsigned char)text[3])))
        return 0;
    if (!isdigit((unsigned char)*text))
        return -1;
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno != 0 || (*end != '\0' && !isspace((unsigned char)*end)))
        return -1;
    return v > (unsigned long long)(9223372036854775807LL) ? 0 : (long long)v;
}

/* MemTotal from meminfo, bytes; 0 when unreadable. */
static unsigned long long read_memtotal(const char *root)
{
    char path[4096], buf[4096];
    const char *p;
    unsigned long long kb;

    snprintf(path, sizeof(path), "%s/proc/meminfo", root);
    if (read_small(path, buf, sizeof(buf)) < 0)
        return 0;
    p = strstr(buf, "MemTotal:");
    if (p == NULL || sscanf(p + 9, "%llu", &kb) != 1)
        return 0;
    return kb * 1024;
}

/*
 * The smallest limit in file `name` of the cgroup `cg` (a path from
 * /proc/self/cgroup) and of each ancestor, under the hierarchy's mount
 * directory `mnt`; 0 when none is set or readable. In a container the
 * mount's root is often the process's own cgroup, so the walk up also
 * reaches the mount's root file.
 */
static unsigned long long cgroup_min_limit(const char *mnt, const char *cg, const char *name)
{
    char dir[2048], path[4096 + 64], buf[128];
    unsigned long long best = 0;

    snprintf(dir, sizeof(dir), "%s", cg);
    for (;;) {
        char *slash;
        long long v;

        snprintf(path, sizeof(path), "%s%s/%s", mnt, dir, name);
        if (read_small(path, buf, sizeof(buf)) == 0) {
            v = memlimit_parse_limit(buf);
            if (v > 0 && (best == 0 || (unsigned long long)v < best))
                best = (unsigned long long)v;
        }
        if (dir[0] == '\0')
            break;
        slash = strrchr(dir, '/');
        if (slash == NULL)
            break;
        *slash = '\0';
    }
    return best;
}

/* True when a /proc/self/cgroup controller list ("cpu,memory") names memory. */
static int names_memory(const char *list)
{
    char tmp[256], *save = NULL;

    snprintf(tmp, sizeof(tmp), "%s", list);
    for (char *t = strtok_r(tmp, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save))
        if (strcmp(t, "memory") == 0)
            return 1;
    return 0;
}

/* Updates out with the cgroup limits of the process's cgroups (v2 and v1) when lower. */
static void read_cgroups(const char *root, struct memlimit *out)
{
    char path[4096 + 64], mnt[4096 + 64], line[2048];
    FILE *f;

    snprintf(path, sizeof(path), "%s/proc/self/cgroup", root);
    f = fopen(path, "r");
    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        char *ctl = strchr(line, ':'), *cg;
        unsigned long long v = 0;
        enum memlimit_source src = MEMLIMIT_NONE;

        if (ctl == NULL)
            continue;
        cg = strchr(++ctl, ':');
        if (cg == NULL)
            continue;
        *cg++ = '\0';
        cg[strcspn(cg, "\n")] = '\0';
        if (strcmp(cg, "/") == 0)
            cg[0] = '\0';
        if (line[0] == '0' && ctl[0] == '\0') {
            snprintf(mnt, sizeof(mnt), "%s/sys/fs/cgroup", root);
            v = cgroup_min_limit(mnt, cg, "memory.max");
            src = MEMLIMIT_CGROUP2;
        } else if (names_memory(ctl)) {
            snprintf(mnt, sizeof(mnt), "%s/sys/fs/cgroup/memory", root);
            v = cgroup_min_limit(mnt, cg, "memory.limit_in_bytes");
            src = MEMLIMIT_CGROUP1;
        }
        if (v > 0 && v < out->bytes) {
            out->bytes = v;
            out->source = src;
        }
    }
    fclose(f);
}

void memlimit_read(const char *root, struct memlimit *out)
{
    unsigned long long total = read_memtotal(root);

    out->bytes = total > 0 ? total : ~0ULL;
    out->source = total > 0 ? MEMLIMIT_MEMTOTAL : MEMLIMIT_NONE;
    read_cgroups(root, out);
    if (out->source == MEMLIMIT_NONE)
        out->bytes = 0;
}

size_t memlimit_budget(const struct memlimit *m)
{
    double b = (double)m->bytes * MEMLIMIT_BUDGET_FRACTION;

    if (m->source == MEMLIMIT_NONE || b < 1)
        return 0;
    return b >= (double)(SIZE_MAX / 2) ? SIZE_MAX / 2 : (size_t)b;
}

const char *memlimit_source_name(enum memlimit_source s)
{
    static const char *const names[] = {
        [MEMLIMIT_NONE] = "none",
        [MEMLIMIT_CGROUP2] = "cgroup v2 memory.max",
        [MEMLIMIT_CGROUP1] = "cgroup v1 memory.limit_in_bytes",
        [MEMLIMIT_MEMTOTAL] = "MemTotal",
    };

    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "none";
}
