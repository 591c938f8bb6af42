/* listener: the FastCGI socket the worker accepts requests on. */
#ifndef SSE_LISTENER_H
#define SSE_LISTENER_H

#include "config.h"

/*
 * Opens cfg->listen ("host:port", ":port" or "port" meaning 127.0.0.1:port,
 * "unix:/path"), or checks that the inherited fd 0 is a listening socket when
 * cfg->listen is NULL. Returns the fd, or -1 after logging why.
 */
int listener_open(const struct config *cfg);

/* Closes the socket and removes a unix socket file we created. */
void listener_close(int fd, const struct config *cfg);

#endif
