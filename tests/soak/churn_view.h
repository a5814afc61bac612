/* SPDX-License-Identifier: ISC */
/*
 * churn_view: the daemon as its admin API shows it (churn_daemon.c), and
 * what the churn's parent does with it and with a VMM connection of its
 * own: the admin regions of the run, and a region's data.
 */
#ifndef SHMBROKER_CHURN_VIEW_H
#define SHMBROKER_CHURN_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "churn.h"

#define CHURN_VIEW_REGIONS	(2 * CHURN_MAX_REGIONS)
#define CHURN_VIEW_CLIENTS	(CHURN_MAX_WORKERS * CHURN_HOLD + 64)

struct churn_view_region {
	char name[64];
	uint32_t active, clients, size_pages;
	bool admin;
};

struct churn_view_client {
	pid_t pid;
	uint32_t index;
	char region[64];
};

struct churn_view {
	size_t nregions, nclients;
	struct churn_view_region regions[CHURN_VIEW_REGIONS];
	struct churn_view_client clients[CHURN_VIEW_CLIENTS];
};

/* Every region and client the daemon lists. 0 or -errno (reported). */
int churn_view_read(struct churn *ch, struct churn_view *v);
const struct churn_view_region *churn_view_region(const struct churn_view *v,
    const char *name);

/* A VMM connection of the parent's (closed by the caller), or NULL. */
struct shmc *churn_vmm_connect(struct churn *ch);
/* Finds region g through c, writes its pattern (fill) or checks it, and
 * detaches. 1: the pattern is there (or was written), 0: the region has
 * none (its creator died first), -1: failed (reported). */
int churn_region_data(struct churn *ch, struct shmc *c, uint32_t g,
    bool fill);
/* The run's admin regions, created with their patterns. 0 or -1. */
int churn_make_admin_regions(struct churn *ch);

#endif
