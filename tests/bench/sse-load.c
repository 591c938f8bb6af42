/*
 * sse-load: a load client for SSE pub/sub servers, for the benchmark.
 *
 * One process, one epoll loop, libc only. It opens N subscriptions (GET
 * with Accept: text/event-stream) at a given ramp rate, then publishes
 * timestamped events at a given rate on keep-alive connections, and checks
 * that every subscriber got every event of its topic exactly once. Each
 * event's data carries its per-topic sequence number and its send time
 * (CLOCK_REALTIME, ns): the latency is the event's arrival at the
 * subscriber's socket (the kernel's receive timestamp, SO_TIMESTAMPNS) minus
 * that, measured in this one process, so no clock sync is involved. The
 * time this client's read() returned is reported beside it: the gap is the
 * client's own queue (one thread reading thousands of sockets), which is not
 * the server's doing. It works against any
 * server that passes the published data through unchanged: this project
 * (form POST to /publish) and nchan (raw body POST to /pub?id=TOPIC).
 *
 * Phases: base memory -> ramp (subscribe) -> settle (idle memory and CPU)
 * -> publish for --duration -> drain (until everything expected arrived, or
 * --drain seconds) -> report. Every phase is bounded, and --timeout bounds
 * the whole run: the program always ends by itself.
 *
 * The report is a human summary (lines starting with "# ") and one line
 * "result key=value ..." for scripts.
 */
#define _GNU_SOURCE /* IP_BIND_ADDRESS_NO_PORT, accept of epoll and friends */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http-sse.h"
#include "latency.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_MEM_GROUPS 4
#define MAX_PIDS 16
#define MAX_PUB_CONNS 256
#define READ_BUF (64 * 1024)

/* ---------------------------------------------------------------- options */

struct mem_group {
    char name[32];
    int pids[MAX_PIDS];
    unsigned npids;
};

struct options {
    const char *host;
    int port;
    unsigned subscribers;
    unsigned topics;
    const char *topic_prefix;
    const char *sub_path;   /* printf format with one %s: the topic */
    const char *pub_path;   /* the same; a path without %s is used as is */
    int pub_raw;            /* 1: the body is the data (nchan); 0: a form */
    double rate;            /* events/s over all topics; 0: as fast as answered */
    double duration;        /* seconds of publishing */
    unsigned event_size;    /* bytes of data per event */
    double ramp;            /* new subscriptions/s; 0: as fast as possible */
    unsigned max_connecting;
    unsigned sources;       /* loopback source addresses; 0: one per 10,000 */
    double settle;
    double drain;
    double timeout;
    unsigned pub_conns;
    struct mem_group mem[MAX_MEM_GROUPS];
    unsigned nmem;
    const char *label;
    const char *accepted_out; /* file for the accepted publishes (sse-probe reads it) */
};

static const char usage[] =
    "usage: sse-load [options]\n"
    "  --host ADDR            server address (127.0.0.1)\n"
    "  --port N               server port (required)\n"
    "  --subscribers N        concurrent subscriptions (1000)\n"
    "  --topics N             topics; subscriber i takes topic i %% N (1)\n"
    "  --topic-prefix S       topic names are S0, S1, ... (bench)\n"
    "  --sub-path FMT         subscribe path, %%s = topic (/events?topic=%%s)\n"
    "  --pub-path FMT         publish path, %%s = topic (/publish)\n"
    "  --publish-style S      form (topic=..&data=.. body) or raw (body = data)\n"
    "  --rate R               events/s over all topics; 0 = as fast as answered (10)\n"
    "  --duration S           seconds of publishing (10)\n"
    "  --event-size B         bytes of data per event (100)\n"
    "  --ramp R               new subscriptions per second; 0 = no limit (2000)\n"
    "  --max-connecting N     subscriptions in flight at once (500)\n"
    "  --sources N            loopback source addresses 127.0.0.1..N (auto)\n"
    "  --pub-conns N          publisher keep-alive connections (4)\n"
    "  --settle S             idle seconds before publishing (2)\n"
    "  --drain S              longest wait for late events after publishing (10)\n"
    "  --timeout S            bound on the whole run (auto)\n"
    "  --mem NAME=PID[,PID..] report RSS and CPU of these processes (repeatable)\n"
    "  --label S              a name for the result line\n"
    "  --accepted-out FILE    at the end, write one line TOPIC SEQ SENT_NS ANSWERED_NS per accepted\n"
    "                         publish (what sse-probe checks its subscribers against)\n"
    "The bearer token for publishing, if any, comes from SSE_PUBLISH_TOKEN.\n";

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("sse-load: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static double number(const char *name, const char *text, double min, double max)
{
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end || !(v >= min && v <= max))
        die("--%s: '%s' is not a number in [%g, %g]", name, text, min, max);
    return v;
}

static void parse_mem(struct options *o, const char *spec)
{
    if (o->nmem == MAX_MEM_GROUPS)
        die("--mem: at most %d groups", MAX_MEM_GROUPS);
    struct mem_group *g = &o->mem[o->nmem++];
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || (size_t)(eq - spec) >= sizeof g->name)
        die("--mem: want NAME=PID[,PID...], got '%s'", spec);
    memcpy(g->name, spec, (size_t)(eq - spec));
    for (const char *p = eq + 1; *p;) {
        char *end;
        long pid = strtol(p, &end, 10);
        if (end == p || pid <= 0 || g->npids == MAX_PIDS)
            die("--mem: bad pid list in '%s'", spec);
        g->pids[g->npids++] = (int)pid;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            die("--mem: bad pid list in '%s'", spec);
    }
}

enum { O_HOST = 256, O_PORT, O_SUBS, O_TOPICS, O_PREFIX, O_SUB_PATH, O_PUB_PATH, O_STYLE,
       O_RATE, O_DURATION, O_SIZE, O_RAMP, O_MAX_CONNECTING, O_SOURCES, O_PUB_CONNS,
       O_SETTLE, O_DRAIN, O_TIMEOUT, O_MEM, O_LABEL, O_ACCEPTED_OUT };

