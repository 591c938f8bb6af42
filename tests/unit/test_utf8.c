/* Unit tests for cgi/utf8.c: which bytes are valid UTF-8. */
#include "tap.h"
#include "utf8.h"

static void validity(void)
{
    struct { const char *s; size_t n; int ok; const char *name; } cases[] = {
        { "plain", 5, 1, "ASCII is valid UTF-8" },
        { "h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 12, 1, "2, 3 and 4 byte sequences are valid" },
        { "\xff", 1, 0, "0xFF is never UTF-8" },
        { "\xc3", 1, 0, "a truncated sequence is refused" },
        { "\xc0\xaf", 2, 0, "an overlong form is refused" },
        { "\xed\xa0\x80", 3, 0, "a UTF-16 surrogate is refused" },
        { "\xf4\x90\x80\x80", 4, 0, "a code point past U+10FFFF is refused" },
        { "\x80", 1, 0, "a lone continuation byte is refused" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        tap_ok(utf8_valid(cases[i].s, cases[i].n) == cases[i].ok, cases[i].name);
}

int main(void)
{
    validity();
    return tap_done();
}
