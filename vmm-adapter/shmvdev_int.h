/* SPDX-License-Identifier: ISC */
/*
 * libshmvdev's internals shared by its files: the per-VM state, the
 * attachments (one per client this VM made, plus the control pages of
 * detached clients still claimed) and the window's slot allocator
 * (shmvdev_layout.c).
 */
#ifndef SHMVDEV_INT_H
#define SHMVDEV_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shmvdev.h"
#include "vdev_regs.h"

struct shmc;

enum att_state {
	ATT_FREE = 0,	/* entry unused */
	ATT_ATTACHED,	/* a client in the daemon, mapped */
	ATT_REVOKED,	/* mapped, but a restarted daemon lost the client */
	ATT_GONE	/* detached: only its control page is still claimed */
};

struct shmvdev_att {
	enum att_state state;
	uint64_t client_id;
	uint64_t ctl_gpa;
	uint64_t data_gpa;
	uint64_t map_len;
	uint32_t slot, nslots;	/* the control slot and the data slots */
	int fd;
	int irqfd;		/* the eventfd bound with bind_irqfd, or -1 */
	struct shmvdev_control ctl;
};

struct shmvdev {
	struct shmvdev_ops ops;
	void *vmm;
	struct shmc *c;
	uint64_t factory_gpa;
	uint64_t window_base;
	uint32_t nslots;
	uint8_t *used;		/* per slot: 1 when taken */
	struct shmvdev_att *atts;
	size_t natts, capatts;
	unsigned reconnects;	/* shmc_reconnects() when last looked */
	struct shmvdev_factory fac;
	char err[512];		/* a restart names up to 8 clients */
};

/* The attachment whose control page holds gpa (any state but FREE). */
struct shmvdev_att *shmvdev_layout_find_ctl(const struct shmvdev *,
    uint64_t gpa);
/* The attached or revoked attachment of client_id. */
struct shmvdev_att *shmvdev_layout_find_client(const struct shmvdev *,
    uint64_t id);
/*
 * Places a region of map_len bytes: takes the slots and returns a fresh
 * entry (state FREE, the caller fills it) with slot, nslots, ctl_gpa and
 * data_gpa set, or NULL when the window has no room (or no memory).
 */
struct shmvdev_att *shmvdev_layout_place(struct shmvdev *, uint64_t map_len);
/* Once a's region is mapped: the detached control pages its slots cover
 * stop being claimed (each is now a's control page or guest memory).
 * Not before: a failed map leaves them detached pages, as they were. */
void shmvdev_layout_claim(struct shmvdev *, const struct shmvdev_att *a);
/* Gives the slots of a back; the entry keeps its addresses. */
void shmvdev_layout_release(struct shmvdev *, struct shmvdev_att *a);

#endif /* SHMVDEV_INT_H */
