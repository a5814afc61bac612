/* SPDX-License-Identifier: ISC */
/*
 * shmstate: the layout of a region's state page, shared by shmbrokerd,
 * libshmclient and libshmvdev. The page is a sealed 4 KiB memfd that the
 * daemon makes at a region's first attach and hands to every client with
 * its attach reply. It holds the pending words only: word i has bit j set
 * when client j notified client i since i last read its status. Every
 * member maps it, so a notification (atomic OR, then a write to the
 * target's eventfd) and a status read (atomic AND) need no daemon round
 * trip. Membership (the active mask) stays the daemon's: it is not here,
 * so a member can at worst forge notifications inside a region whose data
 * it shares anyway. Each word has its own cache line, so clients of
 * different VMs polling their own words do not share a line.
 */
#ifndef SHMBROKER_SHMSTATE_H
#define SHMBROKER_SHMSTATE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SHM_STATE_SLOTS 16
#define SHM_STATE_PAGE_SIZE 4096u
#define SHM_STATE_LINE 64u
#define SHM_STATE_ALL_OTHERS 0xffffffffu

struct shm_state_slot {
	_Atomic uint32_t pending;	/* bit j: client j notified us */
	uint8_t pad[SHM_STATE_LINE - sizeof(uint32_t)];
};

struct shm_state_page {
	struct shm_state_slot slot[SHM_STATE_SLOTS];
	uint8_t reserved[SHM_STATE_PAGE_SIZE -
	    SHM_STATE_SLOTS * SHM_STATE_LINE];
};

/* Several processes share the words: only lock-free atomics work there. */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "uint32_t atomics must be "
    "lock-free to be shared between processes");
_Static_assert(sizeof(_Atomic uint32_t) == 4, "a pending word is 4 bytes");
_Static_assert(sizeof(struct shm_state_slot) == SHM_STATE_LINE,
    "one pending word per cache line");
_Static_assert(offsetof(struct shm_state_page, slot[1].pending) ==
    SHM_STATE_LINE, "word i at offset 64 * i");
_Static_assert(offsetof(struct shm_state_page, slot[15].pending) ==
    15 * SHM_STATE_LINE, "word i at offset 64 * i");
_Static_assert(sizeof(struct shm_state_page) == SHM_STATE_PAGE_SIZE,
    "the state page is one 4 KiB page");

/* The indices a notify from self reaches: the attached ones in mask
 * (SHM_STATE_ALL_OTHERS: all attached), never self. */
static inline uint16_t
shm_state_targets(uint16_t active, unsigned self, uint32_t mask)
{
	uint32_t t = mask == SHM_STATE_ALL_OTHERS ? active : mask & active;

	return (uint16_t)(t & ~(1u << self) & 0xffffu);
}

/* The lowest index in a non-empty *mask, taken out of it: members are
 * walked by their mask, not slot by slot (a slot costs a test and a load
 * on every attach, detach and notify, and most regions have few). */
static inline unsigned
shm_state_next(uint32_t *mask)
{
	unsigned i = (unsigned)__builtin_ctz(*mask);

	*mask &= *mask - 1;
	return i;
}

/* Sets self's bit in target's pending word. */
static inline void
shm_state_post(struct shm_state_page *p, unsigned self, unsigned target)
{
	atomic_fetch_or_explicit(&p->slot[target].pending, 1u << self,
	    memory_order_release);
}

/* Takes self's pending bits, leaving those in keep set. */
static inline uint16_t
shm_state_take(struct shm_state_page *p, unsigned self, uint32_t keep)
{
	return (uint16_t)(atomic_fetch_and_explicit(&p->slot[self].pending,
	    keep & 0xffffu, memory_order_acq_rel) & 0xffffu);
}

/* Self's pending bits, left as they are. */
static inline uint16_t
shm_state_peek(struct shm_state_page *p, unsigned self)
{
	return (uint16_t)(atomic_load_explicit(&p->slot[self].pending,
	    memory_order_acquire) & 0xffffu);
}

/* A fresh index starts with nothing pending. */
static inline void
shm_state_clear(struct shm_state_page *p, unsigned self)
{
	atomic_store_explicit(&p->slot[self].pending, 0, memory_order_release);
}

#endif
