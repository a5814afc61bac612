/* SPDX-License-Identifier: ISC */
/*
 * members: which indices each stored region's clients held, kept over a
 * daemon restart, so that a client that comes back re-claims its own
 * index even when a new attach reaches the restarted daemon first (the
 * new one is given another free index; registry.c). Without it the
 * daemon knew only that a region had had clients: 22 of 155 re-claims in
 * a churn soak found their index taken and moved, and a guest's index
 * changed under it.
 *
 * The record is one memfd in systemd's fd store (FDNAME_MEMBERS), mapped
 * by the daemon: a row per stored region, its name, the bits of its
 * members and the uid of each (members_may_take: another member, of
 * another tenant maybe, cannot ask for a kept index and take it, and
 * the pending bits kept with it, before its holder is back), written
 * with plain stores at each attach and detach (no
 * system call on the attach path), so that it is as fresh as the last
 * change when the daemon is killed. A row is given when a region enters
 * the store and cleared when it leaves; at a stop nothing is cleared,
 * which is the point. What comes back from the store is checked like
 * any stored name: a table of another shape is dropped, a row that names
 * no restored region is cleared.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker.h"
#include "fdname.h"
#include "members.h"

struct members {
	int fd;
	struct members_table *t;
	uint64_t taken[MEMBERS_SLOTS / 64];	/* rows given to regions */
	uint32_t hint;			/* no free row below it */
	bool full_said;			/* logged that none is left */
};

bool
members_take_fd(struct broker *b, int fd)
{
	if (b->members_fd >= 0) {
		/* members_start takes both out of the store and puts the
		 * first back, so that one comes back next time. */
		log_warn(&b->log, "fd store: dropping a second %s",
		    FDNAME_MEMBERS);
		b->members_reput = true;
		close(fd);
		return true;
	}
	b->members_fd = fd;
	return true;
}

