/* SPDX-License-Identifier: ISC */
/*
 * shmguest: the guest side of the shmem vdev for shm-vm's freestanding
 * guests, and a worked example for driver authors: an IDT whose vdev
 * vector counts interrupts and acknowledges them at the local APIC, an
 * exception handler that names the vector and ends the guest with its own
 * status, a race-free wait for the interrupt, the three ways real code
 * writes a region name (byte stores, 8-byte stores, rep movsb), and thin
 * wrappers over qvm/guest_shm.h for create, find, status, notify and
 * detach. Header-only: every guest is one translation unit, built with
 * -mgeneral-regs-only (which __attribute__((interrupt)) needs).
 */
#ifndef SHMGUEST_H
#define SHMGUEST_H

#include <stddef.h>
#include <stdint.h>

#include <qvm/guest_shm.h>

#include "guest.h"

#define SHMG_LAPIC_EOI		0xfee000b0UL	/* docs/DESIGN.md: 0 acks */
#define SHMG_CODE_SELECTOR	0x08		/* shm-vm's flat GDT */
#define SHMG_GATE_INTR		0x8e	/* present, DPL0, 64-bit intr gate */

/* Exit statuses: a failed check, and an exception (plus its vector), so
 * a test tells "the guest saw a wrong value" from "the guest crashed". */
#define SHMG_EXIT_CHECK		3
#define SHMG_EXIT_EXCEPTION	0x80

struct shmg_gate {
	uint16_t off_lo;
	uint16_t sel;
	uint8_t ist;
	uint8_t type;
	uint16_t off_mid;
	uint32_t off_hi;
	uint32_t zero;
} __attribute__((packed));

/* What the CPU pushes; gcc's interrupt attribute hands us a pointer. */
struct shmg_iframe {
	uint64_t rip, cs, rflags, rsp, ss;
};

typedef unsigned long long shmg_uword;	/* gcc's uword_t, for error codes */

/* Stores that may sit at any offset: the name field starts at 0x1c. */
typedef uint64_t shmg_u64u __attribute__((aligned(1), may_alias));

/*
 * The IDT and the interrupt count are the only mutable globals a guest
 * has: the CPU finds the IDT by address and the handler has no argument
 * through which it could reach a caller's state.
 */
static struct shmg_gate shmg_idt[256] __attribute__((aligned(16)));
static volatile uint32_t shmg_irqs;

