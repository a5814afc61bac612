/* SPDX-License-Identifier: ISC */
/*
 * peers: forked client processes on the test's command (see peers.h).
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "peers.h"
#include "shmbroker.pb-c.h"
#include "shmclient_admin.h"
#include "testutil.h"

#define PAGE 4096u
#define PEER_EVENTS 512		/* events a peer keeps until asked */
#define PEER_REPLY_MS 30000

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

/* What a peer process keeps between commands. */
struct peer_state {
	struct shmc *c;
	struct shmc_region r[PEER_SLOTS];
	uint8_t *map[PEER_SLOTS];
	bool used[PEER_SLOTS];
	struct shmc_event ev[PEER_EVENTS];
	size_t nev;
};

static uint8_t
peer_pattern_byte(uint32_t seed, size_t i)
{
	return (uint8_t)(seed * 131u + i * 7u + (i >> 12));
}

void
peer_pattern_fill(uint8_t *p, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = peer_pattern_byte(seed, i);
}

uint32_t
peer_pattern_mismatches(const uint8_t *p, size_t len, uint32_t seed)
{
	uint32_t bad = 0;

	for (size_t i = 0; i < len; i++)
		if (p[i] != peer_pattern_byte(seed, i))
			bad++;
	return bad;
}

/* ---- the peer process ---- */

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
		struct pollfd p = { .fd = shmc_event_fd(st->c),
		    .events = POLLIN };
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
		peer_pattern_fill(st->map[s], len, cmd->arg);
		return 0;
	case PEER_VERIFY:
		r->value = peer_pattern_mismatches(st->map[s], len, cmd->arg);
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

/* ---- the test process's side ---- */

static struct peer *
peer_spawn(struct peers *ps)
{
	struct peer *p;
	pid_t parent = getpid();
	int sv[2];

	assert_true(ps->n < PEERS_MAX);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
	    sv), 0);
	p = &ps->p[ps->n];
	p->pid = fork();
	if (p->pid == 0)
		peer_main(sv[1], parent);
	close(sv[1]);
	if (p->pid < 0) {
		close(sv[0]);
		fail_msg("fork: %s", strerror(errno));
	}
	p->ctl = sv[0];
	ps->n++;
	return p;
}

void
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

void
peers_kill(struct peers *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		peer_kill(&ps->p[i]);
	ps->n = 0;
}

struct peer *
peer_new(struct peers *ps, const char *path)
{
	struct peer_cmd cmd = { .op = PEER_CONNECT };
	struct peer_reply r;
	struct peer *p = peer_spawn(ps);

	snprintf(cmd.text, sizeof(cmd.text), "%s", path);
	peer_call(p, &cmd, &r);
	if (r.rc != 0)
		fail_msg("peer connect: %d %s", r.rc, r.err);
	return p;
}

/* Attach or find; returns the guest status. */
int
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
uint32_t
peer_slot_op(struct peer *p, enum peer_op op, int slot, uint32_t arg)
{
	struct peer_reply r = peer_slot_call(p, op, slot, arg);

	if (r.rc != 0)
		fail_msg("peer op %d on slot %d: %d %s", (int)op, slot, r.rc,
		    r.err);
	return r.value;
}

/* The same, returning the rc for calls that are expected to fail. */
int
peer_slot_try(struct peer *p, enum peer_op op, int slot, uint32_t arg)
{
	return peer_slot_call(p, op, slot, arg).rc;
}

int
peer_event(struct peer *p, int timeout_ms, struct shmc_event *ev)
{
	struct peer_reply r = peer_slot_call(p, PEER_EVENT, 0,
	    (uint32_t)timeout_ms);

	*ev = r.ev;
	return r.rc;
}

/* Events waiting at the peer after a round trip. */
uint32_t
peer_sync(struct peer *p)
{
	return peer_slot_op(p, PEER_SYNC, 0, 0);
}

void
peer_close(struct peer *p)
{
	assert_int_equal(peer_slot_try(p, PEER_CLOSE, 0, 0), 0);
}

/* Drops the events waiting at the peer. */
void
peer_drain(struct peer *p)
{
	struct shmc_event ev;

	for (uint32_t n = peer_sync(p); n > 0; n--)
		assert_int_equal(peer_event(p, 0, &ev), 0);
}

static const char *
peer_event_name(enum shmc_event_kind k)
{
	static const char *const names[] = { "PEER_ATTACHED",
	    "PEER_DETACHED", "NOTIFICATION", "REVOKED", "ADMIN",
	    "EVENTFD_CHANGED" };

	return (size_t)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

void
peer_expect_event(struct peer *p, enum shmc_event_kind kind,
    uint64_t client_id, struct shmc_event *ev)
{
	int rc = peer_event(p, PEER_EVENT_MS, ev);

	if (rc != 0)
		fail_msg("peer %d: no %s event (%d)", (int)p->pid,
		    peer_event_name(kind), rc);
	if (ev->kind != kind)
		fail_msg("peer %d: got %s (index %u), expected %s",
		    (int)p->pid, peer_event_name(ev->kind), ev->index,
		    peer_event_name(kind));
	assert_int_equal(ev->client_id, client_id);
}

void
peer_expect_changed(struct peer *p, bool attached, uint64_t client_id,
    uint32_t index, uint32_t active)
{
	struct shmc_event ev;

	peer_expect_event(p, attached ? SHMC_EVENT_PEER_ATTACHED :
	    SHMC_EVENT_PEER_DETACHED, client_id, &ev);
	assert_int_equal(ev.index, index);
	assert_int_equal(ev.active_mask, active);
}

/* A notification comes on the receiver's eventfd, which does not say who
 * sent it: the pending bits (peeked, not taken) do. */
void
peer_expect_notification(struct peer *p, uint64_t client_id, uint32_t from,
    uint32_t pending)
{
	struct shmc_event ev;

	peer_expect_event(p, SHMC_EVENT_NOTIFICATION, client_id, &ev);
	assert_true(ev.pending & (1u << from));
	assert_int_equal(ev.pending, pending);
}

void
peer_expect_quiet(struct peer *p)
{
	struct shmc_event ev;

	if (peer_sync(p) != 0) {
		peer_event(p, 0, &ev);
		fail_msg("peer %d: unexpected %s event (index %u)", (int)p->pid,
		    peer_event_name(ev.kind), ev.index);
	}
}
