/*
 * topics: the hub's registry of topic names. A topic lives while something
 * refers to it (a subscriber or an event in the history) and keeps, per
 * delivery loop, the list of that loop's subscribers. Not thread-safe on its
 * own: the hub calls it with its lock held, except for the member lists,
 * which only their loop's thread touches (topics_join/topics_leave).
 */
#ifndef SSE_TOPICS_H
#define SSE_TOPICS_H

#include <stddef.h>
#include <stdint.h>

#define TOPIC_MAX_LEN 128

struct hub_sub;

/* A stream's place in one topic's list of subscribers. */
struct membership {
    struct hub_sub *sub;
    struct topic *topic;
    struct membership *prev, *next;
};

struct topic {
    char *name;
    size_t refs;           /* subscribers + history entries naming it */
    size_t subscribers;
    uint64_t published;
    uint64_t evicted;      /* seq of the newest event of this topic evicted
                              from the history (0: none yet) */
    /* Per reader: that reader's subscribers of this topic. Each list is
     * read and changed only by its reader's thread, never under the lock. */
    struct membership **members;
    struct topic *next_in_bucket;
};

struct topics;

/* readers: how many per-reader member lists each topic has (at least 1). */
struct topics *topics_new(unsigned readers);
void topics_free(struct topics *t);

/* A topic name is 1 to TOPIC_MAX_LEN of A-Z a-z 0-9 - . _ ~ : / @ */
int topics_name_valid(const char *name, size_t n);

/* Finds or creates the topic and takes a reference; NULL when out of memory. */
struct topic *topics_acquire(struct topics *t, const char *name, size_t n);
/* Drops a reference; the topic is freed with the last one. */
void topics_release(struct topics *t, struct topic *topic);

/* The member lists: changed only by reader r's thread (no count, no lock). */
void topics_join(struct topic *topic, unsigned r, struct membership *m);
void topics_leave(struct topic *topic, unsigned r, struct membership *m);

size_t topics_count(const struct topics *t);
void topics_each(const struct topics *t, void (*fn)(void *ctx, const struct topic *), void *ctx);

#endif
