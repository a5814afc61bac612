/* SPDX-License-Identifier: ISC */
/*
 * test_tenancy_names: whose a name is, against a real shmbrokerd with VMM
 * clients that really are other users (agents, see tenancy_agents.h).
 * Each attach that succeeds reads the region's first bytes back, so a
 * test proves whose memory a client got, not just which status it saw.
 * Covered: the takeover of another tenant's names by every naming trick
 * (a name inside another's prefix, "../", glob characters, case, a
 * default tenant), refused on the name alone so that a find reveals
 * nothing, and counted as denials; name lengths and bytes; README's
 * tenant example run as it is written, and the warning for a rule that
 * can never match. Needs root; every test skips otherwise.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "tenancy_agents.h"

#ifndef SHMBROKER_README
#error "SHMBROKER_README must be the path of README.md"
#endif

/* The region's first bytes must be text (NUL-padded), or all zero for a
 * NULL text: whose memory the attach gave. */
static void
check_head(const struct agent_rep *r, const char *text, const char *what)
{
	unsigned char want[AGENT_HEAD] = { 0 };

	if (text != NULL)
		memcpy(want, text, strnlen(text, AGENT_HEAD));
	if (memcmp(r->head, want, AGENT_HEAD) != 0)
		fail_msg("%s: the region starts with '%.*s', not '%s'", what,
		    AGENT_HEAD, (const char *)r->head,
		    text != NULL ? text : "(zeros)");
}

/* ---- names across tenants ---- */

static const char conf_takeover[] =
    "[broker]\n"
    "hugepages = never\n"
    "default_tenant = guests\n"
    "\n"
    "[tenant acme]\n"
    "uid = 2001\n"
    "prefix = acme/\n"
    "mode = 0666\n"
    "\n"
    "[tenant beta]\n"
    "uid = 2002\n"
    "prefix = beta/\n"
    "\n"
    "[tenant nopfx]\n"
    "gid = 3003\n"
    "mode = 0666\n"
    "\n"
    "[tenant guests]\n"
    "prefix = guests/\n";

#define ACME_PATTERN "acme's sensor-2"

struct names {
	struct tstate *st;
	struct agent *acme, *beta, *nopfx, *guest;
	int refusals;		/* GSS_NO_PERMISSION seen by nopfx */
	char why[256];		/* the last refusal's message */
};

static void
names_start(struct tstate *st, struct names *n)
{
	memset(n, 0, sizeof(*n));
	n->st = st;
	tenancy_start(st, conf_takeover);
	n->acme = agent_start(st, 2001, 2001);
	n->beta = agent_start(st, 2002, 2002);
	n->nopfx = agent_start(st, 2500, 3003);
	n->guest = agent_start(st, 2700, 2700);
	for (int i = 0; i < st->nagents; i++)
		agent_vmm(st, &st->agents[i], 0);
	agent_vmm(st, n->acme, 1);
}

/* nopfx's create or find of name must be refused as another tenant's. */
static void
nopfx_refused(struct names *n, const char *name, bool create)
{
	struct agent_rep r;
	int rc = agent_attach_rw(n->nopfx, 0, name, 1, create,
	    "nopfx was here", &r);

	if (rc != SHMC_GSS_NO_PERMISSION)
		fail_msg("nopfx's %s of %s: status %d, not 5 (%s)", create ?
		    "create" : "find", name, rc, rc == 0 ? (r.created ?
		    "created it" : "attached") : r.msg);
	if (strstr(r.msg, "another tenant's prefix") == NULL)
		fail_msg("%s: refused for another reason: %s", name, r.msg);
	snprintf(n->why, sizeof(n->why), "%s", r.msg);
	n->refusals++;
}

