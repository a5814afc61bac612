/*
 * test_broker: integration tests of shmbrokerd's VMM service. Each test
 * starts a real daemon (tests/harness) and drives it from real client
 * processes: forked peers that make libshmclient calls on command from the
 * test process over a socketpair, so that every assertion stays in the test
 * process (a cmocka assertion in a forked child would unwind into the
 * child's copy of the test runner). Where a test must map region memory or
 * inspect a memfd it also connects from the test process itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "testcheck.h"
#include "shmclient.h"
#include "shmclient_admin.h"

#define PAGE 4096u
#define HUGE_2M (2u << 20)
#define MAX_PEERS 8
#define MAX_CONNS 64
#define MAX_HELD 64
#define PEER_SLOTS 8
#define PEER_EVENTS 512
#define PEER_REPLY_MS 30000
#define EVENT_WAIT_MS 5000
#define SETTLE_WAIT_MS 20000
#define MANY_CONNS 3000
#define MANY_ATTACH 1000

/* ---- forked peers ---- */

enum peer_op {
	PEER_CONNECT,	/* text: socket path */
	PEER_ATTACH,	/* text: name, arg: size, create */
	PEER_FILL,	/* slot, arg: seed */
	PEER_VERIFY,	/* slot, arg: seed; value: mismatching bytes */
	PEER_NOTIFY,	/* slot, arg: mask; value: delivered */
	PEER_STATUS,	/* slot; value: status word */
	PEER_DETACH,	/* slot */
	PEER_EVENT,	/* arg: timeout ms; ev */
	PEER_SYNC,	/* value: events waiting after a round trip */
	PEER_CLOSE,
};

struct peer_cmd {
	enum peer_op op;
	int slot;
	uint32_t arg;
	bool create;
	char text[128];
};

struct peer_reply {
	int rc;
	int slot;
	uint32_t value;
	struct shmc_region region;	/* the fd is the peer's */
	struct shmc_event ev;		/* pointer fields cleared */
	char err[256];
};

struct peer {
	pid_t pid;
	int ctl;
};

/* What a peer process keeps between commands. */
struct peer_state {
	struct shmc *c;
	struct shmc_region r[PEER_SLOTS];
	uint8_t *map[PEER_SLOTS];
	bool used[PEER_SLOTS];
	struct shmc_event ev[PEER_EVENTS];
	size_t nev;
};

struct mapping {
	void *addr;
	size_t len;
};

struct fixture {
	struct test_daemon d;
	bool running;
	int baseline_fds;		/* the daemon's, once settled */
	struct peer peers[MAX_PEERS];
	size_t npeers;
	struct shmc *conns[MAX_CONNS];	/* the test process's own */
	size_t nconns;
	int fds[MAX_HELD];		/* region fds the test process holds */
	size_t nfds;
	struct mapping maps[MAX_HELD];
	size_t nmaps;
	struct shmc **many;		/* test_many_connections */
	size_t nmany;
	char config[64];		/* temporary config file, or "" */
	long saved_hugepages;		/* -1: the pool was not touched */
	bool nofile_changed;
	struct rlimit saved_nofile;
};

static uint8_t
pattern_byte(uint32_t seed, size_t i)
{
	return (uint8_t)(seed * 131u + i * 7u + (i >> 12));
}

static void
pattern_fill(uint8_t *p, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pattern_byte(seed, i);
}

static uint32_t
pattern_mismatches(const uint8_t *p, size_t len, uint32_t seed)
{
	uint32_t bad = 0;

	for (size_t i = 0; i < len; i++)
		if (p[i] != pattern_byte(seed, i))
			bad++;
	return bad;
}

static void
peer_event_cb(const struct shmc_event *ev, void *arg)
{
	struct peer_state *st = arg;

	if (st->nev == PEER_EVENTS)
		return;
	st->ev[st->nev] = *ev;
	st->ev[st->nev].admin_kind = NULL;
	st->ev[st->nev].region = NULL;
	st->nev++;
}

static void
peer_release(struct peer_state *st, int slot)
{
	if (st->map[slot] != NULL)
		munmap(st->map[slot], st->r[slot].backing_bytes);
	close(st->r[slot].fd);
	st->map[slot] = NULL;
	st->used[slot] = false;
}

static int
peer_op_attach(struct peer_state *st, const struct peer_cmd *cmd,
    struct peer_reply *r)
{
	struct shmc_region *reg;
	int slot, rc;

	for (slot = 0; slot < PEER_SLOTS && st->used[slot]; slot++)
		;
	if (slot == PEER_SLOTS)
		return -ENOSPC;
	reg = &st->r[slot];
	rc = shmc_attach(st->c, cmd->text, cmd->arg, cmd->create, reg);
	if (rc != SHMC_GSS_OK)
		return rc;
	st->map[slot] = mmap(NULL, reg->backing_bytes, PROT_READ | PROT_WRITE,
	    MAP_SHARED, reg->fd, 0);
	if (st->map[slot] == MAP_FAILED) {
		rc = -errno;
		st->map[slot] = NULL;
		close(reg->fd);
		return rc;
	}
	st->used[slot] = true;
	r->slot = slot;
	r->region = *reg;
	return rc;
}

/* The oldest event, waiting up to timeout_ms on the event fd. */
static int
peer_op_event(struct peer_state *st, int timeout_ms, struct shmc_event *out)
{
	int64_t deadline = harness_now_ms() + timeout_ms;

	for (;;) {
		struct pollfd p = { .fd = shmc_event_fd(st->c), .events = POLLIN };
		int64_t left;
		int rc = shmc_dispatch(st->c, peer_event_cb, st);

		if (rc < 0)
			return rc;
		if (st->nev > 0) {
			*out = st->ev[0];
			memmove(&st->ev[0], &st->ev[1],
			    (st->nev - 1) * sizeof(st->ev[0]));
			st->nev--;
			return 0;
		}
		if ((left = deadline - harness_now_ms()) <= 0)
			return -ETIMEDOUT;
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			return -errno;
	}
}

/*
 * A round trip on the connection: the daemon answers requests in order and
 * sends each event before the replies to later requests, so afterwards
 * every event caused by anything the daemon did before is waiting here.
 */
