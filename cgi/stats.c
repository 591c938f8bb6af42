#include "stats.h"

#include <string.h>

#include "json.h"
#include "log.h"
#include "monotime.h"

void stats_init(struct stats *s)
{
    s->started = monotime_now();
    atomic_init(&s->streams_total, 0);
    atomic_init(&s->streams_rejected, 0);
    atomic_init(&s->delivered, 0);
    atomic_init(&s->publish_rejected, 0);
    atomic_init(&s->requests_rejected, 0);
}

static double uptime_seconds(const struct stats *s)
{
    struct timespec now = monotime_now();
    return (double)(now.tv_sec - s->started.tv_sec) +
           (double)(now.tv_nsec - s->started.tv_nsec) / 1e9;
}

struct topic_writer {
    struct strbuf *out;
    struct strbuf *out2;  /* Prometheus: a second metric family */
    int first;
    int failed;
};

static void json_topic(void *ctx, const struct hub_topic_info *t)
{
    struct topic_writer *w = ctx;
    w->failed |= strbuf_puts(w->out, w->first ? "" : ",") != 0 ||
                 json_append_string(w->out, t->name, strlen(t->name)) != 0 ||
                 strbuf_printf(w->out, ":{\"streams\":%zu,\"published\":%llu}",
                               t->subscribers, (unsigned long long)t->published) != 0;
    w->first = 0;
}

/* Per delivery loop: its streams, how many of them are catching up (a full
 * socket), and the events it has yet to fan out. */
static int json_loops(struct strbuf *out, const struct hub_totals *t)
{
    int failed = strbuf_puts(out, "[") != 0;
    for (unsigned r = 0; r < t->readers; r++)
        failed |= strbuf_printf(out, "%s{\"streams\":%zu,\"catching_up\":%zu,\"backlog\":%llu}",
                                r ? "," : "", t->reader[r].subscribers,
                                t->reader[r].catching_up,
                                (unsigned long long)t->reader[r].backlog) != 0;
    return failed | (strbuf_puts(out, "]") != 0);
}

/* The shared event log (broker.h): "state" is "off" without --redis. */
static int json_broker(struct strbuf *out, struct broker *broker)
{
    struct broker_info b;
    broker_report(broker, &b);
    return strbuf_printf(out, "{\"state\":\"%s\",\"reconnects\":%llu,\"errors\":%llu,"
                              "\"followed\":%llu,\"missed\":%llu,\"lag_ms\":%llu,"
                              "\"last_id\":\"%s\"}",
                         b.state, b.reconnects, b.errors, b.followed, b.missed, b.lag_ms,
                         b.last_id);
}

/* Publishes refused because delivery was behind: the hub's count, or with
 * Redis the broker's (the hub's then counts the follower's retries). */
static unsigned long long publish_behind(const struct hub_totals *t, struct broker *broker)
{
    struct broker_info b;
    broker_report(broker, &b);
    return broker ? b.behind : t->behind;
}

int stats_json(struct strbuf *out, struct stats *s, struct hub *hub, struct broker *broker)
{
    struct hub_totals totals;
    struct strbuf topics = STRBUF_INIT, loops = STRBUF_INIT, log = STRBUF_INIT;
    struct topic_writer w = { &topics, NULL, 1, 0 };
    hub_report(hub, &totals, json_topic, &w);
    int failed = w.failed || json_loops(&loops, &totals) || json_broker(&log, broker) ||
        strbuf_printf(out,
                      "{\"uptime\":%.3f,\"streams\":%zu,\"streams_total\":%llu,"
                      "\"streams_rejected\":%llu,\"published\":%llu,\"delivered\":%llu,"
                      "\"dropped\":%llu,\"publish_rejected\":%llu,\"requests_rejected\":%llu,"
                      "\"log_dropped\":%llu,\"history\":%zu,"
                      "\"history_bytes\":%zu,\"publish_behind\":%llu,\"backlog\":%llu,"
                      "\"loops\":%s,\"broker\":%s,\"topics\":{%s}}\n",
                      uptime_seconds(s), totals.subscribers,
                      (unsigned long long)atomic_load(&s->streams_total),
                      (unsigned long long)atomic_load(&s->streams_rejected),
                      (unsigned long long)totals.published,
                      (unsigned long long)atomic_load(&s->delivered),
                      (unsigned long long)totals.lagged,
                      (unsigned long long)atomic_load(&s->publish_rejected),
                      (unsigned long long)atomic_load(&s->requests_rejected),
                      log_dropped(), totals.kept, totals.kept_bytes,
                      publish_behind(&totals, broker), (unsigned long long)totals.backlog,
                      loops.ptr, log.ptr, topics.ptr ? topics.ptr : "") != 0;
    strbuf_free(&topics);
    strbuf_free(&loops);
    strbuf_free(&log);
    return failed ? -1 : 0;
}

