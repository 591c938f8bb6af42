/* tap.h: the few lines of TAP output the unit tests need (no framework). */
#ifndef TAP_H
#define TAP_H

#include <stdio.h>
#include <string.h>

static int tap_count, tap_failed;

static inline void tap_ok(int pass, const char *name)
{
    tap_count++;
    if (!pass)
        tap_failed++;
    printf("%sok %d %s\n", pass ? "" : "not ", tap_count, name);
}

/* Compares bytes and shows both sides on failure, escaped. */
static inline void tap_show(const char *label, const char *s, size_t n)
{
    printf("#   %s: \"", label);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') printf("\\n");
        else if (c == '\r') printf("\\r");
        else if (c < 0x20 || c == 0x7f) printf("\\x%02x", c);
        else putchar(c);
    }
    printf("\"\n");
}

/* Compares got with want_len bytes of want (which may hold NUL bytes). */
static inline void tap_mem(const char *name, const char *got, size_t got_len, const char *want,
                    size_t want_len)
{
    int pass = got_len == want_len && (want_len == 0 || memcmp(got, want, want_len) == 0);
    tap_ok(pass, name);
    if (!pass) {
        tap_show("got ", got ? got : "", got ? got_len : 0);
        tap_show("want", want, want_len);
    }
}

static inline void tap_bytes(const char *name, const char *got, size_t got_len, const char *want)
{
    tap_mem(name, got, got_len, want, strlen(want));
}

static inline int tap_done(void)
{
    printf("1..%d\n", tap_count);
    return tap_failed ? 1 : 0;
}

#endif
