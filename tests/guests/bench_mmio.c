/* SPDX-License-Identifier: ISC */
/* bench_mmio: the floor of a guest's register access: a write to an
 * address in the region window that nothing claims, so shm-vm answers it
 * at once. One sample a write. */
#include "bench.h"

#define UNCLAIMED	0xe0000000ULL
#define ITERS		1000

GUEST_ENTRY void _start(uint64_t factory, uint64_t vector);

void
_start(uint64_t factory, uint64_t vector)
{
	volatile uint32_t *p = (volatile uint32_t *)UNCLAIMED;

	(void)factory;
	(void)vector;
	for (int i = 0; i < BENCH_WARMUP + ITERS; i++) {
		uint64_t t0 = bench_rdtsc();

		*p = 0;
		uint64_t t1 = bench_rdtsc();
		if (i >= BENCH_WARMUP)
			bench_sample(t1 - t0);
	}
	guest_exit(0);
}
