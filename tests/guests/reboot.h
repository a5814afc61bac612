/* SPDX-License-Identifier: ISC */
/*
 * reboot: what the rebooting guests (reboot.c) and their test
 * (tests/integration/test_guest_reboot.c) agree on: the region that keeps
 * the boot count, which the test makes so that it outlives the guest's
 * client, and the layout of its data. Plain C with <stdint.h> only, so
 * both a freestanding guest and the host test use it.
 */
#ifndef SHM_VM_REBOOT_H
#define SHM_VM_REBOOT_H

#include <stdint.h>

#define REBOOT_NAME		"reboot/count"
#define REBOOT_PAGES		1u

/* The region's data, from its first byte. */
struct reboot_data {
	uint32_t boots;		/* boots so far, the running one counted */
	uint32_t idx;		/* the first boot's index */
	/* the first boot's entry registers, which every boot must see */
	uint64_t factory, vector, arg, rsp;
};

#endif
