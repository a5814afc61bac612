/* SPDX-License-Identifier: ISC */
/*
 * test_robustness: regression tests for shmbrokerd under peers that are
 * slow, stopped, hostile or unlucky, each against its own daemon
 * (--hugepages never). Covered: parked region memfds whose keeper slots
 * are reused while a find is in flight (a find must always get its own
 * region's memfd), a stopped keeper process (a find of a parked region
 * fails promptly and other connections are still served), a notification
 * flood and membership churn aimed at a client that does not read (it is
 * not dropped and its state stays right, and what the daemon queues for it
 * never overtakes a reply queued earlier), many clients that never read
 * their replies (the daemon's memory stays bounded), and connections no
 * tenant takes (closed at once, so they cannot hold connection slots).
 * Time only enters as generous bounds ("answered within 3 s").
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "testcheck.h"
#include "shmbroker.pb-c.h"
#include "shmclient.h"
#include "shmclient_admin.h"
#include "wire.h"

#define PAGE 4096
#define REPLY_WAIT_MS 5000
#define PROMPT_MS 3000		/* "answered within 3 s" */
#define SLOT_ROUNDS 300
#define FLOOD_NOTIFIES 20000
#define CHURN_ROUNDS 5000
#define ORDER_FLOOD 2000	/* fills a socket, not a daemon's queue */
#define SILENT_CONNS 200
#define SILENT_REQUESTS 4200
#define SILENT_RSS_KIB (64 * 1024)
#define REFUSED_CONNS 16
#define REFUSED_MAX_CONNECTIONS 8
#define NOBODY 65534

struct robust {
	struct fixture fx;	/* first: fixture_teardown frees it whole */
	pid_t stopped;		/* a keeper this test SIGSTOPped */
	pid_t child;		/* a client process of this test */
	int child_fd;		/* its result pipe */
};

/* ---- the fixture: a configuration file and a daemon ---- */

static int
setup(void **state)
{
	struct robust *f = fixture_new(state, sizeof(*f));

	if (f == NULL)
		return -1;
	f->child_fd = -1;
	return 0;
}

static int
teardown(void **state)
{
	struct robust *f = *state;

	/* A stopped keeper would keep the daemon from exiting cleanly. */
	if (f->stopped > 0)
		kill(f->stopped, SIGCONT);
	if (f->child > 0) {
		kill(f->child, SIGKILL);
		waitpid(f->child, NULL, 0);
	}
	if (f->child_fd >= 0)
		close(f->child_fd);
	return fixture_teardown(state);
}

static void
start(struct robust *f, const char *conf)
{
	static const char *const never[] = { "--hugepages", "never", NULL };

	assert_int_equal(fixture_start(&f->fx, conf, never), 0);
}

/* A libshmclient connection the teardown closes. */
static struct shmc *
conn(struct robust *f, bool admin, const char *label)
{
	return fixture_connect(&f->fx, admin ? f->fx.d.admin_socket :
	    f->fx.d.socket, label);
}

/* ---- raw requests ---- */

/* A raw connection the teardown closes. */
static int
raw_open(struct robust *f, const char *path)
{
	return fixture_raw(&f->fx, path);
}

/*
 * The reply with id on s, read before deadline (CLOCK_MONOTONIC ms);
 * events and other replies on the way are dropped. *fd (when not NULL)
 * gets the reply's first fd or -1; other fds are closed.
 */
static Shmbroker__ServerMessage *
raw_reply_by(int s, uint64_t id, int *fd, int64_t deadline)
{
	Shmbroker__ServerMessage *m;
	struct wire_fds fds;

	for (;;) {
		m = check_recv(s, deadline, &fds);
		if (m->id == id) {
			if (fd != NULL) {
				*fd = fds.n > 0 ? fds.fd[0] : -1;
				for (size_t i = 1; i < fds.n; i++)
					close(fds.fd[i]);
			} else {
				wire_fds_close(&fds);
			}
			return m;
		}
		wire_fds_close(&fds);
		shmbroker__server_message__free_unpacked(m, NULL);
	}
}

static Shmbroker__ServerMessage *
raw_reply(int s, uint64_t id, int *fd)
{
	return raw_reply_by(s, id, fd, harness_now_ms() + REPLY_WAIT_MS);
}

