/*
 * broker_url: where the Redis broker is, from --redis URL.
 *   redis://[[user]:password@]host[:port][/db]   (host may be [v6 address])
 *   unix:/path/to/redis.sock
 * User and password may be %-escaped. Parsed once when the options are read,
 * so that a bad URL stops the worker before it starts.
 */
#ifndef SSE_BROKER_URL_H
#define SSE_BROKER_URL_H

#include <stddef.h>

#define BROKER_DEFAULT_PORT 6379

struct broker_addr {
    int is_unix;
    char host[256];        /* name or address, without brackets */
    int port;
    char path[108];        /* unix socket (sun_path's size) */
    char user[128];        /* "": none (AUTH password alone) */
    char password[256];
    int has_password;
    unsigned db;           /* SELECT db; 0 is Redis' default */
};

/* Fills *out; returns NULL, or why url is not one of the forms above. */
const char *broker_url_parse(const char *url, struct broker_addr *out);

/* The address for logs: the password, if any, shown as "***". */
void broker_url_describe(const struct broker_addr *a, char *out, size_t n);

#endif
