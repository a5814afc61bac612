/* SPDX-License-Identifier: ISC */
/*
 * shmctl_metrics: the Prometheus text format of `shmctl metrics` (see
 * shmctl_metrics.h). Every family gets its HELP and TYPE lines before its
 * samples, all samples of a family are together, every name starts with
 * shmbroker_, counters end in _total, and label values are escaped.
 */
#include <inttypes.h>
#include <stdio.h>

#include "shmctl_metrics.h"
#include "shmctl_output.h"
#include "wire.h"

/* The GuestStatus values this shmctl knows by name. */
#define METRICS_NSTATUS (SHMBROKER__GUEST_STATUS__GSS_DOES_NOT_EXIST + 1)

static void
metrics_family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP shmbroker_%s %s\n# TYPE shmbroker_%s %s\n", name,
	    help, name, type);
}

static void
metrics_sample(FILE *f, const char *name, uint64_t v)
{
	fprintf(f, "shmbroker_%s %" PRIu64 "\n", name, v);
}

static void
metrics_sample_label(FILE *f, const char *name, const char *label,
    const char *value, uint64_t v)
{
	fprintf(f, "shmbroker_%s{%s=", name, label);
	prom_label_value(f, value);
	fprintf(f, "} %" PRIu64 "\n", v);
}

static void
metrics_gauge(FILE *f, const char *name, const char *help, uint64_t v)
{
	metrics_family(f, name, "gauge", help);
	metrics_sample(f, name, v);
}

static void
metrics_counter(FILE *f, const char *name, const char *help, uint64_t v)
{
	metrics_family(f, name, "counter", help);
	metrics_sample(f, name, v);
}

static void
metrics_status(FILE *f, const Shmbroker__AdminStatusReply *st)
{
	metrics_family(f, "info", "gauge", "The daemon's version and hugepage "
	    "policy (always 1).");
	fprintf(f, "shmbroker_info{server=");
	prom_label_value(f, st->server);
	fprintf(f, ",hugepage_policy=");
	prom_label_value(f, st->hugepage_policy);
	fprintf(f, "} 1\n");
	metrics_family(f, "uptime_seconds", "gauge", "Seconds since the daemon "
	    "started.");
	fprintf(f, "shmbroker_uptime_seconds %" PRIu64 ".%03u\n",
	    st->uptime_ms / 1000, (unsigned)(st->uptime_ms % 1000));
	metrics_gauge(f, "regions", "Regions the daemon holds.", st->regions);
	metrics_gauge(f, "clients", "Clients attached to regions.",
	    st->clients);
	metrics_gauge(f, "connections", "Open connections, VMM and admin.",
	    st->connections);
	metrics_family(f, "region_bytes", "gauge", "Bytes of region memory, by "
	    "backing.");
	metrics_sample_label(f, "region_bytes", "backing", "shmem",
	    st->bytes_shmem);
	metrics_sample_label(f, "region_bytes", "backing", "hugetlb",
	    st->bytes_hugetlb);
	metrics_gauge(f, "hugepages_free", "Free hugepages in the kernel's "
	    "pool.", st->hugepages_free);
	metrics_gauge(f, "fd_limit", "The daemon's limit of open files.",
	    st->fd_limit);
}

static void
metrics_results(FILE *f, const Shmbroker__AdminStatsReply *s)
{
	char other[24];
	size_t n = s->n_status_counts;

	metrics_family(f, "attach_results_total", "counter", "Attaches (create "
	    "or find) by their result, a GuestStatus.");
	for (size_t i = 0; i < (n > METRICS_NSTATUS ? n : METRICS_NSTATUS);
	    i++) {
		snprintf(other, sizeof(other), "%zu", i);
		metrics_sample_label(f, "attach_results_total", "status",
		    i < METRICS_NSTATUS ? wire_status_name((int)i) : other,
		    i < n ? s->status_counts[i] : 0);
	}
}

