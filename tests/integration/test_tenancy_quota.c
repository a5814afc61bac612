/* SPDX-License-Identifier: ISC */
/*
 * test_tenancy_quota: a tenant's quotas against a real shmbrokerd, with
 * VMM clients that really are other users (agents, see tenancy_agents.h):
 * max_regions, max_clients, max_bytes (of what a region really holds, a
 * hugetlb one too), max_hugepages and max_connections; what a client,
 * region or connection that goes gives back; and that a quota is no
 * denial. Needs root; every test skips
 * otherwise, and the hugetlb ones where the kernel has no 2 MiB pages.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tenancy_agents.h"

static void
test_quota_regions(void **state)
{
	struct tstate *st = *state;
	struct agent *a;
	struct agent_rep r1a, r1b, r;

	NEED_ROOT();
	a = start_agent(st, "[broker]\nhugepages = never\n"
	    "[tenant q]\nuid = 2001\nmax_regions = 2\n", 2001, 2);
	GSS(SHMC_GSS_OK, agent_attach(a, 0, "r1", 1, true, &r1a), r1a);
	GSS(SHMC_GSS_OK, agent_attach(a, 0, "r2", 1, true, &r), r);
	GSS(SHMC_GSS_NOMEM, agent_attach(a, 0, "r3", 1, true, &r), r);
	assert_non_null(strstr(r.msg, "max_regions"));
	assert_int_equal(region_info(st, "r3").error,
	    SHMBROKER__ERROR__ERR_NOT_FOUND);
	/* Attaching to what exists is no new region. */
	GSS(SHMC_GSS_OK, agent_attach(a, 1, "r1", 1, true, &r1b), r1b);
	assert_false(r1b.created);
	assert_int_equal(tenant_info(st, "q").regions, 2);
	assert_int_equal(tenant_info(st, "q").max_regions, 2);
	assert_int_equal(tenant_info(st, "q").clients, 3);

	/* r1 goes with its last client, and makes room. */
	assert_int_equal(agent_simple(a, 0, OP_DETACH, r1a.client_id), 0);
	assert_int_equal(agent_simple(a, 1, OP_DETACH, r1b.client_id), 0);
	assert_int_equal(region_info(st, "r1").error,
	    SHMBROKER__ERROR__ERR_NOT_FOUND);
	assert_int_equal(tenant_info(st, "q").regions, 1);
	GSS(SHMC_GSS_OK, agent_attach(a, 1, "r3", 1, true, &r), r);
	assert_int_equal(tenant_info(st, "q").regions, 2);
	/* Quotas are not denials. */
	assert_int_equal(tenant_info(st, "q").denials, 0);
}

static void
test_quota_clients(void **state)
{
	struct tstate *st = *state;
	struct agent *a, *a2;
	struct agent_rep r;
	struct tenant_view v;

	NEED_ROOT();
	a = start_agent(st, "[broker]\nhugepages = never\n"
	    "[tenant q]\nuid = 2001\nmax_clients = 3\n", 2001, 2);
	GSS(SHMC_GSS_OK, agent_attach(a, 0, "r", 1, true, &r), r);
	GSS(SHMC_GSS_OK, agent_attach(a, 0, "r", 1, true, &r), r);
	GSS(SHMC_GSS_OK, agent_attach(a, 1, "other", 1, true, &r), r);
	GSS(SHMC_GSS_NOMEM, agent_attach(a, 1, "r", 1, true, &r), r);
	assert_non_null(strstr(r.msg, "max_clients"));
	GSS(SHMC_GSS_NOMEM, agent_attach(a, 1, "new", 1, true, &r), r);
	assert_int_equal(region_info(st, "new").error,
	    SHMBROKER__ERROR__ERR_NOT_FOUND);
	v = tenant_info(st, "q");
	assert_int_equal(v.clients, 3);
	assert_int_equal(v.max_clients, 3);
	assert_int_equal(v.regions, 2);
	assert_int_equal(v.connections, 2);

	/* A client that dies gives its share back. */
	agent_kill(a);
	v = tenant_wait(st, "q", 0, 0, 0);
	assert_int_equal(v.clients, 0);
	assert_int_equal(v.regions, 0);
	assert_int_equal(v.connections, 0);
	assert_int_equal(v.bytes, 0);
	a2 = agent_start(st, 2001, 2001);
	agent_vmm(st, a2, 0);
	for (int i = 0; i < 3; i++)
		GSS(SHMC_GSS_OK, agent_attach(a2, 0, "r", 1, true, &r), r);
	GSS(SHMC_GSS_NOMEM, agent_attach(a2, 0, "r", 1, true, &r), r);
}

