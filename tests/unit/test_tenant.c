/* SPDX-License-Identifier: ISC */
/*
 * test_tenant: the tenant policy on its own (daemon/tenant.c): matching a
 * connection's uid and gid to a tenant, parsing allow/deny lists and
 * deciding names with QNX's first-match rules, prefixed region names, the
 * owner/group/other bits that decide who may attach, quotas, and usage that
 * outlives a reload.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tenant.h"

static struct tenant
make_tenant(const char *name, bool by_uid, uid_t uid, bool by_gid, gid_t gid)
{
	struct tenant t;

	tenant_init(&t, name, 0600);
	t.match_uid = by_uid;
	t.uid = uid;
	t.match_gid = by_gid;
	t.gid = gid;
	return t;
}

static void
test_init(void **state)
{
	struct tenant t;
	char longname[64];

	(void)state;
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	tenant_init(&t, longname, 0640);
	/* A name that does not fit is cut, never overflows. */
	assert_int_equal(strlen(t.name), TENANT_NAME_MAX - 1);
	assert_int_equal(t.mode, 0640);
	assert_int_equal(t.nrules, 0);
	assert_string_equal(t.prefix, "");
	assert_false(t.match_uid);
	assert_false(t.match_gid);
	assert_int_equal(t.max_regions, 0);
	assert_int_equal(t.max_clients, 0);
	assert_int_equal(t.max_bytes, 0);
	assert_int_equal(t.max_hugepages, 0);
	assert_int_equal(t.max_connections, 0);
	assert_null(t.usage);
	assert_true(tenant_name_allowed(&t, "anything"));
}

static void
test_match_uid_only(void **state)
{
	struct tenant list[1];

	(void)state;
	list[0] = make_tenant("u", true, 1000, false, 0);
	assert_ptr_equal(tenant_match(list, 1, NULL, 1000, 1), &list[0]);
	assert_ptr_equal(tenant_match(list, 1, NULL, 1000, 99999), &list[0]);
	assert_null(tenant_match(list, 1, NULL, 1001, 1000));
}

static void
test_match_gid_only(void **state)
{
	struct tenant list[1];

	(void)state;
	list[0] = make_tenant("g", false, 0, true, 500);
	assert_ptr_equal(tenant_match(list, 1, NULL, 0, 500), &list[0]);
	assert_ptr_equal(tenant_match(list, 1, NULL, 4242, 500), &list[0]);
	assert_null(tenant_match(list, 1, NULL, 500, 501));
}

static void
test_match_both(void **state)
{
	struct tenant list[1];

	(void)state;
	list[0] = make_tenant("ug", true, 1000, true, 500);
	assert_ptr_equal(tenant_match(list, 1, NULL, 1000, 500), &list[0]);
	assert_null(tenant_match(list, 1, NULL, 1000, 501));
	assert_null(tenant_match(list, 1, NULL, 1001, 500));
	assert_null(tenant_match(list, 1, NULL, 500, 1000));
}

static void
test_match_most_specific_wins(void **state)
{
	struct tenant list[3];

	(void)state;
	/* In the least helpful order: the file's order must not matter. */
	list[0] = make_tenant("bygid", false, 0, true, 500);
	list[1] = make_tenant("byuid", true, 1000, false, 0);
	list[2] = make_tenant("narrow", true, 1000, true, 500);
	assert_ptr_equal(tenant_match(list, 3, NULL, 1000, 500), &list[2]);
	assert_ptr_equal(tenant_match(list, 3, NULL, 1000, 7), &list[1]);
	assert_ptr_equal(tenant_match(list, 3, NULL, 7, 500), &list[0]);
	assert_ptr_equal(tenant_match(list, 2, NULL, 1000, 500), &list[1]);
	/* n bounds the search. */
	assert_null(tenant_match(list, 1, NULL, 1000, 7));
	assert_null(tenant_match(list, 0, NULL, 1000, 500));
	assert_int_equal(tenant_specificity(&list[0]), 1);
	assert_int_equal(tenant_specificity(&list[1]), 2);
	assert_int_equal(tenant_specificity(&list[2]), 3);
}

