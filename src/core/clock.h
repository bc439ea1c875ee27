/* The one monotonic clock armvmm times things with (pause latency, timeouts, restore time). */
#ifndef ARMVMM_CLOCK_H
#define ARMVMM_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t clock_monotonic_ms(void)
{
	return clock_monotonic_ns() / 1000000u;
}

/*
 * An absolute CLOCK_MONOTONIC time ms from now, for pthread_cond_timedwait on
 * a condition variable created with pthread_condattr_setclock(CLOCK_MONOTONIC).
 */
static inline struct timespec clock_monotonic_deadline(unsigned int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

#endif
