/*
 * config_load with fuzzed SSE_* variables and arguments: it never crashes,
 * and either runs with every value in its range and equal to what the
 * environment or the last "--name=value" flag said (flags win), or exits:
 * with a reason on err for a usage error, with help or the version on out.
 *
 * Input: bytes 0-3 say which SSE_* variables are set (a bit each, in the
 * order of the table below); the rest, split at NUL bytes, are their
 * values, then the arguments.
 */
#include <getopt.h>
#include <limits.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

enum kind { NUMBER, OCTAL, PATH, TEXT, LEVEL, TOKEN };

struct option_spec {
    const char *name;
    const char *env;
    enum kind kind;
    unsigned long min, max;
    size_t offset, width; /* the struct config field it sets */
};

#define FIELD(f) offsetof(struct config, f), sizeof(((struct config *)0)->f)

/* The options that take a value, with the ranges config.c accepts. A new
 * option is one more line here. */
static const struct option_spec specs[] = {
    { "listen", "SSE_LISTEN", PATH, 0, 0, FIELD(listen) },
    { "socket-mode", "SSE_SOCKET_MODE", OCTAL, 0, 0777, FIELD(socket_mode) },
    { "backlog", "SSE_BACKLOG", NUMBER, 1, INT_MAX, FIELD(backlog) },
    { "heartbeat", "SSE_HEARTBEAT", NUMBER, 1, 3600, FIELD(heartbeat_s) },
    { "retry", "SSE_RETRY", NUMBER, 0, 86400000UL, FIELD(retry_ms) },
    { "tick-ms", "SSE_TICK_MS", NUMBER, 0, 86400000UL, FIELD(tick_ms) },
    { "history", "SSE_HISTORY", NUMBER, 1, 10000000UL, FIELD(history) },
    { "history-bytes", "SSE_HISTORY_BYTES", NUMBER, 1, ULONG_MAX, FIELD(history_bytes) },
    { "threads", "SSE_THREADS", NUMBER, 1, CONFIG_MAX_THREADS, FIELD(threads) },
    { "publish-wait-ms", "SSE_PUBLISH_WAIT_MS", NUMBER, 0, 60000, FIELD(publish_wait_ms) },
    { "log-level", "SSE_LOG_LEVEL", LEVEL, 0, 0, FIELD(log_level) },
    { "max-streams", "SSE_MAX_STREAMS", NUMBER, 1, 1000000UL, FIELD(max_streams) },
    { "max-topics", "SSE_MAX_TOPICS", NUMBER, 1, 1024, FIELD(max_topics) },
    { "max-body", "SSE_MAX_BODY", NUMBER, 1, 64UL << 20, FIELD(max_body) },
    { "public-topics", "SSE_PUBLIC_TOPICS", TEXT, 0, 0, FIELD(public_topics) },
    { "public-max-body", "SSE_PUBLIC_MAX_BODY", NUMBER, 1, 64UL << 20, FIELD(public_max_body) },
    { "publish-token-file", "SSE_PUBLISH_TOKEN_FILE", PATH, 0, 0, FIELD(token_file) },
    { "request-timeout", "SSE_REQUEST_TIMEOUT", NUMBER, 1, 3600, FIELD(request_timeout_s) },
    { "max-requests", "SSE_MAX_REQUESTS", NUMBER, 1, 4096, FIELD(max_requests) },
    { "cors-origins", "SSE_CORS_ORIGINS", TEXT, 0, 0, FIELD(cors_origins) },
    { "private-topics", "SSE_PRIVATE_TOPICS", TEXT, 0, 0, FIELD(private_topics) },
    { "jwt-key-file", "SSE_JWT_KEY_FILE", PATH, 0, 0, FIELD(jwt_key_file) },
    { "auth-cookie", "SSE_AUTH_COOKIE", TOKEN, 0, 0, FIELD(auth_cookie) },
    { "redis-url", "SSE_REDIS_URL", PATH, 0, 0, FIELD(redis_url) },
    { "redis-key", "SSE_REDIS_KEY", TEXT, 0, 0, FIELD(redis_key) },
};
#define NSPECS (sizeof specs / sizeof specs[0])
/* The bytes of the variables' bit mask: one bit per option above. */
#define MASK_BYTES 4
_Static_assert(NSPECS <= 8 * MASK_BYTES, "a mask bit for every option");
#define MAX_ARGS 32

/* The value of a numeric field (unsigned, int or unsigned long). */
static unsigned long number(const struct config *c, const struct option_spec *s)
{
    const char *field = (const char *)c + s->offset;
    if (s->width == sizeof(unsigned long)) {
        unsigned long v;
        memcpy(&v, field, sizeof v);
        return v;
    }
    FUZZ_CHECK(s->width == sizeof(unsigned), "a field of a known width");
    unsigned v; /* a negative int reads as huge: out of range */
    memcpy(&v, field, sizeof v);
    return v;
}

static const char *text(const struct config *c, const struct option_spec *s)
{
    const char *t;
    memcpy(&t, (const char *)c + s->offset, sizeof t);
    return t;
}

/* An inherited SSE_* variable or a stale getopt scan must not leak in. */
static void reset(void)
{
    for (size_t i = 0; i < NSPECS; i++)
        unsetenv(specs[i].env);
    unsetenv("POSIXLY_CORRECT");
    /* glibc keeps its place inside a clustered short option ("-hV") across
     * calls; optind = 0 makes the next getopt start afresh. */
    static char prog[] = "fuzz", *none[] = { prog, NULL };
    optind = 0;
    getopt(1, none, "");
    opterr = 0; /* getopt's own messages would only be noise here */
}

