/*
 * auth_bearer_ok against a reference: the scheme "Bearer" in any case, one
 * space, any more spaces, then exactly the token; a NULL or empty token
 * never matches. And the header a publisher builds from the token always
 * matches, whatever the scheme's case and the spaces after it.
 *
 * Input: the header, a NUL, then the token.
 */
#include <ctype.h>
#include <string.h>

#include "auth.h"
#include "fuzz.h"

static int reference_ok(const char *header, const char *token)
{
    if (!token || !*token)
        return 0;
    static const char scheme[] = "bearer";
    for (size_t i = 0; i < sizeof scheme - 1; i++)
        if (tolower((unsigned char)header[i]) != scheme[i])
            return 0; /* a shorter header stops here at its NUL */
    const char *given = header + sizeof scheme - 1;
    if (*given++ != ' ')
        return 0;
    while (*given == ' ')
        given++;
    return strcmp(given, token) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *header = malloc(size + 1);
    FUZZ_CHECK(header != NULL, "harness memory");
    memcpy(header, data, size);
    header[size] = '\0';
    size_t header_n = strlen(header);
    const char *token = header_n < size ? header + header_n + 1 : NULL;

    FUZZ_CHECK(auth_bearer_ok(header, token) == reference_ok(header, token),
               "matches the reference");
    FUZZ_CHECK(!auth_bearer_ok(NULL, token), "no header never matches");

    /* A token as token files hold them (no leading space) in a header with
     * the scheme's case and the spaces taken from the input. */
    if (token && *token && *token != ' ') {
        size_t token_n = strlen(token);
        char *built = malloc(token_n + 16);
        FUZZ_CHECK(built != NULL, "harness memory");
        int spaces = 1 + (int)(size % 3);
        snprintf(built, token_n + 16, "%s%*s%s", size % 2 ? "Bearer" : "bEARER", spaces, "", token);
        FUZZ_CHECK(auth_bearer_ok(built, token), "the header built from the token matches");
        built[strlen(built) - 1] ^= 1; /* one bit off in the last byte */
        FUZZ_CHECK(!auth_bearer_ok(built, token), "a token one bit off does not");
        free(built);
    }
    free(header);
    return 0;
}
