#include "utf8.h"

/* Length of the sequence a lead byte starts, or 0 for a byte that cannot lead. */
static int sequence_length(unsigned char c)
{
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c >= 0xE0 && c <= 0xEF) return 3;
    if (c >= 0xF0 && c <= 0xF4) return 4;
    return 0; /* continuation byte, overlong C0/C1, or past U+10FFFF */
}

/* The allowed range of the second byte narrows for a few lead bytes. */
static int second_byte_ok(unsigned char lead, unsigned char b)
{
    switch (lead) {
    case 0xE0: return b >= 0xA0 && b <= 0xBF; /* no overlong 3-byte forms */
    case 0xED: return b >= 0x80 && b <= 0x9F; /* no UTF-16 surrogates */
    case 0xF0: return b >= 0x90 && b <= 0xBF; /* no overlong 4-byte forms */
    case 0xF4: return b >= 0x80 && b <= 0x8F; /* nothing past U+10FFFF */
    default: return b >= 0x80 && b <= 0xBF;
    }
}

size_t utf8_sequence(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    if (n == 0)
        return 0;
    size_t len = (size_t)sequence_length(p[0]);
    if (len == 0 || len > n)
        return 0;
    if (len > 1 && !second_byte_ok(p[0], p[1]))
        return 0;
    for (size_t k = 2; k < len; k++)
        if ((p[k] & 0xC0) != 0x80)
            return 0;
    return len;
}

int utf8_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t len = utf8_sequence(s + i, n - i);
        if (len == 0)
            return 0;
        i += len;
    }
    return 1;
}
