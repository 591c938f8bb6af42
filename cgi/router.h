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

#endif
