/* SPDX-License-Identifier: ISC */
/*
 * ivshmem: regions served to stock QEMU processes on UNIX sockets that
 * speak QEMU's ivshmem server protocol (the ivshmem-doorbell device's
 * chardev). An export is one socket for one region; each QEMU that
 * connects is decided by its own peer credentials, exactly as a VMM's
 * attach of that region would be (tenant, prefix, rules, mode, quotas),
 * and then becomes one client of the region (ivshmem_peer.c). Exports are
 * made by admins (admin.c) and by the configuration file, and end with
 * their region.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ivshmem_int.h"
#include "sockpath.h"

#define IVSH_ANY_UID ((uid_t)-1)

/* What ivshmem_counts_look saw. */
struct ivsh_counts_seen {
	bool let_go;		/* a count was let go: its QEMU read it */
	bool unread;		/* some QEMU still holds fds unread */
};

static void
ivshmem_count_look(struct ivshmem *ivs, struct ivsh_peer *p, uid_t uid,
    struct ivsh_counts_seen *seen)
{
	if (p->inflight.fds == 0 || (uid != IVSH_ANY_UID && p->cred.uid != uid))
		return;
	inflight_count_refresh(ivs->b, &p->inflight, p->fd);
	if (p->inflight.fds == 0)
		seen->let_go = true;
	else
		seen->unread = true;
}

/* Lets go of the counts of uid's QEMUs (IVSH_ANY_UID: every QEMU's) that
 * read what they were sent, a SIOCOUTQ each that holds some. */
static struct ivsh_counts_seen
ivshmem_counts_look(struct ivshmem *ivs, uid_t uid)
{
	struct ivsh_counts_seen seen = { false, false };
	struct ivsh_export *e;
	struct ivsh_peer *p;

	LIST_FOREACH(e, &ivs->exports, entry)
		LIST_FOREACH(p, &e->peers, entry)
			ivshmem_count_look(ivs, p, uid, &seen);
	LIST_FOREACH(p, &ivs->orphans, entry)
		ivshmem_count_look(ivs, p, uid, &seen);
	return seen;
}

/*
 * A QEMU's fds count in the books VMM connections send by too: a QEMU
 * reads at once, so its count is let go IVSH_COUNTS_MS after it was sent
 * them, and looked at again every IVSH_COUNTS_AGAIN_MS while some QEMU
 * has not read (a QEMU that never reads keeps its count, as it should).
 */
#define IVSH_COUNTS_MS 20
#define IVSH_COUNTS_AGAIN_MS 200

static void
ivshmem_counts_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ivshmem *ivs = arg;
	struct timeval tv = { 0, IVSH_COUNTS_AGAIN_MS * 1000 };

	(void)fd;
	(void)what;
	if (ivshmem_counts_look(ivs, IVSH_ANY_UID).unread)
		evtimer_add(ivs->ev_counts, &tv);
}

void
ivshmem_counts_arm(struct ivshmem *ivs)
{
	struct timeval tv = { 0, IVSH_COUNTS_MS * 1000 };

	if (!evtimer_pending(ivs->ev_counts, NULL))
		evtimer_add(ivs->ev_counts, &tv);
}

int
ivshmem_init(struct broker *b)
{
	if ((b->ivshmem = calloc(1, sizeof(*b->ivshmem))) == NULL)
		return -ENOMEM;
	b->ivshmem->b = b;
	LIST_INIT(&b->ivshmem->exports);
	LIST_INIT(&b->ivshmem->orphans);
	LIST_INIT(&b->ivshmem->slots);
	LIST_INIT(&b->ivshmem->pending);
	if ((b->ivshmem->ev_counts = evtimer_new(b->base, ivshmem_counts_cb,
	    b->ivshmem)) == NULL)
		return -ENOMEM;
	return 0;
}