static int
peer_op_sync(struct peer_state *st, struct peer_reply *r)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__Hello h = SHMBROKER__HELLO__INIT;
	Shmbroker__ServerMessage *m;
	int rc;

	h.version = 1;
	h.label = (char *)"peer";
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_HELLO;
	req.hello = &h;
	if ((rc = shmc_call(st->c, &req, &m)) < 0)
		return rc;
	if (m->error != SHMBROKER__ERROR__ERR_NONE)
		rc = -EPROTO;
	shmbroker__server_message__free_unpacked(m, NULL);
	if (rc == 0 && (rc = shmc_dispatch(st->c, peer_event_cb, st)) > 0)
		rc = 0;
	r->value = (uint32_t)st->nev;
	return rc;
}

static int
peer_op_close(struct peer_state *st)
{
	for (int i = 0; i < PEER_SLOTS; i++)
		if (st->used[i])
			peer_release(st, i);
	shmc_close(st->c);
	st->c = NULL;
	st->nev = 0;
	return 0;
}

static int
peer_op_slot(struct peer_state *st, const struct peer_cmd *cmd,
    struct peer_reply *r)
{
	int s = cmd->slot;
	size_t len;
	int rc;

	if (s < 0 || s >= PEER_SLOTS || !st->used[s])
		return -EBADF;
	len = (size_t)st->r[s].size_pages * PAGE;
	switch (cmd->op) {
	case PEER_FILL:
		pattern_fill(st->map[s], len, cmd->arg);
		return 0;
	case PEER_VERIFY:
		r->value = pattern_mismatches(st->map[s], len, cmd->arg);
		return 0;
	case PEER_NOTIFY:
		return shmc_notify(st->c, st->r[s].client_id, cmd->arg,
		    &r->value);
	case PEER_STATUS:
		return shmc_read_status(st->c, st->r[s].client_id, &r->value);
	case PEER_DETACH:
		if ((rc = shmc_detach(st->c, st->r[s].client_id)) == 0)
			peer_release(st, s);
		return rc;
	default:
		return -EINVAL;
	}
}

static int
peer_run(struct peer_state *st, const struct peer_cmd *cmd,
    struct peer_reply *r)
{
	if (cmd->op == PEER_CONNECT)
		return shmc_connect(cmd->text, "peer", SHMC_DEFAULT_TIMEOUT_MS,
		    &st->c, r->err, sizeof(r->err));
	if (st->c == NULL)
		return -ENOTCONN;
	switch (cmd->op) {
	case PEER_ATTACH:
		return peer_op_attach(st, cmd, r);
	case PEER_EVENT:
		return peer_op_event(st, (int)cmd->arg, &r->ev);
	case PEER_SYNC:
		return peer_op_sync(st, r);
	case PEER_CLOSE:
		return peer_op_close(st);
	default:
		return peer_op_slot(st, cmd, r);
	}
}

/* The peer process: only its command socket and stdio stay open, so that
 * a connection the test process closes is really closed. */
static void __attribute__((noreturn))
peer_main(int ctl, pid_t parent)
{
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
	struct peer_state *st = calloc(1, sizeof(*st));
	struct peer_cmd cmd;
	struct peer_reply r;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent || st == NULL)
		_exit(1);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
	if (ctl != 3 && dup2(ctl, 3) < 0)
		_exit(1);
	close_range(4, ~0u, 0);
	while (recv(3, &cmd, sizeof(cmd), 0) == (ssize_t)sizeof(cmd)) {
		memset(&r, 0, sizeof(r));
		r.rc = peer_run(st, &cmd, &r);
		if (r.err[0] == '\0' && st->c != NULL)
			snprintf(r.err, sizeof(r.err), "%s", shmc_error(st->c));
		if (send(3, &r, sizeof(r), MSG_NOSIGNAL) != (ssize_t)sizeof(r))
			break;
	}
	_exit(0);
}

static struct peer *
peer_spawn(struct fixture *f)
{
	struct peer *p;
	pid_t parent = getpid();
	int sv[2];

	assert_true(f->npeers < MAX_PEERS);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
	    sv), 0);
	p = &f->peers[f->npeers];
	p->pid = fork();
	if (p->pid == 0)
		peer_main(sv[1], parent);
	close(sv[1]);
	if (p->pid < 0) {
		close(sv[0]);
		fail_msg("fork: %s", strerror(errno));
	}
	p->ctl = sv[0];
	f->npeers++;
	return p;
}

static void
peer_kill(struct peer *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		p->pid = 0;
	}
	if (p->ctl >= 0)
		close(p->ctl);
	p->ctl = -1;
}

static void
peer_call(struct peer *p, struct peer_cmd *cmd, struct peer_reply *r)
{
	struct pollfd pfd = { .fd = p->ctl, .events = POLLIN };

	assert_true(p->pid > 0);
	assert_int_equal(send(p->ctl, cmd, sizeof(*cmd), MSG_NOSIGNAL),
	    sizeof(*cmd));
	if (poll(&pfd, 1, PEER_REPLY_MS) != 1)
		fail_msg("peer %d did not answer within %d ms", (int)p->pid,
		    PEER_REPLY_MS);
	if (recv(p->ctl, r, sizeof(*r), 0) != (ssize_t)sizeof(*r))
		fail_msg("peer %d died", (int)p->pid);
}

static struct peer *
peer_new(struct fixture *f)
{
	struct peer_cmd cmd = { .op = PEER_CONNECT };
	struct peer_reply r;
	struct peer *p = peer_spawn(f);

	snprintf(cmd.text, sizeof(cmd.text), "%s", f->d.socket);
	peer_call(p, &cmd, &r);
	if (r.rc != 0)
		fail_msg("peer connect: %d %s", r.rc, r.err);
	return p;
}

/* Attach or find; returns the guest status. */
static int
peer_attach(struct peer *p, const char *name, uint32_t size, bool create,
    struct shmc_region *out, int *slot)
{
	struct peer_cmd cmd = { .op = PEER_ATTACH, .arg = size,
	    .create = create };
	struct peer_reply r;

	snprintf(cmd.text, sizeof(cmd.text), "%s", name);
	peer_call(p, &cmd, &r);
	if (r.rc < 0)
		fail_msg("peer attach %s: %d %s", name, r.rc, r.err);
	if (out != NULL)
		*out = r.region;
	if (slot != NULL)
		*slot = r.slot;
	return r.rc;
}

/* A command without text (on a slot, with an argument); the reply. */
static struct peer_reply
peer_slot_call(struct peer *p, enum peer_op op, int slot, uint32_t arg)
{
	struct peer_cmd cmd = { .op = op, .slot = slot, .arg = arg };
	struct peer_reply r;

	peer_call(p, &cmd, &r);
	return r;
}

