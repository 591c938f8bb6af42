/* Unit tests for cgi/hub.c: ids, topics, replay, the ring, lagging, closing. */
#define _GNU_SOURCE /* memmem */
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"
#include "tap.h"

static const struct hub_limits limits = { .history = 8, .max_subscribers = 3, .max_topics = 4 };

/* A reader's wake-ups are counted, as a delivery loop would notice them. */
static void count_wake(void *ctx)
{
    (*(int *)ctx)++;
}

/* What a fan-out sent, "owner:data" per frame, as a delivery loop would. */
static struct strbuf sent = STRBUF_INIT;
static int full_owner; /* this owner's socket is "full": it falls behind */

static int record_send(void *owner, const struct hub_frame *f)
{
    const char *d = memmem(f->bytes, f->len, "data: ", 6);
    size_t n = d ? strcspn(d + 6, "\n") : 0;
    strbuf_printf(&sent, "%s%d:%.*s", sent.len ? "," : "", *(int *)owner, (int)n, d ? d + 6 : "");
    return *(int *)owner == full_owner;
}

static struct strbuf last_id = STRBUF_INIT;

static enum hub_status publish_to(struct hub *hub, const char *topic, const char *data)
{
    struct sse_str t = SSE_CSTR(topic);
    struct hub_message msg = { .topics = &t, .ntopics = 1, .event = { .data = SSE_CSTR(data) } };
    strbuf_reset(&last_id);
    return hub_publish(hub, &msg, &last_id, NULL);
}

static struct hub_sub *subscribe(struct hub *hub, const char *topic, const char *last)
{
    struct sse_str t = SSE_CSTR(topic);
    struct hub_subscription req = { .topics = &t, .ntopics = 1, .last_event_id = last };
    struct hub_sub *sub = NULL;
    return hub_subscribe(hub, &req, &sub) == HUB_OK ? sub : NULL;
}

/* Collects the data lines of every frame available, "a,b,c". */
static void collect(struct hub *hub, struct hub_sub *sub, struct strbuf *out, enum hub_next *end)
{
    struct hub_frame *f;
    while ((*end = hub_next(hub, sub, &f)) == HUB_NEXT_FRAME) {
        struct strbuf frame = STRBUF_INIT; /* frame bytes have no NUL: copy them */
        strbuf_append(&frame, f->bytes, f->len);
        hub_frame_release(f);
        const char *d = strstr(frame.ptr, "data: ");
        if (out->len)
            strbuf_puts(out, ",");
        if (strstr(frame.ptr, "event: gap\n"))
            strbuf_puts(out, "GAP");
        else if (d)
            strbuf_append(out, d + 6, strcspn(d + 6, "\n"));
        strbuf_free(&frame);
    }
}

static void expect_collect(struct hub *hub, struct hub_sub *sub, const char *name, const char *want)
{
    struct strbuf got = STRBUF_INIT;
    enum hub_next end;
    collect(hub, sub, &got, &end);
    tap_bytes(name, got.ptr, got.len, want);
    strbuf_free(&got);
}

static void topics_and_ids(void)
{
    struct hub *hub = hub_new(&limits);
    struct hub_sub *a = subscribe(hub, "a", NULL);
    struct hub_sub *b = subscribe(hub, "b", NULL);
    publish_to(hub, "a", "1");
    char first[32];
    snprintf(first, sizeof first, "%s", last_id.ptr);
    publish_to(hub, "b", "2");
    publish_to(hub, "a", "3");
    tap_ok(strtoull(last_id.ptr, NULL, 10) == strtoull(first, NULL, 10) + 2,
           "generated ids increase by one per event");
    tap_ok(strtoull(first, NULL, 10) > 1700000000000000ULL,
           "generated ids start from the clock in microseconds");
    expect_collect(hub, a, "a subscriber gets only its topic's events, in order", "1,3");
    expect_collect(hub, b, "and another topic's subscriber only its own", "2");
    hub_unsubscribe(hub, a);
    hub_unsubscribe(hub, b);
    hub_free(hub);
}

