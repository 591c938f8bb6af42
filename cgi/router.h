/* router: which handler answers an accepted request, by its path. */
#ifndef SSE_ROUTER_H
#define SSE_ROUTER_H

#include <fcgiapp.h>

#include "app.h"

/*
 * /events (stream), /publish, /stats (JSON), /metrics (Prometheus); anything
 * else reaching the worker gets 404. Blocks as long as the handler does.
 */
void router_serve(FCGX_Request *req, const struct app *app, unsigned long no);

#endif
