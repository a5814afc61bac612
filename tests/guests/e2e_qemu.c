/* SPDX-License-Identifier: ISC */
/*
 * e2e_qemu: a QNX-interface guest beside a stock QEMU whose
 * ivshmem-doorbell device joined the same region through the broker's
 * ivshmem export (test_ivshmem_guest drives the QEMU over qtest). The
 * guest finds the region the QEMU already holds, sees it in the active
 * mask, leaves its text, notifies every other client (the QEMU's vector
 * 0), waits for the QEMU's doorbell and prints who its status names and
 * what the QEMU wrote, then waits for the QEMU to leave (the test kills
 * it) and detaches.
 */
#include "shmguest.h"
#include "e2e.h"

GUEST_ENTRY void _start(uint64_t factory, uint64_t vector);

static void
say_hex(const char *what, uint32_t v)
{
	guest_puts(what);
	guest_puthex(v);
	guest_puts("\n");
}

static void
role(volatile struct guest_shm_factory *fac)
{
	const char *text = E2E_QEMU_GUEST_TEXT;
	volatile char *out;
	struct shmg_region r;
	uint32_t snap, seen = 0, i;

	SHMG_CHECK_EQ(shmg_name_wide(fac, E2E_QEMU_NAME), 1);
	SHMG_CHECK_EQ(shmg_find(fac, &r), GSS_OK);
	guest_puts("G: attached: idx=");
	shmg_putdec(r.idx);
	say_hex(" active=", shmg_active(&r));
	out = (volatile char *)(r.data + E2E_QEMU_FROM_GUEST);
	for (i = 0; text[i] != '\0'; i++)
		out[i] = text[i];
	out[i] = '\0';

	snap = shmg_irq_count();
	shmg_notify(&r, GUEST_SHM_NOTIFY_ALL);
	guest_puts("G: notified every other client\n");
	while ((seen & 0x1) == 0) {
		seen |= GUEST_SHM_PENDING(shmg_status(&r));
		if ((seen & 0x1) == 0)
			shmg_wait_irq();
	}
	/* The bit may show before the interrupt is taken: it comes. */
	while (shmg_irq_count() == snap)
		shmg_wait_irq();
	say_hex("G: doorbell: pending=", seen);
	guest_puts("G: QEMU wrote: ");
	guest_puts((const char *)(uintptr_t)(r.data + E2E_QEMU_FROM_QEMU));
	guest_puts("\n");

	snap = shmg_irq_count();
	while (shmg_active(&r) != 0x2 || shmg_irq_count() == snap)
		shmg_wait_irq();
	say_hex("G: QEMU left: active=", shmg_active(&r));
	shmg_detach(&r);
}

void
_start(uint64_t factory, uint64_t vector)
{
	shmg_setup_idt(vector);
	role(shmg_factory(factory));
	guest_exit(0);
}
