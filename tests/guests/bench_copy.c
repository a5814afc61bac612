/* SPDX-License-Identifier: ISC */
/*
 * bench_fill / bench_drain: guest-to-guest copy through a 64 MiB region.
 * fill creates it (64 MiB of data and one more page for the handshake),
 * copies its own RAM into it and tells drain; drain copies the region out
 * into its own RAM, checks it and tells fill, who may then go. Each times
 * three passes with rep movsq and reports the best ("R write" / "R read",
 * in ticks): the first pass also pays for mapping the pages in. Both wait
 * for the other in hlt, woken by its notification, so a waiting guest
 * takes no CPU from the copying one.
 */
#include "bench.h"

#define COPY_BYTES	(64ULL << 20)
#define PAGES		((COPY_BYTES >> 12) + 1)
#define RAM_BUF		0x1000000ULL	/* 16 MiB, clear of image and stack */
#define PASSES		3

struct handshake {
	volatile uint64_t filled;
	volatile uint64_t drained;
};

GUEST_ENTRY void _start(uint64_t factory, uint64_t vector);

static uint64_t
copy_best(void *dst, const void *src)
{
	uint64_t best = ~0ULL;

	for (int pass = 0; pass < PASSES; pass++) {
		void *d = dst;
		const void *s = src;
		uint64_t n = COPY_BYTES / 8, t0 = bench_rdtsc(), t1;

		__asm__ volatile("rep movsq" : "+D"(d), "+S"(s), "+c"(n)
		    : : "memory");
		t1 = bench_rdtsc();
		if (t1 - t0 < best)
			best = t1 - t0;
	}
	return best;
}

/* The flag may already be set: the other guest may have finished before
 * this one got here, and its notification with it. */
static void
wait_flag(volatile uint64_t *flag)
{
	uint32_t seen = shmg_irq_count();

	while (!*flag)
		seen = bench_wait_irq(seen);
}

void
_start(uint64_t factory, uint64_t vector)
{
	volatile struct guest_shm_factory *f = (void *)(uintptr_t)factory;
	volatile struct guest_shm_control *ctl;
	uint64_t *ram = (uint64_t *)RAM_BUF, *data;
	struct handshake *hs;

	shmg_setup_idt(vector);
#ifdef DRAIN
	ctl = bench_find(f, "bench-copy");
#else
	ctl = bench_create(f, "bench-copy", (uint32_t)PAGES);
#endif
	data = (uint64_t *)((uintptr_t)ctl + GUEST_SHM_PAGE_SIZE);
	hs = (struct handshake *)((uintptr_t)data + COPY_BYTES);
#ifdef DRAIN
	wait_flag(&hs->filled);
	bench_result("read", copy_best(ram, data));
	for (uint64_t i = 0; i < COPY_BYTES / 8; i += 4096 / 8)
		if (ram[i] != i * 0x9e3779b97f4a7c15ULL)
			bench_fail("check", (uint32_t)i);
	hs->drained = 1;
	ctl->notify = GUEST_SHM_NOTIFY_ALL;
#else
	for (uint64_t i = 0; i < COPY_BYTES / 8; i++)
		ram[i] = i * 0x9e3779b97f4a7c15ULL;
	bench_result("write", copy_best(data, ram));
	hs->filled = 1;
	ctl->notify = GUEST_SHM_NOTIFY_ALL;
	wait_flag(&hs->drained);
#endif
	guest_exit(0);
}
