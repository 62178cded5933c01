/*
 * worker.c: connection threads and the handler's output on FCGX streams.
 *
 * Design. Connections and processing are separate budgets. main starts
 * nconn connection threads; each owns one FCGX_Request and loops: accept,
 * serve, finish. Processing is the scheduler's (scheduler.h), which main
 * creates and every thread shares: it has nslots <= nconn processing slots
 * (IMGPROXY_WORKERS), and the handler takes one only for an image request,
 * after its URL checked out and before its download, queued at most
 * IMGPROXY_REQUESTS_QUEUE_SIZE deep (429 beyond) until the request's
 * deadline (503). Health checks and errors found in the URL need no slot.
 * The extra threads exist for nginx's fastcgi_keep_conn + upstream
 * keepalive: libfcgi reads the next request of a kept connection in
 * FCGX_Accept_r, so every idle kept connection blocks one thread there.
 * Such a thread holds no slot, and while fewer than nconn - nslots
 * connections sit idle, a new connection always finds a thread in accept()
 * and a request finds a free slot as soon as one is returned.
 *
 * Shared state:
 *   worker.state   IDLE while the thread waits for a new connection or for
 *                  the next request on a kept nginx connection, BUSY from
 *                  a request's first bytes until
 *                  FCGX_Finish_r has flushed and closed it (waiting for a
 *                  slot included), DONE once the thread has released
 *                  everything and is about to end. Written by the thread,
 *                  read by main.
 *   pool.stopping  set once by main; read by each thread before accepting.
 *   pool.stop_ms   when it was set (CLOCK_MONOTONIC ms), for the backlog drain.
 *   pool.sched     the scheduler; thread-safe (its parts have their own locks).
 *   last_accept_failure  when an accept last failed process-wide (EMFILE and
 *                  the like), CLOCK_MONOTONIC ms: a failure logs only when
 *                  none came in the ACCEPT_BURST_GAP_MS before it.
 *
 * There is no accept mutex: a mutex held around FCGX_Accept_r would let a
 * thread waiting on an nginx keep-alive connection keep every other thread
 * from accepting. Threads without a connection wait in epoll_wait() on one
 * epoll instance shared by the pool (pool.epfd, the listen socket armed
 * EPOLLONESHOT), not in accept(): Linux wakes the threads blocked in accept()
 * in FIFO order, the longest-waiting first, so with many more threads than
 * busy connections every request would run on the thread that has been idle
 * longest (cold caches, a cold malloc arena); epoll_wait() waiters are woken
 * in LIFO order, so the thread that just finished a request takes the next
 * one. One shot: the woken thread accepts, then re-arms the socket
 * (whatever the accept did), so one connection wakes one thread; a
 * connection still queued wakes the next one at the re-arm.
 *
 * Stopping does not end at the first empty backlog. A host may still be
 * connecting after our SIGTERM: mod_fcgid's graceful restart signals its
 * processes while Apache's old children keep routing requests to them, and
 * a connection queued when the process exits is reset (a 500 for the
 * client). So after a stop a thread keeps accepting until no connection
 * has come for DRAIN_QUIET_MS, and for at most DRAIN_MAX_MS; a kept nginx
 * connection is served if a request comes within the same bounds. With a
 * socket shared by a spawn-fcgi pool this serves a few more requests that
 * a sibling would otherwise take; DRAIN_MAX_MS bounds it.
 *
 * Accepting. imgfcgi accepts connections itself and hands libfcgi only a
 * connection that is readable (FCGX_Request.ipcFd, with keepConnection set
 * so FCGX_Accept_r's opening finish keeps it; the request's listen socket is
 * -1 so libfcgi never accepts). Every blocking wait (accept, the next
 * request on a kept connection) is then in wait_request(), where a signal
 * may cut it; inside libfcgi, where an interrupted read or its post-accept
 * poll would drop a connection already taken from the host, SIGUSR2 is
 * blocked. The cost: libfcgi's FCGI_WEB_SERVER_ADDRS allow-list is not
 * applied (bind TCP to loopback or firewall it).
 *
 * Waking. A thread waiting in wait_request() only returns on a signal, so
 * main sends SIGUSR2 to IDLE threads every 50 ms; the handler does nothing
 * and has no SA_RESTART, so accept() and poll() fail with EINTR. A thread
 * unblocks SIGUSR2 only while IDLE: main's "is it IDLE?" and pthread_kill()
 * are not one atomic step, and a signal landing in a BUSY thread's read or
 * write would cut its request short. A late signal stays pending until the
 * next IDLE phase, where it is taken at the unblock, before the stop flag is
 * read, so it interrupts nothing; main's repeated wake-ups cover a stop that
 * lands between the flag check and the wait.
 * Threads libvips or libcurl start while serving inherit the blocked mask.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "deadline.h"
#include "handler.h"
#include "log.h"
#include "process.h"
#include "worker.h"
#include "banned.h"

/* libvips can recurse deeply; glibc's default would follow `ulimit -s`. */
#define WORKER_STACK_SIZE (8u * 1024 * 1024)
/*
 * Pause after a failed accept (EMFILE and the like) before trying again:
 * while descriptors are short, accept() fails again at once, so without it
 * every idle thread would spin until one is free.
 */