/*
 * A QEMU let go before it gets the memory: logged and counted, and told by
 * the only means the protocol has, a version it cannot take (-err), so
 * that it ends with "server sent version -13, expecting 0" (-EACCES:
 * tenancy; -ENOSPC: the region or a quota is full). A connection closed
 * during its set-up would make QEMU (7.2) spin on the end of the stream.
 */
static void
ivshmem_refuse(struct ivsh_export *e, int fd, const struct ucred *cred,
    int err, const char *why)
{
	struct broker *b = e->ivs->b;
	uint8_t msg[8];
	uint64_t unsaid;

	/* Anybody may knock (the socket is 0666): not a line each time. */
	if (log_limit_pass(&b->refused_said, broker_mono_ns() / 1000000,
	    LOG_REPEAT_MS, &unsaid))
		log_notice(&b->log, "ivshmem %s: refused QEMU pid %d (uid %u, "
		    "gid %u) for region %s: %s (%llu more refusals since the "
		    "last such line, said at most every %d s)", e->path,
		    (int)cred->pid, (unsigned)cred->uid, (unsigned)cred->gid,
		    e->region->name, why, (unsigned long long)unsaid,
		    LOG_REPEAT_MS / 1000);
	b->stats.ivshmem_refused++;
	if (fd < 0)
		return;
	ivshmem_encode(err, msg);
	if (send(fd, msg, sizeof(msg), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug(&b->log, "ivshmem %s: cannot tell QEMU pid %d: %s",
		    e->path, (int)cred->pid, strerror(errno));
	reaper_close(b->reaper, fd);
}

/*
 * When the books say there is no room, the joining uid's QEMUs are looked
 * at now: a QEMU reads at once, and its uid's next must not be refused
 * for what the counts timer has not let go yet. Drains and VMM
 * connections only within the sweep's bound (inflight_room), and other
 * uids' QEMUs at the timer, so that a refusal costs about what any
 * refusal does, however many drains the daemon keeps.
 */
static bool
ivshmem_fd_room(struct ivshmem *ivs, uid_t uid, struct tenant_usage *pool,
    size_t nfds)
{
	if (inflight_room(ivs->b, uid, pool, nfds))
		return true;
	return ivshmem_counts_look(ivs, uid).let_go &&
	    inflight_room(ivs->b, uid, pool, nfds);
}

/*
 * Room for one more connection: a QEMU counts among the daemon's and its
 * tenant's connections as a VMM connection does, so that its drain,
 * should it go with fds unread, keeps the place it held and no tenant's
 * QEMUs take every connection from the others (and the admin socket).
 * False with the reason in why, counted by the limit.
 */
static bool
ivshmem_connection_room(struct broker *b, const struct tenant *t, char *why,
    size_t len)
{
	uint32_t n = t->usage->connections;

	if (conn_count(b) >= b->cfg.max_connections) {
		b->stats.refused[LIMIT_MAX_CONNECTIONS]++;
		snprintf(why, len, "the daemon serves %u connections (VMMs', "
		    "admins', QEMUs', and closed ones kept for fds their peers "
		    "have not read), its max_connections (raise "
		    "max_connections in [broker])", conn_count(b));
		return false;
	}
	if (!tenant_connection_room(t)) {
		b->stats.refused[LIMIT_TENANT_CONNECTIONS]++;
		snprintf(why, len, "tenant %s holds %u connection%s (VMMs' and "
		    "QEMUs', closed ones kept for fds their peers have not "
		    "read included), its max_connections is %u (raise "
		    "max_connections in [tenant %s])", t->name, n,
		    n == 1 ? "" : "s", t->max_connections, t->name);
		return false;
	}
	return true;
}

/* A QEMU connected: the same decision as an attach of the region by a VMM
 * of its tenant, then a client of the region. fd is taken. */
static void
ivshmem_admit(struct ivsh_export *e, int fd, const struct ucred *cred)
{
	struct broker *b = e->ivs->b;
	struct region *g = e->region;
	struct region_join join;
	struct ivsh_slots *slots;
	struct ivsh_peer *p;
	struct client *cl;
	struct tenant *t;
	const char *why = NULL;
	char room[256];
	enum guest_shm_status st;
	bool borrowed;
	int mfd, fd2 = -1, err = -EACCES;

	if ((t = policy_tenant_for(b, cred)) == NULL)
		why = "no tenant matches its uid and gid, and no "
		    "default_tenant is configured";
	else if (policy_may_join(b, t, cred, g, &why) == GSS_OK)
		err = region_client_room(b, t, &why) < 0 ? -ENOSPC : 0;
	if (err == 0 && !ivshmem_connection_room(b, t, room, sizeof(room))) {
		err = -ENOSPC;
		why = room;
	}
	/* What a join may be sent (the memfd, each index's vectors): within
	 * what its uid and its tenant may hold unread. */
	if (err == 0 && !ivshmem_fd_room(e->ivs, cred->uid, t->usage, 1 +
	    e->vectors * REGION_MAX_CLIENTS)) {
		err = -ENOSPC;
		why = "fds the daemon sent to peers of its uid and they did "
		    "not read yet fill their share (1/8 of its descriptor "
		    "limit), or 64 sockets are kept for such peers gone, or "
		    "its tenant's share of the fds the daemon may have in "
		    "flight is used: they go as those peers read or close";
	}
	if (err != 0) {
		ivshmem_refuse(e, fd, cred, err, why);
		return;
	}
	if ((slots = ivsh_slots_get(e->ivs, g)) == NULL || (fd2 = dup(fd)) < 0 ||
	    (p = ivsh_peer_new(e, fd, cred, slots, t->usage)) == NULL) {
		ivshmem_refuse(e, fd2 >= 0 ? fd2 : fd, cred, -ENOMEM, "out of "
		    "memory or fds");
		return;
	}
	join = (struct region_join){ .owner = p, .list = &p->clients,
	    .ops = &ivsh_member_ops, .conn_id = p->id, .want = -1,
	    .uid = p->cred.uid, .tenant = t };
	st = region_attach(b, g, &join, &cl, &mfd, &borrowed, &why);
	b->stats.status_counts[st]++;
	if (st != GSS_OK) {
		ivsh_peer_free(p);
		ivshmem_refuse(e, fd2, cred, st == GSS_CLIENT_MAX ? -ENOSPC :
		    -ENOMEM, why);
		return;
	}
	close(fd2);
	p->cl = cl;
	b->stats.attaches++;
	b->stats.ivshmem_joins++;
	log_info(&b->log, "ivshmem %s: QEMU pid %d (uid %u) joined region %s "
	    "as index %u", e->path, (int)cred->pid, (unsigned)cred->uid,
	    g->name, cl->index);
	ivsh_peer_welcome(p, mfd);
	if (borrowed)
		close(mfd);
}

void
ivshmem_accepting(struct broker *b, bool on)
{
	struct ivsh_export *e;

	if (b->ivshmem == NULL)
		return;
	LIST_FOREACH(e, &b->ivshmem->exports, entry)
		if (e->ev != NULL)
			(void)(on ? event_add(e->ev, NULL) : event_del(e->ev));
}

static void
ivshmem_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct ivsh_export *e = arg;
	struct ucred cred;
	socklen_t len;
	int fd;

	(void)what;
	/* A few at a time: a flood of connections shares the loop. */
	for (int k = 0; k < 16; k++) {
		if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK |
		    SOCK_CLOEXEC)) < 0) {
			if (errno == EMFILE || errno == ENFILE)
				conn_pause_accept(e->ivs->b);
			else if (errno != EAGAIN && errno != EINTR)
				log_warn(&e->ivs->b->log, "ivshmem %s: accept: "
				    "%s", e->path, strerror(errno));
			return;
		}
		len = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
			reaper_close(e->ivs->b->reaper, fd);
			continue;
		}
		/* ivshmem_admit frees e when the region goes with a
		 * failed join; it cannot: the region has a client or is
		 * not the guest's to lose (a failed find removes none). */
		ivshmem_admit(e, fd, &cred);
	}
}

