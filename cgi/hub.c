#include "hub.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hub {
    pthread_mutex_t lock;
    pthread_cond_t changed;     /* signalled on publish and on close */
    struct hub_frame **ring;    /* frame with id i sits at ring[i % size] */
    size_t size;
    uint64_t last_id;           /* newest frame's id; 0 before the first */
    size_t subscribers;
    int closed;
    struct strbuf scratch;      /* render buffer, reused under the lock */
};

struct hub *hub_new(size_t history)
{
    struct hub *hub = calloc(1, sizeof *hub);
    if (!hub)
        return NULL;
    hub->size = history ? history : 1;
    hub->ring = calloc(hub->size, sizeof *hub->ring);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    /* Deadlines are monotonic so a clock step cannot stall or rush streams. */
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int failed = !hub->ring || pthread_mutex_init(&hub->lock, NULL) != 0 ||
                 pthread_cond_init(&hub->changed, &attr) != 0;
    pthread_condattr_destroy(&attr);
    if (failed) {
        free(hub->ring);
        free(hub);
        return NULL;
    }
    return hub;
}

void hub_free(struct hub *hub)
{
    if (!hub)
        return;
    for (size_t i = 0; i < hub->size; i++)
        if (hub->ring[i])
            hub_frame_release(hub->ring[i]);
    free(hub->ring);
    strbuf_free(&hub->scratch);
    pthread_cond_destroy(&hub->changed);
    pthread_mutex_destroy(&hub->lock);
    free(hub);
}

static struct hub_frame *frame_copy(uint64_t id, const struct strbuf *sb)
{
    struct hub_frame *f = malloc(sizeof *f + sb->len);
    if (!f)
        return NULL;
    f->id = id;
    f->len = sb->len;
    atomic_init(&f->refs, 1);
    memcpy(f->bytes, sb->ptr, sb->len);
    return f;
}

/* Called with the lock held: ids must enter the ring in the order given. */
static uint64_t store(struct hub *hub, const struct sse_event *ev, enum frame_status *status)
{
    char id_text[24];
    uint64_t id = hub->last_id + 1;
    struct sse_event numbered = *ev;
    numbered.id = (struct sse_str){ id_text, 0 };
    numbered.id.len = (size_t)snprintf(id_text, sizeof id_text, "%llu", (unsigned long long)id);
    strbuf_reset(&hub->scratch);
    *status = frame_event(&hub->scratch, &numbered);
    if (*status != FRAME_OK)
        return 0;
    struct hub_frame *f = frame_copy(id, &hub->scratch);
    if (!f) {
        *status = FRAME_NO_MEMORY;
        return 0;
    }
    struct hub_frame **slot = &hub->ring[id % hub->size];
    if (*slot)
        hub_frame_release(*slot);
    *slot = f;
    hub->last_id = id;
    return id;
}

uint64_t hub_publish(struct hub *hub, const struct sse_event *ev, enum frame_status *status)
{
    enum frame_status ignored;
    if (!status)
        status = &ignored;
    pthread_mutex_lock(&hub->lock);
    uint64_t id = 0;
    *status = FRAME_OK;
    if (!hub->closed)
        id = store(hub, ev, status);
    pthread_mutex_unlock(&hub->lock);
    if (id)
        pthread_cond_broadcast(&hub->changed);
    return id;
}

uint64_t hub_last_id(struct hub *hub)
{
    pthread_mutex_lock(&hub->lock);
    uint64_t id = hub->last_id;
    pthread_mutex_unlock(&hub->lock);
    return id;
}

/* With the lock held and a frame newer than *cursor present. */
static struct hub_frame *take_next(struct hub *hub, uint64_t *cursor)
{
    uint64_t oldest = hub->last_id >= hub->size ? hub->last_id - hub->size + 1 : 1;
    uint64_t next = *cursor + 1 < oldest ? oldest : *cursor + 1;
    struct hub_frame *f = hub->ring[next % hub->size];
    atomic_fetch_add(&f->refs, 1);
    *cursor = next;
    return f;
}

enum hub_wait_result hub_wait(struct hub *hub, uint64_t *cursor,
                              const struct timespec *deadline, struct hub_frame **frame)
{
    enum hub_wait_result result = HUB_TIMEOUT;
    pthread_mutex_lock(&hub->lock);
    for (;;) {
        if (hub->closed) {
            result = HUB_CLOSED;
            break;
        }
        if (hub->last_id > *cursor) {
            *frame = take_next(hub, cursor);
            result = HUB_FRAME;
            break;
        }
        if (pthread_cond_timedwait(&hub->changed, &hub->lock, deadline) != 0)
            break; /* ETIMEDOUT: nothing new */
    }
    pthread_mutex_unlock(&hub->lock);
    return result;
}

void hub_frame_release(struct hub_frame *frame)
{
    if (frame && atomic_fetch_sub(&frame->refs, 1) == 1)
        free(frame);
}

size_t hub_subscribe(struct hub *hub)
{
    pthread_mutex_lock(&hub->lock);
    size_t n = ++hub->subscribers;
    pthread_mutex_unlock(&hub->lock);
    return n;
}

size_t hub_unsubscribe(struct hub *hub)
{
    pthread_mutex_lock(&hub->lock);
    size_t n = --hub->subscribers;
    pthread_mutex_unlock(&hub->lock);
    return n;
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
    pthread_mutex_lock(&hub->lock);
    hub->closed = 1;
    pthread_mutex_unlock(&hub->lock);
    pthread_cond_broadcast(&hub->changed);
}