static const struct option long_options[] = {
    { "host", required_argument, NULL, O_HOST },
    { "port", required_argument, NULL, O_PORT },
    { "subscribers", required_argument, NULL, O_SUBS },
    { "topics", required_argument, NULL, O_TOPICS },
    { "topic-prefix", required_argument, NULL, O_PREFIX },
    { "sub-path", required_argument, NULL, O_SUB_PATH },
    { "pub-path", required_argument, NULL, O_PUB_PATH },
    { "publish-style", required_argument, NULL, O_STYLE },
    { "rate", required_argument, NULL, O_RATE },
    { "duration", required_argument, NULL, O_DURATION },
    { "event-size", required_argument, NULL, O_SIZE },
    { "ramp", required_argument, NULL, O_RAMP },
    { "max-connecting", required_argument, NULL, O_MAX_CONNECTING },
    { "sources", required_argument, NULL, O_SOURCES },
    { "pub-conns", required_argument, NULL, O_PUB_CONNS },
    { "settle", required_argument, NULL, O_SETTLE },
    { "drain", required_argument, NULL, O_DRAIN },
    { "timeout", required_argument, NULL, O_TIMEOUT },
    { "mem", required_argument, NULL, O_MEM },
    { "label", required_argument, NULL, O_LABEL },
    { "accepted-out", required_argument, NULL, O_ACCEPTED_OUT },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static void set_option(struct options *o, int opt, const char *v)
{
    switch (opt) {
    case O_HOST: o->host = v; break;
    case O_PORT: o->port = (int)number("port", v, 1, 65535); break;
    case O_SUBS: o->subscribers = (unsigned)number("subscribers", v, 0, 1e6); break;
    case O_TOPICS: o->topics = (unsigned)number("topics", v, 1, 1e5); break;
    case O_PREFIX: o->topic_prefix = v; break;
    case O_SUB_PATH: o->sub_path = v; break;
    case O_PUB_PATH: o->pub_path = v; break;
    case O_STYLE:
        if (strcmp(v, "form") != 0 && strcmp(v, "raw") != 0)
            die("--publish-style: form or raw");
        o->pub_raw = strcmp(v, "raw") == 0;
        break;
    case O_RATE: o->rate = number("rate", v, 0, 1e6); break;
    case O_DURATION: o->duration = number("duration", v, 0, 3600); break;
    case O_SIZE: o->event_size = (unsigned)number("event-size", v, 48, 65536); break;
    case O_RAMP: o->ramp = number("ramp", v, 0, 1e7); break;
    case O_MAX_CONNECTING: o->max_connecting = (unsigned)number("max-connecting", v, 1, 1e6); break;
    case O_SOURCES: o->sources = (unsigned)number("sources", v, 0, 250); break;
    case O_PUB_CONNS: o->pub_conns = (unsigned)number("pub-conns", v, 1, MAX_PUB_CONNS); break;
    case O_SETTLE: o->settle = number("settle", v, 0, 600); break;
    case O_DRAIN: o->drain = number("drain", v, 0, 600); break;
    case O_TIMEOUT: o->timeout = number("timeout", v, 1, 7200); break;
    case O_MEM: parse_mem(o, v); break;
    case O_LABEL: o->label = v; break;
    case O_ACCEPTED_OUT: o->accepted_out = v; break;
    default: fputs(usage, stderr); exit(2);
    }
}

/*
 * The longest the ramp may take: twice the planned time plus a minute, or
 * 200 subscriptions/s when unlimited. A server slower than that fails the
 * stragglers (counted as timeouts) instead of stalling the run.
 */
static double ramp_bound(const struct options *o)
{
    return 60 + (o->ramp > 0 ? 2 * o->subscribers / o->ramp : o->subscribers / 200.0);
}

static void parse_options(struct options *o, int argc, char **argv)
{
    *o = (struct options){
        .host = "127.0.0.1", .subscribers = 1000, .topics = 1, .topic_prefix = "bench",
        .sub_path = "/events?topic=%s", .pub_path = "/publish", .rate = 10, .duration = 10,
        .event_size = 100, .ramp = 2000, .max_connecting = 500, .settle = 2, .drain = 10,
        .pub_conns = 4, .label = "run",
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
        if (opt == 'h') {
            fputs(usage, stdout);
            exit(0);
        }
        set_option(o, opt, optarg);
    }
    if (optind < argc || o->port == 0)
        die("%s", optind < argc ? "unexpected argument" : "--port is required (see --help)");
    if (o->sources == 0)
        o->sources = 1 + o->subscribers / 10000;
    if (o->timeout == 0)
        o->timeout = ramp_bound(o) + o->settle + o->duration + o->drain + 30;
}

/* ------------------------------------------------------------------ clock */

static uint64_t clock_ns(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Scheduling uses the monotonic clock; only event timestamps use wall time. */
static double now_s(void)
{
    return (double)clock_ns(CLOCK_MONOTONIC) / 1e9;
}

/* ------------------------------------------------------------ bit sets */

/* A growable bit set, indexed by per-topic sequence number. */
struct bits {
    uint64_t *w;
    size_t nwords;
};

static int bits_grow(struct bits *b, uint64_t bit)
{
    size_t need = (size_t)(bit / 64) + 1;
    if (need <= b->nwords)
        return 0;
    size_t n = b->nwords ? b->nwords : 2;
    while (n < need)
        n *= 2;
    uint64_t *w = realloc(b->w, n * sizeof *w);
    if (!w)
        return -1;
    memset(w + b->nwords, 0, (n - b->nwords) * sizeof *w);
    b->w = w;
    b->nwords = n;
    return 0;
}

static int bits_test(const struct bits *b, uint64_t bit)
{
    return bit / 64 < b->nwords && (b->w[bit / 64] >> (bit % 64) & 1);
}

static int bits_set(struct bits *b, uint64_t bit)
{
    if (bits_grow(b, bit) != 0)
        return -1;
    b->w[bit / 64] |= (uint64_t)1 << (bit % 64);
    return 0;
}

static uint64_t word_or_zero(const struct bits *b, size_t i)
{
    return i < b->nwords ? b->w[i] : 0;
}

/* ---------------------------------------------------------------- state */

enum conn_kind { CONN_SUB, CONN_PUB };

/* The head of both connection kinds: epoll hands back a pointer to it. */
struct conn {
    enum conn_kind kind;
    int fd;
};

enum sub_state { SUB_IDLE, SUB_CONNECTING, SUB_HEAD, SUB_OPEN, SUB_FAILED, SUB_ENDED };

struct sub {
    struct conn c;
    enum sub_state state;
    unsigned topic;
    struct http_resp http;
    struct sse_lines sse;
    int ev_data;             /* the event being parsed has a data field */
    int ev_ok;               /* ... and it was ours: sequence number and timestamp */
    uint64_t ev_seq, ev_sent_ns;
    struct bits seen;        /* per-topic sequence numbers received */
    uint64_t dups;
};

enum pub_state { PUB_DOWN, PUB_CONNECTING, PUB_IDLE, PUB_BUSY };

struct pub {
    struct conn c;
    enum pub_state state;
    struct http_resp http;
    unsigned topic;          /* the event in flight */
    uint64_t seq;
    uint64_t sent_ns;        /* the publish time written into its data */
    char *req;               /* the request being written */
    size_t req_len, req_off;
};

struct topic_state {
    uint64_t next_seq;       /* sequence numbers start at 0 */
    uint64_t ok;             /* publishes answered 2xx */
    unsigned subscribed;     /* subscribers that got their 200 */
    struct bits accepted;    /* which sequence numbers were answered 2xx */
};

struct accepted_pub {
    unsigned topic;
    uint64_t seq, sent_ns, answered_ns;
};

struct mem_sample {
    long rss_kib[MAX_MEM_GROUPS];
    long cpu_ticks[MAX_MEM_GROUPS];
};

enum phase { PH_RAMP, PH_SETTLE, PH_PUBLISH, PH_DRAIN, PH_DONE };

struct counters {
    unsigned launched, connecting, subscribed, fail_connect, fail_status, fail_closed,
        fail_timeout, ended_early;
    int last_bad_status;
    uint64_t published_ok, pub_failed, pub_sent, pub_reconnects;
    uint64_t received, dups, foreign;
    double t_ramp_start, t_first_sub, t_last_sub;
    double t_pub_start, t_pub_end, t_last_rx;
    uint64_t expected_live; /* sum over accepted publishes of that topic's subscribers */
    uint64_t pub_unanswered; /* publishes still waiting for their answer at the end */
    int drain_timed_out;     /* events were still missing when the drain window closed */
    double cpu_pub_start, cpu_pub_end; /* this client's CPU seconds at publish start and end */
    uint64_t reads_pub_start;          /* reads before the publish phase (the heads) */
};

struct run {
    struct options o;
    int ep;
    struct sockaddr_in server;
    struct sub *subs;
    struct pub pubs[MAX_PUB_CONNS];
    struct topic_state *topics;
    char **topic_names;
    const char *token;
    struct accepted_pub *accepted; /* with --accepted-out: every accepted publish */
    size_t naccepted, accepted_cap;
    struct latency lat;      /* arrival (kernel timestamp) minus publish time */
    struct latency lat_read; /* this client's read() minus publish time */
    struct latency lag;      /* read() minus arrival: this client's own delay */
    struct latency pub_rtt;  /* publish sent to its 2xx answer: what a publisher waits */
    uint64_t kernel_stamps;  /* reads that carried an arrival timestamp */
    int warned_stamps;
    uint64_t reads;
    struct counters n;
    uint64_t rx_ns;      /* arrival of the read being parsed (kernel), else its read time */
    uint64_t rx_read_ns; /* wall time at which this client's recv() returned */
    double rx_mono;
    enum phase phase;
    double t_start, t_phase, t_next_sample;
    struct mem_sample base, idle, peak, settle_start, busy_start, busy_end;
    char readbuf[READ_BUF];
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* --------------------------------------------------------- /proc readings */

/* VmRSS of one process in KiB, -1 if it is gone. */
static long read_rss_kib(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* utime + stime of one process (all its threads), in clock ticks. */
static long read_cpu_ticks(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces: fields count from the last ')'. */
    const char *p = strrchr(buf, ')');
    unsigned long ut, st;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (long)(ut + st);
}

static void sample(const struct options *o, struct mem_sample *s)
{
    for (unsigned g = 0; g < o->nmem; g++) {
        s->rss_kib[g] = 0;
        s->cpu_ticks[g] = 0;
        for (unsigned i = 0; i < o->mem[g].npids; i++) {
            long kib = read_rss_kib(o->mem[g].pids[i]);
            long ticks = read_cpu_ticks(o->mem[g].pids[i]);
            s->rss_kib[g] += kib > 0 ? kib : 0;
            s->cpu_ticks[g] += ticks > 0 ? ticks : 0;
        }
    }
}

static void keep_peak(const struct options *o, struct mem_sample *peak, const struct mem_sample *s)
{
    for (unsigned g = 0; g < o->nmem; g++)
        if (s->rss_kib[g] > peak->rss_kib[g])
            peak->rss_kib[g] = s->rss_kib[g];
}

/* ------------------------------------------------------------- sockets */

static int nonblocking_socket(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/*
 * Binds to 127.0.0.(1 + k) without taking a port yet
 * (IP_BIND_ADDRESS_NO_PORT): connect() then picks a port unique for the
 * whole 4-tuple, so each source address adds a full ephemeral port range.
 */
static int bind_source(int fd, unsigned k)
{
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET };
    a.sin_addr.s_addr = htonl((127u << 24) + 1 + k);
    return bind(fd, (struct sockaddr *)&a, sizeof a);
}

/* Starts a non-blocking connect; 0 when under way (or done), -1 on failure. */
static int start_connect(struct run *r, struct conn *c, unsigned source)
{
    c->fd = nonblocking_socket();
    if (c->fd < 0)
        return -1;
    if (r->o.sources > 1 && bind_source(c->fd, source % r->o.sources) != 0)
        goto fail;
    if (connect(c->fd, (struct sockaddr *)&r->server, sizeof r->server) != 0 &&
        errno != EINPROGRESS)
        goto fail;
    /* Edge-triggered: every read loops until EAGAIN, and the one EPOLLOUT
     * edge after the connect completes is all the writing side needs. */
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c };
    if (epoll_ctl(r->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
        goto fail;
    return 0;
fail:
    close(c->fd);
    c->fd = -1;
    return -1;
}

static void close_conn(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd); /* closing also removes it from the epoll set */
    c->fd = -1;
}

static int connect_failed(int fd)
{
    int err = 0;
    socklen_t len = sizeof err;
    return getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0;
}

/* Writes all of buf or reports why not; a short write on a fresh loopback
 * socket (an empty send buffer) does not happen with requests this small. */
static int write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---------------------------------------------------------- subscribers */

/* Expects `lit` then decimal digits at *p; advances past them. */
static int take_number(const char **p, const char *end, const char *lit, uint64_t *out)
{
    size_t n = strlen(lit);
    if ((size_t)(end - *p) < n || memcmp(*p, lit, n) != 0)
        return -1;
    const char *q = *p + n;
    uint64_t v = 0;
    const char *digits = q;
    while (q < end && *q >= '0' && *q <= '9')
        v = v * 10 + (uint64_t)(*q++ - '0');
    if (q == digits)
        return -1;
    *p = q;
    *out = v;
    return 0;
}

/*
 * "data: {"s":12,"t":1732000000000000000,"p":"xxx"}": our own events. By
 * hand rather than sscanf: at 100,000 events/s the client's own cost per
 * event is part of every latency it reports.
 */
static int parse_payload(const char *v, size_t n, uint64_t *seq, uint64_t *sent_ns)
{
    const char *p = v, *end = v + n;
    return take_number(&p, end, "{\"s\":", seq) == 0 &&
                   take_number(&p, end, ",\"t\":", sent_ns) == 0 ? 0 : -1;
}

static struct run *g_run; /* the SSE callbacks get the subscriber as context */

static void sse_field(void *ctx, const char *name, size_t nlen, const char *value, size_t vlen)
{
    struct sub *s = ctx;
    if (nlen == 4 && memcmp(name, "data", 4) == 0) {
        s->ev_data = 1;
        s->ev_ok = parse_payload(value, vlen, &s->ev_seq, &s->ev_sent_ns) == 0;
    }
}

static void record_event(struct run *r, struct sub *s, uint64_t seq, uint64_t sent_ns)
{
    if (bits_test(&s->seen, seq)) {
        s->dups++;
        r->n.dups++;
        return;
    }
    if (bits_set(&s->seen, seq) != 0)
        die("out of memory");
    uint64_t now = r->rx_ns, read = r->rx_read_ns;
    latency_add(&r->lat, now > sent_ns ? (now - sent_ns) / 1000 : 0);
    latency_add(&r->lat_read, read > sent_ns ? (read - sent_ns) / 1000 : 0);
    latency_add(&r->lag, read > now ? (read - now) / 1000 : 0);
    r->n.received++;
    r->n.t_last_rx = r->rx_mono;
}

static void sse_dispatch(void *ctx)
{
    struct sub *s = ctx;
    if (s->ev_ok)
        record_event(g_run, s, s->ev_seq, s->ev_sent_ns);
    else if (s->ev_data)
        g_run->n.foreign++; /* data, but not an event of ours */
    s->ev_ok = s->ev_data = 0; /* frames without data (retry:) dispatch nothing */
}

static const struct sse_callbacks sse_cb = { sse_field, sse_dispatch };

static void sub_body(void *ctx, const char *bytes, size_t n)
{
    struct sub *s = ctx;
    sse_lines_feed(&s->sse, bytes, n, &sse_cb, s);
}

static void sub_fail(struct run *r, struct sub *s, unsigned *counter)
{
    if (s->state == SUB_CONNECTING || s->state == SUB_HEAD)
        r->n.connecting--;
    (*counter)++;
    s->state = SUB_FAILED;
    close_conn(&s->c);
}

/* The stream ended while we still listened: count it, keep its tally. */
static void sub_end(struct run *r, struct sub *s)
{
    if (r->phase != PH_DONE)
        r->n.ended_early++;
    s->state = SUB_ENDED;
    close_conn(&s->c);
}

static void sub_opened(struct run *r, struct sub *s)
{
    s->state = SUB_OPEN;
    r->n.connecting--;
    r->n.subscribed++;
    r->topics[s->topic].subscribed++;
    double t = now_s();
    if (r->n.t_first_sub == 0)
        r->n.t_first_sub = t;
    r->n.t_last_sub = t;
}

static void sub_send_request(struct run *r, struct sub *s)
{
    char path[512], req[768];
    snprintf(path, sizeof path, r->o.sub_path, r->topic_names[s->topic]);
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n"
                     "Cache-Control: no-cache\r\n\r\n", path, r->o.host);
    if (connect_failed(s->c.fd) || write_all(s->c.fd, req, (size_t)n) != 0) {
        sub_fail(r, s, &r->n.fail_connect);
        return;
    }
    s->state = SUB_HEAD;
}

/* Bytes for one subscriber: the head first, then the stream. */
static void sub_bytes(struct run *r, struct sub *s, const char *buf, size_t n)
{
    size_t used = http_resp_feed(&s->http, buf, n, sub_body, s);
    (void)used;
    if (s->state == SUB_HEAD && s->http.state != HTTP_HEAD) {
        if (s->http.status != 200 || s->http.state == HTTP_ERROR) {
            r->n.last_bad_status = s->http.status;
            sub_fail(r, s, &r->n.fail_status);
            return;
        }
        sub_opened(r, s);
    }
    if (s->http.state == HTTP_DONE || s->http.state == HTTP_ERROR)
        sub_end(r, s);
}

/*
 * One recvmsg() that also fetches the kernel's arrival timestamp
 * (SO_TIMESTAMPNS: for TCP, the time the last segment of this read reached
 * the socket). That, not the time this one thread gets round to reading,
 * is when the subscriber had the event: with thousands of sockets ready
 * after one publish, the last one is read tens of milliseconds after its
 * data arrived, and the server that delivers in the fastest burst would
 * pay most for the client's own queue. Returns recv()'s value.
 */
static ssize_t recv_stamped(struct run *r, int fd)
{
    char control[CMSG_SPACE(sizeof(struct timespec))];
    struct iovec iov = { .iov_base = r->readbuf, .iov_len = sizeof r->readbuf };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                          .msg_controllen = sizeof control };
    ssize_t got = recvmsg(fd, &msg, 0);
    if (got <= 0)
        return got;
    r->reads++;
    r->rx_read_ns = clock_ns(CLOCK_REALTIME);
    r->rx_mono = now_s();
    r->rx_ns = r->rx_read_ns;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof ts);
            uint64_t at = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
            if (at > 0 && at <= r->rx_read_ns) {
                r->rx_ns = at;
                r->kernel_stamps++;
            }
        }
    }
    return got;
}

