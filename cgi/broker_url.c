#include "broker_url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REDIS_SCHEME "redis://"
#define UNIX_SCHEME "unix:"
#define MAX_DB 1000000UL

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Copies n bytes of in, %XX decoded, into out (cap bytes with the NUL);
 * -1 for a broken escape, a NUL byte or a value too long. */
static int decode(const char *in, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c == '%') {
            if (n - i < 3 || hex_value(in[i + 1]) < 0 || hex_value(in[i + 2]) < 0)
                return -1;
            c = (char)(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
            i += 2;
        }
        if (c == '\0' || o + 1 >= cap)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

/* Digits only, within 1..max (0..max with allow_zero). */
static int parse_number(const char *s, size_t n, unsigned long max, int allow_zero,
                        unsigned long *out)
{
    unsigned long v = 0;
    if (n == 0 || n > 7)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v > max || (v == 0 && !allow_zero))
        return -1;
    *out = v;
    return 0;
}

/* "[user]:password" before the '@'. */
static const char *parse_userinfo(const char *s, size_t n, struct broker_addr *a)
{
    const char *colon = memchr(s, ':', n);
    if (!colon)
        return "a password needs its colon: redis://:password@host";
    size_t ulen = (size_t)(colon - s);
    if (decode(s, ulen, a->user, sizeof a->user) != 0 ||
        decode(colon + 1, n - ulen - 1, a->password, sizeof a->password) != 0)
        return "broken %-escape, NUL or overlong user or password";
    a->has_password = 1;
    return NULL;
}

/* "host[:port]" or "[v6 address][:port]". */
static const char *parse_hostport(const char *s, size_t n, struct broker_addr *a)
{
    const char *end = s + n, *host = s, *host_end, *port = NULL;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close)
            return "an IPv6 address needs its closing ]";
        host = s + 1;
        host_end = close;
        if (close + 1 < end) {
            if (close[1] != ':')
                return "unexpected text after ]";
            port = close + 2;
        }
    } else {
        const char *colon = memchr(s, ':', n);
        host_end = colon ? colon : end;
        port = colon ? colon + 1 : NULL;
    }
    size_t hlen = (size_t)(host_end - host);
    if (hlen == 0)
        return "no host";
    if (hlen >= sizeof a->host)
        return "host name too long";
    memcpy(a->host, host, hlen);
    a->host[hlen] = '\0';
    if (strpbrk(a->host, "@/?#[] \t"))
        return "invalid character in the host";
    a->port = BROKER_DEFAULT_PORT;
    unsigned long p;
    if (port && parse_number(port, (size_t)(end - port), 65535, 0, &p) != 0)
        return "the port is not a number from 1 to 65535";
    if (port)
        a->port = (int)p;
    return NULL;
}

static const char *parse_redis(const char *s, struct broker_addr *a)
{
    size_t n = strcspn(s, "/?#");
    if (s[n] == '?' || s[n] == '#')
        return "query strings and fragments are not supported";
    const char *at = NULL;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '@')
            at = s + i; /* the last one: a password may hold an escaped or bare @ */
    const char *why = at ? parse_userinfo(s, (size_t)(at - s), a) : NULL;
    const char *host = at ? at + 1 : s;
    if (!why)
        why = parse_hostport(host, (size_t)(s + n - host), a);
    if (why || s[n] != '/' || s[n + 1] == '\0')
        return why;
    unsigned long db;
    if (parse_number(s + n + 1, strlen(s + n + 1), MAX_DB, 1, &db) != 0)
        return "the database after / is not a number";
    a->db = (unsigned)db;
    return NULL;
}

const char *broker_url_parse(const char *url, struct broker_addr *out)
{
    struct broker_addr a;
    memset(&a, 0, sizeof a);
    const char *why;
    if (strncmp(url, UNIX_SCHEME, strlen(UNIX_SCHEME)) == 0) {
        const char *path = url + strlen(UNIX_SCHEME);
        a.is_unix = 1;
        if (path[0] != '/')
            why = "unix: needs an absolute socket path, unix:/run/redis/redis.sock";
        else if (strlen(path) >= sizeof a.path)
            why = "socket path too long";
        else {
            strcpy(a.path, path);
            why = NULL;
        }
    } else if (strncmp(url, REDIS_SCHEME, strlen(REDIS_SCHEME)) == 0) {
        why = parse_redis(url + strlen(REDIS_SCHEME), &a);
    } else {
        why = "use redis://[:password@]host[:port][/db] or unix:/path/to/redis.sock";
    }
    if (!why)
        *out = a;
    return why;
}

void broker_url_describe(const struct broker_addr *a, char *out, size_t n)
{
    if (a->is_unix) {
        snprintf(out, n, "unix:%s", a->path);
        return;
    }
    int v6 = strchr(a->host, ':') != NULL;
    snprintf(out, n, "redis://%s%s%s%s%s%s:%d/%u", a->user, a->has_password ? ":***" : "",
             a->has_password ? "@" : "", v6 ? "[" : "", a->host, v6 ? "]" : "", a->port, a->db);
}