/* What untrusted peers ran into: docs/DESIGN.md, "Limits". */
static void
metrics_limits(FILE *f, const Shmbroker__AdminStatsReply *s)
{
	const struct {
		const char *limit;
		uint64_t v;
	} refused[] = {
		{ "max_connections", s->refused_max_connections },
		{ "max_regions", s->refused_max_regions },
		{ "max_clients", s->refused_max_clients },
		{ "max_bytes", s->refused_max_bytes },
		{ "max_clients_per_connection",
		    s->refused_max_clients_per_connection },
		{ "tenant_max_connections",
		    s->refused_tenant_max_connections },
		{ "max_hugepages", s->refused_max_hugepages },
		{ "max_region_size", s->refused_max_region_size },
		{ "fd_store_max", s->refused_fd_store_max },
	};

	metrics_counter(f, "datagrams_oversized_total", "Requests over the "
	    "largest datagram (max_message bytes), refused.",
	    s->datagrams_oversized);
	metrics_counter(f, "datagrams_with_fds_total", "Requests that carried "
	    "file descriptors, refused and the descriptors closed.",
	    s->datagrams_with_fds);
	metrics_counter(f, "reads_paused_total", "Times a connection's "
	    "requests waited because it did not read its replies.",
	    s->reads_paused);
	metrics_family(f, "limit_refusals_total", "counter", "Connections, "
	    "creates and attaches refused at a limit, by the limit.");
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		metrics_sample_label(f, "limit_refusals_total", "limit",
		    refused[i].limit, refused[i].v);
	metrics_counter(f, "ivshmem_dropped_total", "QEMUs let go for not "
	    "reading what the daemon sends them.", s->ivshmem_dropped);
	metrics_counter(f, "kept_indices_given_total", "Indices a restart "
	    "kept for clients not back yet, given to new attaches when no "
	    "other was free.", s->kept_indices_given);
	metrics_counter(f, "inflight_waits_total", "Messages with fds that "
	    "waited for their peer to read the fds it already held.",
	    s->inflight_waits);
	metrics_gauge(f, "fds_in_flight", "Fds sent to peers that they may "
	    "not have read yet (the kernel counts them against the daemon's "
	    "descriptor limit).", s->fds_in_flight);
	metrics_gauge(f, "drains", "Closed connections kept because their "
	    "peers hold fds unread.", s->drains);
}

static void
metrics_stats(FILE *f, const Shmbroker__AdminStatsReply *s)
{
	metrics_counter(f, "connections_total", "Connections accepted.",
	    s->connections_total);
	metrics_counter(f, "attaches_total", "Successful attaches, creating or "
	    "not.", s->attaches);
	metrics_counter(f, "creates_total", "Regions created.", s->creates);
	metrics_counter(f, "detaches_total", "Clients detached.", s->detaches);
	metrics_counter(f, "notifications_total", "Notifications delivered.",
	    s->notifications);
	metrics_counter(f, "denials_total", "Requests refused by tenant rules, "
	    "modes or sockets.", s->denials);
	metrics_counter(f, "refused_connections_total", "Connections closed at "
	    "once: no tenant matched, or not an admin on the admin socket.",
	    s->refused_connections);
	metrics_counter(f, "ivshmem_joins_total", "QEMUs that joined a region "
	    "through an ivshmem export.", s->ivshmem_joins);
	metrics_counter(f, "ivshmem_refused_total", "QEMUs let go before they "
	    "got the memory: tenancy, quotas or a full region.",
	    s->ivshmem_refused);
	metrics_counter(f, "ivshmem_relayed_total", "QEMU doorbells the daemon "
	    "passed on to a member without ivshmem vectors.",
	    s->ivshmem_relayed);
	metrics_counter(f, "bad_requests_total", "Malformed or unknown "
	    "requests.", s->bad_requests);
	metrics_counter(f, "regions_destroyed_total", "Regions destroyed.",
	    s->regions_destroyed);
	metrics_counter(f, "events_dropped_connections_total", "Connections "
	    "dropped for not reading their events.",
	    s->events_dropped_connections);
	metrics_results(f, s);
	metrics_limits(f, s);
}

