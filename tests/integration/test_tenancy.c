/*
 * test_tenancy: tenants against a real shmbrokerd, with VMM clients that
 * really are other users. Each test writes a configuration, starts the
 * daemon with --config and runs "agents": children that drop to a uid and
 * gid (setgroups, setgid, setuid) and then drive libshmclient on the
 * parent's orders, answering over a socketpair, so that every assertion
 * stays in the parent. Covered: matching by uid and gid, allow/deny
 * patterns, prefixes that keep tenants apart, each quota, the mode bits of
 * regions across tenants, connections no tenant takes, the admin socket's
 * own check and admin_group, AdminTenants and AdminStats counts, and
 * reloads (AdminReload and SIGHUP) that keep connections and refuse a
 * broken file. Needs root; every test skips otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "shmclient.h"
#include "shmclient_admin.h"
#include "testcheck.h"

#define MAX_AGENTS 8
#define AGENT_SLOTS 4
#define WAIT_MS 5000

/* ---- agents: a client process running as another user ---- */

enum agent_op {
	OP_CONNECT,		/* path, label: shmc_connect into slot */
	OP_ATTACH,		/* name, pages, create */
	OP_NOTIFY,		/* client_id: notify every other client */
	OP_DETACH,		/* client_id */
	OP_CLOSE,		/* the slot's connection */
	OP_ADMIN_STATUS,	/* AdminStatus on the slot */
};

struct agent_req {
	int op;
	int slot;
	char path[108];
	char name[64];
	uint32_t pages;
	bool create;
	uint64_t client_id;
};

struct agent_rep {
	int rc;			/* a guest status or daemon error, or -errno */
	uint64_t client_id;
	uint64_t region_id;
	bool created;
	char msg[256];
};

struct agent {
	pid_t pid;
	int fd;
};

static void
agent_do(struct shmc **slots, const struct agent_req *q, struct agent_rep *r)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminStatus as = SHMBROKER__ADMIN_STATUS__INIT;
	Shmbroker__ServerMessage *m = NULL;
	struct shmc **c = &slots[q->slot];
	struct shmc_region reg;

	memset(r, 0, sizeof(*r));
	if (q->op != OP_CONNECT && *c == NULL) {
		r->rc = -ENOTCONN;
		return;
	}
	switch (q->op) {
	case OP_CONNECT:
		shmc_close(*c);
		r->rc = shmc_connect(q->path, "tenancy agent", WAIT_MS, c,
		    r->msg, sizeof(r->msg));
		return;
	case OP_ATTACH:
		r->rc = shmc_attach(*c, q->name, q->pages, q->create, &reg);
		if (r->rc == SHMC_GSS_OK) {
			r->client_id = reg.client_id;
			r->region_id = reg.region_id;
			r->created = reg.created;
			close(reg.fd);
		}
		break;
	case OP_NOTIFY:
		r->rc = shmc_notify(*c, q->client_id, 0xffffffffu, NULL);
		break;
	case OP_DETACH:
		r->rc = shmc_detach(*c, q->client_id);
		break;
	case OP_CLOSE:
		shmc_close(*c);
		*c = NULL;
		return;
	case OP_ADMIN_STATUS:
		req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_STATUS;
		req.admin_status = &as;
		r->rc = shmc_call(*c, &req, &m);
		if (r->rc == 0)
			r->rc = (int)m->error;
		if (m != NULL)
			shmbroker__server_message__free_unpacked(m, NULL);
		break;
	default:
		r->rc = -EINVAL;
		return;
	}
	snprintf(r->msg, sizeof(r->msg), "%s", shmc_error(*c));
}

