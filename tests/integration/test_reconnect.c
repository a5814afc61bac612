/* SPDX-License-Identifier: ISC */
/*
 * test_reconnect: libshmclient across a daemon restart, without systemd and
 * without the fd store. The test starts shmbrokerd through the fixture,
 * stops it, and starts a new one on the same socket paths (the harness's
 * directory, so that its teardown stops and removes whichever daemon
 * runs last). Covered: a client with reconnect enabled gets through
 * its next call as if nothing happened, keeps its client ids (translated
 * both ways, also when the new daemon's ids collide with them), gets its
 * old index back when it is free, learns that the region is new memory,
 * loses only the attachments whose region did not come back (or that were
 * revoked), waits for a daemon that is slow to come back, gives up after
 * its timeout and then tries once at each next call, without the wait, until
 * one gets through; an admin connection keeps
 * its watch; without reconnect nothing changes. And shmc_connect to a
 * daemon killed with the hello unanswered fails as documented.
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "testcheck.h"

#define WAIT_MS 5000
#define RECONNECT_MS 10000
#define GIVE_UP_MS 300		/* a reconnect wait that runs out */
#define MAX_EVENTS 64

static const char conf_plain[] = "[broker]\ntenancy = open\nfd_store = no\n";
/* A configured region is there as soon as a new daemon listens. */
static const char conf_region[] =
    "[broker]\ntenancy = open\nfd_store = no\n\n[region cfg]\nsize = 64K\n";

/* Each test starts its first daemon itself, on its configuration. */
static int
setup(void **state)
{
	return fixture_new(state, sizeof(struct fixture)) != NULL ? 0 : -1;
}

static void
start_first(struct fixture *f, const char *conf)
{
	assert_int_equal(fixture_start(f, conf, NULL), 0);
}

/* A client connection the teardown closes. */
static struct shmc *
conn(struct fixture *f, const char *label, int reconnect_ms)
{
	struct shmc *c = fixture_connect(f, f->d.socket, label);

	shmc_set_reconnect(c, reconnect_ms);
	return c;
}

/* Ends the running daemon with sig (SIGTERM: it must exit cleanly). */
static void
stop_daemon(struct fixture *f, int sig)
{
	int rc = harness_end_daemon(&f->d, sig);

	if (sig == SIGTERM)
		assert_int_equal(rc, 0);
}

/* A new daemon on the same sockets, configuration and log, after
 * delay_ms (then not waited for: a client's reconnect has to wait). */
static void
start_again(struct fixture *f, int delay_ms)
{
	struct harness_restart how = { .delay_ms = delay_ms };

	assert_int_equal(fixture_restart(f, &how), 0);
}

static void
restart(struct fixture *f, int sig)
{
	stop_daemon(f, sig);
	start_again(f, 0);
}

static void
attach(struct shmc *c, const char *name, uint32_t pages, bool create,
    struct shmc_region *r)
{
	int rc = shmc_attach(c, name, pages, create, r);

	if (rc != SHMC_GSS_OK)
		fail_msg("attach %s: %d: %s", name, rc, shmc_error(c));
}

static uint32_t
status_of(struct shmc *c, uint64_t client_id)
{
	uint32_t st = 0;
	int rc = shmc_read_status(c, client_id, &st);

	if (rc < 0)
		fail_msg("read_status of client %llu: %s",
		    (unsigned long long)client_id, shmc_error(c));
	return st;
}

struct evlog {
	struct shmc_event ev[MAX_EVENTS];
	int n;
};

static void
evlog_cb(const struct shmc_event *ev, void *arg)
{
	struct evlog *l = arg;

	if (l->n < MAX_EVENTS && ev->kind != SHMC_EVENT_ADMIN)
		l->ev[l->n++] = *ev;
}

/* The first event of kind in l from position from on, dispatching c for
 * up to WAIT_MS; fails the test when none comes. */
