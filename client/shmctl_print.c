/* SPDX-License-Identifier: ISC */
/*
 * shmctl_print: the human and JSON forms of the admin commands' replies
 * (see shmctl_print.h). Field names of the JSON forms are a contract with
 * scripts: add to them, never rename.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "shmctl_print.h"
#include "units.h"
#include "wire.h"

#define CTL_PAGE_SIZE 4096u		/* the guest ABI's page */
/* The value column of status and show, past their longest key ("admin
 * socket:"); stats widens it for its own. */
#define KV_WIDTH 16

static const char *
backing_name(Shmbroker__Backing b)
{
	return b == SHMBROKER__BACKING__BACKING_HUGETLB ? "hugetlb" : "shmem";
}

static const char *
origin_name(Shmbroker__Origin o)
{
	switch (o) {
	case SHMBROKER__ORIGIN__ORIGIN_GUEST:	return "guest";
	case SHMBROKER__ORIGIN__ORIGIN_ADMIN:	return "admin";
	case SHMBROKER__ORIGIN__ORIGIN_CONFIG:	return "config";
	default:				return "unknown";
	}
}

static uint64_t
region_bytes(const Shmbroker__RegionInfo *r)
{
	return (uint64_t)r->size_pages * CTL_PAGE_SIZE;
}

/* with_count: false in show, where "clients" is the array of clients. */
static void
json_region_fields(struct jw *w, const Shmbroker__RegionInfo *r,
    bool with_count)
{
	jw_u64(w, "id", r->region_id);
	jw_str(w, "name", r->name);
	jw_u64(w, "size", region_bytes(r));
	jw_u64(w, "size_pages", r->size_pages);
	jw_u64(w, "backing_bytes", r->backing_bytes);
	jw_str(w, "backing", backing_name(r->backing));
	jw_str(w, "origin", origin_name(r->origin));
	jw_u64(w, "active_mask", r->active_mask);
	if (with_count)
		jw_u64(w, "clients", r->clients);
	jw_u64(w, "created_ms", r->created_ms);
	jw_u64(w, "mode", r->mode);
	jw_u64(w, "owner_uid", r->owner_uid);
	jw_str(w, "tenant", r->tenant);
}

static void
json_client(struct jw *w, const Shmbroker__ClientInfo *ci, bool with_region)
{
	jw_open(w, NULL, '{');
	jw_u64(w, "client_id", ci->client_id);
	if (with_region)
		jw_str(w, "region", ci->region);
	jw_u64(w, "index", ci->index);
	jw_u64(w, "pending", ci->pending);
	jw_u64(w, "connection_id", ci->connection_id);
	jw_i64(w, "pid", ci->pid);
	jw_u64(w, "uid", ci->uid);
	jw_u64(w, "gid", ci->gid);
	jw_str(w, "label", ci->label);
	jw_str(w, "access", ci->read_only ? "ro" : "rw");
	jw_close(w, '}');
}

/* The table of a command, printed unless a row did not fit (ex is not
 * EX_OK), and freed; returns ex. */
static int
table_done(struct table *t, int ex)
{
	if (ex == EX_OK)
		table_print(t, stdout);
	else
		ctl_warn("out of memory");
	table_free(t);
	return ex;
}

/* A client's numbers as the tables print them. */
struct client_cells {
	char id[24], idx[12], pid[16], uid[16], pend[12];
	const char *access;	/* ro: may read the region, not write it */
};

static void
client_cells(const Shmbroker__ClientInfo *ci, struct client_cells *c)
{
	snprintf(c->id, sizeof(c->id), "%" PRIu64, ci->client_id);
	snprintf(c->idx, sizeof(c->idx), "%u", ci->index);
	snprintf(c->pid, sizeof(c->pid), "%d", (int)ci->pid);
	snprintf(c->uid, sizeof(c->uid), "%u", ci->uid);
	snprintf(c->pend, sizeof(c->pend), "0x%04x", ci->pending);
	c->access = ci->read_only ? "ro" : "rw";
}

/* ---- listings ---- */

static const char *const list_head[] = {
	"ID", "NAME", "SIZE", "BACKING", "ORIGIN", "CLIENTS", "ACTIVE",
};

