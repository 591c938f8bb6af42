#include "hub.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "topics.h"

/* One published event in the history ring. */
struct entry {
    uint64_t seq;             /* 0: empty slot */
    struct hub_frame *frame;
    char *id;                 /* as on the wire, for Last-Event-ID look-ups */
    struct topic **topics;
    size_t ntopics;
};

/*
 * A subscription. After hub_subscribe() only its reader's thread touches
 * cursor, behind and attached (in hub_fan_out, hub_next, hub_unsubscribe).
 */
struct hub_sub {
    uint64_t cursor;              /* seq of the last entry sent or passed over */
    struct hub_frame *first;      /* sent before anything else (the gap signal) */
    void *owner;
    unsigned reader;
    int behind;                   /* skipped by hub_fan_out until caught up */
    int attached;                 /* on its reader's member lists */
    size_t ntopics;
    struct membership members[];  /* one per topic */
};

/* A delivery loop following the ring. */
struct reader {
    hub_wake_fn wake;
    void *ctx;
    uint64_t done;                /* every event up to here is fanned out */
    int kicked;                   /* woken since its last hub_reader_todo */
    size_t subscribers;
    /* Its subscribers catching up (new, or a full socket): changed by the
     * reader's thread without the lock, read by hub_report(). */
    atomic_size_t catching_up;
};

struct hub {
    pthread_mutex_t lock;
    struct entry *ring;           /* entry with seq s sits at ring[s % size] */
    size_t size;
    uint64_t last_seq;            /* 0 before the first event */
    uint64_t oldest;              /* seq of the oldest kept entry (last_seq + 1: none) */
    size_t kept_bytes;            /* frame bytes of the kept entries */
    uint64_t id_base;             /* generated id = id_base + seq */
    struct topics *topics;
    struct hub_limits limits;
    size_t subscribers;
    uint64_t published;
    uint64_t lagged;
    uint64_t behind;              /* publishes refused with HUB_BEHIND */
    int closed;
    struct strbuf scratch;        /* render buffer, used under the lock */
    pthread_cond_t progress;      /* a reader moved on, or the hub closed */
    unsigned waiting;             /* publishers waiting on progress */
    struct reader readers[HUB_MAX_READERS];
};

const char *hub_status_str(enum hub_status st)
{
    switch (st) {
    case HUB_OK: return "ok";
    case HUB_BAD_EVENT: return "invalid event";
    case HUB_NO_TOPIC: return "no topic given";
    case HUB_BAD_TOPIC: return "invalid topic: use 1 to 128 of A-Z a-z 0-9 - . _ ~ : / @";
    case HUB_TOO_MANY_TOPICS: return "too many topics";
    case HUB_RESERVED_TYPE: return "event type 'gap' is reserved for the hub's missed-events signal";
    case HUB_FULL: return "too many open streams";
    case HUB_CLOSED: return "shutting down";
    case HUB_NO_MEMORY: return "out of memory";
    case HUB_TOO_LARGE: return "event too large: its frame alone is over the history's byte limit (--history-bytes)";
    case HUB_BEHIND: return "delivery is behind: retry later";
    case HUB_UNAVAILABLE: return "cannot take more streams now";
    case HUB_BROKER_DOWN: return "event broker unavailable";
    }
    return "unknown hub status";
}

static uint64_t now_microseconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

struct hub *hub_new(const struct hub_limits *limits)
{
    struct hub *hub = calloc(1, sizeof *hub);
    if (!hub)
        return NULL;
    hub->limits = *limits;
    hub->size = limits->history ? limits->history : 1;
    hub->ring = calloc(hub->size, sizeof *hub->ring);
    if (hub->limits.readers > HUB_MAX_READERS)
        hub->limits.readers = HUB_MAX_READERS;
    hub->topics = topics_new(hub->limits.readers);
    /* Ids from this run start above any id a previous run can have handed
     * out, unless it published more than a million events a second. */
    hub->id_base = now_microseconds();
    hub->oldest = 1;
    if (!hub->ring || !hub->topics || pthread_mutex_init(&hub->lock, NULL) != 0) {
        free(hub->ring);
        topics_free(hub->topics);
        free(hub);
        return NULL;
    }
    /* Publishers wait on a deadline of the monotonic clock. */
    pthread_condattr_t attr;
    int failed = pthread_condattr_init(&attr) != 0;
    if (!failed) {
        failed = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
                 pthread_cond_init(&hub->progress, &attr) != 0;
        pthread_condattr_destroy(&attr);
    }
    if (failed) {
        pthread_mutex_destroy(&hub->lock);
        free(hub->ring);
        topics_free(hub->topics);
        free(hub);
        return NULL;
    }
    return hub;
}