static void __attribute__((noreturn))
agent_main(int fd, pid_t parent, uid_t uid, gid_t gid)
{
	struct shmc *slots[AGENT_SLOTS] = { NULL };
	struct agent_req q;
	struct agent_rep r;

	if (dup2(fd, 3) < 0)
		_exit(120);
	/* Nothing of the parent's: not its daemon connections, not the
	 * other agents' pipes. */
	close_range(4, ~0u, 0);
	if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
		_exit(121);
	/* A change of credentials clears the death signal: set it after. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(122);
	while (read(3, &q, sizeof(q)) == (ssize_t)sizeof(q)) {
		if (q.slot < 0 || q.slot >= AGENT_SLOTS)
			_exit(123);
		agent_do(slots, &q, &r);
		if (write(3, &r, sizeof(r)) != (ssize_t)sizeof(r))
			_exit(124);
	}
	for (int i = 0; i < AGENT_SLOTS; i++)
		shmc_close(slots[i]);
	_exit(0);
}

static void
agent_call(struct agent *a, struct agent_req *q, struct agent_rep *r)
{
	assert_true(a->pid > 0);
	assert_int_equal(write(a->fd, q, sizeof(*q)), sizeof(*q));
	assert_int_equal(read(a->fd, r, sizeof(*r)), sizeof(*r));
	r->msg[sizeof(r->msg) - 1] = '\0';
}

static int
agent_connect(struct agent *a, int slot, const char *path, char *msg,
    size_t msglen)
{
	struct agent_req q = { .op = OP_CONNECT, .slot = slot };
	struct agent_rep r;

	snprintf(q.path, sizeof(q.path), "%s", path);
	agent_call(a, &q, &r);
	if (msg != NULL)
		snprintf(msg, msglen, "%s", r.msg);
	return r.rc;
}

static int
agent_attach(struct agent *a, int slot, const char *name, uint32_t pages,
    bool create, struct agent_rep *out)
{
	struct agent_req q = { .op = OP_ATTACH, .slot = slot, .pages = pages,
	    .create = create };
	struct agent_rep r;

	snprintf(q.name, sizeof(q.name), "%s", name);
	agent_call(a, &q, &r);
	if (out != NULL)
		*out = r;
	return r.rc;
}

static int
agent_simple(struct agent *a, int slot, enum agent_op op, uint64_t client_id)
{
	struct agent_req q = { .op = op, .slot = slot, .client_id = client_id };
	struct agent_rep r;

	agent_call(a, &q, &r);
	return r.rc;
}

/* ---- the fixture: a configuration file, a daemon, agents ---- */

struct tstate {
	struct test_daemon d;
	char confdir[64];
	char conf[128];
	struct agent agents[MAX_AGENTS];
	int nagents;
	struct shmc *adm;
	long saved_pool;	/* nr_hugepages to restore, or -1 */
};

static int
setup(void **state)
{
	struct tstate *st = calloc(1, sizeof(*st));

	if (st == NULL)
		return -1;
	if (harness_mkdtemp(st->confdir, sizeof(st->confdir), "tenancy") < 0) {
		free(st);
		return -1;
	}
	snprintf(st->conf, sizeof(st->conf), "%s/conf.ini", st->confdir);
	st->saved_pool = -1;
	*state = st;
	return 0;
}

static void
agent_kill(struct agent *a)
{
	if (a->pid > 0) {
		kill(a->pid, SIGKILL);
		waitpid(a->pid, NULL, 0);
		close(a->fd);
	}
	a->pid = 0;
	a->fd = -1;
}

static int
teardown(void **state)
{
	struct tstate *st = *state;
	int rc = 0;

	for (int i = 0; i < st->nagents; i++)
		agent_kill(&st->agents[i]);
	shmc_close(st->adm);
	if (st->d.pid > 0 && harness_stop_daemon_checked(&st->d) != 0)
		rc = -1;
	if (harness_hugepages_restore(st->saved_pool, "test_tenancy") < 0)
		rc = -1;
	harness_rmtree(st->confdir);
	free(st);
	return rc;
}

#define NEED_ROOT() do {						\
	if (geteuid() != 0) {						\
		fprintf(stderr, "skipped: tenancy tests run clients as "	\
		    "other users and need root\n");			\
		skip();							\
	}								\
} while (0)

static struct agent *
agent_start(struct tstate *st, uid_t uid, gid_t gid)
{
	struct agent *a;
	pid_t parent = getpid();
	int sv[2];

	assert_true(st->nagents < MAX_AGENTS);
	a = &st->agents[st->nagents];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
	    sv), 0);
	a->pid = fork();
	assert_true(a->pid >= 0);
	if (a->pid == 0) {
		close(sv[0]);
		agent_main(sv[1], parent, uid, gid);
	}
	close(sv[1]);
	a->fd = sv[0];
	st->nagents++;
	return a;
}

static void
start(struct tstate *st, const char *conf)
{
	const char *extra[] = { "--config", st->conf, NULL };

	check_write_file(st->conf, conf);
	assert_int_equal(harness_start_daemon(&st->d, extra), 0);
	/* Other users must reach the 0666 VMM socket in the 0700 dir. */
	assert_int_equal(chmod(st->d.dir, 0755), 0);
	st->adm = check_connect(st->d.admin_socket, "tenancy test");
}

/* Connects the agent's slot to the VMM socket, which must take it. */
static void
agent_vmm(struct tstate *st, struct agent *a, int slot)
{
	char msg[256];
	int rc = agent_connect(a, slot, st->d.socket, msg, sizeof(msg));

	if (rc != 0)
		fail_msg("agent connection to the VMM socket: %d (%s)", rc,
		    msg);
}

/* A connection of the agent's slot to path must be refused with a
 * message that says why. */
static void
agent_refused(struct agent *a, int slot, const char *path, const char *why)
{
	char msg[256];

	assert_true(agent_connect(a, slot, path, msg, sizeof(msg)) < 0);
	if (strstr(msg, why) == NULL)
		fail_msg("refusal message: %s", msg);
}

/* The daemon on conf and an agent as uid:uid, its first slots
 * connected. */
static struct agent *
start_agent(struct tstate *st, const char *conf, uid_t uid, int slots)
{
	struct agent *a;

	start(st, conf);
	a = agent_start(st, uid, uid);
	for (int i = 0; i < slots; i++)
		agent_vmm(st, a, i);
	return a;
}

/* ---- what the daemon says, through the admin socket ---- */

struct tenant_view {
	bool found;
	bool is_default;
	char prefix[64];
	uint32_t mode;
	uint32_t regions, max_regions, clients, max_clients, connections;
	uint64_t bytes, max_bytes, hugepages, max_hugepages, denials;
};

