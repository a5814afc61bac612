/* SPDX-License-Identifier: ISC */
/*
 * demo (guest A) and demo_b (guest B): README's demo. A creates the region
 * "demo" and waits for B; B finds it. A writes a message into the shared
 * data and notifies B; B, woken by the vdev interrupt, prints it, writes a
 * reply and notifies A, who prints it. Both then stay attached, asleep in
 * hlt, until the admin destroys the region (`shmctl destroy --force demo`):
 * that interrupt finds their client revoked (status reads 0), and they
 * detach and exit 0.
 */
#include "shmguest.h"

#define MSG_OFF		0
#define REPLY_OFF	256

GUEST_ENTRY void _start(uint64_t factory, uint64_t vector);

#ifdef DEMO_B
#define ME "guest B"
#else
#define ME "guest A"
#endif

static void
put_data(volatile uint8_t *dst, const char *s)
{
	size_t i = 0;

	for (; s[i] != '\0'; i++)
		dst[i] = (uint8_t)s[i];
	dst[i] = 0;
}

static void
print_data(const volatile uint8_t *s)
{
	for (size_t i = 0; i < 200 && s[i] != 0; i++)
		guest_outb(GUEST_PORT_CONSOLE, s[i]);
}

/* Sleeps until the byte at p is set, through interrupts only. */
static void
wait_for_data(const volatile uint8_t *p)
{
	while (*p == 0)
		shmg_wait_irq();
}

static void
attach(volatile struct guest_shm_factory *fac, struct shmg_region *r)
{
	uint32_t st;

	shmg_name_bytes(fac, "demo");
#ifdef DEMO_B
	/* A may not have created it yet: find until it is there. */
	st = shmg_find_created(fac, r, 0);
#else
	st = shmg_create(fac, 512, r);	/* 2 MiB: one huge page */
#endif
	if (st != GSS_OK) {
		guest_puts(ME ": attach failed, status ");
		guest_puthex(st);
		guest_puts("\n");
		guest_exit(2);
	}
	guest_puts(ME ": attached to region demo as client ");
	shmg_putdec(r->idx);
	guest_puts(", ");
	shmg_putdec(r->pages * 4);
	guest_puts(" KiB at guest-physical ");
	guest_puthex((uint64_t)(uintptr_t)r->data);
	guest_puts("\n");
}

void
_start(uint64_t factory, uint64_t vector)
{
	volatile struct guest_shm_factory *fac = shmg_factory(factory);
	struct shmg_region r;

	shmg_setup_idt(vector);
	attach(fac, &r);
#ifdef DEMO_B
	wait_for_data(r.data + MSG_OFF);
	guest_puts(ME ": woken by a notification, the region says: \"");
	print_data(r.data + MSG_OFF);
	guest_puts("\"\n");
	put_data(r.data + REPLY_OFF, "hello back from guest B");
	shmg_notify(&r, GUEST_SHM_NOTIFY_ALL);
#else
	/* B's attach changes the membership, which interrupts A. */
	while ((shmg_active(&r) & ~(1u << r.idx)) == 0)
		shmg_wait_irq();
	put_data(r.data + MSG_OFF, "hello from guest A");
	shmg_notify(&r, GUEST_SHM_NOTIFY_ALL);
	guest_puts(ME ": wrote a message and notified every other client\n");
	wait_for_data(r.data + REPLY_OFF);
	guest_puts(ME ": woken by a notification, the reply says: \"");
	print_data(r.data + REPLY_OFF);
	guest_puts("\"\n");
#endif
	while (shmg_status(&r) != 0)
		shmg_wait_irq();
	guest_puts(ME ": the admin revoked the region; detaching\n");
	shmg_detach(&r);
	guest_exit(0);
}
