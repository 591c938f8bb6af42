/* response: CGI-style response heads and short error answers over FastCGI. */
#ifndef SSE_RESPONSE_H
#define SSE_RESPONSE_H

#include <stddef.h>

#include <fcgiapp.h>

/*
 * Writes "Status: <status>", the extra header lines (each ending in CRLF, or
 * NULL), a text/plain body of one line, and flushes. Returns 0 or -1.
 */
int response_error(FCGX_Stream *out, const char *status, const char *extra_headers,
                   const char *reason);

/* Writes bytes and flushes them to nginx at once. Returns 0, or -1 once the
 * peer is gone (libfcgi then keeps the stream in error: see FCGX_GetError). */
int response_send(FCGX_Stream *out, const char *bytes, size_t len);

#endif