static void
test_quota_bytes(void **state)
{
	struct tstate *st = *state;
	struct agent *a;
	struct agent_rep ra, r;

	NEED_ROOT();
	a = start_agent(st, "[broker]\nhugepages = never\n"
	    "[tenant q]\nuid = 2001\nmax_bytes = 1M\n", 2001, 1);
	/* Over the quota on its own. */
	GSS(SHMC_GSS_NOMEM, agent_attach(a, 0, "big", 257, true, &r), r);
	assert_non_null(strstr(r.msg, "max_bytes"));
	GSS(SHMC_GSS_OK, agent_attach(a, 0, "a", 128, true, &ra), ra);
	GSS(SHMC_GSS_OK, agent_attach(a, 0, "b", 128, true, &r), r);
	assert_int_equal(tenant_info(st, "q").bytes, 256 * 4096);
	assert_int_equal(tenant_info(st, "q").max_bytes, 1 << 20);
	GSS(SHMC_GSS_NOMEM, agent_attach(a, 0, "c", 1, true, &r), r);
	assert_non_null(strstr(r.msg, "max_bytes"));
	/* Attaching costs no bytes. */
	GSS(SHMC_GSS_OK, agent_attach(a, 0, "a", 1, true, &r), r);
	assert_int_equal(agent_simple(a, 0, OP_DETACH, r.client_id), 0);
	assert_int_equal(agent_simple(a, 0, OP_DETACH, ra.client_id), 0);
	assert_int_equal(tenant_info(st, "q").bytes, 128 * 4096);
	GSS(SHMC_GSS_OK, agent_attach(a, 0, "c", 128, true, &r), r);
	assert_int_equal(tenant_info(st, "q").bytes, 256 * 4096);
}

/* Takes n free hugepages for the test (given back in teardown); skips
 * the test when the kernel has none to give. */
static void
test_quota_hugepages(void **state)
{
	struct tstate *st = *state;
	struct agent *a;
	struct agent_rep r;
	struct tenant_view v;

	NEED_ROOT();
	need_hugepages(st, 4);
	a = start_agent(st, "[broker]\nhugepages = require\n"
	    "[tenant h]\nuid = 2001\nmax_hugepages = 2\n", 2001, 1);
	GSS(SHMC_GSS_OK, agent_attach(a, 0, "h1", 512, true, &r), r);
	assert_int_equal(region_info(st, "h1").backing,
	    SHMBROKER__BACKING__BACKING_HUGETLB);
	GSS(SHMC_GSS_OK, agent_attach(a, 0, "h2", 1, true, &r), r);
	v = tenant_info(st, "h");
	assert_int_equal(v.hugepages, 2);
	assert_int_equal(v.max_hugepages, 2);
	assert_int_equal(v.bytes, 4u << 20);
	GSS(SHMC_GSS_NOMEM, agent_attach(a, 0, "h3", 1, true, &r), r);
	assert_non_null(strstr(r.msg, "max_hugepages"));
	/* Counted under its own limit, not under max_bytes. */
	assert_int_equal(CHECK_STAT(st->adm, refused_max_hugepages), 1);
	assert_int_equal(CHECK_STAT(st->adm, refused_max_bytes), 0);
	assert_int_equal(region_info(st, "h3").error,
	    SHMBROKER__ERROR__ERR_NOT_FOUND);
	assert_int_equal(tenant_info(st, "h").regions, 2);
	agent_kill(a);
	v = tenant_wait(st, "h", 0, 0, 0);
	assert_int_equal(v.hugepages, 0);
	assert_int_equal(v.bytes, 0);
}

