/* listen.h: the FastCGI listen socket, inherited on fd 0 or opened from IMGFCGI_LISTEN. */
#ifndef IMGFCGI_LISTEN_H
#define IMGFCGI_LISTEN_H

#include <stdbool.h>
#include <sys/types.h>

struct listener {
    int fd;          /* the listening socket; -1 before listen_open() and after listen_close() */
    bool inherited;  /* fd 0 passed by the host (spawn-fcgi, mod_fcgid, lighttpd) */
    char *unix_path; /* the socket file imgfcgi created, or NULL; owned */
    dev_t dev;       /* identity of unix_path, so that only our own file is unlinked */
    ino_t ino;
    char name[160]; /* for logs: "fd 0 (unix:/run/x.sock)", "unix:/tmp/s", "[::1]:9000" */
};

/*
 * Fills l with the socket to accept on. If fd 0 is a listening socket (the
 * host's FastCGI convention) it is used as is and addr is ignored. Otherwise
 * addr (borrowed) is opened:
 *   "unix:/path" or any value containing '/'  a unix socket: a stale socket
 *        file is replaced (a live one, or a file that is no socket, is an
 *        error), the new file gets permissions mode;
 *   "host:port", "[v6addr]:port"               TCP on the first address that binds;
 *   ":port", "*:port"                          TCP on all interfaces (IPv6 and IPv4).
 * backlog is passed to listen(). Call once, before threads start.
 * Returns 0, or -1 after logging an error that names addr.
 */
int listen_open(struct listener *l, const char *addr, int backlog, int mode)
    __attribute__((warn_unused_result));

/*
 * Releases l at exit. An inherited fd 0 is neither shut down nor closed: with
 * `spawn-fcgi -F N` sibling processes accept on the same socket. A socket
 * imgfcgi opened is closed and its unix socket file unlinked, unless another
 * process has replaced the file since. Safe to call twice.
 */
void listen_close(struct listener *l);

#endif
