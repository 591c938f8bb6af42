/*
 * utf8_valid and utf8_sequence against the reference in ref_utf8.h, which
 * decodes the other way round (code point first, then the checks). Random
 * bytes are rarely valid, so inputs starting with 'E' are read as code
 * points and encoded here first.
 */
#include <string.h>

#include "fuzz.h"
#include "ref_utf8.h"
#include "utf8.h"

static int reference_valid(const unsigned char *s, size_t n)
{
    uint32_t cp;
    for (size_t i = 0, len; i < n; i += len)
        if ((len = ref_utf8_sequence(s + i, n - i, &cp)) == 0)
            return 0;
    return 1;
}

static int scalar_value(uint32_t cp)
{
    return cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
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
        expect &= scalar_value(cp);
        size_t k = ref_utf8_encode(cp, text + len);
        FUZZ_CHECK(utf8_valid((const char *)text + len, k) == scalar_value(cp),
                   "one shortest-form code point is valid iff it is a scalar value");
        FUZZ_CHECK(utf8_sequence((const char *)text + len, k) == (scalar_value(cp) ? k : 0),
                   "utf8_sequence takes a whole encoded scalar value");
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
    for (size_t i = 0; i < size; i++) {
        uint32_t cp;
        FUZZ_CHECK(utf8_sequence((const char *)data + i, size - i) ==
                       ref_utf8_sequence(data + i, size - i, &cp),
                   "utf8_sequence matches the reference at every offset");
    }
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
