/* SPDX-License-Identifier: ISC */
/*
 * vmm: the VMM service. Create-or-attach and find, notify, control status
 * reads and detach, and the events they cause: every other client of a
 * region hears of an attach (with the new peer's eventfd) or a detach.
 * Notifications do not pass through here on their way: every member holds
 * the region's state page and its peers' eventfds from its attach reply
 * and the peer events, and sets the bits and signals the eventfds itself.
 * The Notify and ReadStatus requests do the same, for tools and clients
 * without a mapping, on one the daemon makes for the request alone
 * (statepage.h). Results of create and find are guest ABI status codes.
 * A client that may only read (the region's mode, the tenant's allow_ro
 * rules) gets the memfd opened read-only.
 */
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
		conn_reply_error(c, id, SHMBROKER__ERROR__ERR_VERSION,
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
 * name, outside every prefix and shared with this connection by its mode
 * and group, which is how regions are shared across tenants
 * (policy_join_access decides, and must reach it by that very name). One
 * not shared with this connection does not stand in the way of its own. */
static struct region *
vmm_find_shared(struct conn *c, const char *name)
{
	const char *reach, *why;
	struct region *g;

	if (c->tenant->prefix[0] == '\0' ||
	    (g = registry_find(&c->b->reg, name)) == NULL)
		return NULL;
	if (policy_join_access(c->b, c->tenant, &c->cred, g, &reach, &why) ==
	    TENANT_ACCESS_NONE || strcmp(reach, name) != 0)
		return NULL;
	return g;
}

/* Whether the connection may hold one more client: a VMM that attaches
 * without end would take the daemon's clients (and an eventfd each) from
 * every other. Regions a guest creates live only while they have
 * clients, so this bounds the connection's regions too. */
static bool
vmm_client_fits(struct conn *c, const char **why)
{
	const struct client *cl;
	uint32_t n = 0;

	LIST_FOREACH(cl, &c->clients, owner_entry)
		if (++n >= c->b->cfg.max_clients_per_connection) {
			c->b->stats.refused[LIMIT_CLIENTS_PER_CONNECTION]++;
			*why = "the connection holds max_clients_per_connection "
			    "clients already: detach some (or raise "
			    "max_clients_per_connection in [broker])";
			return false;
		}
	return true;
}

/* Room for one more client of this connection, in its own bound and in
 * its tenant's quota and the daemon's. Asked once the name has its
 * region (or may make one), so that a find of a name that is not there,
 * or not this tenant's, says so even at a limit. */
static bool
vmm_client_room(struct conn *c, const char **why)
{
	return vmm_client_fits(c, why) &&
	    region_client_room(c->b, vmm_charged_tenant(c), why) >= 0;
}

/* The region a guest's name refers to for this connection's tenant,
 * created when asked and allowed, and whether the client may only read
 * it. GSS status. */
static enum guest_shm_status
vmm_lookup(struct conn *c, const Shmbroker__Attach *req, struct region **gp,
    bool *created, bool *read_only, const char **why)
{
	struct broker *b = c->b;
	struct tenant *t = c->tenant;
	char name[REGION_NAME_MAX], key[REGION_KEY_MAX];
	struct region_acl acl;
	enum guest_shm_status st;
	enum tenant_access access;

	if ((st = vmm_resolve_name(c, req, name, key, why)) != GSS_OK)
		return st;
	if ((*gp = registry_find(&b->reg, key)) != NULL ||
	    (*gp = vmm_find_shared(c, name)) != NULL) {
		/* The name's rules and prefix passed above: what can still
		 * refuse is the region's mode. */
		access = policy_join_access(b, t, &c->cred, *gp, NULL, why);
		if (access != TENANT_ACCESS_NONE) {
			*read_only = access == TENANT_ACCESS_RO;
			return vmm_client_room(c, why) ? GSS_OK : GSS_NOMEM;
		}
		policy_deny(b, t);
		return GSS_NO_PERMISSION;
	}
	/* A reader makes nothing: its create is a find. */
	if (req->create &&
	    tenant_name_access(t, name) == TENANT_ACCESS_RO) {
		*why = "no region has that name, and the tenant's rules let "
		    "this name be read (allow_ro), not created";
		return GSS_DOES_NOT_EXIST;
	}
	if (!req->create) {
		*why = "no region has that name";
		return GSS_DOES_NOT_EXIST;
	}
	if (!vmm_client_room(c, why))
		return GSS_NOMEM;
	acl = (struct region_acl){ .owner_uid = c->cred.uid, .mode = t->mode,
	    .has_group = t->has_group, .group = t->group,
	    .tenant = vmm_charged_tenant(c),
	    .hugepages = -1 };
	*created = true;
	return region_create(b, key, req->size_pages, ORIGIN_GUEST, &acl, gp,
	    why);
}

/* A client's wish for its old index (re-claimed after a restart), from
 * the wire: 1..16, or 0 for none. Anything else is no wish. */
static int
vmm_wanted_index(uint32_t want_index)
{
	return want_index >= 1 && want_index <= REGION_MAX_CLIENTS ?
	    (int)want_index - 1 : -1;
}

/*
 * A client that may only read gets a file description of its own,
 * opened O_RDONLY (memory.c), in place of the region's memfd in *fd: the
 * kernel then refuses its VMM a writable shared mapping. When that
 * cannot be had, the client goes again.
 */
static enum guest_shm_status
vmm_read_only_fd(struct conn *c, struct client *cl, int *fd, bool *borrowed,
    const char **why)
{
	int ro = memory_open_read_only(*fd);

	if (*borrowed)
		close(*fd);
	*fd = -1;
	*borrowed = false;
	if (ro < 0) {
		log_warn(&c->b->log, "region %s: cannot open its memfd "
		    "read-only for a client: %s", cl->region->name,
		    strerror(-ro));
		region_detach_client(c->b, cl);
		*why = "the daemon cannot open the region read-only (see its "
		    "log)";
		return GSS_UNKNOWN_FAILURE;
	}
	cl->read_only = true;
	*fd = ro;
	*borrowed = true;	/* ours to close once sent */
	return GSS_OK;
}

/* Finds or creates the region and makes the client; GSS status. */
static enum guest_shm_status
vmm_attach_client(struct conn *c, const Shmbroker__Attach *req,
    struct client **out, bool *created, int *fd, bool *borrowed,
    const char **why)
{
	struct broker *b = c->b;
	struct region_join join;
	struct region *g;
	enum guest_shm_status st;
	bool read_only = false;

	*created = false;
	if ((st = vmm_lookup(c, req, &g, created, &read_only, why)) !=
	    GSS_OK) {
		*created = false;
		return st;
	}
	join = (struct region_join){ .owner = c, .list = &c->clients,
	    .conn_id = c->id, .want = vmm_wanted_index(req->want_index),
	    .uid = c->cred.uid, .tenant = vmm_charged_tenant(c), .created = *created };
	st = region_attach(b, g, &join, out, fd, borrowed, why);
	if (st == GSS_OK && read_only &&
	    (st = vmm_read_only_fd(c, *out, fd, borrowed, why)) != GSS_OK)
		*out = NULL;
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
	for (uint32_t left = g->active & ~(1u << cl->index); left != 0;)
		fds[n++] = g->clients[shm_state_next(&left)]->efd;
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
	r.read_only = cl->read_only;
	conn_send(c, &m, fds, vmm_reply_fds(cl, fd, fds));
	if (borrowed)
		close(fd);
}

/* The client id names a client of this connection, else NULL (replied). */
static struct client *
vmm_own_client(struct conn *c, uint64_t id, uint64_t client_id)
{
	struct client *cl = registry_client(&c->b->reg, client_id);

	if (cl == NULL || cl->owner != c) {
		conn_reply_error(c, id, SHMBROKER__ERROR__ERR_NOT_ATTACHED,
		    "client %llu is not attached on this connection",
		    (unsigned long long)client_id);
		return NULL;
	}
	return cl;
}

/* Never blocks, whatever a target did to its eventfd (wake.h). */
static void
vmm_wake(struct broker *b, const struct region *g, uint16_t targets)
{
	int efd[REGION_MAX_CLIENTS];
	size_t n = 0;

	for (uint32_t left = targets; left != 0;) {
		int fd = g->clients[shm_state_next(&left)]->efd;

		if (fd >= 0)
			efd[n++] = fd;
	}
	(void)wake_signal(b->wake, efd, n);
}

/* The page could not be mapped for the request (err: -errno): out of
 * memory, or of the address space's mappings. */
static void
vmm_state_error(struct conn *c, uint64_t id, int err)
{
	conn_reply_error(c, id, SHMBROKER__ERROR__ERR_NO_RESOURCES,
	    "the daemon cannot map the region's state page: %s",
	    strerror(-err));
}

void
vmm_notify(struct conn *c, uint64_t id, const Shmbroker__Notify *req)
{
	struct broker *b = c->b;
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__NotifyReply r = SHMBROKER__NOTIFY_REPLY__INIT;
	struct client *cl;
	struct region *g;
	uint16_t targets;
	int err;

	if ((cl = vmm_own_client(c, id, req->client_id)) == NULL)
		return;
	g = cl->region;
	targets = shm_state_targets(g->active, cl->index, req->mask);
	/* The bits first: a woken target must find them. */
	if ((err = statepage_post(&g->state, cl->index, targets)) < 0) {
		vmm_state_error(c, id, err);
		return;
	}
	vmm_wake(b, g, targets);
	r.delivered = targets;
	b->stats.notifications++;
	m.id = id;
	m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_NOTIFY;
	m.notify = &r;
	conn_send(c, &m, NULL, 0);
	watch_event(b, "notify", g, cl->index, c->id);
}

void
vmm_read_status(struct conn *c, uint64_t id, const Shmbroker__ReadStatus *req)
{
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__ReadStatusReply r = SHMBROKER__READ_STATUS_REPLY__INIT;
	struct client *cl;
	uint16_t pending;
	int err;

	if ((cl = vmm_own_client(c, id, req->client_id)) == NULL)
		return;
	if ((err = statepage_take(&cl->region->state, cl->index,
	    req->keep_mask, &pending)) < 0) {
		vmm_state_error(c, id, err);
		return;
	}
	r.status = pending | (uint32_t)cl->region->active << 16;
	m.id = id;
	m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_READ_STATUS;
	m.read_status = &r;
	conn_send(c, &m, NULL, 0);
}

void
vmm_detach(struct conn *c, uint64_t id, const Shmbroker__Detach *req)
{
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__DetachReply r = SHMBROKER__DETACH_REPLY__INIT;
	struct client *cl;

	if ((cl = vmm_own_client(c, id, req->client_id)) == NULL)
		return;
	region_detach_client(c->b, cl);
	m.id = id;
	m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_DETACH;
	m.detach = &r;
	conn_send(c, &m, NULL, 0);
}