/* fd's table mapped shared, or NULL. */
static struct members_table *
members_mmap(int fd)
{
	void *p = mmap(NULL, sizeof(struct members_table), PROT_READ |
	    PROT_WRITE, MAP_SHARED, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* The stored table, when it is one of this shape; NULL otherwise. */
static struct members_table *
members_map_stored(struct broker *b, int fd)
{
	struct members_table *t;
	struct stat st;

	if (fstat(fd, &st) < 0 || st.st_size != (off_t)sizeof(*t) ||
	    (t = members_mmap(fd)) == NULL)
		goto other;
	if (t->magic == MEMBERS_MAGIC && t->version == MEMBERS_VERSION &&
	    t->slots == MEMBERS_SLOTS && t->used <= MEMBERS_SLOTS)
		return t;
	munmap(t, sizeof(*t));
other:
	log_warn(&b->log, "fd store: dropping %s: not a table of members "
	    "this daemon knows; clients that come back may find their "
	    "index taken", FDNAME_MEMBERS);
	fdstore_drop(FDNAME_MEMBERS);
	return NULL;
}

static struct members_table *
members_map_new(struct broker *b, int *fd)
{
	struct members_table *t;

	*fd = memfd_create("shmbroker-members", MFD_CLOEXEC);
	if (*fd < 0 || ftruncate(*fd, sizeof(*t)) < 0 ||
	    (t = members_mmap(*fd)) == NULL) {
		log_warn(&b->log, "no table of members for restarts: %s",
		    strerror(errno));
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return NULL;
	}
	t->magic = MEMBERS_MAGIC;
	t->version = MEMBERS_VERSION;
	t->slots = MEMBERS_SLOTS;
	if (!fdstore_put_fd(b, FDNAME_MEMBERS, *fd)) {
		munmap(t, sizeof(*t));
		close(*fd);
		*fd = -1;
		return NULL;
	}
	return t;
}

static bool
members_row_taken(const struct members *m, uint32_t i)
{
	return m->taken[i / 64] >> (i % 64) & 1;
}

static void
members_row_give(struct members *m, struct region *g, uint32_t i)
{
	m->taken[i / 64] |= 1ull << (i % 64);
	g->member_slot = (int32_t)i;
	if (i >= m->t->used)
		m->t->used = i + 1;
}

/* A stored row back to its region: the indices it held stay reserved
 * for their clients; any other row is cleared. */
static void
members_row_restore(struct broker *b, struct members *m, uint32_t i)
{
	struct members_row *row = &m->t->rows[i];
	struct region *g = NULL;

	if (row->name[0] == '\0')
		return;
	if (memchr(row->name, '\0', sizeof(row->name)) != NULL &&
	    registry_check_key(row->name) == GSS_OK)
		g = registry_find(&b->reg, row->name);
	if (g == NULL || !g->stored || g->member_slot >= 0) {
		memset(row, 0, sizeof(*row));
		return;
	}
	members_row_give(m, g, i);
	g->reserved = row->active;
}

/* Writes into row the indices kept for g: its clients that speak the RPC
 * (a QEMU on an export never re-claims an index: it joins again as a new
 * peer), with their peers' uids, and those a restart still keeps, whose
 * uids the row has already. */
static void
members_of(const struct region *g, struct members_row *row)
{
	uint16_t bits = g->reserved;

	for (unsigned i = 0; i < REGION_MAX_CLIENTS; i++) {
		const struct client *cl = g->clients[i];

		if (cl != NULL && cl->ops == NULL) {
			bits |= (uint16_t)(1u << i);
			row->uid[i] = region_client_owner(cl).cred.uid;
		}
	}
	row->active = bits;
}

/* Gives g a free row, when one is left, and writes its name. */
static void
members_row_add(struct broker *b, struct members *m, struct region *g)
{
	struct members_row *row;
	uint32_t i = m->hint;

	while (i < MEMBERS_SLOTS && members_row_taken(m, i))
		i++;
	if (i == MEMBERS_SLOTS) {
		if (!m->full_said)
			log_warn(&b->log, "region %s and those after it: the "
			    "table of members has %u rows, all taken; their "
			    "clients may find their index taken after a "
			    "restart", g->name, MEMBERS_SLOTS);
		m->full_said = true;
		return;
	}
	m->hint = i + 1;
	members_row_give(m, g, i);
	row = &m->t->rows[i];
	/* The name's first byte last: a kill in the middle leaves a free
	 * row, not a shorter name that could be another region's. */
	memset(row, 0, sizeof(*row));
	/* Indices a restart keeps without a row (none was stored) have no
	 * known holder. */
	for (unsigned k = 0; k < REGION_MAX_CLIENTS; k++)
		row->uid[k] = MEMBERS_UID_ANY;
	members_of(g, row);
	memcpy(row->name + 1, g->name + 1, sizeof(row->name) - 1);
	atomic_signal_fence(memory_order_seq_cst);
	row->name[0] = g->name[0];
}

int
members_start(struct broker *b)
{
	struct members *m;
	struct region *g;
	int fd = b->members_fd;

	b->members_fd = -1;
	if (!b->cfg.fd_store) {
		if (fd >= 0) {
			fdstore_drop(FDNAME_MEMBERS);
			close(fd);
		}
		return 0;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		if (fd >= 0)
			close(fd);
		return -ENOMEM;
	}
	m->t = fd >= 0 ? members_map_stored(b, fd) : NULL;
	if (m->t != NULL && b->members_reput) {
		fdstore_drop(FDNAME_MEMBERS);
		if (!fdstore_put_fd(b, FDNAME_MEMBERS, fd)) {
			munmap(m->t, sizeof(*m->t));
			m->t = NULL;
		}
	}
	b->members_reput = false;
	if (m->t != NULL) {
		for (uint32_t i = 0; i < m->t->used; i++)
			members_row_restore(b, m, i);
	} else {
		if (fd >= 0)
			close(fd);
		m->t = members_map_new(b, &fd);
	}
	if (m->t == NULL) {
		free(m);
		return 0;
	}
	m->fd = fd;
	b->members = m;
	/* Regions stored before the table was open, or by a daemon that
	 * kept none. */
	TAILQ_FOREACH(g, &b->reg.regions, entry)
		if (g->stored && g->member_slot < 0)
			members_row_add(b, m, g);
	return 0;
}

void
members_add(struct broker *b, struct region *g)
{
	if (b->members != NULL && g->member_slot < 0)
		members_row_add(b, b->members, g);
}

void
members_set(struct broker *b, const struct region *g)
{
	/* At a stop the clients go, but the record stays for the next. */
	if (b->members == NULL || g->member_slot < 0 || b->stopping)
		return;
	members_of(g, &b->members->t->rows[g->member_slot]);
}

bool
members_may_take(const struct broker *b, const struct region *g, int index,
    uid_t uid)
{
	const struct members_row *row;

	if (index < 0 || !(g->reserved >> index & 1) || b->members == NULL ||
	    g->member_slot < 0)
		return true;
	row = &b->members->t->rows[g->member_slot];
	return row->uid[index] == MEMBERS_UID_ANY || row->uid[index] == uid;
}

void
members_drop(struct broker *b, struct region *g)
{
	struct members *m = b->members;
	uint32_t i;

	if (m == NULL || g->member_slot < 0 || b->stopping)
		return;
	i = (uint32_t)g->member_slot;
	/* A kill in the middle leaves a free row, not a shorter name. */
	m->t->rows[i].name[0] = '\0';
	atomic_signal_fence(memory_order_seq_cst);
	memset(&m->t->rows[i], 0, sizeof(m->t->rows[i]));
	m->taken[i / 64] &= ~(1ull << (i % 64));
	if (i < m->hint)
		m->hint = i;
	g->member_slot = -1;
}

void
members_close(struct broker *b)
{
	struct members *m = b->members;

	if (b->members_fd >= 0)
		close(b->members_fd);
	b->members_fd = -1;
	if (m == NULL)
		return;
	munmap(m->t, sizeof(*m->t));
	close(m->fd);
	free(m);
	b->members = NULL;
}
