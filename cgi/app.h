/* app: what every request handler shares. Built once in main(), read-only after. */
#ifndef SSE_APP_H
#define SSE_APP_H

#include "config.h"
#include "hub.h"
#include "stats.h"

struct app {
    const struct config *cfg;
    struct hub *hub;
    struct stats *stats;
    const char *publish_token;   /* NULL: only public topics accept publishes */
};

#endif
