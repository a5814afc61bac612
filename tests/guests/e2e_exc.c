/* SPDX-License-Identifier: ISC */
/*
 * e2e_exc: shmguest's exception handlers. Built twice: e2e_exc_ud
 * (-DEXC_UD, ud2: a vector without an error code) and e2e_exc_gp (-DEXC_GP,
 * a load from a non-canonical address: #GP, with an error code). Either
 * way the handler prints the vector and ends the guest with status
 * 0x80 + vector, instead of the triple fault a guest without an IDT gets.
 */
#include "shmguest.h"

GUEST_ENTRY void _start(uint64_t factory, uint64_t vector);

void
_start(uint64_t factory, uint64_t vector)
{
	(void)factory;
	shmg_setup_idt(vector);
#ifdef EXC_UD
	guest_puts("X: ud2\n");
	__asm__ volatile("ud2");
#endif
#ifdef EXC_GP
	guest_puts("X: non-canonical load\n");
	(void)*(volatile uint64_t *)0x8000000000000000ULL;
#endif
	guest_puts("X: still running\n");
	guest_exit(0);
}
