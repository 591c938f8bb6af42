#include "listener.h"

#include <errno.h>
#include <fcgiapp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

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

static int open_unix(const char *path, const struct config *cfg)
{
    int fd = FCGX_OpenSocket(path, cfg->backlog);
    if (fd < 0) {
        log_error("cannot listen on unix:%s: %s", path, strerror(errno));
        return -1;
    }
    /* nginx workers often run as another user: they need write access. */
    if (chmod(path, cfg->socket_mode) != 0) {
        log_error("cannot chmod %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    log_info("accepting FastCGI on unix:%s (mode %04o)", path, cfg->socket_mode);
    return fd;
}

static int open_tcp(const char *addr, const struct config *cfg)
{
    char bind_to[256];
    /* libfcgi binds every interface for ":port": default to loopback instead. */
    const char *colon = strrchr(addr, ':');
    const char *port = colon ? colon + 1 : addr;
    if (!colon || colon == addr)
        snprintf(bind_to, sizeof bind_to, "127.0.0.1:%s", port);
    else
        snprintf(bind_to, sizeof bind_to, "%s", addr);
    if (port[0] == '\0' || strspn(port, "0123456789") != strlen(port)) {
        log_error("invalid --listen '%s': expected host:port or unix:/path", addr);
        return -1;
    }
    int fd = FCGX_OpenSocket(bind_to, cfg->backlog);
    if (fd < 0) {
        log_error("cannot listen on %s: %s", bind_to, errno ? strerror(errno) : "bad address");
        return -1;
    }
    log_info("accepting FastCGI on %s", bind_to);
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
