/*
 * The hub against a model: random publish, subscribe (live, replay from a
 * kept id, from an evicted or unknown id), next, drain, unsubscribe, report
 * and close, with a history of 1 to 6 events. Properties: each subscriber
 * gets its topics' events exactly in publish order, none twice, none
 * skipped (unless it is told it lagged, which ends it); replay from a kept
 * id gives exactly the later events, any other id a gap first and then all
 * kept ones; a publish wakes its topics' subscribers and nobody else; a
 * subscriber with frames waiting has been woken since it last saw "none";
 * every status, the totals and hub_has_id are what hub.h says; nothing
 * leaks (ASan).
 *
 * Built with -DFUZZ_HUB_STRICT_LAG, "lagged" is also checked to mean "an
 * event of its own was overwritten before it was read" (issue 9, item 2).
 *
 * Input: 3 bytes per operation: which, then two operands.
 */
#include <string.h>

#include "fuzz.h"
#include "hub.h"

#define NTOPICS 6
#define SLOTS 8

static const char *const topic_names[NTOPICS] = { "a", "b", "c", "d", "e", "f" };

struct event {
    char id[32];
    unsigned mask;
};

struct sub {
    struct hub_sub *hub_sub;  /* NULL: slot free */
    unsigned mask;
    size_t next;              /* events before this index were sent or skipped */
    int expect_gap;
    unsigned wakes;           /* counted by the wake callback */
    int woken;                /* a wake since hub_next last answered NONE */
};

struct model {
    struct hub *hub;
    struct hub_limits limits;
    struct event *events;
    size_t nevents;
    struct sub subs[SLOTS];
    size_t live;
    int closed;
    uint64_t topic_published[NTOPICS]; /* since the topic was last created */
};

static void on_wake(void *ctx)
{
    struct sub *s = ctx;
    s->wakes++;
    s->woken = 1;
}

static size_t oldest_kept(const struct model *m)
{
    return m->nevents > m->limits.history ? m->nevents - m->limits.history : 0;
}

/* The topic list an operand describes: a bit per topic, maybe a name twice
 * or a name the hub must refuse. */
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

/* A topic lives while a subscriber or a kept event names it. */
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

    unsigned wakes_before[SLOTS];
    for (size_t i = 0; i < SLOTS; i++)
        wakes_before[i] = m->subs[i].wakes;
    struct strbuf id = STRBUF_INIT;
    enum frame_status frame_st;
    enum hub_status st = hub_publish(m->hub, &msg, &id, &frame_st);
    FUZZ_CHECK(st == want, "publish answers what hub.h says");
    FUZZ_CHECK(st != HUB_BAD_EVENT || frame_st == FRAME_BAD_TYPE, "the frame status says why");

    unsigned mask = st == HUB_OK ? a & ((1u << NTOPICS) - 1) : 0;
    for (size_t i = 0; i < SLOTS; i++) {
        const struct sub *s = &m->subs[i];
        if (s->hub_sub)
            FUZZ_CHECK((s->wakes != wakes_before[i]) == ((s->mask & mask) != 0),
                       "a publish wakes its topics' subscribers and nobody else");
    }
    if (st == HUB_OK) {
        FUZZ_CHECK(id.len > 0 && id.len < sizeof m->events[0].id, "the id is reported");
        for (size_t k = m->nevents > 64 ? m->nevents - 64 : 0; k < m->nevents; k++)
            FUZZ_CHECK(strcmp(m->events[k].id, id.ptr) != 0, "generated ids are unique");
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
    if (b % 4 == 1 && m->nevents > 0) { /* an id we published, kept or not */
        size_t k = m->nevents - 1 - (size_t)(b >> 2) % m->nevents;
        last = m->events[k].id;
        gap = k < oldest_kept(m);
        replay_from = gap ? oldest_kept(m) : k + 1;
    } else if (b % 4 >= 2) { /* never handed out */
        last = b % 4 == 2 ? "unknown" : "";
        gap = 1;
        replay_from = oldest_kept(m);
    }

    enum hub_status want = expect_topics(m, n, bad);
    if (want == HUB_OK && m->closed)
        want = HUB_CLOSED;
    if (want == HUB_OK && m->live >= m->limits.max_subscribers)
        want = HUB_FULL;
    *s = (struct sub){ NULL, a & ((1u << NTOPICS) - 1), replay_from, gap, 0, 1 };
    struct hub_subscription req = { topics, n, last, on_wake, s };
    struct hub_sub *got = NULL;
    FUZZ_CHECK(hub_subscribe(m->hub, &req, &got) == want, "subscribe answers what hub.h says");
    if (want == HUB_OK) {
        FUZZ_CHECK(got != NULL, "a subscription is handed out");
        s->hub_sub = got;
        m->live++;
    }
}