static void replay(void)
{
    struct hub *hub = hub_new(&limits);
    publish_to(hub, "a", "1");
    char after[32];
    snprintf(after, sizeof after, "%s", last_id.ptr);
    publish_to(hub, "a", "2");
    publish_to(hub, "b", "x");
    publish_to(hub, "a", "3");
    struct hub_sub *s = subscribe(hub, "a", after);
    expect_collect(hub, s, "Last-Event-ID replays every later event of the topic", "2,3");
    publish_to(hub, "a", "4");
    expect_collect(hub, s, "then goes live with no gap and no duplicate", "4");
    hub_unsubscribe(hub, s);
    s = subscribe(hub, "a", "no-such-id");
    expect_collect(hub, s, "an unknown id gets the gap signal, then everything kept",
                   "GAP,1,2,3,4");
    hub_unsubscribe(hub, s);
    s = subscribe(hub, "a", NULL);
    expect_collect(hub, s, "without an id a subscriber starts with new events only", "");
    hub_unsubscribe(hub, s);
    hub_free(hub);
}

/* hub_next_many: the frames hub_next would give, max at a time, in order. */
static void next_many(void)
{
    struct hub *hub = hub_new(&limits);
    publish_to(hub, "a", "0");
    char after[32];
    snprintf(after, sizeof after, "%s", last_id.ptr);
    for (int i = 1; i <= 5; i++) {
        char data[4];
        snprintf(data, sizeof data, "%d", i);
        publish_to(hub, i == 3 ? "b" : "a", data);
    }
    struct hub_sub *s = subscribe(hub, "a", after);
    struct hub_frame *frames[3];
    size_t n = 99;
    enum hub_next r = hub_next_many(hub, s, frames, 3, &n);
    int in_order = n == 3 && r == HUB_NEXT_FRAME;
    for (size_t i = 0; i < n; i++) {
        char needle[16];
        snprintf(needle, sizeof needle, "data: %c\n", "124"[i < 3 ? i : 0]);
        in_order = in_order && memmem(frames[i]->bytes, frames[i]->len, needle, strlen(needle));
        hub_frame_release(frames[i]);
    }
    tap_ok(in_order, "hub_next_many stops at max with the next frames of the topic, in order");
    r = hub_next_many(hub, s, frames, 3, &n);
    tap_ok(n == 1 && r == HUB_NEXT_NONE, "then gives what is left and says it has caught up");
    if (n == 1)
        hub_frame_release(frames[0]);
    hub_close(hub);
    r = hub_next_many(hub, s, frames, 3, &n);
    tap_ok(n == 0 && r == HUB_NEXT_CLOSED, "and no frame once the hub is closing");
    hub_unsubscribe(hub, s);
    hub_free(hub);
}

static void custom_ids(void)
{
    struct hub *hub = hub_new(&limits);
    struct sse_str t = SSE_STR("a");
    struct hub_message msg = { .topics = &t, .ntopics = 1,
                               .event = { .id = SSE_STR("order-7"), .data = SSE_STR("x") } };
    strbuf_reset(&last_id);
    hub_publish(hub, &msg, &last_id, NULL);
    tap_bytes("a publisher's own id is kept", last_id.ptr, last_id.len, "order-7");
    publish_to(hub, "a", "y");
    struct hub_sub *s = subscribe(hub, "a", "order-7");
    expect_collect(hub, s, "a publisher's own id works as Last-Event-ID", "y");
    hub_unsubscribe(hub, s);
    hub_free(hub);
}

