/*
 * main.c: process start-up, the listen socket, signals and the graceful stop.
 *
 * Signals. Before anything can start a thread (libvips, GLib, libcurl, our
 * workers) the main thread blocks every signal it handles, so all threads
 * inherit the mask and the main thread alone takes them with sigwait():
 * TERM, INT, QUIT and USR1 stop gracefully, HUP is logged and ignored.
 * USR1 is libfcgi's own "stop after this request" signal; left to libfcgi's
 * handler it would make every later accept fail. SIGUSR2 is blocked here too:
 * workers unblock it while they wait for a request (see worker.c).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <fcgiapp.h>

#include "bufpool.h"
#include "config.h"
#include "deadline.h"
#include "fallback.h"
#include "info.h"
#include "listen.h"
#include "log.h"
#include "presets.h"
#include "memlimit.h"
#include "memory.h"
#include "process.h"
#include "scheduler.h"
#include "watermark.h"
#include "worker.h"
#include "banned.h"

/* How often idle workers are woken while stopping. */
#define WAKE_INTERVAL_NS (50L * 1000 * 1000)

static void usage(FILE *f)
{
    fprintf(f, "usage: imgfcgi [--version | --print-env | --help]\n"
               "\n"
               "Runs the imgfcgi FastCGI application: an imgproxy-compatible image server.\n"
               "It accepts on fd 0 when a host (spawn-fcgi, mod_fcgid, lighttpd) passes a\n"
               "listening socket there, otherwise on IMGFCGI_LISTEN. Settings come from the\n"
               "environment; --print-env lists them with their defaults.\n"
               "\n"
               "  --version    print the version and exit\n"
               "  --print-env  print every setting, its default and meaning, and exit\n"
               "  --help       print this text and exit\n");
}

static const char *signal_name(int sig)
{
    switch (sig) {
    case SIGTERM:
        return "SIGTERM";
    case SIGINT:
        return "SIGINT";
    case SIGQUIT:
        return "SIGQUIT";
    case SIGUSR1:
        return "SIGUSR1";
    case SIGHUP:
        return "SIGHUP";
    default:
        return "signal";
    }
}

static enum log_level parse_log_level(const char *s)
{
    if (s == NULL)
        return LOG_INFO;
    if (strcmp(s, "debug") == 0)
        return LOG_DEBUG;
    if (strcmp(s, "warn") == 0)
        return LOG_WARN;
    if (strcmp(s, "error") == 0)
        return LOG_ERROR;
    return LOG_INFO;
}

/* Blocks until a stop signal arrives; returns it. */
static int wait_for_stop(const sigset_t *signals)
{
    for (;;) {
        int sig;
        if (sigwait(signals, &sig) != 0)
            continue;
        if (sig != SIGHUP)
            return sig;
        log_info("SIGHUP ignored: settings are read once; restart imgfcgi to change them");
    }
}

/*
 * Lets every request in flight finish, up to timeout seconds. Returns 0 when
 * all workers have ended (they can be joined), or the number still busy when
 * the time ran out. A second SIGINT, SIGQUIT or SIGUSR1 ends the process at once.
 */
static int drain(struct worker_pool *pool, const sigset_t *signals, int timeout, struct listener *l)
{
    long long start = deadline_now_ms();
    int running;

    worker_pool_stop(pool);
    for (;;) {
        struct timespec tick = {0, WAKE_INTERVAL_NS};
        int sig;

        running = worker_pool_wake(pool);
        if (running == 0 || deadline_now_ms() - start >= (long long)timeout * 1000)
            return running;
        sig = sigtimedwait(signals, NULL, &tick);
        /*
         * Supervisors repeat SIGTERM before their SIGKILL (mod_fcgid after 1 s,
         * systemd never): only a second interactive signal cuts the drain short.
         */
        if (sig == SIGTERM)
            log_info("SIGTERM again: still finishing %d requests", worker_pool_busy(pool));
        else if (sig > 0 && sig != SIGHUP) {
            log_warn("%s again: exiting now with %d requests unfinished", signal_name(sig),
                     worker_pool_busy(pool));
            listen_close(l);
            _exit(0);
        }
    }
}