static const struct shmc_event *
wait_event(struct shmc *c, struct evlog *l, enum shmc_event_kind kind,
    int from)
{
	int64_t deadline = harness_now_ms() + WAIT_MS;
	struct pollfd p = { .fd = shmc_event_fd(c), .events = POLLIN };

	for (;;) {
		for (int i = from; i < l->n; i++)
			if (l->ev[i].kind == kind)
				return &l->ev[i];
		if (harness_now_ms() > deadline)
			fail_msg("no event of kind %d within %d ms", (int)kind,
			    WAIT_MS);
		poll(&p, 1, 100);
		if (shmc_dispatch(c, evlog_cb, l) < 0)
			fail_msg("dispatch: %s", shmc_error(c));
	}
}

/* The regular path: the region is made again by another client, the
 * reconnecting one finds it, keeps its ids and its index. */
static void
test_reclaim_after_restart(void **state)
{
	struct fixture *f = *state;
	struct shmc *p1, *p2, *r, *q;
	struct shmc_region junk, a1, a2, rr1, rr2, rgone, q1, q2, n[4];
	struct evlog rlog = { .n = 0 }, qlog = { .n = 0 };
	const struct shmc_event *ev;
	uint32_t idx, delivered;
	bool same;
	int fds_before;

	start_first(f, conf_plain);
	p1 = conn(f, "p1", 0);
	p2 = conn(f, "p2", 0);
	r = conn(f, "reclaimer", RECONNECT_MS);
	/* Client ids above what the new daemon will give at first, so that
	 * its ids run into the ones the reclaimer keeps. */
	for (int i = 0; i < 3; i++) {
		attach(p1, "junk", 1, true, &junk);
		close(junk.fd);
		assert_int_equal(shmc_detach(p1, junk.client_id), 0);
	}
	attach(p1, "r1", 4, true, &a1);
	attach(p2, "r1", 4, false, &a2);
	attach(r, "r1", 4, false, &rr1);
	assert_int_equal(rr1.index, 2);
	attach(r, "r2", 2, true, &rr2);
	assert_int_equal(rr2.index, 0);
	attach(r, "gone", 1, true, &rgone);
	close(a1.fd);
	close(a2.fd);
	close(rgone.fd);
	assert_int_equal(shmc_attachment_info(r, rr1.client_id, &idx, &same),
	    0);
	assert_int_equal(idx, 2);
	assert_true(same);

	restart(f, SIGTERM);
	assert_int_equal(shmc_reconnects(r), 0);
	/* r1 and r2 are made again; gone is not. */
	q = conn(f, "q", 0);
	attach(q, "r1", 4, true, &q1);
	attach(q, "r2", 2, true, &q2);
	assert_true(q1.created && q2.created);
	assert_int_equal(q2.index, 0);
	close(q1.fd);
	close(q2.fd);

	/* The next call reconnects and re-claims, transparently; the
	 * re-attach fds are closed and the socket replaced, one for one.
	 * The eventfds follow the membership: r1's peers were p1 and p2 and
	 * are q now; gone's own eventfd and state page went with it; and
	 * r1's state page is mapped now, by the status read, which closes
	 * its fd. */
	fds_before = check_count_own_fds();
	assert_int_equal(status_of(r, rr1.client_id) >> 16, 0x5);
	assert_int_equal(shmc_reconnects(r), 1);
	assert_int_equal(check_count_own_fds(), fds_before - 1 - 1 - 1);
	assert_int_equal(shmc_attachment_info(r, rr1.client_id, &idx, &same),
	    0);
	assert_int_equal(idx, 2);		/* asked back, and free */
	assert_false(same);			/* no fd store: new memory */
	assert_int_equal(shmc_attachment_info(r, rr2.client_id, &idx, NULL),
	    0);
	assert_int_equal(idx, 1);		/* q took 0 meanwhile */
	assert_int_equal(status_of(r, rr2.client_id) >> 16, 0x3);
	ev = wait_event(q, &qlog, SHMC_EVENT_PEER_ATTACHED, 0);
	assert_int_equal(ev->client_id, q1.client_id);
	assert_int_equal(ev->index, 2);

	/* The region that did not come back is lost, and says so. */
	assert_int_equal(shmc_attachment_info(r, rgone.client_id, NULL, NULL),
	    -ENOENT);
	assert_int_equal(shmc_notify(r, rgone.client_id, 0xffffffff, NULL),
	    -ENOENT);
	assert_non_null(strstr(shmc_error(r), "gone"));
	assert_non_null(strstr(shmc_error(r), "restarted"));

	/* Old ids work both ways. */
	assert_int_equal(shmc_notify(r, rr1.client_id, 0x1, &delivered), 0);
	assert_int_equal(delivered, 0x1);
	ev = wait_event(q, &qlog, SHMC_EVENT_NOTIFICATION, 0);
	assert_int_equal(ev->client_id, q1.client_id);
	assert_int_equal(ev->index, 2);
	assert_int_equal(shmc_notify(q, q2.client_id, 0x2, &delivered), 0);
	assert_int_equal(delivered, 0x2);
	ev = wait_event(r, &rlog, SHMC_EVENT_NOTIFICATION, 0);
	assert_int_equal(ev->client_id, rr2.client_id);
	assert_int_equal(ev->index, 0);
	/* Whatever came before (peers leaving the old daemon) came with the
	 * caller's ids too. */
	for (int i = 0; i < rlog.n; i++)
		assert_true(rlog.ev[i].client_id == rr1.client_id ||
		    rlog.ev[i].client_id == rr2.client_id ||
		    rlog.ev[i].client_id == rgone.client_id);

	/* New attachments get ids of their own, even where the new daemon's
	 * ids run into the old ones, and each reaches its own client. */
	for (int i = 0; i < 4; i++) {
		char name[8];

		snprintf(name, sizeof(name), "n%d", i);
		attach(r, name, 1, true, &n[i]);
		close(n[i].fd);
		assert_int_not_equal(n[i].client_id, rr1.client_id);
		assert_int_not_equal(n[i].client_id, rr2.client_id);
		assert_int_not_equal(n[i].client_id, rgone.client_id);
		for (int j = 0; j < i; j++)
			assert_int_not_equal(n[i].client_id, n[j].client_id);
	}
	for (int i = 0; i < 4; i++) {
		char name[8];
		struct shmc_region again;

		assert_int_equal(status_of(r, n[i].client_id) >> 16, 0x1);
		assert_int_equal(shmc_detach(r, n[i].client_id), 0);
		snprintf(name, sizeof(name), "n%d", i);
		assert_int_equal(shmc_attach(q, name, 1, false, &again),
		    SHMC_GSS_DOES_NOT_EXIST);
		assert_int_equal(status_of(r, rr1.client_id) >> 16, 0x5);
	}

	/* Detach by the old id; the lost one is forgotten with -ENOENT. */
	assert_int_equal(shmc_detach(r, rr1.client_id), 0);
	ev = wait_event(q, &qlog, SHMC_EVENT_PEER_DETACHED, 0);
	assert_int_equal(ev->client_id, q1.client_id);
	assert_int_equal(ev->index, 2);
	assert_int_equal(status_of(q, q1.client_id) >> 16, 0x1);
	assert_int_equal(shmc_detach(r, rgone.client_id), -ENOENT);
	assert_int_equal(shmc_attachment_info(r, rgone.client_id, NULL, NULL),
	    -ENOENT);
	assert_int_equal(shmc_detach(r, rr2.client_id), 0);
	assert_int_equal(shmc_reconnects(r), 1);
}