static void
test_same_match(void **state)
{
	struct tenant a, b;

	(void)state;
	a = make_tenant("a", true, 1000, false, 0);
	b = make_tenant("b", true, 1000, false, 99);	/* gid not named */
	assert_true(tenant_same_match(&a, &b));
	b = make_tenant("b", true, 1000, true, 5);
	assert_false(tenant_same_match(&a, &b));
	a = make_tenant("a", true, 1000, true, 5);
	assert_true(tenant_same_match(&a, &b));
	a = make_tenant("a", false, 0, true, 5);
	b = make_tenant("b", false, 7, true, 5);
	assert_true(tenant_same_match(&a, &b));
	b = make_tenant("b", false, 0, true, 6);
	assert_false(tenant_same_match(&a, &b));
}

/* prefix "p" on a copy of t. */
static struct tenant
with_prefix(const char *p)
{
	struct tenant t;

	tenant_init(&t, "t", 0600);
	snprintf(t.prefix, sizeof(t.prefix), "%s", p);
	return t;
}

static void
test_prefix_ownership(void **state)
{
	struct tenant acme = with_prefix("acme/"), none = with_prefix("");
	struct tenant b;

	(void)state;
	assert_true(tenant_owns_name(&acme, "acme/x"));
	assert_true(tenant_owns_name(&acme, "acme/../beta/x"));
	assert_false(tenant_owns_name(&acme, "acme"));
	assert_false(tenant_owns_name(&acme, "ACME/x"));
	assert_false(tenant_owns_name(&acme, "xacme/x"));
	/* No prefix owns nothing. */
	assert_false(tenant_owns_name(&none, "acme/x"));
	assert_false(tenant_owns_name(&none, ""));

	b = with_prefix("acme");
	assert_true(tenant_prefixes_overlap(&acme, &b));
	assert_true(tenant_prefixes_overlap(&b, &acme));
	b = with_prefix("acme/");
	assert_true(tenant_prefixes_overlap(&acme, &b));
	b = with_prefix("acme/x/");
	assert_true(tenant_prefixes_overlap(&acme, &b));
	b = with_prefix("acmf/");
	assert_false(tenant_prefixes_overlap(&acme, &b));
	b = with_prefix("beta/");
	assert_false(tenant_prefixes_overlap(&acme, &b));
	assert_false(tenant_prefixes_overlap(&acme, &none));
	assert_false(tenant_prefixes_overlap(&none, &none));
}

/* Rule j of a tenant with the given allow-then-deny lists is shadowed by
 * rule want (-1: by none). */
static void
check_shadow(const char *allow, const char *deny, size_t j, int want)
{
	struct tenant t;

	tenant_init(&t, "t", 0600);
	assert_int_equal(tenant_add_rules(&t, true, allow), 0);
	assert_int_equal(tenant_add_rules(&t, false, deny), 0);
	if (tenant_rule_shadowed(&t, j) != want)
		fail_msg("allow %s, deny %s: rule %zu shadowed by %d, not %d",
		    allow, deny, j, tenant_rule_shadowed(&t, j), want);
}

static void
test_rule_shadowed(void **state)
{
	(void)state;
	/* The README's old example: the deny can never match. */
	check_shadow("sensor-*, ipc-*", "ipc-secret*", 2, 1);
	check_shadow("sensor-*, ipc-*", "ipc-secret*", 1, -1);
	check_shadow("*", "x", 1, 0);
	check_shadow("a*", "a*", 1, 0);
	check_shadow("a*b", "a?b", 1, 0);
	check_shadow("a*", "ab?", 1, 0);
	/* Not covered: a narrower earlier rule, or a '?' that must match
	 * one character where the later rule may match none or many. */
	check_shadow("ipc-secret*", "ipc-*", 1, -1);
	check_shadow("a?", "a*", 1, -1);
	check_shadow("a?", "ab", 1, -1);
	/* Bracket expressions are not decided (no false warning). */
	check_shadow("*c]", "x[abc]", 1, -1);
	check_shadow("[ab]*", "a1", 1, -1);
	/* Out of range. */
	check_shadow("a", "b", 5, -1);
}

