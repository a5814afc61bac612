/* SPDX-License-Identifier: ISC */
/*
 * bench_ping / bench_pong: guest-to-guest notification. ping creates the
 * region, waits for pong to attach, then per round writes the round
 * number into the region, notifies pong and sleeps until pong's echo of
 * the round number is there. One sample a round trip; half of it is the
 * one-way notification. The round numbers in the shared data, not status
 * reads, say who is where, so the timed path is notify, irqfd, interrupt.
 */
#include "bench.h"

#define ITERS		1000

struct pingpong {
	volatile uint64_t round;	/* written by ping */
	volatile uint64_t echoed;	/* written by pong */
	volatile uint64_t done;
};

GUEST_ENTRY void _start(uint64_t factory, uint64_t vector);

#ifdef PONG
void
_start(uint64_t factory, uint64_t vector)
{
	volatile struct guest_shm_factory *f = (void *)(uintptr_t)factory;
	volatile struct guest_shm_control *ctl;
	struct pingpong *pp;
	uint32_t seen = shmg_irq_count();

	shmg_setup_idt(vector);
	ctl = bench_find(f, "bench-ping");
	pp = (struct pingpong *)((uintptr_t)ctl + GUEST_SHM_PAGE_SIZE);
	while (!pp->done) {
		seen = bench_wait_irq(seen);
		if (pp->round != pp->echoed) {
			pp->echoed = pp->round;
			ctl->notify = GUEST_SHM_NOTIFY_ALL;
		}
	}
	guest_exit(0);
}
#else
void
_start(uint64_t factory, uint64_t vector)
{
	volatile struct guest_shm_factory *f = (void *)(uintptr_t)factory;
	volatile struct guest_shm_control *ctl;
	struct pingpong *pp;
	uint32_t me, others;
	uint32_t seen = shmg_irq_count();

	shmg_setup_idt(vector);
	ctl = bench_create(f, "bench-ping", 1);
	pp = (struct pingpong *)((uintptr_t)ctl + GUEST_SHM_PAGE_SIZE);
	me = ctl->idx;
	/* A membership change interrupts: wait for pong's attach. */
	while ((others = GUEST_SHM_ACTIVE(ctl->status) & ~(1u << me)) == 0) {
		seen = bench_wait_irq(seen);
	}
	for (uint64_t i = 1; i <= BENCH_WARMUP + ITERS; i++) {
		uint64_t t0 = bench_rdtsc(), t1;

		pp->round = i;
		ctl->notify = others;
		while (pp->echoed != i) {
			seen = bench_wait_irq(seen);
		}
		t1 = bench_rdtsc();
		if (i > BENCH_WARMUP)
			bench_sample((t1 - t0) / 2);
	}
	pp->done = 1;
	ctl->notify = others;
	guest_exit(0);
}
#endif
