/* router: which handler answers an accepted request, by its path. */
#ifndef SSE_ROUTER_H
#define SSE_ROUTER_H

#include <fcgiapp.h>

#include "app.h"

/*
 * /events (stream), /publish, /stats (JSON), /metrics (Prometheus); anything
 * else reaching the worker gets 404, a method its path does not answer 405
 * with Allow. Returns 1 when the connection was handed to the delivery loop
 * (the caller must not finish req), 0 when answered.
 */
int router_serve(FCGX_Request *req, const struct app *app, unsigned long no);

/*
 * Is this a request the accept thread may answer itself? A stream's
 * handshake (GET /events) only subscribes and writes a short head, so it
 * costs less than starting a thread for it; everything else gets a thread.
 */
int router_is_quick(FCGX_Request *req);

#endif
