/* config: settings from SSE_* environment variables, then flags (flags win). */
#ifndef SSE_CONFIG_H
#define SSE_CONFIG_H

#include <stdio.h>

#include "log.h"

#define SSE_VERSION "0.1.0"

/* --threads at most (the hub's HUB_MAX_READERS). */
#define CONFIG_MAX_THREADS 64

struct config {
    const char *listen;        /* "host:port", "unix:/path"; NULL: inherited fd 0 */
    unsigned socket_mode;      /* permissions of a unix socket we create */
    int backlog;               /* listen(2) queue for sockets we create */
    unsigned heartbeat_s;      /* comment line after this long without a write */
    unsigned long retry_ms;    /* sent as "retry:" in the first frame */
    unsigned long tick_ms;     /* demo ticker period; 0 turns it off */
    unsigned history;          /* events kept for Last-Event-ID replay */
    unsigned long history_bytes; /* and at most this many bytes of them */
    unsigned threads;          /* delivery loops, one thread each */
    unsigned long publish_wait_ms; /* a publish waits this long for delivery, then 503 */
    unsigned max_streams;      /* open /events streams; 503 past it */
    unsigned max_topics;       /* per stream and per published event */
    unsigned long max_body;    /* largest /publish body, bytes */
    unsigned long public_max_body; /* the same for anonymous publishes */
    const char *public_topics; /* comma-separated, anonymous publishing allowed */
    const char *token_file;    /* --publish-token-file */
    const char *cors_origins;  /* "", "*" or comma-separated exact origins */
    const char *private_topics; /* comma-separated; "prefix*" and "*" too */
    const char *jwt_key_file;  /* --jwt-key-file (or the key in SSE_JWT_KEY) */
    const char *auth_cookie;   /* the cookie that may carry a subscriber's JWT */
    enum log_level log_level;
    unsigned request_timeout_s; /* per read, and for a whole request */
    unsigned max_requests;     /* request threads; 503 past them */
    const char *redis_url;     /* --redis: the shared event log (broker.h); NULL: none */
    const char *redis_key;     /* the Redis stream's key */
};

enum config_result { CONFIG_RUN, CONFIG_EXIT_OK, CONFIG_EXIT_USAGE };

/* Fills cfg; prints help, version or the reason for a usage error to out/err. */
enum config_result config_load(struct config *cfg, int argc, char **argv,
                               FILE *out, FILE *err);

#endif
