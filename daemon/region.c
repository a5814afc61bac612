/* SPDX-License-Identifier: ISC */
/*
 * region: the lifecycle of regions and clients, in one place. Creating a
 * region (memory, registry entry, fd store, quota charge), adopting one
 * from the fd store, parking memfds in keepers, attaching a client (index,
 * state page, eventfd, charge), detaching and revoking clients, destroying
 * and removing regions, noticing a keeper that ended (a timer armed at
 * the first park), and the events all of that raises: PeerChanged to
 * the other members, ClientRevoked to the revoked, and the admin event
 * stream. The VMM service (vmm.c), the admin service (admin.c), start-up
 * (main.c), restarts (restore.c) and closing connections (conn.c) call
 * down into it; it calls only the modules below it (registry, memory,
 * statepage, fdstash, fdstore, watch) and sends through conn.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker.h"
#include "fdname.h"

/* A region's bytes and hugepages, to or from its tenant's usage. */
static void
region_charge(struct broker *b, struct region *g, struct tenant_usage *u)
{
	g->usage = u;
	if (u == NULL)
		return;
	u->regions++;
	u->bytes += g->mem.bytes;
	if (g->mem.backing == BACKING_HUGETLB && b->hugepage_size != 0)
		u->hugepages += g->mem.bytes / b->hugepage_size;
}

static void
region_uncharge(struct broker *b, struct region *g)
{
	struct tenant_usage *u = g->usage;

	if (u == NULL)
		return;
	u->regions--;
	u->bytes -= g->mem.bytes;
	if (g->mem.backing == BACKING_HUGETLB && b->hugepage_size != 0)
		u->hugepages -= g->mem.bytes / b->hugepage_size;
	g->usage = NULL;
}

/* Tells every other client of g that index changed; attached or not. An
 * attach carries the new peer's eventfd, so it is never coalesced. */
static void
region_peer_changed(struct broker *b, struct region *g, int index,
    bool attached)
{
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__PeerChanged ev = SHMBROKER__PEER_CHANGED__INIT;
	const struct client *joined = attached ? g->clients[index] : NULL;
	int efd = joined != NULL ? joined->efd : -1;

	if (b->region_up != NULL)
		b->region_up->changed(b, g, index, attached);
	m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_PEER_CHANGED;
	m.peer_changed = &ev;
	ev.index = (uint32_t)index;
	ev.attached = attached;
	ev.active_mask = g->active;
	for (uint32_t left = g->active & ~(1u << index); left != 0;) {
		struct client *peer = g->clients[shm_state_next(&left)];

		if (peer->ops != NULL) {
			peer->ops->peer_changed(b, peer, index, attached);
			continue;
		}
		ev.client_id = peer->id;
		conn_send_event(peer->owner, &m, &efd, efd >= 0 ? 1 : 0,
		    EVENT_KEY(peer->id, EVENT_PEER));
	}
}

/* A busy keeper fails every create of a burst the same way (and each is
 * tried again at the next create): said at most once per
 * PARK_WARN_INTERVAL_MS, with how many were not said. */
#define PARK_WARN_INTERVAL_MS 10000

static void
region_park_failed(struct broker *b, const struct region *g, int err)
{
	uint64_t unsaid;

	if (!log_limit_pass(&b->park_said, broker_mono_ns() / 1000000,
	    PARK_WARN_INTERVAL_MS, &unsaid))
		return;
	log_warn(&b->log, "cannot park the memfd of region %s in a keeper "
	    "process (%s): keeping it in the daemon for now (%llu more such "
	    "failures since the last such line, said at most every %d s)",
	    g->name, strerror(-err),
	    (unsigned long long)unsaid, PARK_WARN_INTERVAL_MS / 1000);
}

/* An fd keeper ended: the operator's to know at once, not when an attach
 * to one of its regions fails. */
