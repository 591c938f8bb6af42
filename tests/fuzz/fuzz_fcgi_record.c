/*
 * FastCGI records as the delivery loop writes them, read back by a parser
 * written here from the FastCGI 1.0 specification (byte offsets, not
 * libfcgi's structs): every record is version 1 with our request id and
 * skips its padding; the FCGI_STDOUT records carry the bytes in order, in as
 * few records as 65535-byte contents allow, and never an empty one before
 * the end (an empty FCGI_STDOUT ends the stream); the end is an empty
 * FCGI_STDOUT, then FCGI_END_REQUEST with status 0, request complete.
 *
 * Input: bytes 0-1 the request id, byte 2 how far to repeat the rest (to
 * cross the 65535-byte record limit), byte 3 where to split it into two
 * appends; then the content.
 */
#include <string.h>

#include "fcgi_record.h"
#include "fuzz.h"

enum { TYPE_END_REQUEST = 3, TYPE_STDOUT = 6, HEADER_LEN = 8, REQUEST_COMPLETE = 0 };

struct record {
    unsigned version, type, request_id, padding;
    const unsigned char *content;
    size_t content_len;
};

/* Reads the record at *at; 0 when the buffer ends inside it. */
static int read_record(const unsigned char *buf, size_t len, size_t *at, struct record *r)
{
    const unsigned char *h = buf + *at;
    if (len - *at < HEADER_LEN)
        return 0;
    r->version = h[0];
    r->type = h[1];
    r->request_id = (unsigned)h[2] << 8 | h[3];
    r->content_len = (size_t)h[4] << 8 | h[5];
    r->padding = h[6];
    if (len - *at - HEADER_LEN < r->content_len + r->padding)
        return 0;
    r->content = h + HEADER_LEN;
    *at += HEADER_LEN + r->content_len + r->padding;
    return 1;
}

/* Each append is cut into as few records as the 16-bit length allows. */
static size_t records_for(size_t n)
{
    return (n + FCGI_RECORD_MAX_CONTENT - 1) / FCGI_RECORD_MAX_CONTENT;
}

static void check_stream(const unsigned char *buf, size_t len, unsigned request_id,
                         const unsigned char *content, size_t content_len, size_t records)
{
    size_t at = 0, got = 0, stdout_records = 0;
    struct record r;
    for (;;) {
        FUZZ_CHECK(read_record(buf, len, &at, &r), "records are whole");
        FUZZ_CHECK(r.version == FCGI_VERSION_1 && r.request_id == request_id,
                   "version 1, our request id");
        FUZZ_CHECK(r.type == TYPE_STDOUT, "FCGI_STDOUT until the end of the stream");
        if (r.content_len == 0)
            break;
        FUZZ_CHECK(got + r.content_len <= content_len &&
                       memcmp(r.content, content + got, r.content_len) == 0,
                   "the records carry the bytes in order");
        got += r.content_len;
        stdout_records++;
    }
    FUZZ_CHECK(got == content_len, "every byte is sent before the end of the stream");
    FUZZ_CHECK(stdout_records == records, "as few records as the 16-bit length allows");
    FUZZ_CHECK(read_record(buf, len, &at, &r), "FCGI_END_REQUEST follows");
    FUZZ_CHECK(r.version == FCGI_VERSION_1 && r.request_id == request_id &&
                   r.type == TYPE_END_REQUEST && r.content_len == 8,
               "FCGI_END_REQUEST with its 8-byte body");
    static const unsigned char body[8] = { 0, 0, 0, 0, REQUEST_COMPLETE, 0, 0, 0 };
    FUZZ_CHECK(memcmp(r.content, body, sizeof body) == 0, "application status 0, request complete");
    FUZZ_CHECK(at == len, "nothing after FCGI_END_REQUEST");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    const unsigned request_id = (unsigned)data[0] << 8 | data[1];
    /* Mostly short contents (fast), sometimes up to 256 KiB (several records). */
    const size_t target = data[2] < 128 ? data[2] : (size_t)(data[2] - 127) * 2048;
    const uint8_t split = data[3];
    data += 4;
    size -= 4;

    /* Both buffers are kept from run to run: fresh 256 KiB blocks from ASan
     * cost a page fault per page and slowed this harness tenfold. */
    static unsigned char *content;
    static size_t content_cap;
    static struct strbuf out = STRBUF_INIT;
    size_t need = target > size ? target : size + 1;
    if (need > content_cap) {
        content = realloc(content, need);
        content_cap = need;
        FUZZ_CHECK(content != NULL, "harness memory");
    }
    strbuf_reset(&out);
    size_t len = size;
    memcpy(content, data, size);
    while (size > 0 && len < target) { /* the input over and over */
        size_t n = len < target - len ? len : target - len;
        memcpy(content + len, content, n);
        len += n;
    }

    FCGI_Header h = fcgi_stdout_header((int)request_id, len % (FCGI_RECORD_MAX_CONTENT + 1));
    const unsigned char *hb = (const unsigned char *)&h;
    FUZZ_CHECK(sizeof h == HEADER_LEN && hb[0] == FCGI_VERSION_1 && hb[1] == TYPE_STDOUT &&
                   ((unsigned)hb[2] << 8 | hb[3]) == request_id &&
                   ((size_t)hb[4] << 8 | hb[5]) == len % (FCGI_RECORD_MAX_CONTENT + 1),
               "fcgi_stdout_header's fields");

    size_t first = len * split / 255;
    FUZZ_CHECK(fcgi_append_stdout(&out, (int)request_id, (const char *)content, first) == 0 &&
                   fcgi_append_stdout(&out, (int)request_id, (const char *)content + first,
                                      len - first) == 0 &&
                   fcgi_append_end(&out, (int)request_id) == 0,
               "appending succeeds");
    check_stream((const unsigned char *)out.ptr, out.len, request_id, content, len,
                 records_for(first) + records_for(len - first));
    return 0;
}
