#include "cors.h"

#include <string.h>
#include <strings.h>

#include "log.h"
#include "response.h"

/* What the worker reads from a cross-origin request besides simple headers. */
#define CORS_ALLOW_HEADERS "Authorization, Content-Type, Last-Event-ID"
/* How long a browser may reuse a preflight answer, seconds. */
#define CORS_MAX_AGE "600"

static int is_any(const char *list)
{
    return strcmp(list, "*") == 0;
}

/* scheme "://" host [":" port], nothing else: how browsers spell an Origin. */
static int origin_valid(const char *s, size_t n)
{
    const char *sep = memchr(s, ':', n);
    if (!sep || sep == s || (size_t)(s + n - sep) < 4 || strncmp(sep, "://", 3) != 0)
        return 0;
    for (const char *p = s; p < s + n; p++)
        if (*p <= ' ' || *p == ',' || *p == '*' || (p > sep + 2 && *p == '/') || *p == 0x7f)
            return 0;
    return 1;
}

int cors_origins_valid(const char *list)
{
    if (list[0] == '\0' || is_any(list))
        return 1;
    for (const char *s = list;;) {
        size_t len = strcspn(s, ",");
        if (!origin_valid(s, len))
            return 0;
        if (s[len] == '\0')
            return 1;
        s += len + 1;
    }
}

/* Origins compare exactly, byte for byte (browsers send them lower-case). */
static int listed(const char *list, const char *origin)
{
    size_t n = strlen(origin);
    for (const char *s = list; *s;) {
        size_t len = strcspn(s, ",");
        if (len == n && strncmp(s, origin, n) == 0)
            return 1;
        s += len + (s[len] == ',');
    }
    return 0;
}

int cors_response_headers(struct strbuf *out, const char *list, const char *origin)
{
    if (list[0] == '\0')
        return 0;
    if (is_any(list))
        return origin ? strbuf_puts(out, "Access-Control-Allow-Origin: *\r\n") : 0;
    /* Caches must keep the answers for different origins apart. */
    if (strbuf_puts(out, "Vary: Origin\r\n") != 0)
        return -1;
    if (!origin || !listed(list, origin))
        return 0;
    return strbuf_printf(out, "Access-Control-Allow-Origin: %s\r\n"
                              "Access-Control-Allow-Credentials: true\r\n", origin);
}

void cors_write_headers(FCGX_Request *req, const char *list)
{
    struct strbuf sb = STRBUF_INIT;
    /* On failure (out of memory) the answer goes out without CORS headers:
     * the browser then refuses it to the page, which is safe. */
    if (cors_response_headers(&sb, list, FCGX_GetParam("HTTP_ORIGIN", req->envp)) == 0 &&
        sb.len > 0)
        FCGX_PutStr(sb.ptr, (int)sb.len, req->out);
    strbuf_free(&sb);
}

int cors_preflight(FCGX_Request *req, const char *list, const char *allow_methods,
                   unsigned long no)
{
    const char *method = FCGX_GetParam("REQUEST_METHOD", req->envp);
    const char *origin = FCGX_GetParam("HTTP_ORIGIN", req->envp);
    if (list[0] == '\0' || !method || strcmp(method, "OPTIONS") != 0 || !origin ||
        !FCGX_GetParam("HTTP_ACCESS_CONTROL_REQUEST_METHOD", req->envp))
        return 0;
    struct strbuf sb = STRBUF_INIT;
    int allowed = cors_response_headers(&sb, list, origin) == 0 && sb.ptr &&
                  strstr(sb.ptr, "Access-Control-Allow-Origin");
    if (!allowed) {
        log_info("request %lu: 403 preflight from origin '%.200s'", no, origin);
        response_line(req->out, "403 Forbidden", sb.ptr,
                      "forbidden: this origin may not make cross-origin requests here "
                      "(see --cors-origins)");
    } else if (strbuf_printf(&sb, "Access-Control-Allow-Methods: %s\r\n"
                                  "Access-Control-Allow-Headers: " CORS_ALLOW_HEADERS "\r\n"
                                  "Access-Control-Max-Age: " CORS_MAX_AGE "\r\n"
                                  "Status: 204 No Content\r\n\r\n", allow_methods) == 0) {
        response_send(req->out, sb.ptr, sb.len);
    } else {
        response_line(req->out, "500 Internal Server Error", NULL, "out of memory");
    }
    strbuf_free(&sb);
    return 1;
}