static void
region_keeper_gone(void *arg, pid_t pid, int status, size_t parked)
{
	struct broker *b = arg;
	int sig = status != -1 && WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	char how[64] = "ended";

	if (sig != 0)
		snprintf(how, sizeof(how), "was killed by signal %d (%s)", sig,
		    strsignal(sig));
	else if (status != -1 && WIFEXITED(status))
		snprintf(how, sizeof(how), "exited with status %d",
		    WEXITSTATUS(status));
	if (parked == 0) {
		log_warn(&b->log, "fd keeper process %d %s; it held no region "
		    "memfds", (int)pid, how);
		return;
	}
	log_err(&b->log, "fd keeper process %d %s: the daemon can no longer "
	    "hand out the memfds of the %zu regions parked in it, and "
	    "attaches to them fail (clients that hold one keep it)%s%s",
	    (int)pid, how, parked, b->cfg.fd_store ? "; restart the daemon "
	    "to get them back from systemd's fd store" : "; their memory "
	    "goes with the last client that holds it",
	    sig == SIGKILL ? " (an OOM kill is in the kernel log)" : "");
}

static void
region_keepers_cb(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;

	(void)fd;
	(void)what;
	fdstash_check(b->stash, region_keeper_gone, b);
}

/* Armed once there is a keeper: a daemon that never parks has none to
 * look at, and need not wake every second for nothing. */
static void
region_keepers_arm(struct broker *b)
{
	if (b->ev_keepers != NULL && fdstash_keepers(b->stash) > 0 &&
	    !event_pending(b->ev_keepers, EV_TIMEOUT, NULL))
		event_add(b->ev_keepers, &(struct timeval){ 1, 0 });
}

int
region_watch_keepers(struct broker *b)
{
	if (b->ev_keepers == NULL &&
	    (b->ev_keepers = event_new(b->base, -1, EV_PERSIST,
	    region_keepers_cb, b)) == NULL)
		return -ENOMEM;
	/* The start may have parked already (configured regions, the fd
	 * store's). */
	region_keepers_arm(b);
	return 0;
}

/*
 * Over the in-process budget, the memfds of the oldest regions go to keeper
 * processes: a new region is usually attached again soon (its creator's
 * peers follow), an old one rarely. Parking does not wait for the keeper.
 */
void
region_park_memfds(struct broker *b)
{
	struct region *g;
	int err;

	/* Every create comes here: finding the cursor's region can walk the
	 * list (it may be gone), so only when something is to be parked. */
	if (b->local_fds <= b->cfg.local_region_fds)
		return;
	g = registry_region_after(&b->reg, b->park_cursor);
	for (; g != NULL && b->local_fds > b->cfg.local_region_fds;
	    g = TAILQ_NEXT(g, entry)) {
		if (g->mem.fd >= 0 &&
		    (err = fdstash_put(b->stash, g->mem.fd, &g->mem.stash)) < 0) {
			region_park_failed(b, g, err);
			region_keepers_arm(b);	/* one may have started */
			return;
		}
		/* Only past regions that are parked: a failed one is tried
		 * again at the next create. */
		if (g->mem.fd >= 0) {
			g->mem.fd = -1;
			b->local_fds--;
			region_keepers_arm(b);
		}
		b->park_cursor = g->id;
	}
}

static void
region_release_memfd(struct broker *b, struct region_mem *mem)
{
	if (mem->fd >= 0) {
		close(mem->fd);
		mem->fd = -1;
		b->local_fds--;
	} else {
		fdstash_drop(b->stash, mem->stash);
	}
}

void
region_free_state(struct broker *b, struct region *g)
{
	if (g->state.fd < 0)
		return;
	fdstore_drop_state(b, g);
	statepage_free(&g->state);
	g->reclaim_pending = 0;
}

void
region_remove(struct broker *b, struct region *g, uint64_t conn_id)
{
	if (b->region_up != NULL)
		b->region_up->removed(b, g);
	watch_event(b, "destroy", g, -1, conn_id);
	region_free_state(b, g);
	fdstore_drop_region(b, g);
	members_drop(b, g);
	region_uncharge(b, g);
	region_release_memfd(b, &g->mem);
	registry_remove_region(&b->reg, g);
	b->stats.regions_destroyed++;
}

int
region_memfd(struct broker *b, const struct region *g, bool *borrowed)
{
	*borrowed = g->mem.fd < 0;
	return *borrowed ? fdstash_get(b->stash, g->mem.stash) : g->mem.fd;
}

