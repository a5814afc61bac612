/* SPDX-License-Identifier: ISC */
/*
 * test_tenancy: tenants against a real shmbrokerd, with VMM clients that
 * really are other users: each test writes a configuration, starts the
 * daemon with --config and gives its orders to agents (children running
 * as other uids and gids, see tenancy_agents.h), so that every assertion
 * stays in the parent. Covered: matching by uid and gid, allow/deny
 * patterns, prefixes that keep tenants apart, the mode bits of regions
 * across tenants, connections no tenant takes, the admin socket's own
 * check and admin_group (a watcher that a reload takes it from is let
 * go), AdminTenants and AdminStats counts, and reloads
 * (AdminReload and SIGHUP) that keep connections and refuse a broken
 * file. Quotas are test_tenancy_quota's, names across tenants
 * test_tenancy_names'. Needs root; every test skips otherwise.
 */
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tenancy_agents.h"

/* ---- the tests ---- */

static const char conf_patterns[] =
    "[broker]\n"
    "hugepages = never\n"
    "\n"
    "[tenant alpha]\n"
    "uid = 2001\n"
    "prefix = a/\n"
    "allow = vm*, pub?\n"
    "\n"
    "[tenant beta]\n"
    "uid = 2002\n"
    "prefix = b/\n"
    "deny = secret*\n"
    "\n"
    "[tenant gamma]\n"
    "gid = 3003\n"
    "deny = gx*\n"
    "allow = g*\n";

static void
test_patterns_and_prefixes(void **state)
{
	struct tstate *st = *state;
	struct agent *a, *b, *g, *n;
	struct agent_rep ra, rb, r;
	struct check_region va, vb;
	uint64_t noperm, refused;

	NEED_ROOT();
	tenancy_start(st, conf_patterns);
	a = agent_start(st, 2001, 2001);
	b = agent_start(st, 2002, 2002);
	g = agent_start(st, 2500, 3003);
	n = agent_start(st, 2600, 2600);
	agent_vmm(st, a, 0);
	agent_vmm(st, a, 1);
	agent_vmm(st, b, 0);
	agent_vmm(st, g, 0);

	/* alpha: only vm* and pub? (implied deny). */
	GSS(SHMC_GSS_OK, agent_attach(a, 0, "vm1", 4, true, &ra), ra);
	assert_true(ra.created);
	GSS(SHMC_GSS_OK, agent_attach(a, 0, "pub1", 1, true, &r), r);
	GSS(SHMC_GSS_NO_PERMISSION, agent_attach(a, 0, "other", 1, true, &r),
	    r);
	assert_non_null(strstr(r.msg, "allow/deny"));
	GSS(SHMC_GSS_NO_PERMISSION, agent_attach(a, 0, "pub12", 1, true, &r),
	    r);

	/* beta: everything but secret* (implied allow); its vm1 is another
	 * region than alpha's. */
	GSS(SHMC_GSS_OK, agent_attach(b, 0, "vm1", 8, true, &rb), rb);
	assert_true(rb.created);
	assert_true(rb.region_id != ra.region_id);
	GSS(SHMC_GSS_NO_PERMISSION, agent_attach(b, 0, "secret-x", 1, true,
	    &r), r);
	GSS(SHMC_GSS_OK, agent_attach(b, 0, "x", 1, true, &r), r);

	/* The prefixes are what the daemon stores. */
	va = region_info(st, "a/vm1");
	assert_int_equal(va.error, SHMBROKER__ERROR__ERR_NONE);
	assert_string_equal(va.tenant, "alpha");
	assert_int_equal(va.owner_uid, 2001);
	assert_int_equal(va.mode, 0600);	/* a tenant's default */
	assert_int_equal(va.size_pages, 4);
	assert_int_equal(va.region_id, ra.region_id);
	vb = region_info(st, "b/vm1");
	assert_int_equal(vb.error, SHMBROKER__ERROR__ERR_NONE);
	assert_string_equal(vb.tenant, "beta");
	assert_int_equal(vb.size_pages, 8);
	assert_int_equal(vb.region_id, rb.region_id);
	assert_int_equal(region_info(st, "vm1").error,
	    SHMBROKER__ERROR__ERR_NOT_FOUND);
	assert_int_equal(region_info(st, "b/x").error,
	    SHMBROKER__ERROR__ERR_NONE);

	/* A find by the guest's name reaches the tenant's own region. */
	GSS(SHMC_GSS_OK, agent_attach(a, 1, "vm1", 0, false, &r), r);
	assert_int_equal(r.region_id, ra.region_id);
	assert_false(r.created);
	GSS(SHMC_GSS_DOES_NOT_EXIST, agent_attach(a, 1, "vm2", 1, false, &r),
	    r);

	/* gamma (by gid): deny gx*, allow g*, implied deny. No prefix. */
	GSS(SHMC_GSS_NO_PERMISSION, agent_attach(g, 0, "gx1", 1, true, &r), r);
	GSS(SHMC_GSS_OK, agent_attach(g, 0, "g1", 1, true, &r), r);
	GSS(SHMC_GSS_NO_PERMISSION, agent_attach(g, 0, "h1", 1, true, &r), r);
	assert_string_equal(region_info(st, "g1").tenant, "gamma");
	assert_int_equal(region_info(st, "g1").owner_uid, 2500);

	/* No tenant for uid 2600 and no default: refused and closed at
	 * once, which counts as a refused connection, not a denied request. */
	refused = stats_refused(st);
	agent_refused(n, 0, st->d.socket, "no tenant matches");
	assert_int_equal(stats_refused(st), refused + 1);

	assert_int_equal(tenant_info(st, "alpha").denials, 2);
	assert_int_equal(tenant_info(st, "beta").denials, 1);
	assert_int_equal(tenant_info(st, "gamma").denials, 2);
	assert_int_equal(stats_denials(st, &noperm), 5);
	assert_int_equal(noperm, 5);
	assert_int_equal(tenant_info(st, "alpha").regions, 2);
	assert_int_equal(tenant_info(st, "alpha").clients, 3);
	assert_int_equal(tenant_info(st, "alpha").connections, 2);
	assert_string_equal(tenant_info(st, "alpha").prefix, "a/");
}

