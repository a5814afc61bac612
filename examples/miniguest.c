/* SPDX-License-Identifier: ISC */
/*
 * miniguest: the guest of the example VMM (minivmm), written against
 * <qvm/guest_shm.h> alone, as a guest driver for the QNX shmem device
 * would be. It plays guest A of README's demo, so that it pairs with
 * shm-vm running the demo's guest B (demo_b.elf): it creates the region
 * "demo", waits for a peer to attach, writes a message into the region
 * and notifies; the peer's reply wakes it through the device's
 * interrupt, and it prints the reply, detaches and exits 0.
 *
 * It runs at CPL0 in minivmm's long mode (low 4 GiB identity-mapped, GDT
 * code selector 0x08), entered as _start(factory, vector) with interrupts
 * off. Built with -mgeneral-regs-only (no SSE: some hosts' KVM cannot run
 * it at CPL0, and gcc's interrupt attribute needs it) and -mno-red-zone
 * (an interrupt pushes onto the stack the code under it is using).
 */
#include <stddef.h>
#include <stdint.h>

#include <qvm/guest_shm.h>

#define PORT_CONSOLE	0x3f8
#define PORT_EXIT	0x501
#define LAPIC_SVR	0xfee000f0ul	/* the local APIC's registers */
#define LAPIC_EOI	0xfee000b0ul
#define MSG_OFF		0		/* guest B's offsets in the region */
#define REPLY_OFF	256

struct guest_frame;

/*
 * The IDT, a global: the CPU finds it by address and an interrupt handler
 * has no argument to find it through. Two words a gate.
 */
static uint64_t guest_idt[2 * 256] __attribute__((aligned(16)));

static void
guest_outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static void
guest_print(const volatile char *s)
{
	while (*s != '\0')
		guest_outb(PORT_CONSOLE, (uint8_t)*s++);
}

static __attribute__((noreturn)) void
guest_exit(uint8_t status)
{
	guest_outb(PORT_EXIT, status);
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* The device's interrupt only wakes the hlt in guest_wait; the EOI lets
 * the local APIC deliver the next one. */
static void __attribute__((interrupt))
guest_on_irq(struct guest_frame *f)
{
	(void)f;
	*(volatile uint32_t *)LAPIC_EOI = 0;
}

/* An interrupt gate at vector, and the local APIC switched on (it comes
 * out of reset software-disabled and would drop the interrupt). */
static void
guest_setup_irq(uint64_t vector)
{
	uint64_t h = (uint64_t)(uintptr_t)guest_on_irq;
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idtr = { sizeof(guest_idt) - 1,
	    (uint64_t)(uintptr_t)guest_idt };

	guest_idt[2 * (vector & 0xff)] = (h & 0xffff) | 0x08ull << 16 |
	    0x8eull << 40 | (h >> 16 & 0xffff) << 48;
	guest_idt[2 * (vector & 0xff) + 1] = h >> 32;
	__asm__ volatile("lidt %0" : : "m"(idtr));
	*(volatile uint32_t *)LAPIC_SVR |= 0x100;
}

/* Sleeps until an interrupt: sti takes effect after hlt has begun, so
 * one that came in since the caller last looked still wakes it. */
static void
guest_wait(void)
{
	__asm__ volatile("sti; hlt; cli" : : : "memory");
}

static __attribute__((noreturn)) void
guest_fail(const char *what, uint32_t status)
{
	guest_print("example guest: ");
	guest_print(what);
	guest_print(", status ");
	guest_outb(PORT_CONSOLE, (uint8_t)('0' + status % 10));
	guest_print("\n");
	guest_exit(2);
}

__attribute__((section(".text.start"), noreturn)) void
_start(uint64_t factory, uint64_t vector);

void
_start(uint64_t factory, uint64_t vector)
{
	volatile struct guest_shm_factory *fac =
	    (volatile struct guest_shm_factory *)(uintptr_t)factory;
	volatile struct guest_shm_control *ctl;
	volatile char *data;
	const char *msg = "hello from the example VMM";
	uint32_t st;
	size_t i;

	guest_setup_irq(vector);
	if (fac->signature != GUEST_SHM_SIGNATURE)
		guest_fail("no shmem device at the factory address", 0);
	/* 512 pages: 2 MiB, what guest B asks for too. */
	if ((st = guest_shm_create_named(fac, "demo", 512)) != GSS_OK)
		guest_fail("cannot create the region demo", st);
	ctl = (volatile struct guest_shm_control *)(uintptr_t)fac->shmem;
	data = (volatile char *)ctl + GUEST_SHM_PAGE_SIZE;
	guest_print("example guest: created the region demo\n");

	/* A peer's attach changes the membership, which interrupts us. */
	while ((GUEST_SHM_ACTIVE(ctl->status) & ~(1u << ctl->idx)) == 0)
		guest_wait();
	for (i = 0; msg[i] != '\0'; i++)
		data[MSG_OFF + i] = msg[i];
	ctl->notify = GUEST_SHM_NOTIFY_ALL;
	guest_print("example guest: wrote a message and notified its peer\n");

	/* The reply's notification comes through the irqfd. */
	while (data[REPLY_OFF] == '\0')
		guest_wait();
	guest_print("example guest: the reply says: \"");
	guest_print(data + REPLY_OFF);
	guest_print("\"\n");
	ctl->detach = 1;
	guest_exit(0);
}