/* A reply with no error, freed. */
static void
raw_expect_ok(int s, uint64_t id, const char *what)
{
	Shmbroker__ServerMessage *m = raw_reply(s, id, NULL);

	if (m->error != SHMBROKER__ERROR__ERR_NONE)
		fail_msg("%s: %s", what, m->message);
	shmbroker__server_message__free_unpacked(m, NULL);
}

/* A find (attach without create) of name. */
static void
send_find(int s, uint64_t id, const char *name)
{
	check_send_attach(s, id, name, strlen(name) + 1, 0, false);
}

static void
send_detach(int s, uint64_t id, uint64_t client_id)
{
	check_send_client_op(s, id, SHMBROKER__CLIENT_MESSAGE__BODY_DETACH,
	    client_id);
}

/*
 * The reply to a find that must succeed: returns the region's memfd,
 * checked to be a region of pages pages (the memfd's own size, not just
 * what the reply says); *client_id gets the new client.
 */
static int
find_reply(int s, uint64_t id, uint32_t pages, uint64_t *client_id)
{
	Shmbroker__ServerMessage *m;
	struct stat st;
	int fd;

	m = raw_reply(s, id, &fd);
	assert_int_equal(m->error, SHMBROKER__ERROR__ERR_NONE);
	assert_int_equal(m->body_case, SHMBROKER__SERVER_MESSAGE__BODY_ATTACH);
	if (m->attach->status != SHMBROKER__GUEST_STATUS__GSS_OK)
		fail_msg("find: status %d: %s", m->attach->status, m->message);
	assert_true(fd >= 0);
	assert_int_equal(m->attach->size_pages, pages);
	assert_int_equal(m->attach->backing_bytes, (uint64_t)pages * PAGE);
	*client_id = m->attach->client_id;
	shmbroker__server_message__free_unpacked(m, NULL);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, (off_t)pages * PAGE);
	return fd;
}

/* Creates name and writes its name into its first page, through a find. */
static void
create_marked(int s, uint64_t *id, const char *name, uint32_t pages)
{
	uint64_t cid;
	char *p;
	int fd;

	check_send_admin_create(s, *id, name, pages);
	raw_expect_ok(s, (*id)++, name);
	send_find(s, *id, name);
	fd = find_reply(s, (*id)++, pages, &cid);
	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_ptr_not_equal(p, MAP_FAILED);
	snprintf(p, 64, "region %s", name);
	munmap(p, PAGE);
	close(fd);
	send_detach(s, *id, cid);
	raw_expect_ok(s, (*id)++, "detach");
}

/* The marker create_marked wrote into fd's region. */
static void
assert_marker(int fd, const char *name)
{
	char want[64], *p;

	snprintf(want, sizeof(want), "region %s", name);
	p = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);
	assert_ptr_not_equal(p, MAP_FAILED);
	if (strncmp(p, want, sizeof(want)) != 0)
		fail_msg("find of %s got the memfd of '%.40s'", name, p);
	munmap(p, PAGE);
}

/* ---- the daemon's keeper and statistics ---- */

/* The daemon's fdstash keeper, which must be its only one. */
static pid_t
keeper_of(pid_t daemon)
{
	pid_t kid;

	assert_int_equal(harness_wait_children(daemon, HARNESS_KEEPER_ARG, &kid,
	    1, 1, 5000), 1);
	return kid;
}

/* The state letter of /proc/PID/stat. */
static char
proc_state(pid_t pid)
{
	char path[64], buf[512], *q;
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return '?';
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	q = strrchr(buf, ')');
	return q != NULL && q[1] == ' ' ? q[2] : '?';
}

static uint32_t
admin_connections(struct shmc *adm)
{
	Shmbroker__ServerMessage *m = check_admin_ok(adm,
	    SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_STATUS);
	uint32_t n = m->admin_status->connections;

	shmbroker__server_message__free_unpacked(m, NULL);
	return n;
}

/* ---- 1. keeper slots reused under a pipelined find ---- */

/*
 * With one local region memfd, each round parks the older of two regions.
 * Destroying the parked one frees its keeper slot; the create that follows
 * parks the other region into that same slot, and a find of it is
 * pipelined right behind, before the keeper can have handled the DROP and
 * KEEP for that slot. The find must still get the region's own memfd.
 */
