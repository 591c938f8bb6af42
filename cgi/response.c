#include "response.h"

#include <limits.h>

int response_send(FCGX_Stream *out, const char *bytes, size_t len)
{
    if (len > INT_MAX)
        return -1;
    if (len > 0 && FCGX_PutStr(bytes, (int)len, out) != (int)len)
        return -1;
    /*
     * FCGX_FFlush wraps what is buffered in a FastCGI stdout record and
     * writes it now: without it the frame would wait for 8 KiB to collect.
     * After a failed write, libfcgi marks the stream and later flushes report
     * success without writing, so the error flag is the real answer.
     */
    if (FCGX_FFlush(out) != 0)
        return -1;
    return FCGX_GetError(out) != 0 ? -1 : 0;
}

int response_line(FCGX_Stream *out, const char *status, const char *extra_headers,
                  const char *line)
{
    FCGX_FPrintF(out,
                 "Status: %s\r\n"
                 "%s"
                 "Content-Type: text/plain; charset=utf-8\r\n"
                 "Cache-Control: no-store\r\n"
                 "\r\n"
                 "%s\n",
                 status, extra_headers ? extra_headers : "", line);
    return response_send(out, "", 0);
}

int response_body(FCGX_Stream *out, const char *content_type, const char *body, size_t len)
{
    FCGX_FPrintF(out, "Content-Type: %s\r\nCache-Control: no-store\r\n\r\n", content_type);
    return response_send(out, body, len);
}
