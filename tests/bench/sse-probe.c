/*
 * sse-probe: the benchmark's second, independent measurement of latency.
 *
 * sse-load opens thousands of subscriptions in one thread and publishes; a
 * client that busy can itself delay what it measures. This program is a
 * separate process that opens only a few subscriptions (a sample of the
 * same topics), spread over the time sse-load ramps up so they sit among
 * its subscribers in the server's fan-out order, and does nothing else:
 * one level-triggered epoll loop, one read() per ready socket, the wall
 * clock read right after read() returns. Latency is that time minus the
 * publish time sse-load wrote into the event's data (CLOCK_REALTIME on
 * both sides, same machine, so no clock sync is involved).
 *
 * It knows which events it should have got from the file sse-load writes
 * when it ends (--accepted FILE: one "TOPIC SEQ SENT_NS ANSWERED_NS" line
 * per publish the server accepted): a subscriber expects every accepted event of its
 * topic published after its subscription was answered. Once that file
 * appears the probe waits at most --drain seconds for what is still due,
 * then prints "# " lines and one "result key=value ..." line. --timeout,
 * SIGINT and SIGTERM end it too (reporting what it has).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http-sse.h"
#include "latency.h"

/* Per topic: far beyond a run's publishes (minutes at 100,000/s). */
#define MAX_SEQ (UINT64_C(1) << 26)

struct probe_options {
    const char *host;
    int port;
    unsigned subscribers, topics;
    const char *topic_prefix, *sub_path, *accepted, *label;
    double spread, drain, timeout;
    unsigned event_size;
};

enum probe_state { P_CONNECTING, P_HEAD, P_OPEN, P_FAILED, P_ENDED };

struct probe_sub {
    int fd;
    enum probe_state state;
    unsigned topic;
    uint64_t open_ns;   /* wall time its 200 head was read */
    struct http_resp http;
    struct sse_lines sse;
    int ev_ok;
    uint64_t ev_seq, ev_sent_ns;
    uint64_t *seen;     /* per sequence number: wall time of its read(), 0 until then */
    size_t seen_cap;
};

struct probe {
    struct probe_options o;
    int ep;
    struct sockaddr_in server;
    struct probe_sub *subs;
    unsigned launched, subscribed, failed, ended;
    uint64_t received, dups, foreign, read_ns;
    struct latency lat;
    struct latency from_answer; /* the same events, counted from the publish's answer */
    char buf[64 * 1024];
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void die(const char *what)
{
    fprintf(stderr, "sse-probe: %s\n", what);
    exit(2);
}

static uint64_t wall_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static double mono_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ------------------------------------------------------------ options */

static const char usage[] =
    "usage: sse-probe --port N --accepted FILE [options]\n"
    "  --host ADDR        server address (127.0.0.1)\n"
    "  --subscribers N    subscriptions (100)\n"
    "  --topics N         topics; subscriber i takes topic i %% N, as sse-load (1)\n"
    "  --topic-prefix S   topic names S0, S1, ... (bench)\n"
    "  --sub-path FMT     subscribe path, %%s = topic (/events?topic=%%s)\n"
    "  --spread S         open the subscriptions evenly over S seconds (0)\n"
    "  --accepted FILE    written by sse-load --accepted-out when it ends\n"
    "  --event-size B     bytes of data per event, for the line buffer (100)\n"
    "  --drain S          longest wait for due events once FILE is there (3)\n"
    "  --timeout S        bound on the whole run (600)\n"
    "  --label S          a name for the result line\n";

static double num(const char *name, const char *v, double min, double max)
{
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !(d >= min && d <= max)) {
        fprintf(stderr, "sse-probe: --%s: '%s' is not a number in [%g, %g]\n", name, v, min, max);
        exit(2);
    }
    return d;
}