static void
test_parked_slot_reuse(void **state)
{
	struct robust *f = *state;
	char x[32], y[32], z[32];
	uint64_t id = 1, cid;
	int s, fd;

	start(f, "[broker]\ntenancy = open\nlocal_region_fds = 1\n");
	s = raw_open(f, f->fx.d.admin_socket);
	create_marked(s, &id, "X0", 1);
	create_marked(s, &id, "Y0", 2);		/* parks X0 */
	for (int i = 0; i < SLOT_ROUNDS; i++) {
		uint64_t d = id++, c = id++, q = id++;

		snprintf(x, sizeof(x), "X%d", i);	/* parked, 1 page */
		snprintf(y, sizeof(y), "Y%d", i);	/* local, 2 pages */
		snprintf(z, sizeof(z), "Z%d", i);	/* new, 3 pages */
		check_send_admin_destroy(s, d, x, true);
		check_send_admin_create(s, c, z, 3);		/* parks y */
		send_find(s, q, y);
		raw_expect_ok(s, d, "destroy");
		raw_expect_ok(s, c, "create");
		fd = find_reply(s, q, 2, &cid);
		assert_marker(fd, y);
		close(fd);
		send_detach(s, id, cid);
		raw_expect_ok(s, id++, "detach");
		check_send_admin_destroy(s, id, y, true);
		raw_expect_ok(s, id++, "destroy");
		check_send_admin_destroy(s, id, z, true);
		raw_expect_ok(s, id++, "destroy");
		snprintf(x, sizeof(x), "X%d", i + 1);
		snprintf(y, sizeof(y), "Y%d", i + 1);
		create_marked(s, &id, x, 1);
		create_marked(s, &id, y, 2);	/* parks x */
	}
}

/* ---- 2. a stopped keeper ---- */

static void
test_keeper_stall(void **state)
{
	struct robust *f = *state;
	struct shmc *adm, *o;
	struct shmc_region r;
	Shmbroker__ServerMessage *m;
	struct stat st;
	uint64_t cid;
	int64_t t0, t;
	pid_t keeper;
	int v, fd, rc;

	start(f, "[broker]\ntenancy = open\nlocal_region_fds = 1\n");
	adm = conn(f, true, "robustness admin");
	o = conn(f, false, "robustness other");
	shmc_set_timeout(adm, PROMPT_MS);
	shmc_set_timeout(o, PROMPT_MS);
	v = raw_open(f, f->fx.d.socket);
	assert_int_equal(check_admin_create(adm, "P1", 1), 0);
	assert_int_equal(check_admin_create(adm, "P2", 2), 0); /* parks P1 */
	/* A find of P1 works, so the keeper has taken it. */
	assert_int_equal(shmc_attach(o, "P1", 0, false, &r), SHMC_GSS_OK);
	assert_int_equal(r.size_pages, 1);
	close(r.fd);
	assert_int_equal(shmc_detach(o, r.client_id), 0);

	keeper = keeper_of(f->fx.d.pid);
	assert_int_equal(kill(keeper, SIGSTOP), 0);
	f->stopped = keeper;
	for (t = harness_now_ms(); proc_state(keeper) != 'T'; ) {
		assert_true(harness_now_ms() - t < REPLY_WAIT_MS);
		harness_sleep_ms(5);
	}
	/* Parks P2 with a keeper that cannot take it. */
	t0 = harness_now_ms();
	assert_int_equal(check_admin_create(adm, "P3", 3), 0);
	assert_true(harness_now_ms() - t0 < PROMPT_MS);

	/* A find of P2 on v; while it is pending, o and adm are served. */
	t0 = harness_now_ms();
	send_find(v, 1, "P2");
	assert_int_equal(shmc_attach(o, "P3", 0, false, &r), SHMC_GSS_OK);
	assert_true(harness_now_ms() - t0 < PROMPT_MS);
	assert_int_equal(r.size_pages, 3);
	assert_int_equal(fstat(r.fd, &st), 0);
	assert_int_equal(st.st_size, 3 * PAGE);
	close(r.fd);
	assert_int_equal(shmc_detach(o, r.client_id), 0);
	assert_true(admin_connections(adm) >= 3);
	assert_true(harness_now_ms() - t0 < PROMPT_MS);

	/* The find itself is answered in time too: with a failure, or (a
	 * daemon that still holds P2's memfd) with P2's own memfd. */
	m = raw_reply_by(v, 1, &fd, t0 + PROMPT_MS);
	assert_int_equal(m->body_case, SHMBROKER__SERVER_MESSAGE__BODY_ATTACH);
	if (m->attach->status == SHMBROKER__GUEST_STATUS__GSS_OK) {
		fprintf(stderr, "note: the find of P2 succeeded with the "
		    "keeper stopped\n");
		assert_true(fd >= 0);
		assert_int_equal(fstat(fd, &st), 0);
		assert_int_equal(st.st_size, 2 * PAGE);
		send_detach(v, 2, m->attach->client_id);
		raw_expect_ok(v, 2, "detach");
	} else {
		assert_int_equal(fd, -1);
	}
	if (fd >= 0)
		close(fd);
	shmbroker__server_message__free_unpacked(m, NULL);

	/*
	 * Once the keeper runs again the daemon goes on parking and finding:
	 * P4 parks P3, which is found with its own memfd, and P2, parked with
	 * the keeper while it was stopped, is found again: a slow keeper
	 * costs a request, never the regions it holds.
	 */
	assert_int_equal(kill(keeper, SIGCONT), 0);
	f->stopped = 0;
	shmc_set_timeout(o, REPLY_WAIT_MS);
	assert_int_equal(check_admin_create(adm, "P4", 4), 0);
	send_find(v, 3, "P3");
	fd = find_reply(v, 3, 3, &cid);
	close(fd);
	send_detach(v, 4, cid);
	raw_expect_ok(v, 4, "detach");
	rc = shmc_attach(o, "P2", 0, false, &r);
	assert_int_equal(rc, SHMC_GSS_OK);
	assert_int_equal(fstat(r.fd, &st), 0);
	assert_int_equal(st.st_size, 2 * PAGE);
	close(r.fd);
	assert_int_equal(shmc_detach(o, r.client_id), 0);
}

