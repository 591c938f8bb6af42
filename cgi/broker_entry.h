/*
 * broker_entry: an event as the shared log (a Redis stream) holds it, and
 * the stream ids that order the log.
 *
 * One stream entry per event: XADD <key> MAXLEN ~ <history> * followed by
 * the fields "topics" (the topic names, space-separated: a topic name never
 * holds a space), and, when the publisher gave them, "type", "data", "id"
 * (the publisher's own id) and "retry". Values are bytes with a length:
 * binary-safe, no escaping.
 */
#ifndef SSE_BROKER_ENTRY_H
#define SSE_BROKER_ENTRY_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#include "hub.h"
#include "strbuf.h"

/* A stream id, "<ms>-<seq>": Redis makes them, always increasing. */
struct broker_id {
    uint64_t ms;
    uint64_t seq;
};

/* Room for "<20 digits>-<20 digits>" and the NUL. */
#define BROKER_ID_MAX 42

/* Parses n bytes "<ms>-<seq>"; 0, or -1 if they are not a stream id. */
int broker_id_parse(const char *s, size_t n, struct broker_id *out);
/* <0, 0, >0 as a is before, equal to or after b in the log. */
int broker_id_cmp(const struct broker_id *a, const struct broker_id *b);
void broker_id_format(const struct broker_id *id, char out[BROKER_ID_MAX]);

#define BROKER_XADD_MAX_ARGS 16

/* The arguments of one XADD, for redisCommandArgv. */
struct broker_xadd {
    int argc;
    const char *argv[BROKER_XADD_MAX_ARGS];
    size_t lens[BROKER_XADD_MAX_ARGS];
    char maxlen[24];
    struct strbuf topics;   /* the joined topic names */
};

/* Fills x for msg (which must outlive x); 0, or -1 out of memory. */
int broker_xadd_init(struct broker_xadd *x, const char *key, size_t history,
                     const struct hub_message *msg);
void broker_xadd_free(struct broker_xadd *x);

/* An entry read back: msg points into the reply, which must outlive it. */
struct broker_entry {
    struct broker_id sid;
    char sid_text[BROKER_ID_MAX];
    struct hub_message msg;   /* event.id: the publisher's own id, else the stream id */
    struct sse_str *topics;   /* owned */
};

/*
 * Reads one element of an XREAD or XRANGE reply ([id, [field, value, ...]]).
 * 0; 1 when the entry has a stream id but is not an event (no topics, or
 * malformed fields: skip it); -1 when it is not an entry at all, or memory
 * ran out. Free with broker_entry_free() in every case.
 */
int broker_entry_read(const redisReply *r, struct broker_entry *e);
void broker_entry_free(struct broker_entry *e);

#endif
