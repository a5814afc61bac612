/* SPDX-License-Identifier: ISC */
/*
 * bench: what the benchmark guests share (tests/bench/fig_guest.c runs
 * them). They time themselves with rdtsc, so the timed part is a few
 * instructions around the thing being measured, keep the samples and
 * print them, one "S <ticks>" line each, when the timed loop is over;
 * shmbench turns ticks into time. The IDT and the interrupt
 * count are shmguest.h's; the guests keep their state in the shared
 * region, so no timed path needs a status read.
 */
#ifndef SHM_VM_GUEST_BENCH_H
#define SHM_VM_GUEST_BENCH_H

#include "shmguest.h"

#define BENCH_WARMUP		50
#define BENCH_MAX_SAMPLES	1000

/* On the guest's stack. Not printed as they come: a line is ten port
 * exits, and shm-vm's write of it wakes shmbench, which reads it on the
 * CPU the next sample runs on when everything shares one. */
struct bench_samples {
	uint64_t ticks[BENCH_MAX_SAMPLES];
	unsigned n;
};

/* Sleeps until the interrupt count moved past seen; returns the new one. */
static inline uint32_t
bench_wait_irq(uint32_t seen)
{
	while (shmg_irq_count() == seen)
		shmg_wait_irq();
	return shmg_irq_count();
}

static inline uint64_t
bench_rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static inline void
bench_sample(struct bench_samples *s, uint64_t ticks)
{
	if (s->n < BENCH_MAX_SAMPLES)
		s->ticks[s->n++] = ticks;
}

static inline void
bench_print_samples(const struct bench_samples *s)
{
	for (unsigned i = 0; i < s->n; i++) {
		guest_puts("S ");
		guest_puthex(s->ticks[i]);
		guest_puts("\n");
	}
}

static inline void
bench_result(const char *key, uint64_t v)
{
	guest_puts("R ");
	guest_puts(key);
	guest_puts(" ");
	guest_puthex(v);
	guest_puts("\n");
}

static inline __attribute__((noreturn)) void
bench_fail(const char *what, uint32_t status)
{
	guest_puts("FAIL ");
	guest_puts(what);
	guest_puts(" status ");
	guest_puthex(status);
	guest_puts("\n");
	guest_exit(2);
}

/* Finds name, retrying while its creator has not made it yet. */
static inline volatile struct guest_shm_control *
bench_find(volatile struct guest_shm_factory *f, const char *name)
{
	struct shmg_region r;
	uint32_t st;

	if (!shmg_name_bytes(f, name))
		bench_fail("find", GSS_ILLEGAL_NAME);
	if ((st = shmg_find_created(f, &r, 100000)) != GSS_OK)
		bench_fail(st == GSS_DOES_NOT_EXIST ? "find: never created" :
		    "find", st);
	return r.ctl;
}

static inline volatile struct guest_shm_control *
bench_create(volatile struct guest_shm_factory *f, const char *name,
    uint32_t pages)
{
	struct shmg_region r;
	uint32_t st;

	if (!shmg_name_bytes(f, name))
		bench_fail("create", GSS_ILLEGAL_NAME);
	if ((st = shmg_create(f, pages, &r)) != GSS_OK)
		bench_fail("create", st);
	return r.ctl;
}

#endif
