/*
 * hub: where events meet streams. A publisher hands the hub an event; the hub
 * gives it the next id, renders its frame once, keeps it in a ring of recent
 * frames and wakes the streams. Each stream follows the ring with its own
 * cursor (the id of the last frame it took), so a slow stream never holds up
 * the publisher or anyone else.
 *
 * The hub knows nothing about FastCGI: how a frame reaches a client is the
 * stream module's business.
 */
#ifndef SSE_HUB_H
#define SSE_HUB_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "frame.h"

/* An immutable rendered frame, shared by every stream that sends it. */
struct hub_frame {
    uint64_t id;
    size_t len;
    _Atomic unsigned refs;
    char bytes[];
};

struct hub;

enum hub_wait_result {
    HUB_FRAME,   /* *frame holds a reference: send it, then hub_frame_release() */
    HUB_TIMEOUT, /* the deadline passed with nothing new */
    HUB_CLOSED,  /* the hub is shutting down: end the stream */
};

/* history: how many recent frames stay in the ring (at least 1). */
struct hub *hub_new(size_t history);
void hub_free(struct hub *hub);

/*
 * Gives ev the next id (ev->id is ignored), renders and stores it and wakes
 * the streams. Returns the id, or 0 when the event is refused (*status says
 * why) or the hub is closed.
 */
uint64_t hub_publish(struct hub *hub, const struct sse_event *ev, enum frame_status *status);

/* The id of the newest frame (0 before the first): a new stream starts here. */
uint64_t hub_last_id(struct hub *hub);

/*
 * Waits until a frame newer than *cursor exists, the monotonic-clock deadline
 * passes, or the hub closes. On HUB_FRAME, *cursor advances to the frame's id.
 * A cursor that fell out of the ring resumes at the oldest kept frame.
 */
enum hub_wait_result hub_wait(struct hub *hub, uint64_t *cursor,
                              const struct timespec *deadline, struct hub_frame **frame);

void hub_frame_release(struct hub_frame *frame);

/* Streams register so publishers can report how many clients listen. */
size_t hub_subscribe(struct hub *hub);
size_t hub_unsubscribe(struct hub *hub);
size_t hub_subscribers(struct hub *hub);

/* Wakes every waiting stream with HUB_CLOSED; later publishes are refused. */
void hub_close(struct hub *hub);

#endif
