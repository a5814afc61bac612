/* SPDX-License-Identifier: ISC */
/*
 * reboot: a guest that reboots itself until a count given as shm-vm's
 * --arg, keeping the count where a reboot cannot reach it: in the data of
 * REBOOT_NAME, a region the test made. Each boot checks that it entered
 * as the contract says whatever the boot before left behind (flags, the
 * local APIC's priority and pending interrupts, descriptor tables, data
 * segments, the image's data, the rest of RAM), finds the region and
 * checks that its index is the first boot's (a client the reboot did not
 * detach would push it up, and at 16 to GSS_CLIENT_MAX), counts the boot
 * and, below the count, dirties that state and resets without detaching:
 * through port 0xcf9, 0x06 and 0x0e in turn, or, built as reboot_tf
 * (-DTRIPLE_FAULT), by an exception with an empty IDT. At the count it
 * prints the tally, detaches and exits with 0.
 */
#include "shmguest.h"
#include "reboot.h"

#define RESET_PORT	0xcf9
/* A self-IPI left pending across the reset: not the vdev's vector (the
 * test runs with the default, 0x40). */
#define STALE_VECTOR	0x50
#define LAPIC_ICR_LO	0xfee00300UL
#define LAPIC_IRR	0xfee00200UL	/* 32 vectors each 0x10 bytes */
#define ICR_SELF	(1u << 18)	/* destination shorthand: self */
#define RAM_MARK	0x300000UL	/* RAM no image byte covers */
#define DIRT		0xdeadbeefu
#define DATA_SELECTOR	0x10	/* shm-vm's flat GDT */
#define SHM_VM_PART	0x100000UL	/* RAM below is shm-vm's */

/* The entry keeps RSP and RFLAGS as shm-vm set them, as extra arguments
 * no prologue can have touched. */
__asm__(".section .text.start, \"ax\"\n"
    ".globl _start\n"
    "_start:\n"
    "\tmov %rsp, %rcx\n"
    "\tpushfq\n"
    "\tpop %r8\n"
    "\tjmp reboot_main\n"
    ".previous\n");

void reboot_main(uint64_t factory, uint64_t vector, uint64_t count,
    uint64_t rsp, uint64_t rflags) __attribute__((noreturn, used));

struct dtr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

/* The image's data: a reboot that did not load the image again would
 * leave the last boot's DIRT here. */
static volatile uint32_t image_word = 0x1234;
static const uint64_t own_gdt[3] = {
	0, 0x00af9b000000ffffULL, 0x00cf93000000ffffULL,
};

static uint32_t
irr_has(unsigned vector)
{
	volatile uint32_t *irr = (volatile uint32_t *)(LAPIC_IRR +
	    (vector / 32) * 0x10);

	return (*irr >> (vector % 32)) & 1;
}

/* What a new vCPU on zeroed RAM with the image loaded again shows. */
static void
check_fresh(uint64_t rflags)
{
	struct dtr gdtr, idtr;
	uint64_t cr8;
	uint16_t ds;

	__asm__ volatile("sgdt %0; sidt %1; mov %%cr8, %2; mov %%ds, %3"
	    : "=m"(gdtr), "=m"(idtr), "=r"(cr8), "=r"(ds));
	SHMG_CHECK_EQ(rflags, 0x2);
	SHMG_CHECK_EQ(cr8, 0);
	SHMG_CHECK_EQ(irr_has(STALE_VECTOR), 0);
	SHMG_CHECK_EQ(idtr.limit, 0);
	SHMG_CHECK_EQ(gdtr.base < SHM_VM_PART, 1);
	SHMG_CHECK_EQ(ds, DATA_SELECTOR);
	SHMG_CHECK_EQ(image_word, 0x1234);
	SHMG_CHECK_EQ(*(volatile uint32_t *)RAM_MARK, 0);
}

/* The boot counted in the region; the first boot's entry and index are
 * what every later one must see. */
static uint32_t
count_boot(const struct shmg_region *r, uint64_t factory, uint64_t vector,
    uint64_t count, uint64_t rsp)
{
	volatile struct reboot_data *d = (volatile struct reboot_data *)
	    (uintptr_t)r->data;

	if (d->boots == 0) {
		d->idx = r->idx;
		d->factory = factory;
		d->vector = vector;
		d->arg = count;
		d->rsp = rsp;
	}
	SHMG_CHECK_EQ(r->idx, d->idx);
	SHMG_CHECK_EQ(factory, d->factory);
	SHMG_CHECK_EQ(vector, d->vector);
	SHMG_CHECK_EQ(count, d->arg);
	SHMG_CHECK_EQ(rsp, d->rsp);
	d->boots = d->boots + 1;
	return d->boots;
}

/* State the reset must not let through: a pending interrupt (IF=0 holds
 * it in the IRR), the task priority, a GDT and data segments of the
 * guest's own, the image's data, RAM beyond the image. */
static void
dirty(void)
{
	struct dtr gdtr = { sizeof(own_gdt) - 1, (uint64_t)(uintptr_t)own_gdt };
	uint64_t prio = 0xf;
	uint16_t null = 0;

	*(volatile uint32_t *)LAPIC_ICR_LO = ICR_SELF | STALE_VECTOR;
	SHMG_CHECK_EQ(irr_has(STALE_VECTOR), 1);
	__asm__ volatile("mov %0, %%cr8; lgdt %1; mov %2, %%ds"
	    : : "r"(prio), "m"(gdtr), "r"(null) : "memory");
	image_word = DIRT;
	*(volatile uint32_t *)RAM_MARK = DIRT;
}

static __attribute__((noreturn)) void
reset(uint32_t boot)
{
#ifdef TRIPLE_FAULT
	struct dtr empty = { 0, 0 };

	(void)boot;
	__asm__ volatile("lidt %0; ud2" : : "m"(empty));
#else
	guest_outb(RESET_PORT, boot % 2 ? 0x06 : 0x0e);
#endif
	guest_puts("FAIL: still running after the reset\n");
	guest_exit(SHMG_EXIT_CHECK);
}

void
reboot_main(uint64_t factory, uint64_t vector, uint64_t count, uint64_t rsp,
    uint64_t rflags)
{
	volatile struct guest_shm_factory *fac = shmg_factory(factory);
	struct shmg_region r;
	uint32_t boot;

	check_fresh(rflags);
	shmg_setup_idt(vector);
	SHMG_CHECK_EQ(shmg_name_wide(fac, REBOOT_NAME), 1);
	SHMG_CHECK_EQ(shmg_find(fac, &r), GSS_OK);
	boot = count_boot(&r, factory, vector, count, rsp);
	if (boot == 1 || boot >= count) {
		guest_puts("R: boot ");
		shmg_putdec(boot);
		guest_puts(": idx=");
		shmg_putdec(r.idx);
		guest_puts(boot >= count ? " every time; done\n" : "\n");
	}
	if (boot >= count) {
		shmg_detach(&r);
		guest_exit(0);
	}
	dirty();
	reset(boot);
}