static void
test_match_default(void **state)
{
	struct tenant list[2], dflt;

	(void)state;
	list[0] = make_tenant("a", true, 1000, false, 0);
	/* A tenant naming neither uid nor gid is only ever a default: it
	 * must not match everyone. */
	list[1] = make_tenant("nobody", false, 0, false, 0);
	dflt = make_tenant("dflt", false, 0, false, 0);
	assert_ptr_equal(tenant_match(list, 2, &dflt, 1, 1), &dflt);
	assert_ptr_equal(tenant_match(list, 2, &list[1], 0, 0), &list[1]);
	assert_ptr_equal(tenant_match(list, 2, &dflt, 1000, 1), &list[0]);
	assert_null(tenant_match(list, 2, NULL, 1, 1));
	assert_null(tenant_match(list, 2, NULL, 0, 0));
}

static void
test_rules_parse(void **state)
{
	struct tenant t;

	(void)state;
	tenant_init(&t, "t", 0600);
	assert_int_equal(tenant_add_rules(&t, true, "a*, b?"), 0);
	assert_int_equal(t.nrules, 2);
	assert_string_equal(t.rules[0].pattern, "a*");
	assert_true(t.rules[0].allow);
	assert_string_equal(t.rules[1].pattern, "b?");
	assert_true(t.rules[1].allow);

	/* Empty items, tabs and padding go. */
	assert_int_equal(tenant_add_rules(&t, false, " ,\t, x ,,\ty\t, a ,"),
	    0);
	assert_int_equal(t.nrules, 5);
	assert_string_equal(t.rules[2].pattern, "x");
	assert_false(t.rules[2].allow);
	assert_string_equal(t.rules[3].pattern, "y");
	assert_string_equal(t.rules[4].pattern, "a");
	assert_false(t.rules[4].allow);
	/* A blank inside, or a byte a name cannot hold: it would match no
	 * region, so it is an error, not a rule. */
	assert_int_equal(tenant_add_rules(&t, false, "a b"), -EDOM);
	assert_int_equal(tenant_add_rules(&t, false, "s* # a comment"), -EDOM);
	assert_int_equal(tenant_add_rules(&t, false, "\x7f"), -EDOM);

	/* Nothing to add is no error. */
	assert_int_equal(tenant_add_rules(&t, true, ""), 0);
	assert_int_equal(tenant_add_rules(&t, true, " , ,, "), 0);
	assert_int_equal(t.nrules, 5);
}

static void
test_rules_too_many(void **state)
{
	struct tenant t;
	char list[TENANT_RULES_MAX * 8];
	size_t off = 0;

	(void)state;
	tenant_init(&t, "t", 0600);
	for (int i = 0; i < TENANT_RULES_MAX; i++)
		off += (size_t)snprintf(list + off, sizeof(list) - off, "p%d,",
		    i);
	assert_int_equal(tenant_add_rules(&t, true, list), 0);
	assert_int_equal(t.nrules, TENANT_RULES_MAX);
	assert_string_equal(t.rules[TENANT_RULES_MAX - 1].pattern, "p31");
	assert_int_equal(tenant_add_rules(&t, false, "one-more"), -EINVAL);
	assert_int_equal(t.nrules, TENANT_RULES_MAX);

	/* Over the limit in one list. */
	tenant_init(&t, "t", 0600);
	off = 0;
	for (int i = 0; i <= TENANT_RULES_MAX; i++)
		off += (size_t)snprintf(list + off, sizeof(list) - off, "q%d, ",
		    i);
	assert_int_equal(tenant_add_rules(&t, true, list), -EINVAL);
	assert_true(t.nrules <= TENANT_RULES_MAX);
}

static void
test_rules_too_long(void **state)
{
	struct tenant t;
	char pat[TENANT_PATTERN_MAX + 8];

	(void)state;
	tenant_init(&t, "t", 0600);
	memset(pat, 'x', TENANT_PATTERN_MAX - 1);
	pat[TENANT_PATTERN_MAX - 1] = '\0';
	assert_int_equal(tenant_add_rules(&t, true, pat), 0);
	assert_int_equal(t.nrules, 1);
	assert_int_equal(strlen(t.rules[0].pattern), TENANT_PATTERN_MAX - 1);

	/* The padding is not counted; the pattern is. */
	memset(pat, ' ', sizeof(pat) - 1);
	memset(pat + 2, 'y', TENANT_PATTERN_MAX - 1);
	pat[sizeof(pat) - 1] = '\0';
	assert_true(strlen(pat) > TENANT_PATTERN_MAX);
	assert_int_equal(tenant_add_rules(&t, true, pat), 0);
	assert_int_equal(t.nrules, 2);

	memset(pat, 'z', TENANT_PATTERN_MAX);
	pat[TENANT_PATTERN_MAX] = '\0';
	assert_int_equal(tenant_add_rules(&t, true, pat), -EINVAL);
	assert_int_equal(t.nrules, 2);
}

