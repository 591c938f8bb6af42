#include "config.h"

#include "broker.h"
#include "broker_url.h"
#include "cors.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: sse-worker [options]\n"
    "\n"
    "A FastCGI program that streams Server-Sent Events: GET /events subscribes,\n"
    "POST /publish sends an event to every subscriber of its topics.\n"
    "\n"
    "  -l, --listen ADDR       127.0.0.1:9000 or unix:/path/to.sock; without it the\n"
    "                          FastCGI socket inherited on fd 0 (spawn-fcgi, systemd)\n"
    "      --socket-mode MODE  octal permissions of a unix socket (default 0660)\n"
    "      --backlog N         listen queue length (default 1024)\n"
    "      --heartbeat SEC     comment line after SEC quiet seconds (default 15)\n"
    "      --retry MS          reconnection delay sent to browsers (default 3000)\n"
    "      --tick-ms MS        demo ticker period, 0 turns it off (default 1000)\n"
    "      --history N         events kept for Last-Event-ID replay (default 1000)\n"
    "      --history-bytes BYTES  and at most this many bytes of them; a larger\n"
    "                          event is refused (default 16777216)\n"
    "      --max-streams N     open streams before answering 503 (default 10000)\n"
    "      --threads N         delivery loops, one thread each (default: half the\n"
    "                          online CPUs, at least 1, at most 64)\n"
    "      --publish-wait-ms MS  how long a publish waits for delivery to catch up\n"
    "                          before 503 (default 1000)\n"
    "      --max-topics N      topics per stream and per event (default 16)\n"
    "      --max-body BYTES    largest /publish request body (default 65536)\n"
    "      --public-topics T   comma-separated topics anyone may publish to without\n"
    "                          a token (default: none)\n"
    "      --public-max-body BYTES  body limit for anonymous publishes (default 1024)\n"
    "      --publish-token-file FILE  the bearer token publishers must send; or put\n"
    "                          the token itself in SSE_PUBLISH_TOKEN\n"
    "      --max-requests N    requests read at once (a thread each); past them\n"
    "                          new connections get 503 (default 64)\n"
    "      --request-timeout SEC  longest a request may take to arrive, and any\n"
    "                          read or write of it (default 10)\n"
    "      --cors-origins LIST  origins whose pages may subscribe and publish:\n"
    "                          exact origins (https://app.example:8443,...), which\n"
    "                          may also send cookies, or * for any (no cookies);\n"
    "                          default: none, same origin only\n"
    "      --private-topics T  comma-separated topics that need a subscriber token\n"
    "                          (a JWT); name* for every topic starting with name,\n"
    "                          * for all (default: none)\n"
    "      --jwt-key-file FILE  the HS256 key of those tokens (also accepted by\n"
    "                          /publish); or put the key itself in SSE_JWT_KEY\n"
    "      --auth-cookie NAME  the cookie that may carry the token (default\n"
    "                          mercureAuthorization)\n"
    "      --redis URL         share one event log with every worker that names the\n"
    "                          same Redis: redis://[:password@]host[:port][/db] or\n"
    "                          unix:/path/to/redis.sock (default: none, this\n"
    "                          worker's own history only); env SSE_REDIS_URL\n"
    "      --redis-key NAME    the Redis stream holding the events (default\n"
    "                          sse:events)\n"
    "      --log-level LEVEL   error, warn, info or debug (default info)\n"
    "  -h, --help              this text\n"
    "  -V, --version           the version\n"
    "\n"
    "Each option can also come from the environment as SSE_ and its name in\n"
    "capitals with _ for -: SSE_LISTEN, SSE_MAX_STREAMS, SSE_PUBLISH_TOKEN_FILE, ...\n"
    "Flags win over the environment.\n";