/* What run() starts and stops, in that order. */
struct app {
    struct listener l;
    struct sched *sched;
    struct worker_pool *pool;
};

/*
 * Blocks the signals main takes with sigwait() (returned in signals) and
 * SIGUSR2, before anything can start a thread: every thread inherits the mask.
 */
static void block_signals(sigset_t *signals)
{
    sigset_t blocked;

    sigemptyset(signals);
    sigaddset(signals, SIGTERM);
    sigaddset(signals, SIGINT);
    sigaddset(signals, SIGQUIT);
    sigaddset(signals, SIGUSR1);
    sigaddset(signals, SIGHUP);
    blocked = *signals;
    sigaddset(&blocked, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &blocked, NULL);
}

/* The settings, the log level, the presets and the allocator's tuning; 0, or 1 after saying why. */
static int load_settings(void)
{
    char err[256];

    if (config_load(&cfg, err, sizeof(err)) != 0) {
        config_release(&cfg);
        fprintf(stderr, "imgfcgi: %s\n", err);
        return 1;
    }
    log_set_level(parse_log_level(cfg.log_level));
    config_log(&cfg);
    if (presets_init(err, sizeof(err)) != 0 || info_presets_init(err, sizeof(err)) != 0) {
        fprintf(stderr, "imgfcgi: %s\n", err);
        info_presets_release();
        presets_release();
        config_release(&cfg);
        return 1;
    }
    memory_tune(cfg.malloc_trim_threshold);
    memory_log_allocator();
    return 0;
}

static void release_settings(void)
{
    info_presets_release();
    presets_release();
    config_release(&cfg);
}

/* libfcgi's start-up, then SIGPIPE ignored; 0 or -1 (logged). */
static int start_fcgi(void)
{
    struct sigaction ign;

    if (FCGX_Init() != 0) {
        log_error("libfcgi start-up failed");
        return -1;
    }
    /* After FCGX_Init(), which would put its own no-op handler in place of SIG_IGN. */
    memset(&ign, 0, sizeof(ign));
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, NULL);
    return 0;
}

/* Logs the memory budget at start, and where the default one came from. */
static void log_budget(size_t budget)
{
    struct memlimit m;

    if (cfg.memory_budget >= 0) {
        if (budget > 0)
            log_info("memory budget %zu MB (IMGFCGI_MEMORY_BUDGET)", budget >> 20);
        else
            log_info("memory budget off (IMGFCGI_MEMORY_BUDGET=0)");
        return;
    }
    memlimit_read("", &m);
    if (budget > 0)
        log_info("memory budget %zu MB (default: %.0f%% of %s %llu MB; IMGFCGI_MEMORY_BUDGET "
                 "sets it, 0 turns it off)",
                 budget >> 20, MEMLIMIT_BUDGET_FRACTION * 100, memlimit_source_name(m.source),
                 m.bytes >> 20);
    else
        log_info("memory budget off: no cgroup limit or MemTotal readable");
}

/* The download buffer pool, the memory sidecar, the scheduler and the threads; 0 or -1 (logged). */
static int start_serving(struct app *a)
{
    struct sched_config sc;

    /* At most one download buffer per worker is out at a time: keep that many. */
    bufpool_download =
        bufpool_new("download", (size_t)cfg.workers, (size_t)cfg.download_buffer_size,
                    (unsigned)cfg.buffer_pool_calibration_threshold, (size_t)cfg.max_src_file_size);
    if (bufpool_download == NULL) {
        log_error("out of memory for the buffer pool");
        return -1;
    }
    if (memory_sidecar_start(cfg.free_memory_interval, cfg.memory_release, cfg.log_mem_stats) !=
        0) {
        log_error("cannot start the memory sidecar thread");
        return -1;
    }
    sched_config_from(&sc, &cfg);
    log_budget(sc.memory_budget);
    a->sched = sched_new(&sc);
    if (a->sched == NULL) {
        log_error("out of memory for %d processing slots and the memory budget", sc.slots);
        return -1;
    }
    a->pool = worker_pool_start(a->l.fd, cfg.connections, a->sched);
    return a->pool != NULL ? 0 : -1;
}

