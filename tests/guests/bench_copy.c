/* SPDX-License-Identifier: ISC */
/*
 * bench_fill / bench_drain: guest-to-guest copy through a 64 MiB region.
 * fill creates it (64 MiB of data and one more page for the handshake),
 * writes a pattern into its own RAM, copies it into the region and tells
 * drain; drain copies the region out into its own RAM, checks it and tells
 * fill, who may then go. The copying runs at CPL3 (ring3.h), where this
 * host's KVM runs guest code natively rather than emulating it, with each
 * routine of copy.h: one pass untimed (it faults the pages in), then
 * PASSES timed ones each. Each guest reports its best time ("R write" /
 * "R read", in ticks) and which routine made it ("R write_by" /
 * "R read_by", an index into COPY_ROUTINES). Both wait for the other in
 * hlt, woken by its notification, so a waiting guest takes no CPU from
 * the copying one.
 */
#include "bench.h"
#include "copy.h"
#include "ring3.h"

#define COPY_BYTES	(64ULL << 20)
#define PAGES		((COPY_BYTES >> 12) + 1)
#define RAM_BUF		0x1000000ULL	/* 16 MiB, clear of image and stack */
#define USER_STACK_TOP	0xff0000ULL	/* below RAM_BUF, above the image */
#define PASSES		5
#define GOLDEN		0x9e3779b97f4a7c15ULL

struct handshake {
	volatile uint64_t filled;
	volatile uint64_t drained;
};

/* What the CPL3 part works on and gives back. */
struct copy_job {
	uint64_t *ram;
	uint64_t *data;
	uint64_t best;		/* ticks */
	uint64_t best_by;	/* index into COPY_ROUTINES */
};

GUEST_ENTRY void _start(uint64_t factory, uint64_t vector);

/* At CPL3: one untimed pass, then PASSES timed ones of every routine. */
static void
copy_best(struct copy_job *j, void *dst, const void *src)
{
	static const struct copy_routine routines[] = COPY_ROUTINES;

	copy_movsq(dst, src, COPY_BYTES);
	j->best = ~0ULL;
	for (uint64_t r = 0; r < COPY_NROUTINES; r++) {
		for (int pass = 0; pass < PASSES; pass++) {
			uint64_t t0 = bench_rdtsc(), t;

			routines[r].fn(dst, src, COPY_BYTES);
			t = bench_rdtsc() - t0;
			if (t < j->best) {
				j->best = t;
				j->best_by = r;
			}
		}
	}
}

#ifdef DRAIN
/* At CPL3: the copy out, then a word of every page checked; 0, or the
 * first bad word's index + 1. */
static uint64_t
drain_job(uint64_t arg)
{
	struct copy_job *j = (struct copy_job *)(uintptr_t)arg;

	copy_best(j, j->ram, j->data);
	for (uint64_t i = 0; i < COPY_BYTES / 8; i += 4096 / 8)
		if (j->ram[i] != i * GOLDEN)
			return i + 1;
	return 0;
}
#else
/* At CPL3: the pattern into RAM, then the copy into the region. */
static uint64_t
fill_job(uint64_t arg)
{
	struct copy_job *j = (struct copy_job *)(uintptr_t)arg;

	for (uint64_t i = 0; i < COPY_BYTES / 8; i++)
		j->ram[i] = i * GOLDEN;
	copy_best(j, j->data, j->ram);
	return 0;
}
#endif

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
	struct copy_job job = { .ram = (uint64_t *)RAM_BUF };
	void *stack = (void *)USER_STACK_TOP;
	struct handshake *hs;

	shmg_setup_idt(vector);
	ring3_setup();
#ifdef DRAIN
	ctl = bench_find(f, "bench-copy");
#else
	ctl = bench_create(f, "bench-copy", (uint32_t)PAGES);
#endif
	job.data = (uint64_t *)((uintptr_t)ctl + GUEST_SHM_PAGE_SIZE);
	hs = (struct handshake *)((uintptr_t)job.data + COPY_BYTES);
#ifdef DRAIN
	uint64_t bad;

	wait_flag(&hs->filled);
	if ((bad = ring3_call(drain_job, (uint64_t)(uintptr_t)&job, stack)))
		bench_fail("check", (uint32_t)(bad - 1));
	bench_result("read", job.best);
	bench_result("read_by", job.best_by);
	hs->drained = 1;
	ctl->notify = GUEST_SHM_NOTIFY_ALL;
#else
	ring3_call(fill_job, (uint64_t)(uintptr_t)&job, stack);
	bench_result("write", job.best);
	bench_result("write_by", job.best_by);
	hs->filled = 1;
	ctl->notify = GUEST_SHM_NOTIFY_ALL;
	wait_flag(&hs->drained);
#endif
	guest_exit(0);
}