static void entry_clear(struct hub *hub, struct entry *e)
{
    hub_frame_release(e->frame);
    for (size_t i = 0; i < e->ntopics; i++)
        topics_release(hub->topics, e->topics[i]);
    free(e->topics);
    free(e->id);
    memset(e, 0, sizeof *e);
}

void hub_free(struct hub *hub)
{
    if (!hub)
        return;
    for (size_t i = 0; i < hub->size; i++)
        entry_clear(hub, &hub->ring[i]);
    free(hub->ring);
    topics_free(hub->topics);
    strbuf_free(&hub->scratch);
    pthread_cond_destroy(&hub->progress);
    pthread_mutex_destroy(&hub->lock);
    free(hub);
}

static struct hub_frame *frame_from(const struct strbuf *sb)
{
    struct hub_frame *f = malloc(sizeof *f + sb->len);
    if (!f)
        return NULL;
    atomic_init(&f->refs, 1);
    f->len = sb->len;
    memcpy(f->bytes, sb->ptr, sb->len);
    return f;
}

void hub_frame_release(struct hub_frame *frame)
{
    if (frame && atomic_fetch_sub(&frame->refs, 1) == 1)
        free(frame);
}

enum hub_status hub_check_topics(const struct hub *hub, const struct sse_str *topics, size_t n)
{
    if (n == 0)
        return HUB_NO_TOPIC;
    if (n > hub->limits.max_topics)
        return HUB_TOO_MANY_TOPICS;
    for (size_t i = 0; i < n; i++)
        if (!topics_name_valid(topics[i].ptr, topics[i].len))
            return HUB_BAD_TOPIC;
    return HUB_OK;
}

/* Takes a reference on each distinct topic; fills out[], returns how many. */
static size_t acquire_topics(struct hub *hub, const struct sse_str *names, size_t n,
                             struct topic **out)
{
    size_t got = 0;
    for (size_t i = 0; i < n; i++) {
        struct topic *t = topics_acquire(hub->topics, names[i].ptr, names[i].len);
        if (!t) {
            while (got > 0)
                topics_release(hub->topics, out[--got]);
            return 0;
        }
        size_t k = 0;
        while (k < got && out[k] != t)
            k++;
        if (k < got)
            topics_release(hub->topics, t); /* named twice: once is enough */
        else
            out[got++] = t;
    }
    return got;
}

/*
 * Drops the oldest kept entry. Each of its topics remembers that an event of
 * its own is gone: only a subscriber that had not read it yet has lost
 * something (see next_locked).
 */
static void evict_oldest(struct hub *hub)
{
    struct entry *e = &hub->ring[hub->oldest % hub->size];
    for (size_t i = 0; i < e->ntopics; i++)
        e->topics[i]->evicted = e->seq;
    hub->kept_bytes -= e->frame->len;
    entry_clear(hub, e);
    hub->oldest++;
}

/* Renders the event with its final id into hub->scratch; returns the id. */
static char *render(struct hub *hub, const struct hub_message *msg, uint64_t seq,
                    enum frame_status *frame_st)
{
    char generated[24];
    struct sse_event ev = msg->event;
    if (!ev.id.ptr) {
        int n = snprintf(generated, sizeof generated, "%llu",
                         (unsigned long long)(hub->id_base + seq));
        ev.id = (struct sse_str){ generated, (size_t)n };
    }
    strbuf_reset(&hub->scratch);
    *frame_st = frame_event(&hub->scratch, &ev);
    if (*frame_st != FRAME_OK)
        return NULL;
    char *id = malloc(ev.id.len + 1);
    if (id) {
        memcpy(id, ev.id.ptr, ev.id.len);
        id[ev.id.len] = '\0';
    }
    return id;
}

