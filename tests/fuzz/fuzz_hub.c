/*
 * The hub (with delivery loops as readers) against a model: random publish,
 * subscribe (live, replay from a kept id, from an evicted or unknown id),
 * attach, catch up (hub_next), fan-out steps of each reader (with
 * subscribers whose sockets are "full"), unsubscribe, report and close,
 * with a history of 1 to 6 events, 1 to 3 readers, publish_wait_ms 0.
 * Properties: each subscriber gets its topics' events exactly in publish
 * order, none twice, none skipped, by fan-out or catch-up alike; it lags
 * only when an event of its own was evicted unread; replay from a kept id
 * gives exactly the later events, any other id a gap first and then all
 * kept ones; a fan-out reaches every attached subscriber that is not behind;
 * a publish wakes each reader once until it asks what to do; an event not
 * yet fanned out is never evicted (HUB_BEHIND instead); statuses, totals
 * and hub_has_id as hub.h says; nothing leaks (ASan).
 *
 * Input: 4 bytes of limits, then 3 bytes per operation.
 */
#include <string.h>

#include "fuzz.h"
#include "hub.h"

#define NTOPICS 6
#define SLOTS 8
#define MAX_READERS 3

static const char *const topic_names[NTOPICS] = { "a", "b", "c", "d", "e", "f" };

struct event {
    char id[32];
    unsigned mask;
};

struct model;

struct sub {
    struct model *m;
    struct hub_sub *hub_sub;  /* NULL: slot free */
    unsigned reader;
    unsigned mask;
    size_t next;              /* events before this index were sent or skipped */
    int expect_gap;
    int attached;
    int behind;               /* the model's view: fan-out passes it by */
    int full;                 /* its socket takes one frame, then says "full" */
};

struct reader {
    unsigned wakes;
    int kicked;               /* woken, and has not asked hub_reader_todo since */
    uint64_t done;            /* seq fanned out up to */
};

struct model {
    struct hub *hub;
    struct hub_limits limits;
    struct event *events;
    size_t nevents;
    struct sub subs[SLOTS];
    struct reader readers[MAX_READERS];
    size_t live;
    int closed;
    uint64_t topic_published[NTOPICS];
};

static void on_wake(void *ctx)
{
    struct reader *r = ctx;
    r->wakes++;
}

static size_t oldest_kept(const struct model *m)
{
    return m->nevents > m->limits.history ? m->nevents - m->limits.history : 0;
}

static size_t topic_list(uint8_t operand, struct sse_str *out, int *bad)
{
    size_t n = 0;
    for (int t = 0; t < NTOPICS; t++)
        if (operand & (1u << t))
            out[n++] = SSE_CSTR(topic_names[t]);
    *bad = 0;
    if ((operand >> 6) == 1 && n > 0)
        out[n++] = out[0];
    if ((operand >> 6) == 2) {
        out[n++] = SSE_STR("no spaces");
        *bad = 1;
    }
    return n;
}

static enum hub_status expect_topics(const struct model *m, size_t n, int bad)
{
    if (n == 0)
        return HUB_NO_TOPIC;
    if (n > m->limits.max_topics)
        return HUB_TOO_MANY_TOPICS;
    return bad ? HUB_BAD_TOPIC : HUB_OK;
}

static unsigned live_topics(const struct model *m)
{
    unsigned mask = 0;
    for (size_t i = 0; i < SLOTS; i++)
        if (m->subs[i].hub_sub)
            mask |= m->subs[i].mask;
    for (size_t k = oldest_kept(m); k < m->nevents; k++)
        mask |= m->events[k].mask;
    return mask;
}

static void forget_dead_topics(struct model *m)
{
    unsigned live = live_topics(m);
    for (int t = 0; t < NTOPICS; t++)
        if (!(live & (1u << t)))
            m->topic_published[t] = 0;
}

/* The seq every reader has fanned out up to. */
static uint64_t all_done(const struct model *m)
{
    uint64_t min = m->nevents;
    for (unsigned r = 0; r < m->limits.readers; r++)
        if (m->readers[r].done < min)
            min = m->readers[r].done;
    return min;
}

