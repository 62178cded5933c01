/* metrics.c: counters in atomics, rendered as Prometheus text on request. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <vips/vips.h>

#include "bufpool.h"
#include "memory.h"
#include "metrics.h"
#include "scheduler.h"
#include "storage.h"
#include "banned.h"

#define NBOUNDS 12
static const double bounds[NBOUNDS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

struct hist {
    _Atomic uint64_t buckets[NBOUNDS + 1]; /* non-cumulative; the last is +Inf */
    _Atomic uint64_t count;
    _Atomic uint64_t sum_us;
};

static struct hist hists[METRICS_NHIST];
static const char *const hist_names[METRICS_NHIST] = {
    "imgfcgi_request_duration_seconds",
    "imgfcgi_download_duration_seconds",
    "imgfcgi_processing_duration_seconds",
};
static const char *const hist_help[METRICS_NHIST] = {
    "Whole request, from the handler's start to the last byte.",
    "Source download (or local read).",
    "libvips pipeline and encoding, while streaming the result.",
};

/* Statuses 100..599; anything else is counted as 0. */
static _Atomic uint64_t statuses[600];
static atomic_long in_flight;

void metrics_request_start(void)
{
    atomic_fetch_add(&in_flight, 1);
}

void metrics_request_end(int status)
{
    atomic_fetch_sub(&in_flight, 1);
    atomic_fetch_add(&statuses[status >= 100 && status < 600 ? status : 0], 1);
}

void metrics_observe(enum metrics_hist h, double seconds)
{
    unsigned i = 0;

    if (h >= METRICS_NHIST)
        return;
    if (seconds < 0)
        seconds = 0;
    while (i < NBOUNDS && seconds > bounds[i])
        i++;
    atomic_fetch_add(&hists[h].buckets[i], 1);
    atomic_fetch_add(&hists[h].count, 1);
    atomic_fetch_add(&hists[h].sum_us, (uint64_t)(seconds * 1e6));
}

/* Appends printf-style text; sticky failure in *rc. */
static void put(struct buf *out, int *rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void put(struct buf *out, int *rc, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    int n;

    if (*rc < 0)
        return;
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line) || buf_append(out, line, (size_t)n) < 0)
        *rc = -1;
}

static void gauge(struct buf *out, int *rc, const char *name, const char *help, const char *type,
                  const char *labels, unsigned long long v)
{
    put(out, rc, "# HELP %s %s\n# TYPE %s %s\n%s%s %llu\n", name, help, name, type, name, labels,
        v);
}

/* One gauge or counter of a table: its name, HELP text and TYPE. */
struct metric_def {
    const char *name, *help, *type;
};

/* The memory budget's gauges and counters, in the order budget_values() fills them. */
static const struct metric_def budget_defs[] = {
    {"imgfcgi_memory_budget_bytes", "IMGFCGI_MEMORY_BUDGET; 0 = off.", "gauge"},
    {"imgfcgi_memory_budget_used_bytes",
     "Sum of the estimates of the requests admitted and in flight.", "gauge"},
    {"imgfcgi_memory_budget_in_flight", "Requests admitted and in flight.", "gauge"},
    {"imgfcgi_memory_budget_waiting", "Requests waiting for budget.", "gauge"},
    {"imgfcgi_memory_budget_admitted_total", "Requests admitted, at once or after waiting.",
     "counter"},
    {"imgfcgi_memory_budget_waited_total", "Requests admitted after waiting.", "counter"},
    {"imgfcgi_memory_budget_rejected_total",
     "Requests whose estimate alone exceeds the budget (422).", "counter"},
    {"imgfcgi_memory_budget_timed_out_total", "Requests whose deadline passed while waiting (503).",
     "counter"},
    {"imgfcgi_memory_estimate_measured_total", "Requests that ran alone, whose peak was measured.",
     "counter"},
    {"imgfcgi_memory_estimate_unmeasured_total",
     "Requests that overlapped others: no honest per-request peak.", "counter"},
    {"imgfcgi_memory_estimate_bytes_total",
     "Sum of the estimates (processing part) of the measured requests.", "counter"},
    {"imgfcgi_memory_measured_peak_bytes_total",
     "Sum of their measured peaks: max of RSS peak growth and libvips high-water growth.",
     "counter"},
    {"imgfcgi_memory_measured_rss_bytes_total",
     "Sum of their RSS peak growth (VmHWM after - RSS before).", "counter"},
    {"imgfcgi_memory_measured_vips_bytes_total",
     "Sum of their libvips tracked high-water growth (0 when not raised).", "counter"},
};
#define NBUDGET (sizeof(budget_defs) / sizeof(budget_defs[0]))

