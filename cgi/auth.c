#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

char *auth_read_token_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        log_error("cannot read publish token file %s: %s", path, strerror(errno));
        return NULL;
    }
    char line[1024];
    char *token = NULL;
    if (fgets(line, sizeof line, f)) {
        char *start = line + strspn(line, " \t");
        size_t n = strcspn(start, " \t\r\n");
        start[n] = '\0';
        token = n > 0 ? strdup(start) : NULL;
    }
    fclose(f);
    if (!token)
        log_error("publish token file %s holds no token", path);
    return token;
}

/* Compares every byte of the longer string whatever the contents. */
static int equal_constant_time(const char *a, size_t an, const char *b, size_t bn)
{
    size_t n = an > bn ? an : bn;
    unsigned char diff = an != bn;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = i < an ? (unsigned char)a[i] : 0;
        unsigned char y = i < bn ? (unsigned char)b[i] : 0;
        diff |= x ^ y;
    }
    return diff == 0;
}

int auth_bearer_ok(const char *header, const char *token)
{
    static const char scheme[] = "Bearer ";
    if (!header || !token || !token[0])
        return 0;
    if (strncasecmp(header, scheme, sizeof scheme - 1) != 0)
        return 0;
    const char *given = header + sizeof scheme - 1;
    given += strspn(given, " ");
    return equal_constant_time(given, strlen(given), token, strlen(token));
}
