/* monotime: deadlines on the monotonic clock, which wall-clock steps never move. */
#ifndef SSE_MONOTIME_H
#define SSE_MONOTIME_H

#include <time.h>

struct timespec monotime_now(void);
/* Now plus ms milliseconds. */
struct timespec monotime_in_ms(long ms);
void monotime_add_ms(struct timespec *t, long ms);
/* Is a strictly earlier than b? */
int monotime_before(const struct timespec *a, const struct timespec *b);

#endif
