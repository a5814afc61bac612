/* SPDX-License-Identifier: ISC */
/*
 * guest: what shm-vm's freestanding guests share: port I/O, the
 * console, the exit port, and the entry-point attribute. Built with the
 * host compiler and guest.ld, never with the project's flags.
 */
#ifndef SHM_VM_GUEST_H
#define SHM_VM_GUEST_H

#include <stdint.h>

#define GUEST_PORT_CONSOLE	0x3f8
#define GUEST_PORT_EXIT		0x501

/* guest.ld places this section first: the flat image starts here. */
#define GUEST_ENTRY	__attribute__((section(".text.start"), used, noreturn))

static inline void
guest_outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void
guest_puts(const char *s)
{
	while (*s != '\0')
		guest_outb(GUEST_PORT_CONSOLE, (uint8_t)*s++);
}

static inline void
guest_puthex(uint64_t v)
{
	int shift = 60;

	guest_puts("0x");
	while (shift > 0 && ((v >> shift) & 0xf) == 0)
		shift -= 4;
	for (; shift >= 0; shift -= 4)
		guest_outb(GUEST_PORT_CONSOLE,
		    (uint8_t)"0123456789abcdef"[(v >> shift) & 0xf]);
}

static inline __attribute__((noreturn)) void
guest_exit(uint8_t status)
{
	guest_outb(GUEST_PORT_EXIT, status);
	for (;;)
		__asm__ volatile("cli; hlt");
}

#endif
