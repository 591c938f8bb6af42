#include "json.h"

#include <stdio.h>

#include "utf8.h"

/* Appends the character (or stray byte) at s[0] as JSON; the bytes used, 0 on failure. */
static size_t append_one(struct strbuf *out, const char *s, size_t n)
{
    unsigned char c = (unsigned char)s[0];
    if (c == '"' || c == '\\') {
        char esc[2] = { '\\', (char)c };
        return strbuf_append(out, esc, 2) == 0 ? 1 : 0;
    }
    if (c < 0x20 || c == 0x7f)
        return strbuf_printf(out, "\\u%04x", c) == 0 ? 1 : 0;
    size_t len = c < 0x80 ? 1 : utf8_sequence(s, n);
    if (len == 0) /* a stray byte: never copied, JSON text must be UTF-8 */
        return strbuf_append(out, "\\ufffd", 6) == 0 ? 1 : 0;
    return strbuf_append(out, s, len) == 0 ? len : 0;
}

int json_append_string(struct strbuf *out, const char *s, size_t n)
{
    if (strbuf_append(out, "\"", 1) != 0)
        return -1;
    for (size_t i = 0; i < n;) {
        size_t used = append_one(out, s + i, n - i);
        if (used == 0)
            return -1;
        i += used;
    }
    return strbuf_append(out, "\"", 1);
}
