/*
 * stream: GET /events, the handshake of one subscriber's stream. The request
 * thread checks the request and opens the stream with delivery_open(), which
 * subscribes and hands the connection to a delivery loop (that loop writes
 * the response head and the first frame); the thread is then done: no thread
 * waits for the stream's whole life.
 */
#ifndef SSE_STREAM_H
#define SSE_STREAM_H

#include <fcgiapp.h>

#include "app.h"
#include "ticker.h"

/* The topic a stream gets when it names none: the demo ticker's. */
#define STREAM_DEFAULT_TOPIC TICKER_TOPIC

/*
 * A GET or HEAD (the router checked the method); HEAD gets the head alone.
 * Subscribes to the topics in the query string (?topic=a&topic=b), resuming
 * after Last-Event-ID (the header, or ?lastEventId=). Returns 1 when the
 * connection now belongs to the delivery loop (the caller must then neither
 * finish nor close req), 0 when the request was answered here (an error).
 */
int stream_serve(FCGX_Request *req, const struct app *app, unsigned long no);

#endif
