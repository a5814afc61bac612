/* SPDX-License-Identifier: ISC */
/*
 * test_notify: the notification path without a daemon round trip, against
 * the real daemon. A region's state page (its clients' pending words) is
 * made at the first attach and freed with the last client; an attach reply
 * carries the region memfd, the state page, the client's own eventfd and
 * its peers' eventfds in index order; a joining peer's eventfd reaches the
 * members with its PeerChanged. Clients then notify and read status
 * directly (libshmclient's direct path), and the old Notify and
 * ReadStatus requests act on the same words. The daemon's descriptors are
 * counted through /proc, and a client that misuses its eventfd or never
 * reads must not block or grow the daemon. A thread that waits on the
 * event fd while calls are made (a VMM's event thread) is not woken by
 * their replies once the library is told it is there.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "poller.h"
#include "shmstate.h"
#include "testcheck.h"

#define MAX_CONNS 8
#define WAIT_MS 5000
#define SETTLE_MS 5000
#define CHURN 500
#define MISUSE_NOTIFIES 2000
#define EVT_ROUNDS 100	/* attach + detach: two calls each */

/* A VMM connection the teardown closes. */
static struct shmc *
conn(struct fixture *f)
{
	return fixture_connect(f, f->d.socket, "test-notify");
}

/* A raw connection to the VMM socket the teardown closes. */
static int
raw(struct fixture *f)
{
	return fixture_raw(f, f->d.socket);
}

static void
attach(struct shmc *c, const char *name, struct shmc_region *r)
{
	int rc = shmc_attach(c, name, 1, true, r);

	if (rc != SHMC_GSS_OK)
		fail_msg("attach %s: %d: %s", name, rc, shmc_error(c));
	close(r->fd);
}

/* The daemon's descriptors once they stop changing. */
static int
daemon_fds(struct fixture *f)
{
	return harness_settled_fd_count(f->d.pid);
}

static void
expect_fds_at(struct fixture *f, int want, int line)
{
	int got = harness_wait_fd_count(f->d.pid, want, SETTLE_MS);

	if (got != want)
		fail_msg("line %d: the daemon holds %d descriptors, not %d",
		    line, got, want);
}
#define expect_daemon_fds(f, want) expect_fds_at(f, want, __LINE__)

