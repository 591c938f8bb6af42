/*
 * form_parse against a reference decoder written here, differently: every
 * field's name, value and value_len must match it, names never hold a NUL,
 * a refused input leaves the form as it was, and what was decoded, encoded
 * again, decodes to the same fields. form_tally and topic_list_from_form
 * agree with the reference.
 */
#include <ctype.h>
#include <string.h>

#include "form.h"
#include "fuzz.h"
#include "topic_list.h"

struct ref_field {
    char *name;
    size_t name_len;
    char *value;
    size_t value_len;
};

/* %XX with both X hex digits, "+" a space; -1 for a broken escape. */
static int ref_unescape(const char *s, size_t n, char *out, size_t *out_len)
{
    size_t len = 0;
    const char *end = s + n;
    while (s < end) {
        if (*s == '%') {
            if (end - s < 3 || !isxdigit((unsigned char)s[1]) || !isxdigit((unsigned char)s[2]))
                return -1;
            char hex[3] = { s[1], s[2], '\0' };
            out[len++] = (char)strtoul(hex, NULL, 16);
            s += 3;
        } else {
            out[len++] = *s == '+' ? ' ' : *s;
            s++;
        }
    }
    *out_len = len;
    return 0;
}

/* The status form_parse must answer, and the fields it must add on success. */
static enum form_status reference(const char *text, size_t n, struct ref_field *fields,
                                  size_t *count, char *store)
{
    *count = 0;
    const char *end = text + n;
    const char *pair = text;
    while (pair <= end) {
        const char *amp = memchr(pair, '&', (size_t)(end - pair));
        const char *pair_end = amp ? amp : end;
        if (pair_end > pair) {
            const char *eq = memchr(pair, '=', (size_t)(pair_end - pair));
            const char *name_end = eq ? eq : pair_end;
            struct ref_field *f = &fields[*count];
            f->name = store;
            if (ref_unescape(pair, (size_t)(name_end - pair), f->name, &f->name_len) != 0)
                return FORM_BAD_ESCAPE;
            if (f->name_len == 0 || memchr(f->name, '\0', f->name_len))
                return FORM_BAD_NAME;
            f->value = f->name + f->name_len;
            f->value_len = 0;
            if (eq && ref_unescape(eq + 1, (size_t)(pair_end - eq - 1), f->value, &f->value_len) != 0)
                return FORM_BAD_ESCAPE;
            store = f->value + f->value_len;
            (*count)++;
        }
        pair = pair_end + 1;
    }
    return FORM_OK;
}

static void check_matches(const struct form *form, size_t from, const struct ref_field *want,
                          size_t count)
{
    FUZZ_CHECK(form->count == from + count, "one field per non-empty pair");
    for (size_t i = 0; i < count; i++) {
        const struct form_field *got = &form->fields[from + i];
        FUZZ_CHECK(strlen(got->name) == want[i].name_len, "a name is its decoded bytes, no NUL");
        FUZZ_CHECK(memcmp(got->name, want[i].name, want[i].name_len) == 0, "name decodes");
        FUZZ_CHECK(got->value_len == want[i].value_len, "value_len is the decoded length");
        FUZZ_CHECK(memcmp(got->value, want[i].value, got->value_len) == 0, "value decodes");
        FUZZ_CHECK(got->value[got->value_len] == '\0', "a value is NUL-terminated");
    }
}

/* form_get and form_count agree with a plain walk over the fields (for the
 * first few names: all of them would make long inputs quadratic). */
static void check_lookups(const struct form *form)
{
    for (size_t i = 0; i < form->count && i < 16; i++) {
        const char *name = form->fields[i].name;
        size_t before = 0, total = 0;
        for (size_t k = 0; k < form->count; k++) {
            int same = strcmp(form->fields[k].name, name) == 0;
            before += same && k < i;
            total += same;
        }
        FUZZ_CHECK(form_count(form, name) == total, "form_count counts every field of a name");
        FUZZ_CHECK(form_get(form, name, before) == &form->fields[i], "form_get finds the nth");
        FUZZ_CHECK(form_get(form, name, total) == NULL, "form_get past the last is NULL");
    }
}

/* Unreserved bytes as they are, a space as "+", anything else as %XX. */
static size_t encode(char *out, const char *s, size_t n, int lower)
{
    static const char upper_hex[] = "0123456789ABCDEF", lower_hex[] = "0123456789abcdef";
    const char *hex = lower ? lower_hex : upper_hex;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out[len++] = (char)c;
        } else if (c == ' ') {
            out[len++] = '+';
        } else {
            out[len++] = '%';
            out[len++] = hex[c >> 4];
            out[len++] = hex[c & 15];
        }
    }
    return len;
}