/* The admin socket is every tenant's: its find reaches acme's memory. */
static void
admin_reads(struct tstate *st, const char *name, const char *text)
{
	struct shmc_region reg;
	unsigned char *p;
	int rc = shmc_attach(st->adm, name, 0, false, &reg);

	if (rc != SHMC_GSS_OK)
		fail_msg("admin find of %s: %d (%s)", name, rc,
		    shmc_error(st->adm));
	p = mmap(NULL, reg.backing_bytes, PROT_READ, MAP_SHARED, reg.fd, 0);
	assert_true(p != MAP_FAILED);
	assert_memory_equal(p, text, strlen(text));
	munmap(p, reg.backing_bytes);
	close(reg.fd);
	assert_int_equal(shmc_detach(st->adm, reg.client_id), 0);
}

/* The probe's reproduction: a tenant without a prefix took acme's
 * sensor-2 before acme did, and acme then mapped its memory. */
static void
test_takeover(void **state)
{
	struct tstate *st = *state;
	struct names n;
	struct agent_rep mine, r;
	struct check_region v;
	char why_found[256];
	uint64_t noperm;

	NEED_ROOT();
	names_start(st, &n);
	nopfx_refused(&n, "acme/sensor-2", true);
	assert_int_equal(region_info(st, "acme/sensor-2").error,
	    SHMBROKER__ERROR__ERR_NOT_FOUND);
	GSS(SHMC_GSS_OK, agent_attach_rw(n.acme, 0, "sensor-2", 1, true,
	    ACME_PATTERN, &mine), mine);
	assert_true(mine.created);
	check_head(&mine, ACME_PATTERN, "acme's create");

	/* Mode 0666 lets anyone attach, but not to a name of acme's; a find
	 * of a name that exists and of one that does not read the same. */
	nopfx_refused(&n, "acme/sensor-2", true);
	nopfx_refused(&n, "acme/sensor-2", false);
	snprintf(why_found, sizeof(why_found), "%s", n.why);
	nopfx_refused(&n, "acme/nothing", false);
	assert_string_equal(n.why, why_found);
	nopfx_refused(&n, "acme/nothing", true);
	assert_int_equal(region_info(st, "acme/nothing").error,
	    SHMBROKER__ERROR__ERR_NOT_FOUND);
	nopfx_refused(&n, "acme/../acme/sensor-2", false);
	nopfx_refused(&n, "acme/../acme/sensor-2", true);
	nopfx_refused(&n, "beta/x", true);

	/* acme's own find gets its memory; nobody else's client is on it. */
	GSS(SHMC_GSS_OK, agent_attach_rw(n.acme, 1, "sensor-2", 0, false,
	    NULL, &r), r);
	assert_int_equal(r.region_id, mine.region_id);
	check_head(&r, ACME_PATTERN, "acme's find");
	v = region_info(st, "acme/sensor-2");
	assert_string_equal(v.tenant, "acme");
	assert_int_equal(v.owner_uid, 2001);
	assert_int_equal(v.clients, 2);
	admin_reads(st, "acme/sensor-2", ACME_PATTERN);

	/* Denials: nopfx's alone, each a GSS_NO_PERMISSION. */
	assert_int_equal(tenant_info(st, "nopfx").denials, n.refusals);
	assert_int_equal(tenant_info(st, "acme").denials, 0);
	assert_int_equal(stats_denials(st, &noperm), n.refusals);
	assert_int_equal(noperm, n.refusals);
}

