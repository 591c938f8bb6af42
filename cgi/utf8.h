/* utf8: is a byte string well-formed UTF-8? An event stream is UTF-8 only. */
#ifndef SSE_UTF8_H
#define SSE_UTF8_H

#include <stddef.h>

/* Rejects overlong forms, surrogates and code points past U+10FFFF (RFC 3629). */
int utf8_valid(const char *s, size_t n);

/* The length (1 to 4) of the well-formed sequence s (n bytes) starts with, or 0. */
size_t utf8_sequence(const char *s, size_t n);

#endif