static inline void
shmg_putdec(uint64_t v)
{
	char buf[24];
	int n = 0;

	do {
		buf[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n > 0)
		guest_outb(GUEST_PORT_CONSOLE, (uint8_t)buf[--n]);
}

/* A check that failed ends the guest: the console says which one. */
static inline void
shmg_check_failed(const char *what, int line, uint64_t got)
{
	guest_puts("FAIL line ");
	shmg_putdec((uint64_t)line);
	guest_puts(": ");
	guest_puts(what);
	guest_puts(" (got ");
	guest_puthex(got);
	guest_puts(")\n");
	guest_exit(SHMG_EXIT_CHECK);
}

#define SHMG_CHECK_EQ(got, want) do {					\
	uint64_t shmg_g_ = (uint64_t)(got);				\
	if (shmg_g_ != (uint64_t)(want))				\
		shmg_check_failed(#got " == " #want, __LINE__, shmg_g_);\
} while (0)

static __attribute__((noreturn)) void
shmg_exception(unsigned vector, const struct shmg_iframe *f, uint64_t err)
{
	uint64_t cr2;

	guest_puts("EXCEPTION vector=");
	guest_puthex(vector);
	guest_puts(" rip=");
	guest_puthex(f->rip);
	guest_puts(" error=");
	guest_puthex(err);
	if (vector == 14) {
		__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
		guest_puts(" cr2=");
		guest_puthex(cr2);
	}
	guest_puts("\n");
	guest_exit((uint8_t)(SHMG_EXIT_EXCEPTION + vector));
}

/* One handler per exception vector: the vector is known only by which
 * gate the CPU took. Vectors with an error code get the two-argument
 * form, or the frame would be misread. */
#define SHMG_EXC(n)							\
static void __attribute__((interrupt))					\
shmg_exc_##n(struct shmg_iframe *f)					\
{									\
	shmg_exception(n, f, 0);					\
}
#define SHMG_EXC_ERR(n)							\
static void __attribute__((interrupt))					\
shmg_exc_##n(struct shmg_iframe *f, shmg_uword err)			\
{									\
	shmg_exception(n, f, err);					\
}
SHMG_EXC(0) SHMG_EXC(1) SHMG_EXC(2) SHMG_EXC(3) SHMG_EXC(4) SHMG_EXC(5)
SHMG_EXC(6) SHMG_EXC(7) SHMG_EXC_ERR(8) SHMG_EXC(9) SHMG_EXC_ERR(10)
SHMG_EXC_ERR(11) SHMG_EXC_ERR(12) SHMG_EXC_ERR(13) SHMG_EXC_ERR(14)
SHMG_EXC(15) SHMG_EXC(16) SHMG_EXC_ERR(17) SHMG_EXC(18) SHMG_EXC(19)
SHMG_EXC(20) SHMG_EXC_ERR(21) SHMG_EXC(22) SHMG_EXC(23) SHMG_EXC(24)
SHMG_EXC(25) SHMG_EXC(26) SHMG_EXC(27) SHMG_EXC(28) SHMG_EXC_ERR(29)
SHMG_EXC_ERR(30) SHMG_EXC(31)

/* The vdev interrupt: count it, then EOI, or the local APIC would hold
 * back every later one at this priority. */
static void __attribute__((interrupt))
shmg_vdev_irq(struct shmg_iframe *f)
{
	(void)f;
	shmg_irqs = shmg_irqs + 1;
	*(volatile uint32_t *)SHMG_LAPIC_EOI = 0;
}

static inline void
shmg_set_gate(unsigned vector, uintptr_t handler)
{
	struct shmg_gate *g = &shmg_idt[vector];

	g->off_lo = (uint16_t)handler;
	g->sel = SHMG_CODE_SELECTOR;
	g->ist = 0;
	g->type = SHMG_GATE_INTR;
	g->off_mid = (uint16_t)(handler >> 16);
	g->off_hi = (uint32_t)(handler >> 32);
	g->zero = 0;
}

/*
 * Loads an IDT with the exception handlers and the vdev handler on
 * vector (the value shm-vm passed in RSI, also readable from the factory's
 * vector field). Interrupts stay off: shmg_wait_irq turns them on only
 * while it sleeps.
 */
static inline void
shmg_setup_idt(uint64_t vector)
{
	static const uintptr_t exc[32] = {
		(uintptr_t)shmg_exc_0, (uintptr_t)shmg_exc_1,
		(uintptr_t)shmg_exc_2, (uintptr_t)shmg_exc_3,
		(uintptr_t)shmg_exc_4, (uintptr_t)shmg_exc_5,
		(uintptr_t)shmg_exc_6, (uintptr_t)shmg_exc_7,
		(uintptr_t)shmg_exc_8, (uintptr_t)shmg_exc_9,
		(uintptr_t)shmg_exc_10, (uintptr_t)shmg_exc_11,
		(uintptr_t)shmg_exc_12, (uintptr_t)shmg_exc_13,
		(uintptr_t)shmg_exc_14, (uintptr_t)shmg_exc_15,
		(uintptr_t)shmg_exc_16, (uintptr_t)shmg_exc_17,
		(uintptr_t)shmg_exc_18, (uintptr_t)shmg_exc_19,
		(uintptr_t)shmg_exc_20, (uintptr_t)shmg_exc_21,
		(uintptr_t)shmg_exc_22, (uintptr_t)shmg_exc_23,
		(uintptr_t)shmg_exc_24, (uintptr_t)shmg_exc_25,
		(uintptr_t)shmg_exc_26, (uintptr_t)shmg_exc_27,
		(uintptr_t)shmg_exc_28, (uintptr_t)shmg_exc_29,
		(uintptr_t)shmg_exc_30, (uintptr_t)shmg_exc_31,
	};
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idtr = {
		sizeof(shmg_idt) - 1, (uint64_t)(uintptr_t)shmg_idt
	};

	for (unsigned i = 0; i < 32; i++)
		shmg_set_gate(i, exc[i]);
	shmg_set_gate((unsigned)(vector & 0xff), (uintptr_t)shmg_vdev_irq);
	__asm__ volatile("lidt %0" : : "m"(idtr) : "memory");
}

/*
 * Sleeps until an interrupt has been taken; returns the count so far.
 * Call it with interrupts off, after finding that what you wait for has
 * not happened yet: sti delays interrupts by one instruction, so one that
 * became pending after that check is taken in the hlt and wakes it rather
 * than slipping in between and leaving hlt to sleep for good.
 */
static inline uint32_t
shmg_wait_irq(void)
{
	__asm__ volatile("sti; hlt; cli" : : : "memory");
	return shmg_irqs;
}

/* Interrupts taken so far: snapshot it before causing an event, then
 * wait until it moved, and the event's interrupt has provably arrived. */
static inline uint32_t
shmg_irq_count(void)
{
	return shmg_irqs;
}

/* ---- the factory page: naming ---- */

static inline volatile struct guest_shm_factory *
shmg_factory(uint64_t gpa)
{
	return (volatile struct guest_shm_factory *)(uintptr_t)gpa;
}

static inline size_t
shmg_strlen(const char *s)
{
	size_t n = 0;

	while (s[n] != '\0')
		n++;
	return n;
}

/* The name with its NUL, zero-padded to the field's 32 bytes. Returns 0
 * when it does not fit. */
static inline int
shmg_name_buf(const char *name, char buf[GUEST_SHM_MAX_NAME])
{
	size_t n = shmg_strlen(name);

	if (n >= GUEST_SHM_MAX_NAME)
		return 0;
	for (size_t i = 0; i < GUEST_SHM_MAX_NAME; i++)
		buf[i] = i < n ? name[i] : '\0';
	return 1;
}

/*
 * The name as memcpy of a 32-byte buffer compiles: four 8-byte stores,
 * each one MMIO exit, the first at the field's offset 0x1c (not 8-byte
 * aligned). Writes raw 32 bytes, so a caller can also leave out the NUL.
 */
static inline void
shmg_name_raw_wide(volatile struct guest_shm_factory *fac,
    const char raw[GUEST_SHM_MAX_NAME])
{
	volatile shmg_u64u *dst = (volatile shmg_u64u *)(uintptr_t)fac->name;
	const shmg_u64u *src = (const shmg_u64u *)(uintptr_t)raw;

	for (int i = 0; i < GUEST_SHM_MAX_NAME / 8; i++)
		dst[i] = src[i];
}

static inline int
shmg_name_wide(volatile struct guest_shm_factory *fac, const char *name)
{
	char buf[GUEST_SHM_MAX_NAME];

	if (!shmg_name_buf(name, buf))
		return 0;
	shmg_name_raw_wide(fac, buf);
	return 1;
}

/* The name as strcpy may compile: rep movsb, one exit per byte. */
static inline int
shmg_name_movsb(volatile struct guest_shm_factory *fac, const char *name)
{
	size_t n = shmg_strlen(name) + 1;
	volatile char *dst = fac->name;
	const char *src = name;

	if (n > GUEST_SHM_MAX_NAME)
		return 0;
	__asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n)
	    : : "memory");
	return 1;
}

