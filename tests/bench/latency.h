/*
 * A fixed-size latency histogram in microseconds: exact below 256 µs, then
 * 128 buckets per power of two (under 0.8 % error). Millions of samples
 * (1,000 subscribers x tens of thousands of events) cost no more memory
 * than a few, and percentiles come out in one pass. The maximum is exact.
 */
#ifndef BENCH_LATENCY_H
#define BENCH_LATENCY_H

#include <stdint.h>

#define LAT_SUB_BITS 7
#define LAT_EXACT 256u
#define LAT_BUCKETS (LAT_EXACT + 56u * (1u << LAT_SUB_BITS))

struct latency {
    uint64_t count;
    uint64_t max_us;
    uint64_t sum_us;
    uint64_t bucket[LAT_BUCKETS];
};

void latency_add(struct latency *l, uint64_t us);
/* The value at or below which a fraction q (0..1) of the samples lie. */
uint64_t latency_quantile(const struct latency *l, double q);

#endif
