/* SPDX-License-Identifier: ISC */
/*
 * e2e_readonly: a guest whose client may only read its region (an
 * allow_ro rule in E2E_RO_CONFIG) stores to it. It finds E2E_RO_NAME,
 * which the test created and filled with the e2e pattern, and reads the
 * pattern; then it stores into the region with every width and with rep
 * stosq (E2E_RO_STORES stores in all, each a dropped MMIO exit in
 * shm-vm), reads the pattern again, unchanged, and notifies every other
 * client. The test, another client, checks its own view of the bytes and
 * notifies back; the guest then detaches.
 */
#include "shmguest.h"
#include "e2e.h"

GUEST_ENTRY void _start(uint64_t factory, uint64_t vector);

static void
check_pattern(const struct shmg_region *r, const char *when)
{
	const volatile uint32_t *w = (const volatile uint32_t *)r->data;

	for (uint32_t i = 0; i < E2E_RO_PATTERN_BYTES / 4; i++)
		if (w[i] != e2e_pattern(i))
			shmg_check_failed(when, (int)i, w[i]);
}

/* Stores of every width, at offsets the pattern covers: E2E_RO_STORES
 * of them, rep stosq's included. */
static void
store_everywhere(const struct shmg_region *r)
{
	volatile uint8_t *d = r->data;
	uint64_t fill = 0, n = E2E_RO_REP_QWORDS;
	void *dst = (void *)(uintptr_t)(d + 0x200);

	*(volatile uint8_t *)(d + 0x01) = 0xee;
	*(volatile uint16_t *)(d + 0x12) = 0xeeee;
	*(volatile uint32_t *)(d + 0x24) = 0xeeeeeeee;
	*(volatile uint64_t *)(d + 0x38) = 0xeeeeeeeeeeeeeeeeull;
	for (uint32_t i = 0; i < E2E_RO_LOOP_STORES; i++)
		((volatile uint64_t *)(d + 0x100))[i] = i;
	__asm__ volatile("rep stosq" : "+D"(dst), "+c"(n) : "a"(fill)
	    : "memory");
}

void
_start(uint64_t factory, uint64_t vector)
{
	volatile struct guest_shm_factory *fac = shmg_factory(factory);
	struct shmg_region r;
	uint32_t seen = 0;

	shmg_setup_idt(vector);
	SHMG_CHECK_EQ(shmg_name_bytes(fac, E2E_RO_NAME), 1);
	/* a create: the rules make it a find, and the region exists */
	SHMG_CHECK_EQ(shmg_create(fac, 1, &r), GSS_OK);
	guest_puts("R: attached: idx=");
	guest_puthex(r.idx);
	guest_puts(" active=");
	guest_puthex(shmg_active(&r));
	guest_puts("\n");
	check_pattern(&r, "pattern before");
	guest_puts("R: pattern read\n");
	store_everywhere(&r);
	check_pattern(&r, "pattern after");
	guest_puts("R: stored everywhere, the pattern is unchanged\n");
	shmg_notify(&r, GUEST_SHM_NOTIFY_ALL);
	while ((seen & 0x1) == 0) {
		seen |= GUEST_SHM_PENDING(shmg_status(&r));
		if ((seen & 0x1) == 0)
			shmg_wait_irq();
	}
	guest_puts("R: notified back; detaching\n");
	shmg_detach(&r);
	guest_exit(0);
}