/* A byte at a time: the header's own helper. */
static inline int
shmg_name_bytes(volatile struct guest_shm_factory *fac, const char *name)
{
	return guest_shm_set_name(fac, name);
}

/* ---- the factory page: attaching ---- */

/* An attached client as the guest sees it. */
struct shmg_region {
	volatile struct guest_shm_control *ctl;
	volatile uint8_t *data;
	uint32_t pages;		/* the region's actual size */
	uint32_t idx;
};

/* After a size or find write: on GSS_OK, fills r from the factory (shmem
 * is the new control page, data follows it) and the control page. */
static inline uint32_t
shmg_result(volatile struct guest_shm_factory *fac, struct shmg_region *r)
{
	uint32_t st = fac->status;

	GUEST_SHM_BARRIER();
	if (st == GSS_OK) {
		r->ctl = (volatile struct guest_shm_control *)(uintptr_t)
		    fac->shmem;
		r->data = (volatile uint8_t *)r->ctl + GUEST_SHM_PAGE_SIZE;
		r->pages = fac->size;
		r->idx = r->ctl->idx;
	}
	return st;
}

/* Create-or-attach with the name already written; a guest status. */
static inline uint32_t
shmg_create(volatile struct guest_shm_factory *fac, uint32_t pages,
    struct shmg_region *r)
{
	guest_shm_create(fac, pages);
	return shmg_result(fac, r);
}

static inline uint32_t
shmg_find(volatile struct guest_shm_factory *fac, struct shmg_region *r)
{
	guest_shm_find(fac, 1);
	return shmg_result(fac, r);
}

/*
 * A find, with the name already written, that waits for a creator in
 * another VM: while the region does not exist yet it tries again after a
 * short spin, up to tries times (0: for ever). A guest status.
 */
static inline uint32_t
shmg_find_created(volatile struct guest_shm_factory *fac,
    struct shmg_region *r, uint32_t tries)
{
	uint32_t st;

	while ((st = shmg_find(fac, r)) == GSS_DOES_NOT_EXIST &&
	    (tries == 0 || --tries > 0))
		for (volatile int i = 0; i < 2000; i++)
			continue;
	return st;
}

/* ---- a control page ---- */

/* The whole status word: pending bits 0-15 are returned and cleared. */
static inline uint32_t
shmg_status(const struct shmg_region *r)
{
	return r->ctl->status;
}

/* Bits 16-31 alone (bytes 2-3): the attached clients, clearing nothing. */
static inline uint32_t
shmg_active(const struct shmg_region *r)
{
	return *(volatile uint16_t *)((volatile uint8_t *)r->ctl + 2);
}

static inline void
shmg_notify(const struct shmg_region *r, uint32_t mask)
{
	GUEST_SHM_BARRIER();
	r->ctl->notify = mask;
}

static inline void
shmg_detach(const struct shmg_region *r)
{
	GUEST_SHM_BARRIER();
	r->ctl->detach = 1;
}

#endif /* SHMGUEST_H */
