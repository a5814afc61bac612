/* SPDX-License-Identifier: ISC */
/*
 * bench_ping / bench_pong: guest-to-guest notification. ping creates the
 * region, waits for pong to attach, then per round writes the round
 * number into the region, notifies pong and sleeps until pong's echo of
 * the round number is there. One sample a round trip; half of it is the
 * one-way notification. The round numbers in the shared data, not status
 * reads, say who is where, so the timed path is notify, irqfd, interrupt.
 *
 * The DOORBELL builds (bench_ping_db, bench_pong_db) run the same rounds
 * on shmbench-vm (tests/bench/benchvm.c), which passes a control page's
 * address in RDX with the shared data right after it, and whose notify
 * register is an in-kernel ioeventfd signalling the peer's irqfd: QEMU's
 * ivshmem doorbell path. There no status says when the peer is there, so
 * pong sets ready in the shared data and rings once. shmbench itself may
 * play ping against bench_pong_db (the host-timed irqfd floor).
 */
#include "bench.h"
#include "pingpong.h"

#define ITERS		1000

GUEST_ENTRY void _start(uint64_t factory, uint64_t vector, uint64_t arg);

static struct pingpong *
bench_pp(volatile struct guest_shm_control *ctl)
{
	return (struct pingpong *)((uintptr_t)ctl + GUEST_SHM_PAGE_SIZE);
}

#ifdef PONG
void
_start(uint64_t factory, uint64_t vector, uint64_t arg)
{
	volatile struct guest_shm_control *ctl;
	struct pingpong *pp;
	uint32_t seen = shmg_irq_count();

	shmg_setup_idt(vector);
#ifdef DOORBELL
	(void)factory;
	ctl = (volatile struct guest_shm_control *)(uintptr_t)arg;
	pp = bench_pp(ctl);
	pp->ready = 1;
	ctl->notify = GUEST_SHM_NOTIFY_ALL;
#else
	(void)arg;
	ctl = bench_find((void *)(uintptr_t)factory, "bench-ping");
	pp = bench_pp(ctl);
#endif
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
_start(uint64_t factory, uint64_t vector, uint64_t arg)
{
	volatile struct guest_shm_control *ctl;
	struct pingpong *pp;
	uint32_t others;
	uint32_t seen = shmg_irq_count();
	struct bench_samples s;

	s.n = 0;
	shmg_setup_idt(vector);
#ifdef DOORBELL
	(void)factory;
	ctl = (volatile struct guest_shm_control *)(uintptr_t)arg;
	pp = bench_pp(ctl);
	others = GUEST_SHM_NOTIFY_ALL;	/* the doorbell rings whatever */
	while (!pp->ready)
		seen = bench_wait_irq(seen);
#else
	uint32_t me;

	(void)arg;
	ctl = bench_create((void *)(uintptr_t)factory, "bench-ping", 1);
	pp = bench_pp(ctl);
	me = ctl->idx;
	/* A membership change interrupts: wait for pong's attach. */
	while ((others = GUEST_SHM_ACTIVE(ctl->status) & ~(1u << me)) == 0)
		seen = bench_wait_irq(seen);
#endif
	for (uint64_t i = 1; i <= BENCH_WARMUP + ITERS; i++) {
		uint64_t t0 = bench_rdtsc(), t1;

		pp->round = i;
		ctl->notify = others;
		while (pp->echoed != i)
			seen = bench_wait_irq(seen);
		t1 = bench_rdtsc();
		if (i > BENCH_WARMUP)
			bench_sample(&s, (t1 - t0) / 2);
	}
	pp->done = 1;
	ctl->notify = others;
	bench_print_samples(&s);
	guest_exit(0);
}
#endif
