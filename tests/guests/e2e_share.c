/* SPDX-License-Identifier: ISC */
/*
 * e2e_share: two guests in two shm-vm processes sharing one region, built
 * twice: e2e_share_a (-DROLE_A) and e2e_share_b (-DROLE_B). The test
 * starts B once A has printed "pattern written", and joins with its own
 * libshmclient client (index 3) when B prints "holding".
 *
 * A creates E2E_SHARE_NAME (name written a byte at a time), writes the
 * pattern, sleeps until B's two clients show in its active mask, then until
 * B notifies it; it then notifies every other client (0xffffffff), sleeps
 * until it is alone again, detaches and reads its old pages.
 * B attaches with size (name by 8-byte stores, a smaller size than A's:
 * it reads A's back), checks the pattern, attaches again with find (name
 * by rep movsb), checks both mappings are the same memory, notifies its
 * own first client from its second, leaves a greeting for the host, sleeps
 * until the test notifies it, notifies A, waits for A's broadcast on both
 * clients and detaches both.
 *
 * Each wait for an event snapshots the interrupt count before the event
 * can happen and ends only when the count moved: the line that follows
 * means the interrupt arrived, whatever the timing.
 */
#include "shmguest.h"
#include "e2e.h"

GUEST_ENTRY void _start(uint64_t factory, uint64_t vector);

static void
say(const char *s)
{
	guest_puts(s);
}

static void
say_attach(const char *who, const char *how, uint32_t st,
    const struct shmg_region *r)
{
	guest_puts(who);
	guest_puts(how);
	guest_puts(" status=");
	shmg_putdec(st);
	guest_puts(" size=");
	shmg_putdec(r->pages);
	guest_puts(" idx=");
	shmg_putdec(r->idx);
	guest_puts(" active=");
	guest_puthex(shmg_active(r));
	guest_puts("\n");
}

/* Data starts 2 MiB aligned in the window, the control page just before
 * (libshmvdev's layout, which hugetlb-backed regions need). */
static void
check_layout(const struct shmg_region *r)
{
	uint64_t data = (uint64_t)(uintptr_t)r->data;

	SHMG_CHECK_EQ(data % 0x200000, 0);
	SHMG_CHECK_EQ(data >= 0x40000000 && data < 0xfec00000, 1);
	SHMG_CHECK_EQ((uint64_t)(uintptr_t)r->ctl, data - 0x1000);
}

static void
check_pattern(const struct shmg_region *r)
{
	const volatile uint32_t *w = (const volatile uint32_t *)r->data;

	for (uint32_t i = 0; i < E2E_PATTERN_BYTES / 4; i++)
		if (w[i] != e2e_pattern(i))
			shmg_check_failed("pattern", (int)i, w[i]);
}

static volatile uint32_t *
word_at(const struct shmg_region *r, uint32_t off)
{
	return (volatile uint32_t *)(r->data + off);
}

/* After detach: the control page reads 0 and ignores writes, the old
 * data address is no longer memory; reading it is handled by shm-vm. */
static void
check_detached(const char *who, const struct shmg_region *r)
{
	uint32_t st, idx, data;

	r->ctl->notify = GUEST_SHM_NOTIFY_ALL;	/* ignored */
	r->ctl->detach = 1;			/* detaching twice: ignored */
	st = r->ctl->status;
	idx = r->ctl->idx;
	*word_at(r, 0) = 0x1234;		/* no memory: dropped */
	data = *word_at(r, 0);
	guest_puts(who);
	guest_puts("detached: status=");
	guest_puthex(st);
	guest_puts(" idx=");
	guest_puthex(idx);
	guest_puts(" old data=");
	guest_puthex(data);
	guest_puts("\n");
}

#ifdef ROLE_A
static void
role(volatile struct guest_shm_factory *fac)
{
	struct shmg_region r;
	volatile uint32_t *w;
	uint32_t st = 0, snap, seen = 0;

	SHMG_CHECK_EQ(shmg_name_bytes(fac, E2E_SHARE_NAME), 1);
	st = shmg_create(fac, E2E_SHARE_PAGES, &r);
	SHMG_CHECK_EQ(st, GSS_OK);
	say_attach("A: ", "create", st, &r);
	check_layout(&r);
	w = (volatile uint32_t *)r.data;
	for (uint32_t i = 0; i < E2E_PATTERN_BYTES / 4; i++)
		w[i] = e2e_pattern(i);
	*word_at(&r, E2E_A_READY) = 0;

	snap = shmg_irq_count();
	say("A: pattern written\n");
	while ((shmg_active(&r) & 0x6) != 0x6 || shmg_irq_count() == snap)
		shmg_wait_irq();
	say("A: B's two clients attached (interrupt)\n");

	snap = shmg_irq_count();
	*word_at(&r, E2E_A_READY) = 1;
	while ((seen & 0x2) == 0 || shmg_irq_count() == snap) {
		st = shmg_status(&r);
		seen |= GUEST_SHM_PENDING(st);
		if ((seen & 0x2) == 0 || shmg_irq_count() == snap)
			shmg_wait_irq();
	}
	guest_puts("A: notified: pending=");
	guest_puthex(seen);
	guest_puts(" active=");
	guest_puthex(GUEST_SHM_ACTIVE(st));
	guest_puts(" (interrupt)\n");
	guest_puts("A: pending after the read=");
	guest_puthex(GUEST_SHM_PENDING(shmg_status(&r)));
	guest_puts("\n");

	snap = shmg_irq_count();
	shmg_notify(&r, GUEST_SHM_NOTIFY_ALL);
	say("A: notified every other client\n");
	while (shmg_active(&r) != 0x1 || shmg_irq_count() == snap)
		shmg_wait_irq();
	check_pattern(&r);	/* the peers wrote only past it */
	/* its own broadcast did not notify A itself */
	SHMG_CHECK_EQ(GUEST_SHM_PENDING(shmg_status(&r)), 0);
	guest_puts("A: alone again: active=");
	guest_puthex(shmg_active(&r));
	guest_puts(" (interrupt)\n");
	shmg_detach(&r);
	check_detached("A: ", &r);
}
#endif

