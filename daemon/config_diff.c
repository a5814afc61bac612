/* SPDX-License-Identifier: ISC */
/*
 * config_diff: what a reload widens. A reload that serves more than before
 * (everyone, a default tenant, a tenant with fewer rules, a wider mode, a
 * higher quota, a new admin group) is allowed, but must never be silent:
 * each such change is logged as a warning, naming the tenant, the old and
 * the new value, so an audit of the journal finds who was let in when.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"

#define WIDENS "reload widens access: "

static const struct tenant *
config_diff_find(const struct broker_config *cfg, const char *name)
{
	for (size_t i = 0; name != NULL && i < cfg->ntenants; i++)
		if (strcmp(cfg->tenants[i].name, name) == 0)
			return &cfg->tenants[i];
	return NULL;
}

static void
config_diff_rules(char *out, size_t cap, const struct tenant *t)
{
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < t->nrules && n < cap; i++)
		n += (size_t)snprintf(out + n, cap - n, "%s%s %s",
		    i == 0 ? "" : ", ", tenant_rule_kind(&t->rules[i]),
		    t->rules[i].pattern);
	if (t->nrules == 0)
		snprintf(out, cap, "none: every name");
}

static bool
config_diff_same_rule(const struct tenant_rule *a, const struct tenant_rule *b)
{
	return a->allow == b->allow && a->read_only == b->read_only &&
	    strcmp(a->pattern, b->pattern) == 0;
}

/*
 * Can the new rules allow a name the old ones denied? Sure not when the
 * new list is the old one, in the same order, with only deny rules added
 * and the last rule (whose opposite is the answer when nothing matches)
 * of the same kind: a deny can only turn an allow into a deny. Anything
 * else may widen, and is reported.
 */
static bool
config_diff_rules_may_widen(const struct tenant *o, const struct tenant *n)
{
	size_t i = 0;

	if (o->nrules == 0)
		return false;		/* no rules allowed every name */
	if (n->nrules == 0 ||
	    o->rules[o->nrules - 1].allow != n->rules[n->nrules - 1].allow)
		return true;
	for (size_t j = 0; j < n->nrules; j++) {
		if (i < o->nrules && config_diff_same_rule(&o->rules[i],
		    &n->rules[j]))
			i++;
		else if (n->rules[j].allow)
			return true;
	}
	return i != o->nrules;
}

/* A quota widens when it is lifted (0) or raised. */
static void
config_diff_quota(const struct logger *log, const char *tenant,
    const char *what, uint64_t was, uint64_t now)
{
	if (was == 0 || (now != 0 && now <= was))
		return;
	if (now == 0)
		log_warn(log, WIDENS "tenant %s: %s %llu is lifted", tenant,
		    what, (unsigned long long)was);
	else
		log_warn(log, WIDENS "tenant %s: %s rises from %llu to %llu",
		    tenant, what, (unsigned long long)was,
		    (unsigned long long)now);
}

static void
config_diff_tenant(const struct logger *log, const struct tenant *o,
    const struct tenant *n)
{
	char was[512], now[512];

	if (!tenant_same_match(o, n))
		log_warn(log, WIDENS "tenant %s now matches other "
		    "connections (uid/gid changed)", n->name);
	if (strcmp(o->prefix, n->prefix) != 0)
		log_warn(log, WIDENS "tenant %s: prefix '%s' is now '%s'",
		    n->name, o->prefix, n->prefix);
	if (config_diff_rules_may_widen(o, n)) {
		config_diff_rules(was, sizeof(was), o);
		config_diff_rules(now, sizeof(now), n);
		log_warn(log, WIDENS "tenant %s: name rules were (%s), are "
		    "(%s)", n->name, was, now);
	}
	if ((n->mode & ~o->mode) != 0 || (n->has_group && (n->mode & 060) &&
	    (!o->has_group || o->group != n->group)))
		log_warn(log, WIDENS "tenant %s: new regions are mode %04o "
		    "group %d (were %04o group %d)", n->name, n->mode,
		    n->has_group ? (int)n->group : -1, o->mode,
		    o->has_group ? (int)o->group : -1);
	config_diff_quota(log, n->name, "max_regions", o->max_regions,
	    n->max_regions);
	config_diff_quota(log, n->name, "max_clients", o->max_clients,
	    n->max_clients);
	config_diff_quota(log, n->name, "max_bytes", o->max_bytes,
	    n->max_bytes);
	config_diff_quota(log, n->name, "max_hugepages", o->max_hugepages,
	    n->max_hugepages);
	config_diff_quota(log, n->name, "max_connections", o->max_connections,
	    n->max_connections);
}

static void
config_diff_broker(const struct logger *log, const struct broker_config *old,
    const struct broker_config *next)
{
	const char *od = old->default_tenant, *nd = next->default_tenant;

	if (!old->open_tenancy && next->open_tenancy)
		log_warn(log, WIDENS "tenancy = open: every connection is now "
		    "served, with no rules, prefixes or quotas");
	if (!old->open_tenancy && nd != NULL && (od == NULL ||
	    strcmp(od, nd) != 0))
		log_warn(log, WIDENS "connections no tenant matches are now "
		    "served as tenant %s (were %s%s)", nd, od != NULL ?
		    "tenant " : "refused", od != NULL ? od : "");
	if (next->has_admin_group && (!old->has_admin_group ||
	    old->admin_group != next->admin_group))
		log_warn(log, WIDENS "admin_group: gid %u may now use the "
		    "admin socket", (unsigned)next->admin_group);
}

void
config_log_widening(const struct logger *log,
    const struct broker_config *old, const struct broker_config *next)
{
	config_diff_broker(log, old, next);
	for (size_t i = 0; i < next->ntenants; i++) {
		const struct tenant *n = &next->tenants[i];
		const struct tenant *o = config_diff_find(old, n->name);

		if (o != NULL)
			config_diff_tenant(log, o, n);
		else if (!old->open_tenancy)
			log_warn(log, WIDENS "new tenant %s", n->name);
	}
	for (size_t i = 0; i < old->ntenants && !next->open_tenancy; i++) {
		const struct tenant *o = &old->tenants[i];

		if (config_diff_find(next, o->name) != NULL)
			continue;
		log_warn(log, WIDENS "tenant %s is gone: its connections now "
		    "belong to the next tenant that matches them%s%s", o->name,
		    next->default_tenant != NULL ? ", else to tenant " : "",
		    next->default_tenant != NULL ? next->default_tenant : "");
		if (o->prefix[0] != '\0')
			log_warn(log, WIDENS "tenant %s is gone: names under its "
			    "prefix '%s' now lie outside every prefix, where "
			    "tenants without one reach them as their regions' "
			    "modes allow", o->name, o->prefix);
	}
}
