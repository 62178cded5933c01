/* test_memlimit: the memory limit from cgroup v2/v1 files and /proc/meminfo, fed from a temp tree.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "memlimit.h"

#define MB (1024ULL * 1024)

static char root[64];

/* Writes text to root/rel, creating its directories. */
static void put(const char *rel, const char *text)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0700);
            *p = '/';
        }
    }
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int make_root(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/test_memlimit.XXXXXX");
    if (mkdtemp(root) == NULL)
        return -1;
    put("proc/meminfo", "MemTotal:        4096000 kB\nMemFree:         1000 kB\n");
    return 0;
}

static int remove_root(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_parse_limit(void **state)
{
    (void)state;
    assert_int_equal(memlimit_parse_limit("536870912\n"), 536870912LL);
    assert_int_equal(memlimit_parse_limit("max\n"), 0);
    assert_int_equal(memlimit_parse_limit("max"), 0);
    assert_int_equal(memlimit_parse_limit("9223372036854771712\n"), 9223372036854771712LL);
    assert_int_equal(memlimit_parse_limit("18446744073709551615"), 0);
    assert_int_equal(memlimit_parse_limit(""), -1);
    assert_int_equal(memlimit_parse_limit("maximum"), -1);
    assert_int_equal(memlimit_parse_limit("12k"), -1);
    assert_int_equal(memlimit_parse_limit("-5"), -1);
}

/* No cgroup file: MemTotal, and the budget is the fraction of it. */
static void test_memtotal_only(void **state)
{
    struct memlimit m;

    (void)state;
    memlimit_read(root, &m);
    assert_int_equal(m.source, MEMLIMIT_MEMTOTAL);
    assert_int_equal(m.bytes, 4096000ULL * 1024);
    assert_int_equal(memlimit_budget(&m), (size_t)(4096000ULL * 1024 * MEMLIMIT_BUDGET_FRACTION));
    assert_string_equal(memlimit_source_name(m.source), "MemTotal");
}

/* cgroup v2: the lowest memory.max on the way up wins; "max" is no limit. */
static void test_cgroup2(void **state)
{
    struct memlimit m;

    (void)state;
    put("proc/self/cgroup", "0::/system.slice/imgfcgi.service\n");
    put("sys/fs/cgroup/system.slice/imgfcgi.service/memory.max", "max\n");
    put("sys/fs/cgroup/system.slice/memory.max", "1073741824\n");
    memlimit_read(root, &m);
    assert_int_equal(m.source, MEMLIMIT_CGROUP2);
    assert_int_equal(m.bytes, 1024 * MB);
    assert_int_equal(memlimit_budget(&m), 512 * MB);
    put("sys/fs/cgroup/system.slice/imgfcgi.service/memory.max", "268435456\n");
    memlimit_read(root, &m);
    assert_int_equal(m.bytes, 256 * MB);
    /* a limit above the machine's memory is the machine's memory */
    put("sys/fs/cgroup/system.slice/imgfcgi.service/memory.max", "max\n");
    put("sys/fs/cgroup/system.slice/memory.max", "68719476736\n");
    memlimit_read(root, &m);
    assert_int_equal(m.source, MEMLIMIT_MEMTOTAL);
    put("sys/fs/cgroup/system.slice/memory.max", "max\n");
}

/* cgroup v1 (hybrid): the memory controller's line; a container sees its limit at the mount's root.
 */
static void test_cgroup1(void **state)
{
    struct memlimit m;

    (void)state;
    put("proc/self/cgroup", "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n");
    put("sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
    memlimit_read(root, &m);
    assert_int_equal(m.source, MEMLIMIT_MEMTOTAL);
    put("sys/fs/cgroup/memory/memory.limit_in_bytes", "805306368\n");
    memlimit_read(root, &m);
    assert_int_equal(m.source, MEMLIMIT_CGROUP1);
    assert_int_equal(m.bytes, 768 * MB);
    assert_int_equal(memlimit_budget(&m), 384 * MB);
    assert_string_equal(memlimit_source_name(m.source), "cgroup v1 memory.limit_in_bytes");
}

/* Nothing readable: no limit, no default budget. */
static void test_nothing(void **state)
{
    struct memlimit m = {.bytes = 1, .source = MEMLIMIT_CGROUP2}; /* overwritten */

    (void)state;
    memlimit_read("/nonexistent-root-for-test", &m);
    assert_string_equal(memlimit_source_name(m.source), "none");
    assert_int_equal(m.source, MEMLIMIT_NONE);
    assert_int_equal(m.bytes, 0);
    assert_int_equal(memlimit_budget(&m), 0);
}

/* The real machine: some limit is found and the budget is below it. */
static void test_this_machine(void **state)
{
    struct memlimit m;

    (void)state;
    memlimit_read("", &m);
    assert_int_not_equal(m.source, MEMLIMIT_NONE);
    assert_true(memlimit_budget(&m) > 0 && memlimit_budget(&m) < m.bytes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_limit), cmocka_unit_test(test_memtotal_only),
        cmocka_unit_test(test_cgroup2),     cmocka_unit_test(test_cgroup1),
        cmocka_unit_test(test_nothing),     cmocka_unit_test(test_this_machine),
    };

    return cmocka_run_group_tests(tests, make_root, remove_root);
}
