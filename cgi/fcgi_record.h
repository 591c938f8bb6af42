/*
 * fcgi_record: FastCGI records written by hand. Once a stream is handed to
 * the delivery loop, libfcgi no longer owns its connection, so the loop wraps
 * each frame in FCGI_STDOUT records itself and ends the request with an
 * empty FCGI_STDOUT record and FCGI_END_REQUEST, exactly as FCGX_Finish_r
 * would. The record layouts come from libfcgi's <fastcgi.h>.
 */
#ifndef SSE_FCGI_RECORD_H
#define SSE_FCGI_RECORD_H

#include <fastcgi.h>
#include <stddef.h>

#include "strbuf.h"

/* The most content one record can carry (its length field is 16 bits). */
#define FCGI_RECORD_MAX_CONTENT 65535

/* The 8-byte header of an FCGI_STDOUT record carrying len bytes (len <= max). */
FCGI_Header fcgi_stdout_header(int request_id, size_t len);

/* Appends bytes as one or more FCGI_STDOUT records. Returns 0 or -1. */
int fcgi_append_stdout(struct strbuf *out, int request_id, const char *bytes, size_t len);

/* Appends the end of a request: an empty FCGI_STDOUT record (end of the
 * stream) and FCGI_END_REQUEST with status 0. Returns 0 or -1. */
int fcgi_append_end(struct strbuf *out, int request_id);

#endif
