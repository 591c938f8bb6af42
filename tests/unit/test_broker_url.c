/* Unit tests for cgi/broker_url.c: the --redis URL. */
#include "broker_url.h"
#include "tap.h"

static void good(void)
{
    struct broker_addr a;
    tap_ok(!broker_url_parse("redis://localhost", &a) && !a.is_unix &&
           strcmp(a.host, "localhost") == 0 && a.port == 6379 && a.db == 0 && !a.has_password,
           "a bare host gets port 6379, database 0, no password");
    tap_ok(!broker_url_parse("redis://127.0.0.1:6380/3", &a) && strcmp(a.host, "127.0.0.1") == 0 &&
           a.port == 6380 && a.db == 3, "port and database are read");
    tap_ok(!broker_url_parse("redis://:s%40cret@redis:7000", &a) && a.has_password &&
           strcmp(a.password, "s@cret") == 0 && a.user[0] == '\0' && a.port == 7000,
           "a password alone, %-escaped");
    tap_ok(!broker_url_parse("redis://app:pw@h/", &a) && strcmp(a.user, "app") == 0 &&
           strcmp(a.password, "pw") == 0 && a.db == 0, "user and password; a bare / is database 0");
    tap_ok(!broker_url_parse("redis://[::1]:6390", &a) && strcmp(a.host, "::1") == 0 &&
           a.port == 6390, "an IPv6 address in brackets");
    tap_ok(!broker_url_parse("unix:/run/redis/redis.sock", &a) && a.is_unix &&
           strcmp(a.path, "/run/redis/redis.sock") == 0, "a unix socket path");
    char text[400];
    broker_url_parse("redis://:hunter2@h:1/2", &a);
    broker_url_describe(&a, text, sizeof text);
    tap_ok(strstr(text, "hunter2") == NULL && strcmp(text, "redis://:***@h:1/2") == 0,
           "the description for logs hides the password");
}

static void bad(void)
{
    const char *urls[] = {
        "", "localhost:6379", "http://h", "redis://", "redis://:6379", "redis://h:0",
        "redis://h:65536", "redis://h:12x", "redis://h/x", "redis://h/1/2", "redis://pw@h",
        "redis://:%zz@h", "redis://:a%00b@h", "redis://[::1", "redis://[::1]x", "redis://h?db=1",
        "unix:", "unix:relative.sock", "redis://h h",
    };
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        struct broker_addr a;
        const char *why = broker_url_parse(urls[i], &a);
        char name[120];
        snprintf(name, sizeof name, "'%s' is refused with a reason", urls[i]);
        tap_ok(why && why[0] && !strchr(why, '\n'), name);
    }
}

int main(void)
{
    good();
    bad();
    return tap_done();
}
