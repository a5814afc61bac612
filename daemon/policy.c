/* SPDX-License-Identifier: ISC */
/*
 * policy: the daemon's use of tenants (tenant.c has the rules themselves).
 * Which tenant a connection is, and again after every reload; who may use
 * the admin socket; whose prefix a name lies in; whether the daemon sees
 * its peers' real credentials at all; and each tenant's usage (charged
 * by region.c; its connections here), so that quotas hold and `shmctl
 * tenants` can show them.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"

/* With no [tenant] in the configuration everyone is this one tenant, with
 * no rules, no quotas, and regions anyone may attach. */
int
policy_init(struct broker *b)
{
	LIST_INIT(&b->usages);
	tenant_init(&b->open_tenant, "default", 0666);
	return tenant_attach_usage(&b->open_tenant, &b->usages);
}

struct tenant *
policy_tenant_for(struct broker *b, const struct ucred *cred)
{
	struct broker_config *cfg = &b->cfg;
	struct tenant *dflt = NULL;

	if (cfg->open_tenancy)
		return &b->open_tenant;
	for (size_t i = 0; i < cfg->ntenants && cfg->default_tenant; i++)
		if (strcmp(cfg->tenants[i].name, cfg->default_tenant) == 0)
			dflt = &cfg->tenants[i];
	return tenant_match(cfg->tenants, cfg->ntenants, dflt, cred->uid,
	    cred->gid);
}

static bool
policy_is_admin(const struct broker *b, const struct ucred *cred)
{
	return cred->uid == 0 || cred->uid == geteuid() ||
	    (b->cfg.has_admin_group && cred->gid == b->cfg.admin_group);
}

/* Decides what a new or reloaded connection is; sets c->refusal when it
 * may not be served. */
void
policy_classify(struct broker *b, struct conn *c)
{
	c->refusal = NULL;
	if (c->kind == CONN_ADMIN) {
		/* An admin may also attach, free of any tenant's rules. */
		c->tenant = &b->open_tenant;
		if (!policy_is_admin(b, &c->cred))
			c->refusal = "the admin socket is for root, the daemon's "
			    "user and admin_group only";
		return;
	}
	c->tenant = policy_tenant_for(b, &c->cred);
	if (c->tenant == NULL)
		c->refusal = "no tenant matches this connection's uid and gid, "
		    "and no default_tenant is configured";
}

struct tenant *
policy_name_owner(struct broker *b, const char *key)
{
	for (size_t i = 0; i < b->cfg.ntenants; i++)
		if (tenant_owns_name(&b->cfg.tenants[i], key))
			return &b->cfg.tenants[i];
	return NULL;
}

/* 1 when the map file (/proc/self/uid_map or gid_map) is the identity,
 * the whole id range mapped to itself; 0 when not; -errno. */
static int
policy_identity_map(const char *path)
{
	unsigned long long inside, outside, count, more;
	FILE *f = fopen(path, "re");
	int n, extra;

	if (f == NULL)
		return errno == ENOENT ? 1 : -errno;	/* no user namespaces */
	n = fscanf(f, "%llu %llu %llu", &inside, &outside, &count);
	extra = fscanf(f, "%llu", &more);
	fclose(f);
	return n == 3 && extra != 1 && inside == 0 && outside == 0 &&
	    count == 4294967295ULL;
}

int
policy_check_credentials(const struct broker_config *cfg, char *err,
    size_t errlen)
{
	int uids, gids;

	if (cfg->ntenants == 0 && !cfg->has_admin_group)
		return 0;
	uids = policy_identity_map("/proc/self/uid_map");
	gids = policy_identity_map("/proc/self/gid_map");
	if (uids == 1 && gids == 1)
		return 0;
	snprintf(err, errlen, "tenants and admin_group need the real uid and "
	    "gid of every peer, but this daemon runs in a user namespace "
	    "whose uid_map or gid_map is not the identity (PrivateUsers=?), "
	    "where peers of other users all look like 65534: refusing to "
	    "run with tenants");
	return -EPERM;
}

/* The usage that should count c now: its tenant's, for a VMM connection
 * that is served. */
static struct tenant_usage *
policy_conn_usage(const struct conn *c)
{
	return c->kind == CONN_VMM && c->refusal == NULL && c->tenant != NULL ?
	    c->tenant->usage : NULL;
}

/* c counts in u's connections from now (NULL: in none). */
static void
policy_count_connection(struct conn *c, struct tenant_usage *u)
{
	if (c->conn_usage != NULL)
		c->conn_usage->connections--;
	if (u != NULL)
		u->connections++;
	c->conn_usage = u;
}

int
policy_connection_admit(struct broker *b, struct conn *c)
{
	if (c->kind == CONN_VMM && c->tenant != NULL &&
	    !tenant_connection_room(c->tenant)) {
		b->stats.refused[LIMIT_TENANT_CONNECTIONS]++;
		return -EDQUOT;
	}
	policy_count_connection(c, policy_conn_usage(c));
	return 0;
}

void
policy_connection_gone(struct conn *c)
{
	/* The pointer stays: a drain made of c counts in it again. */
	if (c->conn_usage != NULL)
		c->conn_usage->connections--;
}

