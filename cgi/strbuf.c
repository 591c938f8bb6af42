#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reserve(struct strbuf *sb, size_t extra)
{
    size_t need = sb->len + extra + 1; /* +1 keeps room for the NUL */
    if (need <= sb->cap)
        return 0;
    size_t cap = sb->cap ? sb->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = realloc(sb->ptr, cap);
    if (!p)
        return -1;
    sb->ptr = p;
    sb->cap = cap;
    return 0;
}

int strbuf_append(struct strbuf *sb, const char *bytes, size_t n)
{
    if (reserve(sb, n) != 0)
        return -1;
    memcpy(sb->ptr + sb->len, bytes, n);
    sb->len += n;
    sb->ptr[sb->len] = '\0';
    return 0;
}

int strbuf_puts(struct strbuf *sb, const char *s)
{
    return strbuf_append(sb, s, strlen(s));
}

int strbuf_printf(struct strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(sb, (size_t)n) != 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(sb->ptr + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
    return 0;
}

void strbuf_reset(struct strbuf *sb)
{
    sb->len = 0;
    if (sb->ptr)
        sb->ptr[0] = '\0';
}

void strbuf_free(struct strbuf *sb)
{
    free(sb->ptr);
    sb->ptr = NULL;
    sb->len = sb->cap = 0;
}