static void ring_and_lag(void)
{
    struct hub *hub = hub_new(&limits);
    publish_to(hub, "a", "0");
    char old[32];
    snprintf(old, sizeof old, "%s", last_id.ptr);
    struct hub_sub *slow = subscribe(hub, "a", NULL);
    for (int i = 1; i <= 9; i++)
        publish_to(hub, "a", "n");
    struct hub_frame *f = NULL;
    tap_ok(hub_next(hub, slow, &f) == HUB_NEXT_LAGGED,
           "a subscriber whose next event left the history is told it lagged");
    hub_unsubscribe(hub, slow);
    struct hub_sub *late = subscribe(hub, "a", old);
    struct strbuf got = STRBUF_INIT;
    enum hub_next end;
    collect(hub, late, &got, &end);
    tap_ok(strncmp(got.ptr, "GAP,", 4) == 0 && end == HUB_NEXT_NONE,
           "an id older than the history gets the gap signal first");
    tap_ok(strcmp(got.ptr + 4, "n,n,n,n,n,n,n,n") == 0, "then exactly the kept events");
    strbuf_free(&got);
    struct hub_totals totals;
    hub_report(hub, &totals, NULL, NULL);
    tap_ok(totals.kept == 8 && totals.published == 10 && totals.lagged == 1,
           "totals count kept, published and lagged events");
    hub_unsubscribe(hub, late);
    hub_free(hub);
}

/* Lagging means losing one's own events, not other topics' events. */
static void quiet_topics(void)
{
    struct hub *hub = hub_new(&limits);
    struct hub_sub *quiet = subscribe(hub, "quiet", NULL);
    for (int i = 0; i < 20; i++)
        publish_to(hub, "busy", "b");
    publish_to(hub, "quiet", "q");
    struct strbuf got = STRBUF_INIT;
    enum hub_next end;
    collect(hub, quiet, &got, &end);
    tap_ok(strcmp(got.ptr ? got.ptr : "", "q") == 0 && end == HUB_NEXT_NONE,
           "a quiet topic's subscriber outlives 20 other events in a history of 8");
    strbuf_free(&got);
    publish_to(hub, "quiet", "r");
    for (int i = 0; i < 7; i++)
        publish_to(hub, "busy", "b");
    expect_collect(hub, quiet, "its own event still kept is delivered after the others moved on",
                   "r");
    publish_to(hub, "quiet", "lost");
    for (int i = 0; i < 8; i++)
        publish_to(hub, "busy", "b");
    struct hub_frame *f = NULL;
    tap_ok(hub_next(hub, quiet, &f) == HUB_NEXT_LAGGED,
           "but once one of its own unread events is evicted it lags");
    hub_unsubscribe(hub, quiet);
    struct hub_totals totals;
    hub_report(hub, &totals, NULL, NULL);
    tap_ok(totals.lagged == 1, "and only that counts as lagged");
    hub_free(hub);
}

/* The history is bounded by bytes as well as by count. */
static void history_bytes(void)
{
    /* Each frame below is 59 bytes: "id: " 16 digits LF, "data: " 30 LF, LF. */
    const struct hub_limits small = { .history = 8, .max_subscribers = 3, .max_topics = 4,
                                      .history_bytes = 200 };
    struct hub *hub = hub_new(&small);
    const char *data[5] = { "1.............................", "2.............................",
                            "3.............................", "4.............................",
                            "5............................." };
    for (int i = 0; i < 5; i++)
        publish_to(hub, "a", data[i]);
    struct hub_totals totals;
    hub_report(hub, &totals, NULL, NULL);
    tap_ok(totals.kept == 3 && totals.kept_bytes == 3 * 59,
           "only the newest events that fit in history_bytes are kept, and their bytes counted");
    struct hub_sub *s = subscribe(hub, "a", "no-such-id");
    expect_collect(hub, s, "an unknown id replays only what fits",
                   "GAP,3.............................,4.............................,"
                   "5.............................");
    hub_unsubscribe(hub, s);
    char big[300];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    tap_ok(publish_to(hub, "a", big) == HUB_TOO_LARGE,
           "an event larger than the whole budget is refused");
    struct hub_totals after;
    hub_report(hub, &after, NULL, NULL);
    tap_ok(after.kept == 3 && after.kept_bytes == totals.kept_bytes &&
           after.published == totals.published, "and changes nothing");
    /* hub_check_event: what the broker asks before it stores an event. */
    struct sse_str a = SSE_STR("a");
    struct hub_message fits = { .topics = &a, .ntopics = 1,
                                .event = { .data = { big, 180 - 16 } } };
    enum frame_status fst;
    tap_ok(hub_check_event(hub, &fits, 10, &fst) == HUB_OK,
           "hub_check_event takes an event that fits with an id of the given length");
    tap_ok(hub_check_event(hub, &fits, 30, &fst) == HUB_TOO_LARGE,
           "and refuses it when the id would make it too large");
    fits.event.id = SSE_STR("x");
    tap_ok(hub_check_event(hub, &fits, 30, &fst) == HUB_OK, "an own id is measured as it is");
    fits.event.retry = SSE_STR("soon");
    tap_ok(hub_check_event(hub, &fits, 0, &fst) == HUB_BAD_EVENT && fst == FRAME_BAD_RETRY,
           "a malformed field is refused as hub_publish would");
    fits.event.retry = SSE_NONE;
    fits.event.type = SSE_STR("gap");
    tap_ok(hub_check_event(hub, &fits, 0, &fst) == HUB_RESERVED_TYPE, "so is type gap");
    hub_report(hub, &after, NULL, NULL);
    tap_ok(after.published == totals.published, "checking publishes nothing");
    hub_free(hub);
}