void
print_list_table(struct table *t)
{
	table_init(t, list_head, 7, 1u << 0 | 1u << 2 | 1u << 5);
}

int
print_region_row(struct table *t, struct jw *w, const Shmbroker__RegionInfo *r)
{
	char id[24], size[16], clients[12], active[12];

	if (w != NULL) {
		jw_open(w, NULL, '{');
		json_region_fields(w, r, true);
		jw_close(w, '}');
		return 0;
	}
	snprintf(id, sizeof(id), "%" PRIu64, r->region_id);
	units_format_size(region_bytes(r), size);
	snprintf(clients, sizeof(clients), "%u", r->clients);
	snprintf(active, sizeof(active), "0x%04x", r->active_mask);
	return table_add(t, (const char *const[]){ id, r->name, size,
	    backing_name(r->backing), origin_name(r->origin), clients,
	    active });
}

static const char *const clients_head[] = {
	"CLIENT", "REGION", "INDEX", "ACCESS", "PID", "UID", "PENDING", "LABEL",
};

void
print_clients_table(struct table *t)
{
	table_init(t, clients_head, 8, 1u << 0 | 1u << 2 | 1u << 4 | 1u << 5);
}

int
print_client_row(struct table *t, struct jw *w,
    const Shmbroker__ClientInfo *ci)
{
	struct client_cells c;

	if (w != NULL) {
		json_client(w, ci, true);
		return 0;
	}
	client_cells(ci, &c);
	return table_add(t, (const char *const[]){ c.id, ci->region, c.idx,
	    c.access, c.pid, c.uid, c.pend, ci->label });
}

/* ---- status ---- */

static void
status_json(const Shmbroker__AdminStatusReply *r, const char *socket)
{
	struct jw w = { .f = stdout };

	jw_open(&w, NULL, '{');
	jw_str(&w, "server", r->server);
	jw_str(&w, "socket", socket);
	jw_u64(&w, "uptime_ms", r->uptime_ms);
	jw_u64(&w, "regions", r->regions);
	jw_u64(&w, "clients", r->clients);
	jw_u64(&w, "connections", r->connections);
	jw_u64(&w, "bytes_shmem", r->bytes_shmem);
	jw_u64(&w, "bytes_hugetlb", r->bytes_hugetlb);
	jw_str(&w, "hugepage_policy", r->hugepage_policy);
	jw_u64(&w, "hugepages_free", r->hugepages_free);
	jw_u64(&w, "fd_limit", r->fd_limit);
	jw_close(&w, '}');
	putchar('\n');
}

static void
status_human(const Shmbroker__AdminStatusReply *r, const char *socket)
{
	char up[32], size[16];

	kv(KV_WIDTH, "server:", "%s", r->server);
	kv(KV_WIDTH, "admin socket:", "%s", socket);
	format_duration_ms(r->uptime_ms, up, sizeof(up));
	kv(KV_WIDTH, "uptime:", "%s", up);
	kv(KV_WIDTH, "regions:", "%u", r->regions);
	kv(KV_WIDTH, "clients:", "%u", r->clients);
	kv(KV_WIDTH, "connections:", "%u", r->connections);
	units_format_size(r->bytes_shmem, size);
	kv(KV_WIDTH, "shmem:", "%s", size);
	units_format_size(r->bytes_hugetlb, size);
	kv(KV_WIDTH, "hugetlb:", "%s", size);
	kv(KV_WIDTH, "hugepages:", "%s (%" PRIu64 " free)", r->hugepage_policy,
	    r->hugepages_free);
	kv(KV_WIDTH, "fd limit:", "%" PRIu64, r->fd_limit);
}

void
print_status(const Shmbroker__AdminStatusReply *r, const char *socket,
    bool json)
{
	if (json)
		status_json(r, socket);
	else
		status_human(r, socket);
}

/* ---- show, create, destroy ---- */

static const char *const show_head[] = {
	"INDEX", "CLIENT", "ACCESS", "PID", "UID", "PENDING", "LABEL",
};

