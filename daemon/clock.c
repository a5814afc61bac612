/* SPDX-License-Identifier: ISC */
/*
 * clock: the two clocks the daemon reads. Wall-clock milliseconds for
 * what people see (creation times, event times) and monotonic nanoseconds
 * for what is measured (how long a create took), and the daemon's own CPU
 * time for what it spends (a sweep's cost). A leaf: every module may call
 * it.
 */
#include <time.h>

#include "broker.h"

uint64_t
broker_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
broker_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

uint64_t
broker_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}
