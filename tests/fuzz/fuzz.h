/*
 * fuzz: what every libFuzzer harness under tests/fuzz/ shares. A harness
 * checks properties of one module's public interface; a broken property
 * aborts with a one-line reason, which libFuzzer reports as a crash and
 * saves the input that caused it.
 */
#ifndef SSE_FUZZ_H
#define SSE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, why)                                                   \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "property failed at %s:%d: %s [%s]\n", __FILE__,    \
                    __LINE__, (why), #cond);                                    \
            abort();                                                            \
        }                                                                       \
    } while (0)

#endif
