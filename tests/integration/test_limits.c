/* SPDX-License-Identifier: ISC */
/*
 * test_limits: every resource a peer can make shmbrokerd grow is bounded
 * (docs/DESIGN.md, "Limits"), and hitting a bound is seen three ways:
 * the peer gets a clear refusal or is let go with a log line that names
 * the limit, the daemon's counter for it moves (AdminStats, which
 * `shmctl stats` and `metrics` print), and the daemon serves everyone
 * else all the same. Requests that pipeline without reading their
 * replies, a watcher that never reads, events merged in a queue that
 * never drains, a VMM connection that attaches without end, connections
 * past max_connections, regions and clients past a tenant's and the
 * daemon's limits, state pages the daemon would keep mapped (one for each
 * region a peer notifies in, or whose file it made refuse a write), and
 * an ivshmem peer that never reads and a 17th that comes; and a tenant's
 * max_connections counting a closed connection whose peer holds fds
 * unread, and QEMUs gone with fds unread held to it and to the daemon's
 * as connections are, and refused beside a thousand of them at the cost
 * of any other refusal. Datagram size and fds per message
 * are test_badinput's. Each test runs its own daemon from this process,
 * over raw sockets where the peer is hostile and libshmclient where it
 * is not.
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
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>


#include <cmocka.h>

#include "fixture.h"
#include "testcheck.h"
#include "shmbroker.pb-c.h"
#include "shmclient.h"
#include "shmclient_admin.h"
#include "wire.h"

#define OPEN "[broker]\ntenancy = open\n"
#define REPLY_WAIT_MS 5000
#define SETTLE_WAIT_MS 20000
#define PIPELINE_MAX 20000	/* requests a pipelining peer tries */
#define CHURN_MAX 5000		/* attach-detach rounds a watcher misses */
#define IVS_GRACE_WAIT_MS 15000	/* the daemon's 5 s, with room */
#define PEER_UID 2001		/* the hostile peer of test_fds_in_flight */
#define DAEMON_UID 2002		/* the daemon's own user, as under its unit */
#define NOFILE 1024		/* and the daemon's descriptor limit there */
#define PEER_CONNS 16		/* its connections */
#define READER_ROUNDS 500	/* test_fds_reader_never_waits' attaches */
#define SHARE_UID0 2010		/* test_fds_share_waiter_holds_no_other_uid's */
#define SHARE_HOGS 5		/* root and four uids from SHARE_UID0 + 1 */
#define SHARE_ROUNDS 10		/* the other uid's attaches it times */

/* The fixture, and test_fds_in_flight's peer. */
/* The daemon as its unit runs it: its own user, no CAP_SYS_RESOURCE, a
 * low descriptor limit, so that the kernel caps its fds in flight, and
 * counts only the daemon's (as root, a test running beside this one
 * made its sends fail: a reply waited a second, CATCH_UP_MS missed). */
static const struct harness_restart unit_like = { .nofile = NOFILE,
    .no_caps = true, .uid = DAEMON_UID };

#define HOGS_MAX 16	/* QEMU processes a test keeps (qemu_peers_run) */

struct limits {
	struct fixture fx;	/* first: fixture_teardown frees it whole */
	pid_t peer;		/* a hostile peer process, or 0 */
	pid_t hogs[HOGS_MAX];	/* QEMU processes holding their sockets */
	int nhogs;
};

/* ---- the daemon ---- */