static void limits_and_refusals(void)
{
    struct hub *hub = hub_new(&limits);
    struct hub_sub *subs[3];
    for (int i = 0; i < 3; i++)
        subs[i] = subscribe(hub, "a", NULL);
    struct sse_str t = SSE_STR("a");
    struct hub_subscription req = { .topics = &t, .ntopics = 1 };
    struct hub_sub *extra = NULL;
    tap_ok(hub_subscribe(hub, &req, &extra) == HUB_FULL, "past max_subscribers: HUB_FULL");
    for (int i = 0; i < 3; i++)
        hub_unsubscribe(hub, subs[i]);
    struct sse_str many[5] = { SSE_STR("a"), SSE_STR("b"), SSE_STR("c"), SSE_STR("d"),
                               SSE_STR("e") };
    tap_ok(hub_check_topics(hub, many, 5) == HUB_TOO_MANY_TOPICS, "too many topics refused");
    tap_ok(hub_check_topics(hub, many, 0) == HUB_NO_TOPIC, "no topic refused");
    struct sse_str bad[3] = { SSE_STR("a b"), SSE_STR(""), SSE_STR("<x>") };
    const char *names[3] = { "a topic with a space is refused", "an empty topic is refused",
                             "a topic with < > is refused" };
    for (int i = 0; i < 3; i++)
        tap_ok(hub_check_topics(hub, &bad[i], 1) == HUB_BAD_TOPIC, names[i]);
    struct hub_message msg = { .topics = &t, .ntopics = 1,
                               .event = { .type = SSE_STR("gap"), .data = SSE_STR("x") } };
    tap_ok(hub_publish(hub, &msg, NULL, NULL) == HUB_RESERVED_TYPE, "type gap is reserved");
    msg.event.type = SSE_STR("a\nb");
    enum frame_status fst;
    tap_ok(hub_publish(hub, &msg, NULL, &fst) == HUB_BAD_EVENT && fst == FRAME_BAD_TYPE,
           "a refused event says why");
    struct hub_totals totals;
    hub_report(hub, &totals, NULL, NULL);
    tap_ok(totals.published == 0 && totals.kept == 0, "refused events change nothing");
    hub_free(hub);
}

static void closing(void)
{
    struct hub_limits two = limits;
    two.readers = 2;
    struct hub *hub = hub_new(&two);
    int wakes[2] = { 0, 0 };
    hub_set_reader(hub, 0, count_wake, &wakes[0]);
    hub_set_reader(hub, 1, count_wake, &wakes[1]);
    struct hub_sub *s = subscribe(hub, "a", NULL);
    hub_close(hub);
    struct hub_frame *f = NULL;
    tap_ok(wakes[0] == 1 && wakes[1] == 1 && hub_next(hub, s, &f) == HUB_NEXT_CLOSED,
           "closing wakes every reader and answers HUB_NEXT_CLOSED");
    tap_ok(publish_to(hub, "a", "late") == HUB_CLOSED, "a closed hub refuses publishes");
    hub_unsubscribe(hub, s);
    hub_free(hub);
}