/* The checks every export passes, whatever its socket: 0 or -errno. */
static int
ivshmem_check_export(struct broker *b, struct region *g, const char *path,
    unsigned vectors, char *err, size_t errlen)
{
	struct ivsh_export *e;
	const char *why;

	if (ivshmem_check_path(path, &why) < 0 ||
	    ivshmem_check_vectors(vectors, &why) < 0 ||
	    ivshmem_check_size(g->mem.bytes, &why) < 0) {
		snprintf(err, errlen, "cannot export region %s (%llu bytes) "
		    "on %s: %s", g->name, (unsigned long long)g->mem.bytes,
		    path, why);
		return -EINVAL;
	}
	if (ivshmem_export_count(b, g) >= IVSHMEM_MAX_EXPORTS) {
		snprintf(err, errlen, "cannot export region %s on %s: it has "
		    "%d exports already (unexport one)", g->name, path,
		    IVSHMEM_MAX_EXPORTS);
		return -ENOSPC;
	}
	LIST_FOREACH(e, &b->ivshmem->exports, entry) {
		if (strcmp(e->path, path) == 0) {
			snprintf(err, errlen, "%s already serves region %s",
			    path, e->region->name);
			return -EEXIST;
		}
	}
	return 0;
}

/* Serves g on the listening socket fd (taken); NULL without memory. */
static struct ivsh_export *
ivshmem_serve(struct broker *b, struct region *g, const char *path,
    unsigned vectors, bool configured, int fd)
{
	struct ivsh_export *e;

	/* The protocol has QEMU send nothing at all. */
	(void)reaper_refuse_fds(fd);
	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (e->ev = event_new(b->base, fd, EV_READ | EV_PERSIST,
	    ivshmem_accept_cb, e)) == NULL || event_add(e->ev, NULL) < 0) {
		if (e != NULL && e->ev != NULL)
			event_free(e->ev);
		free(e);
		reaper_close(b->reaper, fd);
		return NULL;
	}
	e->ivs = b->ivshmem;
	e->region = g;
	snprintf(e->path, sizeof(e->path), "%s", path);
	e->vectors = vectors;
	e->configured = configured;
	e->fd = fd;
	LIST_INIT(&e->peers);
	LIST_INSERT_HEAD(&b->ivshmem->exports, e, entry);
	return e;
}