static void parse_options(struct probe_options *o, int argc, char **argv)
{
    static const struct option opts[] = {
        { "host", 1, NULL, 'H' }, { "port", 1, NULL, 'p' }, { "subscribers", 1, NULL, 'n' },
        { "topics", 1, NULL, 't' }, { "topic-prefix", 1, NULL, 'P' },
        { "sub-path", 1, NULL, 's' }, { "spread", 1, NULL, 'S' }, { "accepted", 1, NULL, 'a' },
        { "event-size", 1, NULL, 'e' }, { "drain", 1, NULL, 'd' }, { "timeout", 1, NULL, 'T' },
        { "label", 1, NULL, 'l' }, { "help", 0, NULL, 'h' }, { NULL, 0, NULL, 0 },
    };
    *o = (struct probe_options){ .host = "127.0.0.1", .subscribers = 100, .topics = 1,
                                 .topic_prefix = "bench", .sub_path = "/events?topic=%s",
                                 .label = "probe", .drain = 3, .timeout = 600,
                                 .event_size = 100 };
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'H': o->host = optarg; break;
        case 'p': o->port = (int)num("port", optarg, 1, 65535); break;
        case 'n': o->subscribers = (unsigned)num("subscribers", optarg, 1, 10000); break;
        case 't': o->topics = (unsigned)num("topics", optarg, 1, 1e5); break;
        case 'P': o->topic_prefix = optarg; break;
        case 's': o->sub_path = optarg; break;
        case 'S': o->spread = num("spread", optarg, 0, 3600); break;
        case 'a': o->accepted = optarg; break;
        case 'e': o->event_size = (unsigned)num("event-size", optarg, 1, 65536); break;
        case 'd': o->drain = num("drain", optarg, 0, 600); break;
        case 'T': o->timeout = num("timeout", optarg, 1, 7200); break;
        case 'l': o->label = optarg; break;
        case 'h': fputs(usage, stdout); exit(0);
        default: fputs(usage, stderr); exit(2);
        }
    }
    if (optind < argc || !o->port || !o->accepted)
        die("--port and --accepted are required (see --help)");
}

/* ------------------------------------------------------------ parsing */

/* "{"s":SEQ,"t":NS,...": the two numbers sse-load puts first in every event. */
static int event_numbers(const char *v, size_t n, uint64_t *seq, uint64_t *sent)
{
    char text[64];
    size_t k = n < sizeof text - 1 ? n : sizeof text - 1;
    memcpy(text, v, k);
    text[k] = '\0';
    unsigned long long a, b;
    if (sscanf(text, "{\"s\":%llu,\"t\":%llu", &a, &b) != 2)
        return -1;
    *seq = a;
    *sent = b;
    return 0;
}

static struct probe *g_probe; /* the SSE callbacks get the subscriber as context */

static void on_field(void *ctx, const char *name, size_t nlen, const char *value, size_t vlen)
{
    struct probe_sub *s = ctx;
    if (nlen == 4 && memcmp(name, "data", 4) == 0)
        s->ev_ok = event_numbers(value, vlen, &s->ev_seq, &s->ev_sent_ns) == 0 ? 1 : -1;
}

static void mark_seen(struct probe *p, struct probe_sub *s)
{
    uint64_t seq = s->ev_seq;
    if (seq > MAX_SEQ) {
        p->foreign++; /* not a sequence number sse-load could have reached */
        return;
    }
    if (seq >= s->seen_cap) {
        size_t cap = s->seen_cap ? s->seen_cap : 1024;
        while (cap <= seq)
            cap *= 2;
        uint64_t *m = realloc(s->seen, cap * sizeof *m);
        if (!m)
            die("out of memory");
        memset(m + s->seen_cap, 0, (cap - s->seen_cap) * sizeof *m);
        s->seen = m;
        s->seen_cap = cap;
    }
    if (s->seen[seq]) {
        p->dups++;
        return;
    }
    uint64_t now = p->read_ns;
    s->seen[seq] = now;
    p->received++;
    latency_add(&p->lat, now > s->ev_sent_ns ? (now - s->ev_sent_ns) / 1000 : 0);
}

static void on_dispatch(void *ctx)
{
    struct probe_sub *s = ctx;
    if (s->ev_ok == 1)
        mark_seen(g_probe, s);
    else if (s->ev_ok == -1)
        g_probe->foreign++;
    s->ev_ok = 0;
}

static const struct sse_callbacks callbacks = { on_field, on_dispatch };

static void body(void *ctx, const char *bytes, size_t n)
{
    struct probe_sub *s = ctx;
    sse_lines_feed(&s->sse, bytes, n, &callbacks, s);
}

/* ------------------------------------------------------- subscriptions */

static void sub_close(struct probe_sub *s, enum probe_state st)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    s->state = st;
}

static void launch(struct probe *p)
{
    struct probe_sub *s = &p->subs[p->launched];
    s->topic = p->launched % p->o.topics;
    p->launched++;
    http_resp_init(&s->http);
    if (sse_lines_init(&s->sse, p->o.event_size + 256) != 0)
        die("out of memory");
    s->state = P_CONNECTING;
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = s };
    if (s->fd < 0 ||
        (connect(s->fd, (struct sockaddr *)&p->server, sizeof p->server) != 0 &&
         errno != EINPROGRESS) ||
        epoll_ctl(p->ep, EPOLL_CTL_ADD, s->fd, &ev) != 0) {
        p->failed++;
        sub_close(s, P_FAILED);
    }
}