#define ACCEPT_RETRY_NS (100L * 1000 * 1000)
/* Failed accepts closer together than this are one burst, logged once. */
#define ACCEPT_BURST_GAP_MS 10000
/* After a stop: end after this long without a new connection, or this long at most. */
#define DRAIN_QUIET_MS 300
#define DRAIN_MAX_MS 3000
/* accept_next(): no connection came in time. */
#define ACCEPT_TIMED_OUT (-2)
/* FCGX_PutStr takes an int length. */
#define PUT_CHUNK (1 << 20)

enum worker_state { WORKER_IDLE, WORKER_BUSY, WORKER_DONE };

struct worker {
    struct worker_pool *pool;
    FCGX_Request req;
    long long quiet_until; /* while draining: ms when this thread stops waiting; 0 = unset */
    pthread_t thread;
    bool started; /* pthread_create succeeded: join it */
    atomic_int state;
};

struct worker_pool {
    atomic_bool stopping;
    atomic_llong stop_ms;
    int listen_fd; /* borrowed */
    int epfd;      /* owned: listen_fd, EPOLLONESHOT; see the design note */
    int n;         /* connection threads */
    struct worker *workers;
    struct sched *sched; /* borrowed: slots, queue, memory budget; thread-safe */
};

/* One response under way: the handler's struct output points here. */
struct response {
    FCGX_Stream *out;
    int fd; /* the connection, owned by libfcgi */
    bool head_sent;
    bool failed; /* a write failed: the client (or the web server) is gone */
};

/* Process-wide, so many threads failing together log once per burst; 0 = never. */
static atomic_llong last_accept_failure = 0;

static void on_wake_signal(int sig)
{
    (void)sig;
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 304:
        return "Not Modified";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 499:
        return "Client Closed Request";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Unknown";
    }
}

/* Writes len bytes to the FastCGI stdout stream; 0, or -1 once any write has failed. */
static int put(struct response *r, const char *s, size_t len)
{
    while (len > 0 && !r->failed) {
        int n = len > PUT_CHUNK ? PUT_CHUNK : (int)len;
        if (FCGX_PutStr(s, n, r->out) != n || FCGX_GetError(r->out) != 0)
            r->failed = true;
        s += n;
        len -= (size_t)n;
    }
    return r->failed ? -1 : 0;
}

/* A header line must not be able to end itself early and start another. */
static bool header_ok(const struct header *h)
{
    return h->name != NULL && h->value != NULL && h->name[0] != '\0' &&
           strpbrk(h->name, "\r\n:") == NULL && strpbrk(h->value, "\r\n") == NULL;
}

static int response_head(void *ctx, int status, const struct header *headers, size_t n)
{
    struct response *r = ctx;
    char line[80];
    int len;

    if (r->head_sent) {
        log_error("response head sent twice; the second is dropped");
        return -1;
    }
    r->head_sent = true;
    len = snprintf(line, sizeof(line), "Status: %d %s\r\n", status, reason_phrase(status));
    if (len < 0 || (size_t)len >= sizeof(line) || put(r, line, (size_t)len) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const struct header *h = &headers[i];
        if (!header_ok(h)) {
            log_warn("response header %s dropped: empty, or a line break in it",
                     h->name != NULL ? h->name : "(null)");
            continue;
        }
        if (put(r, h->name, strlen(h->name)) < 0 || put(r, ": ", 2) < 0 ||
            put(r, h->value, strlen(h->value)) < 0 || put(r, "\r\n", 2) < 0)
            return -1;
    }
    return put(r, "\r\n", 2);
}

static int response_body(void *ctx, const void *data, size_t len)
{
    struct response *r = ctx;

    if (!r->head_sent) {
        log_error("response body before its head; dropped");
        return -1;
    }
    return put(r, data, len);
}

