/* SPDX-License-Identifier: ISC */
/*
 * copy: the copy routines guest_copy_64M compares, one definition for both
 * sides: the copy guests run them at CPL3 (bench_copy.c) and shmbench runs
 * the same ones on the host for the reference (tests/bench/fig_guest.c,
 * which adds glibc's memcpy). rep movsq, rep movsb, and non-temporal SSE2
 * stores (movntdq, then sfence), which skip the cache on a copy far larger
 * than it. Lengths are multiples of 64 bytes, buffers 16-byte aligned.
 * Freestanding: no libc; out of line so that a guest never runs them at
 * CPL0, where SSE is not available on every host.
 */
#ifndef SHMBENCH_COPY_H
#define SHMBENCH_COPY_H

#include <stddef.h>
#include <stdint.h>

typedef void copy_fn(void *dst, const void *src, size_t n);

static __attribute__((noinline, unused)) void
copy_movsq(void *dst, const void *src, size_t n)
{
	size_t q = n / 8;

	__asm__ volatile("rep movsq" : "+D"(dst), "+S"(src), "+c"(q)
	    : : "memory");
}

static __attribute__((noinline, unused)) void
copy_movsb(void *dst, const void *src, size_t n)
{
	__asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n)
	    : : "memory");
}

static __attribute__((noinline, unused, target("sse2"))) void
copy_nt(void *dst, const void *src, size_t n)
{
	__asm__ volatile(
	    "1:\n\t"
	    "movdqa (%1), %%xmm0\n\t"
	    "movdqa 16(%1), %%xmm1\n\t"
	    "movdqa 32(%1), %%xmm2\n\t"
	    "movdqa 48(%1), %%xmm3\n\t"
	    "movntdq %%xmm0, (%0)\n\t"
	    "movntdq %%xmm1, 16(%0)\n\t"
	    "movntdq %%xmm2, 32(%0)\n\t"
	    "movntdq %%xmm3, 48(%0)\n\t"
	    "add $64, %1\n\t"
	    "add $64, %0\n\t"
	    "sub $64, %2\n\t"
	    "jnz 1b\n\t"
	    "sfence"
	    : "+r"(dst), "+r"(src), "+r"(n)
	    : : "memory", "xmm0", "xmm1", "xmm2", "xmm3");
}

struct copy_routine {
	const char *name;
	copy_fn *fn;
};

#define COPY_ROUTINES { \
	{ "rep_movsq", copy_movsq }, \
	{ "rep_movsb", copy_movsb }, \
	{ "movntdq", copy_nt }, \
}
#define COPY_NROUTINES 3

#endif