/* The QEMU processes of qemu_peers_run go, and their sockets with them. */
static void
hogs_kill(struct limits *l)
{
	while (l->nhogs > 0) {
		pid_t pid = l->hogs[--l->nhogs];

		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

static int
setup(void **state)
{
	return fixture_new(state, sizeof(struct limits)) != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	struct limits *l = *state;

	if (l == NULL)
		return 0;
	if (l->peer > 0) {
		kill(l->peer, SIGKILL);
		waitpid(l->peer, NULL, 0);
	}
	hogs_kill(l);
	return fixture_teardown(state);
}

static void
start(struct fixture *f, const char *conf)
{
	static const char *const never[] = { "--hugepages", "never", NULL };

	assert_int_equal(fixture_start(f, conf, never), 0);
	f->baseline_fds = harness_settled_fd_count(f->d.pid);
}

#define STAT(f, field) CHECK_STAT((f)->adm, field)

/* A newcomer is served: a connection of its own creates a region, which
 * goes again with it. */
static void
serves_others(struct fixture *f)
{
	struct shmc *c = fixture_connect(f, f->d.socket, "newcomer");
	struct shmc_region r;

	assert_int_equal(shmc_attach(c, "newcomer", 1, true, &r), SHMC_GSS_OK);
	assert_true(r.created);
	close(r.fd);
	fixture_close(f, c);
}

/* ---- raw requests ---- */

/* The next reply on s, whatever it says. */
static void
drop_reply(int s)
{
	shmbroker__server_message__free_unpacked(check_recv_reply(s, NULL),
	    NULL);
}

/* The daemon holds the descriptors it held when the test began. */
static void
expect_baseline(struct fixture *f)
{
	assert_int_equal(harness_wait_fd_count(f->d.pid, f->baseline_fds,
	    SETTLE_WAIT_MS), f->baseline_fds);
}

/* Attach (create: a create, else a find) of name on raw socket s: the
 * guest status, the daemon's reason in why, the client's id in *cid. */
static int
raw_attach(struct fixture *f, int s, const char *name, bool create,
    uint64_t *cid, char *why, size_t whylen)
{
	uint64_t id = f->next_id++;
	Shmbroker__ServerMessage *m;
	int st;

	check_send_attach(s, id, name, strlen(name) + 1, 1, create);
	m = check_recv_reply(s, NULL);
	assert_int_equal(m->id, id);
	assert_int_equal(m->body_case, SHMBROKER__SERVER_MESSAGE__BODY_ATTACH);
	st = m->attach->status;
	if (cid != NULL)
		*cid = m->attach->client_id;
	snprintf(why, whylen, "%s", m->message != NULL ? m->message : "");
	shmbroker__server_message__free_unpacked(m, NULL);
	return st;
}

/* ---- requests in flight ---- */

/*
 * A peer that pipelines requests and reads no reply: once its unread
 * replies pile up the daemon stops reading its requests, which wait in
 * the peer's own socket (and then the peer's sends block), so the daemon
 * holds at most a few dozen replies for it. Nothing is lost: once it
 * reads, every request is answered, in order.
 */
static void
test_requests_in_flight(void **state)
{
	struct fixture *f = *state;
	int64_t idle_since;
	int s, sent = 0;

	start(f, OPEN);
	s = fixture_raw(f, f->d.socket);
	assert_int_equal(fcntl(s, F_SETFL, O_NONBLOCK), 0);
	idle_since = harness_now_ms();
	while (sent < PIPELINE_MAX && harness_now_ms() - idle_since < 500) {
		Shmbroker__ClientMessage m = SHMBROKER__CLIENT_MESSAGE__INIT;
		Shmbroker__Hello h = SHMBROKER__HELLO__INIT;
		int rc;

		h.version = WIRE_PROTOCOL_VERSION;
		m.id = (uint64_t)sent + 1;
		m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_HELLO;
		m.hello = &h;
		rc = wire_send_client(s, &m, NULL, 0);
		if (rc == -EAGAIN || rc == -ENOBUFS) {
			harness_sleep_ms(10);
			continue;
		}
		assert_int_equal(rc, 0);
		sent++;
		idle_since = harness_now_ms();
	}
	print_message("%d requests went out before the socket stopped "
	    "taking them\n", sent);
	if (sent == PIPELINE_MAX)
		fail_msg("the daemon took %d pipelined requests without their "
		    "replies being read", sent);
	assert_true(STAT(f, reads_paused) >= 1);
	assert_int_equal(STAT(f, events_dropped_connections), 0);
	serves_others(f);

	assert_int_equal(fcntl(s, F_SETFL, 0), 0);
	for (int i = 1; i <= sent; i++) {
		Shmbroker__ServerMessage *m = check_recv_reply(s, NULL);

		if (m->id != (uint64_t)i)
			fail_msg("reply %d is to request %llu", i,
			    (unsigned long long)m->id);
		assert_int_equal(m->body_case,
		    SHMBROKER__SERVER_MESSAGE__BODY_HELLO);
		shmbroker__server_message__free_unpacked(m, NULL);
	}
	check_send_hello(s, 999999, WIRE_PROTOCOL_VERSION, "limits");
	{
		Shmbroker__ServerMessage *m = check_recv_reply(s, NULL);

		assert_int_equal(m->id, 999999);
		shmbroker__server_message__free_unpacked(m, NULL);
	}
	fixture_raw_close(f, s);
	expect_baseline(f);
}

/* ---- queued events ---- */

/*
 * An admin watching events that never reads them: past
 * max_queued_messages waiting for it, it is dropped with a warning that
 * names the limit, and counted. Whoever made the events goes on.
 */
static void
test_queued_events(void **state)
{
	struct fixture *f = *state;
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminWatch aw = SHMBROKER__ADMIN_WATCH__INIT;
	Shmbroker__ServerMessage *m;
	struct shmc_region r;
	struct shmc *c;
	int w, rounds = 0;

	start(f, OPEN "max_queued_messages = 128\n");
	w = fixture_raw(f, f->d.admin_socket);
	req.id = 1;
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_WATCH;
	req.admin_watch = &aw;
	check_send(w, &req);
	m = check_recv_reply(w, NULL);
	assert_int_equal(m->body_case,
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_WATCH);
	shmbroker__server_message__free_unpacked(m, NULL);

	/* Each round is a create, an attach, a detach and a removal. */
	c = fixture_connect(f, f->d.socket, "churn");
	while (rounds < CHURN_MAX) {
		assert_int_equal(shmc_attach(c, "churn", 1, true, &r),
		    SHMC_GSS_OK);
		close(r.fd);
		assert_int_equal(shmc_detach(c, r.client_id), 0);
		if (++rounds % 100 == 0 &&
		    STAT(f, events_dropped_connections) > 0)
			break;
	}
	print_message("the watcher was dropped after %d rounds\n", rounds);
	assert_int_equal(STAT(f, events_dropped_connections), 1);
	assert_int_equal(fixture_log_lines(f, "dropped:",
	    "max_queued_messages"), 1);
	assert_true(check_sees_eof(w, REPLY_WAIT_MS));
	fixture_raw_close(f, w);
	/* The churning client never noticed. */
	assert_int_equal(shmc_attach(c, "churn", 1, true, &r), SHMC_GSS_OK);
	close(r.fd);
	serves_others(f);
}

/* ---- clients per connection ---- */

/*
 * A VMM connection that attaches again and again stops at
 * max_clients_per_connection, with SHMC_GSS_NOMEM and the reason, and makes
 * no region on the way (a name that is not there, or not valid, is still
 * said to be so); other connections attach the same regions; a
 * detach makes room again.
 */
static void
test_clients_per_connection(void **state)
{
	struct fixture *f = *state;
	uint64_t first = 0, cid;
	char why[256];
	int s, t;

	start(f, OPEN "max_clients_per_connection = 20\n");
	s = fixture_raw(f, f->d.socket);
	for (int i = 0; i < 20; i++) {
		const char *name = i < 16 ? "a" : "b";

		assert_int_equal(raw_attach(f, s, name, true, &cid, why,
		    sizeof(why)), SHMC_GSS_OK);
		if (i == 0)
			first = cid;
	}
	assert_int_equal(raw_attach(f, s, "b", true, NULL, why, sizeof(why)),
	    SHMC_GSS_NOMEM);
	assert_non_null(strstr(why, "max_clients_per_connection"));
	assert_int_equal(raw_attach(f, s, "c", true, NULL, why, sizeof(why)),
	    SHMC_GSS_NOMEM);
	assert_int_equal(check_admin_show(f->adm, "c").error,
	    SHMBROKER__ERROR__ERR_NOT_FOUND);
	/* At the limit a guest still learns what is wrong with its name. */
	assert_int_equal(raw_attach(f, s, "nothere", false, NULL, why,
	    sizeof(why)), SHMC_GSS_DOES_NOT_EXIST);
	assert_int_equal(raw_attach(f, s, "no name", true, NULL, why,
	    sizeof(why)), SHMC_GSS_ILLEGAL_NAME);
	assert_int_equal(STAT(f, refused_max_clients_per_connection), 2);

	/* Another connection is not held back. */
	t = fixture_raw(f, f->d.socket);
	assert_int_equal(raw_attach(f, t, "b", true, NULL, why, sizeof(why)),
	    SHMC_GSS_OK);
	serves_others(f);

	/* A detach makes room. */
	check_send_client_op(s, 77, SHMBROKER__CLIENT_MESSAGE__BODY_DETACH,
	    first);
	drop_reply(s);
	assert_int_equal(raw_attach(f, s, "c", true, NULL, why, sizeof(why)),
	    SHMC_GSS_OK);
	assert_int_equal(STAT(f, refused_max_clients_per_connection), 2);
	fixture_raw_close(f, t);
	fixture_raw_close(f, s);
	expect_baseline(f);
}

/* ---- merged events ---- */

#define MERGE_REGIONS 20	/* test_merged_events_hold_bounded_fds' */
#define MERGE_CLIENTS 14	/* its hog's clients in each (280) */

/* Everything s has been sent so far, read and dropped with its fds. */
static void
drain_raw(int s)
{
	struct pollfd p = { .fd = s, .events = POLLIN };
	char buf[WIRE_MAX_MESSAGE];

	while (poll(&p, 1, 200) > 0 && recv(s, buf, sizeof(buf),
	    MSG_DONTWAIT) > 0)
		;
}

/*
 * Unread events for one client are merged into one, so that peers that
 * come and go do not grow the queue. A peer's detach (no fd) merged into
 * by its next attach (its eventfd) used to take that fd past the queue's
 * bounds unchecked: a connection that never reads, with 280 clients,
 * held 280 fds past its 256 (and all queues' share, which then let go
 * whoever queued next, not it). Now the merge is bounded as a new event
 * is, and the hog goes.
 */
static void
test_merged_events_hold_bounded_fds(void **state)
{
	struct fixture *f = *state;
	uint64_t cid[MERGE_REGIONS];
	char name[16], why[256];
	int hog, peer;

	start(f, OPEN);
	hog = fixture_raw(f, f->d.socket);
	for (int i = 0; i < MERGE_REGIONS; i++) {
		snprintf(name, sizeof(name), "m%d", i);
		for (int j = 0; j < MERGE_CLIENTS; j++) {
			Shmbroker__ServerMessage *m;

			check_send_attach(hog, f->next_id++, name,
			    strlen(name) + 1, 1, true);
			m = check_recv_reply(hog, NULL);
			assert_int_equal(m->attach->status,
			    SHMBROKER__GUEST_STATUS__GSS_OK);
			shmbroker__server_message__free_unpacked(m, NULL);
		}
	}
	drain_raw(hog);		/* and from now on reads nothing */

	/* A peer comes and goes: each hog client's event about it is a
	 * detach, with no fd, waiting unread once the fds in flight and
	 * the socket are full. Then it comes back to stay. */
	peer = fixture_raw(f, f->d.socket);
	for (int i = 0; i < MERGE_REGIONS; i++) {
		snprintf(name, sizeof(name), "m%d", i);
		assert_int_equal(raw_attach(f, peer, name, false, &cid[i],
		    why, sizeof(why)), SHMC_GSS_OK);
		check_send_client_op(peer, f->next_id++,
		    SHMBROKER__CLIENT_MESSAGE__BODY_DETACH, cid[i]);
		drop_reply(peer);
	}
	/* A create: the regions go with the hog once it is let go. */
	for (int i = 0; i < MERGE_REGIONS; i++) {
		snprintf(name, sizeof(name), "m%d", i);
		assert_int_equal(raw_attach(f, peer, name, true, NULL, why,
		    sizeof(why)), SHMC_GSS_OK);
	}
	print_message("connections let go: %llu\n",
	    (unsigned long long)STAT(f, events_dropped_connections));
	assert_true(check_sees_eof(hog, REPLY_WAIT_MS));
	assert_int_equal(STAT(f, events_dropped_connections), 1);
	assert_int_equal(fixture_log_lines(f, "dropped:", "fds wait unread"),
	    1);
	fixture_raw_close(f, hog);
	serves_others(f);
	fixture_raw_close(f, peer);
	expect_baseline(f);
}

/* ---- connections ---- */

/*
 * Past max_connections a connection is told why (ERR_NO_RESOURCES) and
 * closed at once; the ones already in are served, and one that goes
 * makes room.
 */
static void
test_max_connections(void **state)
{
	struct fixture *f = *state;
	Shmbroker__ServerMessage *m;
	int64_t deadline;
	int s[3], over;
	bool in = false;

	/* The fixture's admin connection is the fourth. */
	start(f, OPEN "max_connections = 4\n");
	for (int i = 0; i < 3; i++) {
		s[i] = fixture_raw(f, f->d.socket);
		check_send_hello(s[i], 1, WIRE_PROTOCOL_VERSION, "limits");
		drop_reply(s[i]);
	}
	over = fixture_raw(f, f->d.socket);
	m = check_recv_reply(over, NULL);
	assert_int_equal(m->error, SHMBROKER__ERROR__ERR_NO_RESOURCES);
	assert_non_null(strstr(m->message, "max_connections"));
	shmbroker__server_message__free_unpacked(m, NULL);
	assert_true(check_sees_eof(over, REPLY_WAIT_MS));
	fixture_raw_close(f, over);
	assert_int_equal(STAT(f, refused_max_connections), 1);
	assert_int_equal(fixture_log_lines(f, "refusing a connection",
	    "raise max_connections"), 1);

	/* Those in are served; one that leaves makes room (the daemon
	 * learns of it in its own time). */
	check_send_hello(s[0], 2, WIRE_PROTOCOL_VERSION, "limits");
	drop_reply(s[0]);
	fixture_raw_close(f, s[2]);
	deadline = harness_now_ms() + REPLY_WAIT_MS;
	while (!in && harness_now_ms() < deadline) {
		int t = fixture_raw(f, f->d.socket);

		check_send_hello(t, 3, WIRE_PROTOCOL_VERSION, "limits");
		m = check_recv_reply(t, NULL);
		in = m->error == SHMBROKER__ERROR__ERR_NONE;
		shmbroker__server_message__free_unpacked(m, NULL);
		fixture_raw_close(f, t);
		if (!in)
			harness_sleep_ms(50);
	}
	assert_true(in);
}

/* ---- regions and clients: a tenant's quotas, the daemon's limits ---- */

/*
 * A tenant's max_regions and max_clients, then the daemon's, each
 * refused with SHMC_GSS_NOMEM and the limit's name, counted by the limit, and
 * each with room again once something goes.
 */
static void
test_regions_and_clients(void **state)
{
	struct fixture *f = *state;
	struct shmc *adm_vmm;
	struct shmc_region r;
	uint64_t r1;
	char why[256];
	int s;

	/* Root's VMM connections fall to the default tenant t; the admin
	 * socket is bound by no quota, only by the daemon's limits. */
	start(f, "[broker]\nmax_regions = 3\nmax_clients = 5\n"
	    "default_tenant = t\n[tenant t]\nmax_regions = 2\n"
	    "max_clients = 4\n");
	s = fixture_raw(f, f->d.socket);
	assert_int_equal(raw_attach(f, s, "r1", true, &r1, why, sizeof(why)),
	    SHMC_GSS_OK);
	assert_int_equal(raw_attach(f, s, "r2", true, NULL, why, sizeof(why)),
	    SHMC_GSS_OK);
	assert_int_equal(raw_attach(f, s, "r3", true, NULL, why, sizeof(why)),
	    SHMC_GSS_NOMEM);
	assert_non_null(strstr(why, "max_regions"));
	assert_int_equal(STAT(f, refused_max_regions), 1);
	assert_int_equal(raw_attach(f, s, "r1", true, NULL, why, sizeof(why)),
	    SHMC_GSS_OK);
	assert_int_equal(raw_attach(f, s, "r2", true, NULL, why, sizeof(why)),
	    SHMC_GSS_OK);
	assert_int_equal(raw_attach(f, s, "r2", true, NULL, why, sizeof(why)),
	    SHMC_GSS_NOMEM);
	assert_non_null(strstr(why, "max_clients"));
	assert_int_equal(STAT(f, refused_max_clients), 1);

	/* The daemon's limits hold for the admin socket too. */
	assert_int_equal(check_admin_create(f->adm, "adm1", 1), 0);
	assert_int_equal(check_admin_create(f->adm, "adm2", 1),
	    SHMBROKER__ERROR__ERR_NO_RESOURCES);
	assert_int_equal(STAT(f, refused_max_regions), 2);
	adm_vmm = fixture_connect(f, f->d.admin_socket, "admin vmm");
	assert_int_equal(fixture_attach(f, adm_vmm, "adm1", 1, false, &r),
	    SHMC_GSS_OK);
	assert_int_equal(fixture_attach(f, adm_vmm, "adm1", 1, false, &r),
	    SHMC_GSS_NOMEM);
	assert_int_equal(STAT(f, refused_max_clients), 2);
	assert_int_equal(STAT(f, refused_max_bytes), 0);

	/* A client that goes makes room for one. */
	check_send_client_op(s, 77, SHMBROKER__CLIENT_MESSAGE__BODY_DETACH,
	    r1);
	drop_reply(s);
	assert_int_equal(fixture_attach(f, adm_vmm, "adm1", 1, false, &r),
	    SHMC_GSS_OK);
	assert_int_equal(STAT(f, refused_max_clients), 2);
}

/* ---- the daemon's mappings ---- */

#define MAP_REGIONS 500		/* regions each attack makes */
#define MAP_GROWTH_MAX 50	/* mappings the daemon may gain meanwhile */

/* The daemon's mappings: the lines of its /proc/PID/maps. */
static int
daemon_maps(const struct fixture *f)
{
	char path[64], line[256];
	FILE *fp;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)f->d.pid);
	assert_non_null(fp = fopen(path, "r"));
	/* A line longer than the buffer ends once, at its newline. */
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strchr(line, '\n') != NULL)
			n++;
	fclose(fp);
	return n;
}