/*
 * Edge-triggered, yet no read until EAGAIN: a short read means the socket
 * was empty at that moment, and bytes arriving later raise a new edge. That
 * saves one recv per event, 2 us here (syscalls are slow on this VM), which
 * would otherwise show up in the latency of every event after it. A hang-up
 * is read to the end, since no further edge will come.
 */
static void sub_readable(struct run *r, struct sub *s, int hangup)
{
    for (;;) {
        ssize_t got = recv_stamped(r, s->c.fd);
        if (got > 0) {
            sub_bytes(r, s, r->readbuf, (size_t)got);
            if (s->c.fd < 0 || ((size_t)got < sizeof r->readbuf && !hangup))
                return;
            continue;
        }
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        /* EOF or a reset */
        if (s->state == SUB_OPEN)
            sub_end(r, s);
        else
            sub_fail(r, s, &r->n.fail_closed);
        return;
    }
}

static void sub_event(struct run *r, struct sub *s, uint32_t events)
{
    if (s->state == SUB_CONNECTING && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
        sub_send_request(r, s);
    if (s->c.fd >= 0 && s->state != SUB_CONNECTING &&
        (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        sub_readable(r, s, (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
}

static void launch_sub(struct run *r)
{
    unsigned i = r->n.launched++;
    struct sub *s = &r->subs[i];
    s->c.kind = CONN_SUB;
    s->topic = i % r->o.topics;
    http_resp_init(&s->http);
    if (sse_lines_init(&s->sse, r->o.event_size + 256) != 0)
        die("out of memory");
    s->state = SUB_CONNECTING;
    r->n.connecting++;
    if (start_connect(r, &s->c, i) != 0) {
        sub_fail(r, s, &r->n.fail_connect);
        return;
    }
    /* Arrival timestamps (recv_stamped); without them the read time is used. */
    int one = 1;
    if (setsockopt(s->c.fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) != 0 &&
        !r->warned_stamps) {
        r->warned_stamps = 1;
        fprintf(stderr, "sse-load: SO_TIMESTAMPNS: %s; latency is read time\n", strerror(errno));
    }
}

/* Launches as many subscriptions as the ramp rate and the in-flight cap allow. */
static void ramp(struct run *r, double now)
{
    unsigned target = r->o.subscribers;
    if (r->o.ramp > 0) {
        double due = (now - r->n.t_ramp_start) * r->o.ramp + 1;
        if (due < target)
            target = (unsigned)due;
    }
    while (r->n.launched < target && r->n.connecting < r->o.max_connecting)
        launch_sub(r);
}

/* ------------------------------------------------------------ publishers */

static size_t url_encode(char *out, const char *in, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            out[k++] = (char)c;
        } else {
            out[k++] = '%';
            out[k++] = hex[c >> 4];
            out[k++] = hex[c & 15];
        }
    }
    return k;
}

/* The event's data: {"s":SEQ,"t":NS,"p":"xxx..."} padded to event_size bytes. */
static size_t payload(char *out, size_t cap, unsigned size, uint64_t seq, uint64_t sent_ns)
{
    int head = snprintf(out, cap, "{\"s\":%llu,\"t\":%llu,\"p\":\"", (unsigned long long)seq,
                        (unsigned long long)sent_ns);
    size_t n = (size_t)head;
    size_t pad = size > n + 2 ? size - n - 2 : 0;
    memset(out + n, 'x', pad);
    n += pad;
    out[n++] = '"';
    out[n++] = '}';
    return n;
}

static char *build_publish(struct run *r, unsigned topic, uint64_t seq, uint64_t sent_ns,
                           size_t *len)
{
    size_t cap = 3 * (size_t)r->o.event_size + 1024;
    char *data = malloc(r->o.event_size + 128), *body = malloc(cap), *req = malloc(cap + 1024);
    if (!data || !body || !req)
        die("out of memory");
    size_t dn = payload(data, r->o.event_size + 128, r->o.event_size, seq, sent_ns);
    const char *name = r->topic_names[topic];
    char path[512];
    snprintf(path, sizeof path, r->o.pub_path, name);
    size_t bn;
    if (r->o.pub_raw) {
        memcpy(body, data, dn);
        bn = dn;
    } else {
        bn = (size_t)snprintf(body, cap, "topic=%s&data=", name);
        bn += url_encode(body + bn, data, dn);
    }
    char auth[300] = "";
    if (r->token)
        snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", r->token);
    int hn = snprintf(req, 1024,
                      "POST %s HTTP/1.1\r\nHost: %s\r\n%sContent-Type: %s\r\n"
                      "Content-Length: %zu\r\n\r\n", path, r->o.host, auth,
                      r->o.pub_raw ? "application/json" : "application/x-www-form-urlencoded",
                      bn);
    memcpy(req + hn, body, bn);
    *len = (size_t)hn + bn;
    free(data);
    free(body);
    return req;
}

static void pub_connect(struct run *r, struct pub *p)
{
    p->c.kind = CONN_PUB;
    p->state = PUB_CONNECTING;
    if (start_connect(r, &p->c, (unsigned)(p - r->pubs)) != 0)
        p->state = PUB_DOWN;
}

/* Puts the request on the wire; the timestamp inside is taken just before. */
static void pub_write(struct run *r, struct pub *p)
{
    while (p->req_off < p->req_len) {
        ssize_t w = send(p->c.fd, p->req + p->req_off, p->req_len - p->req_off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return; /* EPOLLOUT resumes it */
        if (w <= 0) {
            r->n.pub_failed++;
            p->state = PUB_DOWN;
            close_conn(&p->c);
            return;
        }
        p->req_off += (size_t)w;
    }
}

static void pub_send(struct run *r, struct pub *p, unsigned topic)
{
    struct topic_state *t = &r->topics[topic];
    p->topic = topic;
    p->seq = t->next_seq++;
    free(p->req);
    p->sent_ns = clock_ns(CLOCK_REALTIME); /* just before it goes on the wire */
    p->req = build_publish(r, topic, p->seq, p->sent_ns, &p->req_len);
    p->req_off = 0;
    http_resp_init(&p->http);
    p->state = PUB_BUSY;
    r->n.pub_sent++;
    pub_write(r, p);
}

static void note_accepted(struct run *r, const struct pub *p, uint64_t answered_ns)
{
    if (!r->o.accepted_out)
        return;
    if (r->naccepted == r->accepted_cap) {
        size_t cap = r->accepted_cap ? 2 * r->accepted_cap : 4096;
        struct accepted_pub *a = realloc(r->accepted, cap * sizeof *a);
        if (!a)
            die("out of memory");
        r->accepted = a;
        r->accepted_cap = cap;
    }
    r->accepted[r->naccepted++] = (struct accepted_pub){ p->topic, p->seq, p->sent_ns, answered_ns };
}

/* Written whole under a temporary name, then renamed: sse-probe polls for it. */
static void write_accepted(const struct run *r)
{
    if (!r->o.accepted_out)
        return;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", r->o.accepted_out);
    FILE *f = fopen(tmp, "w");
    if (!f)
        die("--accepted-out %s: %s", tmp, strerror(errno));
    for (size_t i = 0; i < r->naccepted; i++)
        fprintf(f, "%u %llu %llu %llu\n", r->accepted[i].topic,
                (unsigned long long)r->accepted[i].seq, (unsigned long long)r->accepted[i].sent_ns,
                (unsigned long long)r->accepted[i].answered_ns);
    if (fclose(f) != 0 || rename(tmp, r->o.accepted_out) != 0)
        die("--accepted-out %s: %s", r->o.accepted_out, strerror(errno));
}

static void pub_answered(struct run *r, struct pub *p)
{
    struct topic_state *t = &r->topics[p->topic];
    if (p->http.state == HTTP_DONE && p->http.status >= 200 && p->http.status < 300) {
        if (bits_set(&t->accepted, p->seq) != 0)
            die("out of memory");
        t->ok++;
        r->n.published_ok++;
        uint64_t now = clock_ns(CLOCK_REALTIME);
        note_accepted(r, p, now);
        latency_add(&r->pub_rtt, now > p->sent_ns ? (now - p->sent_ns) / 1000 : 0);
        r->n.expected_live += t->subscribed;
    } else {
        r->n.pub_failed++;
        if (r->n.pub_failed <= 3)
            fprintf(stderr, "sse-load: publish answered %d\n", p->http.status);
    }
    p->state = PUB_IDLE;
    if (p->http.close || p->http.state != HTTP_DONE) {
        close_conn(&p->c);
        p->state = PUB_DOWN;
    }
}

static void pub_readable(struct run *r, struct pub *p)
{
    for (;;) {
        ssize_t got = recv(p->c.fd, r->readbuf, sizeof r->readbuf, 0);
        if (got > 0) {
            if (p->state == PUB_BUSY) {
                http_resp_feed(&p->http, r->readbuf, (size_t)got, NULL, NULL);
                if (p->http.state == HTTP_DONE || p->http.state == HTTP_ERROR)
                    pub_answered(r, p);
            }
            if (p->c.fd < 0)
                return;
            continue;
        }
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        /* Closed: keep-alive ended (nginx's keepalive_requests) or an error. */
        if (p->state == PUB_BUSY)
            r->n.pub_failed++;
        close_conn(&p->c);
        p->state = PUB_DOWN;
        return;
    }
}

static void pub_event(struct run *r, struct pub *p, uint32_t events)
{
    if (p->state == PUB_CONNECTING && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        if (connect_failed(p->c.fd)) {
            close_conn(&p->c);
            p->state = PUB_DOWN;
            return;
        }
        p->state = PUB_IDLE;
    }
    if (p->state == PUB_BUSY && (events & EPOLLOUT))
        pub_write(r, p);
    if (p->c.fd >= 0 && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        pub_readable(r, p);
}

/* The publishes due by now; a connection with one in flight is not reused. */
static void publish_due(struct run *r, double now)
{
    uint64_t due = UINT64_MAX;
    if (r->o.rate > 0)
        due = (uint64_t)((now - r->n.t_pub_start) * r->o.rate) + 1;
    int connecting = 0;
    for (unsigned i = 0; i < r->o.pub_conns && r->n.pub_sent < due; i++) {
        struct pub *p = &r->pubs[i];
        if (p->state == PUB_DOWN) {
            r->n.pub_reconnects++; /* nginx ended keep-alive, or a failure */
            pub_connect(r, p);
        }
        if (p->state == PUB_IDLE)
            pub_send(r, p, (unsigned)(r->n.pub_sent % r->o.topics));
        connecting |= p->state == PUB_CONNECTING;
    }
    /*
     * A fixed rate is an open loop: when every connection still waits for
     * its answer (nchan answers only after its fan-out, seconds under load),
     * open one more instead of falling behind the rate, so both servers are
     * offered the same events. One at a time, when none is connecting.
     */
    if (r->o.rate > 0 && r->n.pub_sent < due && !connecting && r->o.pub_conns < MAX_PUB_CONNS)
        pub_connect(r, &r->pubs[r->o.pub_conns++]);
}

static unsigned pubs_in_flight(const struct run *r)
{
    unsigned n = 0;
    for (unsigned i = 0; i < r->o.pub_conns; i++)
        n += r->pubs[i].state == PUB_BUSY;
    return n;
}

/* This process's user + system CPU seconds so far. */
static double self_cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

/* ---------------------------------------------------------------- phases */

/* Everything expected is in (counting duplicates-free receipts). */
static int drained(const struct run *r)
{
    return !pubs_in_flight(r) && r->n.received >= r->n.expected_live;
}

static void enter(struct run *r, enum phase ph, double now)
{
    r->phase = ph;
    r->t_phase = now;
    if (ph == PH_SETTLE) {
        sample(&r->o, &r->settle_start);
        /* Publisher connections are ready before the first event is due. */
        for (unsigned i = 0; i < r->o.pub_conns && r->o.duration > 0; i++)
            pub_connect(r, &r->pubs[i]);
        fprintf(stderr, "sse-load: %u subscribed, %u failed, settling\n", r->n.subscribed,
                r->n.launched - r->n.subscribed);
    } else if (ph == PH_PUBLISH) {
        r->n.cpu_pub_start = self_cpu_s();
        r->n.reads_pub_start = r->reads;
        r->busy_start = r->idle;
        r->peak = r->idle;
        r->n.t_pub_start = now;
        r->t_next_sample = now;
    } else if (ph == PH_DRAIN) {
        r->n.t_pub_end = now;
    } else if (ph == PH_DONE) {
        if (r->n.t_pub_start > 0)
            r->n.cpu_pub_end = self_cpu_s();
        r->n.drain_timed_out = r->n.t_pub_end > 0 && !drained(r);
        r->n.pub_unanswered = (uint64_t)pubs_in_flight(r);
        if (r->n.t_pub_end == 0) {
            r->peak = r->idle; /* no publish phase: the idle sample is the peak */
            r->busy_start = r->busy_end = r->idle;
        } else {
            sample(&r->o, &r->busy_end);
        }
        keep_peak(&r->o, &r->peak, &r->busy_end);
    }
}

/* Subscriptions that never got their head in time fail as timeouts. */
static void fail_stragglers(struct run *r)
{
    for (unsigned i = 0; i < r->n.launched; i++) {
        struct sub *s = &r->subs[i];
        if (s->state == SUB_CONNECTING || s->state == SUB_HEAD)
            sub_fail(r, s, &r->n.fail_timeout);
    }
}

static int ramp_done(const struct run *r, double now)
{
    return (r->n.launched == r->o.subscribers && r->n.connecting == 0) ||
           now - r->t_phase > ramp_bound(&r->o);
}

static void advance(struct run *r, double now)
{
    switch (r->phase) {
    case PH_RAMP:
        ramp(r, now);
        if (ramp_done(r, now)) {
            fail_stragglers(r);
            enter(r, PH_SETTLE, now);
        }
        break;
    case PH_SETTLE:
        if (now - r->t_phase >= r->o.settle) {
            sample(&r->o, &r->idle); /* idle memory and CPU, with or without a publish phase */
            enter(r, r->o.duration > 0 ? PH_PUBLISH : PH_DONE, now);
        }
        break;
    case PH_PUBLISH:
        if (now - r->t_phase >= r->o.duration)
            enter(r, PH_DRAIN, now);
        else
            publish_due(r, now);
        break;
    case PH_DRAIN:
        if (drained(r) || now - r->t_phase >= r->o.drain)
            enter(r, PH_DONE, now);
        break;
    case PH_DONE:
        break;
    }
    if ((r->phase == PH_PUBLISH || r->phase == PH_DRAIN) && now >= r->t_next_sample) {
        struct mem_sample s;
        sample(&r->o, &s);
        keep_peak(&r->o, &r->peak, &s);
        r->t_next_sample = now + 0.5;
    }
}

/* How long epoll may sleep: until the next publish or ramp step is due. */
static int wait_ms(const struct run *r)
{
    if (r->phase == PH_PUBLISH && r->o.rate > 0)
        return 1;
    if (r->phase == PH_PUBLISH)
        return 5;
    if (r->phase == PH_RAMP && r->n.launched < r->o.subscribers &&
        r->n.connecting < r->o.max_connecting)
        return 1;
    return 20;
}

static void loop(struct run *r)
{
    struct epoll_event events[512];
    while (r->phase != PH_DONE) {
        double now = now_s();
        if (interrupted || now - r->t_start > r->o.timeout) {
            fprintf(stderr, "sse-load: %s, reporting what was measured\n",
                    interrupted ? "interrupted" : "time bound reached");
            enter(r, PH_DONE, now);
            break;
        }
        advance(r, now);
        int n = epoll_wait(r->ep, events, 512, wait_ms(r));
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (c->fd < 0)
                continue; /* closed earlier in this batch */
            if (c->kind == CONN_SUB)
                sub_event(r, (struct sub *)c, events[i].events);
            else
                pub_event(r, (struct pub *)c, events[i].events);
        }
    }
}

/* ---------------------------------------------------------------- report */

struct tally {
    uint64_t expected, got, missing, unexpected;
};

/* Per subscriber: expected = the accepted publishes of its topic. */
static struct tally tally(const struct run *r)
{
    struct tally t = { 0 };
    for (unsigned i = 0; i < r->n.launched; i++) {
        const struct sub *s = &r->subs[i];
        if (s->state != SUB_OPEN && s->state != SUB_ENDED)
            continue;
        const struct bits *ok = &r->topics[s->topic].accepted;
        size_t words = ok->nwords > s->seen.nwords ? ok->nwords : s->seen.nwords;
        for (size_t w = 0; w < words; w++) {
            uint64_t a = word_or_zero(ok, w), g = word_or_zero(&s->seen, w);
            t.expected += (uint64_t)__builtin_popcountll(a);
            t.got += (uint64_t)__builtin_popcountll(a & g);
            t.missing += (uint64_t)__builtin_popcountll(a & ~g);
            t.unexpected += (uint64_t)__builtin_popcountll(g & ~a);
        }
    }
    return t;
}

static double ms(uint64_t us)
{
    return (double)us / 1000.0;
}

static double cpu_pct(long ticks, double seconds)
{
    return seconds > 0 ? 100.0 * (double)ticks / (double)sysconf(_SC_CLK_TCK) / seconds : 0;
}

static void report_memory(const struct run *r, double idle_s, double busy_s)
{
    for (unsigned g = 0; g < r->o.nmem; g++) {
        const char *name = r->o.mem[g].name;
        long per_sub_b = r->n.subscribed
                             ? (r->idle.rss_kib[g] - r->base.rss_kib[g]) * 1024 /
                                   (long)r->n.subscribed
                             : 0;
        printf("# %s: RSS %ld KiB before, %ld KiB idle with %u streams (%ld B each), "
               "peak %ld KiB; CPU %.0f%% idle, %.0f%% while publishing\n",
               name, r->base.rss_kib[g], r->idle.rss_kib[g], r->n.subscribed, per_sub_b,
               r->peak.rss_kib[g],
               cpu_pct(r->idle.cpu_ticks[g] - r->settle_start.cpu_ticks[g], idle_s),
               cpu_pct(r->busy_end.cpu_ticks[g] - r->busy_start.cpu_ticks[g], busy_s));
    }
}

static void result_memory(const struct run *r, double idle_s, double busy_s)
{
    for (unsigned g = 0; g < r->o.nmem; g++) {
        const char *name = r->o.mem[g].name;
        printf(" %s_rss_base_kib=%ld %s_rss_idle_kib=%ld %s_rss_peak_kib=%ld"
               " %s_cpu_idle_pct=%.1f %s_cpu_busy_pct=%.1f",
               name, r->base.rss_kib[g], name, r->idle.rss_kib[g], name, r->peak.rss_kib[g],
               name, cpu_pct(r->idle.cpu_ticks[g] - r->settle_start.cpu_ticks[g], idle_s),
               name, cpu_pct(r->busy_end.cpu_ticks[g] - r->busy_start.cpu_ticks[g], busy_s));
    }
}

static void report(const struct run *r)
{
    const struct counters *n = &r->n;
    struct tally t = tally(r);
    unsigned failed = n->fail_connect + n->fail_status + n->fail_closed + n->fail_timeout;
    double ramp_s = n->t_last_sub > n->t_first_sub ? n->t_last_sub - n->t_ramp_start : 0;
    double conn_rate = ramp_s > 0 ? n->subscribed / ramp_s : 0;
    double pub_s = n->t_pub_end > n->t_pub_start ? n->t_pub_end - n->t_pub_start : 0;
    double rx_s = n->t_last_rx > n->t_pub_start ? n->t_last_rx - n->t_pub_start : 0;
    double idle_s = r->o.settle;
    unsigned long long cut = 0;
    for (unsigned i = 0; i < r->n.launched; i++)
        cut += r->subs[i].sse.cut;
    double busy_s = (n->t_pub_end > 0 ? now_s() - n->t_pub_start : 0);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double self_cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
                      ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;

    printf("# %s: %u/%u subscribed (%u failed: %u connect, %u status %d, %u closed, "
           "%u timeout), %.0f subscriptions/s; %u streams ended early\n",
           r->o.label, n->subscribed, r->o.subscribers, failed, n->fail_connect,
           n->fail_status, n->last_bad_status, n->fail_closed, n->fail_timeout, conn_rate,
           n->ended_early);
    printf("# published %llu accepted, %llu failed, %llu unanswered, %.1f/s; events %llu/%llu "
           "received, %llu missing%s, %llu duplicated, %llu unexpected\n",
           (unsigned long long)n->published_ok, (unsigned long long)n->pub_failed,
           (unsigned long long)n->pub_unanswered, pub_s > 0 ? n->published_ok / pub_s : 0,
           (unsigned long long)t.got, (unsigned long long)t.expected,
           (unsigned long long)t.missing,
           n->drain_timed_out ? " (still missing when the drain window closed)" : "",
           (unsigned long long)n->dups, (unsigned long long)t.unexpected);
    printf("# latency ms: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f; delivered %.0f events/s; "
           "client CPU %.1f s\n",
           ms(latency_quantile(&r->lat, 0.50)), ms(latency_quantile(&r->lat, 0.90)),
           ms(latency_quantile(&r->lat, 0.99)), ms(r->lat.max_us), rx_s > 0 ? t.got / rx_s : 0,
           self_cpu);
    printf("# latency ms at this client's read(): p50 %.1f  p99 %.1f  max %.1f; its own delay "
           "(read minus arrival) p50 %.1f  p99 %.1f; %llu of %llu reads had an arrival stamp\n",
           ms(latency_quantile(&r->lat_read, 0.50)), ms(latency_quantile(&r->lat_read, 0.99)),
           ms(r->lat_read.max_us), ms(latency_quantile(&r->lag, 0.50)),
           ms(latency_quantile(&r->lag, 0.99)), (unsigned long long)r->kernel_stamps,
           (unsigned long long)r->reads);
    printf("# publish answered after (sent to 2xx) ms: p50 %.1f  p99 %.1f\n",
           ms(latency_quantile(&r->pub_rtt, 0.50)), ms(latency_quantile(&r->pub_rtt, 0.99)));
    report_memory(r, idle_s, busy_s);

    printf("result label=%s subscribers=%u subscribed=%u failed=%u fail_connect=%u "
           "fail_status=%u fail_closed=%u fail_timeout=%u ended_early=%u conn_per_s=%.0f "
           "topics=%u rate=%g duration=%g event_size=%u published=%llu pub_failed=%llu "
           "pub_per_s=%.2f pub_unanswered=%llu pub_reconnects=%llu drain_s=%g drain_timed_out=%d "
           "expected=%llu received=%llu missing=%llu dup=%llu unexpected=%llu "
           "foreign=%llu lines_cut=%llu p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f "
           "delivered_per_s=%.0f client_cpu_s=%.1f",
           r->o.label, r->o.subscribers, n->subscribed, failed, n->fail_connect, n->fail_status,
           n->fail_closed, n->fail_timeout, n->ended_early, conn_rate, r->o.topics, r->o.rate,
           r->o.duration, r->o.event_size, (unsigned long long)n->published_ok,
           (unsigned long long)n->pub_failed, pub_s > 0 ? n->published_ok / pub_s : 0,
           (unsigned long long)n->pub_unanswered, (unsigned long long)n->pub_reconnects,
           r->o.drain, n->drain_timed_out, (unsigned long long)t.expected,
           (unsigned long long)t.got,
           (unsigned long long)t.missing, (unsigned long long)n->dups,
           (unsigned long long)t.unexpected, (unsigned long long)n->foreign, cut,
           ms(latency_quantile(&r->lat, 0.50)), ms(latency_quantile(&r->lat, 0.90)),
           ms(latency_quantile(&r->lat, 0.99)), ms(r->lat.max_us), rx_s > 0 ? t.got / rx_s : 0,
           self_cpu);
    printf(" read_p50_ms=%.2f read_p99_ms=%.2f read_max_ms=%.2f lag_p50_ms=%.2f lag_p99_ms=%.2f"
           " stamped_reads=%llu reads=%llu pub_rtt_p50_ms=%.2f pub_rtt_p99_ms=%.2f"
           " pub_conns_used=%u busy_reads=%llu client_busy_cpu_s=%.2f",
           ms(latency_quantile(&r->lat_read, 0.50)), ms(latency_quantile(&r->lat_read, 0.99)),
           ms(r->lat_read.max_us), ms(latency_quantile(&r->lag, 0.50)),
           ms(latency_quantile(&r->lag, 0.99)), (unsigned long long)r->kernel_stamps,
           (unsigned long long)r->reads, ms(latency_quantile(&r->pub_rtt, 0.50)),
           ms(latency_quantile(&r->pub_rtt, 0.99)), r->o.pub_conns,
           (unsigned long long)(r->reads - r->n.reads_pub_start),
           r->n.cpu_pub_end - r->n.cpu_pub_start);
    result_memory(r, idle_s, busy_s);
    putchar('\n');
}

/* ----------------------------------------------------------------- setup */

/* As many descriptors as the hard limit allows: one per subscriber. */
static void raise_fd_limit(unsigned want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)want + 64)
        fprintf(stderr, "sse-load: the fd limit %llu is below %u subscribers + 64: "
                        "expect failed subscriptions\n", (unsigned long long)rl.rlim_cur, want);
}

static void setup(struct run *r)
{
    struct options *o = &r->o;
    r->server.sin_family = AF_INET;
    r->server.sin_port = htons((uint16_t)o->port);
    if (inet_pton(AF_INET, o->host, &r->server.sin_addr) != 1)
        die("--host: want an IPv4 address, got '%s'", o->host);
    r->subs = calloc(o->subscribers ? o->subscribers : 1, sizeof *r->subs);
    r->topics = calloc(o->topics, sizeof *r->topics);
    r->topic_names = calloc(o->topics, sizeof *r->topic_names);
    if (!r->subs || !r->topics || !r->topic_names)
        die("out of memory");
    for (unsigned t = 0; t < o->topics; t++) {
        size_t len = strlen(o->topic_prefix) + 12;
        r->topic_names[t] = malloc(len);
        if (!r->topic_names[t])
            die("out of memory");
        snprintf(r->topic_names[t], len, "%s%u", o->topic_prefix, t);
    }
    for (unsigned i = 0; i < MAX_PUB_CONNS; i++)
        r->pubs[i].c.fd = -1;
    r->token = getenv("SSE_PUBLISH_TOKEN");
    r->ep = epoll_create1(EPOLL_CLOEXEC);
    if (r->ep < 0)
        die("epoll_create1: %s", strerror(errno));
    raise_fd_limit(o->subscribers + MAX_PUB_CONNS);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
}

static void teardown(struct run *r)
{
    for (unsigned i = 0; i < r->n.launched; i++) {
        close_conn(&r->subs[i].c);
        sse_lines_free(&r->subs[i].sse);
        free(r->subs[i].seen.w);
    }
    for (unsigned i = 0; i < MAX_PUB_CONNS; i++) {
        close_conn(&r->pubs[i].c);
        free(r->pubs[i].req);
    }
    for (unsigned t = 0; t < r->o.topics; t++) {
        free(r->topics[t].accepted.w);
        free(r->topic_names[t]);
    }
    free(r->topics);
    free(r->topic_names);
    free(r->subs);
    free(r->accepted);
    close(r->ep);
}

int main(int argc, char **argv)
{
    static struct run run; /* large (the read buffer, the histogram): not on the stack */
    struct run *r = &run;
    g_run = r;
    parse_options(&r->o, argc, argv);
    setup(r);
    for (unsigned i = 0; i < r->o.subscribers; i++)
        r->subs[i].c.fd = -1;
    r->t_start = now_s();
    sample(&r->o, &r->base);
    r->n.t_ramp_start = r->t_start;
    enter(r, PH_RAMP, r->t_start);
    loop(r);
    write_accepted(r);
    report(r);
    teardown(r);
    return 0;
}