/* The CPU gate's gauges and counters, in the order render_budget() fills them. */
static const struct metric_def cpu_gate_defs[] = {
    {"imgfcgi_cpu_gate_mode",
     "How thumbnails get the CPU first: 0 off, 1 cooperative waits, 2 nice values.", "gauge"},
    {"imgfcgi_cpu_gate_waits_total",
     "Strips of big requests that waited while thumbnails processed.", "counter"},
    {"imgfcgi_cpu_gate_wait_milliseconds_total", "Their total wait.", "counter"},
    {"imgfcgi_cpu_gate_timeouts_total", "Waits cut off after CPUGATE_MAX_WAIT_MS.", "counter"},
};
#define NCPU_GATE (sizeof(cpu_gate_defs) / sizeof(cpu_gate_defs[0]))

/* n rows of defs with their values v, each with labels ("" for none). */
static void gauges(struct buf *out, int *rc, const struct metric_def *defs,
                   const unsigned long long *v, size_t n, const char *labels)
{
    for (size_t i = 0; i < n; i++)
        gauge(out, rc, defs[i].name, defs[i].help, defs[i].type, labels, v[i]);
}

/*
 * A histogram: HELP and TYPE, the cumulative buckets from the non-cumulative counts[nbounds + 1]
 * (the last is +Inf), the sum and the count.
 */
