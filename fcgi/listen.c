/* listen.c: finding or opening the socket that web servers connect to. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "listen.h"
#include "log.h"
#include "banned.h"

/* Writes a printable name of the address fd is bound to into out. */
static void describe_socket(int fd, char *out, size_t outlen)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[INET6_ADDRSTRLEN];

    memset(&ss, 0, sizeof(ss));
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        snprintf(out, outlen, "fd %d", fd);
        return;
    }
    if (ss.ss_family == AF_UNIX) {
        const struct sockaddr_un *sun = (const struct sockaddr_un *)&ss;
        size_t plen = len > offsetof(struct sockaddr_un, sun_path)
                          ? len - offsetof(struct sockaddr_un, sun_path)
                          : 0;
        if (plen > sizeof(sun->sun_path))
            plen = sizeof(sun->sun_path);
        if (plen == 0)
            snprintf(out, outlen, "unix:(unnamed)");
        else if (sun->sun_path[0] == '\0') /* Linux abstract namespace */
            snprintf(out, outlen, "unix:@%.*s", (int)(plen - 1), sun->sun_path + 1);
        else
            snprintf(out, outlen, "unix:%.*s", (int)strnlen(sun->sun_path, plen), sun->sun_path);
    } else if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
        snprintf(out, outlen, "%s:%u", host, (unsigned)ntohs(sin->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
        snprintf(out, outlen, "[%s]:%u", host, (unsigned)ntohs(sin6->sin6_port));
    } else {
        snprintf(out, outlen, "fd %d (family %d)", fd, (int)ss.ss_family);
    }
}

/*
 * fd 0 is the host's socket when libfcgi says so (getpeername() fails with
 * ENOTCONN) and the kernel agrees it is listening: an unconnected socket that
 * never called listen() also gives ENOTCONN.
 */
static bool fd0_is_listener(void)
{
    int accepting = 0;
    socklen_t len = sizeof(accepting);

    if (FCGX_IsCGI())
        return false;
    if (getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0)
        return false;
    return accepting != 0;
}

/*
 * Makes room for a new socket file at path: nothing there is fine, a socket
 * nobody listens on is removed, anything else is an error. A non-blocking
 * connect tells a live listener (accepts, or EAGAIN with a full backlog) from
 * a dead one (ECONNREFUSED).
 */
static int remove_stale_socket(const char *path, const struct sockaddr_un *sa, const char *addr)
{
    struct stat st;
    int fd, rc;

    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        log_error("cannot listen on %s: %s", addr, strerror(errno));
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        log_error("cannot listen on %s: the file exists and is not a socket", addr);
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
        if (rc == 0 || errno == EAGAIN) {
            close(fd);
            log_error("cannot listen on %s: another process is listening there", addr);
            return -1;
        }
        close(fd);
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        log_error("cannot listen on %s: removing the stale socket: %s", addr, strerror(errno));
        return -1;
    }
    log_info("removed stale socket file %s", path);
    return 0;
}

static int open_unix(struct listener *l, const char *path, const char *addr, int backlog, int mode)
{
    struct sockaddr_un sa;
    struct stat st;
    size_t len = strlen(path);
    int fd = -1;
    const char *step = "socket";

    if (len == 0 || len >= sizeof(sa.sun_path)) {
        log_error("cannot listen on %s: a unix socket path must have 1 to %zu bytes", addr,
                  sizeof(sa.sun_path) - 1);
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, len);
    if (remove_stale_socket(path, &sa, addr) < 0)
        return -1;

    l->unix_path = strdup(path);
    if (l->unix_path == NULL) {
        log_error("cannot listen on %s: out of memory", addr);
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto failed;
    step = "bind";
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        goto failed;
    /* Before listen(): until then a connect is refused, so no client sees the umask's mode. */
    step = "chmod";
    if (chmod(path, (mode_t)mode) != 0)
        goto failed;
    step = "stat";
    if (stat(path, &st) != 0)
        goto failed;
    l->dev = st.st_dev;
    l->ino = st.st_ino;
    step = "listen";
    if (listen(fd, backlog) != 0)
        goto failed;
    l->fd = fd;
    return 0;

failed:
    log_error("cannot listen on %s: %s: %s", addr, step, strerror(errno));
    if (fd >= 0) {
        close(fd);
        if (strcmp(step, "bind") != 0)
            unlink(path);
    }
    free(l->unix_path);
    l->unix_path = NULL;
    return -1;
}

/* Binds and listens on one getaddrinfo() result; the socket, or -1 with errno set. */
static int bind_inet(const struct addrinfo *ai, bool wildcard, int backlog)
{
    int one = 1, zero = 0, fd, saved;

    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
        goto failed;
    /* ":port" means every interface: one IPv6 socket that takes IPv4 too. */
    if (wildcard && ai->ai_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) != 0)
        goto failed;
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, backlog) != 0)
        goto failed;
    return fd;