/* ---- 3. a client that does not read its events ---- */

struct seen {
	int peer_events;
	int notifications;
	enum shmc_event_kind last_peer_kind;
	uint32_t last_peer_index;
	uint32_t last_peer_mask;
};

static void
record_event(const struct shmc_event *ev, void *arg)
{
	struct seen *s = arg;

	if (ev->kind == SHMC_EVENT_PEER_ATTACHED ||
	    ev->kind == SHMC_EVENT_PEER_DETACHED) {
		s->peer_events++;
		s->last_peer_kind = ev->kind;
		s->last_peer_index = ev->index;
		s->last_peer_mask = ev->active_mask;
	} else if (ev->kind == SHMC_EVENT_NOTIFICATION) {
		s->notifications++;
	}
}

static void
test_notify_flood_keeps_victim(void **state)
{
	struct robust *f = *state;
	struct shmc *v, *s, *adm;
	struct shmc_region rv, rp, rs;
	uint32_t status, delivered, bit;
	int wrong = 0;

	start(f, "[broker]\ntenancy = open\n");
	v = conn(f, false, "victim");
	s = conn(f, false, "sender");
	adm = conn(f, true, "robustness admin");
	assert_int_equal(shmc_attach(v, "R", 1, true, &rv), SHMC_GSS_OK);
	assert_int_equal(shmc_attach(v, "P", 1, true, &rp), SHMC_GSS_OK);
	assert_int_equal(shmc_attach(s, "R", 1, true, &rs), SHMC_GSS_OK);
	close(rv.fd);
	close(rp.fd);
	close(rs.fd);
	bit = 1u << rv.index;
	/* v reads nothing meanwhile. */
	for (int i = 0; i < FLOOD_NOTIFIES; i++) {
		assert_int_equal(shmc_notify(s, rs.client_id, bit, &delivered),
		    0);
		wrong += delivered != bit;
	}
	assert_int_equal(wrong, 0);

	/* v is still connected, with s's bit pending on R... */
	assert_int_equal(shmc_read_status(v, rv.client_id, &status), 0);
	assert_int_equal(status & 0xffff, 1u << rs.index);
	assert_int_equal(status >> 16, bit | 1u << rs.index);
	/* ...and its other region is untouched. */
	assert_int_equal(shmc_read_status(v, rp.client_id, &status), 0);
	assert_int_equal(status, 1u << rp.index << 16);
	assert_int_equal(shmc_notify(v, rp.client_id, 0xffffffffu,
	    &delivered), 0);
	assert_int_equal(delivered, 0);
	assert_int_equal(shmc_detach(v, rp.client_id), 0);
	assert_int_equal(CHECK_STAT(adm, events_dropped_connections), 0);
}

