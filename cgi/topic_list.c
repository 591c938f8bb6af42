#include "topic_list.h"

#include <stdlib.h>
#include <string.h>

struct sse_str *topic_list_from_form(const struct form *form, const char *fallback, size_t *n)
{
    size_t count = form_count(form, "topic");
    /* One slot at least: calloc(0) may answer NULL, which means "no memory" here. */
    struct sse_str *topics = calloc(count ? count : 1, sizeof *topics);
    if (!topics)
        return NULL;
    *n = 0;
    for (size_t i = 0; i < form->count; i++) {
        const struct form_field *f = &form->fields[i];
        if (strcmp(f->name, "topic") == 0)
            topics[(*n)++] = (struct sse_str){ f->value, f->value_len };
    }
    if (*n == 0 && fallback)
        topics[(*n)++] = (struct sse_str){ fallback, strlen(fallback) };
    return topics;
}
