/* SPDX-License-Identifier: ISC */
/*
 * fdstore: region memory in systemd's file descriptor store. With
 * `fd_store = yes` every region's memfd is also handed to systemd
 * (FDSTORE=1) under the name fdname.h describes, and so is the state page
 * of a region with clients, and the listening socket of every ivshmem
 * export, so that a restarted daemon gets them back with its sockets
 * (restore.c rebuilds the regions, ivshmem.c the exports). A removed region's
 * entries leave the store; at shutdown they stay, which is the point.
 *
 * systemd keeps at most FileDescriptorStoreMax= entries and refuses the
 * others without telling the daemon (it only logs), so the daemon counts
 * for itself: two per region (its memfd and, once it has clients, its state
 * page), one per stored export and one for the table of members, against
 * fd_store_max. A create that could not be kept is refused, not made to
 * vanish at the next restart.
 * Called by the region lifecycle; calls nothing of the daemon's but the
 * fd stash, to reach a parked memfd.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "broker.h"
#include "fdname.h"

/* Hands fd to the store as name; true when systemd took it. */
static bool
fdstore_put(const char *name, int fd)
{
	char msg[FDNAME_MAX + 32];

	snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", name);
	return sd_pid_notify_with_fds(0, 0, msg, &fd, 1) > 0;
}

/* What the store may have to hold for `regions` regions (two entries
 * each), the stored exports and the table of members, and `more`. */
static uint64_t
fdstore_need(const struct broker *b, uint64_t regions, uint64_t more)
{
	return 2 * regions + b->stored_exports + 1 + more;
}

int
fdstore_room(const struct broker *b, const char **why)
{
	if (!b->cfg.fd_store || fdstore_need(b, b->reg.regions_by_name.count,
	    2) <= b->cfg.fd_store_max)
		return 0;
	*why = "systemd's fd store could not keep another region over a "
	    "restart (two entries a region): raise FileDescriptorStoreMax= "
	    "of shmbrokerd.service and fd_store_max in [broker]";
	return -ENOSPC;
}

void
fdstore_check_config(struct broker *b)
{
	uint64_t need = fdstore_need(b, b->cfg.max_regions, 0);

	if (b->cfg.fd_store && need > b->cfg.fd_store_max)
		log_warn(&b->log, "fd store: max_regions = %u needs up to %llu "
		    "entries, fd_store_max is %u: creates past %llu regions "
		    "will be refused; raise FileDescriptorStoreMax= of "
		    "shmbrokerd.service and fd_store_max together",
		    b->cfg.max_regions, (unsigned long long)need,
		    b->cfg.fd_store_max,
		    (unsigned long long)(b->cfg.fd_store_max - 1) / 2);
}

bool
fdstore_put_fd(struct broker *b, const char *name, int fd)
{
	if (fdstore_put(name, fd))
		return true;
	log_warn(&b->log, "systemd did not take %s into the fd store", name);
	return false;
}

void
fdstore_drop(const char *name)
{
	sd_notifyf(0, "FDSTOREREMOVE=1\nFDNAME=%s", name);
}

void
fdstore_put_region(struct broker *b, struct region *g)
{
	char name[FDNAME_MAX];
	bool borrowed = g->mem.fd < 0;
	int fd;

	if (!b->cfg.fd_store)
		return;
	fd = borrowed ? fdstash_get(b->stash, g->mem.stash) : g->mem.fd;
	if (fd < 0) {
		log_warn(&b->log, "region %s: not kept for restarts: its memfd "
		    "is out of reach (%s)", g->name, strerror(-fd));
		return;
	}
	fdname_region(g, name);
	if (fdstore_put(name, fd)) {
		g->stored = true;
		members_add(b, g);
	} else
		log_warn(&b->log, "region %s: systemd did not take its memfd "
		    "into the fd store", g->name);
	if (borrowed)
		close(fd);
}

void
fdstore_put_all(struct broker *b)
{
	struct region *g;
	uint64_t kept = 0, left = 0;

	TAILQ_FOREACH(g, &b->reg.regions, entry)
		kept += g->stored;
	TAILQ_FOREACH(g, &b->reg.regions, entry) {
		if (!g->stored && fdstore_need(b, kept, 2) <=
		    b->cfg.fd_store_max) {
			fdstore_put_region(b, g);
			kept += g->stored;
		}
		if (!g->stored)
			left++;
		else if (!g->state_stored)
			fdstore_put_state(b, g);
	}
	ivshmem_store_exports(b);
	if (left > 0)
		log_warn(&b->log, "fd store: %llu of the regions that existed "
		    "when fd_store was turned on are not kept for restarts: "
		    "the store is full (fd_store_max) or they are out of reach "
		    "(see above)", (unsigned long long)left);
}

void
fdstore_drop_region(struct broker *b, const struct region *g)
{
	char name[FDNAME_MAX];

	/* Whatever fd_store says now: a stored entry must not outlive its
	 * region. At shutdown the regions stay in the store. */
	if (!g->stored || b->stopping)
		return;
	fdname_region(g, name);
	fdstore_drop(name);
}

void
fdstore_put_state(struct broker *b, struct region *g)
{
	char name[FDNAME_MAX];

	if (!b->cfg.fd_store || g->state.fd < 0)
		return;
	fdname_state(g, name);
	if (fdstore_put(name, g->state.fd))
		g->state_stored = true;
	else
		log_warn(&b->log, "region %s: systemd did not take its state "
		    "page into the fd store", g->name);
}

void
fdstore_drop_state(struct broker *b, struct region *g)
{
	char name[FDNAME_MAX];

	if (!g->state_stored || b->stopping)
		return;
	fdname_state(g, name);
	fdstore_drop(name);
	g->state_stored = false;
}

bool
fdstore_put_export(struct broker *b, const char *key, const char *path,
    unsigned vectors, int fd)
{
	char name[FDNAME_MAX];

	if (!b->cfg.fd_store)
		return false;
	if (fdstore_need(b, b->reg.regions_by_name.count, 1) >
	    b->cfg.fd_store_max) {
		log_warn(&b->log, "region %s: its export on %s is not kept for "
		    "restarts: the fd store is full (fd_store_max)", key, path);
		return false;
	}
	if (fdname_export(key, path, vectors, name) < 0) {
		log_warn(&b->log, "region %s: its export on %s is not kept for "
		    "restarts: the name would be too long for the fd store",
		    key, path);
		return false;
	}
	if (fdstore_put(name, fd)) {
		fdstore_count_export(b, true);
		return true;
	}
	log_warn(&b->log, "region %s: systemd did not take the socket of its "
	    "export on %s into the fd store", key, path);
	return false;
}

void
fdstore_drop_export(struct broker *b, const char *key, const char *path,
    unsigned vectors)
{
	char name[FDNAME_MAX];

	if (b->stopping)
		return;
	fdstore_count_export(b, false);
	if (fdname_export(key, path, vectors, name) == 0)
		fdstore_drop(name);
}

void
fdstore_count_export(struct broker *b, bool kept)
{
	if (kept)
		b->stored_exports++;
	else if (b->stored_exports > 0)
		b->stored_exports--;
}
