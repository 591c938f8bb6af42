#include "latency.h"

static unsigned bucket_of(uint64_t us)
{
    if (us < LAT_EXACT)
        return (unsigned)us;
    unsigned e = 63u - (unsigned)__builtin_clzll(us); /* us >= 256: e >= 8 */
    unsigned sub = (unsigned)(us >> (e - LAT_SUB_BITS)) & ((1u << LAT_SUB_BITS) - 1);
    unsigned i = LAT_EXACT + (e - 8) * (1u << LAT_SUB_BITS) + sub;
    return i < LAT_BUCKETS ? i : LAT_BUCKETS - 1;
}

/* The middle of a bucket's range: half its width is the worst error. */
static uint64_t value_of(unsigned i)
{
    if (i < LAT_EXACT)
        return i;
    unsigned e = 8 + (i - LAT_EXACT) / (1u << LAT_SUB_BITS);
    uint64_t sub = (i - LAT_EXACT) % (1u << LAT_SUB_BITS);
    uint64_t low = ((uint64_t)(1u << LAT_SUB_BITS) + sub) << (e - LAT_SUB_BITS);
    return low + ((uint64_t)1 << (e - LAT_SUB_BITS)) / 2;
}

void latency_add(struct latency *l, uint64_t us)
{
    l->bucket[bucket_of(us)]++;
    l->count++;
    l->sum_us += us;
    if (us > l->max_us)
        l->max_us = us;
}

uint64_t latency_quantile(const struct latency *l, double q)
{
    if (l->count == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)l->count);
    if (rank >= l->count)
        rank = l->count - 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < LAT_BUCKETS; i++) {
        seen += l->bucket[i];
        if (seen > rank) {
            uint64_t v = value_of(i);
            return v < l->max_us ? v : l->max_us;
        }
    }
    return l->max_us;
}
