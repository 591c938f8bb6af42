/* Unit tests for cgi/fcgi_record.c: the FastCGI records the delivery loop writes. */
#include "fcgi_record.h"
#include <stdlib.h>

#include "tap.h"

static void stdout_records(void)
{
    struct strbuf sb = STRBUF_INIT;
    fcgi_append_stdout(&sb, 1, "data: x\n\n", 9);
    static const char one[] = "\x01\x06\x00\x01\x00\x09\x00\x00" "data: x\n\n";
    tap_mem("a small frame is one FCGI_STDOUT record: version 1, type 6, id 1, length 9",
            sb.ptr, sb.len, one, sizeof one - 1);
    strbuf_reset(&sb);
    fcgi_append_stdout(&sb, 0x1234, "ab", 2);
    tap_ok(sb.len == 10 && (unsigned char)sb.ptr[2] == 0x12 && (unsigned char)sb.ptr[3] == 0x34,
           "the request id is big-endian in bytes 2 and 3");
    strbuf_free(&sb);

    size_t big = 70000;
    char *bytes = malloc(big);
    memset(bytes, 'x', big);
    fcgi_append_stdout(&sb, 1, bytes, big);
    const unsigned char *p = (const unsigned char *)sb.ptr;
    size_t first = (size_t)p[4] << 8 | p[5];
    size_t second = (size_t)p[8 + first + 4] << 8 | p[8 + first + 5];
    tap_ok(sb.len == big + 16 && first == 65535 && second == big - 65535,
           "a frame over 65535 bytes is split into records of at most 65535");
    free(bytes);
    strbuf_free(&sb);
}

static void end_of_request(void)
{
    struct strbuf sb = STRBUF_INIT;
    fcgi_append_end(&sb, 1);
    static const char end[] = "\x01\x06\x00\x01\x00\x00\x00\x00"
                              "\x01\x03\x00\x01\x00\x08\x00\x00"
                              "\x00\x00\x00\x00\x00\x00\x00\x00";
    tap_mem("the end is an empty FCGI_STDOUT record and FCGI_END_REQUEST (status 0, complete)",
            sb.ptr, sb.len, end, sizeof end - 1);
    strbuf_free(&sb);
}

int main(void)
{
    stdout_records();
    end_of_request();
    return tap_done();
}