/* The oldest event some reader has not fanned out yet (last_seq + 1: none). */
static uint64_t undelivered(const struct hub *hub)
{
    uint64_t min = hub->last_seq;
    for (unsigned r = 0; r < hub->limits.readers; r++)
        if (hub->readers[r].wake && hub->readers[r].done < min) /* a detached one holds nothing */
            min = hub->readers[r].done;
    return min + 1;
}

/* Does an entry of len bytes fit, evicting only what every reader is done with? */
static int room_for(const struct hub *hub, size_t len)
{
    uint64_t seq = hub->last_seq + 1, o = hub->oldest, keep_from = undelivered(hub);
    size_t bytes = hub->kept_bytes, budget = hub->limits.history_bytes;
    while (o < seq && (seq - o >= hub->size || (budget && bytes + len > budget))) {
        if (o >= keep_from)
            return 0;
        bytes -= hub->ring[o % hub->size].frame->len;
        o++;
    }
    return 1;
}

static struct timespec wait_deadline(const struct hub *hub)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += hub->limits.publish_wait_ms / 1000;
    deadline.tv_nsec += (long)(hub->limits.publish_wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    return deadline;
}

/* With the lock held: waits until the frame fits or the deadline passes. */
static enum hub_status wait_for_room(struct hub *hub, size_t len, const struct timespec *deadline)
{
    int timed_out = 0;
    while (!hub->closed && !room_for(hub, len)) {
        if (timed_out) {
            hub->behind++;
            return HUB_BEHIND;
        }
        hub->waiting++;
        timed_out = pthread_cond_timedwait(&hub->progress, &hub->lock, deadline) == ETIMEDOUT;
        hub->waiting--;
    }
    return hub->closed ? HUB_CLOSED : HUB_OK;
}

/*
 * With the lock held: fills the next ring slot, evicting the oldest events
 * until it fits. Sets *wake to the readers to wake once the lock is dropped.
 */
static enum hub_status store(struct hub *hub, const struct hub_message *msg,
                             struct strbuf *id_out, enum frame_status *frame_st, int *wake)
{
    /* The frame's size decides whether it fits; its id depends on its seq,
     * which waiting can change: render, and render again after a wait. */
    uint64_t seq;
    char *id;
    struct timespec deadline;
    int waited = 0;
    for (;;) {
        seq = hub->last_seq + 1;
        id = render(hub, msg, seq, frame_st);
        if (*frame_st != FRAME_OK)
            return HUB_BAD_EVENT;
        if (hub->limits.history_bytes && hub->scratch.len > hub->limits.history_bytes) {
            free(id);
            return HUB_TOO_LARGE; /* it could never be kept for a reconnect */
        }
        if (room_for(hub, hub->scratch.len))
            break;
        size_t len = hub->scratch.len;
        free(id);
        if (!waited++)
            deadline = wait_deadline(hub); /* one deadline, however often it re-renders */
        enum hub_status st = wait_for_room(hub, len, &deadline);
        if (st != HUB_OK)
            return st;
    }
    struct entry e = { .seq = seq, .id = id };
    e.frame = e.id ? frame_from(&hub->scratch) : NULL;
    e.topics = calloc(msg->ntopics, sizeof *e.topics);
    if (e.frame && e.topics)
        e.ntopics = acquire_topics(hub, msg->topics, msg->ntopics, e.topics);
    if (e.ntopics == 0 || (id_out && strbuf_puts(id_out, e.id) != 0)) {
        entry_clear(hub, &e);
        return HUB_NO_MEMORY;
    }
    /* Oldest first, until the new one fits by count and by bytes. When the
     * ring is full by count, the slot freed is the one the new entry takes. */
    size_t budget = hub->limits.history_bytes;
    while (hub->oldest < seq &&
           (seq - hub->oldest >= hub->size || (budget && hub->kept_bytes + e.frame->len > budget)))
        evict_oldest(hub);
    hub->ring[seq % hub->size] = e;
    hub->kept_bytes += e.frame->len;
    hub->last_seq = seq;
    hub->published++;
    for (size_t i = 0; i < e.ntopics; i++)
        e.topics[i]->published++;
    for (unsigned r = 0; r < hub->limits.readers; r++) {
        wake[r] = !hub->readers[r].kicked;
        hub->readers[r].kicked = 1;
    }
    return HUB_OK;
}

