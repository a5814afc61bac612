/* SPDX-License-Identifier: ISC */
/*
 * config_sections: the [region NAME] and [tenant NAME] sections of the
 * configuration file, and the checks that need the whole file: a region
 * or tenant given twice, a tenant that no connection can match or that
 * matches the same connections as another, prefixes that overlap, rules
 * that can never match (a warning), and whether the file says who is
 * served at all. Everything is linear in the size of the file, or
 * n log n for the regions, so a large file cannot stall the daemon.
 *
 *   [region NAME]                 ; created at start, lives until destroyed;
 *   size = 64M                    ; NAME: 1 to 63 printable characters
 *   mode = 0666                   ; who else may attach (r: read, w: write)
 *   group = GROUP
 *   backing = auto                ; hugetlb | shmem | auto
 *   ivshmem = /run/shmbroker/ivshmem/NAME.sock  ; served to QEMU there
 *   ivshmem_vectors = 1           ; 1 to 16
 *
 *   [tenant NAME]                 ; see tenant.h
 *   uid = USER                    ; and/or gid = GROUP
 *   prefix = acme/
 *   allow = pattern, ...          ; deny = ..., allow_ro = ... (read only)
 *   max_regions = N               ; max_clients, max_bytes, max_hugepages,
 *                                 ; max_connections
 *   mode = 0600                   ; group = GROUP
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "inifile.h"
#include "ivshmem_proto.h"
#include "units.h"

/* Room for one more entry of size esize in *arr, doubling. */
static int
config_grow(void **arr, size_t n, size_t *cap, size_t esize)
{
	void *p;
	size_t want;

	if (n < *cap)
		return 0;
	want = *cap == 0 ? 16 : *cap * 2;
	if ((p = reallocarray(*arr, want, esize)) == NULL)
		return -ENOMEM;
	*arr = p;
	*cap = want;
	return 0;
}

static const char *
config_skip_blanks(const char *s)
{
	return s + strspn(s, " \t");
}

int
config_region_begin(struct config_parse *p, const char *name, int line,
    char *why, size_t whylen)
{
	struct broker_config *cfg = p->cfg;
	struct config_region *r;
	char esc[160];

	name = config_skip_blanks(name);
	if (registry_check_key(name) != GSS_OK) {
		snprintf(why, whylen, "[region %s]: region names are 1 to %d "
		    "printable ASCII characters", inifile_escape(esc,
		    sizeof(esc), name), REGION_KEY_MAX - 1);
		return -EINVAL;
	}
	if (config_grow((void **)&cfg->regions, cfg->nregions,
	    &cfg->regions_cap, sizeof(*r)) < 0) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	r = &cfg->regions[cfg->nregions];
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->mode = 0666;
	r->hugepages = -1;
	r->ivshmem_vectors = 1;
	r->line = line;
	p->cur = cfg->nregions++;
	p->section = SECTION_REGION;
	return 0;
}

enum region_key { RK_SIZE, RK_MODE, RK_GROUP, RK_BACKING, RK_IVSHMEM,
    RK_IVSHMEM_VECTORS };
static const char *const config_region_keys[] = { "size", "mode", "group",
    "backing", "ivshmem", "ivshmem_vectors", NULL };

static int
config_region_ivshmem(struct config_region *r, enum region_key k,
    const char *v, const char **why)
{
	uint32_t n;

	if (k == RK_IVSHMEM_VECTORS) {
		*why = "ivshmem_vectors must be a number from 1 to 16";
		if (config_parse_u32(v, &n) < 0 ||
		    ivshmem_check_vectors(n, why) < 0)
			return -EINVAL;
		r->ivshmem_vectors = n;
		return 0;
	}
	if (ivshmem_check_path(v, why) < 0)
		return -EINVAL;
	free(r->ivshmem);
	if ((r->ivshmem = strdup(v)) == NULL) {
		*why = "out of memory";
		return -ENOMEM;
	}
	return 0;
}

static int
config_region_set(struct config_region *r, enum region_key k, const char *v,
    const char **why)
{
	unsigned gid;

	switch (k) {
	case RK_SIZE:
		*why = "size must be a size such as 4096, 2M or 1G";
		return config_parse_pages(v, &r->size_pages);
	case RK_MODE:
		*why = "mode must be octal, at most 0777";
		return config_parse_mode(v, &r->mode);
	case RK_GROUP:
		*why = "group must be a gid or a group name";
		if (config_parse_id(v, true, &gid) < 0)
			return -EINVAL;
		r->has_group = true;
		r->group = gid;
		return 0;
	case RK_IVSHMEM:
	case RK_IVSHMEM_VECTORS:
		return config_region_ivshmem(r, k, v, why);
	default:
		*why = "backing must be hugetlb, shmem or auto";
		r->hugepages = strcmp(v, "hugetlb") == 0 ? HUGEPAGES_REQUIRE :
		    strcmp(v, "shmem") == 0 ? HUGEPAGES_NEVER :
		    strcmp(v, "auto") == 0 ? -1 : -2;
		return r->hugepages == -2 ? -1 : 0;
	}
}