static void
test_churn_keeps_victim(void **state)
{
	struct robust *f = *state;
	struct shmc *v, *s, *adm;
	struct shmc_region rv, rs;
	struct seen seen = { 0 };
	uint32_t status;
	int n;

	start(f, "[broker]\ntenancy = open\n");
	v = conn(f, false, "victim");
	s = conn(f, false, "churner");
	adm = conn(f, true, "robustness admin");
	assert_int_equal(shmc_attach(v, "R", 1, true, &rv), SHMC_GSS_OK);
	close(rv.fd);
	for (int i = 0; i < CHURN_ROUNDS; i++) {
		assert_int_equal(shmc_attach(s, "R", 1, true, &rs),
		    SHMC_GSS_OK);
		close(rs.fd);
		assert_int_equal(shmc_detach(s, rs.client_id), 0);
	}
	/* The reply comes after every event the churn caused, which the
	 * library keeps for dispatch. */
	assert_int_equal(shmc_read_status(v, rv.client_id, &status), 0);
	assert_int_equal(status, 1u << rv.index << 16);
	while ((n = shmc_dispatch(v, record_event, &seen)) > 0)
		;
	assert_int_equal(n, 0);
	assert_true(seen.peer_events >= 1);
	assert_int_equal(seen.last_peer_kind, SHMC_EVENT_PEER_DETACHED);
	assert_int_equal(seen.last_peer_index, rs.index);
	assert_int_equal(seen.last_peer_mask, 1u << rv.index);
	assert_int_equal(CHECK_STAT(adm, events_dropped_connections), 0);
}

/*
 * What a slow reader learns, in the order it reads it, must end with the
 * truth. Events that wait in the daemon's queue may be merged, but not
 * moved ahead of a reply that was queued after them, and an fd an event
 * carries (a peer's eventfd) must not be lost: a peer that attaches after
 * the client's ReadStatus must reach it after that reply, with its
 * eventfd, or the client cannot notify it; likewise the last active mask
 * it hears of must be the current one. (Notifications are no events any
 * more: they come on the eventfd.)
 */

struct heard {
	int joins_after_rs1;		/* PeerChanged(attached) with 1 fd */
	int joins_without_fd;		/* ...without: a lost eventfd */
	bool rs1_seen;
	uint32_t last_mask;		/* the last active mask heard of */
};

/* Reads v until the reply with id, noting what it hears on the way. */
static void
hear_until(int v, uint64_t id, uint64_t rs1, struct heard *h)
{
	int64_t deadline = harness_now_ms() + REPLY_WAIT_MS;
	Shmbroker__ServerMessage *m;
	struct wire_fds fds;
	bool done = false;

	while (!done) {
		m = check_recv(v, deadline, &fds);
		if (m->body_case ==
		    SHMBROKER__SERVER_MESSAGE__BODY_PEER_CHANGED) {
			h->last_mask = m->peer_changed->active_mask;
			if (m->peer_changed->attached && fds.n != 1)
				h->joins_without_fd++;
			if (!m->peer_changed->attached && fds.n != 0)
				h->joins_without_fd++;
			if (m->peer_changed->attached && h->rs1_seen)
				h->joins_after_rs1++;
		} else if (m->body_case ==
		    SHMBROKER__SERVER_MESSAGE__BODY_READ_STATUS &&
		    m->id == rs1) {
			h->rs1_seen = true;
			h->last_mask = m->read_status->status >> 16;
		}
		wire_fds_close(&fds);
		done = m->id == id;
		shmbroker__server_message__free_unpacked(m, NULL);
	}
}