static bool
readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* Reads an eventfd's counter; 0 when it was not signalled. */
static uint64_t
take_count(int efd)
{
	uint64_t v = 0;

	if (read(efd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

static bool
is_eventfd(int fd)
{
	char path[64], target[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	return strcmp(target, "anon_inode:[eventfd]") == 0;
}

/* The direct status read: the active mask as last heard of. */
static uint32_t
status(struct shmc *c, uint64_t id, uint32_t keep)
{
	uint32_t st = 0;

	assert_int_equal(shmc_status_direct(c, id, keep, &st), 0);
	return st;
}

/* shmc_read_status_keep: direct as well, after reading the events that
 * wait in the socket (the active mask is then the daemon's latest). */
static uint32_t
status_now(struct shmc *c, uint64_t id, uint32_t keep)
{
	uint32_t st = 0;

	assert_int_equal(shmc_read_status_keep(c, id, keep, &st), 0);
	return st;
}

/* A raw find on s; returns the reply with its fds in fds. */
static Shmbroker__ServerMessage *
raw_find(struct fixture *f, int s, const char *name, struct wire_fds *fds)
{
	uint64_t id = f->next_id++;
	int64_t deadline = harness_now_ms() + WAIT_MS;
	Shmbroker__ServerMessage *m;

	check_send_attach(s, id, name, strlen(name) + 1, 1, true);
	for (;;) {
		m = check_recv(s, deadline, fds);
		if (m->id == id)
			break;
		wire_fds_close(fds);
		shmbroker__server_message__free_unpacked(m, NULL);
	}
	assert_int_equal(m->error, SHMBROKER__ERROR__ERR_NONE);
	assert_int_equal(m->attach->status, SHMBROKER__GUEST_STATUS__GSS_OK);
	return m;
}

/* The next datagram on s, which must be an event of that body. */
static Shmbroker__ServerMessage *
raw_event(int s, int body, struct wire_fds *fds)
{
	Shmbroker__ServerMessage *m = check_recv(s, harness_now_ms() +
	    WAIT_MS, fds);

	assert_int_equal(m->id, 0);
	assert_int_equal(m->body_case, body);
	return m;
}

/* A hello on s, whose reply must be the next datagram: nothing (no
 * Notification event) was sent ahead of it. */
static void
raw_expect_quiet(struct fixture *f, int s)
{
	Shmbroker__ClientMessage m = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__Hello h = SHMBROKER__HELLO__INIT;
	Shmbroker__ServerMessage *r;
	struct wire_fds fds;

	h.version = WIRE_PROTOCOL_VERSION;
	m.id = f->next_id++;
	m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_HELLO;
	m.hello = &h;
	check_send(s, &m);
	r = check_recv(s, harness_now_ms() + WAIT_MS, &fds);
	assert_int_equal(fds.n, 0);
	assert_int_equal(r->id, m.id);
	assert_int_equal(r->body_case, SHMBROKER__SERVER_MESSAGE__BODY_HELLO);
	shmbroker__server_message__free_unpacked(r, NULL);
}

struct evcount {
	int notifications;
	uint32_t pending;
	uint64_t client_id;
};

static void
count_cb(const struct shmc_event *ev, void *arg)
{
	struct evcount *n = arg;

	if (ev->kind != SHMC_EVENT_NOTIFICATION)
		return;
	n->notifications++;
	n->pending = ev->pending;
	n->client_id = ev->client_id;
}

static void
revoked_cb(const struct shmc_event *ev, void *arg)
{
	uint64_t *id = arg;

	if (ev->kind == SHMC_EVENT_REVOKED && ev->client_id == *id)
		*id = 0;
}

/* Dispatches c until client id was revoked, or WAIT_MS. */
static void
wait_revoked(struct shmc *c, uint64_t id)
{
	int64_t end = harness_now_ms() + WAIT_MS;
	struct pollfd p = { .fd = shmc_event_fd(c), .events = POLLIN };

	while (id != 0 && harness_now_ms() < end) {
		poll(&p, 1, 100);
		assert_true(shmc_dispatch(c, revoked_cb, &id) >= 0);
	}
	assert_int_equal(id, 0);
}

/* Dispatches c until it reported a notification, or WAIT_MS. */
static void
wait_notification(struct shmc *c, struct evcount *n)
{
	int64_t end = harness_now_ms() + WAIT_MS;
	struct pollfd p = { .fd = shmc_event_fd(c), .events = POLLIN };

	n->notifications = 0;
	while (n->notifications == 0 && harness_now_ms() < end) {
		poll(&p, 1, 100);
		assert_true(shmc_dispatch(c, count_cb, n) >= 0);
	}
	assert_true(n->notifications > 0);
}

/* The Notify request, not the direct path. */
static uint32_t
rpc_notify(struct shmc *c, uint64_t id, uint32_t mask)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__Notify n = SHMBROKER__NOTIFY__INIT;
	Shmbroker__ServerMessage *m;
	uint32_t delivered;

	n.client_id = id;
	n.mask = mask;
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_NOTIFY;
	req.notify = &n;
	assert_int_equal(shmc_call(c, &req, &m), 0);
	assert_int_equal(m->error, SHMBROKER__ERROR__ERR_NONE);
	assert_int_equal(m->body_case, SHMBROKER__SERVER_MESSAGE__BODY_NOTIFY);
	delivered = m->notify->delivered;
	shmbroker__server_message__free_unpacked(m, NULL);
	return delivered;
}

/* The ReadStatus request. */
static uint32_t
rpc_status(struct shmc *c, uint64_t id, uint32_t keep)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__ReadStatus rs = SHMBROKER__READ_STATUS__INIT;
	Shmbroker__ServerMessage *m;
	uint32_t st;

	rs.client_id = id;
	rs.keep_mask = keep;
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_READ_STATUS;
	req.read_status = &rs;
	assert_int_equal(shmc_call(c, &req, &m), 0);
	assert_int_equal(m->error, SHMBROKER__ERROR__ERR_NONE);
	st = m->read_status->status;
	shmbroker__server_message__free_unpacked(m, NULL);
	return st;
}

/* ---- the daemon's descriptors ---- */

/* A region costs its state page only while it has clients, and each
 * client one eventfd. */
static void
test_state_page_lifetime(void **state)
{
	struct fixture *f = *state;
	struct shmc *a = conn(f), *b = conn(f);
	struct shmc_region ra, rb, ra2;
	int base, with_regions;

	base = daemon_fds(f);
	for (int i = 0; i < 20; i++) {
		char name[16];

		snprintf(name, sizeof(name), "idle%d", i);
		assert_int_equal(check_admin_create(f->adm, name, 1), 0);
	}
	/* Client-less regions: their memfds, no state page. */
	with_regions = daemon_fds(f);
	assert_int_equal(with_regions, base + 20);

	attach(a, "idle3", &ra);
	expect_daemon_fds(f, with_regions + 2);	/* state page + eventfd */
	attach(b, "idle3", &rb);
	expect_daemon_fds(f, with_regions + 3);	/* + b's eventfd */
	attach(a, "idle3", &ra2);
	expect_daemon_fds(f, with_regions + 4);
	assert_int_equal(shmc_detach(a, ra2.client_id), 0);
	expect_daemon_fds(f, with_regions + 3);
	assert_int_equal(shmc_detach(b, rb.client_id), 0);
	expect_daemon_fds(f, with_regions + 2);
	assert_int_equal(shmc_detach(a, ra.client_id), 0);
	/* The last client took the state page with it. */
	expect_daemon_fds(f, with_regions);

	/* A guest region goes whole; a dropped connection detaches too. */
	attach(a, "guest", &ra);
	attach(b, "guest", &rb);
	expect_daemon_fds(f, with_regions + 1 + 3);
	fixture_close(f, b);
	/* b's socket went too. */
	expect_daemon_fds(f, with_regions - 1 + 1 + 2);
	assert_int_equal(shmc_detach(a, ra.client_id), 0);
	expect_daemon_fds(f, with_regions - 1);
}

/* ---- what an attach reply and a join carry ---- */

static void
test_attach_reply_fds(void **state)
{
	struct fixture *f = *state;
	struct shmc *p[3];
	struct shmc_region r[3];
	Shmbroker__ServerMessage *m;
	struct wire_fds fds;
	struct shm_state_page *page;
	struct stat st;
	int s = raw(f), seals, own[3];

	/* Three peers at 0, 1, 2; one leaves, so the raw client takes 1
	 * and its peers are 0 and 2. */
	for (int i = 0; i < 3; i++) {
		p[i] = conn(f);
		attach(p[i], "order", &r[i]);
		assert_int_equal(r[i].index, (uint32_t)i);
	}
	assert_int_equal(shmc_detach(p[1], r[1].client_id), 0);
	for (int i = 0; i < 3; i += 2) {
		own[i] = shmc_attachment_eventfd(p[i], r[i].client_id);
		assert_true(own[i] >= 0);
	}
	m = raw_find(f, s, "order", &fds);
	assert_int_equal(m->attach->index, 1);
	assert_int_equal(m->attach->active_mask, 0x7);
	assert_int_equal(fds.n, 5);
	/* The region memfd, of the region's size. */
	assert_int_equal(fstat(fds.fd[0], &st), 0);
	assert_int_equal(st.st_size, 4096);
	/* The state page: sealed, one page, the raw client's word empty. */
	assert_int_equal(fstat(fds.fd[1], &st), 0);
	assert_int_equal(st.st_size, SHM_STATE_PAGE_SIZE);
	seals = fcntl(fds.fd[1], F_GET_SEALS);
	assert_true(seals >= 0 && (seals & F_SEAL_SHRINK) &&
	    (seals & F_SEAL_GROW) && (seals & F_SEAL_SEAL));
	page = mmap(NULL, SHM_STATE_PAGE_SIZE, PROT_READ | PROT_WRITE,
	    MAP_SHARED, fds.fd[1], 0);
	assert_true(page != MAP_FAILED);
	assert_int_equal(shm_state_peek(page, 1), 0);
	/* Its own eventfd, then index 0's, then index 2's. */
	for (size_t i = 2; i < 5; i++)
		assert_true(is_eventfd(fds.fd[i]));
	for (int i = 0; i < 3; i += 2) {
		uint64_t one = 1;
		int peer_fd = fds.fd[i == 0 ? 3 : 4];

		assert_false(readable(own[i]));
		shm_state_post(page, 1, (unsigned)i);
		assert_int_equal(write(peer_fd, &one, sizeof(one)),
		    sizeof(one));
		assert_true(readable(own[i]));
		assert_int_equal(take_count(own[i]), 1);
		assert_int_equal(status(p[i], r[i].client_id, 0) & 0xffff,
		    0x2);
	}
	/* A peer's notify signals the raw client's own eventfd. */
	check_round_trip(p[0], r[0].client_id);
	assert_false(readable(fds.fd[2]));
	assert_int_equal(shmc_notify_direct(p[0], r[0].client_id, 0x2), 0);
	assert_true(readable(fds.fd[2]));
	assert_int_equal(shm_state_peek(page, 1), 0x1);
	munmap(page, SHM_STATE_PAGE_SIZE);
	wire_fds_close(&fds);
	shmbroker__server_message__free_unpacked(m, NULL);
}

static void
test_join_carries_eventfd(void **state)
{
	struct fixture *f = *state;
	int s = raw(f);
	struct shmc *j = conn(f);
	struct shmc_region rj;
	Shmbroker__ServerMessage *m;
	struct wire_fds fds;
	uint64_t one = 1;
	int jfd;

	m = raw_find(f, s, "join", &fds);
	wire_fds_close(&fds);
	shmbroker__server_message__free_unpacked(m, NULL);

	attach(j, "join", &rj);
	assert_int_equal(rj.index, 1);
	jfd = shmc_attachment_eventfd(j, rj.client_id);
	assert_true(jfd >= 0);
	m = raw_event(s, SHMBROKER__SERVER_MESSAGE__BODY_PEER_CHANGED, &fds);
	assert_true(m->peer_changed->attached);
	assert_int_equal(m->peer_changed->index, 1);
	assert_int_equal(m->peer_changed->active_mask, 0x3);
	assert_int_equal(fds.n, 1);
	assert_true(is_eventfd(fds.fd[0]));
	/* It is the joiner's own eventfd. */
	assert_int_equal(write(fds.fd[0], &one, sizeof(one)), sizeof(one));
	assert_true(readable(jfd));
	assert_int_equal(take_count(jfd), 1);
	wire_fds_close(&fds);
	shmbroker__server_message__free_unpacked(m, NULL);

	/* A detach carries no fd. */
	assert_int_equal(shmc_detach(j, rj.client_id), 0);
	m = raw_event(s, SHMBROKER__SERVER_MESSAGE__BODY_PEER_CHANGED, &fds);
	assert_false(m->peer_changed->attached);
	assert_int_equal(m->peer_changed->active_mask, 0x1);
	assert_int_equal(fds.n, 0);
	shmbroker__server_message__free_unpacked(m, NULL);
}

/* ---- notifications ---- */

/* The direct path and the requests work on the same words, and the
 * daemon sends no Notification event. */
static void
test_direct_and_rpc(void **state)
{
	struct fixture *f = *state;
	struct shmc *a = conn(f), *b = conn(f);
	struct shmc_region ra, rb;
	struct evcount n = { 0 };
	int s = raw(f);
	Shmbroker__ServerMessage *m;
	struct wire_fds fds;
	uint64_t sid;

	attach(a, "both", &ra);
	attach(b, "both", &rb);
	m = raw_find(f, s, "both", &fds);
	sid = m->attach->client_id;
	assert_int_equal(m->attach->index, 2);
	wire_fds_close(&fds);
	shmbroker__server_message__free_unpacked(m, NULL);

	/* Direct: b hears it on its eventfd, through its event fd. */
	check_round_trip(a, ra.client_id);
	assert_int_equal(shmc_notify_direct(a, ra.client_id, 0x2), 0);
	wait_notification(b, &n);
	assert_int_equal(n.client_id, rb.client_id);
	assert_int_equal(n.pending, 0x1);	/* a peek: still set */
	/* The request reads the same word, with a keep mask. */
	assert_int_equal(rpc_notify(a, ra.client_id, 0xffffffffu), 0x6);
	assert_int_equal(rpc_notify(a, ra.client_id, 0x1), 0);	/* self */
	assert_int_equal(rpc_status(b, rb.client_id, 0x1), 0x7u << 16 | 0x1);
	assert_int_equal(status(b, rb.client_id, 0), 0x7u << 16 | 0x1);
	assert_int_equal(status(b, rb.client_id, 0), 0x7u << 16);
	/* The request's notify reached the raw client's word, no event. */
	assert_int_equal(rpc_status(a, ra.client_id, 0), 0x7u << 16);
	raw_expect_quiet(f, s);
	check_send_client_op(s, f->next_id, SHMBROKER__CLIENT_MESSAGE__BODY_READ_STATUS,
	    sid);
	m = check_recv(s, harness_now_ms() + WAIT_MS, &fds);
	assert_int_equal(m->id, f->next_id);
	f->next_id++;
	assert_int_equal(m->read_status->status, 0x7u << 16 | 0x1);
	shmbroker__server_message__free_unpacked(m, NULL);
	/* A direct notify of the raw client, and the request reads it. */
	assert_int_equal(shmc_notify_direct(b, rb.client_id, 0x4), 0);
	assert_int_equal(rpc_status(a, ra.client_id, 0), 0x7u << 16);
	check_send_client_op(s, f->next_id, SHMBROKER__CLIENT_MESSAGE__BODY_READ_STATUS,
	    sid);
	m = check_recv(s, harness_now_ms() + WAIT_MS, &fds);
	assert_int_equal(m->read_status->status, 0x7u << 16 | 0x2);
	f->next_id++;
	shmbroker__server_message__free_unpacked(m, NULL);
	/* Unknown ids: -ENOENT, no daemon call needed to say so. */
	assert_int_equal(shmc_notify_direct(a, 987654, 0x1), -ENOENT);
	assert_int_equal(shmc_status_direct(a, 987654, 0, &(uint32_t){ 0 }),
	    -ENOENT);
	assert_int_equal(shmc_attachment_eventfd(a, 987654), -ENOENT);
}

/* Pending bits outlive their notifier; an index taken again starts
 * empty. */
static void
test_pending_and_reuse(void **state)
{
	struct fixture *f = *state;
	struct shmc *a = conn(f), *b = conn(f), *c = conn(f);
	struct shmc_region ra, rb, rc, rd;

	attach(a, "keep", &ra);
	attach(b, "keep", &rb);
	attach(c, "keep", &rc);
	/* a notifies b and c, then leaves. (A member knows of a peer once
	 * it has read the peer's join: the round trip sees to that.) */
	check_round_trip(a, ra.client_id);
	assert_int_equal(shmc_notify_direct(a, ra.client_id, 0x6), 0);
	assert_int_equal(shmc_detach(a, ra.client_id), 0);
	/* Their bits from a stay until read, with a gone from the mask. */
	assert_int_equal(status_now(b, rb.client_id, 0), 0x6u << 16 | 0x1);
	assert_int_equal(status_now(b, rb.client_id, 0), 0x6u << 16);
	assert_int_equal(status_now(c, rc.client_id, 0x1), 0x6u << 16 | 0x1);
	assert_int_equal(status_now(c, rc.client_id, 0), 0x6u << 16 | 0x1);
	assert_int_equal(status_now(c, rc.client_id, 0), 0x6u << 16);

	/* c notifies b; b leaves without reading; d takes index 1 and
	 * finds nothing pending. */
	assert_int_equal(shmc_notify_direct(c, rc.client_id, 0x2), 0);
	assert_int_equal(shmc_detach(b, rb.client_id), 0);
	attach(a, "keep", &rd);
	assert_int_equal(rd.index, 0);
	attach(b, "keep", &rb);
	assert_int_equal(rb.index, 1);
	assert_int_equal(status(b, rb.client_id, 0), 0x7u << 16);
	/* c's bit for the old index 1 was not passed on. */
	assert_int_equal(status_now(c, rc.client_id, 0), 0x7u << 16);
}

/* A newcomer that notifies at once: the direct status read that finds
 * its bit names it in the mask, though the reader has not read its join
 * yet (as a guest's VMM, whose event thread may be behind the interrupt
 * that the notification raised). It used to read 0x1 << 16 | 0x2. */
static void
test_status_names_new_notifier(void **state)
{
	struct fixture *f = *state;
	struct shmc *a = conn(f), *b = conn(f);
	struct shmc_region ra, rb;

	attach(a, "newcomer", &ra);
	attach(b, "newcomer", &rb);
	assert_int_equal(shmc_notify_direct(b, rb.client_id, 1u << ra.index),
	    0);
	assert_int_equal(status(a, ra.client_id, 0),
	    (1u << ra.index | 1u << rb.index) << 16 | 1u << rb.index);
}

/* Sixteen clients, each notifying every other. */
static void
test_sixteen_all_others(void **state)
{
	struct fixture *f = *state;
	struct shmc_region r[16];
	struct shmc *c[16];
	struct evcount n;

	for (int i = 0; i < 16; i++) {
		c[i] = i < MAX_CONNS ? conn(f) : c[i - MAX_CONNS];
		attach(c[i], "sixteen", &r[i]);
		assert_int_equal(r[i].index, (uint32_t)i);
	}
	for (int i = 0; i < MAX_CONNS; i++)
		check_round_trip(c[i], r[i].client_id);
	for (int i = 0; i < 16; i++)
		assert_int_equal(shmc_notify(c[i], r[i].client_id,
		    0xffffffffu, NULL), 0);
	for (int i = 0; i < 16; i++) {
		/* The last to attach knew everyone from its reply; the
		 * others learnt of the later ones through events. */
		assert_int_equal(status(c[i], r[i].client_id, 0),
		    0xffffu << 16 | (0xffffu & ~(1u << i)));
		assert_int_equal(status(c[i], r[i].client_id, 0),
		    0xffffu << 16);
	}
	/* Each connection heard notifications on its event fd. */
	for (int i = 0; i < MAX_CONNS; i++) {
		memset(&n, 0, sizeof(n));
		wait_notification(c[i], &n);
	}
}

/* efd is b's claimed eventfd of client bid (shmc_attachment_eventfd
 * names it): a notification from a's client aid reaches it, and
 * dispatch leaves it alone, with no notification and the counter kept. */
static void
expect_claimed(struct shmc *a, uint64_t aid, struct shmc *b, uint64_t bid,
    int efd)
{
	struct evcount n = { 0 };

	assert_true(efd >= 0);
	assert_int_equal(shmc_attachment_eventfd(b, bid), efd);
	check_round_trip(a, aid);
	assert_int_equal(shmc_notify_direct(a, aid, 0x2), 0);
	assert_true(readable(efd));
	assert_true(shmc_dispatch(b, count_cb, &n) >= 0);
	assert_int_equal(n.notifications, 0);
	assert_int_equal(take_count(efd), 1);
}

/* A handed-out eventfd is the caller's to read; given back, the library
 * reads it again. */
static void
test_claimed_eventfd(void **state)
{
	struct fixture *f = *state;
	struct shmc *a = conn(f), *b = conn(f);
	struct shmc_region ra, rb;
	struct evcount n = { 0 };
	int efd;

	attach(a, "claim", &ra);
	attach(b, "claim", &rb);
	efd = shmc_attachment_eventfd(b, rb.client_id);
	expect_claimed(a, ra.client_id, b, rb.client_id, efd);
	assert_int_equal(status(b, rb.client_id, 0), 0x3u << 16 | 0x1);

	assert_int_equal(shmc_attachment_eventfd_release(b, rb.client_id), 0);
	assert_int_equal(shmc_notify_direct(a, ra.client_id, 0x2), 0);
	wait_notification(b, &n);
	assert_int_equal(n.pending, 0x1);
}

/* shmc_attach_claim hands the eventfd over with the attach: it is never
 * the library's to read, and is the one shmc_attachment_eventfd names. */
static void
test_attach_claim(void **state)
{
	struct fixture *f = *state;
	struct shmc *a = conn(f), *b = conn(f);
	struct shmc_region ra, rb;
	int efd = 7;

	attach(a, "claim2", &ra);
	assert_int_equal(shmc_attach_claim(b, "claim2", 7, 1, true, &rb,
	    &efd), SHMC_GSS_OK);
	expect_claimed(a, ra.client_id, b, rb.client_id, efd);
	/* A refused attach hands nothing over. */
	efd = 7;
	assert_int_equal(shmc_attach_claim(b, "missing", 8, 0, false, &rb,
	    &efd), SHMC_GSS_DOES_NOT_EXIST);
	assert_int_equal(efd, -1);
}

/* A detach whose reply does not come in time (the daemon is stopped)
 * still lets the client go in the library: it is no attachment any more
 * (a reconnect would not re-claim it), and its eventfd is closed. The
 * daemon reads the request when it runs again. */
static void
test_failed_detach_forgets(void **state)
{
	struct fixture *f = *state;
	struct shmc *a = conn(f);
	struct shmc_region r;
	int before;

	attach(a, "fdet", &r);
	before = check_count_own_fds();
	shmc_set_timeout(a, 300);
	assert_int_equal(kill(f->d.pid, SIGSTOP), 0);
	assert_true(shmc_detach(a, r.client_id) < 0);
	assert_int_equal(kill(f->d.pid, SIGCONT), 0);
	assert_int_equal(shmc_attachment_info(a, r.client_id, NULL, NULL),
	    -ENOENT);
	assert_true(check_count_own_fds() < before);
	assert_int_equal(shmc_notify_direct(a, r.client_id, 0x1), -ENOENT);
}

/* An admin destroy revokes: the client reads 0, cannot notify, and the
 * daemon keeps none of the region's descriptors. */
static void
test_revoked(void **state)
{
	struct fixture *f = *state;
	struct shmc *a = conn(f), *b = conn(f);
	struct shmc_region ra, rb;
	uint32_t detached, st = 1;
	int base = daemon_fds(f);

	assert_int_equal(check_admin_create(f->adm, "rv", 1), 0);
	attach(a, "rv", &ra);
	attach(b, "rv", &rb);
	assert_int_equal(shmc_notify_direct(a, ra.client_id, 0x2), 0);
	expect_daemon_fds(f, base + 1 + 3);
	assert_int_equal(check_admin_destroy(f->adm, "rv", true, &detached),
	    0);
	assert_int_equal(detached, 2);
	expect_daemon_fds(f, base);
	/* The library learns of it from the event. */
	wait_revoked(b, rb.client_id);
	assert_int_equal(shmc_status_direct(b, rb.client_id, 0, &st), 0);
	assert_int_equal(st, 0);
	assert_int_equal(shmc_notify_direct(b, rb.client_id, 0x1), -ENOENT);
}

/* ---- misuse ---- */

/*
 * A member that fills its own eventfd's counter (it holds the fd) and
 * never reads its socket: the daemon's writes to that eventfd fail with
 * EAGAIN instead of blocking, and churning peers cannot make it hold
 * their eventfds for the non-reader.
 */
static void
test_misuse_does_not_block(void **state)
{
	struct fixture *f = *state;
	struct shmc *a = conn(f), *c = conn(f);
	struct shmc_region ra, rc;
	Shmbroker__ServerMessage *m;
	struct wire_fds fds;
	uint64_t full = 0xfffffffffffffffeull, sid;
	int s = raw(f), base;
	int64_t t0;

	attach(a, "misuse", &ra);
	m = raw_find(f, s, "misuse", &fds);
	sid = m->attach->client_id;
	assert_int_equal(m->attach->index, 1);
	assert_int_equal(fds.n, 4);
	assert_int_equal(write(fds.fd[2], &full, sizeof(full)), sizeof(full));
	wire_fds_close(&fds);
	shmbroker__server_message__free_unpacked(m, NULL);

	t0 = harness_now_ms();
	for (int i = 0; i < MISUSE_NOTIFIES; i++)
		assert_int_equal(rpc_notify(a, ra.client_id, 0x2), 0x2);
	/* Direct notifies do the same write from here: no block either. */
	for (int i = 0; i < MISUSE_NOTIFIES; i++)
		assert_int_equal(shmc_notify_direct(a, ra.client_id, 0x2), 0);
	print_message("misuse: %d notifies to a full counter in %lld ms\n",
	    2 * MISUSE_NOTIFIES, (long long)(harness_now_ms() - t0));
	assert_int_equal(rpc_status(a, ra.client_id, 0), 0x3u << 16);

	/* Peers come and go while s reads nothing. */
	base = daemon_fds(f);
	for (int i = 0; i < CHURN; i++) {
		attach(c, "misuse", &rc);
		assert_int_equal(shmc_detach(c, rc.client_id), 0);
	}
	assert_true(daemon_fds(f) <= base + 1);
	/* s is still a member, its bit from a still pending. */
	check_send_client_op(s, f->next_id,
	    SHMBROKER__CLIENT_MESSAGE__BODY_READ_STATUS, sid);
	for (;;) {
		m = check_recv(s, harness_now_ms() + WAIT_MS, &fds);
		wire_fds_close(&fds);
		if (m->id == f->next_id)
			break;
		shmbroker__server_message__free_unpacked(m, NULL);
	}
	f->next_id++;
	assert_int_equal(m->error, SHMBROKER__ERROR__ERR_NONE);
	assert_int_equal(m->read_status->status, 0x3u << 16 | 0x1);
	shmbroker__server_message__free_unpacked(m, NULL);
}

/* ---- an event thread beside the calls ---- */

/* Two calls on c: an attach and a detach of a region only c holds. */
static void
evt_call(struct shmc *c, const char *name)
{
	struct shmc_region r;

	attach(c, name, &r);
	assert_int_equal(shmc_detach(c, r.client_id), 0);
}

/* How often a poller on c's event fd was woken over EVT_ROUNDS attaches
 * and detaches of a region only c holds: no event is meant for it. */
static long
wakes_over_calls(struct shmc *c, const char *name)
{
	struct harness_poller *p;
	long wakes, ready;

	assert_int_equal(harness_poller_start(shmc_event_fd(c), &p), 0);
	for (int i = 0; i < EVT_ROUNDS; i++)
		evt_call(c, name);
	harness_poller_stop(p, &wakes, &ready);
	print_message("event thread: %s: woken %ld times over %d calls, "
	    "finding the fd readable %ld of them\n", name, wakes,
	    2 * EVT_ROUNDS, ready);
	return wakes;
}

/*
 * A VMM's event thread waits on the event fd while a vCPU thread makes
 * calls. Each reply woke it (and then it waited for the VMM's lock: on
 * one CPU, 18 us of every guest create); told of it, the library keeps
 * the socket out of the fd's set during a call. Not told, the wakes are
 * still there: the poller sees them.
 */
static void
test_event_thread_sleeps_through_calls(void **state)
{
	struct fixture *f = *state;
	struct shmc *c = conn(f);
	long told, untold;

	untold = wakes_over_calls(c, "evt-untold");
	shmc_set_event_thread(c, true);
	told = wakes_over_calls(c, "evt-told");
	assert_true(told <= 1);
	/* A poller kept from running across round trips (a loaded host)
	 * misses wakes; then it shows nothing either way. */
	if (untold < 2 * EVT_ROUNDS / 5)
		skip();
}

static void
peer_cb(const struct shmc_event *ev, void *arg)
{
	int *n = arg;

	*n += ev->kind == SHMC_EVENT_PEER_ATTACHED ||
	    ev->kind == SHMC_EVENT_PEER_DETACHED;
}

/* Told of an event thread, c still makes its event fd readable for an
 * event that comes after its calls (the socket watched again) and for one
 * a call read ahead of its reply (queued). */
static void
test_event_thread_gets_events(void **state)
{
	struct fixture *f = *state;
	struct shmc *c = conn(f), *d = conn(f);
	struct pollfd p = { .events = POLLIN };
	struct shmc_region r, dr;
	int peers = 0;

	shmc_set_event_thread(c, true);
	p.fd = shmc_event_fd(c);
	attach(c, "evt-peer", &r);
	evt_call(c, "evt-mine");
	/* After the calls: d's join. */
	attach(d, "evt-peer", &dr);
	assert_int_equal(poll(&p, 1, WAIT_MS), 1);
	assert_true(shmc_dispatch(c, peer_cb, &peers) >= 1);
	assert_int_equal(peers, 1);
	assert_int_equal(poll(&p, 1, 0), 0);
	/* Ahead of a reply: d's leave, in c's socket when c calls. */
	assert_int_equal(shmc_detach(d, dr.client_id), 0);
	evt_call(c, "evt-mine");
	assert_int_equal(poll(&p, 1, WAIT_MS), 1);
	assert_true(shmc_dispatch(c, peer_cb, &peers) >= 1);
	assert_int_equal(peers, 2);
}

struct evt_attach {
	struct shmc *c;
	struct shmc_region r;
	int rc;
};

static void *
evt_attach_main(void *arg)
{
	struct evt_attach *a = arg;

	a->rc = shmc_attach(a->c, "evt-race", 1, true, &a->r);
	return NULL;
}

/*
 * A peer's join that comes right behind the reply to c's own attach
 * (the daemon is held so that c's create and d's find are answered in
 * one go) must not be read while c's attach is still returning: the
 * attachment is not known yet, and its peer's eventfd was dropped (a
 * first version of shmc_set_event_thread read the socket there, and
 * shm-vm's copy guests, notifying "all others", waited for ever). Read
 * by the dispatch an event thread makes, it reaches d's eventfd.
 */
static void
test_event_thread_keeps_join_behind_reply(void **state)
{
	struct fixture *f = *state;
	struct evt_attach a = { .c = conn(f) };
	struct pollfd p = { .events = POLLIN };
	Shmbroker__ServerMessage *m;
	struct wire_fds fds;
	pthread_t t;
	uint64_t v = 0, id;
	int s = raw(f), peers = 0;

	shmc_set_event_thread(a.c, true);
	assert_int_equal(kill(f->d.pid, SIGSTOP), 0);
	assert_int_equal(pthread_create(&t, NULL, evt_attach_main, &a), 0);
	harness_sleep_ms(100);	/* c's request first */
	id = f->next_id++;
	check_send_attach(s, id, "evt-race", strlen("evt-race") + 1, 1, true);
	assert_int_equal(kill(f->d.pid, SIGCONT), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(a.rc, SHMC_GSS_OK);
	close(a.r.fd);
	for (;;) {
		m = check_recv(s, harness_now_ms() + WAIT_MS, &fds);
		if (m->id == id)
			break;
		wire_fds_close(&fds);
		shmbroker__server_message__free_unpacked(m, NULL);
	}
	assert_int_equal(m->error, SHMBROKER__ERROR__ERR_NONE);
	assert_int_equal(m->body_case, SHMBROKER__SERVER_MESSAGE__BODY_ATTACH);
	assert_int_equal(m->attach->status, SHMBROKER__GUEST_STATUS__GSS_OK);
	shmbroker__server_message__free_unpacked(m, NULL);
	/* A host too slow for the 100 ms let d's find come first. */
	if (!a.r.created) {
		wire_fds_close(&fds);
		skip();
	}
	assert_int_equal(fds.n, 4);
	p.fd = shmc_event_fd(a.c);
	assert_int_equal(poll(&p, 1, WAIT_MS), 1);
	assert_true(shmc_dispatch(a.c, peer_cb, &peers) >= 1);
	assert_int_equal(peers, 1);
	assert_int_equal(shmc_notify_direct(a.c, a.r.client_id, 0xffffffffu),
	    0);
	p.fd = fds.fd[2];	/* d's own eventfd */
	assert_int_equal(poll(&p, 1, WAIT_MS), 1);
	assert_int_equal(read(fds.fd[2], &v, sizeof(v)), sizeof(v));
	assert_int_equal(v, 1);
	wire_fds_close(&fds);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		FIXTURE_TEST(test_state_page_lifetime),
		FIXTURE_TEST(test_attach_reply_fds),
		FIXTURE_TEST(test_join_carries_eventfd),
		FIXTURE_TEST(test_direct_and_rpc),
		FIXTURE_TEST(test_pending_and_reuse),
		FIXTURE_TEST(test_status_names_new_notifier),
		FIXTURE_TEST(test_sixteen_all_others),
		FIXTURE_TEST(test_attach_claim),
		FIXTURE_TEST(test_failed_detach_forgets),
		FIXTURE_TEST(test_claimed_eventfd),
		FIXTURE_TEST(test_revoked),
		FIXTURE_TEST(test_misuse_does_not_block),
		FIXTURE_TEST(test_event_thread_sleeps_through_calls),
		FIXTURE_TEST(test_event_thread_gets_events),
		FIXTURE_TEST(test_event_thread_keeps_join_behind_reply),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
