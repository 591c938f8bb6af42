#include "form.h"

#include <stdlib.h>
#include <string.h>

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The byte the "%XX" at s[i] stands for, or -1 for a broken escape. */
static int escaped_byte(const char *s, size_t n, size_t i)
{
    int hi = i + 2 < n ? hex_value(s[i + 1]) : -1;
    int lo = i + 2 < n ? hex_value(s[i + 2]) : -1;
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/* Decodes "+" to space and "%XX" to a byte; a broken escape is an error. */
static enum form_status decode(const char *s, size_t n, char **out, size_t *out_len)
{
    char *d = malloc(n + 1);
    if (!d)
        return FORM_NO_MEMORY;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            d[len++] = ' ';
            continue;
        }
        if (s[i] != '%') {
            d[len++] = s[i];
            continue;
        }
        int byte = escaped_byte(s, n, i);
        if (byte < 0) {
            free(d);
            return FORM_BAD_ESCAPE;
        }
        d[len++] = (char)byte;
        i += 2;
    }
    d[len] = '\0';
    *out = d;
    *out_len = len;
    return FORM_OK;
}

static enum form_status add_field(struct form *form, const char *pair, size_t n)
{
    const char *eq = memchr(pair, '=', n);
    size_t name_n = eq ? (size_t)(eq - pair) : n;
    struct form_field f = { NULL, NULL, 0 };
    size_t name_len;
    enum form_status st = decode(pair, name_n, &f.name, &name_len);
    if (st == FORM_OK && (name_len == 0 || strlen(f.name) != name_len))
        st = FORM_BAD_NAME;
    if (st == FORM_OK)
        st = eq ? decode(eq + 1, n - name_n - 1, &f.value, &f.value_len)
                : decode("", 0, &f.value, &f.value_len);
    if (st == FORM_OK && form->count == form->cap) {
        size_t cap = form->cap ? form->cap * 2 : 8;
        struct form_field *grown = realloc(form->fields, cap * sizeof *grown);
        if (grown) {
            form->fields = grown;
            form->cap = cap;
        } else {
            st = FORM_NO_MEMORY;
        }
    }
    if (st != FORM_OK) {
        free(f.name);
        free(f.value);
        return st;
    }
    form->fields[form->count++] = f;
    return FORM_OK;
}

enum form_status form_parse(struct form *form, const char *text, size_t n)
{
    size_t had = form->count;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && text[i] != '&')
            continue;
        if (i > start) { /* "a=1&&b=2": empty pairs are skipped, as browsers do */
            enum form_status st = add_field(form, text + start, i - start);
            if (st != FORM_OK) {
                while (form->count > had) {
                    form->count--;
                    free(form->fields[form->count].name);
                    free(form->fields[form->count].value);
                }
                return st;
            }
        }
        start = i + 1;
    }
    return FORM_OK;
}

/* Does the encoded name s (n bytes) decode to name? Decodes nothing into memory. */
static int decodes_to(const char *s, size_t n, const char *name)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++, k++) {
        int c = s[i] == '+' ? ' ' : (unsigned char)s[i];
        if (s[i] == '%') {
            c = escaped_byte(s, n, i);
            i += 2;
        }
        if (c < 0 || name[k] == '\0' || (unsigned char)name[k] != c)
            return 0;
    }
    return name[k] == '\0';
}

struct form_tally form_tally(const char *text, size_t n, const char *name)
{
    struct form_tally t = { 0, 0 };
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && text[i] != '&')
            continue;
        if (i > start) { /* empty pairs are skipped, as form_parse does */
            const char *eq = memchr(text + start, '=', i - start);
            size_t name_n = eq ? (size_t)(eq - (text + start)) : i - start;
            t.fields++;
            t.named += decodes_to(text + start, name_n, name);
        }
        start = i + 1;
    }
    return t;
}

const struct form_field *form_get(const struct form *form, const char *name, size_t nth)
{
    for (size_t i = 0; i < form->count; i++)
        if (strcmp(form->fields[i].name, name) == 0 && nth-- == 0)
            return &form->fields[i];
    return NULL;
}

size_t form_count(const struct form *form, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < form->count; i++)
        n += strcmp(form->fields[i].name, name) == 0;
    return n;
}

void form_free(struct form *form)
{
    for (size_t i = 0; i < form->count; i++) {
        free(form->fields[i].name);
        free(form->fields[i].value);
    }
    free(form->fields);
    form->fields = NULL;
    form->count = form->cap = 0;
}
