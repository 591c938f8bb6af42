/* Unit tests for cgi/form.c: decoding a urlencoded query or body. */
#include "form.h"
#include "tap.h"

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
    tally();
    return tap_done();
}