static void
test_allowed_no_rules(void **state)
{
	struct tenant t;

	(void)state;
	tenant_init(&t, "t", 0600);
	assert_true(tenant_name_allowed(&t, "x"));
	assert_true(tenant_name_allowed(&t, "vm1"));
}

static void
test_allowed_only_allows(void **state)
{
	struct tenant t;

	(void)state;
	tenant_init(&t, "t", 0600);
	assert_int_equal(tenant_add_rules(&t, true, "vm*, net[0-9]"), 0);
	assert_true(tenant_name_allowed(&t, "vm"));
	assert_true(tenant_name_allowed(&t, "vm-disk"));
	assert_true(tenant_name_allowed(&t, "net7"));
	/* Everything else: the implied deny. */
	assert_false(tenant_name_allowed(&t, "net10"));
	assert_false(tenant_name_allowed(&t, "xvm"));
	assert_false(tenant_name_allowed(&t, "VM1"));
}

static void
test_allowed_only_denies(void **state)
{
	struct tenant t;

	(void)state;
	tenant_init(&t, "t", 0600);
	assert_int_equal(tenant_add_rules(&t, false, "secret*, ?oot"), 0);
	assert_false(tenant_name_allowed(&t, "secret"));
	assert_false(tenant_name_allowed(&t, "secret-2"));
	assert_false(tenant_name_allowed(&t, "root"));
	/* Everything else: the implied allow. */
	assert_true(tenant_name_allowed(&t, "boot1"));
	assert_true(tenant_name_allowed(&t, "public"));
}

static void
test_allowed_mixed(void **state)
{
	struct tenant t;

	(void)state;
	/* allow g*, deny gx*: the allow comes first and wins for gx1; the
	 * last rule is a deny, so what matches nothing is allowed. */
	tenant_init(&t, "t", 0600);
	assert_int_equal(tenant_add_rules(&t, true, "g*"), 0);
	assert_int_equal(tenant_add_rules(&t, false, "gx*"), 0);
	assert_true(tenant_name_allowed(&t, "gx1"));
	assert_true(tenant_name_allowed(&t, "g1"));
	assert_true(tenant_name_allowed(&t, "h1"));

	/* deny gx*, allow g*: the deny decides gx1; the last rule is an
	 * allow, so what matches nothing is denied. */
	tenant_init(&t, "t", 0600);
	assert_int_equal(tenant_add_rules(&t, false, "gx*"), 0);
	assert_int_equal(tenant_add_rules(&t, true, "g*"), 0);
	assert_false(tenant_name_allowed(&t, "gx1"));
	assert_true(tenant_name_allowed(&t, "g1"));
	assert_false(tenant_name_allowed(&t, "h1"));

	/* Only the last rule written sets the implied one. */
	tenant_init(&t, "t", 0600);
	assert_int_equal(tenant_add_rules(&t, true, "a*"), 0);
	assert_int_equal(tenant_add_rules(&t, false, "b*"), 0);
	assert_int_equal(tenant_add_rules(&t, true, "c*"), 0);
	assert_true(tenant_name_allowed(&t, "a1"));
	assert_false(tenant_name_allowed(&t, "b1"));
	assert_true(tenant_name_allowed(&t, "c1"));
	assert_false(tenant_name_allowed(&t, "d1"));
}

/* allow_ro allows to read only; it is an allow for the implied last
 * rule and for the first-match order. */