int
config_region_key(struct config_parse *p, const char *key, const char *v,
    int line, char *why, size_t whylen)
{
	struct config_region *r = &p->cfg->regions[p->cur];
	char label[REGION_KEY_MAX + 8];
	const char *reason;
	int k;

	snprintf(label, sizeof(label), "region %s", r->name);
	if ((k = config_section_key(p, config_region_keys, "region", label, 0,
	    key, why, whylen)) < 0)
		return k;
	if (config_region_set(r, (enum region_key)k, v, &reason) < 0)
		return config_bad_value(why, whylen, label, key, v, reason);
	if (k == RK_IVSHMEM)
		r->ivshmem_line = line;	/* where an export that fails is */
	return 0;
}

int
config_tenant_begin(struct config_parse *p, const char *name, int line,
    char *why, size_t whylen)
{
	struct broker_config *cfg = p->cfg;
	char esc[160];

	name = config_skip_blanks(name);
	if (*name == '\0' || strlen(name) >= TENANT_NAME_MAX ||
	    registry_check_key(name) != GSS_OK) {
		snprintf(why, whylen, "[tenant %s]: tenant names are 1 to %d "
		    "printable ASCII characters", inifile_escape(esc,
		    sizeof(esc), name), TENANT_NAME_MAX - 1);
		return -EINVAL;
	}
	for (size_t i = 0; i < cfg->ntenants; i++) {
		if (strcmp(cfg->tenants[i].name, name) == 0) {
			snprintf(why, whylen, "a second [tenant %s] (the first "
			    "is at line %d)", name, cfg->tenants[i].line);
			return -EINVAL;
		}
	}
	if (cfg->ntenants == CONFIG_MAX_TENANTS) {
		snprintf(why, whylen, "more than %d tenants",
		    CONFIG_MAX_TENANTS);
		return -EINVAL;
	}
	if (config_grow((void **)&cfg->tenants, cfg->ntenants,
	    &cfg->tenants_cap, sizeof(*cfg->tenants)) < 0) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	/* Only the owner by default: sharing across tenants is opted into. */
	tenant_init(&cfg->tenants[cfg->ntenants], name, 0600);
	cfg->tenants[cfg->ntenants].line = line;
	p->cur = cfg->ntenants++;
	p->section = SECTION_TENANT;
	return 0;
}

enum tenant_key { TK_UID, TK_GID, TK_GROUP, TK_PREFIX, TK_ALLOW, TK_DENY,
    TK_MODE, TK_MAX_REGIONS, TK_MAX_CLIENTS, TK_MAX_BYTES, TK_MAX_HUGEPAGES,
    TK_ALLOW_RO, TK_MAX_CONNECTIONS };
static const char *const config_tenant_keys[] = { "uid", "gid", "group",
    "prefix", "allow", "deny", "mode", "max_regions", "max_clients",
    "max_bytes", "max_hugepages", "allow_ro", "max_connections", NULL };

static int
config_tenant_id(struct tenant *t, enum tenant_key k, const char *v,
    const char **why)
{
	unsigned id;

	*why = k == TK_UID ? "uid must be a uid or a user name" :
	    "must be a gid or a group name";
	if (config_parse_id(v, k != TK_UID, &id) < 0)
		return -EINVAL;
	if (k == TK_UID) {
		t->match_uid = true;
		t->uid = id;
	} else if (k == TK_GID) {
		t->match_gid = true;
		t->gid = id;
	} else {
		t->has_group = true;
		t->group = id;
	}
	return 0;
}

static int
config_tenant_limit(struct tenant *t, enum tenant_key k, const char *v,
    const char **why)
{
	uint64_t bytes;
	uint32_t n;

	*why = "limits must be whole numbers from 1 to 4294967295";
	if (k == TK_MAX_REGIONS)
		return config_parse_u32(v, &t->max_regions);
	if (k == TK_MAX_CLIENTS)
		return config_parse_u32(v, &t->max_clients);
	if (k == TK_MAX_CONNECTIONS)
		return config_parse_u32(v, &t->max_connections);
	if (k == TK_MAX_HUGEPAGES) {
		if (config_parse_u32(v, &n) < 0)
			return -EINVAL;
		t->max_hugepages = n;
		return 0;
	}
	*why = "max_bytes must be a size such as 512M or 4G";
	if (units_parse_size(v, &bytes) < 0 || bytes == 0)
		return -EINVAL;
	t->max_bytes = bytes;
	return 0;
}

