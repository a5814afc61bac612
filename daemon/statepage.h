/* SPDX-License-Identifier: ISC */
/*
 * statepage: a region's state page as the daemon holds it (the layout is
 * proto/shmstate.h): made at the region's first attach, freed with the
 * last client. The daemon maps it only when it serves a Notify or
 * ReadStatus request: an attach must not pay for a mapping (mmap and
 * munmap cost more than the rest of an attach on a virtualised host), and
 * a reassigned index's word is cleared through the fd. Also the eventfd
 * signal that goes with a notification. No daemon state: linked into the
 * unit tests with the registry.
 */
#ifndef SHMBROKER_STATEPAGE_H
#define SHMBROKER_STATEPAGE_H

#include <stdbool.h>

#include "shmstate.h"

struct statepage {
	int fd;				/* sealed 4 KiB memfd, or -1: none */
	struct shm_state_page *page;	/* the daemon's mapping, or NULL */
};

#define STATEPAGE_NONE ((struct statepage){ .fd = -1, .page = NULL })

/* Makes a zeroed, sealed state page (ordinary shmem, never hugetlb),
 * not mapped. Returns 0 or -errno; sp is left empty on failure. */
int statepage_create(struct statepage *sp);
/*
 * Takes fd (a state page kept over a daemon restart) when it is one: a
 * sealed memfd of exactly one page. Returns 0, or -errno with fd left to
 * the caller.
 */
int statepage_adopt(struct statepage *sp, int fd);
/* The daemon's mapping, made on first use; NULL when it cannot be. */
struct shm_state_page *statepage_map(struct statepage *sp);
/* Empties word idx (a new client of that index). 0 or -errno. */
int statepage_clear(struct statepage *sp, unsigned idx);
/* Word idx, left as it is (0 when it cannot be read). */
uint16_t statepage_peek(struct statepage *sp, unsigned idx);
/* Unmaps and closes; an empty one is left alone. */
void statepage_free(struct statepage *sp);

#endif
