/* SPDX-License-Identifier: ISC */
/* spin: never exits and never traps; only --timeout ends it. */
#include "guest.h"

GUEST_ENTRY void _start(uint64_t factory, uint64_t vector);

void
_start(uint64_t factory, uint64_t vector)
{
	(void)factory;
	(void)vector;
	guest_puts("spinning\n");
	for (;;)
		__asm__ volatile("pause");
}