static void
test_allowed_read_only(void **state)
{
	struct tenant t;

	(void)state;
	tenant_init(&t, "t", 0600);
	assert_int_equal(tenant_add_rules(&t, false, "telemetry-secret"), 0);
	assert_int_equal(tenant_add_ro_rules(&t, "telemetry*, log?"), 0);
	assert_int_equal(tenant_add_rules(&t, true, "vm*, telemetry-rw"), 0);
	assert_int_equal(t.nrules, 5);
	assert_string_equal(tenant_rule_kind(&t.rules[0]), "deny");
	assert_string_equal(tenant_rule_kind(&t.rules[1]), "allow_ro");
	assert_string_equal(tenant_rule_kind(&t.rules[2]), "allow_ro");
	assert_string_equal(tenant_rule_kind(&t.rules[3]), "allow");
	assert_int_equal(tenant_name_access(&t, "telemetry-secret"),
	    TENANT_ACCESS_NONE);
	assert_int_equal(tenant_name_access(&t, "telemetry"),
	    TENANT_ACCESS_RO);
	assert_int_equal(tenant_name_access(&t, "log1"), TENANT_ACCESS_RO);
	/* the allow_ro before it decides */
	assert_int_equal(tenant_name_access(&t, "telemetry-rw"),
	    TENANT_ACCESS_RO);
	assert_int_equal(tenant_name_access(&t, "vm7"), TENANT_ACCESS_RW);
	assert_int_equal(tenant_name_access(&t, "other"), TENANT_ACCESS_NONE);
	assert_true(tenant_name_allowed(&t, "log1"));
	assert_false(tenant_name_allowed(&t, "other"));

	/* An allow_ro last: what matches nothing is denied. */
	tenant_init(&t, "t", 0600);
	assert_int_equal(tenant_add_ro_rules(&t, "*"), 0);
	assert_int_equal(tenant_name_access(&t, "x"), TENANT_ACCESS_RO);
	tenant_init(&t, "t", 0600);
	assert_int_equal(tenant_add_ro_rules(&t, "a*"), 0);
	assert_int_equal(tenant_name_access(&t, "b"), TENANT_ACCESS_NONE);
	/* A deny last: what matches nothing may be read and written. */
	assert_int_equal(tenant_add_rules(&t, false, "c*"), 0);
	assert_int_equal(tenant_name_access(&t, "b"), TENANT_ACCESS_RW);
	assert_int_equal(tenant_name_access(&t, "a"), TENANT_ACCESS_RO);
	/* Shadowing looks at patterns, whatever their kind. */
	assert_int_equal(tenant_add_rules(&t, true, "a1"), 0);
	assert_int_equal(tenant_rule_shadowed(&t, 2), 0);
	/* Too many patterns fail as for allow. */
	tenant_init(&t, "t", 0600);
	for (int i = 0; i < TENANT_RULES_MAX; i++)
		assert_int_equal(tenant_add_ro_rules(&t, "p"), 0);
	assert_int_equal(tenant_add_ro_rules(&t, "q"), -EINVAL);
}

static void
test_region_name(void **state)
{
	struct tenant t;
	char out[REGION_KEY_MAX], name[REGION_KEY_MAX + 1];

	(void)state;
	tenant_init(&t, "t", 0600);
	assert_int_equal(tenant_region_name(&t, "x", out), 0);
	assert_string_equal(out, "x");
	snprintf(t.prefix, sizeof(t.prefix), "a/");
	assert_int_equal(tenant_region_name(&t, "x", out), 0);
	assert_string_equal(out, "a/x");

	/* The longest prefix with the longest guest name fits. */
	memset(t.prefix, 'p', TENANT_PREFIX_MAX - 1);
	t.prefix[TENANT_PREFIX_MAX - 1] = '\0';
	memset(name, 'n', REGION_NAME_MAX - 1);
	name[REGION_NAME_MAX - 1] = '\0';
	assert_int_equal(tenant_region_name(&t, name, out), 0);
	assert_int_equal(strlen(out), TENANT_PREFIX_MAX - 1 +
	    REGION_NAME_MAX - 1);

	/* 63 characters fit REGION_KEY_MAX, 64 do not. */
	memset(name, 'n', REGION_KEY_MAX - TENANT_PREFIX_MAX);
	name[REGION_KEY_MAX - TENANT_PREFIX_MAX] = '\0';
	assert_int_equal(strlen(t.prefix) + strlen(name), REGION_KEY_MAX - 1);
	assert_int_equal(tenant_region_name(&t, name, out), 0);
	assert_int_equal(strlen(out), REGION_KEY_MAX - 1);
	strcat(name, "n");
	assert_int_equal(tenant_region_name(&t, name, out), -ENAMETOOLONG);
}

