#include "refuse.h"

#include <fastcgi.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fcgi_record.h"
#include "strbuf.h"

/* A refused client should not come straight back. */
#define REFUSED_RETRY_AFTER_S 5

/*
 * Reads, without waiting, what the peer has sent so far, and returns the
 * request id of its FCGI_BEGIN_REQUEST if that came first. Otherwise 1:
 * nginx and cgi-fcgi use no other id on a connection of their own. Reading
 * it all also means close() sends a FIN, not the RST that unread data would
 * cause, which could make nginx discard the answer. A peer this worker
 * refuses has waited in the listen queue, so its request is there by now.
 */
static int drain_request_id(int fd)
{
    unsigned char buf[4096];
    int id = 1, first = 1;
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
        if (first && n >= (ssize_t)sizeof(FCGI_Header) && buf[0] == FCGI_VERSION_1 &&
            buf[1] == FCGI_BEGIN_REQUEST)
            id = buf[2] << 8 | buf[3];
        first = 0;
    }
    return id;
}

void refuse_connection(int fd, const char *reason)
{
    int id = drain_request_id(fd);
    struct strbuf head = STRBUF_INIT, out = STRBUF_INIT;
    if (strbuf_printf(&head,
                      "Status: 503 Service Unavailable\r\n"
                      "Retry-After: %d\r\n"
                      "Content-Type: text/plain; charset=utf-8\r\n"
                      "Cache-Control: no-store\r\n"
                      "\r\n"
                      "%s\n",
                      REFUSED_RETRY_AFTER_S, reason) == 0 &&
        fcgi_append_stdout(&out, id, head.ptr, head.len) == 0 &&
        fcgi_append_end(&out, id) == 0) {
        /* A few hundred bytes into an empty socket buffer: one send does it.
         * If not, the peer gets a closed connection, never a blocked thread. */
        ssize_t ignored = send(fd, out.ptr, out.len, MSG_DONTWAIT | MSG_NOSIGNAL);
        (void)ignored;
        shutdown(fd, SHUT_WR);
    }
    strbuf_free(&head);
    strbuf_free(&out);
    close(fd);
}
