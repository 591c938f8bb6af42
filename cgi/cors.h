/*
 * cors: answers for pages on other origins (--cors-origins). A browser sends
 * "Origin" with every cross-origin request and only lets the page read the
 * answer when it carries a matching Access-Control-Allow-Origin. The list is
 * either "*" (any origin, never with cookies) or exact origins
 * (scheme://host[:port], comma-separated), which may also send cookies
 * (EventSource withCredentials, fetch credentials: "include").
 */
#ifndef SSE_CORS_H
#define SSE_CORS_H

#include <fcgiapp.h>

#include "strbuf.h"

/* Is the --cors-origins value usable: empty, "*", or exact origins? */
int cors_origins_valid(const char *list);

/*
 * Appends the Access-Control-* header lines (CRLF-terminated) a response to
 * a request from origin (NULL: none sent) gets under list. Exact lists
 * always add "Vary: Origin", since the answer depends on it. Returns 0 or -1.
 */
int cors_response_headers(struct strbuf *out, const char *list, const char *origin);

/*
 * Writes those lines into the request's output ahead of the handler's own
 * head (CGI header lines may come in any order, Status: included).
 */
void cors_write_headers(FCGX_Request *req, const char *list);

/*
 * An OPTIONS preflight (Origin and Access-Control-Request-Method present)
 * while a list is set: answers 204 with what the browser may send, or 403
 * with a one-line reason for an origin not on the list. Returns 1 when it
 * answered, 0 for any other request (left to the handler).
 */
int cors_preflight(FCGX_Request *req, const char *list, const char *allow_methods,
                   unsigned long no);

#endif
