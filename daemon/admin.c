/* SPDX-License-Identifier: ISC */
/*
 * admin: the admin service, served only on the admin socket: status, paged
 * region and client listings, show, create, destroy, detaching one client,
 * counters, tenants' usage, reload, and the event stream that `shmctl
 * watch` follows.
 */
#include <stdio.h>
#include <string.h>

#include "broker.h"

/* Listings are paged so that a reply always fits one datagram. */
#define ADMIN_PAGE 200

static void
admin_reply(struct conn *c, uint64_t id, Shmbroker__ServerMessage *m)
{
	m->id = id;
	conn_send(c, m, NULL, 0);
}

static void
admin_region_info(const struct region *g, Shmbroker__RegionInfo *ri)
{
	shmbroker__region_info__init(ri);
	ri->name = (char *)g->name;
	ri->region_id = g->id;
	ri->size_pages = g->size_pages;
	ri->backing_bytes = g->mem.bytes;
	ri->backing = (Shmbroker__Backing)g->mem.backing;
	ri->origin = (Shmbroker__Origin)g->origin;
	ri->active_mask = g->active;
	ri->clients = g->nclients;
	ri->created_ms = g->created_ms;
	ri->mode = g->mode;
	ri->owner_uid = g->owner_uid;
	ri->tenant = g->usage != NULL ? (char *)g->usage->name : (char *)"";
}

static void
admin_client_info(const struct client *cl, Shmbroker__ClientInfo *ci)
{
	struct member_ident who = region_client_owner(cl);

	shmbroker__client_info__init(ci);
	ci->client_id = cl->id;
	ci->region = (char *)cl->region->name;
	ci->index = cl->index;
	ci->pending = statepage_peek(&cl->region->state, cl->index);
	ci->connection_id = who.conn_id;
	ci->pid = who.cred.pid;
	ci->uid = who.cred.uid;
	ci->gid = who.cred.gid;
	ci->label = (char *)who.label;
	ci->read_only = cl->read_only;
}

static void
admin_status(struct conn *c, uint64_t id)
{
	struct broker *b = c->b;
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__AdminStatusReply r = SHMBROKER__ADMIN_STATUS_REPLY__INIT;

	r.server = (char *)"shmbrokerd " SHMBROKER_VERSION;
	r.uptime_ms = broker_now_ms() - b->start_ms;
	r.regions = (uint32_t)b->reg.regions_by_name.count;
	r.clients = (uint32_t)b->reg.clients_by_id.count;
	r.connections = b->nconns;
	r.bytes_shmem = b->reg.bytes[BACKING_SHMEM];
	r.bytes_hugetlb = b->reg.bytes[BACKING_HUGETLB];
	r.hugepage_policy = (char *)memory_policy_name(b->cfg.hugepages);
	r.hugepages_free = memory_hugepages_available();
	r.fd_limit = b->fd_limit;
	m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_STATUS;
	m.admin_status = &r;
	admin_reply(c, id, &m);
}

static void
admin_list(struct conn *c, uint64_t id, const Shmbroker__AdminList *req)
{
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__AdminListReply r = SHMBROKER__ADMIN_LIST_REPLY__INIT;
	Shmbroker__RegionInfo infos[ADMIN_PAGE], *ptrs[ADMIN_PAGE];
	struct region *g = registry_region_after(&c->b->reg, req->after_id);
	size_t n = 0;

	for (; g != NULL && n < ADMIN_PAGE; g = TAILQ_NEXT(g, entry), n++) {
		admin_region_info(g, &infos[n]);
		ptrs[n] = &infos[n];
		r.next_after_id = g->id;
	}
	r.n_regions = n;
	r.regions = ptrs;
	r.done = g == NULL;
	m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_LIST;
	m.admin_list = &r;
	admin_reply(c, id, &m);
}

static void
admin_clients(struct conn *c, uint64_t id, const Shmbroker__AdminClients *req)
{
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__AdminClientsReply r = SHMBROKER__ADMIN_CLIENTS_REPLY__INIT;
	Shmbroker__ClientInfo infos[ADMIN_PAGE], *ptrs[ADMIN_PAGE];
	struct client *cl = registry_client_after(&c->b->reg, req->after_id);
	size_t n = 0;

	for (; cl != NULL && n < ADMIN_PAGE; cl = TAILQ_NEXT(cl, entry), n++) {
		admin_client_info(cl, &infos[n]);
		ptrs[n] = &infos[n];
		r.next_after_id = cl->id;
	}
	r.n_clients = n;
	r.clients = ptrs;
	r.done = cl == NULL;
	m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_CLIENTS;
	m.admin_clients = &r;
	admin_reply(c, id, &m);
}

