/*
 * ref_utf8: the harnesses' own UTF-8 reference, written unlike cgi/utf8.c:
 * it decodes a sequence to its code point first, then asks whether that
 * code point may be written with that many bytes (no overlong form, no
 * surrogate, nothing past U+10FFFF). glibc's mbrtowc is no reference: it
 * accepts F4 90 80 80 and five-byte forms.
 */
#ifndef SSE_REF_UTF8_H
#define SSE_REF_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* The lead byte's leading one bits: 0 for ASCII, 1 for a continuation
 * byte, else the length of the sequence it announces. */
static inline int ref_leading_ones(unsigned char b)
{
    int ones = 0;
    while (ones < 8 && (b & (0x80u >> ones)))
        ones++;
    return ones;
}

/* The length of the well-formed sequence s (n bytes) starts with, or 0;
 * its code point goes to *cp. */
static inline size_t ref_utf8_sequence(const unsigned char *s, size_t n, uint32_t *cp)
{
    static const uint32_t smallest[5] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (n == 0)
        return 0;
    int ones = ref_leading_ones(s[0]);
    size_t len = ones ? (size_t)ones : 1;
    if (ones == 1 || ones > 4 || n < len)
        return 0;
    uint32_t v = s[0] & (0xFFu >> (ones + 1));
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[k] & 0x3Fu);
    }
    if (v < smallest[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

/* The code point as UTF-8 (shortest form) into out; its length. */
static inline size_t ref_utf8_encode(uint32_t cp, unsigned char *out)
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | cp >> 6);
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | cp >> 12);
        out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18 & 0x07));
    out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

#endif