/* A daemon that is not back yet is not waited for by shmc_dispatch (its
 * caller may hold a lock that doorbells take): the event fd notices the
 * loss, each dispatch tries once and the event fd is readable again for
 * the next try, until one gets through; the old index comes back though
 * a lower one is free. */
static void
test_reconnect_waits_for_daemon(void **state)
{
	struct fixture *f = *state;
	struct shmc *p, *r;
	struct shmc_region pr, rr;
	struct evlog log = { .n = 0 };
	struct pollfd pfd;
	int64_t deadline;
	uint32_t idx;
	int evfd, tries = 0;

	start_first(f, conf_region);
	p = conn(f, "p", 0);
	r = conn(f, "reclaimer", RECONNECT_MS);
	attach(p, "cfg", 0, false, &pr);
	attach(r, "cfg", 0, false, &rr);
	close(pr.fd);
	close(rr.fd);
	assert_int_equal(rr.index, 1);
	evfd = shmc_event_fd(r);

	stop_daemon(f, SIGKILL);
	start_again(f, 300);
	pfd = (struct pollfd){ .fd = evfd, .events = POLLIN };
	deadline = harness_now_ms() + WAIT_MS;
	while (shmc_reconnects(r) == 0 && harness_now_ms() < deadline) {
		assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
		if (shmc_dispatch(r, evlog_cb, &log) >= 0)
			continue;
		assert_non_null(strstr(shmc_error(r), "trying again"));
		tries++;
	}
	print_message("%d dispatches before the daemon was back\n", tries);
	assert_true(tries > 0);
	assert_int_equal(shmc_reconnects(r), 1);
	assert_int_equal(shmc_event_fd(r), evfd);
	assert_int_equal(shmc_attachment_info(r, rr.client_id, &idx, NULL), 0);
	assert_int_equal(idx, 1);
	assert_int_equal(status_of(r, rr.client_id) >> 16, 0x2);
}