static void
admin_show(struct conn *c, uint64_t id, const Shmbroker__AdminShow *req)
{
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__AdminShowReply r = SHMBROKER__ADMIN_SHOW_REPLY__INIT;
	Shmbroker__RegionInfo ri;
	Shmbroker__ClientInfo infos[REGION_MAX_CLIENTS];
	Shmbroker__ClientInfo *ptrs[REGION_MAX_CLIENTS];
	Shmbroker__ExportInfo exports[IVSHMEM_MAX_EXPORTS];
	Shmbroker__ExportInfo *export_ptrs[IVSHMEM_MAX_EXPORTS];
	struct region *g = registry_find(&c->b->reg, req->name);

	if (g == NULL) {
		conn_reply_error(c, id, SHMBROKER__ERROR__ERR_NOT_FOUND,
		    "no region named '%.40s'", req->name);
		return;
	}
	admin_region_info(g, &ri);
	for (int i = 0; i < REGION_MAX_CLIENTS; i++) {
		if (g->clients[i] == NULL)
			continue;
		admin_client_info(g->clients[i], &infos[r.n_clients]);
		ptrs[r.n_clients] = &infos[r.n_clients];
		r.n_clients++;
	}
	r.region = &ri;
	r.clients = ptrs;
	r.n_exports = admin_export_infos(c->b, g, exports, export_ptrs);
	r.exports = export_ptrs;
	m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_SHOW;
	m.admin_show = &r;
	admin_reply(c, id, &m);
}

/* Admin names may be as long as a tenant prefix plus a guest's name. */
static bool
admin_check_name(struct conn *c, uint64_t id, const char *name,
    char out[REGION_KEY_MAX])
{
	if (registry_check_key(name) != GSS_OK) {
		conn_reply_error(c, id, SHMBROKER__ERROR__ERR_INVALID,
		    "invalid region name: use 1 to 63 printable ASCII "
		    "characters without spaces");
		return false;
	}
	snprintf(out, REGION_KEY_MAX, "%s", name);
	return true;
}

static void
admin_create(struct conn *c, uint64_t id, const Shmbroker__AdminCreate *req)
{
	struct broker *b = c->b;
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__AdminCreateReply r = SHMBROKER__ADMIN_CREATE_REPLY__INIT;
	Shmbroker__RegionInfo ri;
	char name[REGION_KEY_MAX];
	static const struct region_acl admin_acl = { .mode = 0666,
	    .hugepages = -1 };
	struct region *g;
	const char *why = NULL;
	uint64_t t0;

	if (!admin_check_name(c, id, req->name, name))
		return;
	if (req->size_pages == 0) {
		conn_reply_error(c, id, SHMBROKER__ERROR__ERR_INVALID,
		    "a region needs a size of at least one page");
		return;
	}
	if (registry_find(&b->reg, name) != NULL) {
		conn_reply_error(c, id, SHMBROKER__ERROR__ERR_EXISTS,
		    "a region named '%s' exists already", name);
		return;
	}
	t0 = broker_mono_ns();
	if (region_create(b, name, req->size_pages, ORIGIN_ADMIN,
	    &admin_acl, &g, &why) != GSS_OK) {
		conn_reply_error(c, id, SHMBROKER__ERROR__ERR_NO_RESOURCES,
		    "cannot create '%s': %s", name, why);
		return;
	}
	r.create_ns = broker_mono_ns() - t0;
	admin_region_info(g, &ri);
	r.region = &ri;
	m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_CREATE;
	m.admin_create = &r;
	admin_reply(c, id, &m);
}

static void
admin_destroy(struct conn *c, uint64_t id, const Shmbroker__AdminDestroy *req)
{
	struct broker *b = c->b;
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__AdminDestroyReply r = SHMBROKER__ADMIN_DESTROY_REPLY__INIT;
	struct region *g = registry_find(&b->reg, req->name);

	if (g == NULL) {
		conn_reply_error(c, id, SHMBROKER__ERROR__ERR_NOT_FOUND,
		    "no region named '%.40s'", req->name);
		return;
	}
	if (g->nclients > 0 && !req->force) {
		conn_reply_error(c, id, SHMBROKER__ERROR__ERR_BUSY,
		    "region '%s' has %u attached clients: detach them or use "
		    "--force", g->name, (unsigned)g->nclients);
		return;
	}
	r.detached = region_destroy(b, g, c->id);
	m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_DESTROY;
	m.admin_destroy = &r;
	admin_reply(c, id, &m);
}