#ifdef ROLE_B
/* Reads c's status, adding its pending bits to *seen. */
static void
collect(const struct shmg_region *c, uint32_t *seen)
{
	*seen |= GUEST_SHM_PENDING(shmg_status(c));
}

static void
role(volatile struct guest_shm_factory *fac)
{
	struct shmg_region c1, c2;
	const char *greet = E2E_GREETING_TEXT;
	uint32_t st, snap, seen1 = 0, seen2 = 0, p;

	SHMG_CHECK_EQ(shmg_name_wide(fac, E2E_SHARE_NAME), 1);
	st = shmg_create(fac, E2E_SHARE_B_PAGES, &c1);
	SHMG_CHECK_EQ(st, GSS_OK);
	say_attach("B: ", "create", st, &c1);
	check_layout(&c1);
	check_pattern(&c1);
	say("B: pattern ok\n");

	fac->name[0] = 'X';	/* the whole name is written anew below */
	SHMG_CHECK_EQ(shmg_name_movsb(fac, E2E_SHARE_NAME), 1);
	st = shmg_find(fac, &c2);
	SHMG_CHECK_EQ(st, GSS_OK);
	say_attach("B: ", "find", st, &c2);
	SHMG_CHECK_EQ(c2.ctl != c1.ctl, 1);
	check_layout(&c2);
	check_pattern(&c2);
	*word_at(&c2, E2E_SCRATCH) = 0xfeedf00d;
	SHMG_CHECK_EQ(*word_at(&c1, E2E_SCRATCH), 0xfeedf00d);
	say("B: both mappings are the same memory\n");

	/* One client notifies the other: the bit is the notifier's index,
	 * and the read that returns it clears it. */
	shmg_notify(&c2, 1u << c1.idx);
	p = GUEST_SHM_PENDING(shmg_status(&c1));
	guest_puts("B: client 1 pending=");
	guest_puthex(p);
	guest_puts(" then ");
	guest_puthex(GUEST_SHM_PENDING(shmg_status(&c1)));
	guest_puts("\n");

	for (uint32_t i = 0; greet[i] != '\0'; i++)
		c1.data[E2E_GREETING + i] = (uint8_t)greet[i];
	snap = shmg_irq_count();
	say("B: holding\n");
	/* the test attaches (index 3) and notifies client 1 */
	while ((seen1 & 0x8) == 0 || shmg_irq_count() == snap) {
		collect(&c1, &seen1);
		if ((seen1 & 0x8) == 0 || shmg_irq_count() == snap)
			shmg_wait_irq();
	}
	guest_puts("B: client 1 notified by the test: active=");
	guest_puthex(shmg_active(&c1));
	guest_puts(" (interrupt)\n");

	while (*word_at(&c1, E2E_A_READY) != 1)
		__asm__ volatile("pause");
	shmg_notify(&c1, 0x1);
	say("B: notified A\n");
	while ((seen1 & 0x1) == 0 || (seen2 & 0x1) == 0) {
		collect(&c1, &seen1);
		collect(&c2, &seen2);
		if ((seen1 & 0x1) == 0 || (seen2 & 0x1) == 0)
			shmg_wait_irq();
	}
	guest_puts("B: A's broadcast reached both: client 1 saw ");
	guest_puthex(seen1);
	guest_puts(", client 2 saw ");
	guest_puthex(seen2);
	guest_puts("\n");
	shmg_detach(&c2);
	check_detached("B: client 2 ", &c2);
	shmg_detach(&c1);
	check_detached("B: client 1 ", &c1);
}
#endif

void
_start(uint64_t factory, uint64_t vector)
{
	volatile struct guest_shm_factory *fac = shmg_factory(factory);

	shmg_setup_idt(vector);
	SHMG_CHECK_EQ(fac->signature, GUEST_SHM_SIGNATURE);
	SHMG_CHECK_EQ(fac->vector, vector);
	role(fac);
	guest_exit(0);
}