/* Outside the lock: a wake-up is a write to an eventfd, no need to hold it. */
static void wake_readers(struct hub *hub, const int *wake)
{
    for (unsigned r = 0; r < hub->limits.readers; r++)
        if (wake[r] && hub->readers[r].wake)
            hub->readers[r].wake(hub->readers[r].ctx);
}

/* The checks of hub_publish() before it takes the lock. */
static enum hub_status check_message(const struct hub *hub, const struct hub_message *msg)
{
    enum hub_status st = hub_check_topics(hub, msg->topics, msg->ntopics);
    if (st != HUB_OK)
        return st;
    const struct sse_str type = msg->event.type;
    if (type.ptr && type.len == sizeof HUB_GAP_TYPE - 1 &&
        memcmp(type.ptr, HUB_GAP_TYPE, type.len) == 0)
        return HUB_RESERVED_TYPE;
    return HUB_OK;
}

enum hub_status hub_check_event(const struct hub *hub, const struct hub_message *msg,
                                size_t id_len, enum frame_status *frame_st)
{
    *frame_st = FRAME_OK;
    enum hub_status st = check_message(hub, msg);
    if (st != HUB_OK)
        return st;
    /* Rendered as store() would, with a stand-in id as long as the real one. */
    struct sse_event ev = msg->event;
    char *stand_in = NULL;
    if (!ev.id.ptr) {
        if (!(stand_in = malloc(id_len + 1)))
            return HUB_NO_MEMORY;
        memset(stand_in, '0', id_len);
        ev.id = (struct sse_str){ stand_in, id_len };
    }
    struct strbuf sb = STRBUF_INIT;
    *frame_st = frame_event(&sb, &ev);
    if (*frame_st == FRAME_NO_MEMORY)
        st = HUB_NO_MEMORY;
    else if (*frame_st != FRAME_OK)
        st = HUB_BAD_EVENT;
    else if (hub->limits.history_bytes && sb.len > hub->limits.history_bytes)
        st = HUB_TOO_LARGE;
    strbuf_free(&sb);
    free(stand_in);
    return st;
}

enum hub_status hub_publish(struct hub *hub, const struct hub_message *msg,
                            struct strbuf *id_out, enum frame_status *frame_st)
{
    enum frame_status ignored;
    frame_st = frame_st ? frame_st : &ignored;
    *frame_st = FRAME_OK;
    enum hub_status st = check_message(hub, msg);
    if (st != HUB_OK)
        return st;
    int wake[HUB_MAX_READERS] = { 0 };
    pthread_mutex_lock(&hub->lock);
    st = hub->closed ? HUB_CLOSED : store(hub, msg, id_out, frame_st, wake);
    pthread_mutex_unlock(&hub->lock);
    wake_readers(hub, wake);
    return st;
}

/* ---- readers ---- */

void hub_set_reader(struct hub *hub, unsigned r, hub_wake_fn wake, void *ctx)
{
    pthread_mutex_lock(&hub->lock);
    hub->readers[r].wake = wake;
    hub->readers[r].ctx = ctx;
    hub->readers[r].done = hub->last_seq;
    pthread_mutex_unlock(&hub->lock);
}

uint64_t hub_reader_todo(struct hub *hub, unsigned r, int *closed)
{
    pthread_mutex_lock(&hub->lock);
    hub->readers[r].kicked = 0;
    uint64_t last = hub->last_seq;
    *closed = hub->closed;
    pthread_mutex_unlock(&hub->lock);
    return last;
}