/* Without shmc_set_reconnect a lost daemon stays lost, as before. */
static void
test_reconnect_off(void **state)
{
	struct fixture *f = *state;
	struct shmc *r;
	struct shmc_region rr;
	uint32_t st;
	int rc;

	start_first(f, conf_region);
	r = conn(f, "plain", 0);
	attach(r, "cfg", 0, false, &rr);
	close(rr.fd);
	restart(f, SIGTERM);
	rc = shmc_read_status(r, rr.client_id, &st);
	assert_true(rc == -EPIPE || rc == -ECONNRESET);
	rc = shmc_notify(r, rr.client_id, 0xffffffff, NULL);
	assert_true(rc == -EPIPE || rc == -ECONNRESET);
	assert_int_equal(shmc_reconnects(r), 0);
}

/* A reconnect that runs out of time fails the call; the next call tries
 * again. A revoked attachment is not re-claimed, though its region was
 * made again (by the configuration). */
static void
test_reconnect_gives_up_then_retries(void **state)
{
	struct fixture *f = *state;
	struct shmc *r;
	struct shmc_region rr, rv;
	struct evlog log = { .n = 0 };
	const struct shmc_event *ev;
	uint32_t st, detached = 0;
	int64_t t0, took;
	int rc;

	start_first(f, conf_region);
	r = conn(f, "reclaimer", GIVE_UP_MS);
	attach(r, "cfg", 0, false, &rv);
	close(rv.fd);
	assert_int_equal(check_admin_destroy(f->adm, "cfg", true,
	    &detached), 0);
	assert_int_equal(detached, 1);
	ev = wait_event(r, &log, SHMC_EVENT_REVOKED, 0);
	assert_int_equal(ev->client_id, rv.client_id);
	attach(r, "mine", 1, true, &rr);
	close(rr.fd);

	stop_daemon(f, SIGKILL);
	rc = shmc_read_status(r, rr.client_id, &st);
	assert_true(rc < 0);
	assert_non_null(strstr(shmc_error(r), "could not make a new one"));
	assert_non_null(strstr(shmc_error(r), "cannot connect to"));
	assert_int_equal(shmc_reconnects(r), 0);
	/* The next calls try once, not for the whole wait again: a guest
	 * that detaches 16 clients (a reset) waited 16 times as long. */
	t0 = harness_now_ms();
	for (int i = 0; i < 8; i++)
		assert_true(shmc_read_status(r, rr.client_id, &st) < 0);
	took = harness_now_ms() - t0;
	assert_non_null(strstr(shmc_error(r), "still away (tried once"));
	if (took >= 8 * GIVE_UP_MS / 2)
		fail_msg("8 calls with the daemon away took %lld ms, a wait "
		    "of %d ms each", (long long)took, GIVE_UP_MS);

	/* The daemon comes back with cfg (configured) but not "mine". */
	start_again(f, 0);
	rc = shmc_read_status(r, rv.client_id, &st);
	assert_int_equal(rc, -ENOENT);
	assert_non_null(strstr(shmc_error(r), "revoked"));
	assert_int_equal(shmc_reconnects(r), 1);
	assert_int_equal(shmc_read_status(r, rr.client_id, &st), -ENOENT);
	assert_non_null(strstr(shmc_error(r), "GSS_DOES_NOT_EXIST"));
}

