/* SPDX-License-Identifier: ISC */
/*
 * statepage: a region's state page as the daemon holds it (the layout is
 * proto/shmstate.h): made at the region's first attach, freed with the
 * last client. An attach does not map it (mmap and munmap cost more than
 * the rest of an attach on a virtualised host): a reassigned index's word
 * is cleared through the fd. A Notify or ReadStatus must change the words
 * with the atomics the members use, so it maps the page for that one
 * request, as does a clear or peek that a member's file flags made the fd
 * refuse. None of these keeps its mapping: kept, one tenant with a client
 * in each of many regions would take the daemon past vm.max_map_count,
 * where every mmap it makes fails, for every tenant. The one mapping kept
 * is the ivshmem relay's, of the few regions an admin exports. No daemon
 * state: linked into the unit tests with the registry.
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
/*
 * A mapping kept until statepage_free, made on first use; NULL when it
 * cannot be. For the ivshmem relay alone, which posts on every doorbell a
 * QEMU rings, in regions that only an admin exports: what a peer asks of
 * any region goes through the calls below, which keep none.
 */
struct shm_state_page *statepage_map_kept(struct statepage *sp);
/* Sets from's bit in the word of each index in targets, as a member's
 * notify does. 0 or -errno (the page could not be mapped). */
int statepage_post(struct statepage *sp, unsigned from, uint16_t targets);
/* Takes idx's pending bits into *pending, leaving those in keep set, as
 * a member's status read does. 0 or -errno (the page could not be
 * mapped). */
int statepage_take(struct statepage *sp, unsigned idx, uint32_t keep,
    uint16_t *pending);
/* Empties word idx (a new client of that index). 0 or -errno. */
int statepage_clear(struct statepage *sp, unsigned idx);
/* Word idx, left as it is (0 when it cannot be read). */
uint16_t statepage_peek(struct statepage *sp, unsigned idx);
/* Unmaps and closes; an empty one is left alone. */
void statepage_free(struct statepage *sp);

#endif