static int
show_clients_human(const Shmbroker__AdminShowReply *r)
{
	struct client_cells c;
	struct table t;
	int ex = EX_OK;

	table_init(&t, show_head, 7, 1u << 0 | 1u << 1 | 1u << 3 | 1u << 4);
	for (size_t i = 0; i < r->n_clients && ex == EX_OK; i++) {
		client_cells(r->clients[i], &c);
		if (table_add(&t, (const char *const[]){ c.idx, c.id, c.access,
		    c.pid, c.uid, c.pend, r->clients[i]->label }) < 0)
			ex = EX_OSERR;
	}
	return table_done(&t, ex);
}

static int
show_human(const Shmbroker__AdminShowReply *r)
{
	const Shmbroker__RegionInfo *g = r->region;
	char a[16], b[16], when[64];
	char *tenant;

	units_format_size(region_bytes(g), a);
	units_format_size(g->backing_bytes, b);
	format_time_ms(g->created_ms, when, sizeof(when));
	kv(KV_WIDTH, "name:", "%s", g->name);
	kv(KV_WIDTH, "id:", "%" PRIu64, g->region_id);
	kv(KV_WIDTH, "size:", "%s (%u pages)", a, g->size_pages);
	kv(KV_WIDTH, "backing:", "%s, %s", backing_name(g->backing), b);
	kv(KV_WIDTH, "origin:", "%s", origin_name(g->origin));
	kv(KV_WIDTH, "created:", "%s", when);
	kv(KV_WIDTH, "mode:", "%04o", g->mode);
	kv(KV_WIDTH, "owner uid:", "%u", g->owner_uid);
	if ((tenant = printable_dup(g->tenant)) == NULL) {
		ctl_warn("out of memory");
		return EX_OSERR;
	}
	kv(KV_WIDTH, "tenant:", "%s", tenant[0] != '\0' ? tenant : "-");
	free(tenant);
	kv(KV_WIDTH, "active:", "0x%04x", g->active_mask);
	for (size_t i = 0; i < r->n_exports; i++) {
		const Shmbroker__ExportInfo *e = r->exports[i];

		kv(KV_WIDTH, "ivshmem:", "%s (%u vector%s, %u QEMU%s%s)",
		    e->path, e->vectors, e->vectors == 1 ? "" : "s", e->peers,
		    e->peers == 1 ? "" : "s", e->configured ?
		    ", configured" : "");
	}
	kv(KV_WIDTH, "clients:", "%zu", r->n_clients);
	if (r->n_clients == 0)
		return EX_OK;
	putchar('\n');
	return show_clients_human(r);
}

static void
show_json(const Shmbroker__AdminShowReply *r)
{
	struct jw w = { .f = stdout };

	jw_open(&w, NULL, '{');
	json_region_fields(&w, r->region, false);
	jw_open(&w, "clients", '[');
	for (size_t i = 0; i < r->n_clients; i++)
		json_client(&w, r->clients[i], false);
	jw_close(&w, ']');
	jw_open(&w, "exports", '[');
	for (size_t i = 0; i < r->n_exports; i++) {
		jw_open(&w, NULL, '{');
		jw_str(&w, "ivshmem", r->exports[i]->path);
		jw_u64(&w, "vectors", r->exports[i]->vectors);
		jw_u64(&w, "peers", r->exports[i]->peers);
		jw_bool(&w, "configured", r->exports[i]->configured);
		jw_close(&w, '}');
	}
	jw_close(&w, ']');
	jw_close(&w, '}');
	putchar('\n');
}

int
print_show(const Shmbroker__AdminShowReply *r, bool json)
{
	if (!json)
		return show_human(r);
	show_json(r);
	return EX_OK;
}

void
print_created(const Shmbroker__RegionInfo *g, bool json)
{
	struct jw w = { .f = stdout };
	char a[16];

	if (json) {
		jw_open(&w, NULL, '{');
		json_region_fields(&w, g, true);
		jw_close(&w, '}');
		putchar('\n');
		return;
	}
	units_format_size(region_bytes(g), a);
	printf("created region %s: %s (%u pages), %s\n", g->name, a,
	    g->size_pages, backing_name(g->backing));
}

