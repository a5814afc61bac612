/* SPDX-License-Identifier: ISC */
/*
 * e2e_flood: a guest that makes its VMM's vdev say something new at every
 * try, as fast as it can. It holds two regions of 1 GiB, which leave the
 * shmem window less than another; then it asks E2E_FLOOD_TRIES times for
 * one more, a page smaller each time. The daemon creates each, the vdev
 * finds no room for it and gives it back: GSS_NOMEM, and a "no room for N
 * bytes" that shm-vm has not said before. What shm-vm writes to its
 * stderr (the VMM operator's journal) is then the guest's to choose,
 * unless shm-vm limits it: test_guest_e2e counts the lines.
 */
#include "shmguest.h"
#include "e2e.h"

GUEST_ENTRY void _start(uint64_t factory, uint64_t vector);

void
_start(uint64_t factory, uint64_t vector)
{
	volatile struct guest_shm_factory *fac = shmg_factory(factory);
	struct shmg_region held[2], r;
	char name[] = E2E_FLOOD_HELD;

	(void)vector;
	for (unsigned i = 0; i < 2; i++) {
		name[sizeof(name) - 2] = (char)('0' + i);
		SHMG_CHECK_EQ(shmg_name_wide(fac, name), 1);
		SHMG_CHECK_EQ(shmg_create(fac, E2E_FLOOD_PAGES, &held[i]),
		    GSS_OK);
	}
	SHMG_CHECK_EQ(shmg_name_wide(fac, E2E_FLOOD_NAME), 1);
	for (uint32_t i = 0; i < E2E_FLOOD_TRIES; i++)
		SHMG_CHECK_EQ(shmg_create(fac, E2E_FLOOD_PAGES - i, &r),
		    GSS_NOMEM);
	guest_puts("F: ");
	shmg_putdec(E2E_FLOOD_TRIES);
	guest_puts(" creates found no room\n");
	shmg_detach(&held[0]);
	shmg_detach(&held[1]);
	guest_exit(0);
}
