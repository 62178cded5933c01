/*
 * limit.c: the in-process throughput limit of imgfcgi's image work.
 *
 * Runs the operation a request URI asks for on sources already in memory,
 * with no FastCGI, no web server and no fetch: the best a process built on
 * libvips can do on this machine with the same settings. Two modes:
 *
 *   imgfcgi    what handler.c does, minus the fetch: url_split,
 *              signature_verify, url_parse_path, the default preset,
 *              options_apply_url, url_preprocess, imagetype_sniff,
 *              process_prepare, process_save into a counting sink,
 *              process_job_free, process_thread_cleanup;
 *   thumbnail  libvips' own vips_thumbnail_buffer to the same size and
 *              format with the same saver settings, for reference.
 *
 * Design. N threads share nothing but an atomic round-robin index into the
 * URI list and the start/stop times; each records the duration of every
 * operation it finished inside the measuring window (after the warm-up) in
 * its own array. Configuration comes from the environment through
 * config_load(), as in imgfcgi, so IMGFCGI_VIPS_CONCURRENCY and the quality
 * settings are the ones the server would use, and so are its malloc
 * thresholds (memory_tune).
 *
 * Output: one line of key=value pairs on stdout (tests/bench/throughput parses it).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <vips/vips.h>

#include "config.h"
#include "errors.h"
#include "imagetype.h"
#include "log.h"
#include "memory.h"
#include "options.h"
#include "presets.h"
#include "process.h"
#include "signature.h"
#include "url.h"
#include "banned.h"

#define MAX_SOURCES 64

enum mode { MODE_IMGFCGI, MODE_THUMBNAIL };

/* One request URI and its source, read once at start. */
struct source {
    const char *uri;
    unsigned char *data; /* owned */
    size_t len;
    /* For the thumbnail mode: size and format imgfcgi gives for this URI. */
    int width, height;
    bool crop;
    enum imgtype out_type;
    int quality;
};

struct bench {
    enum mode mode;
    struct source src[MAX_SOURCES];
    size_t nsrc;
    atomic_size_t next;
    size_t count; /* > 0: run exactly this many operations, all measured (for profilers) */
    double t_measure, t_end; /* monotonic seconds */
    atomic_int failures;
};