enum { OPT_SOCKET_MODE = 256, OPT_BACKLOG, OPT_HEARTBEAT, OPT_RETRY,
       OPT_TICK_MS, OPT_HISTORY, OPT_LOG_LEVEL, OPT_MAX_STREAMS, OPT_MAX_TOPICS,
       OPT_MAX_BODY, OPT_PUBLIC_TOPICS, OPT_PUBLIC_MAX_BODY, OPT_TOKEN_FILE, OPT_REQUEST_TIMEOUT,
       OPT_MAX_REQUESTS, OPT_CORS_ORIGINS, OPT_PRIVATE_TOPICS, OPT_JWT_KEY_FILE, OPT_AUTH_COOKIE,
       OPT_HISTORY_BYTES, OPT_THREADS, OPT_PUBLISH_WAIT_MS, OPT_REDIS, OPT_REDIS_KEY };

/* Options that take a value come first: each can also be set as SSE_<NAME>. */
static const struct option options[] = {
    { "listen", required_argument, NULL, 'l' },
    { "socket-mode", required_argument, NULL, OPT_SOCKET_MODE },
    { "backlog", required_argument, NULL, OPT_BACKLOG },
    { "heartbeat", required_argument, NULL, OPT_HEARTBEAT },
    { "retry", required_argument, NULL, OPT_RETRY },
    { "tick-ms", required_argument, NULL, OPT_TICK_MS },
    { "history", required_argument, NULL, OPT_HISTORY },
    { "history-bytes", required_argument, NULL, OPT_HISTORY_BYTES },
    { "threads", required_argument, NULL, OPT_THREADS },
    { "publish-wait-ms", required_argument, NULL, OPT_PUBLISH_WAIT_MS },
    { "log-level", required_argument, NULL, OPT_LOG_LEVEL },
    { "max-streams", required_argument, NULL, OPT_MAX_STREAMS },
    { "max-topics", required_argument, NULL, OPT_MAX_TOPICS },
    { "max-body", required_argument, NULL, OPT_MAX_BODY },
    { "public-topics", required_argument, NULL, OPT_PUBLIC_TOPICS },
    { "public-max-body", required_argument, NULL, OPT_PUBLIC_MAX_BODY },
    { "publish-token-file", required_argument, NULL, OPT_TOKEN_FILE },
    { "request-timeout", required_argument, NULL, OPT_REQUEST_TIMEOUT },
    { "max-requests", required_argument, NULL, OPT_MAX_REQUESTS },
    { "cors-origins", required_argument, NULL, OPT_CORS_ORIGINS },
    { "private-topics", required_argument, NULL, OPT_PRIVATE_TOPICS },
    { "jwt-key-file", required_argument, NULL, OPT_JWT_KEY_FILE },
    { "auth-cookie", required_argument, NULL, OPT_AUTH_COOKIE },
    { "redis-url", required_argument, NULL, OPT_REDIS },
    { "redis-key", required_argument, NULL, OPT_REDIS_KEY },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    /* Flags only, past the end of the environment's names: --redis is
     * --redis-url (which alone would be an ambiguous prefix). */
    { "redis", required_argument, NULL, OPT_REDIS },
    { NULL, 0, NULL, 0 },
};

/* SSE_ plus the long option's name in capitals, "-" turned to "_". */
static void env_name(const char *option, char *out, size_t n)
{
    size_t i = (size_t)snprintf(out, n, "SSE_");
    for (; *option && i + 1 < n; option++)
        out[i++] = *option == '-' ? '_' : (char)toupper((unsigned char)*option);
    out[i] = '\0';
}

