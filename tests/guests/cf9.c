/* SPDX-License-Identifier: ISC */
/*
 * cf9: one write to the reset control register, port 0xcf9, of the
 * value and width shm-vm's --arg gives: bits 0-7 the value, bits 8-15 the
 * width in bytes (0 or 1: outb, 2: outw, 4: outl). Prints "before" and,
 * if the write did not reset it, "after", then exits with 0.
 */
#include "guest.h"

#define RESET_PORT	0xcf9

GUEST_ENTRY void _start(uint64_t factory, uint64_t vector, uint64_t arg);

void
_start(uint64_t factory, uint64_t vector, uint64_t arg)
{
	uint8_t value = (uint8_t)arg;
	uint16_t port = RESET_PORT;

	(void)factory;
	(void)vector;
	guest_puts("before\n");
	switch ((arg >> 8) & 0xff) {
	case 2:
		__asm__ volatile("outw %0, %1" : : "a"((uint16_t)value),
		    "Nd"(port));
		break;
	case 4:
		__asm__ volatile("outl %0, %1" : : "a"((uint32_t)value),
		    "Nd"(port));
		break;
	default:
		guest_outb(port, value);
		break;
	}
	guest_puts("after\n");
	guest_exit(0);
}
