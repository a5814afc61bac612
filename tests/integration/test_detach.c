/* SPDX-License-Identifier: ISC */
/*
 * test_detach: an admin detaches one client (AdminDetach, what `shmctl
 * detach` sends) against the real daemon, with clients on libshmclient.
 * The client hears ClientRevoked with force_detached and can no longer
 * notify or read; its peers hear it leave (PeerChanged) and go on with
 * the region; the daemon drops the client's descriptors, logs who asked
 * and tells watchers; a guest's region left without clients goes. By
 * client id and by region and index, and the refusals: no such client,
 * region or index, and the request on the VMM socket.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "testcheck.h"

#define WAIT_MS 5000
#define MAX_SEEN 16

/* The events a connection dispatched, in order. */
struct seen {
	struct shmc_event ev[MAX_SEEN];
	char kind[MAX_SEEN][16];	/* an admin event's kind */
	int n;
};

static void
record_cb(const struct shmc_event *ev, void *arg)
{
	struct seen *s = arg;

	if (s->n == MAX_SEEN)
		return;
	s->ev[s->n] = *ev;
	if (ev->kind == SHMC_EVENT_ADMIN)
		snprintf(s->kind[s->n], sizeof(s->kind[0]), "%s",
		    ev->admin_kind);
	s->n++;
}

/* Dispatches c into s until it holds n events; fails the test when
 * they do not come in WAIT_MS. */
static void
wait_events(struct shmc *c, struct seen *s, int n)
{
	int64_t end = harness_now_ms() + WAIT_MS;
	struct pollfd p = { .fd = shmc_event_fd(c), .events = POLLIN };

	while (s->n < n) {
		if (harness_now_ms() > end)
			fail_msg("%d events in %d ms, not %d", s->n, WAIT_MS,
			    n);
		poll(&p, 1, 100);
		assert_true(shmc_dispatch(c, record_cb, s) >= 0);
	}
}

/* The first event of kind that c dispatched into s, waiting for it. */
static const struct shmc_event *
wait_event(struct shmc *c, struct seen *s, enum shmc_event_kind kind)
{
	for (int i = 0;; i++) {
		wait_events(c, s, i + 1);
		if (s->ev[i].kind == kind)
			return &s->ev[i];
	}
}

static struct shmc *
vmm(struct fixture *f, const char *label)
{
	return fixture_connect(f, f->d.socket, label);
}

static void
attach(struct fixture *f, struct shmc *c, const char *name, bool create,
    struct shmc_region *r)
{
	int rc = fixture_attach(f, c, name, 1, create, r);

	if (rc != SHMC_GSS_OK)
		fail_msg("attach %s: %d: %s", name, rc, shmc_error(c));
}

/* AdminDetach on adm: the daemon's error; on success the reply must
 * describe the client that was detached, which *out (may be NULL) gets. */
static int
admin_detach(struct shmc *adm, uint64_t id, const char *region,
    uint32_t index, uint64_t *out)
{
	Shmbroker__ServerMessage *m = NULL;
	int err;

	assert_int_equal(shmc_admin_detach(adm, id, region, index, &m), 0);
	err = (int)m->error;
	if (err == SHMBROKER__ERROR__ERR_NONE) {
		assert_int_equal(m->body_case,
		    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_DETACH);
		assert_non_null(m->admin_detach->client);
		if (region != NULL) {
			assert_string_equal(m->admin_detach->client->region,
			    region);
			assert_int_equal(m->admin_detach->client->index,
			    index);
		} else {
			assert_int_equal(m->admin_detach->client->client_id,
			    id);
		}
		if (out != NULL)
			*out = m->admin_detach->client->client_id;
	} else {
		assert_true(m->message[0] != '\0');
	}
	shmbroker__server_message__free_unpacked(m, NULL);
	return err;
}

/*
 * Two clients of an admin region, a watcher; the admin detaches the
 * second by its id. It is told it was detached alone, the first that it
 * left; the region lives on with the first; the daemon holds what it
 * held before the second came, logs the admin's pid and uid, and the
 * watcher sees the revoke, then the detach. The index is free again.
 */
