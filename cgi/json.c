#include "json.h"

#include <stdio.h>

int json_append_string(struct strbuf *out, const char *s, size_t n)
{
    if (strbuf_append(out, "\"", 1) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int rc;
        if (c == '"' || c == '\\') {
            char esc[2] = { '\\', (char)c };
            rc = strbuf_append(out, esc, 2);
        } else if (c < 0x20 || c == 0x7f) {
            rc = strbuf_printf(out, "\\u%04x", c);
        } else {
            rc = strbuf_append(out, (const char *)&s[i], 1);
        }
        if (rc != 0)
            return -1;
    }
    return strbuf_append(out, "\"", 1);
}