failed:
    saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

static int open_inet(struct listener *l, const char *addr, int backlog)
{
    const char *usage = "expected host:port, [address]:port, :port or a unix socket path";
    char host[256];
    const char *hbeg, *hend, *port;
    struct addrinfo hints, *res = NULL;
    bool wildcard;
    int rc, fd = -1, err = EADDRNOTAVAIL;
    char *endp;
    long pnum;

    if (addr[0] == '[') {
        hbeg = addr + 1;
        hend = strchr(hbeg, ']');
        if (hend == NULL || hend[1] != ':') {
            log_error("cannot listen on %s: %s", addr, usage);
            return -1;
        }
        port = hend + 2;
    } else {
        hbeg = addr;
        hend = strrchr(addr, ':');
        if (hend == NULL) {
            log_error("cannot listen on %s: %s", addr, usage);
            return -1;
        }
        if (memchr(hbeg, ':', (size_t)(hend - hbeg)) != NULL) {
            log_error("cannot listen on %s: write IPv6 addresses in brackets, [::1]:9000", addr);
            return -1;
        }
        port = hend + 1;
    }
    errno = 0;
    pnum = strtol(port, &endp, 10);
    if (port[0] < '0' || port[0] > '9' || *endp != '\0' || errno != 0 || pnum < 1 || pnum > 65535) {
        log_error("cannot listen on %s: the port must be a number from 1 to 65535", addr);
        return -1;
    }
    if ((size_t)(hend - hbeg) >= sizeof(host)) {
        log_error("cannot listen on %s: host name too long", addr);
        return -1;
    }
    memcpy(host, hbeg, (size_t)(hend - hbeg));
    host[hend - hbeg] = '\0';
    wildcard = host[0] == '\0' || strcmp(host, "*") == 0;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(wildcard ? NULL : host, port, &hints, &res);
    if (rc != 0) {
        log_error("cannot listen on %s: %s", addr, gai_strerror(rc));
        return -1;
    }
    /* For all interfaces try IPv6 first (dual stack), then the rest in resolver order. */
    for (int pass = wildcard ? 0 : 1; pass < 2 && fd < 0; pass++) {
        for (const struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
            if (pass == 0 && ai->ai_family != AF_INET6)
                continue;
            if (pass == 1 && wildcard && ai->ai_family == AF_INET6)
                continue;
            fd = bind_inet(ai, wildcard, backlog);
            if (fd < 0)
                err = errno;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        log_error("cannot listen on %s: %s", addr, strerror(err));
        return -1;
    }
    l->fd = fd;
    return 0;
}

int listen_open(struct listener *l, const char *addr, int backlog, int mode)
{
    char where[128];
    int rc;

    memset(l, 0, sizeof(*l));
    l->fd = -1;
    if (fd0_is_listener()) {
        l->fd = 0;
        l->inherited = true;
        describe_socket(0, where, sizeof(where));
        snprintf(l->name, sizeof(l->name), "fd 0 (%s)", where);
        return 0;
    }
    if (addr == NULL || addr[0] == '\0') {
        log_error("fd 0 is no listening socket and IMGFCGI_LISTEN is empty: nothing to listen on");
        return -1;
    }
    if (strncmp(addr, "unix:", 5) == 0)
        rc = open_unix(l, addr + 5, addr, backlog, mode);
    else if (strchr(addr, '/') != NULL)
        rc = open_unix(l, addr, addr, backlog, mode);
    else
        rc = open_inet(l, addr, backlog);
    if (rc < 0)
        return -1;
    describe_socket(l->fd, l->name, sizeof(l->name));
    return 0;
}

void listen_close(struct listener *l)
{
    struct stat st;

    if (l->inherited || l->fd < 0)
        return;
    close(l->fd);
    l->fd = -1;
    if (l->unix_path != NULL) {
        /* A successor may already have bound the same path: leave its file alone. */
        if (lstat(l->unix_path, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino)
            unlink(l->unix_path);
        free(l->unix_path);
        l->unix_path = NULL;
    }
}