/* Request kind (Notify, ReadStatus, Detach) of client cid on s, which
 * must succeed. */
static void
raw_client_op(struct fixture *f, int s,
    Shmbroker__ClientMessage__BodyCase kind, uint64_t cid)
{
	uint64_t id = f->next_id++;
	Shmbroker__ServerMessage *m;

	check_send_client_op(s, id, kind, cid);
	m = check_recv_reply(s, NULL);
	assert_int_equal(m->id, id);
	assert_int_equal(m->error, SHMBROKER__ERROR__ERR_NONE);
	shmbroker__server_message__free_unpacked(m, NULL);
}

/* A create of name on s whose member then sets O_APPEND on the state
 * page's open file, which is the daemon's too: its pwrite to the page
 * fails from then on. */
static void
raw_attach_append(struct fixture *f, int s, const char *name)
{
	Shmbroker__ServerMessage *m;
	struct wire_fds fds;

	check_send_attach(s, f->next_id++, name, strlen(name) + 1, 1, true);
	m = check_recv_reply_fds(s, &fds);
	assert_int_equal(m->attach->status, SHMBROKER__GUEST_STATUS__GSS_OK);
	shmbroker__server_message__free_unpacked(m, NULL);
	/* fds: the region, then the state page. */
	assert_true(fds.n >= 2);
	assert_int_equal(fcntl(fds.fd[1], F_SETFL, O_APPEND), 0);
	wire_fds_close(&fds);
}

/* Mappings the daemon gained since it had before, which must be few. */
static void
expect_few_maps(const struct fixture *f, int before, const char *what)
{
	int after = daemon_maps(f);

	print_message("%s: the daemon's mappings went from %d to %d\n", what,
	    before, after);
	assert_true(after - before < MAP_GROWTH_MAX);
}

/*
 * Notify and ReadStatus change the region's state page with the atomics
 * its members use, through a mapping of the page. The daemon used to keep
 * that mapping for as long as the region had clients, so one tenant's VMM
 * with a client in each of many regions and a Notify each made it hold a
 * mapping per region: past vm.max_map_count (65530) every mmap of the
 * daemon failed, and with it every other tenant's Notify, ReadStatus and
 * hugetlb create (a reviewer's find). So did a member that set O_APPEND
 * on its state page, whose reused index the daemon then cleared through a
 * kept mapping. Now the daemon maps the page for the one operation.
 */
static void
test_state_page_mappings(void **state)
{
	struct fixture *f = *state;
	uint64_t cid;
	char name[16], why[256];
	int s, t, before;

	start(f, OPEN);
	s = fixture_raw(f, f->d.socket);
	before = daemon_maps(f);
	for (int i = 0; i < MAP_REGIONS; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		assert_int_equal(raw_attach(f, s, name, true, &cid, why,
		    sizeof(why)), SHMC_GSS_OK);
		raw_client_op(f, s, SHMBROKER__CLIENT_MESSAGE__BODY_NOTIFY,
		    cid);
		raw_client_op(f, s, SHMBROKER__CLIENT_MESSAGE__BODY_READ_STATUS,
		    cid);
	}
	expect_few_maps(f, before, "a Notify and a ReadStatus in each region");

	/* The same index twice: its second client has its word cleared. */
	t = fixture_raw(f, f->d.socket);
	before = daemon_maps(f);
	for (int i = 0; i < MAP_REGIONS; i++) {
		snprintf(name, sizeof(name), "a%d", i);
		raw_attach_append(f, t, name);
		for (int round = 0; round < 2; round++) {
			assert_int_equal(raw_attach(f, t, name, false, &cid,
			    why, sizeof(why)), SHMC_GSS_OK);
			raw_client_op(f, t,
			    SHMBROKER__CLIENT_MESSAGE__BODY_DETACH, cid);
		}
	}
	expect_few_maps(f, before, "an index reused in each region whose "
	    "state page is O_APPEND");

	serves_others(f);
	fixture_raw_close(f, t);
	fixture_raw_close(f, s);
	expect_baseline(f);
}

/* ---- an ivshmem peer that never reads ---- */

