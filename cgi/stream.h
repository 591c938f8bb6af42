/* stream: serves one accepted FastCGI request (routing, headers, the event loop). */
#ifndef SSE_STREAM_H
#define SSE_STREAM_H

#include <fcgiapp.h>

#include "config.h"
#include "hub.h"

/*
 * Answers req: GET /events streams frames from the hub until the client goes
 * away or the hub closes; anything else gets a short 404 or 405. Blocks for
 * the stream's whole life. The caller still owns req and finishes it.
 */
void stream_serve(FCGX_Request *req, struct hub *hub, const struct config *cfg,
                  unsigned long stream_no);

#endif