/* The memfd's name, "shm:" and the region's, as /proc/PID/fd shows it.
 * Not snprintf: a create is timed against its bare system calls, and the
 * format took a tenth of what the daemon adds to them. */
static void
region_label(const char *name, char label[REGION_KEY_MAX + 8])
{
	size_t n = strnlen(name, REGION_KEY_MAX - 1);

	memcpy(label, "shm:", 4);
	memcpy(label + 4, name, n);
	label[4 + n] = '\0';
}

enum guest_shm_status
region_create(struct broker *b, const char *name, uint32_t size_pages,
    enum region_origin origin, const struct region_acl *acl,
    struct region **out, const char **why)
{
	struct tenant *t = acl->tenant;
	char label[REGION_KEY_MAX + 8];
	struct region_mem mem;

	if (size_pages == 0) {
		*why = "a region needs a size of at least one page";
		return GSS_NOMEM;
	}
	if (size_pages > b->cfg.max_region_pages) {
		b->stats.refused[LIMIT_MAX_REGION_SIZE]++;
		*why = "size is over the largest region allowed "
		    "(max_region_size)";
		return GSS_NOMEM;
	}
	if (b->reg.regions_by_name.count >= b->cfg.max_regions) {
		b->stats.refused[LIMIT_MAX_REGIONS]++;
		*why = "the daemon holds max_regions regions already "
		    "(an admin can raise it in [broker])";
		return GSS_NOMEM;
	}
	if (policy_quota(b, t, 1, 0, (uint64_t)size_pages * REGION_PAGE_SIZE,
	    0, why) < 0)
		return GSS_NOMEM;
	if (fdstore_room(b, why) < 0) {
		b->stats.refused[LIMIT_FD_STORE_MAX]++;
		return GSS_NOMEM;
	}
	region_label(name, label);
	if (memory_create(label, size_pages, acl->hugepages >= 0 ?
	    (enum hugepage_policy)acl->hugepages : b->cfg.hugepages,
	    b->hugepage_size, &mem, why) < 0)
		return GSS_NOMEM;
	/* Only now is it known whether the pool was used, and how far the
	 * size was rounded up for it. */
	if (mem.backing == BACKING_HUGETLB && policy_quota(b, t, 0, 0,
	    mem.bytes, mem.bytes / b->hugepage_size, why) < 0) {
		close(mem.fd);
		return GSS_NOMEM;
	}
	*out = registry_add_region(&b->reg, name, size_pages, &mem, origin,
	    broker_now_ms());
	if (*out == NULL) {
		close(mem.fd);
		*why = "out of memory";
		return GSS_NOMEM;
	}
	(*out)->owner_uid = acl->owner_uid;
	(*out)->mode = acl->mode;
	(*out)->has_group = acl->has_group;
	(*out)->group = acl->group;
	region_charge(b, *out, t != NULL ? t->usage : NULL);
	b->local_fds++;
	/* Stored while its memfd is surely in hand, then maybe parked. */
	fdstore_put_region(b, *out);
	region_park_memfds(b);
	b->stats.creates++;
	log_info(&b->log, "region %s created: %u pages, %s, %llu bytes",
	    name, size_pages, mem.backing == BACKING_HUGETLB ? "hugetlb" :
	    "shmem", (unsigned long long)mem.bytes);
	watch_event(b, "create", *out, -1, 0);
	return GSS_OK;
}

struct region *
region_adopt(struct broker *b, const struct fdname_region *fr,
    const struct region_mem *mem)
{
	struct region *g;

	g = registry_add_region(&b->reg, fr->name, fr->size_pages, mem,
	    fr->origin, broker_now_ms());
	if (g == NULL)
		return NULL;
	g->owner_uid = fr->owner;
	g->mode = fr->mode;
	g->has_group = fr->has_group;
	g->group = fr->group;
	g->awaiting_reclaim = g->origin == ORIGIN_GUEST;
	g->stored = true;
	region_charge(b, g, fr->tenant[0] != '\0' ?
	    policy_usage(b, fr->tenant) : NULL);
	b->local_fds++;
	return g;
}