/*
 * Makes the web server treat the response as failed, so that it cuts the
 * client's response short instead of completing a well-formed but truncated
 * one. Closing the connection early is not enough: without fastcgi_keep_conn
 * nginx takes EOF as the normal end of a response. A record header with
 * protocol version 0 is an error for every FastCGI client (nginx: "upstream
 * sent unsupported FastCGI protocol version"). It lands on a record boundary:
 * libfcgi writes whole records and keeps the rest (at most 8 KB, dropped
 * here) in its buffer. shutdown(), not close(): libfcgi still owns the
 * descriptor and closes it in FCGX_Finish_r, whose final writes now fail.
 */
static void response_abort(void *ctx)
{
    static const unsigned char bad_record[8] = {0};
    struct response *r = ctx;

    r->failed = true;
    if (write(r->fd, bad_record, sizeof(bad_record)) < 0) {
        /* The connection is gone already: nothing left to cut. */
    }
    shutdown(r->fd, SHUT_RDWR);
}

static const char *request_param(void *ctx, const char *name)
{
    FCGX_Request *req = ctx;

    return FCGX_GetParam(name, req->envp);
}

/*
 * The request URI for a web server that sends no REQUEST_URI, rebuilt from
 * the CGI variables. Caller frees; NULL when out of memory.
 */
static char *uri_from_cgi_params(FCGX_Request *req)
{
    const char *script = FCGX_GetParam("SCRIPT_NAME", req->envp);
    const char *info = FCGX_GetParam("PATH_INFO", req->envp);
    const char *query = FCGX_GetParam("QUERY_STRING", req->envp);
    size_t len;
    char *uri;

    script = script != NULL ? script : "";
    info = info != NULL ? info : "";
    query = query != NULL ? query : "";
    len = strlen(script) + strlen(info) + 1 + strlen(query) + 1;
    uri = malloc(len);
    if (uri != NULL)
        snprintf(uri, len, "%s%s%s%s", script, info, query[0] != '\0' ? "?" : "", query);
    return uri;
}

/*
 * REQUEST_URI is the one URI every host passes raw (nginx, lighttpd, Apache
 * mod_fcgid and mod_proxy_fcgi alike). A mount point is not guessed from
 * SCRIPT_NAME: Apache's ScriptAlias /img sends SCRIPT_NAME=/img, but lighttpd
 * sends the first path segment after its prefix (/img/insecure) and nginx the
 * whole decoded path. A host that mounts imgfcgi under a prefix sets
 * IMGPROXY_PATH_PREFIX to it (conf/apache-fcgid.conf does).
 */

/* Serves the request w has just accepted. Never fails: errors become statuses. */
static void serve(struct worker *w)
{
    struct response r = {.out = w->req.out, .fd = w->req.ipcFd};
    struct output out = {
        .head = response_head, .body = response_body, .abort = response_abort, .ctx = &r};
    struct request rq = {.param = request_param, .ctx = &w->req};
    char *uri = NULL;

    rq.method = FCGX_GetParam("REQUEST_METHOD", w->req.envp);
    if (rq.method == NULL || rq.method[0] == '\0')
        rq.method = "GET";
    rq.uri = FCGX_GetParam("REQUEST_URI", w->req.envp);
    if (rq.uri == NULL) {
        uri = uri_from_cgi_params(&w->req);
        rq.uri = uri;
    }
    if (rq.uri != NULL)
        handler_serve(w->pool->sched, &rq, &out);
    else
        log_error("out of memory rebuilding the request URI");
    /* Without a head nginx would answer 502 and log "upstream prematurely closed". */
    if (!r.head_sent) {
        log_error("no response from the handler; sending 500");
        response_head(&r, 500, NULL, 0);
    }
    free(uri);
}

/*
 * A failed accept: logs the first of a burst (failures less than
 * ACCEPT_BURST_GAP_MS apart, across all threads), then pauses. The pause is
 * a nanosleep() with SIGUSR2 unblocked, so a stop still wakes the thread.
 * Successes inside a burst do not end it: at the limit, an accept succeeds
 * whenever another connection has just closed.
 */
static void accept_failed(int err)
{
    struct timespec pause = {0, ACCEPT_RETRY_NS};
    long long now = deadline_now_ms(), prev = atomic_exchange(&last_accept_failure, now);
    char buf[128];

    if (prev == 0 || now - prev > ACCEPT_BURST_GAP_MS)
        log_warn("accept failed: %s; retrying every %ld ms (logged once per burst)",
                 strerror_r(err, buf, sizeof(buf)), ACCEPT_RETRY_NS / 1000000);
    nanosleep(&pause, NULL);
}

