/*
 * stream: GET /events, one subscriber's stream. This is the delivery side:
 * a thread per stream that sleeps until the hub wakes it, then writes and
 * flushes each frame to nginx. The hub does not know it exists.
 */
#ifndef SSE_STREAM_H
#define SSE_STREAM_H

#include <fcgiapp.h>

#include "app.h"
#include "ticker.h"

/* The topic a stream gets when it names none: the demo ticker's. */
#define STREAM_DEFAULT_TOPIC TICKER_TOPIC

/*
 * Subscribes to the topics in the query string (?topic=a&topic=b), resumes
 * after Last-Event-ID (header, or ?lastEventId=) and streams until the client
 * leaves, falls behind the history, or the worker stops. Blocks for the
 * stream's whole life; the caller still owns req.
 */
void stream_serve(FCGX_Request *req, const struct app *app, unsigned long no);

#endif
