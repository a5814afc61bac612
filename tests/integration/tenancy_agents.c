/* SPDX-License-Identifier: ISC */
/*
 * tenancy_agents: agents, the fixture and the daemon's views for the
 * tenancy tests (see tenancy_agents.h).
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
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tenancy_agents.h"

/*
 * Writes text at the start of the region and reads its first bytes back
 * into r->head, through a shared mapping of the memfd: what the client
 * got is then the memory of whoever wrote there, which a region id alone
 * would not prove. Returns 0 or -errno, with the reason in r->msg.
 */
static int
agent_touch(const struct shmc_region *reg, const char *text,
    struct agent_rep *r)
{
	size_t len = (size_t)reg->backing_bytes;
	unsigned char *p;
	int err;

	if (len < AGENT_HEAD) {
		snprintf(r->msg, sizeof(r->msg), "a region of %zu bytes", len);
		return -EINVAL;
	}
	p = mmap(NULL, len, reg->read_only ? PROT_READ :
	    PROT_READ | PROT_WRITE, MAP_SHARED, reg->fd, 0);
	if (p == MAP_FAILED) {
		err = errno;
		snprintf(r->msg, sizeof(r->msg), "mmap: %s", strerror(err));
		return -err;
	}
	if (text[0] != '\0' && !reg->read_only)
		memcpy(p, text, strnlen(text, AGENT_HEAD));
	memcpy(r->head, p, AGENT_HEAD);
	munmap(p, len);
	return 0;
}

/* What a VMM given a read-only memfd might try in order to write: each
 * errno into r (0: it worked, which it must not). */
static void
agent_try_writing(const struct shmc_region *reg, struct agent_rep *r)
{
	size_t len = (size_t)reg->backing_bytes;
	char path[32];
	void *p;
	int fd;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, reg->fd, 0);
	r->map_rw_err = p == MAP_FAILED ? errno : 0;
	if (p != MAP_FAILED)
		munmap(p, len);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", reg->fd);
	fd = open(path, O_RDWR | O_CLOEXEC);
	r->reopen_rw_err = fd < 0 ? errno : 0;
	if (fd >= 0)
		close(fd);
	r->chmod_err = fchmod(reg->fd, 0666) < 0 ? errno : 0;
}

/* OP_ATTACH; the client stays attached, its fd is closed. */
static void
agent_do_attach(struct shmc *c, const struct agent_req *q,
    struct agent_rep *r)
{
	struct shmc_region reg;
	int err;

	r->rc = shmc_attach(c, q->name, q->pages, q->create, &reg);
	/* shmc_error keeps the last failure's message: only for this one. */
	if (r->rc != SHMC_GSS_OK) {
		snprintf(r->msg, sizeof(r->msg), "%s", shmc_error(c));
		return;
	}
	r->client_id = reg.client_id;
	r->region_id = reg.region_id;
	r->created = reg.created;
	r->read_only = reg.read_only;
	if (reg.read_only)
		agent_try_writing(&reg, r);
	if (q->map && (err = agent_touch(&reg, q->text, r)) < 0)
		r->rc = err;
	close(reg.fd);
}

static void
agent_do(struct shmc **slots, const struct agent_req *q, struct agent_rep *r)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminStatus as = SHMBROKER__ADMIN_STATUS__INIT;
	Shmbroker__ServerMessage *m = NULL;
	struct shmc **c = &slots[q->slot];

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
		agent_do_attach(*c, q, r);
		return;
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

void
agent_call(struct agent *a, struct agent_req *q, struct agent_rep *r)
{
	assert_true(a->pid > 0);
	assert_int_equal(write(a->fd, q, sizeof(*q)), sizeof(*q));
	assert_int_equal(read(a->fd, r, sizeof(*r)), sizeof(*r));
	r->msg[sizeof(r->msg) - 1] = '\0';
}

int
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

int
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

int
agent_attach_rw(struct agent *a, int slot, const char *name, uint32_t pages,
    bool create, const char *text, struct agent_rep *out)
{
	struct agent_req q = { .op = OP_ATTACH, .slot = slot, .pages = pages,
	    .create = create, .map = true };
	struct agent_rep r;

	snprintf(q.name, sizeof(q.name), "%s", name);
	snprintf(q.text, sizeof(q.text), "%s", text != NULL ? text : "");
	agent_call(a, &q, &r);
	if (out != NULL)
		*out = r;
	return r.rc;
}