/* "../" is part of a name, not a way out of one's prefix. */
static void
test_dot_dot(void **state)
{
	struct tstate *st = *state;
	struct names n;
	struct agent_rep bx, r;
	struct check_region v;
	uint64_t noperm;

	NEED_ROOT();
	names_start(st, &n);
	GSS(SHMC_GSS_OK, agent_attach_rw(n.beta, 0, "x", 1, true, "beta's x",
	    &bx), bx);
	GSS(SHMC_GSS_OK, agent_attach_rw(n.acme, 0, "../beta/x", 1, true,
	    "acme's ../beta/x", &r), r);
	assert_true(r.created);
	assert_true(r.region_id != bx.region_id);
	check_head(&r, "acme's ../beta/x", "acme's ../beta/x");
	v = region_info(st, "acme/../beta/x");
	assert_int_equal(v.error, SHMBROKER__ERROR__ERR_NONE);
	assert_string_equal(v.tenant, "acme");
	assert_int_equal(v.region_id, r.region_id);
	/* beta's region: the same id, its one client, its own bytes. */
	v = region_info(st, "beta/x");
	assert_string_equal(v.tenant, "beta");
	assert_int_equal(v.region_id, bx.region_id);
	assert_int_equal(v.clients, 1);
	GSS(SHMC_GSS_OK, agent_attach_rw(n.beta, 0, "x", 0, false, NULL, &r),
	    r);
	check_head(&r, "beta's x", "beta's find after acme's ../beta/x");
	/* And the other way: beta inside acme's prefix. */
	GSS(SHMC_GSS_OK, agent_attach_rw(n.beta, 0, "../acme/sensor-2", 1,
	    true, NULL, &r), r);
	assert_string_equal(region_info(st, "beta/../acme/sensor-2").tenant,
	    "beta");
	assert_int_equal(stats_denials(st, &noperm), 0);
	assert_int_equal(noperm, 0);
}

/* Glob characters and case are plain bytes of a name. */
static void
test_glob_and_case(void **state)
{
	struct tstate *st = *state;
	struct names n;
	struct agent_rep mine, r;

	NEED_ROOT();
	names_start(st, &n);
	GSS(SHMC_GSS_OK, agent_attach_rw(n.acme, 0, "sensor-2", 1, true,
	    ACME_PATTERN, &mine), mine);
	/* acme's "*" is a new region of that name behind its prefix. */
	GSS(SHMC_GSS_OK, agent_attach_rw(n.acme, 0, "*", 1, true, NULL, &r),
	    r);
	assert_true(r.created);
	check_head(&r, NULL, "acme's *");
	assert_string_equal(region_info(st, "acme/*").tenant, "acme");
	/* nopfx's "acme*" and "*" are its own, outside acme's prefix; the
	 * glob in acme's namespace is refused like any other name there. */
	GSS(SHMC_GSS_OK, agent_attach_rw(n.nopfx, 0, "acme*", 1, true, NULL,
	    &r), r);
	assert_true(r.created);
	check_head(&r, NULL, "nopfx's acme*");
	assert_string_equal(region_info(st, "acme*").tenant, "nopfx");
	GSS(SHMC_GSS_OK, agent_attach_rw(n.nopfx, 0, "*", 1, true, NULL, &r),
	    r);
	assert_true(r.created);
	check_head(&r, NULL, "nopfx's *");
	nopfx_refused(&n, "acme/*", false);
	nopfx_refused(&n, "acme/sensor-?", false);
	/* Another case is another name: a region of nopfx's, not acme's. */
	GSS(SHMC_GSS_OK, agent_attach_rw(n.nopfx, 0, "ACME/sensor-2", 1, true,
	    NULL, &r), r);
	assert_true(r.created);
	assert_true(r.region_id != mine.region_id);
	check_head(&r, NULL, "nopfx's ACME/sensor-2");
	assert_string_equal(region_info(st, "ACME/sensor-2").tenant, "nopfx");
	assert_int_equal(region_info(st, "acme/sensor-2").clients, 1);
	assert_int_equal(tenant_info(st, "nopfx").denials, n.refusals);
}

