#include "redis_conn.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>

static struct timeval timeval_ms(unsigned ms)
{
    return (struct timeval){ .tv_sec = ms / 1000, .tv_usec = (suseconds_t)(ms % 1000) * 1000 };
}

void redis_conn_error(const redisContext *c, const redisReply *r, char *why, size_t n)
{
    if (r && r->type == REDIS_REPLY_ERROR)
        snprintf(why, n, "%.*s", (int)r->len, r->str);
    else if (c && c->err)
        snprintf(why, n, "%s", c->errstr[0] ? c->errstr : "connection error");
    else
        snprintf(why, n, "unexpected reply");
}

/* One setup command that must answer OK. */
static int setup_command(redisContext *c, int argc, const char **argv, char *why, size_t n)
{
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    int ok = r && r->type == REDIS_REPLY_STATUS;
    if (!ok) {
        char detail[160];
        redis_conn_error(c, r, detail, sizeof detail);
        snprintf(why, n, "%s: %s", argv[0], detail);
    }
    freeReplyObject(r);
    return ok ? 0 : -1;
}

static int authenticate(redisContext *c, const struct broker_addr *a, char *why, size_t n)
{
    if (!a->has_password)
        return 0;
    const char *with_user[] = { "AUTH", a->user, a->password };
    const char *alone[] = { "AUTH", a->password };
    return a->user[0] ? setup_command(c, 3, with_user, why, n)
                      : setup_command(c, 2, alone, why, n);
}

static int select_db(redisContext *c, const struct broker_addr *a, char *why, size_t n)
{
    if (a->db == 0)
        return 0;
    char db[16];
    snprintf(db, sizeof db, "%u", a->db);
    const char *argv[] = { "SELECT", db };
    return setup_command(c, 2, argv, why, n);
}

redisContext *redis_conn_open(const struct broker_addr *a, unsigned connect_ms,
                              unsigned command_ms, char *why, size_t n)
{
    redisContext *c = a->is_unix ? redisConnectUnixWithTimeout(a->path, timeval_ms(connect_ms))
                                 : redisConnectWithTimeout(a->host, a->port, timeval_ms(connect_ms));
    if (!c) {
        snprintf(why, n, "out of memory");
        return NULL;
    }
    if (c->err) {
        snprintf(why, n, "%s", c->errstr[0] ? c->errstr : "cannot connect");
        redisFree(c);
        return NULL;
    }
    /* Keepalive: a cut network is noticed even on a connection waiting in
     * XREAD BLOCK; the command timeout bounds everything else. */
    if ((!a->is_unix && redisEnableKeepAlive(c) != REDIS_OK) ||
        redisSetTimeout(c, timeval_ms(command_ms)) != REDIS_OK) {
        snprintf(why, n, "cannot set socket options: %s", c->errstr);
        redisFree(c);
        return NULL;
    }
    if (authenticate(c, a, why, n) != 0 || select_db(c, a, why, n) != 0) {
        redisFree(c);
        return NULL;
    }
    return c;
}