/* A stream connection to an export, as a QEMU's; -1 when refused. */
static int
ivs_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(s >= 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	assert_int_equal(connect(s, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return s;
}

/* The first 8-byte message on s: the protocol version, or a refusal's
 * negative errno. */
static int64_t
ivs_first(int s)
{
	struct timeval tv = { REPLY_WAIT_MS / 1000, 0 };
	int64_t v = 0;

	assert_int_equal(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv,
	    sizeof(tv)), 0);
	assert_int_equal(recv(s, &v, sizeof(v), MSG_WAITALL), sizeof(v));
	return v;
}

/*
 * A peer on an ivshmem export with 16 vectors that reads nothing, while
 * 15 members join: what it is owed waits for it, bounded by the
 * protocol (each index once), and it stays a member. A 17th peer is
 * refused (-ENOSPC) and counted. When the export closes, the peer that
 * does not read is let go all the same, and the daemon's descriptors
 * come back. (What it is owed, 275 messages at most, fits the kernel's
 * socket buffer here, so the daemon's own queue and its grace for a
 * QEMU that does not read as it leaves are not reached.)
 */
static void
test_ivshmem_non_reader(void **state)
{
	struct fixture *f = *state;
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminUnexport un = SHMBROKER__ADMIN_UNEXPORT__INIT;
	Shmbroker__ServerMessage *m;
	struct shmc_region r;
	struct shmc *c;
	char conf[512], path[80];
	int q, q17, before, peak;

	snprintf(path, sizeof(path), "%s/ivs.sock", f->dir);
	snprintf(conf, sizeof(conf), OPEN "[region ivs]\nsize = 64K\n"
	    "ivshmem = %s\nivshmem_vectors = 16\n", path);
	start(f, conf);
	before = f->baseline_fds;
	q = ivs_connect(path);
	assert_int_equal(check_admin_wait_clients(f->adm, "ivs", 1), 1);
	c = fixture_connect(f, f->d.socket, "members");
	for (int i = 0; i < 15; i++)
		assert_int_equal(fixture_attach(f, c, "ivs", 1, false, &r),
		    SHMC_GSS_OK);
	peak = harness_settled_fd_count(f->d.pid);
	print_message("daemon fds: %d, %d with a non-reading peer and 15 "
	    "members\n", before, peak);
	/* Its relays (16 per member), the members' eventfds, what waits for
	 * it (one fd a message at most), and this test's fds. */
	assert_true(peak - before <= 15 * 16 + 15 + 275 + 16);

	q17 = ivs_connect(path);
	assert_int_equal(ivs_first(q17), -ENOSPC);
	close(q17);
	assert_int_equal(STAT(f, ivshmem_refused), 1);
	assert_int_equal(STAT(f, ivshmem_joins), 1);

	un.name = (char *)"ivs";
	un.path = (char *)"";
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_UNEXPORT;
	req.admin_unexport = &un;
	m = check_admin_call(f->adm, &req);
	assert_int_equal(m->error, SHMBROKER__ERROR__ERR_NONE);
	assert_int_equal(m->admin_unexport->closed, 1);
	shmbroker__server_message__free_unpacked(m, NULL);

	/* It is let go: at once when what it was told fits its socket,
	 * else after the daemon's grace. */
	assert_true(check_sees_eof(q, IVS_GRACE_WAIT_MS));
	close(q);
	assert_int_equal(check_admin_clients(f->adm, "ivs"), 15);
	print_message("QEMUs dropped for not reading: %llu\n",
	    (unsigned long long)STAT(f, ivshmem_dropped));
	serves_others(f);
	fixture_close(f, c);
	/* The region's doorbell slots stay with it, and go with it: then
	 * the daemon holds what it held before, less the region's memfd and
	 * the export's socket. */
	assert_int_equal(check_admin_destroy(f->adm, "ivs", true, NULL), 0);
	assert_int_equal(harness_wait_fd_count(f->d.pid, before - 2,
	    SETTLE_WAIT_MS), before - 2);
}

/* ---- fds in flight ---- */

/* /proc/PID/status of the daemon, in buf. */
static const char *
status_path(const struct fixture *f, char *buf, size_t len)
{
	snprintf(buf, len, "/proc/%d/status", (int)f->d.pid);
	return buf;
}

/* The daemon as its unit runs it, its directory open to peers of other
 * users, which only root can be (to do what: the test is skipped
 * otherwise). */
static void
start_for_peers(struct fixture *f, const char *what)
{
	if (geteuid() != 0) {
		print_message("skipped: needs root to %s and to give the "
		    "daemon a lower descriptor limit\n", what);
		skip();
	}
	f->start_how = &unit_like;
	start(f, OPEN);
	assert_int_equal(chmod(f->d.dir, 0755), 0);
}

/* A request to attach name, sent as it stands; false when s takes no
 * more or is gone. */
static bool
peer_attach(int s, uint64_t id, const char *name)
{
	Shmbroker__ClientMessage m = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__Attach a = SHMBROKER__ATTACH__INIT;

	a.name.data = (uint8_t *)name;
	a.name.len = strlen(name) + 1;
	a.size_pages = 1;
	a.create = true;
	m.id = id;
	m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ATTACH;
	m.attach = &a;
	return wire_send_client(s, &m, NULL, 0) == 0;
}

/* In a forked child: becomes uid, with gid its only group, gone with its
 * parent. */
static void
become(uid_t uid, gid_t gid, pid_t parent)
{
	if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
		_exit(121);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(122);
}

/*
 * The hostile peer, as PEER_UID: on each of PEER_CONNS connections, 3
 * regions of its own attached 16 times each, pipelined, never reading a
 * reply (each carries the region's fds and its peers' eventfds), all of
 * it held open. Says so on fd, then waits to be killed.
 */
static void __attribute__((noreturn))
hostile_peer(int fd, const char *path, pid_t parent)
{
	char name[16];
	int s;

	become(PEER_UID, PEER_UID, parent);
	for (int c = 0; c < PEER_CONNS; c++) {
		if ((s = harness_connect_raw(path)) < 0)
			continue;
		fcntl(s, F_SETFL, O_NONBLOCK);
		for (int i = 0; i < 3 * 16; i++) {
			snprintf(name, sizeof(name), "h%d-%d", c, i / 16);
			if (!peer_attach(s, (uint64_t)i + 1, name))
				break;
		}
		harness_sleep_ms(200);
	}
	if (write(fd, "x", 1) != 1)
		_exit(123);
	pause();
	_exit(0);
}

/*
 * The kernel counts every fd the daemon has sent and its receiver not yet
 * read against the daemon's user's descriptor limit, and past it refuses
 * every fd the daemon sends, to anyone. A daemon without
 * CAP_SYS_RESOURCE (as under its unit, and here: root's capabilities are
 * not given to it) and a descriptor limit of NOFILE, and a peer of
 * another uid that pipelines attaches and reads nothing (and holds its
 * connections open after the daemon drops them): every other peer is
 * served all the same. Its fds wait for it within its uid's share, and
 * the daemon's count goes back to 0 once it is gone.
 */
static void
test_fds_in_flight(void **state)
{
	struct limits *l = *state;
	struct fixture *f = &l->fx;
	struct shmc_region r;
	struct shmc *victim;
	pid_t parent = getpid();
	char c, path[64];
	int64_t deadline;
	int pfd[2];

	start_for_peers(f, "run a peer as another user");
	assert_int_equal(harness_proc_value(status_path(f, path, sizeof(path)),
	    "CapEff"), 0);

	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	l->peer = fork();
	assert_true(l->peer >= 0);
	if (l->peer == 0) {
		close(pfd[0]);
		hostile_peer(pfd[1], f->d.socket, parent);
	}
	close(pfd[1]);
	assert_int_equal(read(pfd[0], &c, 1), 1);
	close(pfd[0]);

	/* Others attach (3 fds) and see peers come (1 fd each). */
	victim = fixture_connect(f, f->d.socket, "victim");
	for (int i = 0; i < 8; i++) {
		if (shmc_attach(victim, "victim", 1, true, &r) != SHMC_GSS_OK)
			fail_msg("attach %d beside the peer: %s", i,
			    shmc_error(victim));
		close(r.fd);
	}
	serves_others(f);
	assert_int_equal(fixture_log_lines(f, "Too many references", NULL),
	    0);
	print_message("with the peer: %llu fds in flight, %llu closed "
	    "connections kept, %llu sends waited\n",
	    (unsigned long long)STAT(f, fds_in_flight),
	    (unsigned long long)STAT(f, drains),
	    (unsigned long long)STAT(f, inflight_waits));
	assert_true(STAT(f, inflight_waits) > 0);
	assert_true(STAT(f, fds_in_flight) <= NOFILE / 2);

	/* Once the peers are gone, nothing is in flight and nothing kept
	 * (the daemon looks at closed connections every second). */
	fixture_close(f, victim);
	kill(l->peer, SIGKILL);
	waitpid(l->peer, NULL, 0);
	l->peer = 0;
	deadline = harness_now_ms() + REPLY_WAIT_MS;
	while ((STAT(f, fds_in_flight) > 0 || STAT(f, drains) > 0) &&
	    harness_now_ms() < deadline)
		harness_sleep_ms(100);
	assert_int_equal(STAT(f, drains), 0);
	assert_int_equal(STAT(f, fds_in_flight), 0);
	expect_baseline(f);
}

/*
 * As PEER_UID, on one connection 43 creates (3 fds a reply: 42 fill the
 * uid's 128 fds in flight at NOFILE, the 43rd waits in the daemon's
 * queue), then on another 40 more, which all wait: 123 fds queued, short
 * of all queues' 128. Reads nothing; says so on fd, waits to be killed.
 */
static void __attribute__((noreturn))
queue_filler(int fd, const char *path, pid_t parent)
{
	static const int creates[2] = { 43, 40 };
	char name[16];
	int s;

	become(PEER_UID, PEER_UID, parent);
	for (int c = 0; c < 2; c++) {
		if ((s = harness_connect_raw(path)) < 0)
			_exit(123);
		for (int i = 0; i < creates[c]; i++) {
			snprintf(name, sizeof(name), "q%d-%d", c, i);
			if (!peer_attach(s, (uint64_t)i + 1, name))
				_exit(124);
		}
		harness_sleep_ms(300);
	}
	if (write(fd, "x", 1) != 1)
		_exit(125);
	pause();
	_exit(0);
}

/*
 * All send queues together may hold 1/8 of the daemon's descriptors. A
 * uid that pipelines attaches and reads nothing fills that share, and a
 * QEMU, whose every fd is queued first, was then let go as soon as it
 * joined an export ("the daemon's send queues hold N fds"): another
 * tenant's device cut off by one that never reads (a reviewer's find).
 * Now the connection that holds the most queued fds goes instead.
 */
static void
test_outq_hog_spares_qemu(void **state)
{
	struct limits *l = *state;
	struct fixture *f = &l->fx;
	pid_t parent = getpid();
	char c, conf[512], path[96];
	int pfd[2], q;

	if (geteuid() != 0) {
		print_message("skipped: needs root to run a peer as another "
		    "user\n");
		skip();
	}
	snprintf(path, sizeof(path), "%s/ivs.sock", f->dir);
	assert_int_equal(chmod(f->dir, 0777), 0);
	snprintf(conf, sizeof(conf), OPEN "[region ivs]\nsize = 64K\n"
	    "ivshmem = %s\nivshmem_vectors = 7\n", path);
	f->start_how = &unit_like;
	start(f, conf);
	assert_int_equal(chmod(f->d.dir, 0755), 0);

	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	l->peer = fork();
	assert_true(l->peer >= 0);
	if (l->peer == 0) {
		close(pfd[0]);
		queue_filler(pfd[1], f->d.socket, parent);
	}
	close(pfd[1]);
	assert_int_equal(read(pfd[0], &c, 1), 1);
	close(pfd[0]);

	/* A QEMU of another uid (root) joins, with 7 vectors: 8 fds. */
	q = ivs_connect(path);
	assert_int_equal(ivs_first(q), 0);
	assert_int_equal(check_admin_wait_clients(f->adm, "ivs", 1), 1);
	harness_sleep_ms(500);
	print_message("QEMUs let go: %llu; connections let go: %llu\n",
	    (unsigned long long)STAT(f, ivshmem_dropped),
	    (unsigned long long)STAT(f, events_dropped_connections));
	assert_int_equal(STAT(f, ivshmem_dropped), 0);
	assert_int_equal(check_admin_clients(f->adm, "ivs"), 1);
	assert_int_equal(fixture_log_lines(f, "its limit (raise", NULL), 0);
	close(q);
	kill(l->peer, SIGKILL);
	waitpid(l->peer, NULL, 0);
	l->peer = 0;
}

/* ---- a peer whose fds wait ---- */

/* The CPU time the daemon has used, in clock ticks. */
static long
daemon_cpu_ticks(const struct fixture *f)
{
	long t = harness_cpu_ticks(f->d.pid);

	assert_true(t >= 0);
	return t;
}

/*
 * A VMM connection whose peer reads every reply but the last holds more
 * and more fds unread (its count is let go only once it has read
 * everything, conn_inflight.c), until past INFLIGHT_CONN_MAX its next
 * reply waits in its queue, retried on a timer. Requests it sends
 * meanwhile queue more replies behind it, and must not wake the daemon
 * until the timer comes: they used to arm the connection's write event
 * again, on a socket that is writable, and the daemon spun on it (a
 * SIOCOUTQ a pass, a whole CPU) until the next retry, up to a second
 * each time. Once the peer reads, every reply comes, in order.
 */
/* The next reply on s, which must answer request *got + 1. */
static void
next_reply(int s, uint64_t *got)
{
	Shmbroker__ServerMessage *m = check_recv_reply(s, NULL);

	assert_int_equal(m->id, ++*got);
	shmbroker__server_message__free_unpacked(m, NULL);
}

/* On raw connection s, a region a request (its reply's 3 fds; a region
 * of its own, so that no other connection hears of it), all but the last
 * keep replies read, until a reply waits for the fds budget. */
static void
hold_keeping(struct fixture *f, int s, uint64_t *sent, uint64_t *got,
    uint64_t keep)
{
	uint64_t waits = STAT(f, inflight_waits), first = *sent;
	char name[32];

	while (*sent - first < 200) {
		snprintf(name, sizeof(name), "idle%d-%llu", s,
		    (unsigned long long)*sent);
		check_send_attach(s, ++*sent, name, strlen(name) + 1, 1, true);
		/* Its reply sent (or waiting) while the last are unread. */
		harness_sleep_ms(5);
		if (STAT(f, inflight_waits) > waits)
			return;
		if (*sent - first > keep) {
			next_reply(s, got);
		}
	}
	fail_msg("200 attaches with %llu replies unread, and none waited",
	    (unsigned long long)keep);
}

/* Waits until a send has waited since the daemon counted waits; the
 * count then. */
static uint64_t
waits_after(struct fixture *f, uint64_t waits)
{
	uint64_t now;

	for (int64_t end = harness_now_ms() + REPLY_WAIT_MS;
	    (now = STAT(f, inflight_waits)) == waits &&
	    harness_now_ms() < end;)
		harness_sleep_ms(10);
	assert_true(now > waits);
	return now;
}

/* The same, with one reply unread. */
static void
hold_until_wait(struct fixture *f, int s, uint64_t *sent, uint64_t *got)
{
	hold_keeping(f, s, sent, got, 1);
}

static void
test_fds_wait_idle(void **state)
{
	struct fixture *f = *state;
	long ticks, hz = sysconf(_SC_CLK_TCK);
	uint64_t sent = 0, got = 0;
	int s;

	start(f, OPEN);
	s = fixture_raw(f, f->d.socket);
	hold_until_wait(f, s, &sent, &got);

	/* A request every 100 ms for 2 s while the queue waits. */
	ticks = daemon_cpu_ticks(f);
	for (int i = 0; i < 20; i++) {
		check_send_client_op(s, ++sent,
		    SHMBROKER__CLIENT_MESSAGE__BODY_READ_STATUS, 1);
		harness_sleep_ms(100);
	}
	ticks = daemon_cpu_ticks(f) - ticks;
	print_message("after %llu attaches a reply waited; the daemon then "
	    "used %ld ms of CPU in 2 s\n", (unsigned long long)sent - 20,
	    ticks * 1000 / hz);
	assert_true(ticks * 1000 / hz < 300);

	while (got < sent) {
		next_reply(s, &got);
	}
	fixture_raw_close(f, s);
	serves_others(f);
}

/* Whether s has a datagram to read now. */
static bool
readable_now(int s)
{
	struct pollfd p = { .fd = s, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/*
 * A peer that was slow to read, and caught up, gets its waiting replies
 * as soon as it asks for something: its request shows it reads. They
 * used to wait for the connection's next retry, backed off while the peer
 * did not read: 20, 60, 140, 300, 620, 1260, then 2260 ms after the wait
 * began, so a peer that catches up at 1.5 s had them about 750 ms later.
 * With ask_first it asks before it reads what it holds, as a VMM's call
 * does (it reads while it waits for the reply): the daemon's look at the
 * request finds the fds unread, and must look again soon, not at the
 * backed-off retry.
 */
#define CATCH_UP_MS 200
#define CATCH_UP_ROUNDS 2

static void
catch_up(struct fixture *f, bool ask_first)
{
	uint64_t sent = 0, got = 0;
	int64_t t0, took;
	int s;

	start(f, OPEN);
	s = fixture_raw(f, f->d.socket);
	for (int round = 0; round < CATCH_UP_ROUNDS; round++) {
		hold_until_wait(f, s, &sent, &got);
		/* Long enough unread for the retries to be 1 s apart. */
		harness_sleep_ms(1500);
		if (ask_first) {
			check_send_client_op(s, ++sent,
			    SHMBROKER__CLIENT_MESSAGE__BODY_READ_STATUS, 1);
			/* The daemon looks at the request before the reads. */
			harness_sleep_ms(50);
		}
		t0 = harness_now_ms();
		while (readable_now(s)) {
			next_reply(s, &got);
		}
		assert_true(got < sent);
		if (!ask_first)
			check_send_client_op(s, ++sent,
			    SHMBROKER__CLIENT_MESSAGE__BODY_READ_STATUS, 1);
		while (got < sent) {
			next_reply(s, &got);
		}
		took = harness_now_ms() - t0;
		print_message("round %d: caught up, the waiting replies came in "
		    "%lld ms\n", round, (long long)took);
		assert_true(took < CATCH_UP_MS);
	}
	fixture_raw_close(f, s);
	serves_others(f);
}

static void
test_fds_wait_catches_up(void **state)
{
	catch_up(*state, false);
}

static void
test_fds_wait_asks_first(void **state)
{
	catch_up(*state, true);
}

/*
 * A peer that reads, only slowly, is not one that does not read: once a
 * look finds fewer bytes unread than the last, the retries start again
 * from a tick. They used to back off at 20, 60, ... 1260, 2260 and
 * 3260 ms after the wait began whatever the peer did, so one that read
 * some by 1.5 s and the rest by 2.45 s got its replies at 3.26 s, about
 * 800 ms later; now at the look after 2.45 s (2.56 s).
 */
static void
test_fds_wait_slow_reader(void **state)
{
	struct fixture *f = *state;
	uint64_t sent = 0, got = 0;
	int64_t t0, took;
	int s;

	start(f, OPEN);
	s = fixture_raw(f, f->d.socket);
	hold_keeping(f, s, &sent, &got, 2);
	harness_sleep_ms(1500);
	next_reply(s, &got);
	harness_sleep_ms(950);
	assert_true(readable_now(s));
	t0 = harness_now_ms();
	while (got < sent) {
		next_reply(s, &got);
	}
	took = harness_now_ms() - t0;
	print_message("read some at 1.5 s, the rest at 2.45 s: the waiting "
	    "reply came %lld ms later\n", (long long)took);
	assert_true(took < 2 * CATCH_UP_MS);
	fixture_raw_close(f, s);
	serves_others(f);
}

/*
 * A connection that holds no fds unread, but waits because other
 * connections of its uid hold the uid's share (the daemon as its unit
 * runs it, and every peer root), is not a peer that does not read: it
 * must be looked at again soon once they read. Its retries used to back
 * off as a non-reader's do (20, 60, ... 1260, then 2260 ms), so an attach
 * of another VMM of the same user waited up to a second after the share
 * came free, and events piling up behind it meanwhile got it dropped
 * (the systemd churn soak's long run, all 64 VMMs root).
 */
static void
test_fds_uid_share_wait(void **state)
{
	struct limits *l = *state;
	struct fixture *f = &l->fx;
	Shmbroker__ServerMessage *m;
	uint64_t waits;
	int64_t t0, took;
	char name[16];
	int hog, r, n = 0;

	f->start_how = &unit_like;
	start(f, OPEN);
	/* One connection takes the uid's share (NOFILE / 8 fds) with
	 * attach replies it does not read. */
	hog = fixture_raw(f, f->d.socket);
	for (int i = 0; i < NOFILE / 8 / 3 + 8; i++) {
		snprintf(name, sizeof(name), "hog%d", i);
		check_send_attach(hog, (uint64_t)i + 1, name, strlen(name) + 1,
		    1, true);
	}
	waits = waits_after(f, 0);
	r = fixture_raw(f, f->d.socket);
	check_send_attach(r, 1, "other", 6, 1, true);
	harness_sleep_ms(1500);
	assert_false(readable_now(r));
	assert_true(STAT(f, inflight_waits) > waits);

	/* The hog reads all it has; its count goes at the next sweep. */
	t0 = harness_now_ms();
	while (readable_now(hog)) {
		m = check_recv_reply(hog, NULL);
		shmbroker__server_message__free_unpacked(m, NULL);
		n++;
	}
	m = check_recv_reply(r, NULL);
	took = harness_now_ms() - t0;
	assert_int_equal(m->id, 1);
	assert_int_equal(m->attach->status, SHMBROKER__GUEST_STATUS__GSS_OK);
	shmbroker__server_message__free_unpacked(m, NULL);
	print_message("the hog read %d replies; the other connection's reply "
	    "came %lld ms later\n", n, (long long)took);
	assert_true(took < CATCH_UP_MS);
	fixture_raw_close(f, hog);
	fixture_raw_close(f, r);
}

/*
 * A VMM that reads everything it is sent never waits for the fds budget,
 * in the daemon as it is deployed (no CAP_SYS_RESOURCE, a low descriptor
 * limit). One connection holds one attachment to a region and attaches
 * and detaches a second one over and over: each attach brings its reply
 * (4 fds) and a PeerChanged to the first attachment (1 fd), both read at
 * once. The daemon used to look at what the peer had read only when the
 * connection's count passed its budget, which happened at the reply just
 * after that event, unread for a microsecond: the reply then waited a
 * 20 ms tick, one attach in about 50 (seen: 111 waits in 6,000).
 */
static void
test_fds_reader_never_waits(void **state)
{
	struct limits *l = *state;
	struct fixture *f = &l->fx;
	struct shmc_region keep, r;
	struct shmc *c;

	/* Not root, the daemon has no capabilities anyway. */
	if (geteuid() == 0)
		f->start_how = &unit_like;
	start(f, OPEN);
	c = fixture_connect(f, f->d.socket, "reader");
	assert_int_equal(shmc_attach(c, "two", 1, true, &keep), SHMC_GSS_OK);
	close(keep.fd);
	for (int i = 0; i < READER_ROUNDS; i++) {
		if (shmc_attach(c, "two", 1, false, &r) != SHMC_GSS_OK)
			fail_msg("attach %d: %s", i, shmc_error(c));
		close(r.fd);
		if (shmc_detach(c, r.client_id) < 0)
			fail_msg("detach %d: %s", i, shmc_error(c));
	}
	print_message("%d attach-detach rounds beside a peer attachment: "
	    "%llu sends waited\n", READER_ROUNDS,
	    (unsigned long long)STAT(f, inflight_waits));
	assert_int_equal(STAT(f, inflight_waits), 0);
	fixture_close(f, c);
	expect_baseline(f);
}

/* ---- a waiter for its uid's share ---- */

/* The n replies s is owed, each an attach that succeeded. */
static void
read_replies(int s, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		Shmbroker__ServerMessage *m = check_recv_reply(s, NULL);

		assert_int_equal(m->attach->status,
		    SHMBROKER__GUEST_STATUS__GSS_OK);
		shmbroker__server_message__free_unpacked(m, NULL);
	}
}

/*
 * A connection that waits for its uid's share of the fds in flight, at a
 * moment when everyone's budget is full too, holds back no other uid once
 * everyone's has room again: it waits for its own uid's peers to read.
 * Root and four other uids fill their shares (NOFILE / 8 each), the last
 * of them everyone's budget (NOFILE / 2); a second connection of root's
 * then waits. Once the four others read all they were sent, one of them
 * attaches SHARE_ROUNDS times, reading each reply, and none of its
 * replies waits. They used to: the waiter was counted first in line for
 * everyone's budget for as long as it waited, so that every fd any uid
 * sent went by the 20 ms timer.
 */
static void
test_fds_share_waiter_holds_no_other_uid(void **state)
{
	struct limits *l = *state;
	struct fixture *f = &l->fx;
	Shmbroker__ServerMessage *m;
	uint64_t sent[SHARE_HOGS], waits;
	int hog[SHARE_HOGS], w;
	char name[24];

	start_for_peers(f, "connect as other users");
	hog[0] = fixture_raw(f, f->d.socket);
	for (int i = 1; i < SHARE_HOGS; i++)
		hog[i] = check_raw_as(f->d.socket, SHARE_UID0 + (uid_t)i);
	/* Each reads nothing until a reply of its waits. */
	for (int i = 0; i < SHARE_HOGS; i++) {
		uint64_t got = 0;

		sent[i] = 0;
		hold_keeping(f, hog[i], &sent[i], &got, UINT64_MAX);
	}
	print_message("fds in flight with every share full: %llu\n",
	    (unsigned long long)STAT(f, fds_in_flight));
	/* Too little left in everyone's budget for one attach reply. */
	assert_true(STAT(f, fds_in_flight) + 3 > NOFILE / 2);

	w = fixture_raw(f, f->d.socket);
	waits = STAT(f, inflight_waits);
	check_send_attach(w, 1, "share-w", 8, 1, true);
	waits_after(f, waits);

	for (int i = 1; i < SHARE_HOGS; i++)
		read_replies(hog[i], sent[i]);
	/* What they read is let go at the daemon's next looks. */
	for (int64_t end = harness_now_ms() + REPLY_WAIT_MS;
	    STAT(f, fds_in_flight) > NOFILE / 8 && harness_now_ms() < end;)
		harness_sleep_ms(20);
	assert_true(STAT(f, fds_in_flight) <= NOFILE / 8);

	waits = STAT(f, inflight_waits);
	for (int i = 0; i < SHARE_ROUNDS; i++) {
		snprintf(name, sizeof(name), "share-x%d", i);
		check_send_attach(hog[1], sent[1] + 1 + (uint64_t)i, name,
		    strlen(name) + 1, 1, true);
		read_replies(hog[1], 1);
	}
	print_message("%d attaches of another uid beside the waiter: %llu "
	    "waited\n", SHARE_ROUNDS,
	    (unsigned long long)(STAT(f, inflight_waits) - waits));
	assert_int_equal(STAT(f, inflight_waits), waits);

	/* Root's waiter is answered once root's first connection reads. */
	read_replies(hog[0], sent[0]);
	m = check_recv_reply(w, NULL);
	assert_int_equal(m->id, 1);
	assert_int_equal(m->attach->status, SHMBROKER__GUEST_STATUS__GSS_OK);
	shmbroker__server_message__free_unpacked(m, NULL);
	for (int i = 1; i < SHARE_HOGS; i++)
		close(hog[i]);
	fixture_raw_close(f, hog[0]);
	fixture_raw_close(f, w);
}

/* ---- a tenant's connections, closed ones kept included ---- */

/* The connections the daemon counts for tenant name. */
static uint32_t
tenant_connections(struct fixture *f, const char *name)
{
	Shmbroker__ServerMessage *m = check_admin_ok(f->adm,
	    SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_TENANTS);
	uint32_t n = UINT32_MAX;

	for (size_t i = 0; i < m->admin_tenants->n_tenants; i++)
		if (strcmp(m->admin_tenants->tenants[i]->name, name) == 0)
			n = m->admin_tenants->tenants[i]->connections;
	shmbroker__server_message__free_unpacked(m, NULL);
	return n;
}

/* Waits until tenant name counts n connections; what it counts then. */
static uint32_t
tenant_connections_wait(struct fixture *f, const char *name, uint32_t n)
{
	int64_t deadline = harness_now_ms() + REPLY_WAIT_MS;
	uint32_t got;

	while ((got = tenant_connections(f, name)) != n &&
	    harness_now_ms() < deadline)
		harness_sleep_ms(20);
	return got;
}

/* Waits until the daemon keeps n drains; how many it keeps then. */
static uint64_t
drains_wait(struct fixture *f, uint64_t n)
{
	int64_t deadline = harness_now_ms() + REPLY_WAIT_MS;
	uint64_t got;

	while ((got = STAT(f, drains)) != n && harness_now_ms() < deadline)
		harness_sleep_ms(20);
	return got;
}

/* A raw VMM connection whose Hello must be answered. */
static int
served_raw(struct fixture *f)
{
	int s = fixture_raw(f, f->d.socket);
	Shmbroker__ServerMessage *m;

	check_send_hello(s, 1, WIRE_PROTOCOL_VERSION, "limits");
	m = check_recv_reply(s, NULL);
	if (m->error != SHMBROKER__ERROR__ERR_NONE)
		fail_msg("connection refused: %s", m->message);
	shmbroker__server_message__free_unpacked(m, NULL);
	return s;
}

/* A connection with an attach whose reply (and its fds) it never reads,
 * once the daemon counts them in flight. */
static int
unread_attach(struct fixture *f)
{
	int64_t deadline = harness_now_ms() + REPLY_WAIT_MS;
	int s = fixture_raw(f, f->d.socket);

	check_send_attach(s, 1, "drain", strlen("drain") + 1, 1, true);
	while (STAT(f, fds_in_flight) == 0 && harness_now_ms() < deadline)
		harness_sleep_ms(10);
	assert_true(STAT(f, fds_in_flight) > 0);
	return s;
}

/*
 * A connection closed while its peer holds fds unread is kept (a drain)
 * and counts against max_connections until the peer reads or closes:
 * against its tenant's max_connections just the same. The daemon as
 * deployed (no CAP_SYS_RESOURCE: drains are kept only then), tenant t
 * for this process's uid with max_connections = 2: a drain and one
 * connection fill it, and the drain's place comes back once its peer
 * closes.
 */
static void
test_tenant_connections_drain(void **state)
{
	struct limits *l = *state;
	struct fixture *f = &l->fx;
	Shmbroker__ServerMessage *m;
	int64_t deadline;
	int held, in, over;
	char conf[96];

	/* Not root, the daemon has no capabilities anyway. */
	if (geteuid() == 0)
		f->start_how = &unit_like;
	snprintf(conf, sizeof(conf), "[tenant t]\nuid = %u\n"
	    "max_connections = 2\n", (unsigned)geteuid());
	start(f, conf);
	/* The harness's own probe of the socket was one of t's. */
	assert_int_equal(tenant_connections_wait(f, "t", 0), 0);

	/* An attach whose reply (with its fds) is never read, then EOF. */
	held = unread_attach(f);
	assert_int_equal(shutdown(held, SHUT_WR), 0);
	deadline = harness_now_ms() + REPLY_WAIT_MS;
	while (STAT(f, drains) == 0 && harness_now_ms() < deadline)
		harness_sleep_ms(10);
	assert_int_equal(STAT(f, drains), 1);
	assert_int_equal(tenant_connections(f, "t"), 1);

	in = served_raw(f);
	assert_int_equal(tenant_connections(f, "t"), 2);
	over = fixture_raw(f, f->d.socket);
	m = check_recv_reply(over, NULL);
	assert_int_equal(m->error, SHMBROKER__ERROR__ERR_NO_RESOURCES);
	if (strstr(m->message, "tenant t holds 2 connections, its "
	    "max_connections is 2") == NULL)
		fail_msg("refusal: %s", m->message);
	shmbroker__server_message__free_unpacked(m, NULL);
	assert_true(check_sees_eof(over, REPLY_WAIT_MS));
	fixture_raw_close(f, over);
	assert_int_equal(STAT(f, refused_tenant_max_connections), 1);
	assert_int_equal(STAT(f, refused_max_connections), 0);

	/* Its peer closes: the drain goes (looked at every second), and
	 * its place with it. */
	fixture_raw_close(f, held);
	assert_int_equal(tenant_connections_wait(f, "t", 1), 1);
	assert_int_equal(STAT(f, drains), 0);
	fixture_raw_close(f, served_raw(f));
	fixture_raw_close(f, in);
	assert_int_equal(tenant_connections_wait(f, "t", 0), 0);
	expect_baseline(f);
}

/* The daemon stopped by SIGSTOP, once it is: what peers do meanwhile it
 * sees at once when it goes on, in the order they did it. */
static void
daemon_stop(const struct fixture *f)
{
	int64_t deadline = harness_now_ms() + REPLY_WAIT_MS;
	char path[64], buf[256], *q = NULL;
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)f->d.pid);
	assert_int_equal(kill(f->d.pid, SIGSTOP), 0);
	do {
		assert_non_null(fp = fopen(path, "r"));
		n = fread(buf, 1, sizeof(buf) - 1, fp);
		fclose(fp);
		buf[n] = '\0';
		/* The state follows the name in parentheses. */
		if ((q = strrchr(buf, ')')) != NULL && q[1] == ' ' &&
		    q[2] == 'T')
			return;
		harness_sleep_ms(1);
	} while (harness_now_ms() < deadline);
	fail_msg("the daemon did not stop");
}

