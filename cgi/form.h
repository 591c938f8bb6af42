/*
 * form: application/x-www-form-urlencoded, as in query strings and HTML form
 * bodies. Values are decoded with their length, so a "%00" is seen as a NUL
 * byte (and can be refused) instead of silently cutting the string short.
 */
#ifndef SSE_FORM_H
#define SSE_FORM_H

#include <stddef.h>

struct form_field {
    char *name;   /* decoded, NUL-terminated (names with NUL are refused) */
    char *value;  /* decoded, NUL-terminated, may also contain NUL bytes */
    size_t value_len;
};

struct form {
    struct form_field *fields;
    size_t count;
    size_t cap;
};

#define FORM_INIT { NULL, 0, 0 }

enum form_status { FORM_OK = 0, FORM_BAD_ESCAPE, FORM_BAD_NAME, FORM_NO_MEMORY };

/* Appends the fields of text (n bytes) to form; on error form keeps what it had. */
enum form_status form_parse(struct form *form, const char *text, size_t n);

/*
 * How many fields text (n bytes) holds, and how many of them are called name,
 * counted without decoding a value or allocating anything: a request is
 * measured with this and refused if too big before it is parsed.
 */
struct form_tally {
    size_t fields;  /* what form_parse would add */
    size_t named;   /* of those, the fields whose decoded name is name */
};
struct form_tally form_tally(const char *text, size_t n, const char *name);

/* The n-th field called name (0-based), or NULL. */
const struct form_field *form_get(const struct form *form, const char *name, size_t nth);
size_t form_count(const struct form *form, const char *name);

void form_free(struct form *form);

#endif
