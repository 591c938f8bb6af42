/* Unit tests for cgi/broker_entry.c: stream ids, XADD's arguments, and
 * entries read back from replies built here as hiredis would. */
#include <stdlib.h>

#include "broker_entry.h"
#include "tap.h"

static redisReply *mk_str(const char *s, size_t n)
{
    redisReply *r = calloc(1, sizeof *r);
    r->type = REDIS_REPLY_STRING;
    r->str = malloc(n + 1);
    memcpy(r->str, s, n);
    r->str[n] = '\0';
    r->len = n;
    return r;
}

static redisReply *mk_arr(size_t n)
{
    redisReply *r = calloc(1, sizeof *r);
    r->type = REDIS_REPLY_ARRAY;
    r->elements = n;
    r->element = calloc(n ? n : 1, sizeof *r->element);
    return r;
}

/* [id, [the XADD's fields]]: what XREAD answers for the entry it added. */
static redisReply *entry_from(const char *id, const struct broker_xadd *x)
{
    const int first = 6; /* XADD key MAXLEN ~ N * */
    redisReply *fields = mk_arr((size_t)(x->argc - first));
    for (int i = first; i < x->argc; i++)
        fields->element[i - first] = mk_str(x->argv[i], x->lens[i]);
    redisReply *e = mk_arr(2);
    e->element[0] = mk_str(id, strlen(id));
    e->element[1] = fields;
    return e;
}

static void ids(void)
{
    struct broker_id a, b;
    tap_ok(broker_id_parse("1733512345678-0", 15, &a) == 0 && a.ms == 1733512345678ULL && a.seq == 0,
           "a stream id parses into its milliseconds and sequence");
    const char *bad[] = { "12", "1-", "-1", "a-1", "1-b", "1-2-3", "99999999999999999999999-0", "" };
    int refused = 1;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        refused &= broker_id_parse(bad[i], strlen(bad[i]), &b) != 0;
    tap_ok(refused, "anything but digits-digits within 64 bits is not a stream id");
    broker_id_parse("1733512345678-1", 15, &b);
    tap_ok(broker_id_cmp(&a, &b) < 0 && broker_id_cmp(&b, &a) > 0 && broker_id_cmp(&a, &a) == 0,
           "ids order by milliseconds, then sequence");
    broker_id_parse("999-7", 5, &b);
    tap_ok(broker_id_cmp(&b, &a) < 0, "fewer digits is earlier (numbers, not text)");
    char text[BROKER_ID_MAX];
    struct broker_id max = { UINT64_MAX, UINT64_MAX };
    broker_id_format(&max, text);
    tap_bytes("the largest id fits BROKER_ID_MAX", text, strlen(text),
              "18446744073709551615-18446744073709551615");
}

static void round_trip(void)
{
    struct sse_str topics[] = { SSE_STR("news"), SSE_STR("a/b") };
    struct hub_message msg = {
        .topics = topics, .ntopics = 2,
        .event = { .type = SSE_STR("update"), .data = { "x\0y\nz", 5 } },
    };
    struct broker_xadd x;
    tap_ok(broker_xadd_init(&x, "sse:events", 1000, &msg) == 0 && x.argc == 12,
           "XADD key MAXLEN ~ N * topics T type T data D: 12 arguments");
    tap_bytes("MAXLEN is the history", x.argv[4], x.lens[4], "1000");
    tap_bytes("topics are joined with spaces", x.argv[7], x.lens[7], "news a/b");
    tap_mem("data goes with its length, NUL and all", x.argv[11], x.lens[11], "x\0y\nz", 5);

    redisReply *r = entry_from("17-3", &x);
    struct broker_entry e;
    tap_ok(broker_entry_read(r, &e) == 0 && e.msg.ntopics == 2, "the entry reads back");
    tap_bytes("its second topic", e.msg.topics[1].ptr, e.msg.topics[1].len, "a/b");
    tap_bytes("its type", e.msg.event.type.ptr, e.msg.event.type.len, "update");
    tap_mem("its data", e.msg.event.data.ptr, e.msg.event.data.len, "x\0y\nz", 5);
    tap_bytes("without an own id the event's id is the stream id", e.msg.event.id.ptr,
              e.msg.event.id.len, "17-3");
    tap_ok(!e.msg.event.retry.ptr, "fields not given stay absent");
    broker_entry_free(&e);
    freeReplyObject(r);
    broker_xadd_free(&x);

    msg.event.id = SSE_STR("order-17");
    msg.event.retry = SSE_STR("500");
    broker_xadd_init(&x, "k", 5, &msg);
    r = entry_from("18-0", &x);
    tap_ok(broker_entry_read(r, &e) == 0 && e.sid.ms == 18, "an entry with an own id reads back");
    tap_bytes("the publisher's own id wins", e.msg.event.id.ptr, e.msg.event.id.len, "order-17");
    tap_bytes("retry too", e.msg.event.retry.ptr, e.msg.event.retry.len, "500");
    broker_entry_free(&e);
    freeReplyObject(r);
    broker_xadd_free(&x);
}

static void not_events(void)
{
    struct broker_entry e;
    redisReply *r = mk_arr(2);
    r->element[0] = mk_str("5-0", 3);
    r->element[1] = mk_arr(2);
    r->element[1]->element[0] = mk_str("data", 4);
    r->element[1]->element[1] = mk_str("no topics", 9);
    tap_ok(broker_entry_read(r, &e) == 1 && e.sid.ms == 5,
           "an entry without topics is skipped, its id still known");
    broker_entry_free(&e);
    freeReplyObject(r->element[1]);
    r->element[1] = mk_arr(1);
    r->element[1]->element[0] = mk_str("topics", 6);
    tap_ok(broker_entry_read(r, &e) == 1, "an odd number of field strings is skipped");
    broker_entry_free(&e);
    freeReplyObject(r);
    r = mk_str("5-0", 3);
    tap_ok(broker_entry_read(r, &e) == -1, "a reply that is not an entry is an error");
    broker_entry_free(&e);
    freeReplyObject(r);
}

int main(void)
{
    ids();
    round_trip();
    not_events();
    return tap_done();
}