void
print_destroyed(const char *name, uint32_t detached, bool json)
{
	struct jw w = { .f = stdout };

	if (json) {
		jw_open(&w, NULL, '{');
		jw_str(&w, "name", name);
		jw_u64(&w, "detached", detached);
		jw_close(&w, '}');
		putchar('\n');
	} else if (detached > 0) {
		printf("destroyed region %s, detached %u clients\n", name,
		    detached);
	} else {
		printf("destroyed region %s\n", name);
	}
}

int
print_detached(const Shmbroker__ClientInfo *ci, bool json)
{
	struct jw w = { .f = stdout };
	char *region, *label;

	if (json) {
		json_client(&w, ci, true);
		putchar('\n');
		return EX_OK;
	}
	region = printable_dup(ci->region);
	label = printable_dup(ci->label);
	if (region == NULL || label == NULL) {
		free(region);
		free(label);
		ctl_warn("out of memory");
		return EX_OSERR;
	}
	printf("detached client %" PRIu64 " from region %s (index %u, %s, pid "
	    "%d, uid %u, %s)\n", ci->client_id, region, ci->index,
	    ci->read_only ? "ro" : "rw", (int)ci->pid, ci->uid, label);
	free(region);
	free(label);
	return EX_OK;
}

/* ---- stats ---- */

