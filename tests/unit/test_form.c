/* Unit tests for cgi/form.c, cgi/utf8.c and cgi/auth.c: publish input parsing. */
#include "auth.h"
#include "form.h"
#include "tap.h"
#include "utf8.h"

static void decoding(void)
{
    struct form f = FORM_INIT;
    const char *q = "topic=a&topic=b%2Fc&data=x+y%0Az&empty=&flag";
    tap_ok(form_parse(&f, q, strlen(q)) == FORM_OK && f.count == 5, "a query string splits into fields");
    tap_ok(form_count(&f, "topic") == 2, "repeated fields are all kept");
    const struct form_field *t = form_get(&f, "topic", 1);
    tap_bytes("%2F decodes to a slash", t->value, t->value_len, "b/c");
    const struct form_field *d = form_get(&f, "data", 0);
    tap_bytes("+ is a space and %0A a line feed", d->value, d->value_len, "x y\nz");
    tap_ok(form_get(&f, "empty", 0)->value_len == 0 && form_get(&f, "flag", 0)->value_len == 0,
           "a field without a value is empty");
    form_free(&f);
    const char *nul = "id=a%00b";
    form_parse(&f, nul, strlen(nul));
    tap_ok(f.fields[0].value_len == 3 && f.fields[0].value[1] == '\0',
           "%00 decodes to a NUL byte that the length keeps");
    form_free(&f);
}

static void refusals(void)
{
    struct form f = FORM_INIT;
    const char *cases[] = { "a=%", "a=%4", "a=%zz", "=x", "%00=x" };
    enum form_status want[] = { FORM_BAD_ESCAPE, FORM_BAD_ESCAPE, FORM_BAD_ESCAPE,
                                FORM_BAD_NAME, FORM_BAD_NAME };
    for (int i = 0; i < 5; i++) {
        char name[64];
        snprintf(name, sizeof name, "'%s' is refused", cases[i]);
        tap_ok(form_parse(&f, cases[i], strlen(cases[i])) == want[i] && f.count == 0, name);
    }
    form_free(&f);
}

static void utf8(void)
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

static void bearer(void)
{
    tap_ok(auth_bearer_ok("Bearer s3cret", "s3cret"), "the right bearer token is accepted");
    tap_ok(auth_bearer_ok("bearer s3cret", "s3cret"), "the scheme is case-insensitive");
    tap_ok(!auth_bearer_ok("Bearer s3cre", "s3cret"), "a prefix of the token is refused");
    tap_ok(!auth_bearer_ok("Bearer s3cretX", "s3cret"), "a longer token is refused");
    tap_ok(!auth_bearer_ok("Basic s3cret", "s3cret"), "another scheme is refused");
    tap_ok(!auth_bearer_ok("Bearer ", ""), "an empty configured token matches nothing");
    tap_ok(!auth_bearer_ok("Bearer x", NULL), "no configured token matches nothing");
}

static void tally(void)
{
    const char *q = "topic=a&&%74opic=b&topic%3Db&topics=c&x&top+ic=d&topic";
    struct form_tally t = form_tally(q, strlen(q), "topic");
    tap_ok(t.fields == 7, "form_tally counts the fields form_parse would add, empty pairs skipped");
    tap_ok(t.named == 3, "form_tally counts the fields whose decoded name matches, and no other");
    t = form_tally("topic=%zz&topic=%", 17, "topic");
    tap_ok(t.fields == 2 && t.named == 2, "form_tally ignores values, even broken ones");
    t = form_tally("%7=a&%7x=b", 10, "topic");
    tap_ok(t.fields == 2 && t.named == 0, "a broken escape in a name matches nothing");
    t = form_tally("", 0, "topic");
    tap_ok(t.fields == 0 && t.named == 0, "an empty text has no fields");
}

int main(void)
{
    decoding();
    refusals();
    utf8();
    bearer();
    tally();
    return tap_done();
}
