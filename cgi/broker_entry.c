#include "broker_entry.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 20)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int broker_id_parse(const char *s, size_t n, struct broker_id *out)
{
    const char *dash = memchr(s, '-', n);
    if (!dash)
        return -1;
    size_t left = (size_t)(dash - s);
    return parse_u64(s, left, &out->ms) || parse_u64(dash + 1, n - left - 1, &out->seq) ? -1 : 0;
}

int broker_id_cmp(const struct broker_id *a, const struct broker_id *b)
{
    if (a->ms != b->ms)
        return a->ms < b->ms ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

void broker_id_format(const struct broker_id *id, char out[BROKER_ID_MAX])
{
    snprintf(out, BROKER_ID_MAX, "%" PRIu64 "-%" PRIu64, id->ms, id->seq);
}

static void add_arg(struct broker_xadd *x, const char *s, size_t n)
{
    x->argv[x->argc] = s;
    x->lens[x->argc] = n;
    x->argc++;
}

static void add_field(struct broker_xadd *x, const char *name, struct sse_str v)
{
    if (!v.ptr)
        return;
    add_arg(x, name, strlen(name));
    add_arg(x, v.ptr, v.len);
}

int broker_xadd_init(struct broker_xadd *x, const char *key, size_t history,
                     const struct hub_message *msg)
{
    memset(x, 0, sizeof *x);
    for (size_t i = 0; i < msg->ntopics; i++)
        if (strbuf_append(&x->topics, " ", i > 0) != 0 ||
            strbuf_append(&x->topics, msg->topics[i].ptr, msg->topics[i].len) != 0) {
            strbuf_free(&x->topics);
            return -1;
        }
    int n = snprintf(x->maxlen, sizeof x->maxlen, "%zu", history);
    /* The log keeps about as many events as each hub's history: a few more
     * ("~" lets Redis trim whole nodes, which is much cheaper), never fewer. */
    add_arg(x, "XADD", 4);
    add_arg(x, key, strlen(key));
    add_arg(x, "MAXLEN", 6);
    add_arg(x, "~", 1);
    add_arg(x, x->maxlen, (size_t)n);
    add_arg(x, "*", 1);
    add_arg(x, "topics", 6);
    add_arg(x, x->topics.ptr ? x->topics.ptr : "", x->topics.len);
    add_field(x, "type", msg->event.type);
    add_field(x, "data", msg->event.data);
    add_field(x, "id", msg->event.id);
    add_field(x, "retry", msg->event.retry);
    return 0;
}

void broker_xadd_free(struct broker_xadd *x)
{
    strbuf_free(&x->topics);
}

/* Splits the space-separated names; the array points into text. */
static int split_topics(struct broker_entry *e, const char *text, size_t n)
{
    size_t count = 1;
    for (size_t i = 0; i < n; i++)
        count += text[i] == ' ';
    if (!(e->topics = calloc(count, sizeof *e->topics)))
        return -1;
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= n; i++)
        if (i == n || text[i] == ' ') {
            e->topics[k++] = (struct sse_str){ text + start, i - start };
            start = i + 1;
        }
    e->msg.topics = e->topics;
    e->msg.ntopics = count;
    return 0;
}

/* The fields; 1 if they do not make an event. */
static int read_fields(struct broker_entry *e, const redisReply *f)
{
    if (f->type != REDIS_REPLY_ARRAY || f->elements % 2 != 0)
        return 1;
    struct sse_str topics = SSE_NONE;
    for (size_t i = 0; i < f->elements; i += 2) {
        const redisReply *name = f->element[i], *value = f->element[i + 1];
        if (name->type != REDIS_REPLY_STRING || value->type != REDIS_REPLY_STRING)
            return 1;
        struct sse_str v = { value->str, value->len };
        if (strcmp(name->str, "topics") == 0)
            topics = v;
        else if (strcmp(name->str, "type") == 0)
            e->msg.event.type = v;
        else if (strcmp(name->str, "data") == 0)
            e->msg.event.data = v;
        else if (strcmp(name->str, "id") == 0)
            e->msg.event.id = v;
        else if (strcmp(name->str, "retry") == 0)
            e->msg.event.retry = v;
        /* Other fields: from a later version; ignored. */
    }
    if (!topics.ptr || topics.len == 0)
        return 1;
    return split_topics(e, topics.ptr, topics.len) != 0 ? -1 : 0;
}

int broker_entry_read(const redisReply *r, struct broker_entry *e)
{
    memset(e, 0, sizeof *e);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        broker_id_parse(r->element[0]->str, r->element[0]->len, &e->sid) != 0)
        return -1;
    broker_id_format(&e->sid, e->sid_text);
    int rc = read_fields(e, r->element[1]);
    if (rc == 0 && !e->msg.event.id.ptr)
        e->msg.event.id = (struct sse_str){ e->sid_text, strlen(e->sid_text) };
    return rc;
}

void broker_entry_free(struct broker_entry *e)
{
    free(e->topics);
    e->topics = NULL;
}