void hub_reader_done(struct hub *hub, unsigned r, uint64_t seq)
{
    pthread_mutex_lock(&hub->lock);
    hub->readers[r].done = seq;
    if (hub->waiting)
        pthread_cond_broadcast(&hub->progress);
    pthread_mutex_unlock(&hub->lock);
}

/*
 * No lock: the entry cannot change under us. It was written under the lock
 * before hub_reader_todo() (which took the lock) saw its seq, and it cannot
 * be evicted before this reader's hub_reader_done() passes it. The member
 * lists are this reader's own, and so are the subscriptions on them.
 */
void hub_fan_out(struct hub *hub, unsigned r, uint64_t seq, hub_send_fn send)
{
    const struct entry *e = &hub->ring[seq % hub->size];
    for (size_t i = 0; i < e->ntopics; i++) {
        for (struct membership *m = e->topics[i]->members[r]; m; m = m->next) {
            struct hub_sub *sub = m->sub;
            if (sub->behind || sub->cursor >= seq) /* catching up, or has it */
                continue;
            sub->cursor = seq;
            if (send(sub->owner, e->frame) != 0) {
                sub->behind = 1;
                atomic_fetch_add(&hub->readers[r].catching_up, 1);
            }
        }
    }
}

/* The "events may be missing" frame for a Last-Event-ID not in the history. */
static struct hub_frame *gap_frame(struct hub *hub, const char *last_event_id)
{
    struct strbuf data = STRBUF_INIT;
    const struct entry *oldest = &hub->ring[hub->oldest % hub->size];
    int failed = strbuf_puts(&data, "{\"lastEventId\":") != 0 ||
                 json_append_string(&data, last_event_id, strlen(last_event_id)) != 0 ||
                 strbuf_puts(&data, ",\"oldestKeptId\":") != 0 ||
                 (oldest->id ? json_append_string(&data, oldest->id, strlen(oldest->id))
                             : strbuf_puts(&data, "null")) != 0 ||
                 strbuf_puts(&data, "}") != 0;
    struct hub_frame *f = NULL;
    if (!failed) {
        struct sse_event ev = { .type = SSE_STR(HUB_GAP_TYPE),
                                .data = { data.ptr, data.len } };
        strbuf_reset(&hub->scratch);
        if (frame_event(&hub->scratch, &ev) == FRAME_OK)
            f = frame_from(&hub->scratch);
    }
    strbuf_free(&data);
    return f;
}

/* With the lock held: where a new subscriber starts reading the ring. */
static int position(struct hub *hub, struct hub_sub *sub, const char *last_event_id)
{
    sub->cursor = hub->last_seq;
    if (!last_event_id)
        return 0;
    uint64_t oldest = hub->oldest;
    for (uint64_t s = hub->last_seq; s >= oldest && s > 0; s--) {
        if (strcmp(hub->ring[s % hub->size].id, last_event_id) == 0) {
            sub->cursor = s;
            return 0;
        }
    }
    sub->cursor = oldest - 1;
    sub->first = gap_frame(hub, last_event_id);
    return sub->first ? 0 : -1;
}

/* With the lock held: drops the topics of a subscription. */
static void release_topics(struct hub *hub, struct hub_sub *sub)
{
    for (size_t i = 0; i < sub->ntopics; i++) {
        struct topic *t = sub->members[i].topic;
        t->subscribers--;
        topics_release(hub->topics, t);
    }
}

