/* app: what every request handler shares. Built once in main(), read-only after. */
#ifndef SSE_APP_H
#define SSE_APP_H

#include "access.h"
#include "broker.h"
#include "config.h"
#include "delivery.h"
#include "hub.h"
#include "stats.h"

struct app {
    const struct config *cfg;
    struct hub *hub;
    struct stats *stats;
    struct delivery *delivery;   /* writes the open streams */
    const char *publish_token;   /* NULL: only public topics accept publishes */
    const struct access *access; /* private topics and JWTs */
    struct broker *broker;       /* the shared event log (--redis); NULL: none */
};

#endif
