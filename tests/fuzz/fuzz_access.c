/*
 * access: the two string parsers of private topics, against references
 * written here. access_cookie finds a cookie in a Cookie header (RFC 6265
 * 5.4: "; "-separated name=value pairs; the first pair with that name
 * decides; its value without trailing spaces, NULL if it does not fit the
 * buffer, which it never overruns). access_topic_private matches a topic
 * against --private-topics ("a,b", "prefix*", "*").
 *
 * Input: byte 0 picks the function; then strings split at NUL: the header
 * (or the list), the cookie name (or the topic), then for cookies a value
 * to build a header around.
 */
#include <string.h>

#include "access.h"
#include "fuzz.h"

static const char *reference_cookie(const char *header, const char *name, char *buf, size_t n)
{
    size_t name_len = strlen(name);
    const char *pair = header;
    while (*pair) {
        while (*pair == ' ' || *pair == '\t')
            pair++;
        const char *end = strchr(pair, ';');
        size_t len = end ? (size_t)(end - pair) : strlen(pair);
        const char *eq = memchr(pair, '=', len);
        if (eq && (size_t)(eq - pair) == name_len && memcmp(pair, name, name_len) == 0) {
            size_t vlen = len - name_len - 1;
            while (vlen > 0 && eq[vlen] == ' ')
                vlen--;
            if (vlen >= n)
                return NULL;
            memcpy(buf, eq + 1, vlen);
            buf[vlen] = '\0';
            return buf;
        }
        if (!end)
            break;
        pair = end + 1;
    }
    return NULL;
}

static int reference_private(const char *list, const char *topic)
{
    size_t n = strlen(topic);
    for (;;) {
        const char *comma = strchr(list, ',');
        size_t len = comma ? (size_t)(comma - list) : strlen(list);
        if (len > 0 && list[len - 1] == '*') {
            if (strncmp(list, topic, len - 1) == 0 && n >= len - 1)
                return 1;
        } else if (len == n && memcmp(list, topic, n) == 0 && (len > 0 || comma || *list)) {
            return 1;
        }
        if (!comma)
            return 0;
        list = comma + 1;
    }
}

/* Cookie names are tokens (config.c refuses others): RFC 7230's tchar. */
static int token(const char *s)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~0123456789"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    return s[0] && strspn(s, tchar) == strlen(s);
}

static void check_cookie(const char *header, const char *name, const char *value, size_t room)
{
    if (!token(name))
        return;
    char *want = malloc(room), *got = malloc(room); /* exactly room: ASan sees overruns */
    FUZZ_CHECK(want && got, "harness memory");
    const char *w = reference_cookie(header, name, want, room);
    const char *g = access_cookie(header, name, got, room);
    FUZZ_CHECK((g == NULL) == (w == NULL) && (!g || (g == got && strcmp(got, want) == 0)),
               "access_cookie matches the reference");
    FUZZ_CHECK(access_cookie(NULL, name, got, room) == NULL, "no header, no cookie");
    /* A header as a browser sends it, our cookie between two others. */
    if (!strchr(value, ';') &&
        strspn(value, " ") == 0 && (value[0] == '\0' || value[strlen(value) - 1] != ' ')) {
        size_t hn = strlen(name) + strlen(value) + 32;
        char *built = malloc(hn);
        FUZZ_CHECK(built != NULL, "harness memory");
        snprintf(built, hn, "a=1; %s=%s; b=2", name, value);
        if (strcmp(name, "a") != 0) {
            g = access_cookie(built, name, got, room);
            FUZZ_CHECK(strlen(value) >= room ? g == NULL : g && strcmp(g, value) == 0,
                       "the cookie a browser sends is found");
        }
        free(built);
    }
    free(want);
    free(got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    char *buf = malloc(size + 3);
    FUZZ_CHECK(buf != NULL, "harness memory");
    memcpy(buf, data + 2, size - 2);
    memset(buf + size - 2, 0, 5);
    /* Five NULs after the bytes: the three strings always exist. */
    const char *first = buf;
    const char *second = first + strlen(first) + 1;
    const char *third = second + strlen(second) + 1;
    if (data[0] & 1) {
        struct access a = { NULL, 0, first, "c" };
        FUZZ_CHECK(access_topic_private(&a, second) == reference_private(first, second),
                   "access_topic_private matches the reference");
    } else {
        check_cookie(first, second, third, 1 + data[1] % 64);
    }
    free(buf);
    return 0;
}