static struct hub_sub *subscribe_on(struct hub *hub, unsigned reader, const char *topic,
                                     int *owner)
{
    struct sse_str t = SSE_CSTR(topic);
    struct hub_subscription req = { .topics = &t, .ntopics = 1, .reader = reader,
                                    .owner = owner };
    struct hub_sub *sub = NULL;
    return hub_subscribe(hub, &req, &sub) == HUB_OK ? sub : NULL;
}

/* Readers: one wake per publish per reader, fan-out to live subscribers only. */
static void readers_and_fan_out(void)
{
    struct hub_limits two = limits;
    two.readers = 2;
    struct hub *hub = hub_new(&two);
    int wakes[2] = { 0, 0 };
    hub_set_reader(hub, 0, count_wake, &wakes[0]);
    hub_set_reader(hub, 1, count_wake, &wakes[1]);
    int one = 1, two_ = 2, three = 3;
    struct hub_sub *s1 = subscribe_on(hub, 0, "a", &one);
    struct hub_sub *s2 = subscribe_on(hub, 0, "b", &two_);
    struct hub_sub *s3 = subscribe_on(hub, 1, "a", &three);
    hub_attach(hub, s1);
    hub_attach(hub, s2);
    hub_attach(hub, s3);
    expect_collect(hub, s1, "a new subscriber catches up (nothing yet) and goes live", "");
    expect_collect(hub, s2, "so does a second", "");
    publish_to(hub, "a", "x");
    publish_to(hub, "b", "y");
    tap_ok(wakes[0] == 1 && wakes[1] == 1,
           "two publishes wake each reader once until it looks (not each subscriber)");
    int closed = 1;
    uint64_t last = hub_reader_todo(hub, 0, &closed);
    strbuf_reset(&sent);
    for (uint64_t seq = 1; seq <= last; seq++)
        hub_fan_out(hub, 0, seq, record_send);
    hub_reader_done(hub, 0, last);
    tap_bytes("reader 0 fans each event out to its own live subscribers of the topic",
              sent.ptr, sent.len, "1:x,2:y");
    tap_ok(last == 2 && closed == 0, "hub_reader_todo names the newest event");
    publish_to(hub, "a", "z");
    tap_ok(wakes[0] == 2 && wakes[1] == 1, "a reader that looked is woken again, one that did not is not");
    /* Reader 1's subscriber is still catching up: fan-out skips it. */
    last = hub_reader_todo(hub, 1, &closed);
    strbuf_reset(&sent);
    for (uint64_t seq = 1; seq <= last; seq++)
        hub_fan_out(hub, 1, seq, record_send);
    tap_ok(sent.len == 0, "a subscriber not yet caught up gets nothing from the fan-out");
    hub_reader_done(hub, 1, last);
    expect_collect(hub, s3, "it catches up with hub_next: what its reader fanned out meanwhile",
                   "x,z");
    hub_unsubscribe(hub, s1);
    hub_unsubscribe(hub, s2);
    hub_unsubscribe(hub, s3);
    hub_free(hub);
}

/* A subscriber whose socket is full falls behind, then catches up in order. */
static void behind_and_catch_up(void)
{
    struct hub_limits one_reader = limits;
    one_reader.readers = 1;
    struct hub *hub = hub_new(&one_reader);
    int wakes = 0, fast = 1, slow = 2;
    hub_set_reader(hub, 0, count_wake, &wakes);
    struct hub_sub *f = subscribe_on(hub, 0, "a", &fast);
    struct hub_sub *s = subscribe_on(hub, 0, "a", &slow);
    hub_attach(hub, f);
    hub_attach(hub, s);
    expect_collect(hub, f, "subscribers with nothing to catch up on go live", "");
    expect_collect(hub, s, "both of them", "");
    full_owner = slow;
    publish_to(hub, "a", "1");
    publish_to(hub, "a", "2");
    int closed;
    uint64_t last = hub_reader_todo(hub, 0, &closed);
    strbuf_reset(&sent);
    for (uint64_t seq = 1; seq <= last; seq++)
        hub_fan_out(hub, 0, seq, record_send);
    hub_reader_done(hub, 0, last);
    tap_bytes("a subscriber that could not take a frame is skipped from then on",
              sent.ptr, sent.len, "2:1,1:1,1:2");
    struct hub_totals t;
    hub_report(hub, &t, NULL, NULL);
    tap_ok(t.reader[0].catching_up == 1, "it is counted as catching up on its reader");
    full_owner = 0;
    expect_collect(hub, s, "and catches up with what it missed, in order", "2");
    hub_report(hub, &t, NULL, NULL);
    tap_ok(t.reader[0].catching_up == 0, "then no longer");
    publish_to(hub, "a", "3");
    last = hub_reader_todo(hub, 0, &closed);
    strbuf_reset(&sent);
    hub_fan_out(hub, 0, last, record_send);
    hub_reader_done(hub, 0, last);
    tap_bytes("then it is live again", sent.ptr, sent.len, "2:3,1:3");
    hub_unsubscribe(hub, f);
    hub_unsubscribe(hub, s);
    hub_free(hub);
}