static void check_round_trip(const struct form *form, int lower)
{
    size_t room = 1;
    for (size_t i = 0; i < form->count; i++)
        room += 3 * (strlen(form->fields[i].name) + form->fields[i].value_len) + 2;
    char *text = malloc(room);
    FUZZ_CHECK(text != NULL, "harness memory");
    size_t len = 0;
    for (size_t i = 0; i < form->count; i++) {
        const struct form_field *f = &form->fields[i];
        if (i > 0)
            text[len++] = '&';
        len += encode(text + len, f->name, strlen(f->name), lower);
        text[len++] = '=';
        len += encode(text + len, f->value, f->value_len, lower);
    }
    struct form again = FORM_INIT;
    FUZZ_CHECK(form_parse(&again, text, len) == FORM_OK, "an encoded form decodes");
    FUZZ_CHECK(again.count == form->count, "round trip keeps the field count");
    for (size_t i = 0; i < form->count; i++) {
        const struct form_field *a = &form->fields[i], *b = &again.fields[i];
        FUZZ_CHECK(strcmp(a->name, b->name) == 0, "round trip keeps names");
        FUZZ_CHECK(a->value_len == b->value_len && memcmp(a->value, b->value, a->value_len) == 0,
                   "round trip keeps values");
    }
    form_free(&again);
    free(text);
}

/* form_tally, which measures a request before it is parsed: every
 * non-empty pair is a field, and named counts exactly the fields whose
 * decoded name is the one asked for. */
static void check_tally(const char *text, size_t n, enum form_status st,
                        const struct ref_field *fields, size_t count)
{
    size_t pairs = 0;
    for (size_t i = 0, start = 0; i <= n; i++) {
        if (i < n && text[i] != '&')
            continue;
        pairs += i > start;
        start = i + 1;
    }
    FUZZ_CHECK(form_tally(text, n, "topic").fields == pairs, "form_tally counts the pairs");
    for (size_t i = 0; st == FORM_OK && i < count && i < 4; i++) {
        size_t named = 0;
        for (size_t k = 0; k < count; k++)
            named += fields[k].name_len == fields[i].name_len &&
                     memcmp(fields[k].name, fields[i].name, fields[i].name_len) == 0;
        char *name = strndup(fields[i].name, fields[i].name_len);
        FUZZ_CHECK(name != NULL, "harness memory");
        FUZZ_CHECK(form_tally(text, n, name).named == named, "form_tally counts a name's fields");
        free(name);
    }
}

/* topic_list_from_form: the "topic" values in order, else the fallback. */
static void check_topic_list(const struct form *form, const struct ref_field *fields,
                             size_t count, const char *fallback)
{
    size_t n = 0, k = 0;
    struct sse_str *topics = topic_list_from_form(form, fallback, &n);
    FUZZ_CHECK(topics != NULL, "harness memory");
    for (size_t i = 0; i < count; i++) {
        if (fields[i].name_len != 5 || memcmp(fields[i].name, "topic", 5) != 0)
            continue;
        FUZZ_CHECK(k < n && topics[k].len == fields[i].value_len &&
                       memcmp(topics[k].ptr, fields[i].value, fields[i].value_len) == 0,
                   "topic_list_from_form gives each topic value, in order");
        k++;
    }
    if (k == 0 && fallback) {
        FUZZ_CHECK(n == 1 && strcmp(topics[0].ptr, fallback) == 0, "no topic: the fallback");
        k = 1;
    }
    FUZZ_CHECK(n == k, "topic_list_from_form gives nothing else");
    free(topics);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    /* Worst case every byte is its own field: n fields, n bytes decoded. */
    struct ref_field *want = calloc(size / 2 + 1, sizeof *want);
    char *store = malloc(size + 1);
    FUZZ_CHECK(want && store, "harness memory");
    size_t count;
    enum form_status expected = reference(text, size, want, &count, store);

    /* A field already there must survive both outcomes untouched. */
    struct form form = FORM_INIT;
    FUZZ_CHECK(form_parse(&form, "keep=1", 6) == FORM_OK && form.count == 1, "seed field");
    enum form_status got = form_parse(&form, text, size);
    FUZZ_CHECK(got == expected, "status matches the reference decoder");
    FUZZ_CHECK(strcmp(form.fields[0].name, "keep") == 0 && form.fields[0].value_len == 1 &&
               form.fields[0].value[0] == '1', "fields parsed before are kept");
    check_tally(text, size, got, want, count);
    if (got == FORM_OK) {
        check_topic_list(&form, want, count, size % 2 ? "fallback" : NULL);
        check_matches(&form, 1, want, count);
        check_lookups(&form);
        check_round_trip(&form, size > 0 && (data[0] & 1));
    } else {
        FUZZ_CHECK(form.count == 1, "a refused input adds nothing");
    }
    form_free(&form);
    free(want);
    free(store);
    return 0;
}
