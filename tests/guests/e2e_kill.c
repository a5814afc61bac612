/* SPDX-License-Identifier: ISC */
/*
 * e2e_kill: a guest killed mid-session frees its index. Built twice:
 * e2e_kill_s (-DROLE_SURVIVOR) creates E2E_KILL_NAME and waits for a peer;
 * e2e_kill_v (-DROLE_VICTIM) attaches with find and sleeps until the test
 * SIGKILLs its shm-vm. The survivor sees the peer come and go in its
 * active mask (each with an interrupt), then attaches again and gets the
 * victim's index.
 */
#include "shmguest.h"
#include "e2e.h"

GUEST_ENTRY void _start(uint64_t factory, uint64_t vector);

static void
say_active(const char *what, const struct shmg_region *r)
{
	guest_puts(what);
	guest_puts(" active=");
	guest_puthex(shmg_active(r));
	guest_puts("\n");
}

#ifdef ROLE_SURVIVOR
static void
role(volatile struct guest_shm_factory *fac)
{
	struct shmg_region r, again;
	uint32_t snap;

	SHMG_CHECK_EQ(shmg_name_bytes(fac, E2E_KILL_NAME), 1);
	SHMG_CHECK_EQ(shmg_create(fac, 1, &r), GSS_OK);
	SHMG_CHECK_EQ(r.idx, 0);
	snap = shmg_irq_count();
	say_active("S: created, waiting for a peer:", &r);
	while (shmg_active(&r) != 0x3 || shmg_irq_count() == snap)
		shmg_wait_irq();
	snap = shmg_irq_count();
	say_active("S: peer attached (interrupt):", &r);
	while (shmg_active(&r) != 0x1 || shmg_irq_count() == snap)
		shmg_wait_irq();
	say_active("S: peer gone (interrupt):", &r);
	SHMG_CHECK_EQ(shmg_find(fac, &again), GSS_OK);
	guest_puts("S: attached again: idx=");
	shmg_putdec(again.idx);
	guest_puts("\n");
	shmg_detach(&again);
	shmg_detach(&r);
}
#endif

#ifdef ROLE_VICTIM
static void
role(volatile struct guest_shm_factory *fac)
{
	struct shmg_region r;

	SHMG_CHECK_EQ(shmg_name_wide(fac, E2E_KILL_NAME), 1);
	SHMG_CHECK_EQ(shmg_find(fac, &r), GSS_OK);
	guest_puts("V: attached: idx=");
	shmg_putdec(r.idx);
	say_active(",", &r);
	for (;;)
		shmg_wait_irq();
}
#endif

void
_start(uint64_t factory, uint64_t vector)
{
	shmg_setup_idt(vector);
	role(shmg_factory(factory));
	guest_exit(0);
}
