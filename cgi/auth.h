/* auth: the publisher's bearer token. */
#ifndef SSE_AUTH_H
#define SSE_AUTH_H

#include <stddef.h>

/*
 * Reads the token from a file (first line, surrounding white space removed).
 * Returns a malloc'd string, or NULL after logging why.
 */
char *auth_read_token_file(const char *path);

/*
 * Does an "Authorization" header value carry "Bearer <token>"? The compare
 * takes the same time wherever the first difference is, so response timing
 * does not reveal how much of a guess was right. A NULL or empty token never
 * matches.
 */
int auth_bearer_ok(const char *header, const char *token);

#endif