/* The first event at or after `from` for these topics, or nevents. */
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

static void unsubscribe(struct model *m, struct sub *s)
{
    hub_unsubscribe(m->hub, s->hub_sub);
    s->hub_sub = NULL;
    m->live--;
    forget_dead_topics(m);
}

/* One hub_next; returns 0 when the subscriber has nothing more for now. */
static int next(struct model *m, struct sub *s)
{
    struct hub_frame *f = NULL;
    enum hub_next r = hub_next(m->hub, s->hub_sub, &f);
    size_t want = next_wanted(m, s->mask, s->next);
    if (m->closed) {
        FUZZ_CHECK(r == HUB_NEXT_CLOSED, "after hub_close every subscriber hears it");
        return 0;
    }
    FUZZ_CHECK(r != HUB_NEXT_CLOSED, "closed only after hub_close");
    if (r == HUB_NEXT_LAGGED) {
        FUZZ_CHECK(m->nevents > m->limits.history, "lagged only once events were evicted");
#ifdef FUZZ_HUB_STRICT_LAG
        FUZZ_CHECK(!s->expect_gap && want < oldest_kept(m),
                   "lagged only when an event of its own was overwritten unread");
#endif
        unsubscribe(m, s); /* the stream ends; its client resumes */
        return 0;
    }
    FUZZ_CHECK(s->woken || (want == m->nevents && !s->expect_gap),
               "a subscriber with frames waiting was woken");
    if (r == HUB_NEXT_NONE) {
        FUZZ_CHECK(!s->expect_gap && want == m->nevents, "none only when nothing is waiting");
        s->woken = 0;
        return 0;
    }
    FUZZ_CHECK(r == HUB_NEXT_FRAME && f != NULL, "a frame comes with its bytes");
    if (s->expect_gap) {
        FUZZ_CHECK(has_line(f, "event: " HUB_GAP_TYPE "\n"), "an unknown id gets a gap first");
        s->expect_gap = 0;
    } else {
        FUZZ_CHECK(want < m->nevents, "no frame when nothing is waiting");
        char line[64], data[32];
        snprintf(line, sizeof line, "id: %s\n", m->events[want].id);
        snprintf(data, sizeof data, "data: %zu\n", want);
        FUZZ_CHECK(has_line(f, line) && has_line(f, data),
                   "the next frame is the next event of its topics: none skipped, none twice");
        s->next = want + 1;
    }
    hub_frame_release(f);
    return 1;
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
    /* hub_has_id: an id is found exactly while its event is kept. */
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
    unsigned wakes_before[SLOTS];
    for (size_t i = 0; i < SLOTS; i++)
        wakes_before[i] = m->subs[i].wakes;
    hub_close(m->hub);
    m->closed = 1;
    for (size_t i = 0; i < SLOTS; i++)
        if (m->subs[i].hub_sub)
            FUZZ_CHECK(m->subs[i].wakes != wakes_before[i], "hub_close wakes every subscriber");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    struct model m;
    memset(&m, 0, sizeof m);
    m.limits = (struct hub_limits){ .history = 1 + data[0] % 6,
                                    .max_subscribers = 1 + data[1] % SLOTS,
                                    .max_topics = 1 + data[2] % 4 };
    m.hub = hub_new(&m.limits);
    m.events = calloc(size / 3 + 1, sizeof *m.events);
    FUZZ_CHECK(m.hub && m.events, "harness memory");
    for (size_t i = 3; i + 3 <= size; i += 3) {
        uint8_t op = data[i], a = data[i + 1], b = data[i + 2];
        struct sub *s = &m.subs[a % SLOTS];
        switch (op % 8) {
        case 0:
        case 1: publish(&m, a, b); break;
        case 2: subscribe(&m, a, b); break;
        case 3: if (s->hub_sub) next(&m, s); break;
        case 4: while (s->hub_sub && next(&m, s)) {} break;
        case 5: if (s->hub_sub) unsubscribe(&m, s); break;
        case 6: report(&m); break;
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