/* The client an AdminDetach names: by id, or by region and index. NULL
 * after an error reply. */
static struct client *
admin_find_client(struct conn *c, uint64_t id,
    const Shmbroker__AdminDetach *req)
{
	struct region *g;
	struct client *cl;

	if (req->region[0] == '\0') {
		if ((cl = registry_client(&c->b->reg, req->client_id)) == NULL)
			conn_reply_error(c, id, SHMBROKER__ERROR__ERR_NOT_FOUND,
			    "no client %llu (shmctl clients lists them)",
			    (unsigned long long)req->client_id);
		return cl;
	}
	if ((g = registry_find(&c->b->reg, req->region)) == NULL) {
		conn_reply_error(c, id, SHMBROKER__ERROR__ERR_NOT_FOUND,
		    "no region named '%.40s'", req->region);
		return NULL;
	}
	if (req->index >= REGION_MAX_CLIENTS || g->clients[req->index] == NULL) {
		conn_reply_error(c, id, SHMBROKER__ERROR__ERR_NOT_FOUND,
		    "region '%s' has no client at index %u (active 0x%04x)",
		    g->name, (unsigned)req->index, (unsigned)g->active);
		return NULL;
	}
	return g->clients[req->index];
}

/* The reply describes the client before it goes: it is sent first. */
static void
admin_detach(struct conn *c, uint64_t id, const Shmbroker__AdminDetach *req)
{
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__AdminDetachReply r = SHMBROKER__ADMIN_DETACH_REPLY__INIT;
	Shmbroker__ClientInfo ci;
	struct client *cl;

	if ((cl = admin_find_client(c, id, req)) == NULL)
		return;
	admin_client_info(cl, &ci);
	r.client = &ci;
	m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_DETACH;
	m.admin_detach = &r;
	admin_reply(c, id, &m);
	region_revoke_client(c->b, cl, c);
}

static void
admin_stats(struct conn *c, uint64_t id)
{
	const struct broker_stats *s = &c->b->stats;
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__AdminStatsReply r = SHMBROKER__ADMIN_STATS_REPLY__INIT;
	uint64_t counts[GSS_COUNT];

	memcpy(counts, s->status_counts, sizeof(counts));
	r.connections_total = s->connections_total;
	r.attaches = s->attaches;
	r.creates = s->creates;
	r.detaches = s->detaches;
	r.notifications = s->notifications;
	r.bad_requests = s->bad_requests;
	r.n_status_counts = GSS_COUNT;
	r.status_counts = counts;
	r.regions_destroyed = s->regions_destroyed;
	r.events_dropped_connections = s->slow_connections_dropped;
	r.denials = s->denials;
	r.refused_connections = s->refused_connections;
	r.ivshmem_joins = s->ivshmem_joins;
	r.ivshmem_refused = s->ivshmem_refused;
	r.ivshmem_relayed = s->ivshmem_relayed;
	r.datagrams_oversized = s->datagrams_oversized;
	r.datagrams_with_fds = s->datagrams_with_fds;
	r.reads_paused = s->reads_paused;
	r.refused_max_connections = s->refused[LIMIT_MAX_CONNECTIONS];
	r.refused_max_regions = s->refused[LIMIT_MAX_REGIONS];
	r.refused_max_clients = s->refused[LIMIT_MAX_CLIENTS];
	r.refused_max_bytes = s->refused[LIMIT_MAX_BYTES];
	r.refused_max_clients_per_connection =
	    s->refused[LIMIT_CLIENTS_PER_CONNECTION];
	r.refused_tenant_max_connections = s->refused[LIMIT_TENANT_CONNECTIONS];
	r.refused_max_hugepages = s->refused[LIMIT_MAX_HUGEPAGES];
	r.refused_max_region_size = s->refused[LIMIT_MAX_REGION_SIZE];
	r.refused_fd_store_max = s->refused[LIMIT_FD_STORE_MAX];
	r.ivshmem_dropped = s->ivshmem_dropped;
	r.inflight_waits = s->inflight_waits;
	r.kept_indices_given = s->kept_indices_given;
	r.fds_in_flight = c->b->inflight_fds;
	r.drains = c->b->ndrains;
	m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_STATS;
	m.admin_stats = &r;
	admin_reply(c, id, &m);
}

static void
admin_watch(struct conn *c, uint64_t id)
{
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__AdminWatchReply r = SHMBROKER__ADMIN_WATCH_REPLY__INIT;

	watch_add(c);
	m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_WATCH;
	m.admin_watch = &r;
	admin_reply(c, id, &m);
}