static void publish(struct model *m, uint8_t a, uint8_t b)
{
    struct sse_str topics[NTOPICS + 1];
    int bad;
    size_t n = topic_list(a, topics, &bad);
    static const char *const types[] = { NULL, "t", HUB_GAP_TYPE, "x\ny" };
    const char *type = types[b % 4];
    char data[24];
    snprintf(data, sizeof data, "%zu", m->nevents);
    struct hub_message msg = { topics, n, { SSE_CSTR(type), SSE_NONE, SSE_NONE, SSE_CSTR(data) } };

    enum hub_status want = expect_topics(m, n, bad);
    if (want == HUB_OK && type && strcmp(type, HUB_GAP_TYPE) == 0)
        want = HUB_RESERVED_TYPE;
    if (want == HUB_OK && m->closed)
        want = HUB_CLOSED;
    if (want == HUB_OK && type && strchr(type, '\n'))
        want = HUB_BAD_EVENT;
    /* A full ring must evict its oldest event (seq oldest + 1): only once
     * every reader has fanned it out. */
    if (want == HUB_OK && m->nevents >= m->limits.history && all_done(m) < oldest_kept(m) + 1)
        want = HUB_BEHIND;

    unsigned wakes_before[MAX_READERS];
    for (unsigned r = 0; r < MAX_READERS; r++)
        wakes_before[r] = m->readers[r].wakes;
    struct strbuf id = STRBUF_INIT;
    enum frame_status frame_st;
    enum hub_status st = hub_publish(m->hub, &msg, &id, &frame_st);
    FUZZ_CHECK(st == want, "publish answers what hub.h says");
    FUZZ_CHECK(st != HUB_BAD_EVENT || frame_st == FRAME_BAD_TYPE, "the frame status says why");
    for (unsigned r = 0; r < m->limits.readers; r++) {
        int woken = m->readers[r].wakes != wakes_before[r];
        FUZZ_CHECK(woken == (st == HUB_OK && !m->readers[r].kicked),
                   "a publish wakes each reader once until it asks what to do");
        m->readers[r].kicked |= st == HUB_OK;
    }
    if (st == HUB_OK) {
        FUZZ_CHECK(id.len > 0 && id.len < sizeof m->events[0].id, "the id is reported");
        for (size_t k = m->nevents > 64 ? m->nevents - 64 : 0; k < m->nevents; k++)
            FUZZ_CHECK(strcmp(m->events[k].id, id.ptr) != 0, "generated ids are unique");
        unsigned mask = a & ((1u << NTOPICS) - 1);
        memcpy(m->events[m->nevents].id, id.ptr, id.len + 1);
        m->events[m->nevents++].mask = mask;
        for (int t = 0; t < NTOPICS; t++)
            m->topic_published[t] += (mask >> t) & 1;
        forget_dead_topics(m);
    }
    strbuf_free(&id);
}

static void subscribe(struct model *m, uint8_t a, uint8_t b)
{
    struct sub *s = NULL;
    for (size_t i = 0; i < SLOTS && !s; i++)
        if (!m->subs[i].hub_sub)
            s = &m->subs[i];
    if (!s)
        return;
    struct sse_str topics[NTOPICS + 1];
    int bad;
    size_t n = topic_list(a, topics, &bad);
    const char *last = NULL;
    size_t replay_from = m->nevents;
    int gap = 0;
    if (b % 4 == 1 && m->nevents > 0) {
        size_t k = m->nevents - 1 - (size_t)(b >> 2) % m->nevents;
        last = m->events[k].id;
        gap = k < oldest_kept(m);
        replay_from = gap ? oldest_kept(m) : k + 1;
    } else if (b % 4 >= 2) {
        last = b % 4 == 2 ? "unknown" : "";
        gap = 1;
        replay_from = oldest_kept(m);
    }
    enum hub_status want = expect_topics(m, n, bad);
    if (want == HUB_OK && m->closed)
        want = HUB_CLOSED;
    if (want == HUB_OK && m->live >= m->limits.max_subscribers)
        want = HUB_FULL;
    unsigned reader = (unsigned)(b >> 4) % m->limits.readers;
    *s = (struct sub){ m, NULL, reader, a & ((1u << NTOPICS) - 1), replay_from, gap, 0, 1, b >> 7 };
    struct hub_subscription req = { topics, n, last, reader, s };
    struct hub_sub *got = NULL;
    FUZZ_CHECK(hub_subscribe(m->hub, &req, &got) == want, "subscribe answers what hub.h says");
    if (want == HUB_OK) {
        FUZZ_CHECK(got != NULL, "a subscription is handed out");
        s->hub_sub = got;
        m->live++;
    }
}

static size_t next_wanted(const struct model *m, unsigned mask, size_t from)
{
    while (from < m->nevents && !(m->events[from].mask & mask))
        from++;
    return from;
}

static int has_line(const struct hub_frame *f, const char *line)
{
    size_t n = strlen(line);
    for (size_t i = 0; i + n <= f->len; i++)
        if ((i == 0 || f->bytes[i - 1] == '\n') && memcmp(f->bytes + i, line, n) == 0)
            return 1;
    return 0;
}

