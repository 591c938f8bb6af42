/* Unit tests for cgi/hub.c: ids, order, the ring, timeouts and closing. */
#include <pthread.h>
#include <time.h>

#include "hub.h"
#include "monotime.h"
#include "tap.h"

static uint64_t publish(struct hub *hub, const char *data)
{
    struct sse_event ev = { .type = SSE_STR("t"), .data = SSE_CSTR(data) };
    return hub_publish(hub, &ev, NULL);
}

/* Takes the next frame (it must be there) and compares its bytes. */
static void expect_next(struct hub *hub, uint64_t *cursor, const char *name, const char *want)
{
    struct timespec deadline = monotime_in_ms(0);
    struct hub_frame *f = NULL;
    enum hub_wait_result r = hub_wait(hub, cursor, &deadline, &f);
    if (r != HUB_FRAME) {
        tap_ok(0, name);
        printf("#   hub_wait returned %d, not a frame\n", r);
        return;
    }
    tap_bytes(name, f->bytes, f->len, want);
    hub_frame_release(f);
}

static void ids_and_order(void)
{
    struct hub *hub = hub_new(8);
    uint64_t cursor = hub_last_id(hub);
    tap_ok(cursor == 0, "a new hub's last id is 0");
    tap_ok(publish(hub, "a") == 1 && publish(hub, "b") == 2, "ids count up from 1");
    expect_next(hub, &cursor, "the first frame carries id 1", "event: t\nid: 1\ndata: a\n\n");
    expect_next(hub, &cursor, "then id 2", "event: t\nid: 2\ndata: b\n\n");
    struct timespec deadline = monotime_in_ms(20);
    struct hub_frame *f = NULL;
    tap_ok(hub_wait(hub, &cursor, &deadline, &f) == HUB_TIMEOUT,
           "with nothing new, the wait times out");
    enum frame_status st;
    struct sse_event bad = { .id = SSE_NONE, .type = SSE_STR("x\ny") };
    tap_ok(hub_publish(hub, &bad, &st) == 0 && st == FRAME_BAD_TYPE,
           "a refused event gets no id and says why");
    tap_ok(publish(hub, "c") == 3, "a refused event does not use up an id");
    hub_free(hub);
}

static void ring_overflow(void)
{
    struct hub *hub = hub_new(3);
    uint64_t cursor = 0;
    for (int i = 0; i < 5; i++)
        publish(hub, "x");
    expect_next(hub, &cursor, "a cursor behind the ring resumes at the oldest kept frame",
                "event: t\nid: 3\ndata: x\n\n");
    hub_free(hub);
}

static void *closer(void *arg)
{
    struct timespec t = { 0, 50 * 1000000L };
    nanosleep(&t, NULL);
    hub_close(arg);
    return NULL;
}

static void closing(void)
{
    struct hub *hub = hub_new(4);
    pthread_t tid;
    pthread_create(&tid, NULL, closer, hub);
    uint64_t cursor = 0;
    struct timespec deadline = monotime_in_ms(10000);
    struct hub_frame *f = NULL;
    tap_ok(hub_wait(hub, &cursor, &deadline, &f) == HUB_CLOSED,
           "closing the hub wakes a waiting stream with HUB_CLOSED");
    pthread_join(tid, NULL);
    tap_ok(publish(hub, "late") == 0, "a closed hub refuses publishes");
    hub_free(hub);
}

static void subscribers(void)
{
    struct hub *hub = hub_new(1);
    hub_subscribe(hub);
    hub_subscribe(hub);
    hub_unsubscribe(hub);
    tap_ok(hub_subscribers(hub) == 1, "subscribers are counted in and out");
    hub_free(hub);
}

static void frame_outlives_ring(void)
{
    struct hub *hub = hub_new(1);
    uint64_t cursor = 0;
    publish(hub, "first");
    struct timespec deadline = monotime_in_ms(0);
    struct hub_frame *f = NULL;
    hub_wait(hub, &cursor, &deadline, &f);
    publish(hub, "second"); /* pushes "first" out of the one-slot ring */
    tap_bytes("a frame being sent survives its eviction from the ring", f->bytes, f->len,
              "event: t\nid: 1\ndata: first\n\n");
    hub_frame_release(f);
    hub_free(hub);
}

int main(void)
{
    ids_and_order();
    ring_overflow();
    closing();
    subscribers();
    frame_outlives_ring();
    return tap_done();
}