/* Back-pressure: an event a reader has not fanned out is never evicted. */
static void back_pressure(void)
{
    struct hub_limits l = { .history = 2, .max_subscribers = 3, .max_topics = 4, .readers = 1,
                            .publish_wait_ms = 0 };
    struct hub *hub = hub_new(&l);
    int wakes = 0;
    hub_set_reader(hub, 0, count_wake, &wakes);
    tap_ok(publish_to(hub, "a", "1") == HUB_OK && publish_to(hub, "a", "2") == HUB_OK,
           "publishes that fit in the history are accepted");
    tap_ok(publish_to(hub, "a", "3") == HUB_BEHIND,
           "one that would evict an event the reader has not fanned out is refused");
    struct hub_totals t;
    hub_report(hub, &t, NULL, NULL);
    tap_ok(t.behind == 1 && t.backlog == 2 && t.published == 2 && t.reader[0].backlog == 2,
           "counted as behind, with the backlog per reader and in total");
    hub_reader_done(hub, 0, 1);
    tap_ok(publish_to(hub, "a", "3") == HUB_OK, "once the reader moves on it is accepted");
    hub_set_reader(hub, 0, NULL, NULL);
    tap_ok(publish_to(hub, "a", "4") == HUB_OK && publish_to(hub, "a", "5") == HUB_OK,
           "a detached reader holds nothing back");
    hub_free(hub);
}

struct late_reader {
    struct hub *hub;
    uint64_t upto;
};

/* A reader that gets round to it a little later, from its own thread. */
static void *catch_up_later(void *arg)
{
    struct late_reader *lr = arg;
    struct timespec t = { 0, 50 * 1000 * 1000 };
    nanosleep(&t, NULL);
    hub_reader_done(lr->hub, 0, lr->upto);
    return NULL;
}

/* A publisher waits for a reader that catches up within publish_wait_ms. */
static void waiting_publisher(void)
{
    struct hub_limits l = { .history = 2, .max_subscribers = 3, .max_topics = 4, .readers = 1,
                            .publish_wait_ms = 30000 };
    struct hub *hub = hub_new(&l);
    int wakes = 0;
    hub_set_reader(hub, 0, count_wake, &wakes);
    publish_to(hub, "a", "1");
    publish_to(hub, "a", "2");
    struct late_reader lr = { hub, 2 };
    pthread_t thread;
    pthread_create(&thread, NULL, catch_up_later, &lr);
    tap_ok(publish_to(hub, "a", "3") == HUB_OK,
           "a publish waits for a reader that catches up in time, then is accepted");
    pthread_join(thread, NULL);
    struct hub_totals t;
    hub_report(hub, &t, NULL, NULL);
    tap_ok(t.behind == 0 && t.published == 3, "and is not counted as refused");
    hub_free(hub);
}

int main(void)
{
    topics_and_ids();
    replay();
    next_many();
    custom_ids();
    ring_and_lag();
    quiet_topics();
    history_bytes();
    limits_and_refusals();
    closing();
    readers_and_fan_out();
    behind_and_catch_up();
    back_pressure();
    waiting_publisher();
    strbuf_free(&last_id);
    strbuf_free(&sent);
    return tap_done();
}
