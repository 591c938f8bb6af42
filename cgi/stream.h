/*
 * stream: GET /events, the handshake of one subscriber's stream. The accept
 * thread checks the request, subscribes to the hub, writes the response head
 * and the first frame with libfcgi, then hands the connection to the
 * delivery loop and is done: no thread waits for the stream's whole life.
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