/*
 * A peer notifies directly while the daemon is away and a reconnect has
 * failed: the notification is delivered and the event fd goes quiet.
 * shmc_dispatch once returned the socket's error before it read its own
 * eventfds, which then stayed readable: a caller that went on polling
 * (as the header asks) spun, 177,022 wakeups a second with no event (a
 * reviewer's measurement).
 */
static void
test_reconnect_away_notified(void **state)
{
	struct fixture *f = *state;
	struct shmc *r, *p;
	struct shmc_region rr, rp;
	struct evlog log = { .n = 0 };
	struct pollfd pf;
	uint32_t st;
	int wakeups = 0;
	int64_t end;

	start_first(f, conf_plain);
	r = conn(f, "away", GIVE_UP_MS);
	p = conn(f, "peer", 0);
	attach(r, "away", 1, true, &rr);
	close(rr.fd);
	attach(p, "away", 1, false, &rp);
	close(rp.fd);
	(void)wait_event(r, &log, SHMC_EVENT_PEER_ATTACHED, 0);
	stop_daemon(f, SIGKILL);
	assert_true(shmc_read_status(r, rr.client_id, &st) < 0);
	assert_int_equal(shmc_notify_direct(p, rp.client_id, 1u << rr.index),
	    0);
	pf = (struct pollfd){ .fd = shmc_event_fd(r), .events = POLLIN };
	for (end = harness_now_ms() + 1000; harness_now_ms() < end;) {
		if (poll(&pf, 1, 50) != 1)
			continue;
		wakeups++;
		(void)shmc_dispatch(r, evlog_cb, &log);
	}
	print_message("1 s of polling with the daemon away: %d wakeups\n",
	    wakeups);
	assert_true(wakeups < 50);
	for (int i = 0; i < log.n; i++)
		if (log.ev[i].kind == SHMC_EVENT_NOTIFICATION &&
		    log.ev[i].client_id == rr.client_id)
			return;
	fail_msg("the notification was not delivered");
}

struct admin_seen {
	bool created;		/* an admin event "create" of region "after" */
};

static void
admin_cb(const struct shmc_event *ev, void *arg)
{
	struct admin_seen *seen = arg;

	if (ev->kind == SHMC_EVENT_ADMIN && strcmp(ev->admin_kind, "create") ==
	    0 && strcmp(ev->region, "after") == 0)
		seen->created = true;
}

/* An admin connection: a raw call (shmc_call) reconnects too, and the
 * admin watch is renewed on the new connection. */
static void
test_reconnect_admin_watch(void **state)
{
	struct fixture *f = *state;
	struct admin_seen seen = { false };
	struct pollfd p;
	struct shmc *adm;
	int64_t deadline;

	start_first(f, conf_plain);
	adm = fixture_connect(f, f->d.admin_socket, "watcher");
	shmc_set_reconnect(adm, RECONNECT_MS);
	assert_int_equal(shmc_admin_watch(adm), 0);
	restart(f, SIGTERM);
	assert_int_equal(check_admin_create(adm, "after", 1), 0);
	assert_int_equal(shmc_reconnects(adm), 1);
	p = (struct pollfd){ .fd = shmc_event_fd(adm), .events = POLLIN };
	deadline = harness_now_ms() + WAIT_MS;
	while (!seen.created && harness_now_ms() < deadline) {
		poll(&p, 1, 100);
		assert_true(shmc_dispatch(adm, admin_cb, &seen) >= 0);
	}
	assert_true(seen.created);
}

/*
 * A daemon that dies with a hello unanswered: shmc_connect says
 * -ECONNRESET, as shmclient.h documents, with no reason (there is none),
 * and hands nothing out. The daemon is stopped first, so that the hello
 * is certainly sent and waits in its backlog when it is killed.
 */
static void
test_connect_daemon_killed_in_hello(void **state)
{
	struct fixture *f = *state;
	struct shmc *c = (struct shmc *)1;
	pid_t daemon, killer;
	char err[256] = "";
	int rc, ws;

	start_first(f, conf_plain);
	daemon = f->d.pid;
	assert_int_equal(kill(daemon, SIGSTOP), 0);
	if ((killer = fork()) == 0) {
		harness_sleep_ms(300);
		_exit(kill(daemon, SIGKILL) == 0 ? 0 : 1);
	}
	assert_true(killer > 0);
	rc = shmc_connect(f->d.socket, "in-hello", WAIT_MS, &c, err,
	    sizeof(err));
	assert_int_equal(waitpid(killer, &ws, 0), killer);
	assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	assert_int_equal(rc, -ECONNRESET);
	assert_null(c);
	assert_non_null(strstr(err, "shmbrokerd"));
	stop_daemon(f, SIGKILL);
	start_again(f, 0);
}

