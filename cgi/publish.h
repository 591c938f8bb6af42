/* publish: POST /publish, the way any backend sends an event to the streams. */
#ifndef SSE_PUBLISH_H
#define SSE_PUBLISH_H

#include <fcgiapp.h>

#include "app.h"

/*
 * A POST (the router checked the method): checks the bearer token, the size
 * and type of the body and every field, then publishes to the hub and
 * answers 200 with the event's id.
 * Anything wrong gets a 4xx with a one-line reason and changes nothing.
 */
void publish_serve(FCGX_Request *req, const struct app *app, unsigned long no);

#endif
