/* SPDX-License-Identifier: ISC */
/* spin: never exits and never traps; only --timeout ends it. Built as
 * spin_pending (-DPENDING), it first sends itself the vdev's vector with
 * interrupts off, so that the interrupt stays pending in the local APIC's
 * IRR while it spins: what shm-vm's timeout line must then say. */
#include "guest.h"

#define LAPIC_ICR_LO	0xfee00300UL
#define ICR_SELF	(1u << 18)	/* destination shorthand: self */

GUEST_ENTRY void _start(uint64_t factory, uint64_t vector);

void
_start(uint64_t factory, uint64_t vector)
{
	(void)factory;
#ifdef PENDING
	__asm__ volatile("cli" : : : "memory");
	*(volatile uint32_t *)LAPIC_ICR_LO = ICR_SELF | (uint32_t)(vector & 0xff);
#else
	(void)vector;
#endif
	guest_puts("spinning\n");
	for (;;)
		__asm__ volatile("pause");
}
