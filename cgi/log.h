/*
 * log: one line per event on stderr, with a level. Between log_start() and
 * log_stop() lines are queued (a bounded queue) and written by a thread of
 * their own, so that a stderr nobody reads blocks no one: lines that do not
 * fit are dropped and counted, and the count is logged once stderr takes
 * lines again. Each line is written whole, so lines never interleave.
 */
#ifndef SSE_LOG_H
#define SSE_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Set once in main() before any thread starts; read-only afterwards. */
void log_set_level(enum log_level level);
/* Parses "error", "warn", "info" or "debug"; returns -1 for anything else. */
int log_parse_level(const char *name, enum log_level *out);

/* Starts the writer thread (0), or returns -1: lines then go straight out. */
int log_start(void);
/* Writes what is queued (waiting at most a second for stderr), then stops
 * the writer; later lines go straight out again. */
void log_stop(void);
/* Lines dropped so far because the queue was full or stderr failed. */
unsigned long long log_dropped(void);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