/* A command on an attached slot that must succeed; returns its value. */
static uint32_t
peer_slot_op(struct peer *p, enum peer_op op, int slot, uint32_t arg)
{
	struct peer_reply r = peer_slot_call(p, op, slot, arg);

	if (r.rc != 0)
		fail_msg("peer op %d on slot %d: %d %s", (int)op, slot, r.rc,
		    r.err);
	return r.value;
}

/* The same, returning the rc for calls that are expected to fail. */
static int
peer_slot_try(struct peer *p, enum peer_op op, int slot, uint32_t arg)
{
	return peer_slot_call(p, op, slot, arg).rc;
}

static int
peer_event(struct peer *p, int timeout_ms, struct shmc_event *ev)
{
	struct peer_reply r = peer_slot_call(p, PEER_EVENT, 0,
	    (uint32_t)timeout_ms);

	*ev = r.ev;
	return r.rc;
}

/* Events waiting at the peer after a round trip. */
static uint32_t
peer_sync(struct peer *p)
{
	return peer_slot_op(p, PEER_SYNC, 0, 0);
}

static void
peer_close(struct peer *p)
{
	assert_int_equal(peer_slot_try(p, PEER_CLOSE, 0, 0), 0);
}

/* Drops the events waiting at the peer. */
static void
peer_drain(struct peer *p)
{
	struct shmc_event ev;

	for (uint32_t n = peer_sync(p); n > 0; n--)
		assert_int_equal(peer_event(p, 0, &ev), 0);
}

static const char *
event_name(enum shmc_event_kind k)
{
	static const char *const names[] = { "PEER_ATTACHED",
	    "PEER_DETACHED", "NOTIFICATION", "REVOKED", "ADMIN",
	    "EVENTFD_CHANGED" };

	return (size_t)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

static void
expect_event(struct peer *p, enum shmc_event_kind kind, uint64_t client_id,
    struct shmc_event *ev)
{
	int rc = peer_event(p, EVENT_WAIT_MS, ev);

	if (rc != 0)
		fail_msg("peer %d: no %s event (%d)", (int)p->pid,
		    event_name(kind), rc);
	if (ev->kind != kind)
		fail_msg("peer %d: got %s (index %u), expected %s",
		    (int)p->pid, event_name(ev->kind), ev->index,
		    event_name(kind));
	assert_int_equal(ev->client_id, client_id);
}

static void
expect_peer_changed(struct peer *p, bool attached, uint64_t client_id,
    uint32_t index, uint32_t active)
{
	struct shmc_event ev;

	expect_event(p, attached ? SHMC_EVENT_PEER_ATTACHED :
	    SHMC_EVENT_PEER_DETACHED, client_id, &ev);
	assert_int_equal(ev.index, index);
	assert_int_equal(ev.active_mask, active);
}

/* A notification comes on the receiver's eventfd, which does not say who
 * sent it: the pending bits (peeked, not taken) do. */
static void
expect_notification(struct peer *p, uint64_t client_id, uint32_t from,
    uint32_t pending)
{
	struct shmc_event ev;

	expect_event(p, SHMC_EVENT_NOTIFICATION, client_id, &ev);
	assert_true(ev.pending & (1u << from));
	assert_int_equal(ev.pending, pending);
}

static void
expect_no_event(struct peer *p)
{
	struct shmc_event ev;

	if (peer_sync(p) != 0) {
		peer_event(p, 0, &ev);
		fail_msg("peer %d: unexpected %s event (index %u)", (int)p->pid,
		    event_name(ev.kind), ev.index);
	}
}

/* ---- the daemon and the test process's own connections ---- */

static int
fixture_start(struct fixture *f, const char *const *extra)
{
	if (harness_start_daemon(&f->d, extra) < 0)
		return -1;
	f->running = true;
	f->baseline_fds = harness_settled_fd_count(f->d.pid);
	return 0;
}

/*
 * Stops the daemon and returns its exit status. A daemon that did not exit
 * with 0 crashed or had a sanitizer report: the harness prints its log
 * (kept because main sets SHMBROKER_KEEP_LOGS) and then removes it.
 */
static int
fixture_stop(struct fixture *f)
{
	if (!f->running)
		return 0;
	f->running = false;
	return harness_stop_daemon_checked(&f->d);
}

/* Closes what the test process holds: mappings, region fds, connections. */
static void
fixture_release(struct fixture *f)
{
	for (size_t i = 0; i < f->nmaps; i++)
		munmap(f->maps[i].addr, f->maps[i].len);
	f->nmaps = 0;
	for (size_t i = 0; i < f->nfds; i++)
		close(f->fds[i]);
	f->nfds = 0;
	for (size_t i = 0; i < f->nconns; i++)
		shmc_close(f->conns[i]);
	f->nconns = 0;
	for (size_t i = 0; i < f->nmany; i++)
		shmc_close(f->many[i]);
	f->nmany = 0;
	free(f->many);
	f->many = NULL;
}

/* Stops the running daemon, which must exit cleanly, and starts another. */
static void
fixture_restart(struct fixture *f, const char *const *extra)
{
	fixture_release(f);
	assert_int_equal(fixture_stop(f), 0);
	assert_int_equal(fixture_start(f, extra), 0);
}

static struct fixture *
fixture_new(void)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f != NULL)
		f->saved_hugepages = -1;
	return f;
}

static const char *const never_args[] = { "--hugepages", "never", NULL };

static int
setup_never(void **state)
{
	struct fixture *f = fixture_new();

	if (f == NULL)
		return -1;
	*state = f;
	return fixture_start(f, never_args);
}

static int
setup_empty(void **state)
{
	return (*state = fixture_new()) != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	int rc;

	for (size_t i = 0; i < f->npeers; i++)
		peer_kill(&f->peers[i]);
	fixture_release(f);
	rc = fixture_stop(f);
	if (f->config[0] != '\0')
		unlink(f->config);
	if (harness_hugepages_restore(f->saved_hugepages, "test_broker") < 0)
		rc = -1;
	if (f->nofile_changed)
		setrlimit(RLIMIT_NOFILE, &f->saved_nofile);
	free(f);
	return rc == 0 ? 0 : -1;
}

static struct shmc *
fixture_connect(struct fixture *f, const char *path)
{
	assert_true(f->nconns < MAX_CONNS);
	return f->conns[f->nconns++] = check_connect(path, "test");
}