static const char conf_matching[] =
    "[broker]\n"
    "hugepages = never\n"
    "default_tenant = guest\n"
    "\n"
    "[tenant both]\n"
    "uid = 2001\n"
    "gid = 3001\n"
    "prefix = both/\n"
    "\n"
    "[tenant byuid]\n"
    "uid = 2001\n"
    "prefix = uid/\n"
    "\n"
    "[tenant guest]\n"
    "prefix = guest/\n";

static void
test_matching_and_default(void **state)
{
	struct tstate *st = *state;
	struct agent *both, *uidonly, *other;
	struct agent_rep r;

	NEED_ROOT();
	tenancy_start(st, conf_matching);
	both = agent_start(st, 2001, 3001);
	uidonly = agent_start(st, 2001, 3002);
	other = agent_start(st, 2700, 2700);
	agent_vmm(st, both, 0);
	agent_vmm(st, uidonly, 0);
	agent_vmm(st, other, 0);
	GSS(SHMC_GSS_OK, agent_attach(both, 0, "x", 1, true, &r), r);
	GSS(SHMC_GSS_OK, agent_attach(uidonly, 0, "x", 1, true, &r), r);
	GSS(SHMC_GSS_OK, agent_attach(other, 0, "x", 1, true, &r), r);
	assert_true(r.created);
	/* uid and gid both: "both"; the uid alone: the next match; neither:
	 * the default. */
	assert_string_equal(region_info(st, "both/x").tenant, "both");
	assert_string_equal(region_info(st, "uid/x").tenant, "byuid");
	assert_string_equal(region_info(st, "guest/x").tenant, "guest");
	assert_int_equal(region_info(st, "guest/x").owner_uid, 2700);
	assert_true(tenant_info(st, "guest").is_default);
	assert_false(tenant_info(st, "both").is_default);
	assert_false(tenant_info(st, "byuid").is_default);
	assert_int_equal(tenant_info(st, "guest").connections, 1);
	assert_int_equal(tenant_info(st, "both").connections, 1);
	assert_int_equal(tenant_info(st, "byuid").connections, 1);
	assert_int_equal(stats_denials(st, NULL), 0);
}

static const char conf_modes[] =
    "[broker]\n"
    "hugepages = never\n"
    "[tenant o600]\nuid = 2001\nmode = 0600\n"
    "[tenant o660]\nuid = 2011\nmode = 0660\ngroup = 3100\n"
    "[tenant o666]\nuid = 2021\nmode = 0666\n"
    "[tenant peer]\nuid = 2002\n";