static void
test_queued_events_keep_order(void **state)
{
	struct robust *f = *state;
	struct shmc *s, *t;
	struct shmc_region rs, rt;
	struct heard h = { 0 };
	uint32_t vbit;
	uint64_t vcid;
	int v, fd, base;

	start(f, "[broker]\ntenancy = open\n");
	v = raw_open(f, f->fx.d.socket);
	s = conn(f, false, "sender");
	t = conn(f, false, "joiner");
	assert_int_equal(shmc_attach(s, "R", 1, true, &rs), SHMC_GSS_OK);
	close(rs.fd);
	send_find(v, 2, "R");
	fd = find_reply(v, 2, 1, &vcid);
	close(fd);
	vbit = 1u << 1;		/* v came second */
	assert_int_equal(1u << rs.index, 1u);
	base = harness_count_fds(f->fx.d.pid);

	/* Fill v's socket with t's comings and goings, so that what follows
	 * waits in the daemon: each attach carries t's eventfd. */
	for (int i = 0; i < ORDER_FLOOD; i++) {
		assert_int_equal(shmc_attach(t, "R", 1, true, &rt),
		    SHMC_GSS_OK);
		close(rt.fd);
		assert_int_equal(shmc_detach(t, rt.client_id), 0);
	}
	/* The queue cancels an attach against its detach: the eventfds of
	 * t's past clients do not pile up in the daemon. */
	assert_true(harness_count_fds(f->fx.d.pid) <= base + 2);
	check_send_client_op(v, 3, SHMBROKER__CLIENT_MESSAGE__BODY_READ_STATUS,
	    vcid);
	/* A round trip on s after v's request was sent (the ReadStatus
	 * request: shmc_read_status no longer calls the daemon): the daemon
	 * has served both by the time it returns. */
	check_round_trip(s, rs.client_id);
	assert_int_equal(shmc_attach(t, "R", 1, true, &rt), SHMC_GSS_OK);
	close(rt.fd);
	check_send_client_op(v, 4, SHMBROKER__CLIENT_MESSAGE__BODY_READ_STATUS,
	    vcid);

	hear_until(v, 4, 3, &h);
	assert_true(h.rs1_seen);
	assert_int_equal(h.joins_without_fd, 0);
	if (h.joins_after_rs1 == 0)
		fail_msg("the attach that followed the client's ReadStatus "
		    "reached it before that ReadStatus's reply");
	assert_int_equal(h.last_mask, vbit | 1u << rs.index | 1u << rt.index);
}

/* ---- 4. clients that never read their replies ---- */

/* Sends as many of the remaining requests as s takes now; -1 once the
 * daemon has closed it. */
static int
send_while_taken(int s, int *sent)
{
	Shmbroker__ClientMessage m = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__ReadStatus rs = SHMBROKER__READ_STATUS__INIT;
	int before = *sent, rc;

	rs.client_id = 12345;	/* not attached: an error reply */
	m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_READ_STATUS;
	m.read_status = &rs;
	while (*sent < SILENT_REQUESTS) {
		m.id = (uint64_t)*sent + 1;
		rc = wire_send_client(s, &m, NULL, 0);
		if (rc == -EAGAIN || rc == -ENOBUFS)
			break;
		if (rc < 0)
			return -1;
		(*sent)++;
	}
	return *sent - before;
}