static struct tenant_view
tenant_info(struct tstate *st, const char *name)
{
	Shmbroker__ServerMessage *m = check_admin_ok(st->adm,
	    SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_TENANTS);
	struct tenant_view v;

	memset(&v, 0, sizeof(v));
	for (size_t i = 0; i < m->admin_tenants->n_tenants; i++) {
		const Shmbroker__TenantInfo *t = m->admin_tenants->tenants[i];

		if (strcmp(t->name, name) != 0)
			continue;
		assert_false(v.found);
		v.found = true;
		v.is_default = t->is_default;
		snprintf(v.prefix, sizeof(v.prefix), "%s", t->prefix);
		v.mode = t->mode;
		v.regions = t->regions;
		v.max_regions = t->max_regions;
		v.clients = t->clients;
		v.max_clients = t->max_clients;
		v.connections = t->connections;
		v.bytes = t->bytes;
		v.max_bytes = t->max_bytes;
		v.hugepages = t->hugepages;
		v.max_hugepages = t->max_hugepages;
		v.denials = t->denials;
	}
	shmbroker__server_message__free_unpacked(m, NULL);
	return v;
}

/* Waits until the tenant's usage is as given: the daemon learns that a
 * client died from its socket, asynchronously. */
static struct tenant_view
tenant_wait(struct tstate *st, const char *name, uint32_t regions,
    uint32_t clients, uint32_t connections)
{
	int64_t deadline = harness_now_ms() + WAIT_MS;
	struct tenant_view v;

	for (;;) {
		v = tenant_info(st, name);
		if ((v.regions == regions && v.clients == clients &&
		    v.connections == connections) ||
		    harness_now_ms() > deadline)
			return v;
		harness_sleep_ms(10);
	}
}

static struct check_region
region_info(struct tstate *st, const char *name)
{
	return check_admin_show(st->adm, name);
}

static uint64_t
stats_denials(struct tstate *st, uint64_t *no_permission)
{
	Shmbroker__ServerMessage *m = check_admin_ok(st->adm,
	    SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_STATS);
	uint64_t n = m->admin_stats->denials;

	if (no_permission != NULL) {
		assert_true(m->admin_stats->n_status_counts >
		    SHMC_GSS_NO_PERMISSION);
		*no_permission =
		    m->admin_stats->status_counts[SHMC_GSS_NO_PERMISSION];
	}
	shmbroker__server_message__free_unpacked(m, NULL);
	return n;
}

/* AdminStats refused_connections: connections closed at accept. */
static uint64_t
stats_refused(struct tstate *st)
{
	Shmbroker__ServerMessage *m = check_admin_ok(st->adm,
	    SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_STATS);
	uint64_t n = m->admin_stats->refused_connections;

	shmbroker__server_message__free_unpacked(m, NULL);
	return n;
}

/* How many lines of the daemon's log contain what. */
static int
log_count(struct tstate *st, const char *what)
{
	char line[1024];
	FILE *f = fopen(st->d.log, "re");
	int n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, what) != NULL)
			n++;
	fclose(f);
	return n;
}

#define GSS(expected, got, rep) do {					\
	int got_ = (got);						\
	if (got_ != (expected))						\
		fail_msg("%s: expected status %d, got %d (%s)", #got,	\
		    (expected), got_, (rep).msg);			\
} while (0)

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
	start(st, conf_patterns);
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
	start(st, conf_matching);
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
need_hugepages(struct tstate *st, long n)
{
	struct harness_hugepages hp;

	if (harness_hugepages_read(&hp) == 0 && hp.page_bytes == 2u << 20) {
		st->saved_pool = harness_hugepages_save();
		if (harness_hugepages_make_free(n) >= n)
			return;
	}
	fprintf(stderr, "skipped: no 2 MiB hugepages to be had\n");
	skip();
}

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
	start(st, conf_modes);
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
	start(st, "[broker]\ntenancy = open\nadmin_group = 4000\n");
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

	start(st, "[broker]\ntenancy = open\nhugepages = never\n");
	rc = shmc_attach(st->adm, "from-admin", 1, true, &reg);
	if (rc < 0)
		fail_msg("attach on the admin socket: %d (%s)", rc,
		    shmc_error(st->adm));
	if (rc == SHMC_GSS_OK)
		close(reg.fd);
	check_admin_counts(st->adm, &regions, &clients);
	assert_int_equal(kill(st->d.pid, 0), 0);
}

#define TENANCY_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TENANCY_TEST(test_patterns_and_prefixes),
		TENANCY_TEST(test_matching_and_default),
		TENANCY_TEST(test_quota_regions),
		TENANCY_TEST(test_quota_clients),
		TENANCY_TEST(test_quota_bytes),
		TENANCY_TEST(test_quota_hugepages),
		TENANCY_TEST(test_quota_bytes_hugetlb),
		TENANCY_TEST(test_mode_bits),
		TENANCY_TEST(test_admin_socket),
		TENANCY_TEST(test_tenant_usage),
		TENANCY_TEST(test_reload),
		TENANCY_TEST(test_admin_socket_vmm_requests),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