static void
test_mode_bits(void **state)
{
	struct tstate *st = *state;
	struct agent *o600, *o600b, *o660, *o666, *pgroup, *pother;
	struct agent_rep r;

	NEED_ROOT();
	tenancy_start(st, conf_modes);
	o600 = agent_start(st, 2001, 2001);
	o600b = agent_start(st, 2001, 2001);
	o660 = agent_start(st, 2011, 2011);
	o666 = agent_start(st, 2021, 2021);
	pgroup = agent_start(st, 2002, 3100);
	pother = agent_start(st, 2002, 3002);
	for (int i = 0; i < st->nagents; i++)
		agent_vmm(st, &st->agents[i], 0);
	GSS(SHMC_GSS_OK, agent_attach(o600, 0, "p600", 1, true, &r), r);
	GSS(SHMC_GSS_OK, agent_attach(o660, 0, "p660", 1, true, &r), r);
	GSS(SHMC_GSS_OK, agent_attach(o666, 0, "p666", 1, true, &r), r);
	assert_int_equal(region_info(st, "p600").mode, 0600);
	assert_int_equal(region_info(st, "p660").mode, 0660);
	assert_int_equal(region_info(st, "p660").owner_uid, 2011);
	assert_int_equal(region_info(st, "p666").mode, 0666);

	/* 0600: the owner's uid only, on any connection. */
	GSS(SHMC_GSS_NO_PERMISSION, agent_attach(pgroup, 0, "p600", 1, true,
	    &r), r);
	assert_non_null(strstr(r.msg, "mode"));
	GSS(SHMC_GSS_NO_PERMISSION, agent_attach(pother, 0, "p600", 1, false,
	    &r), r);
	GSS(SHMC_GSS_OK, agent_attach(o600b, 0, "p600", 1, false, &r), r);
	/* 0660 with group 3100: that group, not others. */
	GSS(SHMC_GSS_OK, agent_attach(pgroup, 0, "p660", 1, false, &r), r);
	GSS(SHMC_GSS_NO_PERMISSION, agent_attach(pother, 0, "p660", 1, true,
	    &r), r);
	/* 0666: anyone. */
	GSS(SHMC_GSS_OK, agent_attach(pother, 0, "p666", 1, false, &r), r);
	GSS(SHMC_GSS_OK, agent_attach(pgroup, 0, "p666", 1, true, &r), r);
	assert_false(r.created);

	/* The region is its creator's; the clients are their own tenant's. */
	assert_int_equal(tenant_info(st, "o666").regions, 1);
	assert_int_equal(tenant_info(st, "o666").clients, 1);
	assert_int_equal(tenant_info(st, "o600").clients, 2);
	assert_int_equal(tenant_info(st, "peer").regions, 0);
	assert_int_equal(tenant_info(st, "peer").clients, 3);
	assert_int_equal(tenant_info(st, "peer").denials, 3);
	assert_int_equal(stats_denials(st, NULL), 3);
	assert_int_equal(region_info(st, "p666").clients, 3);
}

static void
test_admin_socket(void **state)
{
	struct tstate *st = *state;
	struct agent *x, *y;
	char msg[256];
	uint64_t refused;

	NEED_ROOT();
	tenancy_start(st,
	    "[broker]\ntenancy = open\nadmin_group = 4000\n");
	/* Let the daemon's own check refuse, not the file mode. */
	assert_int_equal(chmod(st->d.admin_socket, 0666), 0);
	x = agent_start(st, 65534, 65534);
	y = agent_start(st, 65534, 4000);
	refused = stats_refused(st);
	agent_refused(x, 0, st->d.admin_socket, "admin socket is for root");
	assert_int_equal(stats_refused(st), refused + 1);
	assert_int_equal(agent_connect(y, 0, st->d.admin_socket, msg,
	    sizeof(msg)), 0);
	assert_int_equal(agent_simple(y, 0, OP_ADMIN_STATUS, 0),
	    SHMBROKER__ERROR__ERR_NONE);
	/* Without tenants everyone is a VMM. */
	agent_vmm(st, x, 1);
	assert_int_equal(stats_denials(st, NULL), 0);

	/* Without admin_group, y's standing connection is refused from its
	 * next request on, and a new one at once. */
	check_write_file(st->conf,
	    "[broker]\ntenancy = open\nlog_level = info\n");
	assert_int_equal(check_admin_reload(st->adm, msg, sizeof(msg)),
	    SHMBROKER__ERROR__ERR_NONE);
	assert_true(agent_simple(y, 0, OP_ADMIN_STATUS, 0) != 0);
	agent_refused(y, 1, st->d.admin_socket, "admin socket is for root");
}

