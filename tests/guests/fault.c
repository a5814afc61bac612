/* SPDX-License-Identifier: ISC */
/* fault: an invalid opcode (ud2) with no IDT loaded: #UD cannot be
 * delivered, so the vCPU triple-faults and shm-vm must say so. */
#include "guest.h"

GUEST_ENTRY void _start(uint64_t factory, uint64_t vector);

void
_start(uint64_t factory, uint64_t vector)
{
	(void)factory;
	(void)vector;
	guest_puts("before ud2\n");
	__asm__ volatile("ud2");
	guest_exit(0);
}
