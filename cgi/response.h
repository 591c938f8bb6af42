/* response: CGI-style response heads and short answers over FastCGI. */
#ifndef SSE_RESPONSE_H
#define SSE_RESPONSE_H

#include <stddef.h>

#include <fcgiapp.h>

/*
 * Writes "Status: <status>", the extra header lines (each ending in CRLF, or
 * NULL), a text/plain body of one line (a newline is added), and flushes.
 * Errors use it with a one-line reason. Returns 0 or -1.
 */
int response_line(FCGX_Stream *out, const char *status, const char *extra_headers,
                  const char *line);

/* A 200 answer with the given content type and body. Returns 0 or -1. */
int response_body(FCGX_Stream *out, const char *content_type, const char *body, size_t len);

/* Writes bytes and flushes them to nginx at once. Returns 0, or -1 once the
 * peer is gone (libfcgi then keeps the stream in error: see FCGX_GetError). */
int response_send(FCGX_Stream *out, const char *bytes, size_t len);

#endif
