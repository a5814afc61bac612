/* SPDX-License-Identifier: ISC */
/* hello: the smallest guest. Prints a line, exits with status 0. Its flat
 * copy (hello.bin) tests the flat loader. */
#include "guest.h"

GUEST_ENTRY void _start(uint64_t factory, uint64_t vector);

void
_start(uint64_t factory, uint64_t vector)
{
	(void)factory;
	(void)vector;
	guest_puts("hello from the guest\n");
	guest_exit(0);
}