/* With the lock held. */
static enum hub_status join(struct hub *hub, struct hub_sub *sub, const struct hub_subscription *req,
                            struct topic **scratch)
{
    if (hub->closed)
        return HUB_CLOSED;
    if (hub->subscribers >= hub->limits.max_subscribers)
        return HUB_FULL;
    sub->ntopics = acquire_topics(hub, req->topics, req->ntopics, scratch);
    if (sub->ntopics == 0)
        return HUB_NO_MEMORY;
    for (size_t i = 0; i < sub->ntopics; i++) {
        sub->members[i] = (struct membership){ .sub = sub, .topic = scratch[i] };
        scratch[i]->subscribers++;
    }
    if (position(hub, sub, req->last_event_id) != 0) {
        release_topics(hub, sub);
        return HUB_NO_MEMORY;
    }
    hub->subscribers++;
    if (hub->limits.readers) {
        hub->readers[sub->reader].subscribers++;
        atomic_fetch_add(&hub->readers[sub->reader].catching_up, 1); /* sub->behind */
    }
    return HUB_OK;
}

enum hub_status hub_subscribe(struct hub *hub, const struct hub_subscription *req,
                              struct hub_sub **out)
{
    enum hub_status st = hub_check_topics(hub, req->topics, req->ntopics);
    if (st != HUB_OK)
        return st;
    struct hub_sub *sub = calloc(1, sizeof *sub + req->ntopics * sizeof sub->members[0]);
    struct topic **scratch = calloc(req->ntopics, sizeof *scratch);
    if (!sub || !scratch) {
        free(sub);
        free(scratch);
        return HUB_NO_MEMORY;
    }
    sub->owner = req->owner;
    sub->reader = hub->limits.readers && req->reader < hub->limits.readers ? req->reader : 0;
    sub->behind = 1; /* until hub_next() has brought it up to its reader */
    pthread_mutex_lock(&hub->lock);
    st = join(hub, sub, req, scratch);
    pthread_mutex_unlock(&hub->lock);
    free(scratch);
    if (st != HUB_OK) {
        free(sub);
        return st;
    }
    *out = sub;
    return HUB_OK;
}

/* No lock: the member lists are the reader's own (see topics.h), and the
 * topics stay alive while the subscription holds them. */
void hub_attach(struct hub *hub, struct hub_sub *sub)
{
    (void)hub;
    for (size_t i = 0; i < sub->ntopics; i++)
        topics_join(sub->members[i].topic, sub->reader, &sub->members[i]);
    sub->attached = 1;
}

static int wanted(const struct hub_sub *sub, const struct entry *e)
{
    for (size_t i = 0; i < e->ntopics; i++)
        for (size_t k = 0; k < sub->ntopics; k++)
            if (e->topics[i] == sub->members[k].topic)
                return 1;
    return 0;
}

static int own_event_evicted(const struct hub_sub *sub)
{
    for (size_t k = 0; k < sub->ntopics; k++)
        if (sub->members[k].topic->evicted > sub->cursor)
            return 1;
    return 0;
}

/* With the lock held. */
static enum hub_next next_locked(struct hub *hub, struct hub_sub *sub, struct hub_frame **frame)
{
    if (hub->closed)
        return HUB_NEXT_CLOSED;
    if (sub->first) {
        *frame = sub->first;
        sub->first = NULL;
        return HUB_NEXT_FRAME;
    }
    /* The history is shared by all topics: a cursor that fell out of it
     * lost something only if an event of its own topics was evicted before
     * it was read. Otherwise only other topics' events are gone, and a quiet
     * topic's subscriber simply moves on. */
    if (sub->cursor + 1 < hub->oldest) {
        if (own_event_evicted(sub)) {
            hub->lagged++;
            return HUB_NEXT_LAGGED;
        }
        sub->cursor = hub->oldest - 1;
    }
    /* Up to what the reader has fanned out: later events reach it there. */
    uint64_t upto = hub->limits.readers ? hub->readers[sub->reader].done : hub->last_seq;
    while (sub->cursor < upto) {
        const struct entry *e = &hub->ring[++sub->cursor % hub->size];
        if (wanted(sub, e)) {
            atomic_fetch_add(&e->frame->refs, 1);
            *frame = e->frame;
            return HUB_NEXT_FRAME;
        }
    }
    if (sub->behind && hub->limits.readers)
        atomic_fetch_sub(&hub->readers[sub->reader].catching_up, 1);
    sub->behind = 0;
    return HUB_NEXT_NONE;
}

