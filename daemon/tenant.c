/* SPDX-License-Identifier: ISC */
/*
 * tenant: matching, name rules, prefixes, permissions and quotas (see
 * tenant.h).
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tenant.h"

void
tenant_init(struct tenant *t, const char *name, uint16_t mode)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->mode = mode;
}

int
tenant_attach_usage(struct tenant *t, struct tenant_usage_list *l)
{
	struct tenant_usage *u;

	LIST_FOREACH(u, l, entry) {
		if (strcmp(u->name, t->name) == 0) {
			t->usage = u;
			return 0;
		}
	}
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return -ENOMEM;
	snprintf(u->name, sizeof(u->name), "%s", t->name);
	LIST_INSERT_HEAD(l, u, entry);
	t->usage = u;
	return 0;
}

void
tenant_usage_free(struct tenant_usage_list *l)
{
	struct tenant_usage *u;

	while ((u = LIST_FIRST(l)) != NULL) {
		LIST_REMOVE(u, entry);
		free(u);
	}
}

int
tenant_specificity(const struct tenant *t)
{
	return (t->match_uid ? 2 : 0) + (t->match_gid ? 1 : 0);
}

struct tenant *
tenant_match(struct tenant *list, size_t n, struct tenant *dflt, uid_t uid,
    gid_t gid)
{
	struct tenant *best = NULL;

	for (size_t i = 0; i < n; i++) {
		struct tenant *t = &list[i];

		if (tenant_specificity(t) == 0 ||
		    (t->match_uid && t->uid != uid) ||
		    (t->match_gid && t->gid != gid))
			continue;
		if (best == NULL ||
		    tenant_specificity(t) > tenant_specificity(best))
			best = t;
	}
	return best != NULL ? best : dflt;
}

bool
tenant_same_match(const struct tenant *a, const struct tenant *b)
{
	return a->match_uid == b->match_uid && a->match_gid == b->match_gid &&
	    (!a->match_uid || a->uid == b->uid) &&
	    (!a->match_gid || a->gid == b->gid);
}

int
tenant_add_rules(struct tenant *t, bool allow, const char *list)
{
	const char *p = list;

	while (*p != '\0') {
		size_t len;

		p += strspn(p, " \t,");
		len = strcspn(p, ",");
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0)
			break;
		if (t->nrules == TENANT_RULES_MAX || len >= TENANT_PATTERN_MAX)
			return -EINVAL;
		/* A region name is printable and has no blank: a pattern
		 * with one (a comment after the value, say) matches nothing,
		 * and a deny that matches nothing is worse than an error. */
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)p[i] < 0x21 ||
			    (unsigned char)p[i] > 0x7e)
				return -EDOM;
		t->rules[t->nrules].allow = allow;
		memcpy(t->rules[t->nrules].pattern, p, len);
		t->rules[t->nrules].pattern[len] = '\0';
		t->nrules++;
		p += len;
		p += strcspn(p, ",");
	}
	return 0;
}

int
tenant_add_ro_rules(struct tenant *t, const char *list)
{
	size_t before = t->nrules;
	int err = tenant_add_rules(t, true, list);

	for (size_t i = before; i < t->nrules; i++)
		t->rules[i].read_only = true;
	return err;
}

const char *
tenant_rule_kind(const struct tenant_rule *r)
{
	return !r->allow ? "deny" : r->read_only ? "allow_ro" : "allow";
}

enum tenant_access
tenant_name_access(const struct tenant *t, const char *name)
{
	for (size_t i = 0; i < t->nrules; i++) {
		const struct tenant_rule *r = &t->rules[i];

		if (fnmatch(r->pattern, name, 0) != 0)
			continue;
		return !r->allow ? TENANT_ACCESS_NONE : r->read_only ?
		    TENANT_ACCESS_RO : TENANT_ACCESS_RW;
	}
	/* The implied last rule is the opposite of the last one written. */
	return t->nrules == 0 || !t->rules[t->nrules - 1].allow ?
	    TENANT_ACCESS_RW : TENANT_ACCESS_NONE;
}

bool
tenant_name_allowed(const struct tenant *t, const char *name)
{
	return tenant_name_access(t, name) != TENANT_ACCESS_NONE;
}