int
ivshmem_export(struct broker *b, struct region *g, const char *path,
    unsigned vectors, bool configured, char *err, size_t errlen)
{
	/* Set by systemd for a unit with RuntimeDirectory= (the shipped
	 * one: /run/shmbroker/ivshmem), the one place it can make sockets
	 * that QEMUs reach. */
	const char *rundirs = getenv("RUNTIME_DIRECTORY");
	struct ivsh_export *e;
	const char *why;
	int fd, rc;

	if ((rc = ivshmem_check_export(b, g, path, vectors, err, errlen)) < 0)
		return rc;
	if (ivshmem_check_dir(path, rundirs, &why) < 0) {
		snprintf(err, errlen, "cannot export region %s on %s: under "
		    "systemd, exports go in %s (RuntimeDirectory=): %s",
		    g->name, path, rundirs, why);
		return -EINVAL;
	}
	/* Any local user may connect: who may join is decided per
	 * connection. */
	if ((fd = sockpath_listen(path, SOCK_STREAM, 0666, 64, err,
	    errlen)) < 0)
		return fd;
	if ((e = ivshmem_serve(b, g, path, vectors, configured, fd)) == NULL) {
		unlink(path);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	e->stored = fdstore_put_export(b, g->name, path, vectors, fd);
	log_info(&b->log, "region %s exported to QEMU on %s (%u vectors)",
	    g->name, path, vectors);
	return 0;
}

/* Stops listening and frees e; its QEMUs are orphaned, told every peer
 * left and let go when tell, else left to close on their own. */
static void
ivshmem_export_close(struct ivsh_export *e, bool tell)
{
	struct ivshmem *ivs = e->ivs;
	struct ivsh_peer *p;

	LIST_REMOVE(e, entry);
	event_free(e->ev);
	reaper_close(ivs->b->reaper, e->fd);
	/* Stopping with the socket in the fd store: the next daemon serves
	 * it, and QEMUs that connect meanwhile wait in its backlog. */
	if (e->stored && ivs->b->stopping)
		goto keep;
	if (e->stored)
		fdstore_drop_export(ivs->b, e->region->name, e->path,
		    e->vectors);
	unlink(e->path);
keep:
	while ((p = LIST_FIRST(&e->peers)) != NULL) {
		LIST_REMOVE(p, entry);
		p->exp = NULL;
		LIST_INSERT_HEAD(&ivs->orphans, p, entry);
		if (tell)
			ivsh_peer_leave(p);
	}
	free(e);
}

void
ivshmem_store_exports(struct broker *b)
{
	struct ivsh_export *e;

	LIST_FOREACH(e, &b->ivshmem->exports, entry)
		if (!e->stored)
			e->stored = fdstore_put_export(b, e->region->name,
			    e->path, e->vectors, e->fd);
}

static struct ivsh_export *
ivshmem_find(struct ivshmem *ivs, uint64_t region_id, const char *path)
{
	struct ivsh_export *e;

	LIST_FOREACH(e, &ivs->exports, entry)
		if (e->region->id == region_id &&
		    (path == NULL || strcmp(e->path, path) == 0))
			return e;
	return NULL;
}

unsigned
ivshmem_unexport(struct broker *b, const struct region *g, const char *path)
{
	uint64_t id = g->id;
	struct ivsh_export *e;
	unsigned n = 0;

	/* From the top each time: a QEMU let go may take a guest's region,
	 * and its other exports, with it. */
	while ((e = ivshmem_find(b->ivshmem, id, path)) != NULL) {
		log_info(&b->log, "region %s: export on %s closed", g->name,
		    e->path);
		ivshmem_export_close(e, true);
		n++;
	}
	return n;
}

size_t
ivshmem_export_count(struct broker *b, const struct region *g)
{
	struct ivsh_export *e;
	size_t n = 0;

	LIST_FOREACH(e, &b->ivshmem->exports, entry)
		n += e->region == g;
	return n;
}

size_t
ivshmem_exports(struct broker *b, const struct region *g,
    struct ivshmem_export_info *out, size_t max)
{
	struct ivsh_export *e;
	struct ivsh_peer *p;
	size_t n = 0;

	LIST_FOREACH(e, &b->ivshmem->exports, entry) {
		if (e->region != g || n == max)
			continue;
		out[n] = (struct ivshmem_export_info){ .path = e->path,
		    .vectors = e->vectors, .configured = e->configured };
		LIST_FOREACH(p, &e->peers, entry)
			out[n].peers += p->cl != NULL;
		n++;
	}
	return n;
}

int
ivshmem_export_configured(struct broker *b, char *err, size_t errlen)
{
	struct ivsh_export *e;
	int rc = 0;

	for (size_t i = 0; i < b->cfg.nregions; i++) {
		const struct config_region *cr = &b->cfg.regions[i];
		struct region *g;
		char why[BROKER_MESSAGE_MAX], line[2 * BROKER_MESSAGE_MAX];
		bool served = false;

		/* Never a guest region that took a configured name (region.c
		 * says so): its VMM's rules are not the file's. */
		if (cr->ivshmem == NULL ||
		    (g = registry_find(&b->reg, cr->name)) == NULL ||
		    g->origin == ORIGIN_GUEST)
			continue;
		/* One kept over a restart is the configured one again. */
		LIST_FOREACH(e, &b->ivshmem->exports, entry) {
			if (strcmp(e->path, cr->ivshmem) != 0)
				continue;
			served = true;
			e->configured |= e->region == g;
		}
		if (served)
			continue;
		if (ivshmem_export(b, g, cr->ivshmem, cr->ivshmem_vectors,
		    true, why, sizeof(why)) < 0) {
			/* why names the path; each is said, the first is
			 * the answer, and the next ones are tried. */
			snprintf(line, sizeof(line), "%s:%d: [region %s]: %s",
			    b->cfg.config_file, cr->ivshmem_line, cr->name,
			    why);
			log_err(&b->log, "%s", line);
			if (rc == 0)
				snprintf(err, errlen, "%s", line);
			rc = -EINVAL;
		}
	}
	return rc;
}

/* A region is freed: its exports go (its clients, QEMUs among them, are
 * gone already). */
static void
ivshmem_region_removed(struct broker *b, struct region *g)
{
	struct ivsh_export *e;

	if (b->ivshmem == NULL)
		return;		/* stopping: everything goes */
	while ((e = ivshmem_find(b->ivshmem, g->id, NULL)) != NULL) {
		log_info(&b->log, "region %s: export on %s closed with it",
		    g->name, e->path);
		ivshmem_export_close(e, false);
	}
	ivsh_slots_free(b->ivshmem, g);
}

/* A member that is not a QEMU took an index, or anyone left one: the
 * index's slots, if it has any, are the daemon's to watch. */
static void
ivshmem_region_changed(struct broker *b, struct region *g, int index,
    bool attached)
{
	struct ivsh_slots *s;

	if (b->ivshmem == NULL ||
	    (attached && ivsh_is_qemu(g->clients[index])))
		return;
	LIST_FOREACH(s, &b->ivshmem->slots, entry)
		if (s->region == g)
			ivsh_slots_release(s, (unsigned)index);
}

const struct region_upcalls ivshmem_region_upcalls = {
	.removed = ivshmem_region_removed,
	.changed = ivshmem_region_changed,
};

/* A start that failed before the exports came back: their sockets stay
 * in the store for the next one. */
static void
ivshmem_restore_finish_none(struct ivshmem *ivs)
{
	struct ivsh_pending *pe;

	while ((pe = LIST_FIRST(&ivs->pending)) != NULL) {
		LIST_REMOVE(pe, entry);
		close(pe->fd);
		free(pe);
	}
}

void
ivshmem_close(struct broker *b)
{
	struct ivshmem *ivs = b->ivshmem;
	struct ivsh_export *e;
	struct ivsh_peer *p;

	if (ivs == NULL)
		return;
	while ((e = LIST_FIRST(&ivs->exports)) != NULL)
		ivshmem_export_close(e, false);
	while ((p = LIST_FIRST(&ivs->orphans)) != NULL)
		ivsh_peer_free(p);
	while (!LIST_EMPTY(&ivs->slots))
		ivsh_slots_free(ivs, LIST_FIRST(&ivs->slots)->region);
	ivshmem_restore_finish_none(ivs);
	if (ivs->ev_counts != NULL)
		event_free(ivs->ev_counts);
	free(ivs);
	b->ivshmem = NULL;
}

void
ivshmem_restore_take(struct broker *b, int fd, const char *fdname)
{
	struct ivsh_pending *pe = calloc(1, sizeof(*pe));

	if (pe == NULL || fdname_parse_export(fdname, &pe->fe) < 0) {
		log_warn(&b->log, "fd store: dropping %s: not an export this "
		    "daemon can restore", fdname);
		fdstore_drop(fdname);
		reaper_close(b->reaper, fd);
		free(pe);
		return;
	}
	pe->fd = fd;
	snprintf(pe->fdname, sizeof(pe->fdname), "%s", fdname);
	LIST_INSERT_HEAD(&b->ivshmem->pending, pe, entry);
	/* In the store until restored or dropped: the configured regions
	 * made before then count it. */
	fdstore_count_export(b, true);
}

/* A listening UNIX stream socket whose file is still at its path. */
static bool
ivshmem_still_listening(int fd, const char *path)
{
	int v, type;
	socklen_t len = sizeof(v), tlen = sizeof(type);
	struct stat st;

	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 &&
	    v == 1 && getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 &&
	    type == SOCK_STREAM && lstat(path, &st) == 0 &&
	    S_ISSOCK(st.st_mode);
}

/* pe's entry out of the store, and out of its count. */
static void
ivshmem_restore_drop(struct broker *b, const struct ivsh_pending *pe)
{
	fdstore_drop(pe->fdname);
	fdstore_count_export(b, false);
}

/* One export back from the store: on its own socket while that still
 * answers at its path, else on a new one. False when its entry was
 * removed from the store. */
static bool
ivshmem_restore_one(struct broker *b, struct ivsh_pending *pe)
{
	struct region *g = registry_find(&b->reg, pe->fe.name);
	struct ivsh_export *e;
	char err[BROKER_MESSAGE_MAX];

	if (g == NULL)
		log_info(&b->log, "fd store: dropping the export on %s: region "
		    "%s is gone", pe->fe.path, pe->fe.name);
	/* A second entry of one export: the first is served. */
	if (g != NULL && ivshmem_find(b->ivshmem, g->id, pe->fe.path) != NULL) {
		log_warn(&b->log, "fd store: dropping %s: the export is served "
		    "already", pe->fdname);
		ivshmem_restore_drop(b, pe);
		reaper_close(b->reaper, pe->fd);
		return false;
	}
	if (g == NULL || !ivshmem_still_listening(pe->fd, pe->fe.path) ||
	    ivshmem_check_export(b, g, pe->fe.path, pe->fe.vectors, err,
	    sizeof(err)) < 0) {
		ivshmem_restore_drop(b, pe);
		reaper_close(b->reaper, pe->fd);
		if (g != NULL && ivshmem_export(b, g, pe->fe.path,
		    pe->fe.vectors, false, err, sizeof(err)) < 0)
			log_warn(&b->log, "fd store: the export of region %s "
			    "on %s is lost: %s", g->name, pe->fe.path, err);
		return false;
	}
	if ((e = ivshmem_serve(b, g, pe->fe.path, pe->fe.vectors, false,
	    pe->fd)) == NULL) {
		ivshmem_restore_drop(b, pe);
		return false;
	}
	e->stored = true;
	log_info(&b->log, "region %s: export on %s restored from the fd store",
	    g->name, pe->fe.path);
	return true;
}

/* systemd removes every entry of a name at once: a served export whose
 * name an entry removed after it (or before it) had, goes back. */
static void
ivshmem_put_back(struct broker *b, const char *dropped)
{
	char name[FDNAME_MAX];
	struct ivsh_export *e;

	LIST_FOREACH(e, &b->ivshmem->exports, entry)
		if (e->stored && fdname_export(e->region->name, e->path,
		    e->vectors, name) == 0 && strcmp(name, dropped) == 0 &&
		    !fdstore_put_fd(b, name, e->fd))
			e->stored = false;
}

void
ivshmem_restore_finish(struct broker *b)
{
	struct ivsh_pending *pe, *q;
	LIST_HEAD(, ivsh_pending) dropped = LIST_HEAD_INITIALIZER(dropped);

	while ((pe = LIST_FIRST(&b->ivshmem->pending)) != NULL) {
		LIST_REMOVE(pe, entry);
		if (ivshmem_restore_one(b, pe))
			free(pe);
		else
			LIST_INSERT_HEAD(&dropped, pe, entry);
	}
	/* Once per name, at the name's first entry (they are few). */
	LIST_FOREACH(pe, &dropped, entry) {
		for (q = LIST_FIRST(&dropped); q != pe &&
		    strcmp(q->fdname, pe->fdname) != 0; q = LIST_NEXT(q, entry))
			;
		if (q == pe)
			ivshmem_put_back(b, pe->fdname);
	}
	while ((pe = LIST_FIRST(&dropped)) != NULL) {
		LIST_REMOVE(pe, entry);
		free(pe);
	}
}