/*
 * A connection that dies with fds unread is counted until it is reaped,
 * a moment later in the same turn of the loop, where its drain takes its
 * place over. Its place used to go as it died, so that a connection
 * accepted in between took it, and the drain then counted past
 * max_connections. The daemon is stopped while a connection with fds
 * unread closes and another connects, so that it sees both at once, the
 * close first: at its limit, the newcomer is refused.
 */
static void
test_drain_keeps_its_place(void **state)
{
	struct limits *l = *state;
	struct fixture *f = &l->fx;
	Shmbroker__ServerMessage *m;
	int held, in, late;

	/* Not root, the daemon has no capabilities anyway. */
	if (geteuid() == 0)
		f->start_how = &unit_like;
	/* The fixture's admin connection is the first of three. */
	start(f, OPEN "max_connections = 3\n");
	held = unread_attach(f);
	in = served_raw(f);

	daemon_stop(f);
	assert_int_equal(shutdown(held, SHUT_WR), 0);
	late = fixture_raw(f, f->d.socket);
	assert_int_equal(kill(f->d.pid, SIGCONT), 0);
	/* Served, it would be sent nothing: no reply in time. */
	m = check_recv_reply(late, NULL);
	assert_int_equal(m->error, SHMBROKER__ERROR__ERR_NO_RESOURCES);
	shmbroker__server_message__free_unpacked(m, NULL);
	assert_int_equal(drains_wait(f, 1), 1);
	assert_int_equal(STAT(f, refused_max_connections), 1);
	fixture_raw_close(f, late);
	fixture_raw_close(f, in);
	fixture_raw_close(f, held);
}