static struct region
make_region(uid_t owner, uint16_t mode, bool has_group, gid_t group)
{
	struct region g;

	memset(&g, 0, sizeof(g));
	g.owner_uid = owner;
	g.mode = mode;
	g.has_group = has_group;
	g.group = group;
	return g;
}

static void
test_may_attach_owner_other(void **state)
{
	struct region g;

	(void)state;
	g = make_region(1000, 0600, false, 0);
	assert_true(tenant_may_attach(&g, 1000, 1));
	assert_false(tenant_may_attach(&g, 1001, 1));
	assert_false(tenant_may_attach(&g, 0, 0));

	/* Read alone is read-only; write without read is nothing (a memfd
	 * cannot be mapped write-only). */
	g = make_region(1000, 0400, false, 0);
	assert_true(tenant_may_attach(&g, 1000, 1));
	assert_int_equal(tenant_region_access(&g, 1000, 1), TENANT_ACCESS_RO);
	g = make_region(1000, 0200, false, 0);
	assert_false(tenant_may_attach(&g, 1000, 1));
	assert_int_equal(tenant_region_access(&g, 1000, 1),
	    TENANT_ACCESS_NONE);
	g = make_region(1000, 0700, false, 0);
	assert_int_equal(tenant_region_access(&g, 1000, 1), TENANT_ACCESS_RW);
	g = make_region(1000, 0604, false, 0);
	assert_int_equal(tenant_region_access(&g, 1000, 1), TENANT_ACCESS_RW);
	assert_int_equal(tenant_region_access(&g, 1001, 1), TENANT_ACCESS_RO);
	g = make_region(1000, 0602, false, 0);
	assert_false(tenant_may_attach(&g, 1001, 1));
	g = make_region(1000, 0605, false, 0);	/* x means nothing here */
	assert_int_equal(tenant_region_access(&g, 1001, 1), TENANT_ACCESS_RO);

	g = make_region(1000, 0666, false, 0);
	assert_true(tenant_may_attach(&g, 1000, 1));
	assert_true(tenant_may_attach(&g, 1001, 1));
	assert_true(tenant_may_attach(&g, 0, 0));

	/* Unix order: the owner gets the owner bits even when others may. */
	g = make_region(1000, 0066, false, 0);
	assert_false(tenant_may_attach(&g, 1000, 1));
	assert_true(tenant_may_attach(&g, 1001, 1));
}

static void
test_may_attach_group(void **state)
{
	struct region g;

	(void)state;
	g = make_region(1000, 0660, true, 50);
	assert_true(tenant_may_attach(&g, 1000, 1));
	assert_true(tenant_may_attach(&g, 1001, 50));
	assert_false(tenant_may_attach(&g, 1001, 51));

	/* Without a group the group bits are nobody's, even for gid 0. */
	g = make_region(1000, 0660, false, 0);
	assert_false(tenant_may_attach(&g, 1001, 0));
	assert_false(tenant_may_attach(&g, 1001, 50));

	/* A group member gets the group bits even when others may more. */
	g = make_region(1000, 0606, true, 50);
	assert_false(tenant_may_attach(&g, 1001, 50));
	assert_true(tenant_may_attach(&g, 1001, 51));
	g = make_region(1000, 0640, true, 50);
	assert_int_equal(tenant_region_access(&g, 1001, 50), TENANT_ACCESS_RO);
	assert_false(tenant_may_attach(&g, 1001, 51));
	g = make_region(1000, 0604, true, 50);
	assert_false(tenant_may_attach(&g, 1001, 50));
	assert_int_equal(tenant_region_access(&g, 1001, 51), TENANT_ACCESS_RO);
	g = make_region(1000, 0620, true, 50);
	assert_false(tenant_may_attach(&g, 1001, 50));
}