/* The default tenant's names get its prefix: acme's are out of reach. */
static void
test_default_tenant(void **state)
{
	struct tstate *st = *state;
	struct names n;
	struct agent_rep mine, r;
	struct check_region v;

	NEED_ROOT();
	names_start(st, &n);
	GSS(SHMC_GSS_OK, agent_attach_rw(n.acme, 0, "sensor-2", 1, true,
	    ACME_PATTERN, &mine), mine);
	GSS(SHMC_GSS_OK, agent_attach_rw(n.guest, 0, "acme/sensor-2", 1, true,
	    NULL, &r), r);
	assert_true(r.created);
	check_head(&r, NULL, "the default tenant's acme/sensor-2");
	v = region_info(st, "guests/acme/sensor-2");
	assert_string_equal(v.tenant, "guests");
	assert_int_equal(v.owner_uid, 2700);
	GSS(SHMC_GSS_DOES_NOT_EXIST, agent_attach(n.guest, 0, "acme/nothing",
	    1, false, &r), r);
	assert_int_equal(region_info(st, "acme/sensor-2").clients, 1);
	assert_true(tenant_info(st, "guests").is_default);
	assert_int_equal(tenant_info(st, "guests").connections, 1);
	/* nopfx may not reach into the default tenant's prefix either. */
	nopfx_refused(&n, "guests/acme/sensor-2", false);
	assert_int_equal(tenant_info(st, "guests").denials, 0);
	assert_int_equal(stats_denials(st, NULL), 1);
}

/* Names are 1 to 31 printable ASCII bytes, whatever the prefix. */
static void
test_name_bytes(void **state)
{
	static const size_t lens[] = { 31, 32, 63, 64, 65 };
	static const char *const bad[] = { "", "tab\tname", "bell\a",
	    "del\x7f", "caf\xc3\xa9", "nl\n" };
	struct tstate *st = *state;
	struct names n;
	struct agent_rep r;
	char name[80];
	uint64_t noperm;

	NEED_ROOT();
	names_start(st, &n);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		int want = lens[i] <= 31 ? SHMC_GSS_OK : SHMC_GSS_ILLEGAL_NAME;

		memset(name, 'n', lens[i]);
		name[lens[i]] = '\0';
		GSS(want, agent_attach(n.acme, 0, name, 1, true, &r), r);
		GSS(want, agent_attach(n.nopfx, 0, name, 1, true, &r), r);
	}
	/* 31 bytes: nopfx's name as it is, acme's behind its 5-byte prefix. */
	name[31] = '\0';
	assert_string_equal(region_info(st, name).tenant, "nopfx");
	memmove(name + 5, name, 32);
	memcpy(name, "acme/", 5);
	assert_string_equal(region_info(st, name).tenant, "acme");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		GSS(SHMC_GSS_ILLEGAL_NAME, agent_attach(n.acme, 0, bad[i], 1,
		    true, &r), r);
		GSS(SHMC_GSS_ILLEGAL_NAME, agent_attach(n.nopfx, 0, bad[i], 1,
		    false, &r), r);
	}
	/* An illegal name is no denial. */
	assert_int_equal(stats_denials(st, &noperm), 0);
	assert_int_equal(noperm, 0);
}

/* ---- README's example, as written ---- */

/* The first ```ini block of README.md's "## Running the daemon". */
static void
readme_ini_block(char *out, size_t len)
{
	char line[512];
	FILE *f = fopen(SHMBROKER_README, "re");
	size_t n = 0;
	int at = 0;	/* before the heading, after it, in the block, past */

	if (f == NULL)
		fail_msg("%s: %s", SHMBROKER_README, strerror(errno));
	while (at < 3 && fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "## ", 3) == 0 && at < 2)
			at = strcmp(line, "## Running the daemon\n") == 0;
		else if (at == 1 && strncmp(line, "```ini", 6) == 0)
			at = 2;
		else if (at == 2 && strncmp(line, "```", 3) == 0)
			at = 3;
		else if (at == 2 && (n += (size_t)snprintf(out + n, len - n,
		    "%s", line)) >= len)
			fail_msg("README's ini block is over %zu bytes", len);
	}
	fclose(f);
	if (at != 3)
		fail_msg("%s: no ```ini block under \"## Running the daemon\"",
		    SHMBROKER_README);
}

/* What its comments promise for acme (uid 1001): sensor-* and ipc-*,
 * but not ipc-secret*, and nothing else. */