enum hub_next hub_next_many(struct hub *hub, struct hub_sub *sub, struct hub_frame **frames,
                            size_t max, size_t *n)
{
    enum hub_next r = HUB_NEXT_FRAME;
    *n = 0;
    pthread_mutex_lock(&hub->lock);
    while (*n < max && (r = next_locked(hub, sub, &frames[*n])) == HUB_NEXT_FRAME)
        (*n)++;
    pthread_mutex_unlock(&hub->lock);
    return r;
}

enum hub_next hub_next(struct hub *hub, struct hub_sub *sub, struct hub_frame **frame)
{
    size_t n;
    return hub_next_many(hub, sub, frame, 1, &n);
}

void hub_unsubscribe(struct hub *hub, struct hub_sub *sub)
{
    if (!sub)
        return;
    /* Off the reader's lists first (its own, no lock), while the topics
     * are certainly alive. */
    for (size_t i = 0; sub->attached && i < sub->ntopics; i++)
        topics_leave(sub->members[i].topic, sub->reader, &sub->members[i]);
    pthread_mutex_lock(&hub->lock);
    release_topics(hub, sub);
    hub->subscribers--;
    if (hub->limits.readers) {
        hub->readers[sub->reader].subscribers--;
        if (sub->behind)
            atomic_fetch_sub(&hub->readers[sub->reader].catching_up, 1);
    }
    pthread_mutex_unlock(&hub->lock);
    hub_frame_release(sub->first);
    free(sub);
}

struct report_ctx {
    void (*fn)(void *ctx, const struct hub_topic_info *);
    void *ctx;
};

static void report_topic(void *arg, const struct topic *t)
{
    struct report_ctx *rc = arg;
    struct hub_topic_info info = { t->name, t->subscribers, t->published };
    rc->fn(rc->ctx, &info);
}

void hub_report(struct hub *hub, struct hub_totals *totals,
                void (*fn)(void *ctx, const struct hub_topic_info *), void *ctx)
{
    struct report_ctx rc = { fn, ctx };
    pthread_mutex_lock(&hub->lock);
    *totals = (struct hub_totals){
        .subscribers = hub->subscribers,
        .topics = topics_count(hub->topics),
        .kept = (size_t)(hub->last_seq + 1 - hub->oldest),
        .kept_bytes = hub->kept_bytes,
        .published = hub->published,
        .lagged = hub->lagged,
        .behind = hub->behind,
        .readers = hub->limits.readers,
    };
    for (unsigned r = 0; r < hub->limits.readers; r++) {
        totals->reader[r].subscribers = hub->readers[r].subscribers;
        totals->reader[r].catching_up = atomic_load(&hub->readers[r].catching_up);
        totals->reader[r].backlog = hub->last_seq - hub->readers[r].done;
        totals->backlog += totals->reader[r].backlog;
    }
    if (fn)
        topics_each(hub->topics, report_topic, &rc);
    pthread_mutex_unlock(&hub->lock);
}

size_t hub_subscribers(struct hub *hub)
{
    pthread_mutex_lock(&hub->lock);
    size_t n = hub->subscribers;
    pthread_mutex_unlock(&hub->lock);
    return n;
}

void hub_close(struct hub *hub)
{
    int wake[HUB_MAX_READERS] = { 0 };
    pthread_mutex_lock(&hub->lock);
    hub->closed = 1;
    for (unsigned r = 0; r < hub->limits.readers; r++)
        wake[r] = 1;
    pthread_cond_broadcast(&hub->progress); /* waiting publishers: HUB_CLOSED */
    pthread_mutex_unlock(&hub->lock);
    wake_readers(hub, wake);
}

int hub_has_id(struct hub *hub, const char *id, size_t n)
{
    int found = 0;
    pthread_mutex_lock(&hub->lock);
    for (size_t i = 0; i < hub->size && !found; i++) {
        const char *kept = hub->ring[i].id;  /* NULL in a slot never filled */
        found = kept && strlen(kept) == n && memcmp(kept, id, n) == 0;
    }
    pthread_mutex_unlock(&hub->lock);
    return found;
}
