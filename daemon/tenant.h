/* SPDX-License-Identifier: ISC */
/*
 * tenant: who a VMM connection belongs to and what that allows. A tenant is
 * matched by the peer credentials of the connection (SO_PEERCRED uid and/or
 * gid; the most specific tenant wins: uid and gid, then uid, then gid) and
 * has name rules (allow/deny shell patterns, evaluated like QNX's
 * allow/deny: the first matching rule decides, and a list that ends with
 * allows implies a final deny-all, one that ends with denies a final
 * allow-all; an allow_ro rule allows reading only), a prefix put before
 * every name its guests use, which makes every name that starts with it
 * the tenant's own (no other tenant may create or attach one), quotas,
 * and the mode and group of the regions it creates (owner/group/other
 * read and write bits deciding who else may attach, and whether to read
 * only or to read and write).
 * Pure policy: no I/O, unit-tested.
 */
#ifndef SHMBROKER_TENANT_H
#define SHMBROKER_TENANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "registry.h"

#define TENANT_NAME_MAX 32
#define TENANT_PREFIX_MAX 32		/* with the NUL */
#define TENANT_RULES_MAX 32
#define TENANT_PATTERN_MAX 64

struct tenant_rule {
	bool allow;
	int line;			/* in the configuration file */
	bool read_only;			/* allow_ro: an allow to read only */
	char pattern[TENANT_PATTERN_MAX];
};

/* Usage outlives the tenant's configuration: a reload makes new struct
 * tenants, which find their usage again by name, and regions and clients
 * point at it. */
struct tenant_usage {
	LIST_ENTRY(tenant_usage) entry;
	char name[TENANT_NAME_MAX];
	uint32_t regions;
	uint32_t clients;
	uint64_t bytes;
	uint64_t hugepages;
	uint64_t denials;
	/* VMM connections served and QEMUs joined (ivshmem_peer.c), and
	 * closed ones whose peers still hold fds unread (conn_inflight.c's
	 * drains), as [broker] max_connections counts them. */
	uint32_t connections;
	/* Its share of the fds the daemon may have in flight
	 * (conn_inflight.c): what its peers hold unread, its connections
	 * that wait for room in it, and the timer's tick that last found
	 * it full. */
	size_t inflight_fds;
	size_t inflight_waiters;
	uint64_t inflight_full_tick;
};

LIST_HEAD(tenant_usage_list, tenant_usage);

struct tenant {
	char name[TENANT_NAME_MAX];
	bool match_uid, match_gid;
	uid_t uid;
	gid_t gid;
	char prefix[TENANT_PREFIX_MAX];
	struct tenant_rule rules[TENANT_RULES_MAX];
	size_t nrules;
	/* Quotas; 0 means no limit. */
	uint32_t max_regions;
	uint32_t max_clients;
	uint64_t max_bytes;
	uint64_t max_hugepages;
	uint32_t max_connections;
	uint16_t mode;			/* of the regions it creates */
	bool has_group;
	gid_t group;
	struct tenant_usage *usage;	/* set by tenant_attach_usage */
	int line;			/* of its [tenant] header */
};

/* What a connection may do with a region: the least of what the mode
 * bits and the tenant's name rules grant. */
enum tenant_access {
	TENANT_ACCESS_NONE = 0,
	TENANT_ACCESS_RO,		/* read: an O_RDONLY memfd */
	TENANT_ACCESS_RW,
};

/* A tenant with no rules, no limits, no prefix and the given mode. */
void tenant_init(struct tenant *t, const char *name, uint16_t mode);

/* Points t at the usage of its name in l, made on first use. -ENOMEM
 * without memory. */
int tenant_attach_usage(struct tenant *t, struct tenant_usage_list *l);
void tenant_usage_free(struct tenant_usage_list *l);

/* The most specific tenant whose uid and gid (those it names) match: one
 * naming both, else one naming the uid, else one naming the gid; else dflt
 * (which may be NULL: the connection is refused). A tenant naming neither
 * matches nothing. */
struct tenant *tenant_match(struct tenant *list, size_t n, struct tenant *dflt,
    uid_t uid, gid_t gid);

/* Adds "allow" or "deny" patterns from a comma-separated list; -EINVAL
 * when there are too many or one is too long. */
int tenant_add_rules(struct tenant *t, bool allow, const char *list);
/* The same for "allow_ro": allows that grant reading only. */
int tenant_add_ro_rules(struct tenant *t, const char *list);
/* "allow", "allow_ro" or "deny", as the configuration writes the rule. */
const char *tenant_rule_kind(const struct tenant_rule *r);
/* What the first rule that matches grants (an allow: RW, an allow_ro: RO,
 * a deny: NONE); when none does, the opposite of the last rule written
 * (RW after a deny, NONE after an allow or allow_ro); RW without rules. */
enum tenant_access tenant_name_access(const struct tenant *t,
    const char *name);
/* Is the name allowed at all (tenant_name_access is not NONE)? */
bool tenant_name_allowed(const struct tenant *t, const char *name);
/* The index of an earlier rule that matches every name rule j matches (so
 * rule j can never decide), or -1. Sound, not complete: it looks at
 * patterns made of literals and '*' (and '?' in rule j). */
int tenant_rule_shadowed(const struct tenant *t, size_t j);

/* Does the region name lie inside t's prefix (t's own namespace)? */
bool tenant_owns_name(const struct tenant *t, const char *key);
/* Would two tenants' prefixes let one name be inside both? */
bool tenant_prefixes_overlap(const struct tenant *a, const struct tenant *b);
/* 3 for a tenant naming uid and gid, 2 uid only, 1 gid only, 0 neither. */
int tenant_specificity(const struct tenant *t);
/* Do a and b match the very same credentials (neither is more specific)? */
bool tenant_same_match(const struct tenant *a, const struct tenant *b);

/* prefix + name into out; -ENAMETOOLONG when it does not fit
 * REGION_KEY_MAX. */
int tenant_region_name(const struct tenant *t, const char *name,
    char out[REGION_KEY_MAX]);

/* What g's mode grants a connection with these credentials: the owner's
 * bits for its owner, else the group's for its group, else the others';
 * read and write is RW, read alone RO, and write without read NONE (a
 * memfd cannot be mapped write-only). */
enum tenant_access tenant_region_access(const struct region *g, uid_t uid,
    gid_t gid);
/* May such a connection attach to g at all (to read, at least)? */
bool tenant_may_attach(const struct region *g, uid_t uid, gid_t gid);

/*
 * Would these additions stay inside t's quotas? 0, or -EDQUOT with the
 * quota that would be exceeded named in *why.
 */
int tenant_quota_check(const struct tenant *t, uint32_t regions,
    uint32_t clients, uint64_t bytes, uint64_t hugepages, const char **why);
/* The same, saying which quota (the first, in the order above). */
enum tenant_quota {
	TENANT_QUOTA_NONE,
	TENANT_QUOTA_REGIONS,
	TENANT_QUOTA_CLIENTS,
	TENANT_QUOTA_BYTES,
	TENANT_QUOTA_HUGEPAGES,
};
enum tenant_quota tenant_quota_exceeded(const struct tenant *t,
    uint32_t regions, uint32_t clients, uint64_t bytes, uint64_t hugepages,
    const char **why);

/* May one more connection of t be served (its max_connections)? */
bool tenant_connection_room(const struct tenant *t);

#endif