static void
test_detach_by_id(void **state)
{
	struct fixture *f = *state;
	struct shmc *a = vmm(f, "keeps"), *b = vmm(f, "goes");
	struct shmc *w = fixture_connect(f, f->d.admin_socket, "watcher");
	struct seen sa = { .n = 0 }, sb = { .n = 0 }, sw = { .n = 0 };
	const struct shmc_event *ev;
	struct shmc_region ra, rb, again;
	char who[96];
	uint32_t st = 1;
	uint64_t got = 0;
	int base;

	assert_int_equal(check_admin_create(f->adm, "d1", 1), 0);
	attach(f, a, "d1", false, &ra);
	base = harness_settled_fd_count(f->d.pid);
	attach(f, b, "d1", false, &rb);
	assert_int_equal(rb.index, 1);
	assert_int_equal(shmc_admin_watch(w), 0);

	assert_int_equal(admin_detach(f->adm, rb.client_id, NULL, 0, &got),
	    SHMBROKER__ERROR__ERR_NONE);
	assert_int_equal(got, rb.client_id);

	ev = wait_event(b, &sb, SHMC_EVENT_REVOKED);
	assert_int_equal(ev->client_id, rb.client_id);
	assert_true(ev->force_detached);
	assert_int_equal(shmc_status_direct(b, rb.client_id, 0, &st), 0);
	assert_int_equal(st, 0);
	assert_int_equal(shmc_notify_direct(b, rb.client_id, 0x1), -ENOENT);

	ev = wait_event(a, &sa, SHMC_EVENT_PEER_DETACHED);
	assert_int_equal(ev->client_id, ra.client_id);
	assert_int_equal(ev->index, 1);
	assert_int_equal(ev->active_mask, 0x1);
	assert_int_equal(check_admin_clients(f->adm, "d1"), 1);
	assert_int_equal(harness_wait_fd_count(f->d.pid, base, WAIT_MS), base);

	assert_int_equal(fixture_log_lines(f,
	    "detached by an admin (connection ", "client "), 1);
	assert_int_equal(fixture_log_lines(f, "(region d1, index 1, ",
	    "detached by an admin"), 1);
	snprintf(who, sizeof(who), "pid %d, uid %u)\n", (int)getpid(),
	    (unsigned)getuid());
	assert_int_equal(fixture_log_lines(f, "detached by an admin", who), 1);

	/* The revoke, by the admin's connection, then the detach. */
	wait_events(w, &sw, 2);
	assert_string_equal(sw.kind[0], "revoke");
	assert_int_equal(sw.ev[0].admin_index, 1);
	assert_string_equal(sw.kind[1], "detach");
	assert_int_equal(sw.ev[1].admin_index, 1);
	assert_int_equal(sw.ev[1].active_mask, 0x1);
	assert_true(sw.ev[0].connection_id != sw.ev[1].connection_id);

	/* The library lets go of it; the index is free for a newcomer. */
	assert_int_equal(shmc_detach(b, rb.client_id), -ENOENT);
	assert_int_equal(shmc_attachment_info(b, rb.client_id, NULL, NULL),
	    -ENOENT);
	attach(f, b, "d1", false, &again);
	assert_int_equal(again.index, 1);
	assert_int_equal(again.active_mask, 0x3);
}

/*
 * By region and index: the last client of a guest's region takes the
 * region with it, as its own detach would; an admin's region stays
 * without clients.
 */
static void
test_detach_by_index(void **state)
{
	struct fixture *f = *state;
	struct shmc *a = vmm(f, "creator"), *b = vmm(f, "other");
	struct seen sa = { .n = 0 }, sb = { .n = 0 };
	const struct shmc_event *ev;
	struct shmc_region rg, rd, again;
	uint32_t regions, clients;

	attach(f, a, "g1", true, &rg);
	assert_true(rg.created);
	assert_int_equal(check_admin_create(f->adm, "d2", 1), 0);
	attach(f, b, "d2", false, &rd);
	assert_int_equal(admin_detach(f->adm, 0, "g1", 0, NULL),
	    SHMBROKER__ERROR__ERR_NONE);
	ev = wait_event(a, &sa, SHMC_EVENT_REVOKED);
	assert_int_equal(ev->client_id, rg.client_id);
	assert_true(ev->force_detached);
	assert_int_equal(check_admin_show(f->adm, "g1").error,
	    SHMBROKER__ERROR__ERR_NOT_FOUND);

	assert_int_equal(admin_detach(f->adm, 0, "d2", 0, NULL),
	    SHMBROKER__ERROR__ERR_NONE);
	ev = wait_event(b, &sb, SHMC_EVENT_REVOKED);
	assert_int_equal(ev->client_id, rd.client_id);
	assert_true(ev->force_detached);
	assert_int_equal(check_admin_clients(f->adm, "d2"), 0);
	check_admin_counts(f->adm, &regions, &clients);
	assert_int_equal(regions, 1);
	assert_int_equal(clients, 0);

	/* A destroy's revoke is not a detach of one client. */
	attach(f, a, "d2", false, &again);
	assert_int_equal(check_admin_destroy(f->adm, "d2", true, NULL), 0);
	sa.n = 0;
	ev = wait_event(a, &sa, SHMC_EVENT_REVOKED);
	assert_int_equal(ev->client_id, again.client_id);
	assert_false(ev->force_detached);
}

/* What names no client is refused, and nothing changes; so is the
 * request on the VMM socket, which is no admin's. */
static void
test_detach_refused(void **state)
{
	struct fixture *f = *state;
	struct shmc *a = vmm(f, "stays");
	struct shmc_region r;
	Shmbroker__ServerMessage *m = NULL;

	assert_int_equal(check_admin_create(f->adm, "d3", 1), 0);
	attach(f, a, "d3", false, &r);
	assert_int_equal(admin_detach(f->adm, r.client_id + 1000, NULL, 0,
	    NULL), SHMBROKER__ERROR__ERR_NOT_FOUND);
	assert_int_equal(admin_detach(f->adm, 0, "nope", 0, NULL),
	    SHMBROKER__ERROR__ERR_NOT_FOUND);
	assert_int_equal(admin_detach(f->adm, 0, "d3", 1, NULL),
	    SHMBROKER__ERROR__ERR_NOT_FOUND);
	assert_int_equal(admin_detach(f->adm, 0, "d3", 16, NULL),
	    SHMBROKER__ERROR__ERR_NOT_FOUND);
	assert_int_equal(admin_detach(f->adm, 0, "d3", 0xffffffffu, NULL),
	    SHMBROKER__ERROR__ERR_NOT_FOUND);
	assert_int_equal(shmc_admin_detach(a, r.client_id, NULL, 0, &m), 0);
	assert_int_equal(m->error, SHMBROKER__ERROR__ERR_NOT_PERMITTED);
	shmbroker__server_message__free_unpacked(m, NULL);
	assert_int_equal(check_admin_clients(f->adm, "d3"), 1);
	check_round_trip(a, r.client_id);
	assert_int_equal(shmc_notify_direct(a, r.client_id, 0x2), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		FIXTURE_TEST(test_detach_by_id),
		FIXTURE_TEST(test_detach_by_index),
		FIXTURE_TEST(test_detach_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