static void send_request(struct probe *p, struct probe_sub *s)
{
    char path[512], req[1024];
    char topic[256];
    snprintf(topic, sizeof topic, "%s%u", p->o.topic_prefix, s->topic);
    snprintf(path, sizeof path, p->o.sub_path, topic);
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", path,
                     p->o.host);
    int err = 0;
    socklen_t len = sizeof err;
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = s };
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0 ||
        write(s->fd, req, (size_t)n) != n || epoll_ctl(p->ep, EPOLL_CTL_MOD, s->fd, &ev) != 0) {
        p->failed++;
        sub_close(s, P_FAILED);
        return;
    }
    s->state = P_HEAD;
}

static void readable(struct probe *p, struct probe_sub *s)
{
    ssize_t got = read(s->fd, p->buf, sizeof p->buf);
    p->read_ns = wall_ns(); /* first thing after read(): this read's receipt time */
    if (got < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (got <= 0) {
        if (s->state == P_OPEN)
            p->ended++;
        else
            p->failed++;
        sub_close(s, s->state == P_OPEN ? P_ENDED : P_FAILED);
        return;
    }
    http_resp_feed(&s->http, p->buf, (size_t)got, body, s);
    if (s->state == P_HEAD && s->http.state != HTTP_HEAD) {
        if (s->http.status != 200 || s->http.state == HTTP_ERROR) {
            p->failed++;
            sub_close(s, P_FAILED);
            return;
        }
        s->state = P_OPEN;
        s->open_ns = p->read_ns;
        p->subscribed++;
    }
    if (s->http.state == HTTP_DONE || s->http.state == HTTP_ERROR) {
        p->ended++;
        sub_close(s, P_ENDED);
    }
}

/* ------------------------------------------------------- expectations */

struct accepted {
    unsigned topic;
    uint64_t seq, sent_ns, answered_ns;
};

struct tally {
    uint64_t expected, got;
    uint64_t before_answer; /* received before the publisher had its answer */
};

/* NULL while sse-load has not written the file yet. */
static struct accepted *load_accepted(const char *path, size_t *n)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t cap = 1024, k = 0;
    struct accepted *a = malloc(cap * sizeof *a);
    unsigned topic;
    unsigned long long seq, sent, answered;
    while (a && fscanf(f, "%u %llu %llu %llu", &topic, &seq, &sent, &answered) == 4) {
        if (k == cap) {
            struct accepted *b = realloc(a, (cap *= 2) * sizeof *a);
            if (!b) {
                free(a);
                a = NULL;
                break;
            }
            a = b;
        }
        a[k++] = (struct accepted){ topic, seq, sent, answered };
    }
    fclose(f);
    if (!a)
        die("out of memory");
    *n = k;
    return a;
}

/*
 * Due to a subscriber: accepted on its topic after its head arrived. With
 * from_answer, each received one also goes into that histogram, counted
 * from the publish's answer instead of its sending (0 if it came earlier):
 * what a client would report that takes the answer as the publish time.
 */
static struct tally tally(const struct probe *p, const struct accepted *a, size_t n,
                          struct latency *from_answer)
{
    struct tally t = { 0, 0, 0 };
    for (unsigned i = 0; i < p->launched; i++) {
        const struct probe_sub *s = &p->subs[i];
        if (s->state != P_OPEN && s->state != P_ENDED)
            continue;
        for (size_t k = 0; k < n; k++) {
            if (a[k].topic != s->topic || a[k].sent_ns <= s->open_ns)
                continue;
            t.expected++;
            uint64_t at = a[k].seq < s->seen_cap ? s->seen[a[k].seq] : 0;
            if (!at)
                continue;
            t.got++;
            t.before_answer += at < a[k].answered_ns;
            if (from_answer)
                latency_add(from_answer,
                            at > a[k].answered_ns ? (at - a[k].answered_ns) / 1000 : 0);
        }
    }
    return t;
}

/* ------------------------------------------------------------- main */

static void setup(struct probe *p)
{
    p->server.sin_family = AF_INET;
    p->server.sin_port = htons((uint16_t)p->o.port);
    if (inet_pton(AF_INET, p->o.host, &p->server.sin_addr) != 1)
        die("--host: want an IPv4 address");
    p->subs = calloc(p->o.subscribers, sizeof *p->subs);
    p->ep = epoll_create1(EPOLL_CLOEXEC);
    if (!p->subs || p->ep < 0)
        die("out of memory or descriptors");
    for (unsigned i = 0; i < p->o.subscribers; i++)
        p->subs[i].fd = -1;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
}