static void histogram(struct buf *out, int *rc, const char *name, const char *help,
                      const double *bounds_, const uint64_t *counts, int nbounds, double sum)
{
    uint64_t cum = 0;

    put(out, rc, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (int i = 0; i <= nbounds; i++) {
        cum += counts[i];
        if (i < nbounds)
            put(out, rc, "%s_bucket{le=\"%g\"} %llu\n", name, bounds_[i], (unsigned long long)cum);
        else
            put(out, rc, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
    }
    put(out, rc, "%s_sum %.6f\n%s_count %llu\n", name, sum, name, (unsigned long long)cum);
}

static void budget_values(const struct admission_stats *st, unsigned long long v[NBUDGET])
{
    const uint64_t src[NBUDGET] = {
        st->budget,         st->in_use,         st->in_flight, st->waiting,    st->admitted,
        st->waited,         st->rejected,       st->timed_out, st->measured,   st->unmeasured,
        st->estimate_bytes, st->measured_bytes, st->rss_bytes, st->vips_bytes,
    };

    for (size_t i = 0; i < NBUDGET; i++)
        v[i] = (unsigned long long)src[i];
}

/* The download buffer pool's gauges and counters, in the order pool_values() fills them. */
static const struct metric_def pool_defs[] = {
    {"imgfcgi_buffer_pool_default_size_bytes", "Size of new buffers.", "gauge"},
    {"imgfcgi_buffer_pool_max_size_bytes", "Largest buffer kept; 0 = not calibrated yet.", "gauge"},
    {"imgfcgi_buffer_pool_calibrations_total", "Calibrations done.", "counter"},
    {"imgfcgi_buffer_pool_buffers", "Idle buffers in the pool.", "gauge"},
    {"imgfcgi_buffer_pool_bytes", "Capacity of the idle buffers.", "gauge"},
    {"imgfcgi_buffer_pool_largest_buffer_bytes", "Largest idle buffer.", "gauge"},
    {"imgfcgi_buffer_pool_oversize_buffers", "Idle buffers above the max size (always 0).",
     "gauge"},
    {"imgfcgi_buffer_pool_in_use", "Buffers handed out.", "gauge"},
    {"imgfcgi_buffer_pool_hits_total", "Acquires served by an idle buffer that was big enough.",
     "counter"},
    {"imgfcgi_buffer_pool_misses_total", "Acquires that had to allocate.", "counter"},
    {"imgfcgi_buffer_pool_calibrated_hits_total", "Hits since the first calibration.", "counter"},
    {"imgfcgi_buffer_pool_calibrated_misses_total", "Misses since the first calibration.",
     "counter"},
    {"imgfcgi_buffer_pool_dropped_total",
     "Buffers freed instead of kept (too big, pool full, trimmed).", "counter"},
};
#define NPOOL (sizeof(pool_defs) / sizeof(pool_defs[0]))

static void pool_values(const struct bufpool_stats *st, unsigned long long v[NPOOL])
{
    const uint64_t src[NPOOL] = {
        st->default_size,    st->max_size,          st->calibrations, st->pooled, st->pooled_bytes,
        st->largest_pooled,  st->oversize_pooled,   st->in_use,       st->hits,   st->misses,
        st->hits_calibrated, st->misses_calibrated, st->dropped,
    };

    for (size_t i = 0; i < NPOOL; i++)
        v[i] = (unsigned long long)src[i];
}

/* IMGFCGI_MEMORY_BUDGET: use, decisions, and the estimate against what was measured. */
/* The object stores' counters, one labelled line per enabled scheme. */
static void render_storage(struct buf *out, int *rc)
{
    static const struct {
        const char *name, *help;
    } defs[] = {
        {"imgfcgi_storage_auth_total", "Token and authentication requests made to a storage."},
        {"imgfcgi_storage_requests_total", "Object GETs sent to a storage."},
        {"imgfcgi_storage_bytes_total", "Object body bytes received from a storage."},
    };

    for (size_t d = 0; d < sizeof(defs) / sizeof(defs[0]); d++) {
        put(out, rc, "# HELP %s %s\n# TYPE %s counter\n", defs[d].name, defs[d].help, defs[d].name);
        for (int k = 0; k < STORAGE_NKINDS; k++) {
            struct storage_stats st;

            if (storage_ops_for((enum storage_kind)k) == NULL)
                continue;
            storage_get_stats((enum storage_kind)k, &st);
            put(out, rc, "%s{storage=\"%s\"} %llu\n", defs[d].name,
                storage_scheme((enum storage_kind)k),
                d == 0   ? st.auth
                : d == 1 ? st.requests
                         : st.bytes);
        }
    }
}

static void render_budget(struct buf *out, int *rc, struct sched *s)
{
    struct sched_stats ss;
    unsigned long long v[NBUDGET], cpu[NCPU_GATE];

    if (s != NULL)
        sched_get_stats(s, &ss);
    if (s == NULL || !ss.budget_on) {
        gauges(out, rc, budget_defs, (const unsigned long long[]){0}, 1, "");
        return;
    }
    budget_values(&ss.memory, v);
    gauges(out, rc, budget_defs, v, NBUDGET, "");
    histogram(out, rc, "imgfcgi_memory_estimate_ratio",
              "Estimate divided by measured peak, per measured request.", admission_ratio_bounds,
              ss.memory.ratio_buckets, ADMISSION_RATIO_BUCKETS, ss.memory.ratio_sum);
    cpu[0] = (unsigned long long)ss.cpu_mode;
    cpu[1] = ss.cpu.waits;
    cpu[2] = ss.cpu.wait_ms;
    cpu[3] = ss.cpu.timeouts;
    gauges(out, rc, cpu_gate_defs, cpu, NCPU_GATE, "");
}

int metrics_render(struct buf *out, struct sched *sched)
{
    struct bufpool_stats st;
    unsigned long long v[NPOOL];
    enum memory_allocator a = memory_allocator();
    char labels[128];
    int rc = 0;

    gauge(out, &rc, "imgfcgi_process_resident_memory_bytes",
          "Resident set size from /proc/self/statm.", "gauge", "",
          (unsigned long long)memory_rss());
    put(out, &rc,
        "# HELP imgfcgi_allocator_info The allocator serving malloc.\n"
        "# TYPE imgfcgi_allocator_info gauge\n"
        "imgfcgi_allocator_info{allocator=\"%s\",library=\"%s\"} 1\n",
        memory_allocator_name(a), memory_allocator_library());
    gauge(out, &rc, "imgfcgi_memory_releases_total",
          "Calls returning free memory to the OS (malloc_trim, jemalloc purge, tcmalloc release).",
          "counter", "", (unsigned long long)memory_releases());
    gauge(out, &rc, "imgfcgi_memory_released_bytes_total",
          "Bytes those calls released, as the allocator (or, for glibc, RSS) tells.", "counter", "",
          (unsigned long long)memory_released_bytes());
    gauge(out, &rc, "imgfcgi_vips_memory_bytes", "libvips tracked memory (vips_tracked_get_mem).",
          "gauge", "", (unsigned long long)vips_tracked_get_mem());
    gauge(out, &rc, "imgfcgi_vips_max_memory_bytes", "High-water mark of libvips tracked memory.",
          "gauge", "", (unsigned long long)vips_tracked_get_mem_highwater());
    gauge(out, &rc, "imgfcgi_vips_allocations", "libvips tracked allocations alive.", "gauge", "",
          (unsigned long long)vips_tracked_get_allocs());

    bufpool_get_stats(bufpool_download, &st);
    snprintf(labels, sizeof(labels), "{pool=\"%s\"}", bufpool_name(bufpool_download));
    pool_values(&st, v);
    gauges(out, &rc, pool_defs, v, NPOOL, labels);

    render_budget(out, &rc, sched);
    gauge(out, &rc, "imgfcgi_requests_in_flight", "Requests being served.", "gauge", "",
          (unsigned long long)(atomic_load(&in_flight) > 0 ? atomic_load(&in_flight) : 0));

    for (int h = 0; h < METRICS_NHIST; h++) {
        uint64_t counts[NBOUNDS + 1];

        for (int i = 0; i <= NBOUNDS; i++)
            counts[i] = atomic_load(&hists[h].buckets[i]);
        histogram(out, &rc, hist_names[h], hist_help[h], bounds, counts, NBOUNDS,
                  (double)atomic_load(&hists[h].sum_us) / 1e6);
    }

    render_storage(out, &rc);
    put(out, &rc,
        "# HELP imgfcgi_responses_total Responses by HTTP status.\n"
        "# TYPE imgfcgi_responses_total counter\n");
    for (int s = 0; s < 600; s++) {
        uint64_t n = atomic_load(&statuses[s]);

        if (n > 0)
            put(out, &rc, "imgfcgi_responses_total{status=\"%d\"} %llu\n", s,
                (unsigned long long)n);
    }
    return rc;
}

void metrics_snapshot(struct metrics_snapshot *st, struct sched *sched)
{
    struct bufpool_stats ps;
    struct sched_stats ss;
    long n = atomic_load(&in_flight);

    memset(st, 0, sizeof(*st));
    st->rss = (unsigned long long)memory_rss();
    st->allocator = memory_allocator_name(memory_allocator());
    st->allocator_library = memory_allocator_library();
    st->releases = (unsigned long long)memory_releases();
    st->released_bytes = (unsigned long long)memory_released_bytes();
    st->vips_mem = (unsigned long long)vips_tracked_get_mem();
    st->vips_mem_highwater = (unsigned long long)vips_tracked_get_mem_highwater();
    bufpool_get_stats(bufpool_download, &ps);
    st->pool_default_size = ps.default_size;
    st->pool_max_size = ps.max_size;
    st->pool_calibrations = ps.calibrations;
    st->pool_buffers = ps.pooled;
    st->pool_bytes = ps.pooled_bytes;
    st->pool_in_use = ps.in_use;
    st->in_flight = n > 0 ? n : 0;
    if (sched == NULL)
        return;
    sched_get_stats(sched, &ss);
    st->slots_in_use = ss.slots_in_use;
    st->slots_waiting = ss.slots_waiting;
    st->budget_on = ss.budget_on;
    if (ss.budget_on) {
        st->budget = ss.memory.budget;
        st->budget_used = ss.memory.in_use;
        st->budget_waiting = ss.memory.waiting;
    }
}