/* max_bytes counts what a region really holds: a one-page hugetlb
 * region is 2 MiB of memory, and must not take a tenant past its quota. */
static void
test_quota_bytes_hugetlb(void **state)
{
	struct tstate *st = *state;
	struct agent *a;
	struct agent_rep r;
	struct tenant_view v;
	int rc;

	NEED_ROOT();
	need_hugepages(st, 4);
	a = start_agent(st, "[broker]\nhugepages = require\n"
	    "[tenant h]\nuid = 2001\nmax_bytes = 3M\n", 2001, 1);
	GSS(SHMC_GSS_OK, agent_attach(a, 0, "h1", 1, true, &r), r);
	assert_int_equal(tenant_info(st, "h").bytes, 2u << 20);
	rc = agent_attach(a, 0, "h2", 1, true, &r);
	v = tenant_info(st, "h");
	if (v.bytes > v.max_bytes)
		fail_msg("tenant h holds %llu bytes with max_bytes %llu (the "
		    "second attach returned %d)", (unsigned long long)v.bytes,
		    (unsigned long long)v.max_bytes, rc);
	GSS(SHMC_GSS_NOMEM, rc, r);
}

/* Connections refused at their tenant's max_connections. */
static uint64_t
tenant_conns_refused(struct tstate *st)
{
	return CHECK_STAT(st->adm, refused_tenant_max_connections);
}

static const char conf_conns[] =
    "[broker]\nhugepages = never\n"
    "[tenant a]\nuid = 2001\nmax_connections = 3\n"
    "[tenant b]\nuid = 2002\n";

/*
 * A tenant's 4th connection past max_connections = 3 is refused with
 * ERR_NO_RESOURCES and a message naming the tenant's limit, logged and
 * counted; its other connections are served, another tenant connects
 * all the same, and one of its own that goes makes room.
 */
static void
test_quota_connections(void **state)
{
	struct tstate *st = *state;
	struct agent *a, *b;
	struct agent_rep r;
	struct tenant_view v;
	uint64_t no_tenant;

	NEED_ROOT();
	a = start_agent(st, conf_conns, 2001, 3);
	b = agent_start(st, 2002, 2002);
	no_tenant = stats_refused(st);	/* the harness's probe, as root */
	v = tenant_info(st, "a");
	assert_int_equal(v.connections, 3);
	assert_int_equal(v.max_connections, 3);
	assert_int_equal(tenant_info(st, "b").max_connections, 0);
	assert_int_equal(tenant_conns_refused(st), 0);

	agent_refused(a, 3, st->d.socket,
	    "tenant a holds 3 connections, its max_connections is 3");
	assert_int_equal(tenant_conns_refused(st), 1);
	assert_int_equal(log_count(st, "raise max_connections in [tenant a]"),
	    1);
	/* Not a denial, nor a connection no tenant matches. */
	assert_int_equal(stats_refused(st), no_tenant);
	assert_int_equal(tenant_info(st, "a").denials, 0);
	assert_int_equal(tenant_info(st, "a").connections, 3);

	/* Those in are served; the other tenant is too. */
	GSS(SHMC_GSS_OK, agent_attach(a, 2, "a-in", 1, true, &r), r);
	for (int i = 0; i < 3; i++)
		agent_vmm(st, b, i);
	GSS(SHMC_GSS_OK, agent_attach(b, 0, "b-in", 1, true, &r), r);
	assert_int_equal(tenant_info(st, "b").connections, 3);

	/* One of a's that goes makes room for one more, and only one. */
	assert_int_equal(agent_simple(a, 0, OP_CLOSE, 0), 0);
	/* a-in stays, with slot 2. */
	assert_int_equal(tenant_wait(st, "a", 1, 1, 2).connections, 2);
	agent_vmm(st, a, 3);
	assert_int_equal(tenant_info(st, "a").connections, 3);
	agent_refused(a, 0, st->d.socket, "its max_connections");
	assert_int_equal(tenant_conns_refused(st), 2);
}

