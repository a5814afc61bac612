/* SPDX-License-Identifier: ISC */
/*
 * e2e_detach: an admin detaches one guest's client while the region lives
 * on for the other. Built twice: e2e_detach_k (-DROLE_KEEPER) creates
 * E2E_DETACH_NAME, writes E2E_DETACH_WORD into its first word and waits
 * for a peer, then for the peer to go, then for a notification from the
 * test, which has read the region meanwhile; e2e_detach_d
 * (-DROLE_DETACHED) finds the region, reads the word and sleeps in hlt
 * until an interrupt finds its control page detached (the test runs
 * `shmctl detach` in between): status and idx read 0, and the data is no
 * longer memory: it reads 0 and its stores reach nobody, which the
 * keeper and the test check.
 */
#include "shmguest.h"
#include "e2e.h"

GUEST_ENTRY void _start(uint64_t factory, uint64_t vector);

static volatile uint32_t *
word_at(const struct shmg_region *r, uint32_t off)
{
	return (volatile uint32_t *)(r->data + off);
}

static void
say_hex(const char *what, uint32_t v)
{
	guest_puts(what);
	guest_puthex(v);
}

#ifdef ROLE_KEEPER
static void
role(volatile struct guest_shm_factory *fac)
{
	struct shmg_region r;
	uint32_t snap, seen = 0;

	SHMG_CHECK_EQ(shmg_name_bytes(fac, E2E_DETACH_NAME), 1);
	SHMG_CHECK_EQ(shmg_create(fac, 1, &r), GSS_OK);
	*word_at(&r, 0) = E2E_DETACH_WORD;
	snap = shmg_irq_count();
	say_hex("K: created, word written: active=", shmg_active(&r));
	guest_puts("\n");
	while (shmg_active(&r) != 0x3 || shmg_irq_count() == snap)
		shmg_wait_irq();
	snap = shmg_irq_count();
	say_hex("K: peer attached (interrupt): active=", shmg_active(&r));
	guest_puts("\n");
	while (shmg_active(&r) != 0x1 || shmg_irq_count() == snap)
		shmg_wait_irq();
	say_hex("K: peer gone (interrupt): active=", shmg_active(&r));
	guest_puts("\n");
	/* The test attaches (index 1 again) and notifies once it has read
	 * the region. */
	while ((seen & 0x2) == 0) {
		seen |= GUEST_SHM_PENDING(shmg_status(&r));
		if ((seen & 0x2) == 0)
			shmg_wait_irq();
	}
	say_hex("K: notified by the test; word=", *word_at(&r, 0));
	say_hex(" probe=", *word_at(&r, E2E_DETACH_PROBE));
	guest_puts("\n");
	shmg_detach(&r);
}
#endif

#ifdef ROLE_DETACHED
static void
role(volatile struct guest_shm_factory *fac)
{
	struct shmg_region r;
	uint32_t snap, st, idx, word;

	SHMG_CHECK_EQ(shmg_name_wide(fac, E2E_DETACH_NAME), 1);
	SHMG_CHECK_EQ(shmg_find(fac, &r), GSS_OK);
	snap = shmg_irq_count();
	say_hex("D: attached: idx=", r.idx);
	say_hex(" active=", shmg_active(&r));
	say_hex(" word=", *word_at(&r, 0));
	guest_puts("\n");
	/* A live client always reads its own bit in the active mask: a
	 * whole status of 0 is the detached page. */
	while (shmg_status(&r) != 0 || shmg_irq_count() == snap)
		shmg_wait_irq();
	st = r.ctl->status;
	idx = r.ctl->idx;
	r.ctl->notify = GUEST_SHM_NOTIFY_ALL;	/* ignored */
	*word_at(&r, 0) = 0xbad0bad0;		/* no memory: dropped */
	*word_at(&r, E2E_DETACH_PROBE) = 0xbad1bad1;
	word = *word_at(&r, 0);
	say_hex("D: detached by the admin (interrupt): status=", st);
	say_hex(" idx=", idx);
	say_hex(" word=", word);
	guest_puts("\n");
	shmg_detach(&r);			/* ignored too */
}
#endif

void
_start(uint64_t factory, uint64_t vector)
{
	shmg_setup_idt(vector);
	role(shmg_factory(factory));
	guest_exit(0);
}