/*
 * The events a re-claim queues about an attachment (here: its peer has
 * not come back) are stale once the caller detaches it: they were
 * delivered all the same, under an id a later attachment may get (a
 * reviewer's find). A detach drops them.
 */
static void
test_detach_drops_reclaim_events(void **state)
{
	struct fixture *f = *state;
	struct shmc_region pa, ra, rb, again;
	struct evlog log = { .n = 0 };
	struct shmc *p, *r;

	start_first(f, "[broker]\ntenancy = open\nfd_store = no\n\n"
	    "[region cfg]\nsize = 64K\n\n[region two]\nsize = 64K\n");
	p = conn(f, "peer", 0);
	r = conn(f, "reclaimer", RECONNECT_MS);
	attach(p, "cfg", 16, false, &pa);
	attach(r, "cfg", 16, false, &ra);
	attach(r, "two", 16, false, &rb);
	close(pa.fd);
	close(ra.fd);
	close(rb.fd);
	harness_sleep_ms(100);
	(void)shmc_dispatch(r, evlog_cb, &log);
	log.n = 0;
	restart(f, SIGKILL);
	/* r re-claims both; p does not come back, so ra's peer is gone. */
	(void)status_of(r, rb.client_id);
	assert_int_equal(shmc_reconnects(r), 1);
	assert_int_equal(shmc_detach(r, ra.client_id), 0);
	attach(r, "cfg", 16, false, &again);
	close(again.fd);
	harness_sleep_ms(100);
	(void)shmc_dispatch(r, evlog_cb, &log);
	for (int i = 0; i < log.n; i++)
		if (log.ev[i].client_id == ra.client_id)
			fail_msg("event %d for client %llu, detached before",
			    (int)log.ev[i].kind,
			    (unsigned long long)ra.client_id);
}

/*
 * An attachment whose eventfd the caller took, asked for it again between
 * a reconnect and the EVENTFD_CHANGED that says so: it got the new one,
 * which a second reconnect before the dispatch closed (as never handed
 * out), so the caller held a closed fd number (a reviewer's find). It now
 * gets the one it had until the event, which names both, is dispatched.
 */
static void
test_eventfd_across_two_reconnects(void **state)
{
	struct fixture *f = *state;
	struct evlog log = { .n = 0 };
	const struct shmc_event *ev;
	struct shmc_region rr;
	struct shmc *r;
	uint32_t st;
	int e1, e2;

	start_first(f, conf_region);
	r = conn(f, "claimer", RECONNECT_MS);
	attach(r, "cfg", 0, false, &rr);
	close(rr.fd);
	assert_true((e1 = shmc_attachment_eventfd(r, rr.client_id)) >= 0);
	restart(f, SIGTERM);
	assert_int_equal(shmc_read_status(r, rr.client_id, &st), 0);
	assert_int_equal(shmc_reconnects(r), 1);
	e2 = shmc_attachment_eventfd(r, rr.client_id);
	assert_int_equal(e2, e1);
	restart(f, SIGTERM);
	assert_int_equal(shmc_read_status(r, rr.client_id, &st), 0);
	assert_int_equal(shmc_reconnects(r), 2);
	assert_true(fcntl(e2, F_GETFD) >= 0);
	ev = wait_event(r, &log, SHMC_EVENT_EVENTFD_CHANGED, 0);
	assert_int_equal(ev->old_eventfd, e1);
	assert_true(ev->eventfd >= 0 && ev->eventfd != e1);
	assert_int_equal(shmc_attachment_eventfd(r, rr.client_id),
	    ev->eventfd);
}

/*
 * Dispatch's one attempt when the socket takes the connect but nobody
 * answers (systemd holds it while the daemon restarts): its hello waited
 * the whole call timeout (5 s) with the caller's lock held (a reviewer's
 * find). Each of its calls now waits 200 ms at most, the retries then go
 * on, and once the daemon answers one gets through and the timer goes
 * quiet.
 */