static void
test_silent_clients_bounded(void **state)
{
	struct robust *f = *state;
	static int sent[SILENT_CONNS];
	static bool closed[SILENT_CONNS];
	int socks[SILENT_CONNS], base_fds, idle = 0, ndropped = 0;
	long base_rss, peak_rss, total = 0;
	char status_path[64];
	struct shmc *fresh;
	struct shmc_region r;
	int64_t t0, give_up;
	int sz = 4 << 20;

	start(f, "[broker]\ntenancy = open\n");
	base_fds = harness_settled_fd_count(f->fx.d.pid);
	base_rss = harness_rss_kib(f->fx.d.pid);
	assert_true(base_rss > 0);
	for (int c = 0; c < SILENT_CONNS; c++) {
		socks[c] = raw_open(f, f->fx.d.socket);
		assert_int_equal(fcntl(socks[c], F_SETFL, O_NONBLOCK), 0);
		setsockopt(socks[c], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		sent[c] = 0;
		closed[c] = false;
	}
	/* Round robin until every request went out or, for a second, the
	 * daemon took no more (it may stop reading a client that does not
	 * read: that is its right). */
	give_up = harness_now_ms() + 120000;
	while (idle < 20 && harness_now_ms() < give_up) {
		long progress = 0;
		bool all = true;

		for (int c = 0; c < SILENT_CONNS; c++) {
			int n;

			if (closed[c] || sent[c] == SILENT_REQUESTS)
				continue;
			all = false;
			if ((n = send_while_taken(socks[c], &sent[c])) < 0) {
				closed[c] = true;
				ndropped++;
			} else {
				progress += n;
			}
		}
		total += progress;
		if (all)
			break;
		idle = progress > 0 ? 0 : idle + 1;
		if (progress == 0)
			harness_sleep_ms(50);
	}
	/* Let the daemon work through what its sockets still hold. */
	harness_sleep_ms(1000);
	snprintf(status_path, sizeof(status_path), "/proc/%d/status",
	    (int)f->fx.d.pid);
	peak_rss = harness_proc_value(status_path, "VmHWM");
	assert_true(peak_rss > 0);
	fprintf(stderr, "note: %ld requests sent on %d connections (%d "
	    "closed by the daemon); daemon RSS %ld KiB, peak %ld KiB\n",
	    total, SILENT_CONNS, ndropped, base_rss, peak_rss);
	if (peak_rss - base_rss >= SILENT_RSS_KIB)
		fail_msg("the daemon grew by %ld KiB holding replies nobody "
		    "reads", peak_rss - base_rss);

	/* A newcomer is served promptly all the same. */
	t0 = harness_now_ms();
	fresh = conn(f, false, "fresh");
	assert_int_equal(shmc_attach(fresh, "fresh", 1, true, &r),
	    SHMC_GSS_OK);
	close(r.fd);
	assert_true(harness_now_ms() - t0 < PROMPT_MS);
	fixture_close(&f->fx, fresh);
	for (int c = 0; c < SILENT_CONNS; c++)
		fixture_raw_close(&f->fx, socks[c]);
	assert_int_equal(harness_wait_fd_count(f->fx.d.pid, base_fds, 10000),
	    base_fds);
}

/* ---- 5. connections no tenant takes ---- */

/*
 * The child: as nobody, opens REFUSED_CONNS connections one after the
 * other, sends nothing, and waits for the daemon to close each; all stay
 * open on this side. Writes the number that were closed in time, then
 * waits to be killed.
 */
static void __attribute__((noreturn))
refused_child(int fd, const char *path, pid_t parent)
{
	int n = 0, s;

	if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
		_exit(121);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(122);
	for (; n < REFUSED_CONNS; n++) {
		if ((s = harness_connect_raw(path)) < 0 || !check_sees_eof(s, PROMPT_MS))
			break;
	}
	if (write(fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		_exit(123);
	pause();
	_exit(0);
}

static void
test_refused_connection_closed(void **state)
{
	struct robust *f = *state;
	struct pollfd p;
	char conf[256];
	struct shmc *adm;
	pid_t parent = getpid();
	int pfd[2], n = -1;

	if (geteuid() != 0) {
		fprintf(stderr, "skipped: needs root to connect as another "
		    "user\n");
		skip();
	}
	snprintf(conf, sizeof(conf), "[broker]\nmax_connections = %d\n"
	    "[tenant other]\nuid = 2001\n", REFUSED_MAX_CONNECTIONS);
	start(f, conf);
	/* nobody must reach the VMM socket in the 0700 directory. */
	assert_int_equal(chmod(f->fx.d.dir, 0755), 0);
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	f->child = fork();
	assert_true(f->child >= 0);
	if (f->child == 0) {
		close(pfd[0]);
		refused_child(pfd[1], f->fx.d.socket, parent);
	}
	close(pfd[1]);
	f->child_fd = pfd[0];
	p.fd = pfd[0];
	p.events = POLLIN;
	assert_int_equal(poll(&p, 1, (REFUSED_CONNS + 2) * PROMPT_MS), 1);
	assert_int_equal(read(pfd[0], &n, sizeof(n)), sizeof(n));
	if (n != REFUSED_CONNS)
		fail_msg("refused connection %d was not closed by the daemon "
		    "within %d ms", n + 1, PROMPT_MS);
	/* With all of them still open on the client's side, none holds a
	 * slot: an admin gets in, and it and the fixture's are the only
	 * connections. */
	adm = conn(f, true, "robustness admin");
	assert_int_equal(admin_connections(adm), 2);
}

/*
 * Sends a hello carrying a lingering socket on a raw connection to path,
 * letting go of the sender's copy, so that the daemon's would be the
 * last: true when the kernel refused to pass it (SO_PASSRIGHTS off).
 */
static bool
send_lingering(struct robust *f, const char *path, int *sink, bool twice)
{
	int s = raw_open(f, path), fd = check_lingering_socket(sink);
	Shmbroker__ClientMessage m = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__Hello h = SHMBROKER__HELLO__INIT;
	uint8_t buf[64];
	size_t len;
	int rc;

	h.version = WIRE_PROTOCOL_VERSION;
	m.id = 77;
	m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_HELLO;
	m.hello = &h;
	len = protobuf_c_message_pack(&m.base, buf);
	/* Stopped until this copy is closed, so that the daemon's is the
	 * last, as an attacker arranges by closing at once. */
	assert_int_equal(kill(f->fx.d.pid, SIGSTOP), 0);
	/* twice: a first request without it, which ends the connection of
	 * a peer no tenant takes, so that the daemon closes the socket with
	 * the fd still queued in it. */
	if (twice)
		assert_int_equal(wire_send(s, buf, len, NULL, 0), 0);
	rc = wire_send(s, buf, len, &fd, 1);
	if (rc == -EPERM)	/* this close would be the last */
		check_unlinger(fd);
	close(fd);
	assert_int_equal(kill(f->fx.d.pid, SIGCONT), 0);
	if (rc == -EPERM)
		return true;
	assert_int_equal(rc, 0);
	return false;
}

/*
 * A file's last close runs whatever its owner arranged: a TCP socket with
 * SO_LINGER and unsent data waits out the linger time (an hour here), a
 * FUSE file waits for its server. Requests carry no fds, and the daemon
 * closed those that came in its event loop, so any tenant could stop it
 * for everyone with one datagram (a reviewer's find). Now the kernel
 * refuses them where it can (SO_PASSRIGHTS, Linux 6.16), and the daemon
 * has them closed by its reaper process everywhere; the second test runs
 * it as on a kernel without SO_PASSRIGHTS.
 */
static void
check_lingering_fd_no_stall(struct robust *f, bool old_kernel)
{
	struct shmc *other;
	int sink[2] = { -1, -1 };
	int64_t t0;
	bool refused;

	if (old_kernel)
		setenv("SHMBROKER_TEST_NO_PASSRIGHTS", "1", 1);
	/* root is no tenant's: its raw connections are refused. */
	start(f, "[broker]\n[tenant other]\nuid = 2001\n");
	unsetenv("SHMBROKER_TEST_NO_PASSRIGHTS");
	refused = send_lingering(f, f->fx.d.admin_socket, &sink[0], false);
	if (old_kernel)
		assert_false(refused);
	print_message("the kernel %s the fd\n", refused ? "refused" :
	    "passed");
	assert_int_equal(send_lingering(f, f->fx.d.socket, &sink[1], true),
	    refused);
	/* The daemon read the first (its error reply says so), closed the
	 * second's connection, and serves on. */
	t0 = harness_now_ms();
	other = conn(f, true, "after the lingering fds");
	assert_int_equal(check_admin_create(other, "linger", 1), 0);
	if (harness_now_ms() - t0 > PROMPT_MS)
		fail_msg("the next request took %lld ms",
		    (long long)(harness_now_ms() - t0));
	close(sink[0]);
	close(sink[1]);
}

static void
test_lingering_fd(void **state)
{
	check_lingering_fd_no_stall(*state, false);
}

static void
test_lingering_fd_old_kernel(void **state)
{
	check_lingering_fd_no_stall(*state, true);
}

#define ROBUST_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		ROBUST_TEST(test_parked_slot_reuse),
		ROBUST_TEST(test_keeper_stall),
		ROBUST_TEST(test_notify_flood_keeps_victim),
		ROBUST_TEST(test_churn_keeps_victim),
		ROBUST_TEST(test_queued_events_keep_order),
		ROBUST_TEST(test_silent_clients_bounded),
		ROBUST_TEST(test_refused_connection_closed),
		ROBUST_TEST(test_lingering_fd),
		ROBUST_TEST(test_lingering_fd_old_kernel),
	};

	setenv("SHMBROKER_KEEP_LOGS", "1", 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