/* Arms the listen socket for one more wake-up; 0 or -1 (logged). */
static int listen_arm(struct worker_pool *p, int op)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT};

    if (epoll_ctl(p->epfd, op, p->listen_fd, &ev) == 0)
        return 0;
    log_error("epoll_ctl on the listen socket: %s", strerror(errno));
    return -1;
}

/*
 * Waits for a new connection and accepts it (see the design note for why
 * through epoll): the descriptor, -1 with errno (EINTR for the wake-up), or
 * ACCEPT_TIMED_OUT when timeout_ms passed. Not an errno: accept() itself may
 * return a new connection's pending error, ETIMEDOUT among them.
 */
static int accept_next(struct worker_pool *p, int timeout_ms)
{
    struct epoll_event ev;
    int fd, err;

    switch (epoll_wait(p->epfd, &ev, 1, timeout_ms)) {
    case 1:
        break;
    case 0:
        return ACCEPT_TIMED_OUT;
    default:
        return -1; /* EINTR: the wake-up */
    }
    /*
     * Blocking, as before epoll: a sibling process sharing the socket
     * (spawn-fcgi -F; each process's epoll wakes for every connection) may
     * have taken the connection; then this waits in accept() for the next
     * one, as every thread did before epoll, with this process's socket
     * unarmed until it has one, and the wake-up still interrupts it.
     */
    fd = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    err = errno;
    /* Unarmed, no thread would wake again: only ENOMEM fails here, so retry. */
    while (listen_arm(p, EPOLL_CTL_MOD) != 0)
        nanosleep(&(struct timespec){0, ACCEPT_RETRY_NS}, NULL);
    errno = err;
    return fd;
}

/*
 * Waits for the next request of w: on its open connection (kept by nginx,
 * or just accepted) if it has one, else for a new connection, which it
 * accepts. Every wait is here, with SIGUSR2 unblocked; libfcgi is only
 * called once bytes are there to read. Returns 0 when w->req.ipcFd is
 * readable (a request, or EOF that FCGX_Accept_r will see), 1 to be called
 * again (interrupted, or a failed accept), -1 when the thread should end.
 */
static int wait_request(struct worker *w)
{
    struct worker_pool *p = w->pool;
    struct pollfd pfd = {.events = POLLIN};
    int timeout = -1, fd, one = 1;

    if (atomic_load(&p->stopping)) {
        /*
         * Draining (see the design note): DRAIN_QUIET_MS after this thread's
         * last request, within DRAIN_MAX_MS. A deadline, not a fresh timeout
         * each time: main's wake-ups interrupt the poll every 50 ms.
         */
        long long now = deadline_now_ms(), end = atomic_load(&p->stop_ms) + DRAIN_MAX_MS;

        if (w->quiet_until == 0)
            w->quiet_until = now + DRAIN_QUIET_MS;
        if (w->quiet_until < end)
            end = w->quiet_until;
        timeout = end > now ? (int)(end - now) : 0;
    }
    if (w->req.ipcFd < 0) {
        if (timeout == 0)
            return -1; /* out of time */
        fd = accept_next(p, timeout);
        if (fd == ACCEPT_TIMED_OUT)
            return -1; /* quiet, or out of time */
        if (fd < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED)
                return 1; /* the wake-up; look again */
            accept_failed(errno);
            return 1;
        }
        /* libfcgi does this for TCP; on a unix socket it fails harmlessly. */
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        w->req.ipcFd = fd;
        /* So that FCGX_Accept_r's opening FCGX_Finish_r keeps it open. */
        w->req.keepConnection = 1;
    }
    pfd.fd = w->req.ipcFd;
    switch (poll(&pfd, 1, timeout)) {
    case 1:
        return 0;
    case 0:
        return -1; /* draining, and nothing came */
    default:
        return 1; /* EINTR: the wake-up */
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    sigset_t wake;
    int rc;

    sigemptyset(&wake);
    sigaddset(&wake, SIGUSR2);
    for (;;) {
        atomic_store(&w->state, WORKER_IDLE);
        pthread_sigmask(SIG_UNBLOCK, &wake, NULL);
        rc = wait_request(w);
        pthread_sigmask(SIG_BLOCK, &wake, NULL);
        if (rc < 0)
            break;
        if (rc > 0)
            continue;
        /*
         * Reads BEGIN_REQUEST and PARAMS from the readable connection. Its
         * listen socket is -1: on EOF or a bad record libfcgi closes the
         * connection and its own accept fails at once (EBADF).
         */
        atomic_store(&w->state, WORKER_BUSY);
        if (FCGX_Accept_r(&w->req) < 0)
            continue;
        /* The handler holds a slot only while it needs one: not in the finish's linger. */
        serve(w);
        FCGX_Finish_r(&w->req);
        w->quiet_until = 0; /* a request came: the quiet period starts again */
    }
    /* A kept nginx connection is still open: close it. */
    if (w->req.ipcFd >= 0)
        FCGX_Free(&w->req, 1);
    process_thread_cleanup();
    atomic_store(&w->state, WORKER_DONE);
    return NULL;
}