/* Attach from the test process; the region fd is kept for teardown. */
static int
fixture_attach(struct fixture *f, struct shmc *c, const char *name,
    uint32_t size, bool create, struct shmc_region *out)
{
	int rc = shmc_attach(c, name, size, create, out);

	if (rc < 0)
		fail_msg("attach %s: %d %s", name, rc, shmc_error(c));
	if (rc == SHMC_GSS_OK) {
		assert_true(f->nfds < MAX_HELD);
		f->fds[f->nfds++] = out->fd;
	}
	return rc;
}

static uint8_t *
fixture_map(struct fixture *f, const struct shmc_region *r)
{
	void *p = mmap(NULL, r->backing_bytes, PROT_READ | PROT_WRITE,
	    MAP_SHARED, r->fd, 0);

	if (p == MAP_FAILED)
		fail_msg("mmap of a region fd: %s", strerror(errno));
	assert_true(f->nmaps < MAX_HELD);
	f->maps[f->nmaps].addr = p;
	f->maps[f->nmaps++].len = r->backing_bytes;
	return p;
}

/* ---- admin requests through shmc_call on the admin socket ---- */

/* Clients of a region by AdminShow, or -1 when it does not exist. */
static int
admin_region_clients(struct shmc *adm, const char *name)
{
	struct check_region v = check_admin_show(adm, name);

	if (v.error == SHMBROKER__ERROR__ERR_NOT_FOUND)
		return -1;
	assert_int_equal(v.error, 0);
	assert_int_equal(v.clients, v.n_clients);
	return (int)v.n_clients;
}

/* Waits (bounded) until a region has want clients (-1: until it is gone);
 * returns the last count seen. */
static int
wait_region_clients(struct shmc *adm, const char *name, int want)
{
	int64_t deadline = harness_now_ms() + EVENT_WAIT_MS;
	int n;

	while ((n = admin_region_clients(adm, name)) != want &&
	    harness_now_ms() < deadline)
		harness_sleep_ms(10);
	return n;
}

/* ---- 1. zero copy ---- */

static void
test_zero_copy(void **state)
{
	struct fixture *f = *state;
	struct shmc *a = fixture_connect(f, f->d.socket);
	struct peer *b = peer_new(f);
	struct shmc_region ra, rb, rb2;
	size_t len = 16 * PAGE;
	uint8_t *map;
	int slot, slot2;

	assert_int_equal(fixture_attach(f, a, "zc", 16, true, &ra),
	    SHMC_GSS_OK);
	assert_true(ra.created);
	assert_int_equal(ra.index, 0);
	assert_int_equal(ra.active_mask, 0x1);
	assert_int_equal(ra.size_pages, 16);
	assert_int_equal(ra.backing_bytes, len);
	assert_false(ra.hugetlb);
	map = fixture_map(f, &ra);
	pattern_fill(map, len, 1);

	/* The finder asks for another size: the creator's stands. */
	assert_int_equal(peer_attach(b, "zc", 99, false, &rb, &slot),
	    SHMC_GSS_OK);
	assert_false(rb.created);
	assert_int_equal(rb.index, 1);
	assert_int_equal(rb.active_mask, 0x3);
	assert_int_equal(rb.size_pages, 16);
	assert_int_equal(rb.backing_bytes, len);
	assert_int_equal(rb.region_id, ra.region_id);
	assert_true(rb.client_id != ra.client_id);
	assert_int_equal(peer_slot_op(b, PEER_VERIFY, slot, 1), 0);

	peer_slot_op(b, PEER_FILL, slot, 2);
	assert_int_equal(pattern_mismatches(map, len, 2), 0);

	/* Create-or-attach of an existing region does not resize it either. */
	assert_int_equal(peer_attach(b, "zc", 32, true, &rb2, &slot2),
	    SHMC_GSS_OK);
	assert_false(rb2.created);
	assert_int_equal(rb2.index, 2);
	assert_int_equal(rb2.active_mask, 0x7);
	assert_int_equal(rb2.size_pages, 16);
	pattern_fill(map, len, 3);
	assert_int_equal(peer_slot_op(b, PEER_VERIFY, slot, 3), 0);
	assert_int_equal(peer_slot_op(b, PEER_VERIFY, slot2, 3), 0);
}

/* ---- 2. notify ---- */

static void
test_notify(void **state)
{
	struct fixture *f = *state;
	struct peer *p[3];
	struct shmc_region r[3];
	int slot[3];
	uint32_t st;

	for (int i = 0; i < 3; i++) {
		p[i] = peer_new(f);
		assert_int_equal(peer_attach(p[i], "nt", 4, true, &r[i],
		    &slot[i]), SHMC_GSS_OK);
		assert_int_equal(r[i].index, (uint32_t)i);
	}
	for (int i = 0; i < 3; i++)
		peer_drain(p[i]);

	/* A single target. */
	assert_int_equal(peer_slot_op(p[0], PEER_NOTIFY, slot[0], 0x2), 0x2);
	expect_notification(p[1], r[1].client_id, 0, 0x1);
	expect_no_event(p[2]);
	expect_no_event(p[0]);
	st = peer_slot_op(p[1], PEER_STATUS, slot[1], 0);
	assert_int_equal(st & 0xffff, 0x1);
	assert_int_equal(st >> 16, 0x7);
	st = peer_slot_op(p[1], PEER_STATUS, slot[1], 0);
	assert_int_equal(st, 0x7u << 16);

	/* Every other client, not the sender. */
	assert_int_equal(peer_slot_op(p[0], PEER_NOTIFY, slot[0], 0xffffffff),
	    0x6);
	expect_notification(p[1], r[1].client_id, 0, 0x1);
	expect_notification(p[2], r[2].client_id, 0, 0x1);
	expect_no_event(p[0]);

	/* Pending bits accumulate until read. */
	assert_int_equal(peer_slot_op(p[2], PEER_NOTIFY, slot[2], 0x2), 0x2);
	expect_notification(p[1], r[1].client_id, 2, 0x5);
	st = peer_slot_op(p[1], PEER_STATUS, slot[1], 0);
	assert_int_equal(st, 0x5 | (0x7u << 16));
	st = peer_slot_op(p[2], PEER_STATUS, slot[2], 0);
	assert_int_equal(st, 0x1 | (0x7u << 16));
	st = peer_slot_op(p[2], PEER_STATUS, slot[2], 0);
	assert_int_equal(st, 0x7u << 16);

	/* Bits of absent indices (3, 8-15) and bits 16-31 are ignored. */
	assert_int_equal(peer_slot_op(p[0], PEER_NOTIFY, slot[0],
	    0x0005ff08 | 0x4), 0x4);
	expect_notification(p[2], r[2].client_id, 0, 0x1);
	expect_no_event(p[1]);
	assert_int_equal(peer_slot_op(p[0], PEER_NOTIFY, slot[0], 0xfff8), 0);
	expect_no_event(p[1]);
	expect_no_event(p[2]);

	/* The sender was never notified so far. */
	st = peer_slot_op(p[0], PEER_STATUS, slot[0], 0);
	assert_int_equal(st, 0x7u << 16);

	/* After a detach the mask shrinks and its bit is ignored, but the
	 * bits it set stay pending until read. */
	assert_int_equal(peer_slot_op(p[1], PEER_NOTIFY, slot[1], 0x1), 0x1);
	expect_notification(p[0], r[0].client_id, 1, 0x2);
	peer_slot_op(p[1], PEER_DETACH, slot[1], 0);
	expect_peer_changed(p[0], false, r[0].client_id, 1, 0x5);
	expect_peer_changed(p[2], false, r[2].client_id, 1, 0x5);
	st = peer_slot_op(p[0], PEER_STATUS, slot[0], 0);
	assert_int_equal(st, 0x2 | (0x5u << 16));
	assert_int_equal(peer_slot_op(p[0], PEER_NOTIFY, slot[0], 0xffffffff),
	    0x4);
	assert_int_equal(peer_slot_op(p[0], PEER_NOTIFY, slot[0], 0x2), 0);
	expect_notification(p[2], r[2].client_id, 0, 0x1);
	expect_no_event(p[2]);
	expect_no_event(p[1]);
}