/* Topic names allow only [A-Za-z0-9-._~:/@], none of which need escaping
 * in a Prometheus label value (only backslash, quote and newline do). */
static void prometheus_topic(void *ctx, const struct hub_topic_info *t)
{
    struct topic_writer *w = ctx;
    w->failed |= strbuf_printf(w->out, "sse_topic_streams{topic=\"%s\"} %zu\n",
                               t->name, t->subscribers) != 0 ||
                 strbuf_printf(w->out2, "sse_topic_published_total{topic=\"%s\"} %llu\n",
                               t->name, (unsigned long long)t->published) != 0;
}

static int metric(struct strbuf *out, const char *name, const char *type, const char *help,
                  double value)
{
    return strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %.15g\n",
                         name, help, name, type, name, value);
}

/* Only with --redis: without a shared log there is nothing to watch. */
static int prometheus_broker(struct strbuf *out, struct broker *broker)
{
    struct broker_info b;
    if (!broker)
        return 0;
    broker_report(broker, &b);
    return metric(out, "sse_broker_connected", "gauge",
                  "1 while the follower is connected to the Redis event log.",
                  strcmp(b.state, "connected") == 0) ||
           metric(out, "sse_broker_reconnects_total", "counter",
                  "Connections to Redis made again after one was lost.", (double)b.reconnects) ||
           metric(out, "sse_broker_errors_total", "counter",
                  "Failed Redis connects and commands.", (double)b.errors) ||
           metric(out, "sse_broker_followed_total", "counter",
                  "Events read from the Redis log into this worker's history.",
                  (double)b.followed) ||
           metric(out, "sse_broker_missed_total", "counter",
                  "Events the log trimmed before this worker read them (it fell behind).",
                  (double)b.missed) ||
           metric(out, "sse_broker_lag_milliseconds", "gauge",
                  "Age of the newest event applied while behind the log; 0 when caught up.",
                  (double)b.lag_ms);
}

int stats_prometheus(struct strbuf *out, struct stats *s, struct hub *hub, struct broker *broker)
{
    struct hub_totals totals;
    struct strbuf streams = STRBUF_INIT, published = STRBUF_INIT;
    struct topic_writer w = { &streams, &published, 1, 0 };
    hub_report(hub, &totals, prometheus_topic, &w);
    int failed = w.failed ||
        metric(out, "sse_uptime_seconds", "gauge", "Seconds since the worker started.",
               uptime_seconds(s)) ||
        metric(out, "sse_streams", "gauge", "Open event streams.",
               (double)totals.subscribers) ||
        metric(out, "sse_streams_total", "counter", "Event streams opened.",
               (double)atomic_load(&s->streams_total)) ||
        metric(out, "sse_streams_rejected_total", "counter",
               "Streams refused with 503 at the stream limit.",
               (double)atomic_load(&s->streams_rejected)) ||
        metric(out, "sse_published_total", "counter", "Events published.",
               (double)totals.published) ||
        metric(out, "sse_delivered_total", "counter", "Event frames written to clients.",
               (double)atomic_load(&s->delivered)) ||
        metric(out, "sse_dropped_total", "counter",
               "Streams ended for falling behind the history.", (double)totals.lagged) ||
        metric(out, "sse_publish_rejected_total", "counter", "Publishes refused with 4xx.",
               (double)atomic_load(&s->publish_rejected)) ||
        metric(out, "sse_requests_rejected_total", "counter",
               "Connections refused with 503: every request thread busy.",
               (double)atomic_load(&s->requests_rejected)) ||
        metric(out, "sse_log_dropped_total", "counter",
               "Log lines dropped because stderr was not taking them.",
               (double)log_dropped()) ||
        metric(out, "sse_history_events", "gauge", "Events kept for replay.",
               (double)totals.kept) ||
        metric(out, "sse_history_bytes", "gauge", "Bytes of the frames kept for replay.",
               (double)totals.kept_bytes) ||
        metric(out, "sse_publish_behind_total", "counter",
               "Publishes refused with 503 because delivery was behind.",
               (double)publish_behind(&totals, broker)) ||
        metric(out, "sse_delivery_backlog", "gauge",
               "Events published but not yet fanned out, summed over the delivery loops.",
               (double)totals.backlog) ||
        prometheus_broker(out, broker) ||
        strbuf_puts(out, "# HELP sse_topic_streams Open streams per topic.\n"
                         "# TYPE sse_topic_streams gauge\n") ||
        strbuf_append(out, streams.ptr ? streams.ptr : "", streams.len) ||
        strbuf_puts(out, "# HELP sse_topic_published_total Events published per topic.\n"
                         "# TYPE sse_topic_published_total counter\n") ||
        strbuf_append(out, published.ptr ? published.ptr : "", published.len);
    strbuf_free(&streams);
    strbuf_free(&published);
    return failed ? -1 : 0;
}
