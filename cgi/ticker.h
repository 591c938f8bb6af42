/*
 * ticker: the built-in demo source. Every period it publishes one "tick"
 * event whose data is JSON (server time, sequence number, connected clients);
 * every fifth tick it also publishes a plain message whose data has three
 * lines, to show how several "data:" lines join into one event.
 */
#ifndef SSE_TICKER_H
#define SSE_TICKER_H

#include "broker.h"
#include "hub.h"

#define TICKER_TOPIC "clock"

struct ticker;

/* Starts the ticker thread; period_ms 0 returns NULL without starting one.
 * With a broker (NULL: none) ticks go through the shared log like any
 * publish, so every worker's clock subscribers see the same ticks: with
 * several workers, let one of them tick. */
struct ticker *ticker_start(struct hub *hub, struct broker *broker, unsigned long period_ms,
                            int *error);
/* Stops the thread (it wakes at once) and frees it. NULL is fine. */
void ticker_stop(struct ticker *t);

#endif
