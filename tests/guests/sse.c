/* SPDX-License-Identifier: ISC */
/*
 * sse: one SSE arithmetic instruction (pxor %xmm0,%xmm0 = 66 0f ef c0).
 * Where KVM cannot emulate it (kvm_pvm, see docs/DESIGN.md, "What the
 * host changes") shm-vm must report KVM_EXIT_INTERNAL_ERROR with RIP and
 * these bytes; where it runs, the guest says so and exits with status 3.
 */
#include "guest.h"

GUEST_ENTRY void _start(uint64_t factory, uint64_t vector);

void
_start(uint64_t factory, uint64_t vector)
{
	(void)factory;
	(void)vector;
	guest_puts("before sse\n");
	__asm__ volatile("pxor %xmm0, %xmm0");
	guest_puts("sse arithmetic ran\n");
	guest_exit(3);
}