int
policy_attach_usages(struct broker *b, struct broker_config *cfg)
{
	for (size_t i = 0; i < cfg->ntenants; i++)
		if (tenant_attach_usage(&cfg->tenants[i], &b->usages) < 0)
			return -ENOMEM;
	return 0;
}

/*
 * After a reload: connections find their tenant. A connection moves to
 * its new tenant's count even past that tenant's max_connections: a
 * limit applies to new connections only, and a reload that lowers it
 * closes none. A refused connection is told at its next request; one
 * that only watches makes none, and would go on hearing of every
 * tenant's regions: it goes now.
 */
void
policy_reload(struct broker *b)
{
	struct conn *c, *next;

	for (c = TAILQ_FIRST(&b->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		policy_classify(b, c);
		policy_count_connection(c, policy_conn_usage(c));
		if (c->watching && c->refusal != NULL)
			conn_kill(c, c->refusal);
	}
}

void
policy_deny(struct broker *b, struct tenant *t)
{
	b->stats.denials++;
	if (t != NULL && t->usage != NULL)
		t->usage->denials++;
}

int
policy_quota(struct broker *b, const struct tenant *t, uint32_t regions,
    uint32_t clients, uint64_t bytes, uint64_t hugepages, const char **why)
{
	static const enum broker_limit limit[] = {
		[TENANT_QUOTA_REGIONS] = LIMIT_MAX_REGIONS,
		[TENANT_QUOTA_CLIENTS] = LIMIT_MAX_CLIENTS,
		[TENANT_QUOTA_BYTES] = LIMIT_MAX_BYTES,
		[TENANT_QUOTA_HUGEPAGES] = LIMIT_MAX_HUGEPAGES,
	};
	enum tenant_quota q;

	if (t == NULL || (q = tenant_quota_exceeded(t, regions, clients,
	    bytes, hugepages, why)) == TENANT_QUOTA_NONE)
		return 0;
	b->stats.refused[limit[q]]++;
	return -EDQUOT;
}

struct tenant_usage *
policy_usage(struct broker *b, const char *tenant)
{
	struct tenant t;

	tenant_init(&t, tenant, 0);
	return tenant_attach_usage(&t, &b->usages) < 0 ? NULL : t.usage;
}

/*
 * The name by which t's guests reach g, or NULL (with *why) when they
 * reach it by none: never inside another tenant's prefix; inside t's own,
 * the name after the prefix; outside every prefix, the region's own name,
 * and for a tenant with a prefix only a region an admin or the
 * configuration made (guests' regions never serve across tenants, so no
 * tenant can plant one). The open tenant (open tenancy, and every admin)
 * is bound by no prefix.
 */
static const char *
policy_reach_name(struct broker *b, const struct tenant *t,
    const struct region *g, const char **why)
{
	struct tenant *owner;

	if (t == &b->open_tenant)
		return g->name;
	owner = policy_name_owner(b, g->name);
	if (owner != NULL && owner != t) {
		*why = "the region lies inside another tenant's prefix";
		return NULL;
	}
	if (owner == t)
		return g->name + strlen(t->prefix);
	if (t->prefix[0] != '\0' && g->origin == ORIGIN_GUEST) {
		*why = "the region is another tenant's guest region";
		return NULL;
	}
	return g->name;
}

enum tenant_access
policy_join_access(struct broker *b, const struct tenant *t,
    const struct ucred *cred, const struct region *g, const char **name,
    const char **why)
{
	const char *reach = policy_reach_name(b, t, g, why);
	enum tenant_access rule, mode;

	if (name != NULL)
		*name = reach;
	if (reach == NULL)
		return TENANT_ACCESS_NONE;
	if ((rule = tenant_name_access(t, reach)) == TENANT_ACCESS_NONE) {
		*why = "the tenant's allow/deny rules refuse this name";
		return TENANT_ACCESS_NONE;
	}
	mode = tenant_region_access(g, cred->uid, cred->gid);
	if (mode == TENANT_ACCESS_NONE) {
		*why = "the region's mode does not let this tenant attach";
		return TENANT_ACCESS_NONE;
	}
	return rule < mode ? rule : mode;
}

/*
 * A QEMU on an ivshmem export names its region by the region itself and
 * gets what a VMM of its tenant attaching it would (policy_join_access).
 * It is sent the region's own memfd and maps it for writing (an ivshmem
 * device has no read-only mode), so it must be let write: where the rules
 * or the mode let it only read, it is refused.
 */
enum guest_shm_status
policy_may_join(struct broker *b, struct tenant *t, const struct ucred *cred,
    const struct region *g, const char **why)
{
	enum tenant_access access = policy_join_access(b, t, cred, g, NULL,
	    why);

	if (access == TENANT_ACCESS_RW)
		return GSS_OK;
	if (access == TENANT_ACCESS_RO)
		*why = "the tenant may only read this region (its mode, or an "
		    "allow_ro rule), and an ivshmem device maps it for writing";
	policy_deny(b, t);
	return GSS_NO_PERMISSION;
}
