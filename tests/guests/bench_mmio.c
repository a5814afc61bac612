/* SPDX-License-Identifier: ISC */
/*
 * bench_mmio: the floor of a guest's register access: a write to an
 * address in the region window that nothing claims, so shm-vm answers it
 * at once. One sample a write. The DOORBELL build (bench_mmio_db, on
 * shmbench-vm) writes the control page's notify register instead, an
 * in-kernel ioeventfd: the exit that never reaches the VMM.
 */
#include "bench.h"

#define UNCLAIMED	0xe0000000ULL
#define ITERS		1000

GUEST_ENTRY void _start(uint64_t factory, uint64_t vector, uint64_t arg);

void
_start(uint64_t factory, uint64_t vector, uint64_t arg)
{
#ifdef DOORBELL
	volatile uint32_t *p = &((volatile struct guest_shm_control *)
	    (uintptr_t)arg)->notify;
#else
	volatile uint32_t *p = (volatile uint32_t *)UNCLAIMED;

	(void)arg;
#endif
	struct bench_samples s;

	(void)factory;
	(void)vector;
	s.n = 0;
	for (int i = 0; i < BENCH_WARMUP + ITERS; i++) {
		uint64_t t0 = bench_rdtsc();

		*p = 0;
		uint64_t t1 = bench_rdtsc();
		if (i >= BENCH_WARMUP)
			bench_sample(&s, t1 - t0);
	}
	bench_print_samples(&s);
	guest_exit(0);
}
