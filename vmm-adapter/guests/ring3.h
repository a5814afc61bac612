/* SPDX-License-Identifier: ISC */
/*
 * ring3: running a function at CPL3 and coming back, for guests whose data
 * path must run natively: on a kvm_pvm host guest code at CPL0 is emulated
 * about a microsecond an instruction while CPL3 code runs on the CPU
 * (docs/DESIGN.md, "What the host changes"). shm-vm's identity map has
 * U/S=1 at every level, so CPL3 code reaches guest RAM and every region
 * with no page tables of its own.
 *
 * ring3_setup loads a GDT of its own (shm-vm's code 0x08 and data 0x10,
 * plus ring-3 code 0x18 and data 0x20 and a 64-bit TSS at 0x28) and points
 * the int3 gate, DPL3, at the way back. ring3_call(fn, arg, stack) saves
 * the callee-saved registers, puts the stack pointer it has then into the
 * TSS's RSP0, and iretq's to fn(arg) at CPL3 on stack, interrupts off and
 * IOPL 3 (so a check that fails at CPL3 can still print and exit through
 * the ports). fn's return runs int3; the gate lands on RSP0, which is
 * where the saved registers are, and ring3_call returns fn's value. An
 * exception at CPL3 takes shmguest.h's handlers on the same stack.
 *
 * Code that runs at CPL3 may use SSE when it says so with
 * __attribute__((target("sse2"))) (the guests are built
 * -mgeneral-regs-only for their CPL0 code); keep it out of line
 * (noinline) so that none of it lands in CPL0 code.
 */
#ifndef SHMGUEST_RING3_H
#define SHMGUEST_RING3_H

#include <stdint.h>

#include "shmguest.h"

#define RING3_KCODE	0x08
#define RING3_KDATA	0x10
#define RING3_UCODE	(0x18 | 3)
#define RING3_UDATA	(0x20 | 3)
#define RING3_TSS_SEL	0x28
#define RING3_RFLAGS	0x3002	/* IOPL 3, IF 0, bit 1 reserved-one */
#define RING3_GATE_DPL3	0xee	/* present, DPL3, 64-bit interrupt gate */

struct ring3_tss {
	uint32_t reserved0;
	uint64_t rsp0, rsp1, rsp2;
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap;		/* past the limit: no I/O bitmap */
} __attribute__((packed));

/*
 * The GDT and the TSS are found by the CPU by address, like the IDT:
 * globals for the same reason. The TSS's rsp0 is the one thing that
 * changes, at each ring3_call.
 */
static uint64_t ring3_gdt[7] __attribute__((aligned(16)));
struct ring3_tss ring3_tss __attribute__((aligned(16), used));

typedef uint64_t ring3_fn(uint64_t arg);
uint64_t ring3_call(ring3_fn *fn, uint64_t arg, void *stack_top);
void ring3_back(void);

/* rdi = fn, rsi = arg, rdx = the CPL3 stack's top (16-byte aligned). */
__asm__(".text\n"
    ".globl ring3_call\n"
    "ring3_call:\n"
    "\tpush %rbp\n\tpush %rbx\n\tpush %r12\n"
    "\tpush %r13\n\tpush %r14\n\tpush %r15\n"
    "\tsub $8, %rsp\n"			/* 16-aligned, as RSP0 is used */
    "\tmov %rsp, ring3_tss+4(%rip)\n"
    "\tmov %rdi, %r12\n"
    "\tmov %rsi, %rdi\n"
    "\tpushq $0x23\n"			/* SS: ring-3 data */
    "\tpush %rdx\n"			/* RSP */
    "\tpushq $0x3002\n"			/* RFLAGS */
    "\tpushq $0x1b\n"			/* CS: ring-3 code */
    "\tlea ring3_entry(%rip), %rax\n"
    "\tpush %rax\n"
    "\tiretq\n"
    "ring3_entry:\n"
    "\tcall *%r12\n"
    "\tint3\n"
    /* The int3 gate: back at CPL0 on RSP0 with fn's value in rax. */
    ".globl ring3_back\n"
    "ring3_back:\n"
    "\tmov $0x10, %ecx\n"
    "\tmov %ecx, %ds\n\tmov %ecx, %es\n\tmov %ecx, %ss\n"
    "\tmov ring3_tss+4(%rip), %rsp\n"
    "\tadd $8, %rsp\n"
    "\tpop %r15\n\tpop %r14\n\tpop %r13\n"
    "\tpop %r12\n\tpop %rbx\n\tpop %rbp\n"
    "\tret\n");

/* A code or data descriptor: flat, 4 GiB limit; access as in the SDM. */
static inline uint64_t
ring3_segment(uint8_t access, uint8_t flags)
{
	return 0xffffULL | ((uint64_t)access << 40) |
	    ((uint64_t)(0xf | (flags << 4)) << 48);
}

/* Call once, after shmg_setup_idt. */
static inline void
ring3_setup(void)
{
	uint64_t base = (uint64_t)(uintptr_t)&ring3_tss;
	uint64_t limit = sizeof(ring3_tss) - 1;
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) gdtr = {
		sizeof(ring3_gdt) - 1, (uint64_t)(uintptr_t)ring3_gdt
	};

	ring3_tss.iomap = sizeof(ring3_tss);
	ring3_gdt[0] = 0;
	ring3_gdt[1] = ring3_segment(0x9b, 0xa);	/* code, L=1, G=1 */
	ring3_gdt[2] = ring3_segment(0x93, 0xc);	/* data, D/B=1, G=1 */
	ring3_gdt[3] = ring3_segment(0xfb, 0xa);	/* DPL3 code */
	ring3_gdt[4] = ring3_segment(0xf3, 0xc);	/* DPL3 data */
	/* The 16-byte TSS descriptor: type 9 (available 64-bit TSS). */
	ring3_gdt[5] = (limit & 0xffff) | ((base & 0xffffff) << 16) |
	    (0x89ULL << 40) | (((limit >> 16) & 0xf) << 48) |
	    (((base >> 24) & 0xff) << 56);
	ring3_gdt[6] = base >> 32;
	__asm__ volatile("lgdt %0" : : "m"(gdtr) : "memory");
	__asm__ volatile("ltr %w0" : : "r"(RING3_TSS_SEL) : "memory");
	shmg_set_gate(3, (uintptr_t)ring3_back);
	shmg_idt[3].type = RING3_GATE_DPL3;
}

#endif /* SHMGUEST_RING3_H */