static void
admin_tenant_info(const struct tenant *t, bool dflt, Shmbroker__TenantInfo *ti)
{
	const struct tenant_usage *u = t->usage;

	shmbroker__tenant_info__init(ti);
	ti->name = (char *)t->name;
	ti->prefix = (char *)t->prefix;
	ti->match_uid = t->match_uid;
	ti->uid = t->uid;
	ti->match_gid = t->match_gid;
	ti->gid = t->gid;
	ti->is_default = dflt;
	ti->mode = t->mode;
	ti->regions = u->regions;
	ti->max_regions = t->max_regions;
	ti->clients = u->clients;
	ti->max_clients = t->max_clients;
	ti->bytes = u->bytes;
	ti->max_bytes = t->max_bytes;
	ti->hugepages = u->hugepages;
	ti->max_hugepages = t->max_hugepages;
	ti->denials = u->denials;
	ti->connections = u->connections;
	ti->max_connections = t->max_connections;
}

static void
admin_tenants(struct conn *c, uint64_t id)
{
	struct broker *b = c->b;
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__AdminTenantsReply r = SHMBROKER__ADMIN_TENANTS_REPLY__INIT;
	Shmbroker__TenantInfo infos[ADMIN_PAGE], *ptrs[ADMIN_PAGE];
	const struct broker_config *cfg = &b->cfg;

	if (cfg->ntenants == 0) {
		admin_tenant_info(&b->open_tenant, true, &infos[0]);
		ptrs[r.n_tenants++] = &infos[0];
	}
	for (size_t i = 0; i < cfg->ntenants && r.n_tenants < ADMIN_PAGE;
	    i++) {
		admin_tenant_info(&cfg->tenants[i], cfg->default_tenant &&
		    strcmp(cfg->default_tenant, cfg->tenants[i].name) == 0,
		    &infos[r.n_tenants]);
		ptrs[r.n_tenants] = &infos[r.n_tenants];
		r.n_tenants++;
	}
	r.tenants = ptrs;
	m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_TENANTS;
	m.admin_tenants = &r;
	admin_reply(c, id, &m);
}

/* The reply to AdminReload, once the reload has created its regions; the
 * connection that asked may be gone by then. */
static void
admin_reload_done(struct broker *b, uint64_t conn_id, uint64_t req_id,
    enum reload_result rc, const char *err)
{
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__AdminReloadReply r = SHMBROKER__ADMIN_RELOAD_REPLY__INIT;
	struct conn *c;

	TAILQ_FOREACH(c, &b->conns, entry)
		if (c->id == conn_id)
			break;
	if (c == NULL || c->dead)
		return;
	if (rc == RELOAD_REFUSED) {
		conn_reply_error(c, req_id, SHMBROKER__ERROR__ERR_INVALID,
		    "reload failed, the running configuration stays: %s", err);
		return;
	}
	if (rc == RELOAD_PARTIAL) {
		conn_reply_error(c, req_id, SHMBROKER__ERROR__ERR_NO_RESOURCES,
		    "configuration reloaded, but %s", err);
		return;
	}
	m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_RELOAD;
	m.admin_reload = &r;
	admin_reply(c, req_id, &m);
}

void
admin_dispatch(struct conn *c, const Shmbroker__ClientMessage *m)
{
	switch (m->body_case) {
	case SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_STATUS:
		admin_status(c, m->id);
		break;
	case SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_LIST:
		admin_list(c, m->id, m->admin_list);
		break;
	case SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_SHOW:
		admin_show(c, m->id, m->admin_show);
		break;
	case SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_CREATE:
		admin_create(c, m->id, m->admin_create);
		break;
	case SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_DESTROY:
		admin_destroy(c, m->id, m->admin_destroy);
		break;
	case SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_CLIENTS:
		admin_clients(c, m->id, m->admin_clients);
		break;
	case SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_STATS:
		admin_stats(c, m->id);
		break;
	case SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_WATCH:
		admin_watch(c, m->id);
		break;
	case SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_TENANTS:
		admin_tenants(c, m->id);
		break;
	case SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_EXPORT:
		admin_export(c, m->id, m->admin_export);
		break;
	case SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_UNEXPORT:
		admin_unexport(c, m->id, m->admin_unexport);
		break;
	case SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_RELOAD:
		service_reload(c->b, admin_reload_done, c->id, m->id);
		break;
	case SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_DETACH:
		admin_detach(c, m->id, m->admin_detach);
		break;
	default:
		break;
	}
}
