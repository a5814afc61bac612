/* SPDX-License-Identifier: ISC */
/*
 * e2e_errors: every status a guest can get from the factory, against a
 * daemon started with E2E_ERRORS_CONFIG (max_region_size 1M, and a tenant
 * for uid 0 that denies E2E_DENIED_NAME). Each failure must leave shmem as
 * it was and make size read back what was written; read-only fields
 * ignore writes. Then 16 clients of one region, all from this one factory
 * page (every successful create or find is a new client): the 17th gets
 * GSS_CLIENT_MAX, a detached index is handed out again. It ends holding 15
 * clients, sleeping until the test (which takes the 16th index) notifies
 * every other client.
 */
#include "shmguest.h"
#include "e2e.h"

GUEST_ENTRY void _start(uint64_t factory, uint64_t vector);

#define NCLIENTS	GUEST_SHM_MAX_CLIENTS

/* Says what a failed create or find gave, and checks what it left. */
static void
failed(volatile struct guest_shm_factory *fac, const char *what,
    uint32_t want, uint64_t shmem, uint32_t size)
{
	uint32_t st = fac->status;

	guest_puts("E: ");
	guest_puts(what);
	guest_puts(": status=");
	shmg_putdec(st);
	guest_puts(" size=");
	shmg_putdec(fac->size);
	guest_puts("\n");
	SHMG_CHECK_EQ(st, want);
	SHMG_CHECK_EQ(fac->shmem, shmem);
	SHMG_CHECK_EQ(fac->size, size);
}

static void
errors(volatile struct guest_shm_factory *fac)
{
	char raw[GUEST_SHM_MAX_NAME];

	fac->signature = 0;		/* read-only: ignored */
	fac->status = 77;
	SHMG_CHECK_EQ(fac->signature, GUEST_SHM_SIGNATURE);
	SHMG_CHECK_EQ(fac->status, GSS_OK);
	SHMG_CHECK_EQ(fac->shmem, 0);

	fac->name[0] = '\0';
	guest_shm_create(fac, 1);
	failed(fac, "empty name", GSS_ILLEGAL_NAME, 0, 1);

	for (int i = 0; i < GUEST_SHM_MAX_NAME; i++)
		raw[i] = 'x';
	shmg_name_raw_wide(fac, raw);
	guest_shm_create(fac, 2);
	failed(fac, "32 bytes, no NUL", GSS_ILLEGAL_NAME, 0, 2);

	SHMG_CHECK_EQ(shmg_name_bytes(fac, E2E_MISSING_NAME), 1);
	guest_shm_find(fac, 1);
	failed(fac, "find of a missing name", GSS_DOES_NOT_EXIST, 0, 2);

	SHMG_CHECK_EQ(shmg_name_wide(fac, E2E_BIG_NAME), 1);
	guest_shm_create(fac, E2E_BIG_PAGES);
	failed(fac, "over max_region_size", GSS_NOMEM, 0, E2E_BIG_PAGES);
	guest_shm_create(fac, 0);
	failed(fac, "size 0", GSS_NOMEM, 0, 0);

	SHMG_CHECK_EQ(shmg_name_movsb(fac, E2E_DENIED_NAME), 1);
	guest_shm_create(fac, 1);
	failed(fac, "denied name", GSS_NO_PERMISSION, 0, 1);
}

static void
clients(volatile struct guest_shm_factory *fac)
{
	struct shmg_region c[NCLIENTS], again;
	uint32_t st = 0, snap, seen = 0;
	uint64_t last;

	SHMG_CHECK_EQ(shmg_name_bytes(fac, E2E_MAX_NAME), 1);
	SHMG_CHECK_EQ(shmg_create(fac, 1, &c[0]), GSS_OK);
	/* bits of clients that are not there: nothing happens */
	shmg_notify(&c[0], 0xfffe);
	SHMG_CHECK_EQ(shmg_status(&c[0]), 0x10000);
	for (uint32_t i = 1; i < NCLIENTS; i++) {
		SHMG_CHECK_EQ(shmg_find(fac, &c[i]), GSS_OK);
		SHMG_CHECK_EQ(c[i].idx, i);
		SHMG_CHECK_EQ(c[i].pages, 1);
	}
	guest_puts("E: 16 clients on one factory page: active=");
	guest_puthex(shmg_active(&c[0]));
	guest_puts(" last idx=");
	shmg_putdec(c[NCLIENTS - 1].idx);
	guest_puts("\n");

	last = fac->shmem;
	guest_shm_find(fac, 1);
	failed(fac, "17th client", GSS_CLIENT_MAX, last, 1);
	guest_shm_create(fac, 1);
	failed(fac, "17th client by create", GSS_CLIENT_MAX, last, 1);

	shmg_detach(&c[E2E_REUSED_INDEX]);
	SHMG_CHECK_EQ(shmg_find(fac, &again), GSS_OK);
	guest_puts("E: after a detach, find gets idx=");
	shmg_putdec(again.idx);
	guest_puts("\n");
	shmg_detach(&again);
	SHMG_CHECK_EQ(shmg_active(&c[0]), 0xffff & ~(1u << E2E_REUSED_INDEX));

	snap = shmg_irq_count();
	guest_puts("E: holding 15 clients\n");
	/* the test attaches (taking the free index) and notifies all */
	while ((seen & (1u << E2E_REUSED_INDEX)) == 0 ||
	    shmg_irq_count() == snap) {
		st = shmg_status(&c[0]);
		seen |= GUEST_SHM_PENDING(st);
		if ((seen & (1u << E2E_REUSED_INDEX)) == 0 ||
		    shmg_irq_count() == snap)
			shmg_wait_irq();
	}
	guest_puts("E: notified: pending=");
	guest_puthex(seen);
	guest_puts(" active=");
	guest_puthex(GUEST_SHM_ACTIVE(st));
	guest_puts("\n");
	/* The other clients got it too; each read clears its own bits. */
	for (uint32_t i = 1; i < NCLIENTS; i++)
		if (i != E2E_REUSED_INDEX)
			SHMG_CHECK_EQ(GUEST_SHM_PENDING(shmg_status(&c[i])),
			    1u << E2E_REUSED_INDEX);
	guest_puts("E: every client got it\n");
}

void
_start(uint64_t factory, uint64_t vector)
{
	volatile struct guest_shm_factory *fac = shmg_factory(factory);

	shmg_setup_idt(vector);
	errors(fac);
	clients(fac);
	/* exits holding its clients: the daemon detaches them */
	guest_exit(0);
}