/* ---- 3. membership events ---- */

static void
test_membership(void **state)
{
	struct fixture *f = *state;
	struct peer *a = peer_new(f), *b = peer_new(f), *c = peer_new(f);
	struct shmc_region ra, rb, rc;
	int sa, sb, sc;

	assert_int_equal(peer_attach(a, "mb", 1, true, &ra, &sa), SHMC_GSS_OK);
	assert_int_equal(ra.active_mask, 0x1);
	assert_int_equal(peer_attach(b, "mb", 1, true, &rb, &sb), SHMC_GSS_OK);
	assert_int_equal(rb.active_mask, 0x3);
	expect_peer_changed(a, true, ra.client_id, 1, 0x3);
	assert_int_equal(peer_attach(c, "mb", 1, false, &rc, &sc),
	    SHMC_GSS_OK);
	assert_int_equal(rc.index, 2);
	assert_int_equal(rc.active_mask, 0x7);
	expect_peer_changed(a, true, ra.client_id, 2, 0x7);
	expect_peer_changed(b, true, rb.client_id, 2, 0x7);
	expect_no_event(a);
	expect_no_event(b);
	peer_drain(c);

	/* A detach, then the lowest free index is reused. */
	peer_slot_op(b, PEER_DETACH, sb, 0);
	expect_peer_changed(a, false, ra.client_id, 1, 0x5);
	expect_peer_changed(c, false, rc.client_id, 1, 0x5);
	expect_no_event(b);
	assert_int_equal(peer_attach(b, "mb", 1, false, &rb, &sb),
	    SHMC_GSS_OK);
	assert_int_equal(rb.index, 1);
	assert_int_equal(rb.active_mask, 0x7);
	expect_peer_changed(a, true, ra.client_id, 1, 0x7);
	expect_peer_changed(c, true, rc.client_id, 1, 0x7);

	/* A connection that closes detaches its clients. */
	peer_close(c);
	expect_peer_changed(a, false, ra.client_id, 2, 0x3);
	expect_peer_changed(b, false, rb.client_id, 2, 0x3);
	peer_slot_op(a, PEER_DETACH, sa, 0);
	expect_peer_changed(b, false, rb.client_id, 0, 0x2);
	expect_no_event(a);
	expect_no_event(b);
	peer_slot_op(b, PEER_DETACH, sb, 0);
	assert_int_equal(peer_attach(a, "mb", 1, false, NULL, NULL),
	    SHMC_GSS_DOES_NOT_EXIST);
}

/* ---- 4. a killed client ---- */

/* Two peers at indices i and j died at about the same time: the daemon
 * may notice either first. */
static void
expect_two_detached(struct peer *p, uint64_t client_id, uint32_t i,
    uint32_t j, uint32_t rest)
{
	struct shmc_event e1, e2;

	expect_event(p, SHMC_EVENT_PEER_DETACHED, client_id, &e1);
	expect_event(p, SHMC_EVENT_PEER_DETACHED, client_id, &e2);
	assert_true((e1.index == i && e2.index == j) ||
	    (e1.index == j && e2.index == i));
	assert_int_equal(e1.active_mask, rest | (1u << e2.index));
	assert_int_equal(e2.active_mask, rest);
}

static void
test_killed_client(void **state)
{
	struct fixture *f = *state;
	struct peer *s = peer_new(f), *k = peer_new(f), *x = peer_new(f);
	struct peer *m;
	struct shmc_region rs, rk, rx, rm;

	assert_int_equal(peer_attach(s, "kill", 2, true, &rs, NULL),
	    SHMC_GSS_OK);
	assert_int_equal(peer_attach(k, "kill", 2, true, &rk, NULL),
	    SHMC_GSS_OK);
	assert_int_equal(peer_attach(x, "kill", 2, true, &rx, NULL),
	    SHMC_GSS_OK);
	assert_int_equal(rk.index, 1);
	assert_int_equal(rx.index, 2);
	peer_drain(s);
	peer_drain(x);

	peer_kill(k);
	expect_peer_changed(s, false, rs.client_id, 1, 0x5);
	expect_peer_changed(x, false, rx.client_id, 1, 0x5);

	m = peer_new(f);
	assert_int_equal(peer_attach(m, "kill", 2, true, &rm, NULL),
	    SHMC_GSS_OK);
	assert_false(rm.created);
	assert_int_equal(rm.index, 1);
	assert_int_equal(rm.active_mask, 0x7);
	expect_peer_changed(s, true, rs.client_id, 1, 0x7);
	expect_peer_changed(x, true, rx.client_id, 1, 0x7);

	/* Two dead at once: the next attacher takes the lower index. */
	peer_kill(m);
	peer_kill(s);
	expect_two_detached(x, rx.client_id, 0, 1, 0x4);
	m = peer_new(f);
	assert_int_equal(peer_attach(m, "kill", 2, true, &rm, NULL),
	    SHMC_GSS_OK);
	assert_int_equal(rm.index, 0);
	assert_int_equal(rm.active_mask, 0x5);
}

