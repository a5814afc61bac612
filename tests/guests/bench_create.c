/* SPDX-License-Identifier: ISC */
/* bench_create: create-to-usable. Each sample is the size write that
 * creates a fresh 2 MiB region (a new name every time) until it returns
 * with the region mapped; the detach after it is not timed. */
#include "bench.h"

#define ITERS		200
#define PAGES		512	/* 2 MiB */

GUEST_ENTRY void _start(uint64_t factory, uint64_t vector);

static void
set_name(volatile struct guest_shm_factory *f, int i)
{
	char name[24] = "bench-create-";
	int n = 13;

	name[n++] = (char)('0' + (i / 100) % 10);
	name[n++] = (char)('0' + (i / 10) % 10);
	name[n++] = (char)('0' + i % 10);
	name[n] = '\0';
	guest_shm_set_name(f, name);
}

void
_start(uint64_t factory, uint64_t vector)
{
	volatile struct guest_shm_factory *f = (void *)(uintptr_t)factory;
	struct bench_samples s;

	(void)vector;
	s.n = 0;
	for (int i = 0; i < BENCH_WARMUP + ITERS; i++) {
		volatile struct guest_shm_control *ctl;
		uint64_t t0, t1;

		set_name(f, i);
		t0 = bench_rdtsc();
		guest_shm_create(f, PAGES);
		t1 = bench_rdtsc();
		if (f->status != GSS_OK)
			bench_fail("create", f->status);
		ctl = (volatile struct guest_shm_control *)(uintptr_t)f->shmem;
		/* usable: the first data byte takes a write */
		*(volatile uint8_t *)((uintptr_t)ctl + GUEST_SHM_PAGE_SIZE) = 1;
		ctl->detach = 1;
		if (i >= BENCH_WARMUP)
			bench_sample(&s, t1 - t0);
	}
	bench_print_samples(&s);
	guest_exit(0);
}