/* A frame for s, from fan-out or catch-up: the gap, or its next event. */
static void check_frame(struct sub *s, const struct hub_frame *f)
{
    const struct model *m = s->m;
    if (s->expect_gap) {
        FUZZ_CHECK(has_line(f, "event: " HUB_GAP_TYPE "\n"), "an unknown id gets a gap first");
        s->expect_gap = 0;
        return;
    }
    size_t want = next_wanted(m, s->mask, s->next);
    FUZZ_CHECK(want < m->nevents, "no frame when nothing is waiting");
    char line[64], data[32];
    snprintf(line, sizeof line, "id: %s\n", m->events[want].id);
    snprintf(data, sizeof data, "data: %zu\n", want);
    FUZZ_CHECK(has_line(f, line) && has_line(f, data),
               "the next frame is the next event of its topics: none skipped, none twice");
    s->next = want + 1;
}

static int on_send(void *owner, const struct hub_frame *frame)
{
    struct sub *s = owner;
    FUZZ_CHECK(s->attached && !s->behind, "fan-out only to attached subscribers caught up");
    check_frame(s, frame);
    if (s->full)
        s->behind = 1;
    return s->full;
}

static void unsubscribe(struct model *m, struct sub *s)
{
    hub_unsubscribe(m->hub, s->hub_sub);
    s->hub_sub = NULL;
    m->live--;
    forget_dead_topics(m);
}

/* Catching up: hub_next until it has nothing more; 0 when s ended. */
static void catch_up(struct model *m, struct sub *s, int once)
{
    for (;;) {
        struct hub_frame *f = NULL;
        enum hub_next r = hub_next(m->hub, s->hub_sub, &f);
        size_t want = next_wanted(m, s->mask, s->next);
        if (m->closed) {
            FUZZ_CHECK(r == HUB_NEXT_CLOSED, "after hub_close every subscriber hears it");
            return;
        }
        FUZZ_CHECK(r != HUB_NEXT_CLOSED, "closed only after hub_close");
        if (r == HUB_NEXT_LAGGED) {
            FUZZ_CHECK(!s->expect_gap && want < oldest_kept(m),
                       "lagged only when an event of its own was overwritten unread");
            unsubscribe(m, s);
            return;
        }
        if (r == HUB_NEXT_NONE) {
            FUZZ_CHECK(!s->expect_gap && want >= m->readers[s->reader].done,
                       "caught up: everything its reader fanned out was sent");
            s->behind = 0;
            /* Later ones come by fan-out; ones published before it
             * subscribed (next) never come. */
            if (s->next < m->readers[s->reader].done)
                s->next = m->readers[s->reader].done;
            return;
        }
        FUZZ_CHECK(r == HUB_NEXT_FRAME && f != NULL, "a frame comes with its bytes");
        FUZZ_CHECK(s->expect_gap || want < m->readers[s->reader].done,
                   "catching up stops where its reader is");
        check_frame(s, f);
        hub_frame_release(f);
        if (once)
            return;
    }
}

/* Reader r asks what to do and fans out up to `count` events. */
static void reader_step(struct model *m, unsigned r, unsigned count)
{
    struct reader *rd = &m->readers[r];
    int closed;
    uint64_t last = hub_reader_todo(m->hub, r, &closed);
    rd->kicked = 0;
    FUZZ_CHECK(last == m->nevents && closed == m->closed, "todo: the newest seq, and closing");
    uint64_t end = rd->done + count < last ? rd->done + count : last;
    for (uint64_t seq = rd->done + 1; seq <= end; seq++) {
        hub_fan_out(m->hub, r, seq, on_send);
        size_t k = (size_t)seq - 1;
        for (size_t i = 0; i < SLOTS; i++) {
            const struct sub *s = &m->subs[i];
            if (s->hub_sub && s->reader == r && s->attached && (m->events[k].mask & s->mask) &&
                !s->expect_gap && s->next <= k)
                FUZZ_CHECK(s->behind, "a fan-out reaches every attached subscriber caught up");
        }
    }
    hub_reader_done(m->hub, r, end);
    rd->done = end;
    /* Passed over while behind: those events come by catching up. */
}

struct report_check {
    const struct model *m;
    unsigned seen;
};