/* ---- 5. lifetimes ---- */

static void
test_lifetime_guest(void **state)
{
	struct fixture *f = *state;
	struct peer *a = peer_new(f), *b = peer_new(f);
	struct shmc *adm = fixture_connect(f, f->d.admin_socket);
	struct shmc_region ra, rb;
	int sa, sb;

	assert_int_equal(peer_attach(a, "guest", 2, true, &ra, &sa),
	    SHMC_GSS_OK);
	assert_int_equal(peer_attach(b, "guest", 2, false, &rb, &sb),
	    SHMC_GSS_OK);
	peer_slot_op(a, PEER_DETACH, sa, 0);
	expect_peer_changed(b, false, rb.client_id, 0, 0x2);
	assert_int_equal(admin_region_clients(adm, "guest"), 1);
	peer_slot_op(b, PEER_DETACH, sb, 0);
	assert_int_equal(admin_region_clients(adm, "guest"), -1);
	assert_int_equal(peer_attach(a, "guest", 2, false, NULL, NULL),
	    SHMC_GSS_DOES_NOT_EXIST);

	/* Closing the connections detaches their clients, and the last one
	 * takes the region with it. */
	assert_int_equal(peer_attach(a, "guest2", 2, true, &ra, &sa),
	    SHMC_GSS_OK);
	assert_int_equal(peer_attach(b, "guest2", 2, false, &rb, &sb),
	    SHMC_GSS_OK);
	peer_close(a);
	expect_peer_changed(b, false, rb.client_id, 0, 0x2);
	peer_close(b);
	assert_int_equal(wait_region_clients(adm, "guest2", -1), -1);
}

static void
test_lifetime_admin(void **state)
{
	struct fixture *f = *state;
	struct shmc *adm = fixture_connect(f, f->d.admin_socket);
	struct shmc *q = fixture_connect(f, f->d.socket);
	struct shmc_region r;
	uint32_t detached = 99;

	assert_int_equal(check_admin_create(adm, "adm", 8), 0);
	assert_int_equal(check_admin_create(adm, "adm", 8),
	    SHMBROKER__ERROR__ERR_EXISTS);
	assert_int_equal(fixture_attach(f, q, "adm", 1, false, &r),
	    SHMC_GSS_OK);
	assert_false(r.created);
	assert_int_equal(r.index, 0);
	assert_int_equal(r.size_pages, 8);
	assert_int_equal(shmc_detach(q, r.client_id), 0);
	assert_int_equal(admin_region_clients(adm, "adm"), 0);
	/* Create-or-attach finds it as well, and it survives again. */
	assert_int_equal(fixture_attach(f, q, "adm", 64, true, &r),
	    SHMC_GSS_OK);
	assert_false(r.created);
	assert_int_equal(r.size_pages, 8);
	assert_int_equal(shmc_detach(q, r.client_id), 0);
	assert_int_equal(admin_region_clients(adm, "adm"), 0);

	assert_int_equal(check_admin_destroy(adm, "adm", false, &detached), 0);
	assert_int_equal(detached, 0);
	assert_int_equal(fixture_attach(f, q, "adm", 1, false, &r),
	    SHMC_GSS_DOES_NOT_EXIST);
	assert_int_equal(check_admin_destroy(adm, "adm", false, NULL),
	    SHMBROKER__ERROR__ERR_NOT_FOUND);
}

static void
test_lifetime_revoked(void **state)
{
	struct fixture *f = *state;
	struct shmc *adm = fixture_connect(f, f->d.admin_socket);
	struct peer *p1 = peer_new(f), *p2 = peer_new(f);
	struct shmc_region r1, r2;
	struct shmc_event ev;
	uint32_t detached = 0;
	int s1, s2;

	assert_int_equal(check_admin_create(adm, "rev", 4), 0);
	assert_int_equal(peer_attach(p1, "rev", 4, false, &r1, &s1),
	    SHMC_GSS_OK);
	assert_int_equal(peer_attach(p2, "rev", 4, false, &r2, &s2),
	    SHMC_GSS_OK);
	peer_drain(p1);
	peer_drain(p2);
	peer_slot_op(p1, PEER_FILL, s1, 7);

	assert_int_equal(check_admin_destroy(adm, "rev", false, NULL),
	    SHMBROKER__ERROR__ERR_BUSY);
	assert_int_equal(admin_region_clients(adm, "rev"), 2);
	assert_int_equal(check_admin_destroy(adm, "rev", true, &detached), 0);
	assert_int_equal(detached, 2);
	expect_event(p1, SHMC_EVENT_REVOKED, r1.client_id, &ev);
	expect_event(p2, SHMC_EVENT_REVOKED, r2.client_id, &ev);
	expect_no_event(p1);
	expect_no_event(p2);

	/* The region is gone and so are its clients; mappings stay valid. */
	assert_int_equal(peer_attach(p1, "rev", 4, false, NULL, NULL),
	    SHMC_GSS_DOES_NOT_EXIST);
	assert_int_equal(admin_region_clients(adm, "rev"), -1);
	assert_int_equal(peer_slot_try(p1, PEER_NOTIFY, s1, 0x2), -ENOENT);
	assert_int_equal(peer_slot_try(p2, PEER_STATUS, s2, 0), -ENOENT);
	assert_int_equal(peer_slot_op(p2, PEER_VERIFY, s2, 7), 0);

	/* A guest-created region can be force-destroyed as well. */
	assert_int_equal(peer_attach(p1, "grev", 1, true, &r1, &s1),
	    SHMC_GSS_OK);
	assert_int_equal(check_admin_destroy(adm, "grev", true, &detached), 0);
	assert_int_equal(detached, 1);
	expect_event(p1, SHMC_EVENT_REVOKED, r1.client_id, &ev);
	assert_int_equal(peer_attach(p2, "grev", 1, false, NULL, NULL),
	    SHMC_GSS_DOES_NOT_EXIST);
}

/* ---- 6. client limit and failed creates ---- */

