/* json: the one JSON helper the worker needs, a correctly escaped string. */
#ifndef SSE_JSON_H
#define SSE_JSON_H

#include <stddef.h>

#include "strbuf.h"

/* Appends s (n bytes, UTF-8) as a quoted JSON string. Returns 0 or -1. */
int json_append_string(struct strbuf *out, const char *s, size_t n);

#endif
