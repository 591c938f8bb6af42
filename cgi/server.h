/*
 * server: accepts FastCGI requests. A stream's handshake is answered in the
 * accept thread (it only subscribes and writes a short head before handing
 * the connection to the delivery loop); every other request gets its own
 * short-lived thread, as in libfcgi's examples/threaded.c but with a thread
 * per request rather than a fixed pool, so a slow publisher never holds up
 * the others.
 */
#ifndef SSE_SERVER_H
#define SSE_SERVER_H

#include "app.h"

struct server;

struct server *server_new(int listen_fd, const struct app *app);

/*
 * Accepts requests until server_stop(), then waits for the request threads
 * to end. Returns how many are still running after the grace period (0 on a
 * clean stop).
 */
unsigned server_run(struct server *srv);

/* Stops accepting and closes the hub, which ends every stream. Thread-safe. */
void server_stop(struct server *srv);

void server_free(struct server *srv);

#endif
