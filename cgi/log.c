#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static enum log_level threshold = LOG_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

/* One formatted line, newline included. */
#define LOG_LINE_MAX 1024
/* Lines waiting for the writer; past this they are dropped and counted. */
#define LOG_QUEUE_LINES 512
/* How long log_stop() lets the writer empty the queue. */
#define LOG_STOP_MS 1000

struct log_line {
    size_t len;
    char text[LOG_LINE_MAX];
};

/*
 * Lines are queued by whoever logs (the delivery loop, the accept thread,
 * request threads) and written to stderr by one writer thread. stderr may
 * be a pipe to a log collector that has stopped reading: a write() there
 * blocks, and it must block nobody but the writer. The queue is a ring of
 * slots: producers fill the slot after the last queued one, under the lock;
 * the writer writes the queued slots without the lock (nobody else touches
 * them until it moves head past them).
 */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t more;          /* a line was queued, or stopping */
    pthread_cond_t empty;         /* the queue was emptied */
    struct log_line *ring;        /* NULL: no writer, lines go straight out */
    unsigned head, count;
    int stopping;
    pthread_t writer;
    unsigned long dropped_unreported;
    atomic_ullong dropped;        /* ever, for /stats */
} q = { .lock = PTHREAD_MUTEX_INITIALIZER, .more = PTHREAD_COND_INITIALIZER };

void log_set_level(enum log_level level)
{
    threshold = level;
}

int log_parse_level(const char *name, enum log_level *out)
{
    for (int i = LOG_ERROR; i <= LOG_DEBUG; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

unsigned long long log_dropped(void)
{
    return atomic_load(&q.dropped);
}

/* Writes it all, or gives up on an error other than EINTR. */
static int write_all(struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(STDERR_FILENO, iov, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

static size_t format_line(char *line, enum log_level level, const char *fmt, va_list ap)
{
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(line, LOG_LINE_MAX, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, LOG_LINE_MAX - n, ".%03ldZ %-5s ",
                          now.tv_nsec / 1000000L, level_names[level]);
    int body = vsnprintf(line + n, LOG_LINE_MAX - n - 1, fmt, ap);
    if (body > 0)
        n += (size_t)body < LOG_LINE_MAX - n - 1 ? (size_t)body : LOG_LINE_MAX - n - 2;
    for (size_t i = 0; i < n; i++) /* one event, one line, whatever the text */
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[n++] = '\n';
    return n;
}

/* The writer, after a write got through: says how many lines were lost. */
static void report_dropped(void)
{
    pthread_mutex_lock(&q.lock);
    unsigned long lost = q.dropped_unreported;
    q.dropped_unreported = 0;
    pthread_mutex_unlock(&q.lock);
    if (lost > 0)
        log_warn("%lu log lines dropped: stderr was not taking them", lost);
}

static void *writer_thread(void *arg)
{
    (void)arg;
    /* Cancelled only inside write(), by log_stop() when stderr never drains. */
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    pthread_mutex_lock(&q.lock);
    for (;;) {
        while (q.count == 0 && !q.stopping)
            pthread_cond_wait(&q.more, &q.lock);
        if (q.count == 0)
            break;
        /* The queued slots up to the end of the ring, in one writev. */
        struct iovec iov[64];
        unsigned n = 0;
        while (n < q.count && n < 64 && q.head + n < LOG_QUEUE_LINES) {
            iov[n].iov_base = q.ring[q.head + n].text;
            iov[n].iov_len = q.ring[q.head + n].len;
            n++;
        }
        pthread_mutex_unlock(&q.lock);
        pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
        int ok = write_all(iov, (int)n) == 0;
        pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
        if (ok)
            report_dropped();
        pthread_mutex_lock(&q.lock);
        q.head = (q.head + n) % LOG_QUEUE_LINES;
        q.count -= n;
        if (!ok) {
            q.dropped_unreported += n;
            atomic_fetch_add(&q.dropped, n);
        }
        if (q.count == 0)
            pthread_cond_broadcast(&q.empty);
    }
    pthread_mutex_unlock(&q.lock);
    return NULL;
}

int log_start(void)
{
    struct log_line *ring = malloc(LOG_QUEUE_LINES * sizeof *ring);
    pthread_condattr_t cattr;
    if (!ring || pthread_condattr_init(&cattr) != 0) {
        free(ring);
        return -1;
    }
    pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
    pthread_cond_init(&q.empty, &cattr);
    pthread_condattr_destroy(&cattr);
    pthread_mutex_lock(&q.lock);
    q.ring = ring;
    q.head = q.count = 0;
    q.stopping = 0;
    int rc = pthread_create(&q.writer, NULL, writer_thread, NULL);
    if (rc != 0)
        q.ring = NULL;
    pthread_mutex_unlock(&q.lock);
    if (rc != 0) {
        free(ring);
        pthread_cond_destroy(&q.empty);
        return -1;
    }
    return 0;
}

void log_stop(void)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += LOG_STOP_MS / 1000;
    pthread_mutex_lock(&q.lock);
    if (!q.ring) {
        pthread_mutex_unlock(&q.lock);
        return;
    }
    q.stopping = 1;
    pthread_cond_signal(&q.more);
    while (q.count > 0 && pthread_cond_timedwait(&q.empty, &q.lock, &until) != ETIMEDOUT)
        ;
    int stuck = q.count > 0;
    pthread_mutex_unlock(&q.lock);
    /* A writer still blocked in write() would hold the exit for ever. */
    if (stuck)
        pthread_cancel(q.writer);
    pthread_join(q.writer, NULL);
    pthread_mutex_lock(&q.lock);
    free(q.ring);
    q.ring = NULL;
    pthread_mutex_unlock(&q.lock);
    pthread_cond_destroy(&q.empty);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level > threshold)
        return;
    char line[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    size_t n = format_line(line, level, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&q.lock);
    if (!q.ring) {
        /* Before log_start() and after log_stop(): only this thread runs. */
        pthread_mutex_unlock(&q.lock);
        struct iovec iov = { line, n };
        write_all(&iov, 1);
        return;
    }
    if (q.count < LOG_QUEUE_LINES) {
        struct log_line *slot = &q.ring[(q.head + q.count) % LOG_QUEUE_LINES];
        memcpy(slot->text, line, n);
        slot->len = n;
        if (q.count++ == 0)
            pthread_cond_signal(&q.more);
    } else {
        q.dropped_unreported++;
        atomic_fetch_add(&q.dropped, 1);
    }
    pthread_mutex_unlock(&q.lock);
}