/*
 * After every thread has ended: the reverse of start(). Also undoes a
 * start() that failed part way: each step is a no-op for what never started.
 */
static void stop(struct app *a)
{
    worker_pool_free(a->pool);
    sched_free(a->sched);
    memory_sidecar_stop();
    bufpool_free(bufpool_download);
    bufpool_download = NULL;
    listen_close(&a->l);
    fallback_global_shutdown();
    watermark_release();
    process_global_shutdown();
    curl_global_cleanup();
}

/*
 * Everything a request needs, in order: libvips, libcurl, the fallback
 * image, the watermark, libfcgi, the listen socket, then start_serving().
 * Returns 0, or 1 after logging why and undoing what had started.
 */
static int start(struct app *a, const char *argv0)
{
    char err[256];

    if (process_global_init(argv0) != 0) {
        log_error("libvips start-up failed");
        return 1;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("libcurl start-up failed");
        process_global_shutdown();
        return 1;
    }
    if (fallback_global_init(err, sizeof(err)) != 0 || watermark_init(err, sizeof(err)) != 0) {
        log_error("%s", err);
        goto failed;
    }
    if (start_fcgi() != 0 ||
        listen_open(&a->l, cfg.listen, cfg.listen_backlog, cfg.listen_mode) != 0)
        goto failed;
    if (start_serving(a) != 0)
        goto failed;
    return 0;

failed:
    stop(a);
    return 1;
}

static int run(const char *argv0)
{
    sigset_t signals;
    struct app a = {.l = {.fd = -1}};
    int sig, left;

    block_signals(&signals);
    if (load_settings() != 0)
        return 1;
    if (start(&a, argv0) != 0) {
        release_settings();
        return 1;
    }
    log_info("imgfcgi %s listening on %s with %d workers and %d connection threads%s",
             IMGFCGI_VERSION, a.l.name, cfg.workers, cfg.connections,
             cfg.one_request_host ? " (PHP_FCGI_CHILDREN=1: the host sends one request at a time)"
                                  : "");

    sig = wait_for_stop(&signals);
    log_info("stopping on %s: %d requests in flight, waiting up to %d s", signal_name(sig),
             worker_pool_busy(a.pool), cfg.graceful_stop_timeout);
    left = drain(a.pool, &signals, cfg.graceful_stop_timeout, &a.l);
    if (left > 0) {
        /* libvips cannot be shut down under running pipelines: leave without cleaning up. */
        log_warn("%d requests still busy after %d s; exiting anyway", left,
                 cfg.graceful_stop_timeout);
        listen_close(&a.l);
        _exit(0);
    }
    stop(&a);
    log_info("stopped");
    release_settings();
    return 0;
}

#ifdef IMGFCGI_TSAN
/*
 * The `make tsan` build's ThreadSanitizer settings (Makefile), read before
 * TSAN_OPTIONS: compiled in because Apache's mod_fcgid cuts FcgidInitialEnv
 * values at 127 bytes, too short for them and the log path together.
 * report_thread_leaks=0: when IMGPROXY_GRACEFUL_STOP_TIMEOUT runs out, run()
 * leaves with _exit(0) on purpose, without joining the connection threads;
 * TSan would call that a thread leak. Races are all still reported.
 */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    return "ignore_noninstrumented_modules=1:halt_on_error=1:exitcode=66:second_deadlock_stack=1:"
           "report_thread_leaks=0";
}
#endif

int main(int argc, char **argv)
{
    if (argc == 1)
        return run(argv[0]);
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("imgfcgi %s\n", IMGFCGI_VERSION);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    if (argc == 2 && strcmp(argv[1], "--print-env") == 0) {
        config_print_env(stdout);
        return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
    }
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    usage(stderr);
    return 2;
}