static int parse_ulong(const char *text, int base, unsigned long min, unsigned long max,
                       unsigned long *out)
{
    char *end;
    errno = 0;
    if (text[0] < '0' || text[0] > '9')
        return -1;
    unsigned long v = strtoul(text, &end, base);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int set_number(struct config *cfg, int opt, const char *val)
{
    unsigned long v;
    switch (opt) {
    case OPT_SOCKET_MODE:
        if (parse_ulong(val, 8, 0, 0777, &v)) return -1;
        cfg->socket_mode = (unsigned)v;
        return 0;
    case OPT_BACKLOG:
        if (parse_ulong(val, 10, 1, INT_MAX, &v)) return -1;
        cfg->backlog = (int)v;
        return 0;
    case OPT_HEARTBEAT:
        if (parse_ulong(val, 10, 1, 3600, &v)) return -1;
        cfg->heartbeat_s = (unsigned)v;
        return 0;
    case OPT_RETRY:
        return parse_ulong(val, 10, 0, 86400000UL, &cfg->retry_ms);
    case OPT_TICK_MS:
        return parse_ulong(val, 10, 0, 86400000UL, &cfg->tick_ms);
    case OPT_HISTORY:
        if (parse_ulong(val, 10, 1, 10000000UL, &v)) return -1;
        cfg->history = (unsigned)v;
        return 0;
    case OPT_HISTORY_BYTES:
        return parse_ulong(val, 10, 1, ULONG_MAX, &cfg->history_bytes);
    case OPT_THREADS:
        if (parse_ulong(val, 10, 1, CONFIG_MAX_THREADS, &v)) return -1;
        cfg->threads = (unsigned)v;
        return 0;
    case OPT_PUBLISH_WAIT_MS:
        return parse_ulong(val, 10, 0, 60000, &cfg->publish_wait_ms);
    case OPT_MAX_STREAMS:
        if (parse_ulong(val, 10, 1, 1000000UL, &v)) return -1;
        cfg->max_streams = (unsigned)v;
        return 0;
    case OPT_MAX_TOPICS:
        if (parse_ulong(val, 10, 1, 1024, &v)) return -1;
        cfg->max_topics = (unsigned)v;
        return 0;
    case OPT_MAX_BODY:
        return parse_ulong(val, 10, 1, 64UL << 20, &cfg->max_body);
    case OPT_PUBLIC_MAX_BODY:
        return parse_ulong(val, 10, 1, 64UL << 20, &cfg->public_max_body);
    case OPT_REQUEST_TIMEOUT:
        if (parse_ulong(val, 10, 1, 3600, &v)) return -1;
        cfg->request_timeout_s = (unsigned)v;
        return 0;
    case OPT_MAX_REQUESTS:
        if (parse_ulong(val, 10, 1, 4096, &v)) return -1;
        cfg->max_requests = (unsigned)v;
        return 0;
    }
    return -1;
}

/* A cookie name is an HTTP token (RFC 6265): no separators, no blanks. */
static int cookie_name_valid(const char *name)
{
    if (!name[0])
        return 0;
    for (const char *p = name; *p; p++)
        if (*p <= ' ' || *p >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", *p))
            return 0;
    return 1;
}

/* The options of cross-origin pages and private topics (cors.h, access.h). */
static int set_access_option(struct config *cfg, int opt, const char *val)
{
    switch (opt) {
    case OPT_CORS_ORIGINS:
        cfg->cors_origins = val;
        return cors_origins_valid(val) ? 0 : -1;
    case OPT_PRIVATE_TOPICS:
        cfg->private_topics = val;
        return 0;
    case OPT_JWT_KEY_FILE:
        cfg->jwt_key_file = val[0] ? val : NULL;
        return 0;
    case OPT_AUTH_COOKIE:
        cfg->auth_cookie = val;
        return cookie_name_valid(val) ? 0 : -1;
    }
    return 1; /* not one of these */
}

/* A stream key: printable ASCII without blanks, so logs and docs can quote it. */
static int redis_key_valid(const char *key)
{
    if (!key[0] || strlen(key) > 200)
        return 0;
    for (const char *p = key; *p; p++)
        if (*p <= ' ' || *p >= 0x7f)
            return 0;
    return 1;
}

/* The shared event log's options; 1 if opt is not one of them. A bad URL
 * gets its reason in *why (the URL itself is not repeated: it may hold a
 * password). */
static int set_broker_option(struct config *cfg, int opt, const char *val, const char **why)
{
    struct broker_addr addr;
    switch (opt) {
    case OPT_REDIS:
        cfg->redis_url = val[0] ? val : NULL;
        *why = val[0] ? broker_url_parse(val, &addr) : NULL;
        return *why ? -1 : 0;
    case OPT_REDIS_KEY:
        cfg->redis_key = val;
        return redis_key_valid(val) ? 0 : -1;
    }
    return 1;
}

static int set_option(struct config *cfg, int opt, const char *val, const char **why)
{
    int rc = set_access_option(cfg, opt, val);
    if (rc <= 0)
        return rc;
    if ((rc = set_broker_option(cfg, opt, val, why)) <= 0)
        return rc;
    if (opt == 'l') {
        cfg->listen = val[0] ? val : NULL;
        return 0;
    }
    if (opt == OPT_LOG_LEVEL)
        return log_parse_level(val, &cfg->log_level);
    if (opt == OPT_PUBLIC_TOPICS) {
        cfg->public_topics = val;
        return 0;
    }
    if (opt == OPT_TOKEN_FILE) {
        cfg->token_file = val[0] ? val : NULL;
        return 0;
    }
    return set_number(cfg, opt, val);
}

static const char *option_name(int opt)
{
    for (size_t i = 0; options[i].name; i++)
        if (options[i].val == opt)
            return options[i].name;
    return "?";
}

/*
 * One delivery loop per two online CPUs, within 1..CONFIG_MAX_THREADS: the
 * nginx in front does as much per delivered event as the worker (a recv and
 * a writev per stream), so it needs as many cores. On 2 cores one loop
 * delivered 1.8 to 2.4 times what two did (tests/bench/README.md).
 */
static unsigned default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN) / 2;
    return n < 1 ? 1 : n > CONFIG_MAX_THREADS ? CONFIG_MAX_THREADS : (unsigned)n;
}