/* An admin event seen by the watcher child. */
static void
watch_seen(const struct shmc_event *ev, void *arg)
{
	if (ev->kind == SHMC_EVENT_ADMIN)
		*(int *)arg += 1;
}

/* In a child as uid 65534, gid 4000: watches on the admin socket, says
 * 'W' on out, waits for a byte on in, then says within 3 s whether it
 * heard an event ('E'), its connection closed ('X') or neither ('T'). */
static void __attribute__((noreturn))
refused_watcher(const char *sock, int in, int out)
{
	struct pollfd p;
	struct shmc *w;
	char c = 'T';
	int seen = 0;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (setgroups(0, NULL) < 0 || setgid(4000) < 0 || setuid(65534) < 0 ||
	    shmc_connect(sock, "watcher", 5000, &w, NULL, 0) < 0 ||
	    shmc_admin_watch(w) < 0 || write(out, "W", 1) != 1 ||
	    read(in, &c, 1) != 1)
		_exit(1);
	c = 'T';
	p = (struct pollfd){ .fd = shmc_event_fd(w), .events = POLLIN };
	for (int64_t end = harness_now_ms() + 3000; c == 'T' &&
	    harness_now_ms() < end;) {
		if (poll(&p, 1, 100) <= 0)
			continue;
		if (shmc_dispatch(w, watch_seen, &seen) < 0)
			c = 'X';
		else if (seen > 0)
			c = 'E';
	}
	_exit(write(out, &c, 1) == 1 ? 0 : 1);
}

/*
 * A watcher in admin_group keeps no admin rights the reload takes away:
 * it made no request to be refused at, and heard every tenant's region
 * events on (a reviewer's find); it is now let go at the reload.
 */
static void
test_watcher_refused_at_reload(void **state)
{
	struct tstate *st = *state;
	int to[2], from[2];
	char c = 0, msg[256];

	NEED_ROOT();
	tenancy_start(st,
	    "[broker]\ntenancy = open\nadmin_group = 4000\n");
	assert_int_equal(chmod(st->d.admin_socket, 0666), 0);
	assert_int_equal(pipe2(to, O_CLOEXEC), 0);
	assert_int_equal(pipe2(from, O_CLOEXEC), 0);
	if ((st->child = fork()) == 0)
		refused_watcher(st->d.admin_socket, to[0], from[1]);
	assert_true(st->child > 0);
	assert_int_equal(read(from[0], &c, 1), 1);
	assert_int_equal(c, 'W');

	check_write_file(st->conf,
	    "[broker]\ntenancy = open\nlog_level = info\n");
	assert_int_equal(check_admin_reload(st->adm, msg, sizeof(msg)),
	    SHMBROKER__ERROR__ERR_NONE);
	assert_int_equal(check_admin_create(st->adm, "secret-after", 1), 0);
	assert_int_equal(write(to[1], "g", 1), 1);
	assert_int_equal(read(from[0], &c, 1), 1);
	print_message("the watcher after the reload: %c\n", c);
	assert_int_equal(c, 'X');
	close(to[0]);
	close(to[1]);
	close(from[0]);
	close(from[1]);
}

