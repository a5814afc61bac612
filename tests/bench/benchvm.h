/* SPDX-License-Identifier: ISC */
/*
 * benchvm.h: shmbench-vm's layout (where shm-vm puts a region's control
 * page and data) and its bare vdev (benchvm_replay.c).
 */
#ifndef SHMBENCH_BENCHVM_H
#define SHMBENCH_BENCHVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <qvm/guest_shm.h>

#include "vm.h"

/* Where shm-vm would put a region's data (the window's first 2 MiB
 * boundary past its control page), and that control page. */
#define BENCHVM_DATA_GPA	(VM_WINDOW_BASE + 0x200000ULL)
#define BENCHVM_CTL_GPA		(BENCHVM_DATA_GPA - GUEST_SHM_PAGE_SIZE)

/* The bare vdev: one region at a time, its calls to replay.c's server on
 * sock, which makes regions as a daemon at --hugepages prefer does. */
struct replay_vdev {
	struct vm *vm;
	int sock, ep;
	uint32_t huge_kib;	/* the kernel's huge page size, for the server */
	uint32_t status;	/* the factory's, after the last size write */
	int region, page, efd;	/* what the server handed out, -1: none */
	void *hva;		/* the region's mapping, NULL: none */
	size_t len;
	bool slot_set, irq_bound;
};

int replay_vdev_open(struct replay_vdev *rv, struct vm *vm, int sock,
    uint32_t huge_kib);
void replay_vdev_close(struct replay_vdev *rv);
int replay_vdev_mmio(void *ctx, uint64_t gpa, uint8_t *data, uint32_t len,
    int is_write);

#endif
