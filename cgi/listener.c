#define _GNU_SOURCE /* NI_MAXHOST and friends with getaddrinfo */
#include "listener.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/*
 * The sockets are made here rather than with libfcgi's FCGX_OpenSocket,
 * which calls exit() itself when bind fails (no message of ours, an errno as
 * exit status), binds every interface for ":port", and silently takes over a
 * unix socket path that a running worker still listens on.
 */

static const char unix_prefix[] = "unix:";

static int is_unix(const char *addr)
{
    return strncmp(addr, unix_prefix, sizeof unix_prefix - 1) == 0;
}

/* spawn-fcgi and systemd pass a listening socket as fd 0 (FCGI_LISTENSOCK_FILENO). */
static int inherited_socket(void)
{
    int listening = 0;
    socklen_t len = sizeof listening;
    if (getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) {
        log_error("no --listen given and fd 0 is not a listening socket: "
                  "pass --listen 127.0.0.1:9000 or start under spawn-fcgi/systemd");
        return -1;
    }
    log_info("accepting FastCGI on the socket inherited on fd 0");
    return 0;
}

/* Is a server answering on this unix socket path right now? */
static int unix_path_alive(const struct sockaddr_un *sa)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    int alive = connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0;
    close(fd);
    return alive;
}

static int open_unix(const char *path, const struct config *cfg)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof sa.sun_path) {
        log_error("unix socket path too long (%zu bytes at most): %s",
                  sizeof sa.sun_path - 1, path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    if (unix_path_alive(&sa)) {
        log_error("unix:%s is in use by a running server", path);
        return -1;
    }
    unlink(path); /* a stale socket file left by a worker that died */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        chmod(path, cfg->socket_mode) != 0 || listen(fd, cfg->backlog) != 0) {
        log_error("cannot listen on unix:%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    /* nginx workers often run as another user: the mode is what lets them in. */
    log_info("accepting FastCGI on unix:%s (mode %04o)", path, cfg->socket_mode);
    return fd;
}

/* Splits "host:port", "[v6]:port", ":port" or "port"; no host means loopback. */
static int split_host_port(const char *addr, char *host, size_t n, const char **port)
{
    const char *colon = strrchr(addr, ':');
    *port = colon ? colon + 1 : addr;
    size_t len = colon ? (size_t)(colon - addr) : 0;
    if (len >= 2 && addr[0] == '[' && addr[len - 1] == ']') {
        addr++;
        len -= 2;
    }
    if (len >= n || (*port)[0] == '\0' || strspn(*port, "0123456789") != strlen(*port))
        return -1;
    if (len == 0)
        snprintf(host, n, "127.0.0.1");
    else
        snprintf(host, n, "%.*s", (int)len, addr);
    return 0;
}

static int bind_first(const struct addrinfo *list, int backlog)
{
    int err = 0;
    for (const struct addrinfo *ai = list; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        int on = 1;
        if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == 0 &&
            bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog) == 0)
            return fd;
        err = errno;
        if (fd >= 0)
            close(fd);
    }
    errno = err;
    return -1;
}

static int open_tcp(const char *addr, const struct config *cfg)
{
    char host[256];
    const char *port;
    if (split_host_port(addr, host, sizeof host, &port) != 0) {
        log_error("invalid --listen '%s': expected host:port or unix:/path", addr);
        return -1;
    }
    struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
                              .ai_socktype = SOCK_STREAM }, *list;
    int rc = getaddrinfo(host, port, &hints, &list);
    if (rc != 0) {
        log_error("cannot resolve --listen '%s': %s", addr, gai_strerror(rc));
        return -1;
    }
    int fd = bind_first(list, cfg->backlog);
    freeaddrinfo(list);
    if (fd < 0) {
        log_error("cannot listen on %s:%s: %s", host, port, strerror(errno));
        return -1;
    }
    log_info("accepting FastCGI on %s:%s", host, port);
    return fd;
}

int listener_open(const struct config *cfg)
{
    if (!cfg->listen)
        return inherited_socket();
    if (is_unix(cfg->listen))
        return open_unix(cfg->listen + sizeof unix_prefix - 1, cfg);
    return open_tcp(cfg->listen, cfg);
}

void listener_close(int fd, const struct config *cfg)
{
    if (fd > 0)
        close(fd);
    if (cfg->listen && is_unix(cfg->listen))
        unlink(cfg->listen + sizeof unix_prefix - 1);
}