static void
test_readme_example(void **state)
{
	static const char *const allowed[] = { "sensor-1", "ipc-x" };
	static const char *const refused[] = { "ipc-secret1", "anything",
	    "x" };
	struct tstate *st = *state;
	struct agent *acme, *shared, *guest;
	struct agent_rep r;
	char conf[8192], key[64];

	NEED_ROOT();
	readme_ini_block(conf, sizeof(conf));
	st->journal = true;
	tenancy_start(st, conf);
	acme = agent_start(st, 1001, 1001);
	agent_vmm(st, acme, 0);
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		GSS(SHMC_GSS_OK, agent_attach(acme, 0, allowed[i], 1, true,
		    &r), r);
		snprintf(key, sizeof(key), "acme/%s", allowed[i]);
		assert_string_equal(region_info(st, key).tenant, "acme");
	}
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		if (agent_attach(acme, 0, refused[i], 1, true, &r) !=
		    SHMC_GSS_NO_PERMISSION)
			fail_msg("README's acme may use %s: status %d",
			    refused[i], r.rc);
		assert_non_null(strstr(r.msg, "allow/deny"));
	}
	assert_int_equal(tenant_info(st, "acme").denials, 3);
	assert_int_equal(region_info(st, "telemetry").error,
	    SHMBROKER__ERROR__ERR_NONE);

	/* telemetry: the shared region for acme's VMMs in group 2000; for
	 * the others, and for the default tenant, whom its mode does not
	 * let in, a name like any other (it does not stand in their way). */
	shared = agent_start(st, 1001, 2000);
	agent_vmm(st, shared, 0);
	GSS(SHMC_GSS_OK, agent_attach(shared, 0, "telemetry", 1, true, &r), r);
	assert_false(r.created);
	assert_int_equal(r.region_id, region_info(st, "telemetry").region_id);
	GSS(SHMC_GSS_OK, agent_attach(acme, 0, "telemetry", 1, true, &r), r);
	assert_true(r.created);
	assert_string_equal(region_info(st, "acme/telemetry").tenant, "acme");
	guest = agent_start(st, 2700, 2700);
	agent_vmm(st, guest, 0);
	GSS(SHMC_GSS_OK, agent_attach(guest, 0, "telemetry", 1, true, &r), r);
	assert_true(r.created);
	assert_string_equal(region_info(st, "guests/telemetry").tenant,
	    "guests");
	assert_int_equal(region_info(st, "telemetry").clients, 1);
	if (log_warnings(st) != 0)
		fail_msg("README's example gives %d warnings; see %s",
		    log_warnings(st), st->d.log);
}

/* README's old order: the deny comes after an allow that takes every name
 * it would, so it never decides, and the last rule, a deny, lets every
 * other name through. The daemon says so, with the file and line. */
static void
test_shadowed_rule_warns(void **state)
{
	static const char conf[] =
	    "[broker]\n"
	    "hugepages = never\n"
	    "[tenant acme]\n"
	    "uid = 1001\n"
	    "prefix = acme/\n"
	    "allow = sensor-*, ipc-*\n"
	    "deny = ipc-secret*\n";
	struct tstate *st = *state;
	struct agent *acme;
	struct agent_rep r;
	char want[256];

	NEED_ROOT();
	st->journal = true;
	acme = start_agent(st, conf, 1001, 1);
	snprintf(want, sizeof(want), "<4>%s:7: [tenant acme] deny ipc-secret* "
	    "can never match: allow ipc-* (line 6) comes first", st->conf);
	if (log_count(st, want) != 1 || log_warnings(st) != 1)
		fail_msg("no one warning '%s' in %s", want, st->d.log);
	/* What the warning is about: each of these is served. */
	GSS(SHMC_GSS_OK, agent_attach(acme, 0, "ipc-secret1", 1, true, &r), r);
	GSS(SHMC_GSS_OK, agent_attach(acme, 0, "anything", 1, true, &r), r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TENANCY_TEST(test_takeover),
		TENANCY_TEST(test_dot_dot),
		TENANCY_TEST(test_glob_and_case),
		TENANCY_TEST(test_default_tenant),
		TENANCY_TEST(test_name_bytes),
		TENANCY_TEST(test_readme_example),
		TENANCY_TEST(test_shadowed_rule_warns),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