int
region_client_room(struct broker *b, const struct tenant *t,
    const char **why)
{
	if (b->reg.clients_by_id.count >= b->cfg.max_clients) {
		b->stats.refused[LIMIT_MAX_CLIENTS]++;
		*why = "the daemon holds max_clients clients already "
		    "(an admin can raise it in [broker])";
		return -ENOSPC;
	}
	return policy_quota(b, t, 0, 1, 0, 0, why);
}

/*
 * The state page (made at the region's first attach) and the eventfd of a
 * new client. Its pending word starts empty, unless the client re-claims
 * (want) the index whose word a restart kept for it. Only the words of
 * indices given out before can hold bits: notifications are posted to
 * attached indices alone, so an index new to the page needs no clearing
 * (a pwrite, 0.75 per attach of a boot storm). A member's VMM could write
 * there through its mapping, but it can as well once the index is taken:
 * it only ever forges what a member may send.
 */
static int
region_open_signals(struct broker *b, struct client *cl, int want)
{
	struct region *g = cl->region;
	uint16_t bit = (uint16_t)(1u << cl->index);
	bool fresh = g->state.fd < 0, kept;
	int err;

	if (fresh) {
		if ((err = stock_take_page(b, &g->state)) < 0)
			return err;
		g->reclaim_pending = 0;
		g->state_used = 0;
		fdstore_put_state(b, g);
	}
	if (cl->ops != NULL && cl->ops->eventfd != NULL) {
		if ((cl->efd = cl->ops->eventfd(b, cl)) < 0)
			return cl->efd;
	} else if ((cl->efd = stock_take_eventfd(b)) < 0) {
		return cl->efd;
	}
	kept = want == cl->index && (g->reclaim_pending & bit);
	/* A word kept for another client stays kept if it cannot be
	 * cleared. */
	if ((g->state_used & bit) && !kept &&
	    (err = statepage_clear(&g->state, cl->index)) < 0)
		return err;
	g->reclaim_pending &= (uint16_t)~bit;
	g->state_used |= bit;
	return 0;
}

/* Why an attach failed on the host's side, for the guest's VMM. */
static const char *
region_attach_failure(struct broker *b, const struct region *g, int fd,
    int err)
{
	if (fd < 0) {
		log_err(&b->log, "cannot take the memfd of region %s back from "
		    "its keeper process: %s", g->name, strerror(-fd));
		return "the daemon cannot reach the region's memory (see its "
		    "log)";
	}
	log_warn(&b->log, "region %s: no state page or eventfd for a new "
	    "client: %s", g->name, strerror(-err));
	return err == -EMFILE || err == -ENFILE ? "the daemon is out of file "
	    "descriptors (raise LimitNOFILE)" : "out of memory";
}

struct member_ident
region_client_owner(const struct client *cl)
{
	const struct conn *c = cl->owner;

	if (cl->ops != NULL)
		return cl->ops->ident(cl);
	return (struct member_ident){ .conn_id = c->id, .cred = c->cred,
	    .label = c->label };
}

/* A new client given an index kept for a client not back since the
 * restart (members.c): no other was free. That client, when it comes
 * back, gets another index, and its guest sees it change. */
static void
region_note_kept(struct broker *b, const struct region *g, uint16_t kept,
    const struct client *cl, int want)
{
	if (!(kept >> cl->index & 1) || want == cl->index)
		return;
	b->stats.kept_indices_given++;
	log_notice(&b->log, "region %s: index %u, kept since the restart for "
	    "a client not back yet, given to a new one: no other was free",
	    g->name, (unsigned)cl->index);
}

/* The index j asks for back, or -1: one kept since a restart only for a
 * peer of the uid that held it (members.c). A refusal is logged: a
 * holder whose VMM changed uids across the restart loses its index too. */
