/* SPDX-License-Identifier: ISC */
/*
 * guest_shm_freestanding: built only to prove that qvm/guest_shm.h compiles
 * as a guest program sees it: freestanding, no libc headers (the build
 * adds -nostdinc with the compiler's own include directory), strict
 * warnings, and with -m32 where the compiler can.
 */
#include <qvm/guest_shm.h>

uint32_t guest_shm_freestanding_use(volatile struct guest_shm_factory *,
    volatile struct guest_shm_control *);

uint32_t
guest_shm_freestanding_use(volatile struct guest_shm_factory *f,
    volatile struct guest_shm_control *c)
{
	uint32_t st;

	if (f->signature != GUEST_SHM_SIGNATURE)
		return GSS_UNKNOWN_FAILURE;
	guest_shm_create(f, 1);
	guest_shm_find(f, 0);
	st = guest_shm_create_named(f, "freestanding", 16);
	st |= guest_shm_find_named(f, "freestanding");
	c->notify = GUEST_SHM_NOTIFY_ALL;
	return st | GUEST_SHM_PENDING(c->status) | GUEST_SHM_ACTIVE(c->status);
}