static void
test_dispatch_held_socket(void **state)
{
	struct fixture *f = *state;
	struct evlog log = { .n = 0 };
	struct shmc_region rr;
	struct pollfd p;
	int64_t t0, took;
	struct shmc *r;
	int held, tries = 0;

	start_first(f, conf_region);
	r = conn(f, "held", RECONNECT_MS);
	attach(r, "cfg", 0, false, &rr);
	close(rr.fd);
	stop_daemon(f, SIGTERM);
	/* What systemd holds while a socket-activated daemon restarts: it
	 * takes connections, and nobody answers. */
	(void)unlink(f->d.socket);
	held = harness_listen_raw(f->d.socket, 64);
	assert_true(held >= 0);
	p = (struct pollfd){ .fd = shmc_event_fd(r), .events = POLLIN };
	assert_int_equal(poll(&p, 1, WAIT_MS), 1);
	t0 = harness_now_ms();
	assert_true(shmc_dispatch(r, evlog_cb, &log) < 0);
	took = harness_now_ms() - t0;
	print_message("one attempt on a held socket: %lld ms: %s\n",
	    (long long)took, shmc_error(r));
	assert_non_null(strstr(shmc_error(r), "trying again"));
	assert_true(took < SHMC_DEFAULT_TIMEOUT_MS / 2);
	close(held);

	start_again(f, 0);
	while (shmc_reconnects(r) == 0) {
		assert_int_equal(poll(&p, 1, WAIT_MS), 1);
		if (shmc_dispatch(r, evlog_cb, &log) < 0)
			assert_true(++tries < RECONNECT_MS / 50);
	}
	assert_int_equal(status_of(r, rr.client_id) >> 16, 0x1);
	/* No timer left behind: nothing wakes the caller now. */
	(void)shmc_dispatch(r, evlog_cb, &log);
	assert_int_equal(poll(&p, 1, 300), 0);
}

/* A daemon that stays away past reconnect_ms: dispatch says so, and the
 * event fd goes quiet (the next call tries again). */
static void
test_dispatch_gives_up(void **state)
{
	struct fixture *f = *state;
	struct evlog log = { .n = 0 };
	struct shmc_region rr;
	struct pollfd p;
	int64_t deadline;
	struct shmc *r;
	int wakes = 0;

	start_first(f, conf_region);
	r = conn(f, "gives up", GIVE_UP_MS);
	attach(r, "cfg", 0, false, &rr);
	close(rr.fd);
	stop_daemon(f, SIGKILL);
	p = (struct pollfd){ .fd = shmc_event_fd(r), .events = POLLIN };
	deadline = harness_now_ms() + WAIT_MS;
	while (strstr(shmc_error(r), "could not make a new one") == NULL) {
		assert_true(harness_now_ms() < deadline);
		assert_int_equal(poll(&p, 1, WAIT_MS), 1);
		assert_true(shmc_dispatch(r, evlog_cb, &log) < 0);
		wakes++;
	}
	print_message("%d dispatches in a window of %d ms\n", wakes,
	    GIVE_UP_MS);
	assert_true(wakes <= GIVE_UP_MS / 50 + 2);
	assert_int_equal(poll(&p, 1, 500), 0);
	start_again(f, 0);
}

#define RECONNECT_TEST(fn) \
	cmocka_unit_test_setup_teardown(fn, setup, fixture_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		RECONNECT_TEST(test_reclaim_after_restart),
		RECONNECT_TEST(test_detach_drops_reclaim_events),
		RECONNECT_TEST(test_reconnect_waits_for_daemon),
		RECONNECT_TEST(test_reconnect_off),
		RECONNECT_TEST(test_reconnect_gives_up_then_retries),
		RECONNECT_TEST(test_reconnect_away_notified),
		RECONNECT_TEST(test_reconnect_admin_watch),
		RECONNECT_TEST(test_connect_daemon_killed_in_hello),
		RECONNECT_TEST(test_eventfd_across_two_reconnects),
		RECONNECT_TEST(test_dispatch_held_socket),
		RECONNECT_TEST(test_dispatch_gives_up),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