static int
region_wanted(struct broker *b, const struct region *g,
    const struct region_join *j)
{
	uint64_t unsaid;

	if (members_may_take(b, g, j->want, j->uid))
		return j->want;
	/* Any member may ask, as often as it likes: not a line each time. */
	if (log_limit_pass(&b->want_refused_said, broker_mono_ns() / 1000000,
	    LOG_REPEAT_MS, &unsaid))
		log_notice(&b->log, "region %s: index %d is kept for a client "
		    "of another uid that is not back yet; connection %llu "
		    "(uid %u) asked for it and is given another (%llu more "
		    "such since the last line, said at most every %d s)",
		    g->name, j->want, (unsigned long long)j->conn_id,
		    (unsigned)j->uid, (unsigned long long)unsaid,
		    LOG_REPEAT_MS / 1000);
	return -1;
}

enum guest_shm_status
region_attach(struct broker *b, struct region *g, const struct region_join *j,
    struct client **out, int *fd, bool *borrowed, const char **why)
{
	enum guest_shm_status st = GSS_NOMEM;
	struct tenant *t = j->tenant;
	uint16_t kept = g->reserved;
	int want = region_wanted(b, g, j);
	/* The doorbells kept in an index's word go with it only to whom it
	 * was kept for: not to anyone who asks for an index no table of
	 * members kept (one of an older daemon, or none at all). */
	int keep = want >= 0 && (kept >> want & 1) ? want : -1;
	int err = -ENOMEM;

	*out = NULL;
	*fd = -1;
	*borrowed = false;
	if (g->nclients >= REGION_MAX_CLIENTS) {
		*why = "the region has 16 clients";
		st = GSS_CLIENT_MAX;
	} else if ((*fd = region_memfd(b, g, borrowed)) >= 0 &&
	    registry_attach_at(&b->reg, g, j->owner, j->list, want, out) ==
	    GSS_OK) {
		(*out)->ops = j->ops;
		if (t != NULL) {
			(*out)->usage = t->usage;
			t->usage->clients++;
		}
		if ((err = region_open_signals(b, *out, keep)) == 0) {
			region_note_kept(b, g, kept, *out, want);
			members_set(b, g);
			/* The members first: by the time the new client hears
			 * it is in, each member has the join (and the eventfd
			 * to notify it by) in its socket. */
			region_peer_changed(b, g, (*out)->index, true);
			watch_event(b, "attach", g, (*out)->index, j->conn_id);
			return GSS_OK;
		}
		/* An index kept for a client that is not back stays kept. */
		g->reserved |= (uint16_t)(kept & 1u << (*out)->index);
		region_unlink_client(b, *out);
		*out = NULL;
	}
	if (st == GSS_NOMEM)
		*why = region_attach_failure(b, g, *fd, err);
	if (*borrowed && *fd >= 0)
		close(*fd);
	*fd = -1;
	/* A failed create leaves no region behind. */
	if (j->created)
		region_remove(b, g, 0);
	return st;
}

bool
region_unlink_client(struct broker *b, struct client *cl)
{
	struct region *g = cl->region;
	bool empty;

	if (cl->usage != NULL)
		cl->usage->clients--;
	empty = registry_detach(&b->reg, cl);
	members_set(b, g);
	/* Words a restart kept wait for their clients until the grace
	 * period ends (restore.c), even with nobody attached meanwhile. */
	if (g->nclients == 0 && g->reclaim_pending == 0)
		region_free_state(b, g);
	return empty;
}

void
region_detach_client(struct broker *b, struct client *cl)
{
	struct region *g = cl->region;
	uint64_t conn_id = region_client_owner(cl).conn_id;
	int index = cl->index;

	b->stats.detaches++;
	/* A guest region that a restart brought back stays for the whole
	 * grace period (restore.c), even when a client that came back has
	 * left it again: the other clients it had may not be back yet. */
	if (region_unlink_client(b, cl) && !g->awaiting_reclaim) {
		watch_event(b, "detach", g, index, conn_id);
		log_info(&b->log, "region %s removed with its last client",
		    g->name);
		region_remove(b, g, 0);
		return;
	}
	region_peer_changed(b, g, index, false);
	watch_event(b, "detach", g, index, conn_id);
}

/* Tells a client's VMM that an admin revoked it: with its region
 * (destroy --force), or alone (AdminDetach), while the region lives on.
 * A member that does not speak the RPC hears it through its ops. */
