/* SPDX-License-Identifier: ISC */
/*
 * args: checks the entry state the contract promises. Prints the factory
 * address (RDI), vector (RSI) and --arg (RDX), whether RSP has the ABI's
 * alignment of a called function, copies 16 bytes through %xmm0
 * (CR4.OSFXSR: SSE moves work), writes the local APIC EOI register and
 * reads an address nothing answers (both accepted), then exits with
 * status 42.
 */
#include "guest.h"

/* The entry passes its RSP on as a fourth argument, untouched by any
 * prologue, so the check below sees what shm-vm set. */
__asm__(".section .text.start, \"ax\"\n"
    ".globl _start\n"
    "_start:\n"
    "\tmov %rsp, %rcx\n"
    "\tjmp args_main\n"
    ".previous\n");

void args_main(uint64_t factory, uint64_t vector, uint64_t arg, uint64_t rsp)
    __attribute__((noreturn, used));

static const char sse_src[16] = "sse move ok....\n";
static char sse_dst[17];

void
args_main(uint64_t factory, uint64_t vector, uint64_t arg, uint64_t rsp)
{
	uint32_t probe;

	guest_puts("factory=");
	guest_puthex(factory);
	guest_puts(" vector=");
	guest_puthex(vector);
	guest_puts(" arg=");
	guest_puthex(arg);
	/* as if called: RSP+8 is 16-aligned, RSP = top of a 2M-multiple
	 * RAM size - 8 */
	guest_puts((rsp + 8) % (2u << 20) == 0 ? " stack=ok\n" :
	    " stack=wrong\n");
	__asm__ volatile("movups (%0), %%xmm0\n\tmovups %%xmm0, (%1)"
	    : : "r"(sse_src), "r"(sse_dst) : "memory");
	guest_puts(sse_dst);
	*(volatile uint32_t *)0xfee000b0 = 0;
	probe = *(volatile uint32_t *)0xc0000000;
	guest_puts(probe == 0 ? "mmio read 0\n" : "mmio read nonzero\n");
	guest_exit(42);
}
