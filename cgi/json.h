/* json: the one JSON helper the worker needs, a correctly escaped string. */
#ifndef SSE_JSON_H
#define SSE_JSON_H

#include <stddef.h>

#include "strbuf.h"

/*
 * Appends s (n bytes) as a quoted JSON string. Returns 0 or -1. The output
 * is always UTF-8 (RFC 8259): each byte of s that is not part of a
 * well-formed sequence becomes U+FFFD, the replacement character.
 */
int json_append_string(struct strbuf *out, const char *s, size_t n);

#endif