/* Does pattern i match every name that pattern j matches? Only decided
 * where i has no '?', '[' or '\\' and j no '[' or '\\': then each of j's
 * wildcards, read as text, can only be taken by one of i's '*', which takes
 * whatever the wildcard stands for as well. */
static bool
tenant_pattern_covers(const char *i, const char *j)
{
	if (strcmp(i, j) == 0)
		return true;
	if (strpbrk(i, "?[\\") != NULL || strpbrk(j, "[\\") != NULL)
		return false;
	return fnmatch(i, j, 0) == 0;
}

int
tenant_rule_shadowed(const struct tenant *t, size_t j)
{
	for (size_t i = 0; i < j && j < t->nrules; i++)
		if (tenant_pattern_covers(t->rules[i].pattern,
		    t->rules[j].pattern))
			return (int)i;
	return -1;
}

bool
tenant_owns_name(const struct tenant *t, const char *key)
{
	size_t n = strlen(t->prefix);

	return n > 0 && strncmp(key, t->prefix, n) == 0;
}

bool
tenant_prefixes_overlap(const struct tenant *a, const struct tenant *b)
{
	size_t na = strlen(a->prefix), nb = strlen(b->prefix);

	if (na == 0 || nb == 0)
		return false;
	return strncmp(a->prefix, b->prefix, na < nb ? na : nb) == 0;
}

int
tenant_region_name(const struct tenant *t, const char *name,
    char out[REGION_KEY_MAX])
{
	/* Every attach comes through here: no snprintf (a microsecond's
	 * share of an attach on this host). */
	size_t lp = strlen(t->prefix), ln = strlen(name);

	if (lp + ln >= REGION_KEY_MAX)
		return -ENAMETOOLONG;
	memcpy(out, t->prefix, lp);
	memcpy(out + lp, name, ln + 1);
	return 0;
}

enum tenant_access
tenant_region_access(const struct region *g, uid_t uid, gid_t gid)
{
	unsigned bits;

	if (uid == g->owner_uid)
		bits = g->mode >> 6;
	else if (g->has_group && gid == g->group)
		bits = g->mode >> 3;
	else
		bits = g->mode;
	if (!(bits & 04))
		return TENANT_ACCESS_NONE;
	return bits & 02 ? TENANT_ACCESS_RW : TENANT_ACCESS_RO;
}

bool
tenant_may_attach(const struct region *g, uid_t uid, gid_t gid)
{
	return tenant_region_access(g, uid, gid) != TENANT_ACCESS_NONE;
}

enum tenant_quota
tenant_quota_exceeded(const struct tenant *t, uint32_t regions,
    uint32_t clients, uint64_t bytes, uint64_t hugepages, const char **why)
{
	const struct tenant_usage *u = t->usage;

	if (t->max_regions != 0 && u->regions + regions > t->max_regions) {
		*why = "the tenant's max_regions quota is used up";
		return TENANT_QUOTA_REGIONS;
	}
	if (t->max_clients != 0 && u->clients + clients > t->max_clients) {
		*why = "the tenant's max_clients quota is used up";
		return TENANT_QUOTA_CLIENTS;
	}
	if (t->max_bytes != 0 && u->bytes + bytes > t->max_bytes) {
		*why = "the tenant's max_bytes quota would be exceeded";
		return TENANT_QUOTA_BYTES;
	}
	if (t->max_hugepages != 0 && u->hugepages + hugepages >
	    t->max_hugepages) {
		*why = "the tenant's max_hugepages quota would be exceeded";
		return TENANT_QUOTA_HUGEPAGES;
	}
	return TENANT_QUOTA_NONE;
}

int
tenant_quota_check(const struct tenant *t, uint32_t regions,
    uint32_t clients, uint64_t bytes, uint64_t hugepages, const char **why)
{
	return tenant_quota_exceeded(t, regions, clients, bytes, hugepages,
	    why) == TENANT_QUOTA_NONE ? 0 : -EDQUOT;
}

bool
tenant_connection_room(const struct tenant *t)
{
	return t->max_connections == 0 ||
	    t->usage->connections < t->max_connections;
}