static void
test_quota(void **state)
{
	struct tenant_usage_list l = LIST_HEAD_INITIALIZER(l);
	const char *why = NULL;
	struct tenant t;

	(void)state;
	tenant_init(&t, "q", 0600);
	assert_int_equal(tenant_attach_usage(&t, &l), 0);
	assert_non_null(t.usage);

	/* No limits: anything goes. */
	t.usage->regions = 1000000;
	t.usage->clients = 1000000;
	t.usage->bytes = UINT64_MAX / 2;
	t.usage->hugepages = 1000000;
	assert_int_equal(tenant_quota_check(&t, 1, 1, 1u << 30, 100, &why), 0);
	memset(&t.usage->regions, 0, sizeof(*t.usage) -
	    offsetof(struct tenant_usage, regions));

	t.max_regions = 2;
	t.usage->regions = 1;
	assert_int_equal(tenant_quota_check(&t, 1, 0, 0, 0, &why), 0);
	t.usage->regions = 2;
	assert_int_equal(tenant_quota_check(&t, 1, 0, 0, 0, &why),
	    -EDQUOT);
	assert_non_null(strstr(why, "max_regions"));
	assert_int_equal(tenant_quota_check(&t, 0, 1, 4096, 0, &why), 0);
	t.max_regions = 0;

	t.max_clients = 3;
	t.usage->clients = 2;
	assert_int_equal(tenant_quota_check(&t, 0, 1, 0, 0, &why), 0);
	t.usage->clients = 3;
	assert_int_equal(tenant_quota_check(&t, 0, 1, 0, 0, &why),
	    -EDQUOT);
	assert_non_null(strstr(why, "max_clients"));
	assert_int_equal(tenant_quota_check(&t, 1, 0, 0, 0, &why), 0);
	t.max_clients = 0;

	t.max_bytes = 1 << 20;
	t.usage->bytes = 512 << 10;
	assert_int_equal(tenant_quota_check(&t, 1, 0, 512 << 10, 0, &why), 0);
	assert_int_equal(tenant_quota_check(&t, 1, 0, (512 << 10) + 1,
	    0, &why),
	    -EDQUOT);
	assert_non_null(strstr(why, "max_bytes"));
	t.usage->bytes = 1 << 20;
	assert_int_equal(tenant_quota_check(&t, 1, 0, 1, 0, &why),
	    -EDQUOT);
	assert_non_null(strstr(why, "max_bytes"));
	assert_int_equal(tenant_quota_check(&t, 0, 1, 0, 0, &why), 0);
	t.max_bytes = 0;

	t.max_hugepages = 4;
	t.usage->hugepages = 3;
	assert_int_equal(tenant_quota_check(&t, 0, 0, 0, 1, &why), 0);
	assert_int_equal(tenant_quota_check(&t, 0, 0, 0, 2, &why),
	    -EDQUOT);
	assert_non_null(strstr(why, "max_hugepages"));
	assert_int_equal(tenant_quota_exceeded(&t, 0, 0, 0, 2, &why),
	    TENANT_QUOTA_HUGEPAGES);
	t.max_hugepages = 0;
	assert_int_equal(tenant_quota_check(&t, 1, 1, 1, 2, &why), 0);
	assert_int_equal(tenant_quota_exceeded(&t, 1, 1, 1, 2, &why),
	    TENANT_QUOTA_NONE);

	/* Which quota: the first hit, in the order regions, clients, bytes,
	 * hugepages, for the daemon's refusal counters. */
	t.max_regions = 1;
	t.max_clients = 1;
	t.max_bytes = 1;
	t.usage->regions = 1;
	t.usage->clients = 1;
	assert_int_equal(tenant_quota_exceeded(&t, 1, 1, 2, 0, &why),
	    TENANT_QUOTA_REGIONS);
	assert_int_equal(tenant_quota_exceeded(&t, 0, 1, 2, 0, &why),
	    TENANT_QUOTA_CLIENTS);
	assert_non_null(strstr(why, "max_clients"));
	assert_int_equal(tenant_quota_exceeded(&t, 0, 0, 2, 0, &why),
	    TENANT_QUOTA_BYTES);
	tenant_usage_free(&l);
	assert_true(LIST_EMPTY(&l));
}

/* max_connections: the connections a tenant's usage counts, bounded
 * apart from the quotas of requests (a connection is refused at accept). */