static void set_defaults(struct config *cfg)
{
    *cfg = (struct config){
        .listen = NULL, .socket_mode = 0660, .backlog = 1024, .heartbeat_s = 15,
        .retry_ms = 3000, .tick_ms = 1000, .history = 1000,
        .history_bytes = 16UL << 20, .threads = default_threads(), .publish_wait_ms = 1000,
        .max_streams = 10000,
        .max_topics = 16, .max_body = 65536, .public_max_body = 1024,
        .public_topics = "", .token_file = NULL, .log_level = LOG_INFO,
        .request_timeout_s = 10, .max_requests = 64,
        .cors_origins = "", .private_topics = "", .jwt_key_file = NULL,
        .auth_cookie = "mercureAuthorization",
        .redis_url = NULL, .redis_key = BROKER_DEFAULT_KEY,
    };
}

enum config_result config_load(struct config *cfg, int argc, char **argv,
                               FILE *out, FILE *err)
{
    set_defaults(cfg);
    for (size_t i = 0; options[i].has_arg == required_argument; i++) {
        char name[64];
        env_name(options[i].name, name, sizeof name);
        const char *val = getenv(name), *why = NULL;
        if (val && set_option(cfg, options[i].val, val, &why) != 0) {
            if (why)
                fprintf(err, "sse-worker: invalid %s: %s\n", name, why);
            else
                fprintf(err, "sse-worker: invalid %s=%s\n", name, val);
            return CONFIG_EXIT_USAGE;
        }
    }
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "l:hV", options, NULL)) != -1) {
        if (opt == 'h') {
            fputs(usage, out);
            return CONFIG_EXIT_OK;
        }
        if (opt == 'V') {
            fprintf(out, "sse-worker %s\n", SSE_VERSION);
            return CONFIG_EXIT_OK;
        }
        const char *why = NULL;
        if (opt == '?' || set_option(cfg, opt, optarg, &why) != 0) {
            if (why)
                fprintf(err, "sse-worker: invalid --%s: %s\n", option_name(opt), why);
            else if (opt != '?')
                fprintf(err, "sse-worker: invalid --%s %s\n", option_name(opt), optarg);
            fputs("Try 'sse-worker --help'.\n", err);
            return CONFIG_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(err, "sse-worker: unexpected argument '%s'\nTry 'sse-worker --help'.\n",
                argv[optind]);
        return CONFIG_EXIT_USAGE;
    }
    return CONFIG_RUN;
}
