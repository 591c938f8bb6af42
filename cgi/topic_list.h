/*
 * topic_list: the topics a request names in its "topic" fields, as the array
 * of strings the hub takes. /events and /publish both build it this way.
 */
#ifndef SSE_TOPIC_LIST_H
#define SSE_TOPIC_LIST_H

#include <stddef.h>

#include "form.h"
#include "frame.h"

/*
 * The values of form's "topic" fields in order, gathered in one pass; the
 * strings point into form. With none, the list holds fallback alone, or is
 * empty if fallback is NULL. *n gets the count. Returns NULL when out of
 * memory; free() the array.
 */
struct sse_str *topic_list_from_form(const struct form *form, const char *fallback, size_t *n);

#endif