static int
config_tenant_set(struct tenant *t, enum tenant_key k, const char *v,
    int line, const char **why)
{
	size_t before = t->nrules;
	int n;

	switch (k) {
	case TK_UID: case TK_GID: case TK_GROUP:
		return config_tenant_id(t, k, v, why);
	case TK_PREFIX:
		*why = "prefix must be 1 to 31 printable ASCII characters";
		if (strlen(v) >= TENANT_PREFIX_MAX ||
		    registry_check_key(v) != GSS_OK)
			return -EINVAL;
		snprintf(t->prefix, sizeof(t->prefix), "%s", v);
		return 0;
	case TK_ALLOW: case TK_DENY: case TK_ALLOW_RO:
		*why = "at most 32 patterns of at most 63 characters";
		if ((n = k == TK_ALLOW_RO ? tenant_add_ro_rules(t, v) :
		    tenant_add_rules(t, k == TK_ALLOW, v)) == -EDOM)
			*why = "a pattern with a blank or a byte that is not "
			    "printable matches no region name; separate "
			    "patterns with commas (after a value only ' ;' "
			    "starts a comment, not '#')";
		if (n < 0)
			return -EINVAL;
		for (size_t i = before; i < t->nrules; i++)
			t->rules[i].line = line;
		return 0;
	case TK_MODE:
		*why = "mode must be octal, at most 0777";
		return config_parse_mode(v, &t->mode);
	default:
		return config_tenant_limit(t, k, v, why);
	}
}

int
config_tenant_key(struct config_parse *p, const char *key, const char *v,
    int line, char *why, size_t whylen)
{
	struct tenant *t = &p->cfg->tenants[p->cur];
	char label[TENANT_NAME_MAX + 8];
	const char *reason;
	int k;

	snprintf(label, sizeof(label), "tenant %s", t->name);
	/* allow, deny and allow_ro add to the list, in the order written. */
	if ((k = config_section_key(p, config_tenant_keys, "tenant", label,
	    1u << TK_ALLOW | 1u << TK_DENY | 1u << TK_ALLOW_RO, key, why,
	    whylen)) < 0)
		return k;
	if (config_tenant_set(t, (enum tenant_key)k, v, line, &reason) < 0)
		return config_bad_value(why, whylen, label, key, v, reason);
	return 0;
}

static int
config_region_cmp(const void *a, const void *b)
{
	const struct config_region *const *x = a, *const *y = b;
	int c = strcmp((*x)->name, (*y)->name);

	return c != 0 ? c : (*x)->line - (*y)->line;
}

/* Sorted by name, a region given twice sits next to its twin. */
static int
config_check_twins(struct config_parse *p, char *err, size_t errlen)
{
	struct broker_config *cfg = p->cfg;
	struct config_region **v;
	int rc = 0;

	if (cfg->nregions < 2)
		return 0;
	if ((v = calloc(cfg->nregions, sizeof(*v))) == NULL) {
		snprintf(err, errlen, "%s: out of memory", p->path);
		return -ENOMEM;
	}
	for (size_t i = 0; i < cfg->nregions; i++)
		v[i] = &cfg->regions[i];
	qsort(v, cfg->nregions, sizeof(*v), config_region_cmp);
	for (size_t i = 1; i < cfg->nregions && rc == 0; i++) {
		if (strcmp(v[i - 1]->name, v[i]->name) != 0)
			continue;
		snprintf(err, errlen, "%s:%d: a second [region %s] (the first "
		    "is at line %d)", p->path, v[i]->line, v[i]->name,
		    v[i - 1]->line);
		rc = -1;
	}
	free(v);
	return rc;
}

int
config_check_regions(struct config_parse *p, char *err, size_t errlen)
{
	struct broker_config *cfg = p->cfg;

	if (cfg->nregions > cfg->max_regions) {
		snprintf(err, errlen, "%s: %zu [region] sections, more than "
		    "max_regions = %u", p->path, cfg->nregions,
		    cfg->max_regions);
		return -EINVAL;
	}
	for (size_t i = 0; i < cfg->nregions; i++) {
		const struct config_region *r = &cfg->regions[i];
		const char *bad = r->size_pages == 0 ? "has no size" :
		    r->size_pages > cfg->max_region_pages ? "is larger than "
		    "max_region_size" : NULL;

		if (bad != NULL) {
			snprintf(err, errlen, "%s:%d: [region %s] %s", p->path,
			    r->line, r->name, bad);
			return -EINVAL;
		}
		if (r->ivshmem != NULL && ivshmem_check_size((uint64_t)
		    r->size_pages * REGION_PAGE_SIZE, &bad) < 0) {
			snprintf(err, errlen, "%s:%d: [region %s] cannot be "
			    "exported to QEMU: %s", p->path, r->line,
			    r->name, bad);
			return -EINVAL;
		}
	}
	return config_check_twins(p, err, errlen);
}

