/* stats: counters kept by the request handlers, and the /stats and /metrics pages. */
#ifndef SSE_STATS_H
#define SSE_STATS_H

#include <stdatomic.h>
#include <time.h>

#include "broker.h"
#include "hub.h"
#include "strbuf.h"

struct stats {
    struct timespec started;          /* monotonic */
    atomic_ullong streams_total;      /* streams ever opened */
    atomic_ullong streams_rejected;   /* 503: too many streams */
    atomic_ullong delivered;          /* event frames written to clients */
    atomic_ullong publish_rejected;   /* publishes answered 4xx */
    atomic_ullong requests_rejected;  /* 503: every request thread busy */
};

void stats_init(struct stats *s);

/* The page bodies; hub totals and topics come from hub_report(), the shared
 * log's state from broker_report() (broker NULL: none). */
int stats_json(struct strbuf *out, struct stats *s, struct hub *hub, struct broker *broker);
int stats_prometheus(struct strbuf *out, struct stats *s, struct hub *hub, struct broker *broker);

#endif
