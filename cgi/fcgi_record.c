#include "fcgi_record.h"

static FCGI_Header header(int type, int request_id, size_t len)
{
    FCGI_Header h = {
        .version = FCGI_VERSION_1,
        .type = (unsigned char)type,
        .requestIdB1 = (unsigned char)((request_id >> 8) & 0xff),
        .requestIdB0 = (unsigned char)(request_id & 0xff),
        .contentLengthB1 = (unsigned char)((len >> 8) & 0xff),
        .contentLengthB0 = (unsigned char)(len & 0xff),
        .paddingLength = 0, /* padding to 8 bytes is a recommendation only */
        .reserved = 0,
    };
    return h;
}

FCGI_Header fcgi_stdout_header(int request_id, size_t len)
{
    return header(FCGI_STDOUT, request_id, len);
}

int fcgi_append_stdout(struct strbuf *out, int request_id, const char *bytes, size_t len)
{
    while (len > 0) {
        size_t n = len < FCGI_RECORD_MAX_CONTENT ? len : FCGI_RECORD_MAX_CONTENT;
        FCGI_Header h = fcgi_stdout_header(request_id, n);
        if (strbuf_append(out, (const char *)&h, sizeof h) != 0 ||
            strbuf_append(out, bytes, n) != 0)
            return -1;
        bytes += n;
        len -= n;
    }
    return 0;
}

int fcgi_append_end(struct strbuf *out, int request_id)
{
    FCGI_Header eos = header(FCGI_STDOUT, request_id, 0);
    FCGI_EndRequestRecord end = {
        .header = header(FCGI_END_REQUEST, request_id, sizeof(FCGI_EndRequestBody)),
        .body = { .protocolStatus = FCGI_REQUEST_COMPLETE },
    };
    if (strbuf_append(out, (const char *)&eos, sizeof eos) != 0)
        return -1;
    return strbuf_append(out, (const char *)&end, sizeof end);
}