/* A tenant's max_connections that is not below the daemon's does not
 * keep its VMMs from filling the daemon: the daemon says so, once, with
 * the file and line; one below it is quiet. */
static void
test_quota_connections_warns(void **state)
{
	static const char conf[] =
	    "[broker]\nhugepages = never\nmax_connections = 8\n"
	    "[tenant a]\nuid = 2001\nmax_connections = 8\n"
	    "[tenant b]\nuid = 2002\nmax_connections = 7\n";
	struct tstate *st = *state;
	char want[512];

	NEED_ROOT();
	st->journal = true;
	start_agent(st, conf, 2001, 1);
	snprintf(want, sizeof(want), "<4>%s:4: [tenant a] max_connections = 8 "
	    "is not below the daemon's max_connections (8)", st->conf);
	if (log_count(st, want) != 1 || log_warnings(st) != 1)
		fail_msg("no one warning '%s' in %s", want, st->d.log);
}

static const char conf_conns_lower[] =
    "[broker]\nhugepages = never\n"
    "[tenant a]\nuid = 2001\nmax_connections = 1\n";
static const char conf_conns_renamed[] =
    "[broker]\nhugepages = never\n"
    "[tenant a2]\nuid = 2001\nmax_connections = 2\n";

/*
 * A reload that lowers a tenant's max_connections under what it holds
 * closes none of its connections (they are served) and refuses new ones
 * until enough have gone; a reload that moves the connections to another
 * tenant moves their count with them.
 */
static void
test_quota_connections_reload(void **state)
{
	struct tstate *st = *state;
	struct agent *a;
	struct agent_rep r;
	char msg[512];
	struct tenant_view v;

	NEED_ROOT();
	a = start_agent(st, conf_conns, 2001, 3);
	check_write_file(st->conf, conf_conns_lower);
	assert_int_equal(check_admin_reload(st->adm, msg, sizeof(msg)),
	    SHMBROKER__ERROR__ERR_NONE);
	v = tenant_info(st, "a");
	assert_int_equal(v.max_connections, 1);
	assert_int_equal(v.connections, 3);
	for (int i = 0; i < 3; i++) {
		char name[8];

		snprintf(name, sizeof(name), "r%d", i);
		GSS(SHMC_GSS_OK, agent_attach(a, i, name, 1, true, &r), r);
	}
	agent_refused(a, 3, st->d.socket, "tenant a holds 3 connections, its max_connections is 1");
	assert_int_equal(agent_simple(a, 1, OP_CLOSE, 0), 0);
	assert_int_equal(agent_simple(a, 2, OP_CLOSE, 0), 0);
	/* r0 stays, with slot 0. */
	assert_int_equal(tenant_wait(st, "a", 1, 1, 1).connections, 1);
	agent_refused(a, 3, st->d.socket, "tenant a holds 1 connection, its max_connections is 1");
	assert_int_equal(tenant_conns_refused(st), 2);

	/* Renamed, the tenant's connection counts under its new name; the
	 * new limit has room for one more. */
	check_write_file(st->conf, conf_conns_renamed);
	assert_int_equal(check_admin_reload(st->adm, msg, sizeof(msg)),
	    SHMBROKER__ERROR__ERR_NONE);
	assert_int_equal(tenant_info(st, "a2").connections, 1);
	agent_vmm(st, a, 1);
	assert_int_equal(tenant_info(st, "a2").connections, 2);
	agent_refused(a, 2, st->d.socket, "tenant a2 holds 2 connections");
	GSS(SHMC_GSS_OK, agent_attach(a, 0, "r0", 1, false, &r), r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TENANCY_TEST(test_quota_regions),
		TENANCY_TEST(test_quota_clients),
		TENANCY_TEST(test_quota_bytes),
		TENANCY_TEST(test_quota_hugepages),
		TENANCY_TEST(test_quota_bytes_hugetlb),
		TENANCY_TEST(test_quota_connections),
		TENANCY_TEST(test_quota_connections_warns),
		TENANCY_TEST(test_quota_connections_reload),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
