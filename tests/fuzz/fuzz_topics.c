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
/* Long inputs add little here: keep them short. */
#define MAX_OPS 300
/* Member lists per delivery loop (reader): a handle joins its slot's. */
#define READERS 3

struct handle {
    struct topic *topic;      /* NULL: slot free */
    char name[4];
    struct membership member; /* joined when member.topic is set */
};

struct model {
    struct topics *reg;
    struct handle h[SLOTS];
};

/* What the model holds per name: names are 1 to 3 of the letters A-H, so a
 * name is a number below 9 * 9 * 9. */
#define KEYS 729

struct tally {
    const struct topic *topic;
    size_t refs, joined[READERS];
};

static size_t key(const char *name)
{
    size_t k = 0, len = 0;
    for (; *name; name++, len++) {
        FUZZ_CHECK(*name >= 'A' && *name <= 'H' && len < 3, "a name the model handed out");
        k = k * 9 + (size_t)(*name - 'A' + 1);
    }
    return k;
}

struct visit {
    const struct tally *tally;
    size_t seen;
};

static void check_topic(void *arg, const struct topic *t)
{
    struct visit *v = arg;
    const struct tally *want = &v->tally[key(t->name)];
    v->seen++;
    FUZZ_CHECK(want->topic == t, "a listed topic is referenced, under its name");
    FUZZ_CHECK(t->refs == want->refs, "refs counts the references taken");
    for (unsigned r = 0; r < READERS; r++) {
        size_t members = 0;
        const struct membership *prev = NULL;
        for (const struct membership *mb = t->members[r]; mb; mb = mb->next) {
            FUZZ_CHECK(mb->prev == prev && mb->topic == t, "the member list is linked both ways");
            prev = mb;
            members++;
        }
        FUZZ_CHECK(members == want->joined[r], "each reader's list holds the members it joined");
    }
}

static void check_registry(const struct model *m)
{
    static struct tally tally[KEYS];
    memset(tally, 0, sizeof tally);
    size_t distinct = 0;
    for (size_t i = 0; i < SLOTS; i++) {
        const struct handle *h = &m->h[i];
        if (!h->topic)
            continue;
        FUZZ_CHECK(strcmp(h->topic->name, h->name) == 0, "a topic keeps its name");
        struct tally *t = &tally[key(h->name)];
        if (!t->topic) {
            t->topic = h->topic;
            distinct++;
        }
        FUZZ_CHECK(t->topic == h->topic, "one topic per name");
        t->refs++;
        t->joined[(size_t)(h - m->h) % READERS] += h->member.topic != NULL;
    }
    FUZZ_CHECK(topics_count(m->reg) == distinct, "topics_count counts distinct names");
    struct visit v = { tally, 0 };
    topics_each(m->reg, check_topic, &v);
    FUZZ_CHECK(v.seen == distinct, "topics_each visits each topic once");
}

static unsigned reader_of(const struct model *m, const struct handle *h)
{
    return (unsigned)((size_t)(h - m->h) % READERS);
}

static void release(struct model *m, struct handle *h)
{
    if (h->member.topic)
        topics_leave(h->topic, reader_of(m, h), &h->member);
    topics_release(m->reg, h->topic);
    memset(h, 0, sizeof *h);
}

static void registry(const uint8_t *data, size_t size)
{
    struct model m = { topics_new(READERS), { { NULL, "", { NULL, NULL, NULL, NULL } } } };
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
            topics_join(h->topic, reader_of(&m, h), &h->member);
        } else if (h->member.topic) {
            topics_leave(h->topic, reader_of(&m, h), &h->member);
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
