/*
 * utf8_valid against a decoder written here the other way round: it decodes
 * each sequence to its code point first, then asks whether that code point
 * may be written with that many bytes (no overlong form, no surrogate,
 * nothing past U+10FFFF). glibc's mbrtowc is no reference: it accepts
 * F4 90 80 80 and five-byte forms. Random bytes are rarely valid, so half of
 * the inputs are read as code points and encoded here first.
 */
#include <string.h>

#include "fuzz.h"
#include "utf8.h"

/* The lead byte's leading one bits: 0 for ASCII, 1 for a continuation
 * byte, else the length of the sequence it announces. */
static int leading_ones(unsigned char b)
{
    int ones = 0;
    while (ones < 8 && (b & (0x80u >> ones)))
        ones++;
    return ones;
}

static int reference_valid(const unsigned char *s, size_t n)
{
    static const uint32_t smallest[5] = { 0, 0, 0x80, 0x800, 0x10000 };
    size_t i = 0;
    while (i < n) {
        int ones = leading_ones(s[i]);
        size_t len = ones ? (size_t)ones : 1;
        if (ones == 1 || ones > 4 || n - i < len)
            return 0;
        uint32_t cp = s[i] & (0xFFu >> (ones + 1));
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3Fu);
        }
        if (cp < smallest[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

static size_t encode(uint32_t cp, unsigned char *out)
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

/* Every 3 input bytes are one code point below 0x200000 (four bytes' worth),
 * so encoded text is always well formed except for surrogates and values
 * past U+10FFFF, which the validator must refuse. */
static void check_encoded(const uint8_t *data, size_t size)
{
    unsigned char *text = malloc(size / 3 * 4 + 1);
    FUZZ_CHECK(text != NULL, "harness memory");
    size_t len = 0;
    int expect = 1;
    for (size_t i = 0; i + 3 <= size; i += 3) {
        uint32_t cp = ((uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2]) & 0x1FFFFF;
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            expect = 0;
        size_t k = encode(cp, text + len);
        FUZZ_CHECK(utf8_valid((const char *)text + len, k) ==
                       !(cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)),
                   "one shortest-form code point is valid iff it is a scalar value");
        len += k;
    }
    FUZZ_CHECK(utf8_valid((const char *)text, len) == expect, "encoded text");
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 0 && data[0] == 'E') {
        check_encoded(data + 1, size - 1);
        return 0;
    }
    int got = utf8_valid((const char *)data, size);
    FUZZ_CHECK(got == reference_valid(data, size), "matches the reference decoder");
    /* Validity is local: cutting a valid text at a sequence boundary keeps
     * both halves valid; cutting inside a sequence breaks the first. */
    if (got && size > 0) {
        size_t cut = data[0] % size;
        int boundary = (data[cut] & 0xC0) != 0x80;
        FUZZ_CHECK(utf8_valid((const char *)data, cut) == boundary, "prefix at or inside a sequence");
        FUZZ_CHECK(!boundary || utf8_valid((const char *)data + cut, size - cut), "suffix");
    }
    return 0;
}
