/* Unit tests for cgi/json.c: the JSON strings the gap event carries. */
#include "json.h"
#include "tap.h"
#include "utf8.h"

/* json_append_string(s) as a C string in *sb; 0 or -1. */
static int quote(struct strbuf *sb, const char *s, size_t n)
{
    strbuf_reset(sb);
    return json_append_string(sb, s, n);
}

int main(void)
{
    struct strbuf sb = STRBUF_INIT;
    tap_ok(quote(&sb, "a\"b\\c\n\x01", 7) == 0, "a string with quotes and controls is written");
    tap_bytes("quotes, backslashes and controls are escaped", sb.ptr, sb.len,
              "\"a\\\"b\\\\c\\u000a\\u0001\"");
    quote(&sb, "caf\xc3\xa9 \xf0\x9f\x98\x80", 10);
    tap_bytes("well-formed UTF-8 is kept as it is", sb.ptr, sb.len,
              "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
    quote(&sb, "12\xff\xfe", 4);
    tap_bytes("each stray byte becomes U+FFFD", sb.ptr, sb.len, "\"12\\ufffd\\ufffd\"");
    quote(&sb, "\xc0\xaf|\xed\xa0\x80|\xe2\x82", 9);
    tap_bytes("overlong forms, surrogates and cut sequences become U+FFFD", sb.ptr, sb.len,
              "\"\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd\"");
    tap_ok(utf8_valid(sb.ptr, sb.len), "the output is always valid UTF-8");
    strbuf_free(&sb);
    return tap_done();
}