static void
test_tenant_usage(void **state)
{
	struct tstate *st = *state;
	struct agent *a, *b;
	struct agent_rep one, two, extra, r;
	struct tenant_view v;

	NEED_ROOT();
	a = start_agent(st, "[broker]\nhugepages = never\n"
	    "[tenant alpha]\nuid = 2001\nmode = 0666\n"
	    "[tenant beta]\nuid = 2002\n", 2001, 2);
	b = agent_start(st, 2002, 2002);
	agent_vmm(st, b, 0);
	GSS(SHMC_GSS_OK, agent_attach(a, 0, "one", 16, true, &one), one);
	GSS(SHMC_GSS_OK, agent_attach(a, 0, "two", 32, true, &two), two);
	GSS(SHMC_GSS_OK, agent_attach(a, 1, "one", 16, true, &extra), extra);
	v = tenant_info(st, "alpha");
	assert_true(v.found);
	assert_int_equal(v.regions, 2);
	assert_int_equal(v.clients, 3);
	assert_int_equal(v.bytes, 48 * 4096);
	assert_int_equal(v.connections, 2);
	assert_int_equal(v.mode, 0666);

	/* beta's client of alpha's region is beta's; the region alpha's. */
	GSS(SHMC_GSS_OK, agent_attach(b, 0, "one", 16, true, &r), r);
	v = tenant_info(st, "beta");
	assert_int_equal(v.regions, 0);
	assert_int_equal(v.clients, 1);
	assert_int_equal(v.bytes, 0);
	assert_int_equal(v.connections, 1);
	assert_int_equal(tenant_info(st, "alpha").clients, 3);

	assert_int_equal(agent_simple(a, 1, OP_DETACH, extra.client_id), 0);
	assert_int_equal(tenant_info(st, "alpha").clients, 2);
	assert_int_equal(agent_simple(a, 1, OP_CLOSE, 0), 0);
	v = tenant_wait(st, "alpha", 2, 2, 1);
	assert_int_equal(v.connections, 1);

	agent_kill(b);
	v = tenant_wait(st, "beta", 0, 0, 0);
	assert_int_equal(v.clients, 0);
	assert_int_equal(v.connections, 0);
	assert_int_equal(region_info(st, "one").clients, 1);

	agent_kill(a);
	v = tenant_wait(st, "alpha", 0, 0, 0);
	assert_int_equal(v.regions, 0);
	assert_int_equal(v.clients, 0);
	assert_int_equal(v.bytes, 0);
	assert_int_equal(v.connections, 0);
	assert_int_equal(region_info(st, "one").error,
	    SHMBROKER__ERROR__ERR_NOT_FOUND);
}

static const char conf_reload1[] =
    "[broker]\nhugepages = never\n"
    "[tenant alpha]\nuid = 2001\nallow = vm*\nmax_regions = 1\n";
static const char conf_reload2[] =
    "[broker]\nhugepages = never\n"
    "[tenant alpha]\nuid = 2001\nallow = vm*\nmax_regions = 3\n"
    "[tenant beta]\nuid = 2002\n";
static const char conf_reload3[] =
    "[broker]\nhugepages = never\n"
    "[tenant alpha]\nuid = 2001\nallow = vm*\nmax_regions = 5\n"
    "[tenant beta]\nuid = 2002\n";
static const char conf_broken[] =
    "[broker]\nhugepages = never\n"
    "[tenant alpha]\nuid = 2001\nmax_regions = many\n"
    "[tenant beta]\nuid = 2002\n";
static const char conf_no_beta[] =
    "[broker]\nhugepages = never\n"
    "[tenant alpha]\nuid = 2001\nallow = vm*\nmax_regions = 5\n";