struct thread_state {
    struct bench *b;
    pthread_t thread;
    double *lat; /* ms, operations finished inside the window */
    size_t nlat, cap;
    unsigned long long bytes;
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int count_bytes(void *ctx, const void *data, size_t len)
{
    (void)data;
    *(unsigned long long *)ctx += len;
    return 0;
}

/* The options serve_image() builds: the default preset, the URL's segments, the extension. */
static int parse_options(const struct urlparts *u, struct procopts *po, struct errinfo *e)
{
    char sep = cfg.arguments_separator[0];

    options_init(po);
    if (presets_find("default", 7) != NULL && options_apply_preset(po, "default", 7, sep, e) < 0)
        return -1;
    for (size_t i = 0; i < u->nsegments; i++)
        if (options_apply_url(po, u->segments[i], strlen(u->segments[i]), sep, e) < 0)
            return -1;
    if (u->ext != NULL && !po->raw && options_apply_format(po, u->ext, strlen(u->ext), e) < 0)
        return -1;
    return 0;
}

/* What handler.c's serve_image does once the source is in memory. */
static int run_imgfcgi(const struct source *s, unsigned long long *bytes, struct errinfo *e)
{
    struct urlparts u;
    struct procopts po;
    struct process_job *job = NULL;
    struct process_info info;
    enum imgtype t;
    char *source = NULL;
    int ret;

    memset(&u, 0, sizeof(u));
    ret = url_split(&u, s->uri, strlen(s->uri), cfg.path_prefix, e);
    if (ret == 0)
        ret = signature_verify(u.signature, strlen(u.signature), u.path, u.path_len, e);
    if (ret == 0)
        ret = url_parse_path(&u, cfg.arguments_separator[0], e);
    if (ret < 0)
        goto out;
    ret = parse_options(&u, &po, e);
    if (ret < 0)
        goto out;
    /* The source was read at start-up; the replacement only costs what it costs there. */
    source = url_preprocess(u.source);
    if (source == NULL) {
        ret = err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    t = imagetype_sniff(s->data, s->len, (size_t)cfg.max_svg_check_bytes);
    if (t == IMGTYPE_UNKNOWN) {
        ret = err_set(e, ERR_SOURCE_TYPE, "unknown source type");
        goto out;
    }
    ret = process_prepare(&job, s->data, s->len, t, &po, NULL, NULL, &info, e);
    if (ret < 0)
        goto out;
    ret = process_save(job, count_bytes, bytes, e);
out:
    g_free(source);
    process_job_free(job);
    url_release(&u);
    process_thread_cleanup();
    return ret;
}

/* vips_thumbnail_buffer to the size imgfcgi computed, saved as process_save() saves. */
static int run_thumbnail(const struct source *s, unsigned long long *bytes)
{
    VipsImage *img = NULL;
    VipsTarget *target = NULL;
    int r = -1;

    if (vips_thumbnail_buffer(s->data, s->len, &img, s->width, "height", s->height, "crop",
                              s->crop ? VIPS_INTERESTING_CENTRE : VIPS_INTERESTING_NONE, "size",
                              VIPS_SIZE_DOWN, NULL))
        goto out;
    target = vips_target_new_to_memory();
    if (target == NULL)
        goto out;
    switch (s->out_type) {
    case IMGTYPE_JPEG:
        r = vips_jpegsave_target(img, target, "Q", s->quality, "optimize_coding", TRUE, "interlace",
                                 cfg.jpeg_progressive, "strip", TRUE, NULL);
        break;
    case IMGTYPE_PNG:
        r = vips_pngsave_target(img, target, "filter", VIPS_FOREIGN_PNG_FILTER_ALL, "interlace",
                                cfg.png_interlaced, "strip", TRUE, NULL);
        break;
    case IMGTYPE_WEBP:
        r = vips_webpsave_target(img, target, "Q", s->quality, "effort", cfg.webp_effort, "strip",
                                 TRUE, NULL);
        break;
    case IMGTYPE_AVIF:
        r = vips_heifsave_target(img, target, "Q", s->quality, "compression",
                                 VIPS_FOREIGN_HEIF_COMPRESSION_AV1, "effort", 9 - cfg.avif_speed,
                                 "strip", TRUE, NULL);
        break;
    case IMGTYPE_GIF:
        r = vips_gifsave_target(img, target, "strip", TRUE, NULL);
        break;
    default:
        r = vips_image_write_to_target(img, ".jpg", target, NULL);
        break;
    }
    if (r == 0) {
        VipsBlob *blob = NULL;
        size_t len = 0;

        g_object_get(target, "blob", &blob, NULL);
        if (blob != NULL) {
            vips_blob_get(blob, &len);
            *bytes += len;
            vips_area_unref(VIPS_AREA(blob));
        }
    }
out:
    if (target != NULL)
        g_object_unref(target);
    if (img != NULL)
        g_object_unref(img);
    vips_error_clear();
    vips_thread_shutdown();
    return r;
}

static int record(struct thread_state *ts, double ms)
{
    if (ts->nlat == ts->cap) {
        size_t cap = ts->cap ? ts->cap * 2 : 1024;
        double *p = realloc(ts->lat, cap * sizeof(*p));

        if (p == NULL)
            return -1;
        ts->lat = p;
        ts->cap = cap;
    }
    ts->lat[ts->nlat++] = ms;
    return 0;
}

static void *thread_main(void *arg)
{
    struct thread_state *ts = arg;
    struct bench *b = ts->b;

    for (;;) {
        double t0 = now_s(), t1;
        size_t k = atomic_fetch_add(&b->next, 1), i = k % b->nsrc;
        unsigned long long bytes = 0;
        struct errinfo e;
        int r;

        if (b->count > 0 ? k >= b->count : t0 >= b->t_end)
            break;
        err_clear(&e);
        r = b->mode == MODE_IMGFCGI ? run_imgfcgi(&b->src[i], &bytes, &e)
                                    : run_thumbnail(&b->src[i], &bytes);
        t1 = now_s();
        if (r < 0) {
            if (atomic_fetch_add(&b->failures, 1) < 5)
                fprintf(stderr, "limit: %s failed: %s\n", b->src[i].uri,
                        b->mode == MODE_IMGFCGI ? e.msg : "thumbnail");
            continue;
        }
        /* Like wrk: a request counts when it completes inside the window. */
        if (b->count > 0 || (t0 >= b->t_measure && t1 <= b->t_end)) {
            ts->bytes += bytes;
            if (record(ts, (t1 - t0) * 1000.0) < 0)
                break;
        }
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n). */
static double percentile(const double *v, size_t n, double p)
{
    size_t k;

    if (n == 0)
        return 0;
    k = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return v[k - 1];
}

static int read_file(const char *path, unsigned char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *p = NULL;
    long n;

    if (f == NULL)
        return -1;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto fail;
    p = malloc((size_t)n + 1);
    if (p == NULL || fread(p, 1, (size_t)n, f) != (size_t)n)
        goto fail;
    fclose(f);
    *data = p;
    *len = (size_t)n;
    return 0;
fail:
    free(p);
    fclose(f);
    return -1;
}

/*
 * Reads the local:// source of s->uri from root and works out, with
 * imgfcgi's own parser and planner, what the thumbnail mode must produce.
 */
static int load_source(struct source *s, const char *root)
{
    struct urlparts u;
    struct procopts po;
    struct process_job *job = NULL;
    struct process_info info;
    struct errinfo e;
    char path[4096];
    const char *name;
    int ret = -1;

    memset(&u, 0, sizeof(u));
    err_clear(&e);
    if (url_split(&u, s->uri, strlen(s->uri), cfg.path_prefix, &e) < 0 ||
        url_parse_path(&u, cfg.arguments_separator[0], &e) < 0) {
        fprintf(stderr, "limit: %s: %s\n", s->uri, e.msg);
        goto out;
    }
    if (strncmp(u.source, "local:///", 9) != 0) {
        fprintf(stderr, "limit: %s: the source must be local:///NAME\n", s->uri);
        goto out;
    }
    name = u.source + 9;
    snprintf(path, sizeof(path), "%s/%s", root, name);
    if (read_file(path, &s->data, &s->len) < 0) {
        fprintf(stderr, "limit: cannot read %s: %s\n", path, strerror(errno));
        goto out;
    }
    if (parse_options(&u, &po, &e) < 0)
        goto bad;
    if (process_prepare(&job, s->data, s->len,
                        imagetype_sniff(s->data, s->len, (size_t)cfg.max_svg_check_bytes), &po,
                        NULL, NULL, &info, &e) < 0)
        goto bad;
    s->width = po.width > 0 ? po.width : VIPS_MAX_COORD;
    s->height = po.height > 0 ? po.height : VIPS_MAX_COORD;
    s->crop = po.resizing_type == RT_FILL;
    s->out_type = info.out_type;
    s->quality = options_quality(&po, info.out_type);
    ret = 0;
    goto out;
bad:
    fprintf(stderr, "limit: %s: %s\n", s->uri, e.msg);
out:
    process_job_free(job);
    url_release(&u);
    process_thread_cleanup();
    return ret;
}

static void usage(void)
{
    fprintf(stderr, "usage: limit [-m imgfcgi|thumbnail] [-t THREADS] [-w WARMUP_S] [-d SECONDS]\n"
                    "             [-n COUNT] ROOT URI...\n"
                    "Runs each URI's operation (its source local:///NAME read from ROOT once)\n"
                    "round-robin on THREADS threads for WARMUP_S + SECONDS, or exactly COUNT\n"
                    "times (for profilers); prints req/s, p50/p99 ms, peak RSS.\n");
}

/* Options into b and the out-parameters: 0, 1 after -h, -1 on a bad command line. */
static int parse_args(int argc, char **argv, struct bench *b, int *threads, double *warmup,
                      double *seconds)
{
    int opt;

    b->mode = MODE_IMGFCGI;
    while ((opt = getopt(argc, argv, "m:t:w:d:n:h")) != -1) {
        switch (opt) {
        case 'm':
            if (strcmp(optarg, "imgfcgi") == 0)
                b->mode = MODE_IMGFCGI;
            else if (strcmp(optarg, "thumbnail") == 0)
                b->mode = MODE_THUMBNAIL;
            else
                return -1;
            break;
        case 't':
            *threads = (int)strtol(optarg, NULL, 10);
            break;
        case 'w':
            *warmup = strtod(optarg, NULL);
            break;
        case 'd':
            *seconds = strtod(optarg, NULL);
            break;
        case 'n':
            b->count = (size_t)strtoul(optarg, NULL, 10);
            break;
        case 'h':
            return 1;
        default:
            return -1;
        }
    }
    if (*threads < 1 || *threads > 256 || *seconds <= 0 || *warmup < 0 || argc - optind < 2 ||
        argc - optind - 1 > MAX_SOURCES)
        return -1;
    return 0;
}

/* The settings, presets and libvips as imgfcgi starts them; 0 or -1 (said on stderr). */
static int start_up(const char *argv0)
{
    char err[256];

    if (config_load(&cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "limit: %s\n", err);
        return -1;
    }
    log_set_level(LOG_ERROR);
    /* The allocator settings imgfcgi starts with (fcgi/main.c). */
    memory_tune(cfg.malloc_trim_threshold);
    if (presets_init(err, sizeof(err)) != 0) {
        fprintf(stderr, "limit: %s\n", err);
        return -1;
    }
    if (process_global_init(argv0) != 0) {
        fprintf(stderr, "limit: libvips start-up failed\n");
        return -1;
    }
    return 0;
}

/*
 * Joins the threads and prints the result line from their latencies;
 * returns the exit status (1 when a request failed or none was measured).
 */
static int report(struct bench *b, struct thread_state *ts, int threads, double seconds)
{
    size_t total = 0, n = 0;
    unsigned long long bytes = 0;
    double *all, window;
    struct rusage ru;

    for (int i = 0; i < threads; i++) {
        pthread_join(ts[i].thread, NULL);
        total += ts[i].nlat;
        bytes += ts[i].bytes;
    }
    all = malloc((total ? total : 1) * sizeof(*all));
    if (all == NULL)
        return 1;
    for (int i = 0; i < threads; i++) {
        memcpy(all + n, ts[i].lat, ts[i].nlat * sizeof(*all));
        n += ts[i].nlat;
    }
    qsort(all, n, sizeof(*all), cmp_double);
    window = b->count > 0 ? now_s() - b->t_measure : seconds;
    getrusage(RUSAGE_SELF, &ru);
    printf("mode=%s threads=%d requests=%zu seconds=%.2f rps=%.2f p50_ms=%.2f p99_ms=%.2f "
           "rss_kb=%ld out_bytes=%llu failures=%d\n",
           b->mode == MODE_IMGFCGI ? "imgfcgi" : "thumbnail", threads, n, window,
           (double)n / window, percentile(all, n, 50), percentile(all, n, 99), ru.ru_maxrss,
           n ? bytes / n : 0, atomic_load(&b->failures));
    free(all);
    return atomic_load(&b->failures) > 0 || n == 0;
}

int main(int argc, char **argv)
{
    static struct bench b;
    struct thread_state *ts = NULL;
    double warmup = 1, seconds = 5;
    int threads = 2, rc = 1, started = 0;

    switch (parse_args(argc, argv, &b, &threads, &warmup, &seconds)) {
    case 0:
        break;
    case 1:
        usage();
        return 0;
    default:
        usage();
        return 2;
    }
    if (start_up(argv[0]) != 0)
        goto out;
    for (int i = optind + 1; i < argc; i++) {
        struct source *s = &b.src[b.nsrc++];

        s->uri = argv[i];
        if (load_source(s, argv[optind]) < 0)
            goto out;
    }
    ts = calloc((size_t)threads, sizeof(*ts));
    if (ts == NULL)
        goto out;
    b.t_measure = now_s() + (b.count > 0 ? 0 : warmup);
    b.t_end = b.t_measure + seconds;
    for (; started < threads; started++) {
        ts[started].b = &b;
        if (pthread_create(&ts[started].thread, NULL, thread_main, &ts[started]) != 0) {
            fprintf(stderr, "limit: cannot start thread %d\n", started);
            b.t_end = 0;
            break;
        }
    }
    rc = report(&b, ts, started, seconds);
out:
    if (ts != NULL)
        for (int i = 0; i < started; i++)
            free(ts[i].lat);
    free(ts);
    for (size_t i = 0; i < b.nsrc; i++)
        free(b.src[i].data);
    process_global_shutdown();
    presets_release();
    config_release(&cfg);
    return rc;
}
