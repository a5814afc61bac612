/*
 * vmm: the VMM service. Create-or-attach and find, notify, control status
 * reads and detach, and the events they cause: every other client of a
 * region hears of an attach (with the new peer's eventfd) or a detach.
 * Notifications do not pass through here on their way: every member holds
 * the region's state page and its peers' eventfds from its attach reply
 * and the peer events, and sets the bits and signals the eventfds itself.
 * The Notify and ReadStatus requests do the same on the daemon's mapping,
 * for tools and clients without one. Results of create and find are guest
 * ABI status codes.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "broker.h"

#define DAEMON_NAME "shmbrokerd " SHMBROKER_VERSION

/* Labels are free text that admin tools show (and escape): a cut to fit
 * never splits a UTF-8 sequence. */
static void
vmm_copy_label(char *dst, size_t cap, const char *src)
{
	size_t len = strlen(src), n = len < cap - 1 ? len : cap - 1;

	while (n > 0 && n < len && ((unsigned char)src[n] & 0xc0) == 0x80)
		n--;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

void
vmm_hello(struct conn *c, uint64_t id, const Shmbroker__Hello *req)
{
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__HelloReply r = SHMBROKER__HELLO_REPLY__INIT;

	if (req->version != WIRE_PROTOCOL_VERSION) {
		rpc_reply_error(c, id, SHMBROKER__ERROR__ERR_VERSION,
		    "protocol version %u is not supported; this daemon speaks "
		    "%d", req->version, WIRE_PROTOCOL_VERSION);
		return;
	}
	vmm_copy_label(c->label, sizeof(c->label), req->label);
	r.version = WIRE_PROTOCOL_VERSION;
	r.server = (char *)DAEMON_NAME;
	r.max_message = WIRE_MAX_MESSAGE;
	m.id = id;
	m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_HELLO;
	m.hello = &r;
	conn_send(c, &m, NULL, 0);
}

/* Tells every other client of g that index changed; attached or not. An
 * attach carries the new peer's eventfd, so it is never coalesced. */
void
vmm_peer_changed(struct broker *b, struct region *g, int index,
    bool attached)
{
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__PeerChanged ev = SHMBROKER__PEER_CHANGED__INIT;
	const struct client *joined = attached ? g->clients[index] : NULL;
	int efd = joined != NULL ? joined->efd : -1;

	(void)b;
	m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_PEER_CHANGED;
	m.peer_changed = &ev;
	ev.index = (uint32_t)index;
	ev.attached = attached;
	ev.active_mask = g->active;
	for (int i = 0; i < REGION_MAX_CLIENTS; i++) {
		struct client *peer = g->clients[i];

		if (peer == NULL || i == index)
			continue;
		ev.client_id = peer->id;
		conn_send_event(peer->owner, &m, &efd, efd >= 0 ? 1 : 0,
		    EVENT_KEY(peer->id, EVENT_PEER));
	}
}

/*
 * Over the in-process budget, the memfds of the oldest regions go to keeper
 * processes: a new region is usually attached again soon (its creator's
 * peers follow), an old one rarely. Parking does not wait for the keeper.
 */
void
vmm_park_memfds(struct broker *b)
{
	struct region *g = registry_region_after(&b->reg, b->park_cursor);
	int err;

	for (; g != NULL && b->local_fds > b->cfg.local_region_fds;
	    g = TAILQ_NEXT(g, entry)) {
		if (g->mem.fd >= 0 &&
		    (err = fdstash_put(b->stash, g->mem.fd, &g->mem.stash)) < 0) {
			log_warn(&b->log, "cannot park the memfd of region %s in "
			    "a keeper process (%s): keeping it in the daemon",
			    g->name, strerror(-err));
			return;
		}
		/* Only past regions that are parked: a failed one is tried
		 * again at the next create. */
		if (g->mem.fd >= 0) {
			g->mem.fd = -1;
			b->local_fds--;
		}
		b->park_cursor = g->id;
	}
}

static void
vmm_release_memfd(struct broker *b, struct region_mem *mem)
{
	if (mem->fd >= 0) {
		close(mem->fd);
		mem->fd = -1;
		b->local_fds--;
	} else {
		fdstash_drop(b->stash, mem->stash);
	}
}

/* The last client left: the next one starts with a fresh page. */
static void
vmm_free_state(struct broker *b, struct region *g)
{
	if (g->state.fd < 0)
		return;
	restore_forget_state(b, g);
	statepage_free(&g->state);
	g->reclaim_pending = 0;
}

void
vmm_remove_region(struct broker *b, struct region *g)
{
	vmm_free_state(b, g);
	restore_forget_region(b, g);
	policy_uncharge_region(b, g);
	vmm_release_memfd(b, &g->mem);
	registry_remove_region(&b->reg, g);
}

/* The memfd to send: the region's own, or a copy from its keeper that the
 * caller closes after sending (*borrowed). -errno when none can be had. */
static int
vmm_region_fd(struct broker *b, const struct region *g, bool *borrowed)
{
	*borrowed = g->mem.fd < 0;
	return *borrowed ? fdstash_get(b->stash, g->mem.stash) : g->mem.fd;
}

enum guest_shm_status
vmm_create_region(struct broker *b, const char *name, uint32_t size_pages,
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
		*why = "size is over the largest region allowed "
		    "(max_region_size)";
		return GSS_NOMEM;
	}
	if (b->reg.regions_by_name.count >= b->cfg.max_regions) {
		*why = "the daemon holds max_regions regions already";
		return GSS_NOMEM;
	}
	if (t != NULL && (*why = tenant_quota_exceeded(t, 1, 0,
	    (uint64_t)size_pages * REGION_PAGE_SIZE, 0)) != NULL)
		return GSS_NOMEM;
	snprintf(label, sizeof(label), "shm:%s", name);
	if (memory_create(label, size_pages, acl->hugepages >= 0 ?
	    (enum hugepage_policy)acl->hugepages : b->cfg.hugepages,
	    b->hugepage_size, &mem, why) < 0)
		return GSS_NOMEM;
	/* Only now is it known whether the pool was used, and how far the
	 * size was rounded up for it. */
	if (t != NULL && mem.backing == BACKING_HUGETLB &&
	    (*why = tenant_quota_exceeded(t, 0, 0, mem.bytes,
	    mem.bytes / b->hugepage_size)) != NULL) {
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
	policy_charge_region(b, *out, t != NULL ? t->usage : NULL);
	b->local_fds++;
	/* Stored while its memfd is surely in hand, then maybe parked. */
	restore_store_region(b, *out);
	vmm_park_memfds(b);
	b->stats.creates++;
	log_info(&b->log, "region %s created: %u pages, %s, %llu bytes",
	    name, size_pages, mem.backing == BACKING_HUGETLB ? "hugetlb" :
	    "shmem", (unsigned long long)mem.bytes);
	admin_event(b, "create", *out, -1, 0);
	return GSS_OK;
}

/* The tenant that pays for what a connection makes: its own on the VMM
 * socket; nobody on the admin socket, which is free of quotas. */
static struct tenant *
vmm_charged_tenant(const struct conn *c)
{
	return c->kind == CONN_VMM ? c->tenant : NULL;
}

/* The region name (key) a guest's name stands for in this connection's
 * tenant, if the tenant may use it at all. GSS status. */
static enum guest_shm_status
vmm_resolve_name(struct conn *c, const Shmbroker__Attach *req,
    char name[REGION_NAME_MAX], char key[REGION_KEY_MAX], const char **why)
{
	struct broker *b = c->b;
	struct tenant *t = c->tenant, *owner;

	if (registry_check_name(req->name.data, req->name.len, name) != GSS_OK) {
		*why = "the name must be 1 to 31 printable ASCII characters "
		    "followed by a NUL";
		return GSS_ILLEGAL_NAME;
	}
	if (!tenant_name_allowed(t, name)) {
		policy_deny(b, t);
		*why = "the tenant's allow/deny rules refuse this name";
		return GSS_NO_PERMISSION;
	}
	if (tenant_region_name(t, name, key) < 0) {
		*why = "the tenant's prefix and the name are too long together";
		return GSS_ILLEGAL_NAME;
	}
	/* Decided on the name alone, so it tells nothing of what exists in
	 * the other tenant's namespace. The admin socket is every tenant. */
	if (c->kind == CONN_VMM && (owner = policy_name_owner(b, key)) != NULL &&
	    owner != t) {
		policy_deny(b, t);
		*why = "the name lies inside another tenant's prefix";
		return GSS_NO_PERMISSION;
	}
	return GSS_OK;
}

/* For a tenant with a prefix whose own region of that name does not
 * exist: the region an admin or the configuration made under the bare
 * name, outside every prefix, which is how regions are shared across
 * tenants. Guests' regions never qualify, so no tenant can plant one. */
static struct region *
vmm_find_shared(struct broker *b, const struct tenant *t, const char *name)
{
	struct region *g;

	if (t->prefix[0] == '\0' || (g = registry_find(&b->reg, name)) == NULL)
		return NULL;
	if (g->origin == ORIGIN_GUEST || policy_name_owner(b, name) != NULL)
		return NULL;
	return g;
}

/* The region a guest's name refers to for this connection's tenant,
 * created when asked and allowed. GSS status. */
static enum guest_shm_status
vmm_lookup(struct conn *c, const Shmbroker__Attach *req, struct region **gp,
    bool *created, const char **why)
{
	struct broker *b = c->b;
	struct tenant *t = c->tenant;
	char name[REGION_NAME_MAX], key[REGION_KEY_MAX];
	struct region_acl acl;
	enum guest_shm_status st;

	if ((st = vmm_resolve_name(c, req, name, key, why)) != GSS_OK)
		return st;
	if ((*gp = registry_find(&b->reg, key)) != NULL ||
	    (*gp = vmm_find_shared(b, t, name)) != NULL) {
		if (tenant_may_attach(*gp, c->cred.uid, c->cred.gid))
			return GSS_OK;
		policy_deny(b, t);
		*why = "the region's mode does not let this tenant attach";
		return GSS_NO_PERMISSION;
	}
	if (!req->create) {
		*why = "no region has that name";
		return GSS_DOES_NOT_EXIST;
	}
	acl = (struct region_acl){ .owner_uid = c->cred.uid, .mode = t->mode,
	    .has_group = t->has_group, .group = t->group,
	    .tenant = vmm_charged_tenant(c),
	    .hugepages = -1 };
	*created = true;
	return vmm_create_region(b, key, req->size_pages, ORIGIN_GUEST, &acl,
	    gp, why);
}

/*
 * The state page (made at the region's first attach) and the eventfd of a
 * new client. Its pending word starts empty, unless the client re-claims
 * (want_index) the index whose word a restart kept for it.
 */
static int
vmm_open_signals(struct broker *b, struct client *cl, uint32_t want_index)
{
	struct region *g = cl->region;
	uint16_t bit = (uint16_t)(1u << cl->index);
	int err;

	bool fresh = g->state.fd < 0, kept;

	if (fresh) {
		if ((err = statepage_create(&g->state)) < 0)
			return err;
		g->reclaim_pending = 0;
		restore_store_state(b, g);
	}
	if ((cl->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		return -errno;
	kept = want_index == (uint32_t)cl->index + 1 &&
	    (g->reclaim_pending & bit);
	g->reclaim_pending &= (uint16_t)~bit;
	/* A fresh page is all zeros already. */
	return fresh || kept ? 0 : statepage_clear(&g->state, cl->index);
}

/* Finds or creates the region and makes the client; GSS status. */
static enum guest_shm_status
vmm_attach_client(struct conn *c, const Shmbroker__Attach *req,
    struct client **out, bool *created, int *fd, bool *borrowed,
    const char **why)
{
	struct broker *b = c->b;
	struct region *g;
	enum guest_shm_status st;
	int err = 0;

	*created = false;
	if (b->reg.clients_by_id.count >= b->cfg.max_clients) {
		*why = "the daemon holds max_clients clients already";
		return GSS_NOMEM;
	}
	if (vmm_charged_tenant(c) != NULL &&
	    (*why = tenant_quota_exceeded(c->tenant, 0, 1, 0, 0)) != NULL)
		return GSS_NOMEM;
	if ((st = vmm_lookup(c, req, &g, created, why)) != GSS_OK) {
		*created = false;
		return st;
	}
	if (g->nclients >= REGION_MAX_CLIENTS) {
		*why = "the region has 16 clients";
		return GSS_CLIENT_MAX;
	}
	*fd = vmm_region_fd(b, g, borrowed);
	st = *fd < 0 ? GSS_NOMEM : registry_attach_at(&b->reg, g, c,
	    &c->clients, (int)req->want_index - 1, out);
	if (st == GSS_OK) {
		if (vmm_charged_tenant(c) != NULL) {
			(*out)->usage = c->tenant->usage;
			(*out)->usage->clients++;
		}
		if ((err = vmm_open_signals(b, *out, req->want_index)) == 0) {
			g->awaiting_reclaim = false;
			return GSS_OK;
		}
		vmm_unlink_client(b, *out);
		*out = NULL;
		st = GSS_NOMEM;
	}
	if (*fd < 0)
		log_err(&b->log, "cannot take the memfd of region %s back from "
		    "its keeper process: %s", g->name, strerror(-*fd));
	else if (err != 0)
		log_warn(&b->log, "region %s: no state page or eventfd for a "
		    "new client: %s", g->name, strerror(-err));
	*why = *fd < 0 ? "the daemon cannot reach the region's memory "
	    "(see its log)" : err == -EMFILE || err == -ENFILE ?
	    "the daemon is out of file descriptors (raise LimitNOFILE)" :
	    "out of memory";
	if (*borrowed && *fd >= 0)
		close(*fd);
	*fd = -1;
	/* A failed create leaves no region behind. */
	if (*created) {
		admin_event(b, "destroy", g, -1, 0);
		vmm_remove_region(b, g);
		b->stats.regions_destroyed++;
	}
	return st;
}

/* The fds of an attach reply: the region memfd, the state page, the
 * client's own eventfd, then its peers' eventfds by ascending index. */
static size_t
vmm_reply_fds(const struct client *cl, int region_fd, int fds[WIRE_MAX_FDS])
{
	const struct region *g = cl->region;
	size_t n = 0;

	fds[n++] = region_fd;
	fds[n++] = g->state.fd;
	fds[n++] = cl->efd;
	for (int i = 0; i < REGION_MAX_CLIENTS; i++)
		if (i != cl->index && g->clients[i] != NULL)
			fds[n++] = g->clients[i]->efd;
	return n;
}

void
vmm_attach(struct conn *c, uint64_t id, const Shmbroker__Attach *req)
{
	struct broker *b = c->b;
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__AttachReply r = SHMBROKER__ATTACH_REPLY__INIT;
	struct client *cl = NULL;
	const char *why = NULL;
	bool created, borrowed = false;
	int fd = -1, fds[WIRE_MAX_FDS];
	enum guest_shm_status st;

	st = vmm_attach_client(c, req, &cl, &created, &fd, &borrowed, &why);
	b->stats.status_counts[st]++;
	m.id = id;
	m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_ATTACH;
	m.attach = &r;
	r.status = (Shmbroker__GuestStatus)st;
	if (st != GSS_OK) {
		m.message = (char *)why;
		log_info(&b->log, "connection %llu: %s of a region failed: "
		    "%s (%s)", (unsigned long long)c->id,
		    req->create ? "create" : "find", wire_status_name(st), why);
		conn_send(c, &m, NULL, 0);
		return;
	}
	b->stats.attaches++;
	r.client_id = cl->id;
	r.region_id = cl->region->id;
	r.index = cl->index;
	r.size_pages = cl->region->size_pages;
	r.backing_bytes = cl->region->mem.bytes;
	r.backing = (Shmbroker__Backing)cl->region->mem.backing;
	r.active_mask = cl->region->active;
	r.created = created;
	/* The members first: by the time the new client hears it is in,
	 * and so before anything it does, each member has the join (and the
	 * eventfd to notify it by) in its socket. */
	vmm_peer_changed(b, cl->region, cl->index, true);
	conn_send(c, &m, fds, vmm_reply_fds(cl, fd, fds));
	if (borrowed)
		close(fd);
	admin_event(b, "attach", cl->region, cl->index, c->id);
}

/* The client id names a client of this connection, else NULL (replied). */
static struct client *
vmm_own_client(struct conn *c, uint64_t id, uint64_t client_id)
{
	struct client *cl = registry_client(&c->b->reg, client_id);

	if (cl == NULL || cl->owner != c) {
		rpc_reply_error(c, id, SHMBROKER__ERROR__ERR_NOT_ATTACHED,
		    "client %llu is not attached on this connection",
		    (unsigned long long)client_id);
		return NULL;
	}
	return cl;
}

void
vmm_notify(struct conn *c, uint64_t id, const Shmbroker__Notify *req)
{
	struct broker *b = c->b;
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__NotifyReply r = SHMBROKER__NOTIFY_REPLY__INIT;
	struct shm_state_page *page;
	struct client *cl;
	struct region *g;
	uint16_t targets;

	if ((cl = vmm_own_client(c, id, req->client_id)) == NULL)
		return;
	g = cl->region;
	if ((page = statepage_map(&g->state)) == NULL) {
		rpc_reply_error(c, id, SHMBROKER__ERROR__ERR_NO_RESOURCES,
		    "the daemon cannot map the region's state page: %s",
		    strerror(errno));
		return;
	}
	targets = shm_state_targets(g->active, cl->index, req->mask);
	/* The bits first: a woken target must find them. */
	for (int i = 0; i < REGION_MAX_CLIENTS; i++)
		if (targets & (1u << i))
			shm_state_post(page, cl->index, (unsigned)i);
	for (int i = 0; i < REGION_MAX_CLIENTS; i++)
		if (targets & (1u << i))
			statepage_signal(g->clients[i]->efd);
	r.delivered = targets;
	b->stats.notifications++;
	m.id = id;
	m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_NOTIFY;
	m.notify = &r;
	conn_send(c, &m, NULL, 0);
	admin_event(b, "notify", g, cl->index, c->id);
}

void
vmm_read_status(struct conn *c, uint64_t id, const Shmbroker__ReadStatus *req)
{
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__ReadStatusReply r = SHMBROKER__READ_STATUS_REPLY__INIT;
	struct shm_state_page *page;
	struct client *cl;

	if ((cl = vmm_own_client(c, id, req->client_id)) == NULL)
		return;
	if ((page = statepage_map(&cl->region->state)) == NULL) {
		rpc_reply_error(c, id, SHMBROKER__ERROR__ERR_NO_RESOURCES,
		    "the daemon cannot map the region's state page: %s",
		    strerror(errno));
		return;
	}
	r.status = shm_state_take(page, cl->index, req->keep_mask) |
	    (uint32_t)cl->region->active << 16;
	m.id = id;
	m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_READ_STATUS;
	m.read_status = &r;
	conn_send(c, &m, NULL, 0);
}

bool
vmm_unlink_client(struct broker *b, struct client *cl)
{
	struct region *g = cl->region;
	bool empty;

	if (cl->usage != NULL)
		cl->usage->clients--;
	empty = registry_detach(&b->reg, cl);
	/* Words a restart kept wait for their clients until the grace
	 * period ends (restore.c), even with nobody attached meanwhile. */
	if (g->nclients == 0 && g->reclaim_pending == 0)
		vmm_free_state(b, g);
	return empty;
}

void
vmm_detach_client(struct broker *b, struct client *cl)
{
	struct region *g = cl->region;
	struct conn *owner = cl->owner;
	int index = cl->index;

	b->stats.detaches++;
	if (vmm_unlink_client(b, cl)) {
		admin_event(b, "detach", g, index, owner->id);
		log_info(&b->log, "region %s removed with its last client",
		    g->name);
		admin_event(b, "destroy", g, -1, 0);
		vmm_remove_region(b, g);
		b->stats.regions_destroyed++;
		return;
	}
	vmm_peer_changed(b, g, index, false);
	admin_event(b, "detach", g, index, owner->id);
}

void
vmm_detach(struct conn *c, uint64_t id, const Shmbroker__Detach *req)
{
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__DetachReply r = SHMBROKER__DETACH_REPLY__INIT;
	struct client *cl;

	if ((cl = vmm_own_client(c, id, req->client_id)) == NULL)
		return;
	vmm_detach_client(c->b, cl);
	m.id = id;
	m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_DETACH;
	m.detach = &r;
	conn_send(c, &m, NULL, 0);
}