static void
test_connection_room(void **state)
{
	struct tenant_usage_list l = LIST_HEAD_INITIALIZER(l);
	const char *why = NULL;
	struct tenant t;

	(void)state;
	tenant_init(&t, "c", 0600);
	assert_int_equal(tenant_attach_usage(&t, &l), 0);
	/* Unset: no bound of the tenant's own. */
	t.usage->connections = 1000000;
	assert_true(tenant_connection_room(&t));
	t.max_connections = 3;
	t.usage->connections = 2;
	assert_true(tenant_connection_room(&t));
	t.usage->connections = 3;
	assert_false(tenant_connection_room(&t));
	/* A limit lowered under what is counted refuses, closes nothing. */
	t.max_connections = 1;
	assert_false(tenant_connection_room(&t));
	assert_int_equal(t.usage->connections, 3);
	/* The request quotas do not look at it. */
	assert_int_equal(tenant_quota_check(&t, 1, 1, 1, 1, &why), 0);
	tenant_usage_free(&l);
}

static size_t
usage_count(struct tenant_usage_list *l)
{
	struct tenant_usage *u;
	size_t n = 0;

	LIST_FOREACH(u, l, entry)
		n++;
	return n;
}

static void
test_usage_survives_reload(void **state)
{
	struct tenant_usage_list l = LIST_HEAD_INITIALIZER(l);
	struct tenant first[2], second[3];
	struct tenant_usage *alpha;
	const char *why = NULL;

	(void)state;
	tenant_init(&first[0], "alpha", 0600);
	tenant_init(&first[1], "beta", 0600);
	for (int i = 0; i < 2; i++)
		assert_int_equal(tenant_attach_usage(&first[i], &l), 0);
	assert_ptr_not_equal(first[0].usage, first[1].usage);
	assert_string_equal(first[0].usage->name, "alpha");
	assert_int_equal(usage_count(&l), 2);
	alpha = first[0].usage;
	alpha->regions = 3;
	alpha->clients = 5;
	alpha->bytes = 12288;
	alpha->denials = 2;

	/* A reload: new tenant structs, in another order, one new. */
	tenant_init(&second[0], "gamma", 0600);
	tenant_init(&second[1], "beta", 0600);
	tenant_init(&second[2], "alpha", 0660);
	second[2].max_regions = 3;
	for (int i = 0; i < 3; i++)
		assert_int_equal(tenant_attach_usage(&second[i], &l), 0);
	assert_ptr_equal(second[2].usage, alpha);
	assert_ptr_equal(second[1].usage, first[1].usage);
	assert_int_equal(second[2].usage->regions, 3);
	assert_int_equal(second[2].usage->clients, 5);
	assert_int_equal(second[2].usage->bytes, 12288);
	assert_int_equal(second[2].usage->denials, 2);
	assert_int_equal(second[0].usage->regions, 0);
	assert_int_equal(usage_count(&l), 3);
	/* The kept usage counts against the new quota. */
	assert_int_equal(tenant_quota_check(&second[2], 1, 0, 0, 0, &why),
	    -EDQUOT);
	assert_non_null(strstr(why, "max_regions"));

	/* Attaching again is idempotent. */
	assert_int_equal(tenant_attach_usage(&second[2], &l), 0);
	assert_ptr_equal(second[2].usage, alpha);
	assert_int_equal(usage_count(&l), 3);
	tenant_usage_free(&l);
	assert_true(LIST_EMPTY(&l));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_match_uid_only),
		cmocka_unit_test(test_match_gid_only),
		cmocka_unit_test(test_match_both),
		cmocka_unit_test(test_match_most_specific_wins),
		cmocka_unit_test(test_same_match),
		cmocka_unit_test(test_prefix_ownership),
		cmocka_unit_test(test_rule_shadowed),
		cmocka_unit_test(test_match_default),
		cmocka_unit_test(test_rules_parse),
		cmocka_unit_test(test_rules_too_many),
		cmocka_unit_test(test_rules_too_long),
		cmocka_unit_test(test_allowed_no_rules),
		cmocka_unit_test(test_allowed_only_allows),
		cmocka_unit_test(test_allowed_only_denies),
		cmocka_unit_test(test_allowed_mixed),
		cmocka_unit_test(test_allowed_read_only),
		cmocka_unit_test(test_region_name),
		cmocka_unit_test(test_may_attach_owner_other),
		cmocka_unit_test(test_may_attach_group),
		cmocka_unit_test(test_quota),
		cmocka_unit_test(test_connection_room),
		cmocka_unit_test(test_usage_survives_reload),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