/* What decides option i: the last "--name=value" flag, else its variable. */
static const char *source(size_t i, char **argv, int argc)
{
    const char *src = getenv(specs[i].env);
    size_t n = strlen(specs[i].name);
    for (int a = 1; a < argc; a++)
        if (strncmp(argv[a], "--", 2) == 0 && strncmp(argv[a] + 2, specs[i].name, n) == 0 &&
            argv[a][2 + n] == '=')
            src = argv[a] + 3 + n;
    return src;
}

/* Are all arguments "--name=value" for a full option name? Only then can
 * source() tell which value wins (no abbreviations, no separate values). */
static int plain_flags(char **argv, int argc)
{
    for (int a = 1; a < argc; a++) {
        int known = 0;
        for (size_t i = 0; i < NSPECS && !known; i++) {
            size_t n = strlen(specs[i].name);
            known = strncmp(argv[a], "--", 2) == 0 && strncmp(argv[a] + 2, specs[i].name, n) == 0 &&
                    argv[a][2 + n] == '=';
        }
        if (!known)
            return 0;
    }
    return 1;
}

static void check_run(const struct config *c, char **argv, int argc)
{
    int exact = plain_flags(argv, argc);
    for (size_t i = 0; i < NSPECS; i++) {
        const struct option_spec *s = &specs[i];
        const char *src = exact ? source(i, argv, argc) : NULL;
        if (s->kind == NUMBER || s->kind == OCTAL) {
            unsigned long v = number(c, s);
            FUZZ_CHECK(v >= s->min && v <= s->max, "every number within its range");
            FUZZ_CHECK(!src || v == strtoul(src, NULL, s->kind == OCTAL ? 8 : 10),
                       "the value given is the value used");
        } else if (s->kind == LEVEL) {
            static const char *const names[] = { "error", "warn", "info", "debug" };
            enum log_level level;
            memcpy(&level, (const char *)c + s->offset, sizeof level);
            FUZZ_CHECK(level <= LOG_DEBUG, "a known log level");
            FUZZ_CHECK(!src || strcmp(src, names[level]) == 0, "the level given is used");
        } else if (s->kind == TOKEN) {
            /* RFC 7230's tchar, which RFC 6265 asks of a cookie name. */
            static const char tchar[] = "!#$%&'*+-.^_`|~0123456789"
                                        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
            const char *t = text(c, s);
            FUZZ_CHECK(t && t[0] && strspn(t, tchar) == strlen(t), "a cookie name is a token");
            FUZZ_CHECK(!src || strcmp(src, t) == 0, "the name given is used");
        } else {
            const char *t = text(c, s);
            FUZZ_CHECK(s->kind == PATH ? (!t || t[0] != '\0') : t != NULL,
                       "a path is absent or not empty; topics are a string");
            FUZZ_CHECK(!src || strcmp(src, t ? t : "") == 0, "the text given is used");
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < MASK_BYTES)
        return 0;
    reset();
    unsigned long env_mask = 0;
    for (size_t i = 0; i < MASK_BYTES; i++)
        env_mask = env_mask << 8 | data[i];
    /* A copy with a final NUL, cut into strings at each NUL. */
    size_t len = size - MASK_BYTES;
    char *buf = malloc(len + 1);
    FUZZ_CHECK(buf != NULL, "harness memory");
    memcpy(buf, data + MASK_BYTES, len);
    buf[len] = '\0';
    char *strings[MAX_ARGS + NSPECS];
    size_t nstrings = 0;
    for (char *p = buf; p < buf + len + 1 && nstrings < MAX_ARGS + NSPECS; p += strlen(p) + 1)
        strings[nstrings++] = p;

    size_t used = 0;
    for (size_t i = 0; i < NSPECS && used < nstrings; i++)
        if (env_mask & (1ul << i))
            FUZZ_CHECK(setenv(specs[i].env, strings[used++], 1) == 0, "harness setenv");
    static char prog[] = "sse-worker";
    char *argv[MAX_ARGS + 2] = { prog };
    int argc = 1;
    while (used < nstrings && argc <= MAX_ARGS)
        argv[argc++] = strings[used++];
    argv[argc] = NULL;

    char *out_text = NULL, *err_text = NULL;
    size_t out_len = 0, err_len = 0;
    FILE *out = open_memstream(&out_text, &out_len);
    FILE *err = open_memstream(&err_text, &err_len);
    FUZZ_CHECK(out && err, "harness memory");
    struct config cfg;
    enum config_result r = config_load(&cfg, argc, argv, out, err);
    FUZZ_CHECK(fclose(out) == 0 && fclose(err) == 0, "harness memory");

    if (r == CONFIG_RUN) {
        FUZZ_CHECK(out_len == 0 && err_len == 0, "a good configuration prints nothing");
        check_run(&cfg, argv, argc);
    } else if (r == CONFIG_EXIT_USAGE) {
        FUZZ_CHECK(out_len == 0 && err_len > 0 && err_text[err_len - 1] == '\n',
                   "a usage error says why on err");
    } else {
        FUZZ_CHECK(r == CONFIG_EXIT_OK, "one of the three results");
        FUZZ_CHECK(err_len == 0 && (strncmp(out_text, "usage: ", 7) == 0 ||
                                    strncmp(out_text, "sse-worker ", 11) == 0),
                   "help or version on out");
    }
    free(out_text);
    free(err_text);
    free(buf);
    return 0;
}
