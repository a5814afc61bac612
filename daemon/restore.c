/* SPDX-License-Identifier: ISC */
/*
 * restore: regions rebuilt from systemd's file descriptor store when the
 * daemon starts again (fdstore.c puts them there, under the names of
 * fdname.h). Region memfds become regions again through the region
 * lifecycle; state pages (their clients' pending bits) may come before or
 * after their region, so they wait in a list until every fd is in, then
 * find their regions, and their words are kept for the clients that
 * re-claim their old indices. A restored guest region has no clients
 * until its VMMs attach again; it stays RESTORE_GRACE_S for them, even if
 * one comes back and leaves meanwhile (the daemon does not know how many
 * it had, and each must find it), and then goes the way of any guest
 * region without clients. An entry that does not parse, or fits no
 * region, is dropped from the store.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "broker.h"
#include "fdname.h"

#define RESTORE_GRACE_S 60
struct restored_state {
	int fd;
	char name[FDNAME_MAX];
};

/* Removes an entry the restore does not keep. systemd removes every
 * entry of a name at once, and two may share one (a duplicate left when
 * a region could not be adopted): the name is kept, so that what was
 * restored from another entry of it goes back at the end. */
static void
restore_drop(struct broker *b, const char *fdname)
{
	struct restored_state *v;

	fdstore_drop(fdname);
	v = realloc(b->dropped, (b->ndropped + 1) * sizeof(*v));
	if (v == NULL) {
		log_warn(&b->log, "fd store: out of memory: if another entry "
		    "is named %s, it is gone at the next restart", fdname);
		return;
	}
	b->dropped = v;
	v[b->ndropped].fd = -1;
	snprintf(v[b->ndropped].name, FDNAME_MAX, "%s", fdname);
	b->ndropped++;
}

/* Whether the i-th removed name was removed before too (three entries
 * of one name): what it names is put back once. Asked only of a name
 * that names something restored, which is rare. */
static bool
restore_dropped_before(const struct broker *b, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (strcmp(b->dropped[j].name, b->dropped[i].name) == 0)
			return true;
	return false;
}

/* What was restored under a name the restore then removed, back in:
 * each removed name is looked up, not each region scanned against them
 * all (100,000 regions and as many removed names took minutes so). */
static void
restore_put_back(struct broker *b)
{
	char own[FDNAME_MAX], key[REGION_KEY_MAX];
	struct fdname_region fr;
	struct region *g;

	for (size_t i = 0; i < b->ndropped; i++) {
		const char *name = b->dropped[i].name;

		if (fdname_parse_region(name, &fr) == 0 &&
		    (g = registry_find(&b->reg, fr.name)) != NULL &&
		    g->stored) {
			fdname_region(g, own);
			if (strcmp(own, name) == 0 &&
			    !restore_dropped_before(b, i)) {
				g->stored = false;
				fdstore_put_region(b, g);
			}
		} else if (fdname_parse_state(name, key) == 0 &&
		    (g = registry_find(&b->reg, key)) != NULL &&
		    g->state_stored && !restore_dropped_before(b, i)) {
			g->state_stored = false;
			fdstore_put_state(b, g);
		}
	}
	free(b->dropped);
	b->dropped = NULL;
	b->ndropped = 0;
}

/* A state page waits for the end of the restore: its region may come
 * later in the list. */
static bool
restore_take_state(struct broker *b, int fd, const char *fdname)
{
	struct restored_state *v;

	v = realloc(b->states, (b->nstates + 1) * sizeof(*v));
	if (v == NULL) {
		log_warn(&b->log, "fd store: dropping %s: out of memory",
		    fdname);
		close(fd);
		return true;
	}
	b->states = v;
	v[b->nstates].fd = fd;
	snprintf(v[b->nstates].name, FDNAME_MAX, "%s", fdname);
	b->nstates++;
	return true;
}