/* Which TenantInfo figure a per-tenant family shows. */
enum tenant_figure {
	TF_REGIONS, TF_CLIENTS, TF_BYTES, TF_HUGEPAGES, TF_CONNECTIONS,
	TF_DENIALS,
};

static const struct {
	const char *name, *type, *help;
} tenant_families[] = {
	[TF_REGIONS] = { "tenant_regions", "gauge",
	    "Regions charged to the tenant." },
	[TF_CLIENTS] = { "tenant_clients", "gauge",
	    "Clients of the tenant's connections." },
	[TF_BYTES] = { "tenant_bytes", "gauge",
	    "Bytes of region memory charged to the tenant." },
	[TF_HUGEPAGES] = { "tenant_hugepages", "gauge",
	    "Hugepages charged to the tenant." },
	[TF_CONNECTIONS] = { "tenant_connections", "gauge",
	    "VMM and QEMU connections of the tenant (closed ones whose "
	    "peers hold fds unread included)." },
	[TF_DENIALS] = { "tenant_denials_total", "counter",
	    "Requests of the tenant refused by its rules or modes." },
};

static uint64_t
metrics_tenant_value(const Shmbroker__TenantInfo *t, enum tenant_figure fig)
{
	switch (fig) {
	case TF_REGIONS:	return t->regions;
	case TF_CLIENTS:	return t->clients;
	case TF_BYTES:		return t->bytes;
	case TF_HUGEPAGES:	return t->hugepages;
	case TF_CONNECTIONS:	return t->connections;
	case TF_DENIALS:	return t->denials;
	}
	return 0;
}

/* Limits only for tenants that have one: a missing series is "no limit",
 * where a 0 would read as "nothing allowed". */
static void
metrics_tenant_limits(FILE *f, const Shmbroker__AdminTenantsReply *r)
{
	static const char *const names[] = {
		"tenant_regions_limit", "tenant_clients_limit",
		"tenant_bytes_limit", "tenant_hugepages_limit",
		"tenant_connections_limit",
	};

	for (size_t k = 0; k < 5; k++) {
		metrics_family(f, names[k], "gauge", "The tenant's quota, when "
		    "it has one.");
		for (size_t i = 0; i < r->n_tenants; i++) {
			const Shmbroker__TenantInfo *t = r->tenants[i];
			uint64_t max = k == 0 ? t->max_regions : k == 1 ?
			    t->max_clients : k == 2 ? t->max_bytes :
			    k == 3 ? t->max_hugepages : t->max_connections;

			if (max != 0)
				metrics_sample_label(f, names[k], "tenant",
				    t->name, max);
		}
	}
}

static void
metrics_tenants(FILE *f, const Shmbroker__AdminTenantsReply *r)
{
	for (size_t k = 0; k < sizeof(tenant_families) /
	    sizeof(tenant_families[0]); k++) {
		metrics_family(f, tenant_families[k].name,
		    tenant_families[k].type, tenant_families[k].help);
		for (size_t i = 0; i < r->n_tenants; i++)
			metrics_sample_label(f, tenant_families[k].name,
			    "tenant", r->tenants[i]->name,
			    metrics_tenant_value(r->tenants[i],
			    (enum tenant_figure)k));
	}
	metrics_tenant_limits(f, r);
}

void
print_metrics(FILE *f, const Shmbroker__AdminStatusReply *st,
    const Shmbroker__AdminStatsReply *stats,
    const Shmbroker__AdminTenantsReply *tenants)
{
	metrics_status(f, st);
	metrics_stats(f, stats);
	metrics_tenants(f, tenants);
}