static void check_topic(void *ctx, const struct hub_topic_info *info)
{
    struct report_check *rc = ctx;
    int t = 0;
    while (t < NTOPICS && strcmp(topic_names[t], info->name) != 0)
        t++;
    FUZZ_CHECK(t < NTOPICS && !(rc->seen & (1u << t)), "a listed topic is one of ours, once");
    rc->seen |= 1u << t;
    size_t subscribers = 0;
    for (size_t i = 0; i < SLOTS; i++)
        subscribers += rc->m->subs[i].hub_sub && (rc->m->subs[i].mask & (1u << t));
    FUZZ_CHECK(info->subscribers == subscribers, "a topic's subscriber count");
    FUZZ_CHECK(info->published == rc->m->topic_published[t], "a topic's published count");
}

static void report(struct model *m)
{
    struct hub_totals totals;
    struct report_check rc = { m, 0 };
    hub_report(m->hub, &totals, check_topic, &rc);
    FUZZ_CHECK(totals.subscribers == m->live && hub_subscribers(m->hub) == m->live,
               "subscriber totals");
    FUZZ_CHECK(totals.published == m->nevents, "published total");
    FUZZ_CHECK(totals.kept == m->nevents - oldest_kept(m), "kept: the last `history` events");
    FUZZ_CHECK(totals.readers == m->limits.readers, "readers");
    uint64_t backlog = 0;
    for (unsigned r = 0; r < m->limits.readers; r++) {
        size_t subs = 0;
        for (size_t i = 0; i < SLOTS; i++)
            subs += m->subs[i].hub_sub && m->subs[i].reader == r;
        FUZZ_CHECK(totals.reader[r].subscribers == subs, "a reader's subscribers");
        FUZZ_CHECK(totals.reader[r].backlog == m->nevents - m->readers[r].done, "a reader's backlog");
        backlog += m->nevents - m->readers[r].done;
    }
    FUZZ_CHECK(totals.backlog == backlog, "the backlog adds up");
    for (size_t k = m->nevents > 8 ? m->nevents - 8 : 0; k < m->nevents; k++)
        FUZZ_CHECK(hub_has_id(m->hub, m->events[k].id, strlen(m->events[k].id)) ==
                       (k >= oldest_kept(m)),
                   "hub_has_id finds exactly the kept ids");
    FUZZ_CHECK(!hub_has_id(m->hub, "unknown", 7), "hub_has_id: an id never handed out");
    FUZZ_CHECK(rc.seen == live_topics(m) && totals.topics == (size_t)__builtin_popcount(rc.seen),
               "a topic lives exactly while a subscriber or a kept event names it");
}

static void close_hub(struct model *m)
{
    unsigned wakes_before[MAX_READERS];
    for (unsigned r = 0; r < MAX_READERS; r++)
        wakes_before[r] = m->readers[r].wakes;
    hub_close(m->hub);
    m->closed = 1;
    for (unsigned r = 0; r < m->limits.readers; r++)
        FUZZ_CHECK(m->readers[r].wakes != wakes_before[r], "hub_close wakes every reader");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    static struct model m;
    memset(&m, 0, sizeof m);
    m.limits = (struct hub_limits){ .history = 1 + data[0] % 6,
                                    .max_subscribers = 1 + data[1] % SLOTS,
                                    .max_topics = 1 + data[2] % 4,
                                    .readers = 1 + data[3] % MAX_READERS,
                                    .publish_wait_ms = 0 };
    m.hub = hub_new(&m.limits);
    m.events = calloc(size / 3 + 1, sizeof *m.events);
    FUZZ_CHECK(m.hub && m.events, "harness memory");
    for (unsigned r = 0; r < m.limits.readers; r++)
        hub_set_reader(m.hub, r, on_wake, &m.readers[r]);
    for (size_t i = 4; i + 3 <= size; i += 3) {
        uint8_t op = data[i], a = data[i + 1], b = data[i + 2];
        struct sub *s = &m.subs[a % SLOTS];
        switch (op % 10) {
        case 0:
        case 1: publish(&m, a, b); break;
        case 2: subscribe(&m, a, b); break;
        case 3: if (s->hub_sub && !s->attached) { hub_attach(m.hub, s->hub_sub); s->attached = 1; } break;
        /* As delivery does: on the lists first, then catching up. */
        case 4: if (s->hub_sub && s->attached && s->behind) catch_up(&m, s, b & 1); break;
        case 5: if (s->hub_sub) unsubscribe(&m, s); break;
        case 6: reader_step(&m, a % m.limits.readers, 1 + b % 4); break;
        case 7: if (s->hub_sub) s->full = b & 1; break;
        case 8: report(&m); break;
        default: if (b % 16 == 0) close_hub(&m); break;
        }
    }
    for (size_t i = 0; i < SLOTS; i++)
        if (m.subs[i].hub_sub)
            unsubscribe(&m, &m.subs[i]);
    report(&m);
    hub_free(m.hub);
    free(m.events);
    return 0;
}