static void report(struct probe *p, const struct accepted *a, size_t n, int have_file)
{
    struct tally t = have_file ? tally(p, a, n, &p->from_answer) : (struct tally){ 0, 0, 0 };
    double q50 = (double)latency_quantile(&p->lat, 0.5) / 1000,
           q90 = (double)latency_quantile(&p->lat, 0.9) / 1000,
           q99 = (double)latency_quantile(&p->lat, 0.99) / 1000,
           max = (double)p->lat.max_us / 1000;
    printf("# %s: %u/%u subscribed (%u failed, %u ended early); events %llu/%llu received, "
           "%llu missing%s, %llu duplicated\n",
           p->o.label, p->subscribed, p->o.subscribers, p->failed, p->ended,
           (unsigned long long)t.got, (unsigned long long)t.expected,
           (unsigned long long)(t.expected - t.got),
           have_file ? "" : " (sse-load wrote no list of accepted publishes)",
           (unsigned long long)p->dups);
    printf("# probe latency ms at read(): p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n", q50, q90,
           q99, max);
    printf("# counted from the publish's answer instead: p50 %.1f  p99 %.1f; %llu of %llu events "
           "arrived before their publish was answered\n",
           (double)latency_quantile(&p->from_answer, 0.5) / 1000,
           (double)latency_quantile(&p->from_answer, 0.99) / 1000,
           (unsigned long long)t.before_answer, (unsigned long long)t.got);
    printf("result label=%s probe_subscribers=%u probe_subscribed=%u probe_failed=%u "
           "probe_ended_early=%u probe_expected=%llu probe_received=%llu probe_missing=%llu "
           "probe_dup=%llu probe_foreign=%llu probe_p50_ms=%.2f probe_p90_ms=%.2f "
           "probe_p99_ms=%.2f probe_max_ms=%.2f probe_complete=%d probe_ans_p50_ms=%.2f "
           "probe_ans_p99_ms=%.2f probe_before_answer=%llu\n",
           p->o.label, p->o.subscribers, p->subscribed, p->failed, p->ended,
           (unsigned long long)t.expected, (unsigned long long)t.got,
           (unsigned long long)(t.expected - t.got), (unsigned long long)p->dups,
           (unsigned long long)p->foreign, q50, q90, q99, max, have_file,
           (double)latency_quantile(&p->from_answer, 0.5) / 1000,
           (double)latency_quantile(&p->from_answer, 0.99) / 1000,
           (unsigned long long)t.before_answer);
}

int main(int argc, char **argv)
{
    static struct probe probe; /* the histogram and read buffer: not on the stack */
    struct probe *p = &probe;
    g_probe = p;
    parse_options(&p->o, argc, argv);
    setup(p);
    double t0 = mono_s(), t_file = 0, t_check = 0;
    struct accepted *acc = NULL;
    size_t nacc = 0;
    while (!stop && mono_s() - t0 < p->o.timeout) {
        double now = mono_s();
        double due = p->o.spread > 0 ? (now - t0) / p->o.spread * p->o.subscribers + 1
                                     : p->o.subscribers;
        while (p->launched < p->o.subscribers && p->launched < due)
            launch(p);
        if (!acc && now >= t_check) {
            t_check = now + 0.1;
            if ((acc = load_accepted(p->o.accepted, &nacc)) != NULL)
                t_file = now;
        }
        if (acc && now >= t_check) {
            t_check = now + 0.2; /* subscribers x publishes: not on every wake-up */
            struct tally t = tally(p, acc, nacc, NULL);
            if (t.got == t.expected || now - t_file >= p->o.drain)
                break;
        }
        struct epoll_event evs[64];
        int k = epoll_wait(p->ep, evs, 64, acc ? 50 : 10);
        if (k < 0 && errno != EINTR)
            die("epoll_wait failed");
        for (int i = 0; i < k; i++) {
            struct probe_sub *s = evs[i].data.ptr;
            if (s->fd < 0)
                continue;
            if (s->state == P_CONNECTING)
                send_request(p, s);
            else
                readable(p, s);
        }
    }
    if (!acc)
        acc = load_accepted(p->o.accepted, &nacc);
    report(p, acc, nacc, acc != NULL);
    for (unsigned i = 0; i < p->launched; i++) {
        if (p->subs[i].fd >= 0)
            close(p->subs[i].fd);
        sse_lines_free(&p->subs[i].sse);
        free(p->subs[i].seen);
    }
    free(p->subs);
    free(acc);
    close(p->ep);
    return 0;
}