static void
test_reload(void **state)
{
	struct tstate *st = *state;
	struct agent *a, *b;
	struct agent_rep held, r;
	struct tenant_view v;
	int64_t deadline;
	char msg[512], want[192];

	NEED_ROOT();
	a = start_agent(st, conf_reload1, 2001, 1);
	b = agent_start(st, 2002, 2002);
	GSS(SHMC_GSS_OK, agent_attach(a, 0, "vm1", 1, true, &held), held);
	GSS(SHMC_GSS_NOMEM, agent_attach(a, 0, "vm2", 1, true, &r), r);
	agent_refused(b, 0, st->d.socket, "no tenant matches");

	/* AdminReload: a higher quota and a new tenant. */
	check_write_file(st->conf, conf_reload2);
	assert_int_equal(check_admin_reload(st->adm, msg, sizeof(msg)),
	    SHMBROKER__ERROR__ERR_NONE);
	assert_int_equal(agent_simple(a, 0, OP_NOTIFY, held.client_id), 0);
	GSS(SHMC_GSS_OK, agent_attach(a, 0, "vm2", 1, true, &r), r);
	agent_vmm(st, b, 0);
	GSS(SHMC_GSS_OK, agent_attach(b, 0, "x", 1, true, &r), r);
	v = tenant_info(st, "alpha");
	assert_int_equal(v.max_regions, 3);
	assert_int_equal(v.regions, 2);	/* usage outlives the reload */
	assert_int_equal(v.clients, 2);
	assert_int_equal(v.connections, 1);
	assert_true(tenant_info(st, "beta").found);
	assert_int_equal(region_info(st, "vm1").clients, 1);

	/* SIGHUP does the same; wait until it has been applied. */
	check_write_file(st->conf, conf_reload3);
	assert_int_equal(kill(st->d.pid, SIGHUP), 0);
	deadline = harness_now_ms() + WAIT_MS;
	while (tenant_info(st, "alpha").max_regions != 5 &&
	    harness_now_ms() < deadline)
		harness_sleep_ms(10);
	assert_int_equal(tenant_info(st, "alpha").max_regions, 5);
	GSS(SHMC_GSS_OK, agent_attach(a, 0, "vm3", 1, true, &r), r);
	assert_int_equal(agent_simple(a, 0, OP_NOTIFY, held.client_id), 0);

	/* A broken file: ERR_INVALID naming file:line, the rules stay. */
	check_write_file(st->conf, conf_broken);
	assert_int_equal(check_admin_reload(st->adm, msg, sizeof(msg)),
	    SHMBROKER__ERROR__ERR_INVALID);
	snprintf(want, sizeof(want), "%s:5:", st->conf);
	if (strstr(msg, want) == NULL || strstr(msg, "max_regions = many") ==
	    NULL || strstr(msg, "whole numbers") == NULL)
		fail_msg("reload error does not name %s and the reason: %s",
		    want, msg);
	v = tenant_info(st, "alpha");
	assert_int_equal(v.max_regions, 5);
	assert_int_equal(v.regions, 3);
	GSS(SHMC_GSS_NO_PERMISSION, agent_attach(a, 0, "notvm", 1, true, &r),
	    r);
	assert_int_equal(agent_simple(a, 0, OP_NOTIFY, held.client_id), 0);
	GSS(SHMC_GSS_OK, agent_attach(b, 0, "y", 1, true, &r), r);
	/* The same by SIGHUP: the daemon stays, with the old rules. */
	assert_int_equal(log_count(st, "reload failed"), 1);
	assert_int_equal(kill(st->d.pid, SIGHUP), 0);
	deadline = harness_now_ms() + WAIT_MS;
	while (log_count(st, "reload failed") < 2 &&
	    harness_now_ms() < deadline)
		harness_sleep_ms(10);
	assert_int_equal(log_count(st, "reload failed"), 2);
	assert_int_equal(agent_simple(a, 0, OP_NOTIFY, held.client_id), 0);
	assert_int_equal(tenant_info(st, "alpha").max_regions, 5);

	/* A tenant that goes: its connections are refused from then on. */
	check_write_file(st->conf, conf_no_beta);
	assert_int_equal(check_admin_reload(st->adm, msg, sizeof(msg)),
	    SHMBROKER__ERROR__ERR_NONE);
	assert_false(tenant_info(st, "beta").found);
	assert_true(agent_attach(b, 0, "z", 1, true, &r) < 0);
	assert_non_null(strstr(r.msg, "no tenant matches"));
	assert_int_equal(agent_simple(a, 0, OP_NOTIFY, held.client_id), 0);
	assert_int_equal(region_info(st, "vm1").clients, 1);
}

/* The admin socket serves VMM requests too; an admin connection has no
 * tenant and must not take the daemon down. */
static void
test_admin_socket_vmm_requests(void **state)
{
	struct tstate *st = *state;
	struct shmc_region reg;
	uint32_t regions, clients;
	int rc;

	tenancy_start(st,
	    "[broker]\ntenancy = open\nhugepages = never\n");
	rc = shmc_attach(st->adm, "from-admin", 1, true, &reg);
	if (rc < 0)
		fail_msg("attach on the admin socket: %d (%s)", rc,
		    shmc_error(st->adm));
	if (rc == SHMC_GSS_OK)
		close(reg.fd);
	check_admin_counts(st->adm, &regions, &clients);
	assert_int_equal(kill(st->d.pid, 0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TENANCY_TEST(test_patterns_and_prefixes),
		TENANCY_TEST(test_matching_and_default),
		TENANCY_TEST(test_mode_bits),
		TENANCY_TEST(test_admin_socket),
		TENANCY_TEST(test_watcher_refused_at_reload),
		TENANCY_TEST(test_tenant_usage),
		TENANCY_TEST(test_reload),
		TENANCY_TEST(test_admin_socket_vmm_requests),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
