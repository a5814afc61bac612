/* SPDX-License-Identifier: ISC */
/* halt: hlt with interrupts disabled (argument 0) can never wake: shm-vm
 * must end it as a guest error. The same with interrupts enabled (built as
 * halt_if with -DHALT_IF) waits for an interrupt: with no interrupt source
 * yet, --timeout ends it. */
#include "guest.h"

GUEST_ENTRY void _start(uint64_t factory, uint64_t vector);

void
_start(uint64_t factory, uint64_t vector)
{
	(void)factory;
	(void)vector;
	guest_puts("halting\n");
#ifdef HALT_IF
	__asm__ volatile("sti; hlt");
#else
	__asm__ volatile("cli; hlt");
#endif
	guest_exit(0);
}