/* Gives each stored state page to its region, or drops it. */
static void
restore_match_states(struct broker *b)
{
	for (size_t i = 0; i < b->nstates; i++) {
		struct restored_state *rs = &b->states[i];
		char key[REGION_KEY_MAX];
		struct region *g = NULL;

		if (fdname_parse_state(rs->name, key) == 0)
			g = registry_find(&b->reg, key);
		if (g != NULL && g->state.fd < 0 &&
		    statepage_adopt(&g->state, rs->fd) == 0) {
			g->state_stored = true;
			/* Every word waits for its own client's re-claim,
			 * and any may hold bits. */
			g->reclaim_pending = 0xffff;
			g->state_used = 0xffff;
			continue;
		}
		log_warn(&b->log, "fd store: dropping %s: no restored region "
		    "has this state page", rs->name);
		restore_drop(b, rs->name);
		close(rs->fd);
	}
	free(b->states);
	b->states = NULL;
	b->nstates = 0;
}

/* A region rebuilt from a stored memfd; false when fd is not one. */
bool
restore_take_fd(struct broker *b, int fd, const char *fdname)
{
	struct fdname_region fr;
	struct region_mem mem = { .fd = fd };
	struct region *g;

	if (strncmp(fdname, "s.", 2) == 0)
		return restore_take_state(b, fd, fdname);
	if (strcmp(fdname, FDNAME_MEMBERS) == 0)
		return members_take_fd(b, fd);
	if (strncmp(fdname, "x.", 2) == 0) {
		ivshmem_restore_take(b, fd, fdname);
		return true;
	}
	if (strncmp(fdname, "r.", 2) != 0)
		return false;
	/* The store is the daemon's to write, but what comes back from it is
	 * checked like any input: a plain file, an unsealed memfd or one of
	 * another size was taken before. */
	if (fdname_parse_region(fdname, &fr) < 0 ||
	    memory_check_fd(fd, fr.size_pages, &mem) < 0) {
		log_warn(&b->log, "fd store: dropping %s: not a region this "
		    "daemon can restore", fdname);
		restore_drop(b, fdname);
		close(fd);
		return true;
	}
	if (registry_find(&b->reg, fr.name) != NULL) {
		log_warn(&b->log, "fd store: dropping %s: region %s is "
		    "restored already", fdname, fr.name);
		restore_drop(b, fdname);
		close(fd);
		return true;
	}
	/* Out of memory: its entry goes too, or a region made later under
	 * the name would sit beside it. */
	if ((g = region_adopt(b, &fr, &mem)) == NULL) {
		restore_drop(b, fdname);
		close(fd);
		return true;
	}
	b->restored++;
	log_info(&b->log, "region %s restored from the fd store (%u pages, "
	    "%s)", g->name, g->size_pages, mem.backing == BACKING_HUGETLB ?
	    "hugetlb" : "shmem");
	return true;
}

/* Guest regions without clients at the end of the grace period are
 * removed like any guest region whose last client left. */
static void
restore_grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;
	struct region *g, *next;

	(void)fd;
	(void)what;
	for (g = TAILQ_FIRST(&b->reg.regions); g != NULL; g = next) {
		next = TAILQ_NEXT(g, entry);
		/* Bits kept for clients that did not come back: nobody reads
		 * them now, and the page costs a descriptor. */
		if (g->nclients == 0)
			region_free_state(b, g);
		g->reclaim_pending = 0;
		g->reserved = 0;
		members_set(b, g);
		if (!g->awaiting_reclaim)
			continue;
		g->awaiting_reclaim = false;
		if (g->nclients > 0)
			continue;
		log_info(&b->log, "region %s: no client after the restart's "
		    "grace period; removed", g->name);
		region_remove(b, g, 0);
	}
}

int
restore_finish(struct broker *b)
{
	struct timeval tv = { RESTORE_GRACE_S, 0 };

	restore_match_states(b);
	restore_put_back(b);
	if (b->restored == 0)
		return 0;
	log_notice(&b->log, "%llu regions restored from the fd store; guest "
	    "regions wait %d s for their clients", (unsigned long long)
	    b->restored, RESTORE_GRACE_S);
	region_park_memfds(b);
	b->ev_grace = evtimer_new(b->base, restore_grace_cb, b);
	if (b->ev_grace == NULL || evtimer_add(b->ev_grace, &tv) < 0)
		return -ENOMEM;
	return 0;
}
