/*
 * json_append_string against a JSON string parser written here from RFC
 * 8259 (section 7): the output is one quoted string, no control character
 * unescaped, only the escapes the RFC defines, \u surrogates only in pairs,
 * raw text well-formed UTF-8; decoded, it is the input with each byte that
 * is not part of a well-formed UTF-8 sequence replaced by U+FFFD, as json.h
 * says. What was in the buffer before stays as it was.
 */
#include <string.h>

#include "fuzz.h"
#include "json.h"
#include "ref_utf8.h"

static int hex4(const unsigned char *s, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return 0;
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    return 1;
}

/* One escape after the backslash at s; the code point and the bytes used, 0 if bad. */
static size_t unescape(const unsigned char *s, size_t n, uint32_t *cp)
{
    static const char simple[] = "\"\\/bfnrt", value[] = "\"\\/\b\f\n\r\t";
    if (n < 2)
        return 0;
    const char *k = s[1] ? strchr(simple, s[1]) : NULL;
    if (k) {
        *cp = (unsigned char)value[k - simple];
        return 2;
    }
    if (s[1] != 'u' || n < 6 || !hex4(s + 2, cp))
        return 0;
    if (*cp >= 0xDC00 && *cp <= 0xDFFF)
        return 0; /* a low surrogate alone */
    if (*cp < 0xD800 || *cp > 0xDBFF)
        return 6;
    uint32_t low;
    if (n < 12 || s[6] != '\\' || s[7] != 'u' || !hex4(s + 8, &low) || low < 0xDC00 || low > 0xDFFF)
        return 0; /* a high surrogate without its low half */
    *cp = 0x10000 + ((*cp - 0xD800) << 10) + (low - 0xDC00);
    return 12;
}

/* Decodes the JSON string s (n bytes) to UTF-8 in out; its length, or -1. */
static long parse_string(const unsigned char *s, size_t n, unsigned char *out)
{
    if (n < 2 || s[0] != '"' || s[n - 1] != '"')
        return -1;
    size_t len = 0;
    for (size_t i = 1; i < n - 1;) {
        uint32_t cp;
        size_t used;
        if (s[i] == '\\') {
            used = unescape(s + i, n - 1 - i, &cp);
        } else {
            used = ref_utf8_sequence(s + i, n - 1 - i, &cp);
            if (used > 0 && (cp < 0x20 || cp == '"'))
                return -1; /* must be escaped */
        }
        if (used == 0)
            return -1;
        len += ref_utf8_encode(cp, out + len);
        i += used;
    }
    return (long)len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Each input byte decodes to at most 3 bytes (U+FFFD). */
    unsigned char *want = malloc(3 * size + 1);
    FUZZ_CHECK(want != NULL, "harness memory");
    size_t want_n = 0;
    for (size_t i = 0; i < size;) {
        uint32_t cp;
        size_t len = ref_utf8_sequence(data + i, size - i, &cp);
        if (len == 0) {
            memcpy(want + want_n, "\xEF\xBF\xBD", 3);
            want_n += 3;
            i++;
        } else {
            memcpy(want + want_n, data + i, len);
            want_n += len;
            i += len;
        }
    }

    struct strbuf out = STRBUF_INIT;
    static const char before[] = "{\"k\":";
    FUZZ_CHECK(strbuf_append(&out, before, sizeof before - 1) == 0, "harness memory");
    FUZZ_CHECK(json_append_string(&out, (const char *)data, size) == 0, "appending succeeds");
    FUZZ_CHECK(memcmp(out.ptr, before, sizeof before - 1) == 0, "what was there stays");
    const unsigned char *json = (const unsigned char *)out.ptr + sizeof before - 1;
    size_t json_n = out.len - (sizeof before - 1);
    /* Unescaped bytes never decode to more than they take; escapes to less. */
    unsigned char *got = malloc(json_n + 1);
    FUZZ_CHECK(got != NULL, "harness memory");
    long got_n = parse_string(json, json_n, got);
    FUZZ_CHECK(got_n >= 0, "one RFC 8259 string, UTF-8, controls and quotes escaped");
    FUZZ_CHECK((size_t)got_n == want_n && memcmp(got, want, want_n) == 0,
               "it decodes to the input, each stray byte as U+FFFD");
    free(got);
    free(want);
    strbuf_free(&out);
    return 0;
}
