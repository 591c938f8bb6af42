#include "topics.h"

#include <stdlib.h>
#include <string.h>

struct topics {
    unsigned readers;
    struct topic **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
};

struct topics *topics_new(unsigned readers)
{
    struct topics *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->readers = readers ? readers : 1;
    t->nbuckets = 64;
    t->buckets = calloc(t->nbuckets, sizeof *t->buckets);
    if (!t->buckets) {
        free(t);
        return NULL;
    }
    return t;
}

void topics_free(struct topics *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct topic *topic = t->buckets[i];
        while (topic) {
            struct topic *next = topic->next_in_bucket;
            free(topic->members);
            free(topic->name);
            free(topic);
            topic = next;
        }
    }
    free(t->buckets);
    free(t);
}

int topics_name_valid(const char *name, size_t n)
{
    static const char extra[] = "-._~:/@";
    if (n == 0 || n > TOPIC_MAX_LEN)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 (c != '\0' && strchr(extra, c) != NULL);
        if (!ok)
            return 0;
    }
    return 1;
}

/* FNV-1a: short keys, no adversary can do much with at most a few thousand. */
static size_t hash(const char *s, size_t n)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return (size_t)h;
}

static void grow(struct topics *t)
{
    size_t n = t->nbuckets * 2;
    struct topic **b = calloc(n, sizeof *b);
    if (!b)
        return; /* keep the smaller table: slower, still correct */
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct topic *topic = t->buckets[i];
        while (topic) {
            struct topic *next = topic->next_in_bucket;
            size_t k = hash(topic->name, strlen(topic->name)) & (n - 1);
            topic->next_in_bucket = b[k];
            b[k] = topic;
            topic = next;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
}

struct topic *topics_acquire(struct topics *t, const char *name, size_t n)
{
    size_t k = hash(name, n) & (t->nbuckets - 1);
    for (struct topic *topic = t->buckets[k]; topic; topic = topic->next_in_bucket) {
        if (strlen(topic->name) == n && memcmp(topic->name, name, n) == 0) {
            topic->refs++;
            return topic;
        }
    }
    struct topic *topic = calloc(1, sizeof *topic);
    char *copy = malloc(n + 1);
    struct membership **members = calloc(t->readers, sizeof *members);
    if (!topic || !copy || !members) {
        free(topic);
        free(copy);
        free(members);
        return NULL;
    }
    topic->members = members;
    memcpy(copy, name, n);
    copy[n] = '\0';
    topic->name = copy;
    topic->refs = 1;
    topic->next_in_bucket = t->buckets[k];
    t->buckets[k] = topic;
    if (++t->count > t->nbuckets)
        grow(t);
    return topic;
}

void topics_release(struct topics *t, struct topic *topic)
{
    if (--topic->refs > 0)
        return;
    size_t k = hash(topic->name, strlen(topic->name)) & (t->nbuckets - 1);
    struct topic **link = &t->buckets[k];
    while (*link != topic)
        link = &(*link)->next_in_bucket;
    *link = topic->next_in_bucket;
    t->count--;
    free(topic->members);
    free(topic->name);
    free(topic);
}

void topics_join(struct topic *topic, unsigned r, struct membership *m)
{
    m->topic = topic;
    m->prev = NULL;
    m->next = topic->members[r];
    if (topic->members[r])
        topic->members[r]->prev = m;
    topic->members[r] = m;
}

void topics_leave(struct topic *topic, unsigned r, struct membership *m)
{
    if (m->prev)
        m->prev->next = m->next;
    else
        topic->members[r] = m->next;
    if (m->next)
        m->next->prev = m->prev;
}

size_t topics_count(const struct topics *t)
{
    return t->count;
}

void topics_each(const struct topics *t, void (*fn)(void *ctx, const struct topic *), void *ctx)
{
    for (size_t i = 0; i < t->nbuckets; i++)
        for (const struct topic *topic = t->buckets[i]; topic; topic = topic->next_in_bucket)
            fn(ctx, topic);
}