/* ---- QEMUs gone with fds unread: connections like any other ---- */

#define HOG_GID 2300		/* tenant a's group, and its uids': */
#define HOG_UID0 2301		/* HOG_UID0 and HOG_UID0 + 1 */
#define HOG_FIRST 6		/* QEMUs the first sends, */
#define HOG_TRIES 40		/* the second (and one uid alone) */
#define HOG_TENANT_MAX 10	/* tenant a's max_connections */
#define HOG_BROKER_MAX 40	/* [broker] max_connections */
#define SWEEP_UID0 2400		/* test_qemu_refusals_cheap's uids, */
#define SWEEP_UIDS 16		/* each holding */
#define SWEEP_DRAINS 64		/* drains, as many as a uid may */
#define SWEEP_REFUSALS 2000	/* then refused QEMUs of the first, */
#define SWEEP_REFUSAL_US 500	/* each at most this much daemon CPU */

/* What the QEMUs of qemu_peers saw. */
struct qemu_tally {
	uint32_t joins;
	uint32_t refused;
};

/* The first 8-byte message of a QEMU connecting to path (its version,
 * or a refusal's -errno), its socket in *s; INT64_MIN when it saw
 * none. No assertion: it runs in a child. */
static int64_t
qemu_first(const char *path, int *s)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { REPLY_WAIT_MS / 1000, 0 };
	int64_t v;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if ((*s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return INT64_MIN;
	if (connect(*s, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    setsockopt(*s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    recv(*s, &v, sizeof(v), MSG_WAITALL) != (ssize_t)sizeof(v)) {
		close(*s);
		return INT64_MIN;
	}
	return v;
}

/* Whether the daemon let the QEMU on s go: it shut its end (a drain) or
 * closed it, which s sees without reading what it holds. */
static bool
qemu_let_go(int s)
{
	struct pollfd p = { .fd = s, .events = POLLRDHUP };

	return poll(&p, 1, REPLY_WAIT_MS) == 1;
}

/*
 * In a forked child as uid (gid its group): n QEMUs connect to the export
 * at path, one after another, and take their first message. One that
 * joined goes without reading the fds that came after it (its writing
 * side shut, which the daemon takes for the QEMU going) and, with keep,
 * holds its socket open, as a QEMU that never reads: a drain. Says what
 * it saw on fd; then, with keep, waits to be killed.
 */
static void __attribute__((noreturn))
qemu_peers(int fd, const char *path, uid_t uid, gid_t gid, int n, bool keep,
    pid_t parent)
{
	struct qemu_tally t = { 0, 0 };
	int64_t v;
	int s;

	become(uid, gid, parent);
	for (int i = 0; i < n; i++) {
		if ((v = qemu_first(path, &s)) == INT64_MIN)
			_exit(124);
		if (v < 0) {
			t.refused++;
		} else {
			t.joins++;
			shutdown(s, SHUT_WR);
			/* Let go (its end shut, kept or closed) before the
			 * next joins: else each is told of the other. */
			if (!qemu_let_go(s))
				_exit(126);
		}
		if (v < 0 || !keep)
			close(s);
	}
	if (write(fd, &t, sizeof(t)) != (ssize_t)sizeof(t))
		_exit(125);
	if (keep)
		pause();
	_exit(0);
}

/* qemu_peers in a child: what its QEMUs saw. With keep, the child and
 * its sockets stay until hogs_kill; else it is gone. */
static struct qemu_tally
qemu_peers_run(struct limits *l, const char *path, uid_t uid, gid_t gid,
    int n, bool keep)
{
	struct qemu_tally t;
	pid_t parent = getpid(), pid;
	int pfd[2], st;

	assert_true(!keep || l->nhogs < HOGS_MAX);
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	assert_true((pid = fork()) >= 0);
	if (pid == 0) {
		close(pfd[0]);
		qemu_peers(pfd[1], path, uid, gid, n, keep, parent);
	}
	close(pfd[1]);
	if (keep)
		l->hogs[l->nhogs++] = pid;
	if (read(pfd[0], &t, sizeof(t)) != (ssize_t)sizeof(t))
		fail_msg("the QEMUs of uid %u did not say what they saw",
		    (unsigned)uid);
	close(pfd[0]);
	if (!keep) {
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	return t;
}

/* The daemon as how starts it, on conf and an export of region ivs (one
 * vector) at path, which QEMUs of other uids reach: only root can run
 * them (the test is skipped otherwise). */
static void
start_with_export(struct fixture *f, const struct harness_restart *how,
    const char *conf, char *path, size_t len)
{
	char all[1024];

	if (geteuid() != 0) {
		print_message("skipped: needs root to run QEMUs as other "
		    "users\n");
		skip();
	}
	snprintf(path, len, "%s/ivs.sock", f->dir);
	snprintf(all, sizeof(all), "%s[region ivs]\nsize = 64K\n"
	    "ivshmem = %s\nivshmem_vectors = 1\n", conf, path);
	/* The daemon's user makes the socket there. */
	assert_int_equal(chmod(f->dir, 0777), 0);
	f->start_how = how;
	start(f, all);
}

/*
 * A QEMU that goes with fds unread leaves its socket as a drain, which
 * counts against max_connections: against its tenant's too, as a VMM
 * connection's drain does. A QEMU's did not (a reviewer's find): two uids
 * of tenant a, whose max_connections is 10, kept 46 (64 a uid could),
 * past the daemon's 40, and from then on every connection was refused,
 * another tenant's and the admin socket's alike. Now a QEMU counts among
 * its tenant's connections from its join, as a VMM connection does from
 * its accept, and its drain keeps that place: the second uid's QEMUs join
 * while the first's drains leave room, those past 10 are refused,
 * counted and said why, and tenant b (this process, root) and the admin
 * socket are served.
 */
static void
test_qemu_drains_tenant_limit(void **state)
{
	struct limits *l = *state;
	struct fixture *f = &l->fx;
	uint32_t refused = HOG_FIRST + HOG_TRIES - HOG_TENANT_MAX;
	struct qemu_tally t[2];
	char conf[256], path[96];
	struct shmc *adm;

	snprintf(conf, sizeof(conf), "[broker]\nmax_connections = %d\n"
	    "[tenant a]\ngid = %d\nmax_connections = %d\n"
	    "[tenant b]\nuid = 0\n", HOG_BROKER_MAX, HOG_GID, HOG_TENANT_MAX);
	start_with_export(f, &unit_like, conf, path, sizeof(path));
	for (int i = 0; i < 2; i++)
		t[i] = qemu_peers_run(l, path, HOG_UID0 + (uid_t)i, HOG_GID,
		    i == 0 ? HOG_FIRST : HOG_TRIES, true);
	print_message("tenant a's QEMUs: %u and %u joined, %u and %u "
	    "refused; %llu drains\n", t[0].joins, t[1].joins, t[0].refused,
	    t[1].refused, (unsigned long long)STAT(f, drains));
	assert_int_equal(t[0].joins, HOG_FIRST);
	assert_int_equal(t[1].joins, HOG_TENANT_MAX - HOG_FIRST);
	assert_int_equal(drains_wait(f, HOG_TENANT_MAX), HOG_TENANT_MAX);
	assert_int_equal(tenant_connections(f, "a"), HOG_TENANT_MAX);
	assert_int_equal(STAT(f, ivshmem_refused), refused);
	assert_int_equal(STAT(f, refused_tenant_max_connections), refused);
	assert_int_equal(STAT(f, refused_max_connections), 0);
	assert_true(fixture_log_lines(f, "refused QEMU", "tenant a holds 10 "
	    "connections") >= 1);

	/* Tenant b connects and attaches; a new admin connection answers. */
	fixture_raw_close(f, served_raw(f));
	serves_others(f);
	adm = fixture_connect(f, f->d.admin_socket, "late admin");
	shmbroker__server_message__free_unpacked(check_admin_ok(adm,
	    SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_STATUS), NULL);
	fixture_close(f, adm);

	/* The QEMUs close: their drains go (looked at every second), and
	 * tenant a's places with them. */
	hogs_kill(l);
	assert_int_equal(tenant_connections_wait(f, "a", 0), 0);
	assert_int_equal(STAT(f, drains), 0);
	t[0] = qemu_peers_run(l, path, HOG_UID0, HOG_GID, 1, false);
	assert_int_equal(t[0].joins, 1);
}

/*
 * The same against [broker] max_connections, which nothing checked when
 * a QEMU's drain was made: with open tenancy and max_connections = 16,
 * one uid's QEMUs that go with fds unread kept 40 sockets. Now a QEMU
 * counts among the daemon's connections from its join: 15 join beside
 * the admin connection, the rest are refused, counted and said why.
 */
static void
test_qemu_drains_daemon_limit(void **state)
{
	struct limits *l = *state;
	struct fixture *f = &l->fx;
	struct qemu_tally t;
	char path[96];

	start_with_export(f, &unit_like, OPEN "max_connections = 16\n", path,
	    sizeof(path));
	t = qemu_peers_run(l, path, HOG_UID0, HOG_GID, HOG_TRIES, true);
	print_message("QEMUs: %u joined, %u refused; %llu drains\n", t.joins,
	    t.refused, (unsigned long long)STAT(f, drains));
	assert_int_equal(t.joins, 15);
	assert_int_equal(drains_wait(f, 15), 15);
	assert_int_equal(STAT(f, refused_max_connections), HOG_TRIES - 15);
	assert_true(fixture_log_lines(f, "refused QEMU",
	    "max_connections in [broker]") >= 1);

	hogs_kill(l);
	assert_int_equal(drains_wait(f, 0), 0);
	fixture_raw_close(f, served_raw(f));
}

/*
 * A QEMU refused for want of room in its uid's share of fds in flight
 * (or its 64 drains) looked at every drain in the daemon, twice, and
 * every QEMU's count, a SIOCOUTQ each, before it was told no: with a
 * thousand drains, about 3 ms of the daemon's CPU per refusal, where a
 * refusal costs about 30 us, so that a loop of connects kept the daemon
 * busy (a reviewer's find). Now such a refusal looks at once only at its
 * own uid's QEMUs, which read at once, and at the rest at the pace the
 * VMM connections' sweeps keep. 16 uids hold 64 drains each; the first
 * then sends SWEEP_REFUSALS QEMUs, each refused, and the daemon's CPU
 * for them stays under SWEEP_REFUSAL_US each: far over what a refusal
 * costs, on a loaded host too, and a sixth of what one cost.
 */
static void
test_qemu_refusals_cheap(void **state)
{
	/* Room in flight for every drain: 2 fds each (the memfd and its
	 * vector), and a socket. */
	static const struct harness_restart roomy = { .nofile = 8192,
	    .no_caps = true, .uid = DAEMON_UID };
	struct limits *l = *state;
	struct fixture *f = &l->fx;
	long ticks, hz = sysconf(_SC_CLK_TCK), us;
	struct qemu_tally t;
	char path[96];

	start_with_export(f, &roomy, OPEN, path, sizeof(path));
	for (int i = 0; i < SWEEP_UIDS; i++) {
		t = qemu_peers_run(l, path, SWEEP_UID0 + (uid_t)i,
		    SWEEP_UID0 + (gid_t)i, SWEEP_DRAINS, true);
		assert_int_equal(t.joins, SWEEP_DRAINS);
	}
	assert_int_equal(drains_wait(f, SWEEP_UIDS * SWEEP_DRAINS),
	    SWEEP_UIDS * SWEEP_DRAINS);

	ticks = daemon_cpu_ticks(f);
	t = qemu_peers_run(l, path, SWEEP_UID0, SWEEP_UID0, SWEEP_REFUSALS,
	    false);
	ticks = daemon_cpu_ticks(f) - ticks;
	us = ticks * 1000000 / hz / SWEEP_REFUSALS;
	print_message("%d drains; %u QEMUs of a uid holding 64 refused: the "
	    "daemon used %ld ms of CPU, %ld us each\n",
	    SWEEP_UIDS * SWEEP_DRAINS, t.refused, ticks * 1000 / hz, us);
	assert_int_equal(t.refused, SWEEP_REFUSALS);
	assert_true(us < SWEEP_REFUSAL_US);
}

#define LIMITS_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		LIMITS_TEST(test_requests_in_flight),
		LIMITS_TEST(test_queued_events),
		LIMITS_TEST(test_clients_per_connection),
		LIMITS_TEST(test_merged_events_hold_bounded_fds),
		LIMITS_TEST(test_max_connections),
		LIMITS_TEST(test_regions_and_clients),
		LIMITS_TEST(test_state_page_mappings),
		LIMITS_TEST(test_ivshmem_non_reader),
		LIMITS_TEST(test_fds_in_flight),
		LIMITS_TEST(test_outq_hog_spares_qemu),
		LIMITS_TEST(test_tenant_connections_drain),
		LIMITS_TEST(test_drain_keeps_its_place),
		LIMITS_TEST(test_fds_wait_idle),
		LIMITS_TEST(test_fds_wait_catches_up),
		LIMITS_TEST(test_fds_wait_asks_first),
		LIMITS_TEST(test_fds_uid_share_wait),
		LIMITS_TEST(test_fds_wait_slow_reader),
		LIMITS_TEST(test_fds_reader_never_waits),
		LIMITS_TEST(test_fds_share_waiter_holds_no_other_uid),
		LIMITS_TEST(test_qemu_drains_tenant_limit),
		LIMITS_TEST(test_qemu_drains_daemon_limit),
		LIMITS_TEST(test_qemu_refusals_cheap),
	};

	/* A daemon that fails keeps its log so that teardown can print it. */
	setenv("SHMBROKER_KEEP_LOGS", "1", 0);
	return cmocka_run_group_tests_name("integration.limits", tests, NULL,
	    NULL);
}