/* The counters of AdminStats, in the order both forms print them. */
static const struct stats_counter {
	const char *json;
	const char *human;
	const char *suffix;	/* after the human form's number */
	size_t off;		/* of a uint64_t in the reply */
} stats_counters[] = {
#define STATS_COUNTER(field, human, suffix) \
	{ #field, human, suffix, offsetof(Shmbroker__AdminStatsReply, field) }
	STATS_COUNTER(connections_total, "connections:", " since start"),
	STATS_COUNTER(attaches, "attaches:", ""),
	STATS_COUNTER(creates, "creates:", ""),
	STATS_COUNTER(detaches, "detaches:", ""),
	STATS_COUNTER(notifications, "notifications:", ""),
	STATS_COUNTER(bad_requests, "bad requests:", ""),
	STATS_COUNTER(regions_destroyed, "destroyed:", ""),
	STATS_COUNTER(events_dropped_connections, "slow dropped:", ""),
	STATS_COUNTER(denials, "denials:", ""),
	STATS_COUNTER(refused_connections, "refused connections:", ""),
	STATS_COUNTER(ivshmem_joins, "ivshmem joins:", ""),
	STATS_COUNTER(ivshmem_refused, "ivshmem refused:", ""),
	STATS_COUNTER(ivshmem_relayed, "ivshmem relayed:", " doorbells"),
	STATS_COUNTER(ivshmem_dropped, "ivshmem dropped:", ""),
	STATS_COUNTER(datagrams_oversized, "oversized datagrams:", ""),
	STATS_COUNTER(datagrams_with_fds, "datagrams with fds:", ""),
	STATS_COUNTER(reads_paused, "reads paused:", ""),
	STATS_COUNTER(inflight_waits, "fd sends waited:", ""),
	STATS_COUNTER(fds_in_flight, "fds in flight:", " now"),
	STATS_COUNTER(drains, "closed, fds unread:", " now"),
	STATS_COUNTER(kept_indices_given, "kept indices given:", ""),
};

/* Refusals at a limit, under their heading by the limit's name. */
static const struct stats_counter stats_refusals[] = {
	STATS_COUNTER(refused_max_connections, "max_connections", ""),
	STATS_COUNTER(refused_max_regions, "max_regions", ""),
	STATS_COUNTER(refused_max_clients, "max_clients", ""),
	STATS_COUNTER(refused_max_bytes, "max_bytes", ""),
	STATS_COUNTER(refused_max_clients_per_connection,
	    "max_clients_per_connection", ""),
	STATS_COUNTER(refused_tenant_max_connections,
	    "max_connections of a tenant", ""),
	STATS_COUNTER(refused_max_hugepages, "max_hugepages", ""),
	STATS_COUNTER(refused_max_region_size, "max_region_size", ""),
	STATS_COUNTER(refused_fd_store_max, "fd_store_max", ""),
#undef STATS_COUNTER
};

#define STATS_N(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t
stats_value(const Shmbroker__AdminStatsReply *r, const struct stats_counter *c)
{
	uint64_t v;

	memcpy(&v, (const char *)r + c->off, sizeof(v));
	return v;
}

static void
stats_json(const Shmbroker__AdminStatsReply *r)
{
	struct jw w = { .f = stdout };

	jw_open(&w, NULL, '{');
	for (size_t i = 0; i < STATS_N(stats_counters); i++)
		jw_u64(&w, stats_counters[i].json,
		    stats_value(r, &stats_counters[i]));
	for (size_t i = 0; i < STATS_N(stats_refusals); i++)
		jw_u64(&w, stats_refusals[i].json,
		    stats_value(r, &stats_refusals[i]));
	jw_open(&w, "status_counts", '{');
	for (size_t i = 0; i < r->n_status_counts; i++)
		jw_u64(&w, wire_status_name((int)i), r->status_counts[i]);
	jw_close(&w, '}');
	jw_close(&w, '}');
	putchar('\n');
}

/* Attach results and refusals sit under their heading by this much. */
#define STATS_INDENT 2

/* The value column of stats: KV_WIDTH like status, or past the longest
 * counter name ("refused connections:"), limit or attach result with the
 * same two spaces, so that every number of stats is in one column. */
static int
stats_width(const Shmbroker__AdminStatsReply *r)
{
	size_t w = KV_WIDTH, len;

	for (size_t i = 0; i < STATS_N(stats_counters); i++)
		if ((len = strlen(stats_counters[i].human) + 2) > w)
			w = len;
	for (size_t i = 0; i < STATS_N(stats_refusals); i++)
		if ((len = STATS_INDENT + strlen(stats_refusals[i].human) +
		    2) > w)
			w = len;
	for (size_t i = 0; i < r->n_status_counts; i++)
		if ((len = STATS_INDENT + strlen(wire_status_name((int)i)) +
		    2) > w)
			w = len;
	return (int)w;
}

static void
stats_human(const Shmbroker__AdminStatsReply *r)
{
	int width = stats_width(r);

	for (size_t i = 0; i < STATS_N(stats_counters); i++)
		kv(width, stats_counters[i].human, "%" PRIu64 "%s",
		    stats_value(r, &stats_counters[i]),
		    stats_counters[i].suffix);
	printf("\nrefused at a limit:\n");
	for (size_t i = 0; i < STATS_N(stats_refusals); i++)
		printf("%*s%-*s%" PRIu64 "\n", STATS_INDENT, "",
		    width - STATS_INDENT, stats_refusals[i].human,
		    stats_value(r, &stats_refusals[i]));
	if (r->n_status_counts > 0)
		printf("\nattach results:\n");
	for (size_t i = 0; i < r->n_status_counts; i++)
		printf("%*s%-*s%" PRIu64 "\n", STATS_INDENT, "",
		    width - STATS_INDENT, wire_status_name((int)i),
		    r->status_counts[i]);
}

void
print_stats(const Shmbroker__AdminStatsReply *r, bool json)
{
	if (json)
		stats_json(r);
	else
		stats_human(r);
}

/* ---- tenants ---- */

static void
tenant_json(struct jw *w, const Shmbroker__TenantInfo *t)
{
	jw_open(w, NULL, '{');
	jw_str(w, "name", t->name);
	jw_str(w, "prefix", t->prefix);
	jw_bool(w, "match_uid", t->match_uid);
	jw_u64(w, "uid", t->uid);
	jw_bool(w, "match_gid", t->match_gid);
	jw_u64(w, "gid", t->gid);
	jw_bool(w, "is_default", t->is_default);
	jw_u64(w, "mode", t->mode);
	jw_u64(w, "regions", t->regions);
	jw_u64(w, "max_regions", t->max_regions);
	jw_u64(w, "clients", t->clients);
	jw_u64(w, "max_clients", t->max_clients);
	jw_u64(w, "bytes", t->bytes);
	jw_u64(w, "max_bytes", t->max_bytes);
	jw_u64(w, "hugepages", t->hugepages);
	jw_u64(w, "max_hugepages", t->max_hugepages);
	jw_u64(w, "denials", t->denials);
	jw_u64(w, "connections", t->connections);
	jw_u64(w, "max_connections", t->max_connections);
	jw_close(w, '}');
}

/* "uid=0,gid=5", "default", "uid=1000,default", or "-". */
static void
tenant_match(const Shmbroker__TenantInfo *t, char *out, size_t len)
{
	size_t n = 0;

	out[0] = '\0';
	if (t->match_uid)
		n += (size_t)snprintf(out + n, len - n, "uid=%u", t->uid);
	if (t->match_gid && n < len)
		n += (size_t)snprintf(out + n, len - n, "%sgid=%u",
		    n > 0 ? "," : "", t->gid);
	if (t->is_default && n < len)
		n += (size_t)snprintf(out + n, len - n, "%sdefault",
		    n > 0 ? "," : "");
	if (n == 0)
		snprintf(out, len, "-");
}

static const char *const tenants_head[] = {
	"TENANT", "MATCH", "PREFIX", "MODE", "REGIONS", "CLIENTS", "BYTES",
	"HUGEPAGES", "DENIALS", "CONNECTIONS",
};

static int
tenant_row(struct table *t, const Shmbroker__TenantInfo *ti)
{
	char match[48], mode[8], regions[32], clients[32], bytes[40];
	char huge[48], denials[24], conns[32];

	tenant_match(ti, match, sizeof(match));
	snprintf(mode, sizeof(mode), "%04o", ti->mode);
	format_used_max(ti->regions, ti->max_regions, regions,
	    sizeof(regions));
	format_used_max(ti->clients, ti->max_clients, clients,
	    sizeof(clients));
	format_used_max_size(ti->bytes, ti->max_bytes, bytes, sizeof(bytes));
	format_used_max(ti->hugepages, ti->max_hugepages, huge, sizeof(huge));
	snprintf(denials, sizeof(denials), "%" PRIu64, ti->denials);
	format_used_max(ti->connections, ti->max_connections, conns,
	    sizeof(conns));
	return table_add(t, (const char *const[]){ ti->name, match,
	    ti->prefix[0] != '\0' ? ti->prefix : "-", mode, regions, clients,
	    bytes, huge, denials, conns });
}

int
print_tenants(const Shmbroker__AdminTenantsReply *r, bool json)
{
	struct jw w = { .f = stdout };
	struct table t;
	int ex = EX_OK;

	if (json) {
		jw_open(&w, NULL, '[');
		for (size_t i = 0; i < r->n_tenants; i++)
			tenant_json(&w, r->tenants[i]);
		jw_close(&w, ']');
		putchar('\n');
		return EX_OK;
	}
	if (r->n_tenants == 0) {
		puts("no tenants");
		return EX_OK;
	}
	table_init(&t, tenants_head, 10, 0x3f0);
	for (size_t i = 0; i < r->n_tenants && ex == EX_OK; i++)
		if (tenant_row(&t, r->tenants[i]) < 0)
			ex = EX_OSERR;
	return table_done(&t, ex);
}

/* ---- reload, watch ---- */

void
print_reloaded(bool json)
{
	if (json)
		puts("{\"reloaded\":true}");
	else
		puts("configuration reloaded");
}

void
print_event(const struct shmc_event *ev, bool json)
{
	struct jw w = { .f = stdout };
	char when[64], idx[12];
	char *region;

	if (json) {
		jw_open(&w, NULL, '{');
		jw_str(&w, "kind", ev->admin_kind);
		jw_str(&w, "region", ev->region);
		jw_i64(&w, "index", ev->admin_index);
		jw_u64(&w, "active_mask", ev->active_mask);
		jw_u64(&w, "connection_id", ev->connection_id);
		jw_u64(&w, "time_ms", ev->time_ms);
		jw_close(&w, '}');
		putchar('\n');
		return;
	}
	format_time_ms(ev->time_ms, when, sizeof(when));
	if (ev->admin_index >= 0)
		snprintf(idx, sizeof(idx), "%d", ev->admin_index);
	else
		snprintf(idx, sizeof(idx), "-");
	region = printable_dup(ev->region);
	printf("%s.%03u  %-8s %-12s index %-2s active 0x%04x conn %" PRIu64
	    "\n", when, (unsigned)(ev->time_ms % 1000), ev->admin_kind,
	    region != NULL ? region : "?", idx, ev->active_mask,
	    ev->connection_id);
	free(region);
}