/* Whether the file says who is served: tenants, or everyone. */
static int
config_check_tenancy(struct config_parse *p, char *err, size_t errlen)
{
	struct broker_config *cfg = p->cfg;

	if (cfg->ntenants > 0 && cfg->open_tenancy) {
		snprintf(err, errlen, "%s:%d: tenancy = open, but the file has "
		    "[tenant] sections (line %d): remove one or the other",
		    p->path, p->tenancy_line, cfg->tenants[0].line);
		return -EINVAL;
	}
	if (cfg->ntenants == 0 && !cfg->open_tenancy) {
		snprintf(err, errlen, "%s: no [tenant] section, and no "
		    "'tenancy = open' under [broker]: add [tenant] sections, or "
		    "write tenancy = open to serve every connection with no "
		    "rules, prefixes or quotas", p->path);
		return -EINVAL;
	}
	return 0;
}

/* Each connection belongs to exactly one tenant, and each name to at most
 * one tenant's prefix. */
static int
config_check_pair(struct config_parse *p, const struct tenant *a,
    const struct tenant *b, char *err, size_t errlen)
{
	if (tenant_specificity(a) > 0 && tenant_same_match(a, b)) {
		snprintf(err, errlen, "%s:%d: [tenant %s] matches the same uid "
		    "and gid as [tenant %s] (line %d): a connection must "
		    "belong to one tenant", p->path, b->line, b->name, a->name,
		    a->line);
		return -EINVAL;
	}
	if (tenant_prefixes_overlap(a, b)) {
		snprintf(err, errlen, "%s:%d: [tenant %s] prefix '%s' and "
		    "[tenant %s] prefix '%s' (line %d): one starts the other, "
		    "so one tenant's names would lie inside the other's",
		    p->path, b->line, b->name, b->prefix, a->name, a->prefix,
		    a->line);
		return -EINVAL;
	}
	return 0;
}

static int
config_warn_rules(struct config_parse *p, const struct tenant *t)
{
	for (size_t j = 1; j < t->nrules; j++) {
		const struct tenant_rule *r = &t->rules[j], *by;
		int i = tenant_rule_shadowed(t, j);

		if (i < 0)
			continue;
		by = &t->rules[i];
		if (config_warn(p->cfg, "%s:%d: [tenant %s] %s %s can never "
		    "match: %s %s (line %d) comes first and matches every name "
		    "it does (the first matching rule decides)", p->path,
		    r->line, t->name, tenant_rule_kind(r), r->pattern,
		    tenant_rule_kind(by), by->pattern, by->line) < 0)
			return -EINVAL;
	}
	return 0;
}

int
config_warn_tenant_limits(struct broker_config *cfg)
{
	for (size_t i = 0; i < cfg->ntenants; i++) {
		const struct tenant *t = &cfg->tenants[i];

		if (t->max_connections == 0 ||
		    t->max_connections < cfg->max_connections)
			continue;
		if (config_warn(cfg, "%s:%d: [tenant %s] max_connections = %u "
		    "is not below the daemon's max_connections (%u), so its "
		    "VMMs alone can still take every connection the daemon "
		    "accepts and lock everyone else out: lower it",
		    cfg->config_file, t->line,
		    t->name, t->max_connections, cfg->max_connections) < 0)
			return -ENOMEM;
	}
	return 0;
}

int
config_check_tenants(struct config_parse *p, char *err, size_t errlen)
{
	struct broker_config *cfg = p->cfg;
	const char *dflt = cfg->default_tenant;
	bool found = dflt == NULL;

	if (config_check_tenancy(p, err, errlen) < 0)
		return -EINVAL;
	for (size_t i = 0; i < cfg->ntenants; i++) {
		const struct tenant *t = &cfg->tenants[i];
		bool is_dflt = dflt != NULL && strcmp(t->name, dflt) == 0;

		found |= is_dflt;
		if (!is_dflt && tenant_specificity(t) == 0) {
			snprintf(err, errlen, "%s:%d: [tenant %s] names neither "
			    "uid nor gid, so no connection can match it (give "
			    "uid or gid, or make it the default_tenant)",
			    p->path, t->line, t->name);
			return -EINVAL;
		}
		for (size_t j = 0; j < i; j++)
			if (config_check_pair(p, &cfg->tenants[j], t, err,
			    errlen) < 0)
				return -EINVAL;
		if (config_warn_rules(p, t) < 0) {
			snprintf(err, errlen, "%s: out of memory", p->path);
			return -ENOMEM;
		}
	}
	if (!found) {
		snprintf(err, errlen, "%s: default_tenant = %s: no [tenant %s] "
		    "section", p->path, dflt, dflt);
		return -EINVAL;
	}
	return 0;
}
