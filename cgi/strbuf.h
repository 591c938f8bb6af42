/* strbuf: a growable byte buffer, the one place frames and responses are built. */
#ifndef SSE_STRBUF_H
#define SSE_STRBUF_H

#include <stddef.h>

struct strbuf {
    char *ptr;   /* owned; NUL-terminated when len > 0, for logging convenience */
    size_t len;
    size_t cap;
};

#define STRBUF_INIT { NULL, 0, 0 }

/* Each returns 0, or -1 when memory runs out (the buffer is then unchanged). */
int strbuf_append(struct strbuf *sb, const char *bytes, size_t n);
int strbuf_puts(struct strbuf *sb, const char *s);
int strbuf_printf(struct strbuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Forget the contents, keep the memory for the next use. */
void strbuf_reset(struct strbuf *sb);
void strbuf_free(struct strbuf *sb);

#endif