static void
test_client_max(void **state)
{
	struct fixture *f = *state;
	struct shmc *c1 = fixture_connect(f, f->d.socket);
	struct shmc *c2 = fixture_connect(f, f->d.socket);
	struct shmc *c3 = fixture_connect(f, f->d.socket);
	struct shmc *adm = fixture_connect(f, f->d.admin_socket);
	struct shmc_region r[16], extra;
	uint32_t regions, clients;

	/* Every successful attach is a new client, even on one connection. */
	for (int i = 0; i < 16; i++) {
		struct shmc *c = i < 10 ? c1 : c2;

		assert_int_equal(fixture_attach(f, c, "full", 2, true, &r[i]),
		    SHMC_GSS_OK);
		assert_int_equal(r[i].index, (uint32_t)i);
		assert_int_equal(r[i].created, i == 0);
		assert_int_equal(r[i].active_mask, (1u << (i + 1)) - 1);
		for (int j = 0; j < i; j++)
			assert_true(r[j].client_id != r[i].client_id);
	}
	assert_int_equal(fixture_attach(f, c3, "full", 2, true, &extra),
	    SHMC_GSS_CLIENT_MAX);
	assert_int_equal(fixture_attach(f, c3, "full", 2, false, &extra),
	    SHMC_GSS_CLIENT_MAX);
	assert_int_equal(fixture_attach(f, c1, "full", 2, true, &extra),
	    SHMC_GSS_CLIENT_MAX);
	assert_int_equal(admin_region_clients(adm, "full"), 16);

	/* A freed index is taken by the next attacher. */
	assert_int_equal(shmc_detach(c1, r[5].client_id), 0);
	assert_int_equal(fixture_attach(f, c3, "full", 2, false, &extra),
	    SHMC_GSS_OK);
	assert_int_equal(extra.index, 5);
	assert_int_equal(extra.active_mask, 0xffff);
	check_admin_counts(adm, &regions, &clients);
	assert_int_equal(regions, 1);
	assert_int_equal(clients, 16);

	/* Closing a connection detaches all of its clients (a VM reset). */
	for (size_t i = 0; i < f->nconns; i++)
		if (f->conns[i] == c1)
			f->conns[i] = f->conns[--f->nconns];
	shmc_close(c1);
	assert_int_equal(wait_region_clients(adm, "full", 7), 7);
	assert_int_equal(fixture_attach(f, c3, "full", 2, false, &extra),
	    SHMC_GSS_OK);
	assert_int_equal(extra.index, 0);
}

static int
setup_small_max(void **state)
{
	static const char text[] = "[broker]\ntenancy = open\nmax_region_size = 1M\n";
	struct fixture *f = fixture_new();
	char cfg[64];
	const char *args[] = { "--hugepages", "never", "--config", cfg, NULL };
	int fd;

	if (f == NULL)
		return -1;
	*state = f;
	snprintf(f->config, sizeof(f->config), "/tmp/shmbroker-cfg.XXXXXX");
	if ((fd = mkstemp(f->config)) < 0) {
		f->config[0] = '\0';
		return -1;
	}
	if (write(fd, text, sizeof(text) - 1) != (ssize_t)sizeof(text) - 1) {
		close(fd);
		return -1;
	}
	close(fd);
	snprintf(cfg, sizeof(cfg), "%s", f->config);
	return fixture_start(f, args);
}

static void
test_failed_create(void **state)
{
	struct fixture *f = *state;
	struct shmc *c = fixture_connect(f, f->d.socket);
	struct shmc *adm = fixture_connect(f, f->d.admin_socket);
	struct shmc_region r;
	uint32_t regions, clients;

	/* 512 pages is 2 MiB, over max_region_size = 1M. */
	assert_int_equal(fixture_attach(f, c, "big", 512, true, &r),
	    SHMC_GSS_NOMEM);
	assert_int_equal(fixture_attach(f, c, "big", 512, false, &r),
	    SHMC_GSS_DOES_NOT_EXIST);
	assert_int_equal(admin_region_clients(adm, "big"), -1);
	assert_int_equal(fixture_attach(f, c, "zero", 0, true, &r),
	    SHMC_GSS_NOMEM);
	assert_int_equal(fixture_attach(f, c, "zero", 0, false, &r),
	    SHMC_GSS_DOES_NOT_EXIST);
	check_admin_counts(adm, &regions, &clients);
	assert_int_equal(regions, 0);
	assert_int_equal(clients, 0);
	assert_int_equal(harness_count_fds(f->d.pid), f->baseline_fds + 2);

	/* The limit itself is allowed. */
	assert_int_equal(fixture_attach(f, c, "big", 256, true, &r),
	    SHMC_GSS_OK);
	assert_int_equal(r.size_pages, 256);
	assert_true(r.created);
	/* An attach that would have created a too large region only finds
	 * the existing one. */
	assert_int_equal(fixture_attach(f, c, "big", 512, true, &r),
	    SHMC_GSS_OK);
	assert_int_equal(r.size_pages, 256);
	assert_false(r.created);
}

/* ---- 7. memfd sealing and hugepages ---- */

static void
check_sealed(int fd, uint64_t bytes)
{
	struct stat st;
	int seals = fcntl(fd, F_GET_SEALS);

	assert_true(seals >= 0);
	assert_int_equal(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
	    F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	assert_int_equal(ftruncate(fd, 0), -1);
	assert_int_equal(ftruncate(fd, (off_t)bytes / 2), -1);
	assert_int_equal(ftruncate(fd, (off_t)bytes * 2), -1);
	/* F_SEAL_SEAL: no one can add F_SEAL_WRITE and freeze the peers. */
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), -1);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, bytes);
}

static void
test_memfd_sealed(void **state)
{
	struct fixture *f = *state;
	struct shmc *c = fixture_connect(f, f->d.socket);
	struct shmc_region r;
	uint8_t *map;

	assert_int_equal(fixture_attach(f, c, "sealed", 3, true, &r),
	    SHMC_GSS_OK);
	assert_int_equal(r.backing_bytes, 3 * PAGE);
	check_sealed(r.fd, r.backing_bytes);
	map = fixture_map(f, &r);
	pattern_fill(map, 3 * PAGE, 9);
	assert_int_equal(pattern_mismatches(map, 3 * PAGE, 9), 0);
}

