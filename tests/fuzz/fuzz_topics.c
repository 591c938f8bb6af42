/*
 * topics: topics_name_valid against the alphabet and length topics.h
 * documents, then the registry against a model: random acquire, release,
 * join and leave keep one topic per distinct name, its reference and
 * subscriber counts and member list right, and free it with the last
 * reference (ASan reports a leak or a use after free).
 *
 * Input: byte 0 picks the part; for the registry each following byte is an
 * operation, its operand taken from the next bytes.
 */
#include <string.h>

#include "fuzz.h"
#include "topics.h"

static const char documented[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                 "0123456789-._~:/@";

static int reference_valid(const uint8_t *s, size_t n)
{
    if (n < 1 || n > 128)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!memchr(documented, s[i], sizeof documented - 1))
            return 0;
    return 1;
}

/* More live names than the table's first 64 buckets, so it grows. */
#define SLOTS 96
/* The model is checked whole after each operation: keep inputs short. */
#define MAX_OPS 300

struct handle {
    struct topic *topic;      /* NULL: slot free */
    char name[4];
    struct membership member; /* joined when member.topic is set */
};

struct model {
    struct topics *reg;
    struct handle h[SLOTS];
};

static size_t refs_named(const struct model *m, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < SLOTS; i++)
        n += m->h[i].topic && strcmp(m->h[i].name, name) == 0;
    return n;
}

static size_t joined_to(const struct model *m, const struct topic *t)
{
    size_t n = 0;
    for (size_t i = 0; i < SLOTS; i++)
        n += m->h[i].topic == t && m->h[i].member.topic == t;
    return n;
}

struct visit {
    const struct model *m;
    size_t seen;
};

static void check_topic(void *arg, const struct topic *t)
{
    struct visit *v = arg;
    v->seen++;
    size_t refs = refs_named(v->m, t->name);
    FUZZ_CHECK(refs > 0, "a listed topic is referenced");
    FUZZ_CHECK(t->refs == refs, "refs counts the references taken");
    size_t members = 0;
    const struct membership *prev = NULL;
    for (const struct membership *mb = t->members; mb; mb = mb->next) {
        FUZZ_CHECK(mb->prev == prev && mb->topic == t, "the member list is linked both ways");
        prev = mb;
        members++;
    }
    FUZZ_CHECK(members == t->subscribers && members == joined_to(v->m, t),
               "subscribers counts the members joined");
}

static void check_registry(const struct model *m)
{
    size_t distinct = 0;
    for (size_t i = 0; i < SLOTS; i++) {
        if (!m->h[i].topic)
            continue;
        FUZZ_CHECK(strcmp(m->h[i].topic->name, m->h[i].name) == 0, "a topic keeps its name");
        size_t first = i;
        for (size_t k = 0; k < i; k++)
            if (m->h[k].topic && strcmp(m->h[k].name, m->h[i].name) == 0)
                first = k;
        distinct += first == i;
        FUZZ_CHECK(m->h[first].topic == m->h[i].topic, "one topic per name");
    }
    FUZZ_CHECK(topics_count(m->reg) == distinct, "topics_count counts distinct names");
    struct visit v = { m, 0 };
    topics_each(m->reg, check_topic, &v);
    FUZZ_CHECK(v.seen == distinct, "topics_each visits each topic once");
}

static void release(struct model *m, struct handle *h)
{
    if (h->member.topic)
        topics_leave(h->topic, &h->member);
    topics_release(m->reg, h->topic);
    memset(h, 0, sizeof *h);
}

static void registry(const uint8_t *data, size_t size)
{
    struct model m = { topics_new(), { { NULL, "", { NULL, NULL, NULL, NULL } } } };
    FUZZ_CHECK(m.reg != NULL, "harness memory");
    for (size_t i = 0; i + 1 < size && i < 2 * MAX_OPS; i += 2) {
        uint8_t op = data[i], arg = data[i + 1];
        struct handle *h = &m.h[arg % SLOTS];
        if (op % 4 == 0 || !h->topic) {
            if (h->topic)
                release(&m, h);
            /* Names of 1 to 3 of 8 letters: duplicates are common, and up to
             * 584 distinct names make the table grow. */
            size_t len = 1 + op / 4 % 3;
            for (size_t k = 0; k < len; k++)
                h->name[k] = documented[(arg >> (k + 1) ^ op >> (4 + k)) % 8];
            h->name[len] = '\0';
            h->topic = topics_acquire(m.reg, h->name, len);
            FUZZ_CHECK(h->topic != NULL, "acquire succeeds");
        } else if (op % 4 == 1) {
            release(&m, h);
        } else if (op % 4 == 2 && !h->member.topic) {
            h->member.sub = NULL;
            topics_join(h->topic, &h->member);
        } else if (h->member.topic) {
            topics_leave(h->topic, &h->member);
            h->member.topic = NULL;
        }
        check_registry(&m);
    }
    for (size_t i = 0; i < SLOTS; i++)
        if (m.h[i].topic)
            release(&m, &m.h[i]);
    FUZZ_CHECK(topics_count(m.reg) == 0, "the last release frees every topic");
    topics_free(m.reg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1) {
        registry(data + 1, size - 1);
    } else {
        FUZZ_CHECK(topics_name_valid((const char *)data + 1, size - 1) ==
                       reference_valid(data + 1, size - 1),
                   "valid exactly for the documented alphabet and length");
    }
    return 0;
}