void worker_pool_stop(struct worker_pool *p)
{
    if (!atomic_load(&p->stopping))
        atomic_store(&p->stop_ms, deadline_now_ms());
    atomic_store(&p->stopping, true);
}

int worker_pool_wake(struct worker_pool *p)
{
    int running = 0;

    for (int i = 0; i < p->n; i++) {
        struct worker *w = &p->workers[i];
        int state;

        if (!w->started)
            continue;
        state = atomic_load(&w->state);
        if (state == WORKER_DONE)
            continue;
        running++;
        if (state == WORKER_IDLE)
            pthread_kill(w->thread, SIGUSR2);
    }
    return running;
}

int worker_pool_busy(const struct worker_pool *p)
{
    int busy = 0;

    for (int i = 0; i < p->n; i++)
        if (p->workers[i].started && atomic_load(&p->workers[i].state) == WORKER_BUSY)
            busy++;
    return busy;
}

void worker_pool_free(struct worker_pool *p)
{
    if (p == NULL)
        return;
    for (int i = 0; p->workers != NULL && i < p->n; i++)
        if (p->workers[i].started)
            pthread_join(p->workers[i].thread, NULL);
    if (p->epfd >= 0)
        close(p->epfd);
    free(p->workers);
    free(p);
}

struct worker_pool *worker_pool_start(int listen_fd, int n, struct sched *sched)
{
    struct worker_pool *p = NULL;
    struct sigaction sa;
    pthread_attr_t attr;
    bool attr_ready = false;
    int rc;

    if (n < 1) {
        log_error("cannot start %d connection threads", n);
        return NULL;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_wake_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: accept() and poll() must fail with EINTR */
    if (sigaction(SIGUSR2, &sa, NULL) != 0) {
        log_error("sigaction(SIGUSR2): %s", strerror(errno));
        return NULL;
    }

    p = calloc(1, sizeof(*p));
    if (p == NULL)
        goto failed;
    atomic_init(&p->stopping, false);
    atomic_init(&p->stop_ms, 0);
    p->listen_fd = listen_fd;
    p->epfd = -1;
    p->workers = calloc((size_t)n, sizeof(*p->workers));
    if (p->workers == NULL)
        goto failed;
    p->n = n;
    p->sched = sched;
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (p->epfd < 0) {
        log_error("epoll_create1: %s", strerror(errno));
        goto failed;
    }
    if (listen_arm(p, EPOLL_CTL_ADD) != 0)
        goto failed;
    for (int i = 0; i < n; i++) {
        struct worker *w = &p->workers[i];
        w->pool = p;
        atomic_init(&w->state, WORKER_IDLE);
        /* -1: imgfcgi accepts; libfcgi only reads requests (see wait_request). */
        if (FCGX_InitRequest(&w->req, -1, 0) != 0) {
            log_error("worker %d: FCGX_InitRequest failed", i);
            goto failed;
        }
    }

    rc = pthread_attr_init(&attr);
    if (rc == 0) {
        attr_ready = true;
        rc = pthread_attr_setstacksize(&attr, WORKER_STACK_SIZE);
    }
    if (rc != 0) {
        log_error("thread attributes: %s", strerror(rc));
        goto failed;
    }
    for (int i = 0; i < n; i++) {
        rc = pthread_create(&p->workers[i].thread, &attr, worker_main, &p->workers[i]);
        if (rc != 0) {
            log_error("starting worker %d of %d: %s", i + 1, n, strerror(rc));
            goto failed;
        }
        p->workers[i].started = true;
        /* For top -H and the tests: which threads are connection threads. */
        (void)pthread_setname_np(p->workers[i].thread, "imgfcgi-conn");
    }
    pthread_attr_destroy(&attr);
    return p;

failed:
    if (p == NULL || p->workers == NULL)
        log_error("out of memory starting %d threads", n);
    if (attr_ready)
        pthread_attr_destroy(&attr);
    if (p != NULL && p->workers != NULL) {
        /* Threads already started may have taken a request: let it finish. */
        struct timespec tick = {0, 10L * 1000 * 1000};
        worker_pool_stop(p);
        while (worker_pool_wake(p) > 0)
            nanosleep(&tick, NULL);
    }
    worker_pool_free(p);
    return NULL;
}