static void
hugepages_attach(struct fixture *f, const char *name, uint32_t pages,
    bool hugetlb)
{
	struct shmc *c = fixture_connect(f, f->d.socket);
	struct shmc_region r, r2;
	uint8_t *map, *map2;
	size_t len = (size_t)pages * PAGE;

	assert_int_equal(fixture_attach(f, c, name, pages, true, &r),
	    SHMC_GSS_OK);
	assert_int_equal(r.hugetlb, hugetlb);
	assert_int_equal(r.size_pages, pages);
	assert_int_equal(r.backing_bytes, hugetlb ?
	    (len + HUGE_2M - 1) / HUGE_2M * HUGE_2M : len);
	check_sealed(r.fd, r.backing_bytes);
	map = fixture_map(f, &r);
	pattern_fill(map, len, pages);
	assert_int_equal(fixture_attach(f, c, name, 1, false, &r2),
	    SHMC_GSS_OK);
	assert_int_equal(r2.hugetlb, hugetlb);
	map2 = fixture_map(f, &r2);
	assert_int_equal(pattern_mismatches(map2, len, pages), 0);
}

static const char *const require_args[] = { "--hugepages", "require", NULL };
static const char *const prefer_args[] = { "--hugepages", "prefer", NULL };

static void
test_hugepages(void **state)
{
	struct fixture *f = *state;
	struct shmc *c;
	struct shmc_region r;

	if (geteuid() != 0 || access(HARNESS_NR_HUGEPAGES, W_OK) != 0) {
		print_message("SKIP: hugepage test needs root and a writable "
		    "%s\n", HARNESS_NR_HUGEPAGES);
		skip();
	}
	if (harness_meminfo("Hugepagesize") != 2048) {
		print_message("SKIP: hugepage test assumes 2 MiB hugepages\n");
		skip();
	}
	f->saved_hugepages = harness_hugepages_save();
	assert_true(f->saved_hugepages >= 0);
	if (harness_hugepages_make_free(4) < 4) {
		print_message("SKIP: the kernel could not make 4 hugepages "
		    "free\n");
		skip();
	}

	/* With a pool: require and prefer both give hugetlb memory. */
	assert_int_equal(fixture_start(f, require_args), 0);
	hugepages_attach(f, "huge", 512, true);
	hugepages_attach(f, "huge-small", 1, true);
	fixture_restart(f, prefer_args);
	hugepages_attach(f, "huge", 512, true);

	/* Without: require fails and leaves nothing, prefer falls back. */
	fixture_release(f);
	assert_int_equal(fixture_stop(f), 0);
	assert_int_equal(harness_hugepages_make_free(0), 0);
	assert_int_equal(fixture_start(f, require_args), 0);
	c = fixture_connect(f, f->d.socket);
	assert_int_equal(fixture_attach(f, c, "huge", 512, true, &r),
	    SHMC_GSS_NOMEM);
	assert_int_equal(fixture_attach(f, c, "huge", 512, false, &r),
	    SHMC_GSS_DOES_NOT_EXIST);
	fixture_restart(f, prefer_args);
	hugepages_attach(f, "huge", 512, false);
}

/* ---- 8. thousands of connections ---- */

static void
test_many_connections(void **state)
{
	struct fixture *f = *state;
	struct shmc_region r;
	struct shmc *c, *adm;
	struct rlimit rl;
	uint32_t regions, clients;
	char err[256], name[32];
	int base = f->baseline_fds, n;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	f->saved_nofile = rl;
	f->nofile_changed = true;
	rl.rlim_cur = rl.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	/* Each connection holds a socket, an epoll fd and an eventfd. */
	assert_true(rl.rlim_cur >= MANY_CONNS * 3 + 256);

	f->many = calloc(MANY_CONNS, sizeof(*f->many));
	assert_non_null(f->many);
	for (int i = 0; i < MANY_CONNS; i++) {
		if (shmc_connect(f->d.socket, NULL, 10000, &f->many[i], err,
		    sizeof(err)) < 0)
			fail_msg("connection %d: %s", i, err);
		f->nmany++;
	}
	n = harness_count_fds(f->d.pid);
	assert_true(n >= base + MANY_CONNS);
	for (int i = 0; i < MANY_ATTACH; i++) {
		snprintf(name, sizeof(name), "many%02d", i % 100);
		if (shmc_attach(f->many[i], name, 1, true, &r) != SHMC_GSS_OK)
			fail_msg("attach %d: %s", i, shmc_error(f->many[i]));
		close(r.fd);
		assert_int_equal(r.index, (uint32_t)(i / 100));
	}
	assert_true(harness_count_fds(f->d.pid) >= base + MANY_CONNS + 100);

	for (size_t i = 0; i < f->nmany; i++)
		shmc_close(f->many[i]);
	f->nmany = 0;
	n = harness_wait_fd_count(f->d.pid, base, SETTLE_WAIT_MS);
	assert_int_equal(n, base);

	c = fixture_connect(f, f->d.socket);
	assert_int_equal(fixture_attach(f, c, "after", 4, true, &r),
	    SHMC_GSS_OK);
	assert_true(r.created);
	assert_int_equal(r.index, 0);
	adm = fixture_connect(f, f->d.admin_socket);
	check_admin_counts(adm, &regions, &clients);
	assert_int_equal(regions, 1);
	assert_int_equal(clients, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_zero_copy, setup_never,
		    teardown),
		cmocka_unit_test_setup_teardown(test_notify, setup_never,
		    teardown),
		cmocka_unit_test_setup_teardown(test_membership, setup_never,
		    teardown),
		cmocka_unit_test_setup_teardown(test_killed_client,
		    setup_never, teardown),
		cmocka_unit_test_setup_teardown(test_lifetime_guest,
		    setup_never, teardown),
		cmocka_unit_test_setup_teardown(test_lifetime_admin,
		    setup_never, teardown),
		cmocka_unit_test_setup_teardown(test_lifetime_revoked,
		    setup_never, teardown),
		cmocka_unit_test_setup_teardown(test_client_max, setup_never,
		    teardown),
		cmocka_unit_test_setup_teardown(test_failed_create,
		    setup_small_max, teardown),
		cmocka_unit_test_setup_teardown(test_memfd_sealed, setup_never,
		    teardown),
		cmocka_unit_test_setup_teardown(test_hugepages, setup_empty,
		    teardown),
		cmocka_unit_test_setup_teardown(test_many_connections,
		    setup_never, teardown),
	};

	/* A daemon that fails keeps its log so that teardown can print it. */
	setenv("SHMBROKER_KEEP_LOGS", "1", 0);
	return cmocka_run_group_tests_name("integration.broker", tests, NULL,
	    NULL);
}
