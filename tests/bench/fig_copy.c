/* SPDX-License-Identifier: ISC */
/*
 * fig_copy: guest_copy_64M, GB/s. Guest A (bench_fill) fills a 64 MiB
 * region from its RAM, guest B (bench_drain) copies it out into its RAM;
 * both copy at CPL3 with every routine of tests/guests/copy.h, time the
 * passes after the first (which faults the pages in) and report their
 * best. The reference is the best host copy of 64 MiB measured here in the
 * same run: the same routines plus glibc's memcpy, one untimed pass and
 * HOST_PASSES timed ones each. Guests and this process all run on one
 * CPU (same_cpu).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "copy.h"
#include "guest.h"

#define COPY_TARGET	0.9
#define COPY_BYTES	(64ull << 20)
#define HOST_PASSES	5
#define HOST_NROUTINES	(COPY_NROUTINES + 1)

static void
copy_libc(void *dst, const void *src, size_t n)
{
	memcpy(dst, src, n);
}

struct host_copy {
	double gbps[HOST_NROUTINES];	/* each routine's best */
	double best;
	size_t best_by;
};

static const char *
host_routine_name(size_t i)
{
	static const struct copy_routine routines[] = COPY_ROUTINES;

	return i == 0 ? "memcpy" : routines[i - 1].name;
}

/* The best of each routine over 64 MiB between two anonymous buffers. */
static void
host_copy(struct host_copy *h)
{
	static const struct copy_routine routines[] = COPY_ROUTINES;
	uint8_t *src = mmap(NULL, COPY_BYTES, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *dst = mmap(NULL, COPY_BYTES, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	memset(h, 0, sizeof(*h));
	h->best = NAN;
	if (src == MAP_FAILED || dst == MAP_FAILED)
		goto out;
	memset(src, 0x5a, COPY_BYTES);
	memset(dst, 0, COPY_BYTES);
	for (size_t i = 0; i < HOST_NROUTINES; i++) {
		copy_fn *fn = i == 0 ? copy_libc : routines[i - 1].fn;

		fn(dst, src, COPY_BYTES);
		for (int pass = 0; pass < HOST_PASSES; pass++) {
			uint64_t t0 = bench_now_ns();
			double gbps;

			fn(dst, src, COPY_BYTES);
			gbps = (double)COPY_BYTES /
			    (double)(bench_now_ns() - t0);
			if (gbps > h->gbps[i])
				h->gbps[i] = gbps;
		}
		if (!(h->best >= h->gbps[i])) {
			h->best = h->gbps[i];
			h->best_by = i;
		}
	}
out:
	if (src != MAP_FAILED)
		munmap(src, COPY_BYTES);
	if (dst != MAP_FAILED)
		munmap(dst, COPY_BYTES);
}

/* GB/s from a guest's best tick count for COPY_BYTES. */
static double
copy_gbps(const struct guest_run *r, double ticks)
{
	return ticks > 0 ? (double)COPY_BYTES / (ticks * r->ns_per_tick) :
	    NAN;
}

static const char *
guest_routine_name(double index)
{
	static const struct copy_routine routines[] = COPY_ROUTINES;

	return index >= 0 && index < COPY_NROUTINES ?
	    routines[(size_t)index].name : "?";
}

void
fig_copy(struct guest_run *r)
{
	struct figure *f = figure_new_placed(r->b, "guest_copy_64M", "GB/s",
	    PLACE_SAME);
	int cpu = place_cpu(r->b, PLACE_SAME, ROLE_CLIENT);
	struct guest_out wo = { 0 }, ro = { 0 };
	struct vm_spec va, vb;
	struct host_copy h;
	double rticks;
	int rc;

	place_pin(0, cpu);
	place_pin_tree(r->d.pid, cpu);
	vm_spec_shm_vm(r, &va, "bench_fill.elf", "160M", cpu);
	vm_spec_shm_vm(r, &vb, "bench_drain.elf", "160M", cpu);
	rc = vm_run_pair(r, &va, &vb, &wo, &ro);
	host_copy(&h);
	rticks = guest_result(&ro, "read");
	if (rc == 0 && isfinite(rticks)) {
		figure_value(f, copy_gbps(r, rticks), h.best, COPY_TARGET,
		    false);
		figure_note(f, "guest B's best pass copying the region out "
		    "into its RAM at CPL3 (%s, %s); guest A filled it at %.2f "
		    "GB/s (%s)", guest_routine_name(guest_result(&ro,
		    "read_by")), r->huge ? "hugetlb" : "shmem: no pool",
		    copy_gbps(r, guest_result(&wo, "write")),
		    guest_routine_name(guest_result(&wo, "write_by")));
		figure_note(f, "the reference is the host's best, %s; host "
		    "64 MiB: memcpy %.2f, %s %.2f, %s %.2f, %s %.2f GB/s",
		    host_routine_name(h.best_by), h.gbps[0],
		    host_routine_name(1), h.gbps[1], host_routine_name(2),
		    h.gbps[2], host_routine_name(3), h.gbps[3]);
		f->floor = "host_copy_64M";
	} else {
		bench_error(r->b, f->name, "%s", r->err);
		figure_skip(f, "host_copy_64M", COPY_TARGET, false,
		    "failed: %s", r->err);
	}
	report_figure(r->b, f);
	place_release(r->b);
}
