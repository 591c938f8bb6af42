/* redis_conn: one blocking hiredis connection, ready for commands. */
#ifndef SSE_REDIS_CONN_H
#define SSE_REDIS_CONN_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#include "broker_url.h"

/*
 * Connects to a (within connect_ms), authenticates and selects its
 * database; each later command may then take at most command_ms. Returns
 * the context, or NULL with a one-line reason in why.
 */
redisContext *redis_conn_open(const struct broker_addr *a, unsigned connect_ms,
                              unsigned command_ms, char *why, size_t n);

/* The reason a command failed: the context's error, or the reply's. */
void redis_conn_error(const redisContext *c, const redisReply *r, char *why, size_t n);

#endif