static void
region_send_revoked(struct broker *b, struct client *cl, bool alone)
{
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__ClientRevoked ev = SHMBROKER__CLIENT_REVOKED__INIT;

	if (cl->ops != NULL) {
		cl->ops->revoked(b, cl);
		return;
	}
	m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_CLIENT_REVOKED;
	m.client_revoked = &ev;
	ev.client_id = cl->id;
	ev.force_detached = alone;
	conn_send(cl->owner, &m, NULL, 0);
}

void
region_revoke_client(struct broker *b, struct client *cl,
    const struct conn *by)
{
	struct member_ident who = region_client_owner(cl);

	/* The client's VMM hears first and unmaps the region; then the
	 * detach tells the peers, as the VMM's own detach would. */
	region_send_revoked(b, cl, true);
	log_notice(&b->log, "client %llu (region %s, index %u, connection "
	    "%llu, pid %d, uid %u) detached by an admin (connection %llu, pid "
	    "%d, uid %u)", (unsigned long long)cl->id, cl->region->name,
	    (unsigned)cl->index, (unsigned long long)who.conn_id,
	    (int)who.cred.pid, (unsigned)who.cred.uid,
	    (unsigned long long)by->id, (int)by->cred.pid,
	    (unsigned)by->cred.uid);
	watch_event(b, "revoke", cl->region, cl->index, by->id);
	region_detach_client(b, cl);
}

unsigned
region_destroy(struct broker *b, struct region *g, uint64_t conn_id)
{
	unsigned revoked = 0;

	for (int i = 0; i < REGION_MAX_CLIENTS; i++)
		if (g->clients[i] != NULL)
			region_send_revoked(b, g->clients[i], false);
	/* Every client is revoked: each one's eventfd is closed with it, and
	 * there is no peer left to tell (libshmclient drops its peers'
	 * eventfds at ClientRevoked). */
	for (int i = 0; i < REGION_MAX_CLIENTS; i++) {
		if (g->clients[i] == NULL)
			continue;
		region_unlink_client(b, g->clients[i]);
		revoked++;
	}
	log_info(&b->log, "region %s destroyed by an admin (%u clients "
	    "revoked)", g->name, revoked);
	region_remove(b, g, conn_id);
	return revoked;
}

/* At start and at every reload; in batches (max), so that a reload of a
 * large file can yield to the event loop between them. One that cannot
 * be made is logged and counted in *failed (the first's reason in err),
 * and the next ones are made all the same. */
int
region_create_configured(struct broker *b, size_t *next, size_t max,
    unsigned *failed, char *err, size_t errlen)
{
	for (; *next < b->cfg.nregions && max > 0; (*next)++, max--) {
		const struct config_region *cr = &b->cfg.regions[*next];
		struct region_acl acl = { .mode = cr->mode,
		    .has_group = cr->has_group, .group = cr->group,
		    .hugepages = cr->hugepages };
		struct region *g;
		const char *why = NULL;

		if ((g = registry_find(&b->reg, cr->name)) != NULL) {
			/* A VMM's region took the name while it was free:
			 * it is not the configured one, whose mode, group
			 * and export are not its to have. */
			if (g->origin == ORIGIN_GUEST)
				log_warn(&b->log, "region %s of the "
				    "configuration is a guest region (owner "
				    "uid %u): its settings and export wait "
				    "until it is gone and the file is "
				    "reloaded", cr->name,
				    (unsigned)g->owner_uid);
			continue;
		}
		if (region_create(b, cr->name, cr->size_pages,
		    ORIGIN_CONFIG, &acl, &g, &why) != GSS_OK) {
			char line[BROKER_MESSAGE_MAX];

			snprintf(line, sizeof(line), "%s:%d: [region %s]: "
			    "cannot be made: %s", b->cfg.config_file, cr->line,
			    cr->name, why);
			log_err(&b->log, "%s", line);
			if ((*failed)++ == 0)
				snprintf(err, errlen, "%s", line);
		}
	}
	return *next < b->cfg.nregions;
}