int
agent_simple(struct agent *a, int slot, enum agent_op op, uint64_t client_id)
{
	struct agent_req q = { .op = op, .slot = slot, .client_id = client_id };
	struct agent_rep r;

	agent_call(a, &q, &r);
	return r.rc;
}

int
tenancy_setup(void **state)
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

void
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

int
tenancy_teardown(void **state)
{
	struct tstate *st = *state;
	int rc = 0;

	for (int i = 0; i < st->nagents; i++)
		agent_kill(&st->agents[i]);
	if (st->child > 0) {
		kill(st->child, SIGKILL);
		waitpid(st->child, NULL, 0);
	}
	shmc_close(st->adm);
	if (st->d.pid > 0 && harness_stop_daemon_checked(&st->d) != 0)
		rc = -1;
	if (harness_hugepages_restore(st->saved_pool, "test_tenancy") < 0)
		rc = -1;
	harness_rmtree(st->confdir);
	free(st);
	return rc;
}

void
tenancy_need_root(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "skipped: tenancy tests run clients as other "
		    "users and need root\n");
		skip();
	}
}

struct agent *
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

/* The daemon refused to start: its log says why, and goes with its
 * directory, which the harness keeps for a daemon that exited. */
static void
tenancy_start_failed(struct tstate *st)
{
	char log[1024] = "(no log)";
	FILE *f = fopen(st->d.log, "re");
	size_t n;

	if (f != NULL) {
		n = fread(log, 1, sizeof(log) - 1, f);
		log[n] = '\0';
		fclose(f);
	}
	if (st->d.dir[0] != '\0')
		harness_rmtree(st->d.dir);
	st->d.dir[0] = '\0';
	fail_msg("shmbrokerd did not start on %s: %s", st->conf, log);
}

void
tenancy_start(struct tstate *st, const char *conf)
{
	const char *extra[] = { "--config", st->conf, NULL };
	int rc;

	check_write_file(st->conf, conf);
	/* The daemon prefixes syslog priorities when journald reads it; a
	 * test that must tell warnings from other lines asks for that. */
	if (st->journal)
		assert_int_equal(setenv("JOURNAL_STREAM", "0:0", 1), 0);
	rc = harness_start_daemon(&st->d, extra);
	unsetenv("JOURNAL_STREAM");
	if (rc < 0)
		tenancy_start_failed(st);
	/* Other users must reach the 0666 VMM socket in the 0700 dir. */
	assert_int_equal(chmod(st->d.dir, 0755), 0);
	st->adm = check_connect(st->d.admin_socket, "tenancy test");
}

/* Connects the agent's slot to the VMM socket, which must take it. */
void
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
void
agent_refused(struct agent *a, int slot, const char *path, const char *why)
{
	char msg[256];

	assert_true(agent_connect(a, slot, path, msg, sizeof(msg)) < 0);
	if (strstr(msg, why) == NULL)
		fail_msg("refusal message: %s", msg);
}

/* The daemon on conf and an agent as uid:uid, its first slots
 * connected. */
struct agent *
start_agent(struct tstate *st, const char *conf, uid_t uid, int slots)
{
	struct agent *a;

	tenancy_start(st, conf);
	a = agent_start(st, uid, uid);
	for (int i = 0; i < slots; i++)
		agent_vmm(st, a, i);
	return a;
}

/* ---- what the daemon says, through the admin socket ---- */

struct tenant_view
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
		v.max_connections = t->max_connections;
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
struct tenant_view
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

struct check_region
region_info(struct tstate *st, const char *name)
{
	return check_admin_show(st->adm, name);
}

uint64_t
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
uint64_t
stats_refused(struct tstate *st)
{
	Shmbroker__ServerMessage *m = check_admin_ok(st->adm,
	    SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_STATS);
	uint64_t n = m->admin_stats->refused_connections;

	shmbroker__server_message__free_unpacked(m, NULL);
	return n;
}

/* How many lines of the daemon's log contain what. */
int
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

int
log_warnings(struct tstate *st)
{
	int n = 0;

	for (char p = '0'; p <= '4'; p++) {
		char prio[4] = { '<', p, '>', '\0' };

		n += log_count(st, prio);
	}
	return n;
}

void
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

