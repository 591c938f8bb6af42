/*
 * Noticing entries the log trimmed before this worker read them.
 *
 * XREAD goes on from the last id applied and answers whatever is later and
 * still kept: entries trimmed in between (MAXLEN ~ history) would be skipped
 * without a trace, if this worker fell that far behind. Redis counts every
 * entry ever added (XINFO STREAM entries-added, Redis 7), so the follower
 * keeps the count of the entry it applied last: the oldest kept entry is
 * number entries-added - length + 1, and anything between is lost here.
 * XINFO goes in one round trip with each XREAD (pipelined: Redis runs the
 * two back to back), so nothing can be trimmed between the look and the
 * read. Logged and counted (/stats broker.missed); the streams go on.
 */
#include <stdio.h>
#include <string.h>

#include "broker_impl.h"
#include "log.h"

struct log_counts {
    unsigned long long added;   /* entries ever added */
    unsigned long long length;  /* entries kept */
    struct broker_id last;      /* the newest id generated */
};

static const redisReply *field(const redisReply *r, const char *name)
{
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING && strcmp(r->element[i]->str, name) == 0)
            return r->element[i + 1];
    return NULL;
}

/* An XINFO STREAM reply; 0, or -1 (an error such as no such key yet, or a
 * Redis before 7 without the counter). */
static int log_counts(const redisReply *r, struct log_counts *out)
{
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return -1;
    const redisReply *added = field(r, "entries-added"), *length = field(r, "length"),
                     *last = field(r, "last-generated-id");
    if (!added || added->type != REDIS_REPLY_INTEGER || added->integer < 0 || !length ||
        length->type != REDIS_REPLY_INTEGER || length->integer < 0 || !last ||
        last->type != REDIS_REPLY_STRING || broker_id_parse(last->str, last->len, &out->last) != 0)
        return -1;
    out->added = (unsigned long long)added->integer;
    out->length = (unsigned long long)length->integer;
    return 0;
}

static struct broker_id applied(struct broker *b)
{
    pthread_mutex_lock(&b->lock);
    struct broker_id id = b->applied;
    pthread_mutex_unlock(&b->lock);
    return id;
}

/* Until the count is known: learns it once the entry applied last is the
 * log's newest (a quiet moment), the number of the newest being the count. */
static void sync_count(struct broker *b, struct broker_tally *t, const struct log_counts *n)
{
    struct broker_id at = applied(b);
    if (broker_id_cmp(&n->last, &at) == 0) {
        t->count = n->added;
        t->known = 1;
    }
}

void broker_tally_update(struct broker *b, struct broker_tally *t, const redisReply *xinfo)
{
    struct log_counts n;
    if (log_counts(xinfo, &n) != 0)
        return;
    if (!t->known) {
        sync_count(b, t, &n);
        return;
    }
    if (n.added < t->count) { /* a new log (Redis lost its data): count again */
        t->known = 0;
        sync_count(b, t, &n);
        return;
    }
    unsigned long long oldest = n.added - n.length + 1;
    if (t->count + 1 >= oldest)
        return;
    unsigned long long missed = oldest - 1 - t->count;
    t->count = oldest - 1;
    pthread_mutex_lock(&b->lock);
    b->missed += missed;
    pthread_mutex_unlock(&b->lock);
    log_warn("broker: %llu events were trimmed from the log before this worker read them "
             "(it fell more than --history behind): its streams miss them", missed);
}
