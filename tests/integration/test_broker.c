/* SPDX-License-Identifier: ISC */
/*
 * test_broker: integration tests of shmbrokerd's VMM service: zero copy
 * between processes, notifications, membership events, a killed client,
 * and the lifetimes of guest, admin and revoked regions. Each test starts
 * a real daemon (the fixture) and drives it from real client processes,
 * the forked peers of peers.h, and where it must map region memory or
 * inspect a memfd from the test process itself. The limits and the
 * memory behind regions are test_broker_limits'.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "peers.h"
#include "testcheck.h"

#define PAGE 4096u

/* The fixture and the test's peers. */
struct broker {
	struct fixture fx;	/* first: fixture_teardown frees it whole */
	struct peers peers;
};

static int
setup(void **state)
{
	static const char *const never[] = { "--hugepages", "never", NULL };

	return fixture_begin(state, sizeof(struct broker), NULL, never);
}

static int
teardown(void **state)
{
	struct broker *b = *state;

	peers_kill(&b->peers);
	return fixture_teardown(state);
}

/* A peer connected to the daemon's VMM socket. */
static struct peer *
new_peer(struct broker *b)
{
	return peer_new(&b->peers, b->fx.d.socket);
}

/* A connection of the test process's own. */
static struct shmc *
conn(struct fixture *f)
{
	return fixture_connect(f, f->d.socket, "test");
}

/* ---- 1. zero copy ---- */

static void
test_zero_copy(void **state)
{
	struct broker *br = *state;
	struct fixture *f = &br->fx;
	struct shmc *a = conn(f);
	struct peer *b = new_peer(br);
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
	peer_pattern_fill(map, len, 1);

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
	assert_int_equal(peer_pattern_mismatches(map, len, 2), 0);

	/* Create-or-attach of an existing region does not resize it either. */
	assert_int_equal(peer_attach(b, "zc", 32, true, &rb2, &slot2),
	    SHMC_GSS_OK);
	assert_false(rb2.created);
	assert_int_equal(rb2.index, 2);
	assert_int_equal(rb2.active_mask, 0x7);
	assert_int_equal(rb2.size_pages, 16);
	peer_pattern_fill(map, len, 3);
	assert_int_equal(peer_slot_op(b, PEER_VERIFY, slot, 3), 0);
	assert_int_equal(peer_slot_op(b, PEER_VERIFY, slot2, 3), 0);
}

/*
 * Where shmem uses transparent huge pages, a shmem memfd reports the huge
 * page size as st_blksize, as a hugetlbfs one does: libshmclient's check
 * of an attach reply against its memfd once took every such region for a
 * hugetlb one the daemon had called shmem, and refused it. The host's
 * shmem setting is changed for the attach and put back.
 */
#define THP_SHMEM "/sys/kernel/mm/transparent_hugepage/shmem_enabled"

static int
thp_shmem_set(const char *mode)
{
	FILE *fp = fopen(THP_SHMEM, "we");
	int rc;

	if (fp == NULL)
		return -1;
	rc = fputs(mode, fp) < 0 ? -1 : 0;
	return fclose(fp) != 0 ? -1 : rc;
}

static void
test_shmem_thp(void **state)
{
	struct broker *br = *state;
	struct fixture *f = &br->fx;
	struct shmc *a = conn(f);
	struct shmc_region r;
	char was[128] = "", *open_br, *close_br;
	FILE *fp = fopen(THP_SHMEM, "re");
	int rc;

	if (fp == NULL || fgets(was, sizeof(was), fp) == NULL ||
	    (open_br = strchr(was, '[')) == NULL ||
	    (close_br = strchr(open_br, ']')) == NULL) {
		if (fp != NULL)
			fclose(fp);
		skip();		/* no THP here */
	}
	fclose(fp);
	*close_br = '\0';
	if (thp_shmem_set("always") < 0)
		skip();		/* not root */
	rc = shmc_attach(a, "thp", 1, true, &r);
	(void)thp_shmem_set(open_br + 1);
	if (rc != SHMC_GSS_OK)
		fail_msg("attach with shmem THP on: %d %s", rc, shmc_error(a));
	assert_false(r.hugetlb);
	close(r.fd);
}

/* ---- 2. notify ---- */

static void
test_notify(void **state)
{
	struct broker *br = *state;
	struct peer *p[3];
	struct shmc_region r[3];
	int slot[3];
	uint32_t st;

	for (int i = 0; i < 3; i++) {
		p[i] = new_peer(br);
		assert_int_equal(peer_attach(p[i], "nt", 4, true, &r[i],
		    &slot[i]), SHMC_GSS_OK);
		assert_int_equal(r[i].index, (uint32_t)i);
	}
	for (int i = 0; i < 3; i++)
		peer_drain(p[i]);

	/* A single target. */
	assert_int_equal(peer_slot_op(p[0], PEER_NOTIFY, slot[0], 0x2), 0x2);
	peer_expect_notification(p[1], r[1].client_id, 0, 0x1);
	peer_expect_quiet(p[2]);
	peer_expect_quiet(p[0]);
	st = peer_slot_op(p[1], PEER_STATUS, slot[1], 0);
	assert_int_equal(st & 0xffff, 0x1);
	assert_int_equal(st >> 16, 0x7);
	st = peer_slot_op(p[1], PEER_STATUS, slot[1], 0);
	assert_int_equal(st, 0x7u << 16);

	/* Every other client, not the sender. */
	assert_int_equal(peer_slot_op(p[0], PEER_NOTIFY, slot[0], 0xffffffff),
	    0x6);
	peer_expect_notification(p[1], r[1].client_id, 0, 0x1);
	peer_expect_notification(p[2], r[2].client_id, 0, 0x1);
	peer_expect_quiet(p[0]);

	/* Pending bits accumulate until read. */
	assert_int_equal(peer_slot_op(p[2], PEER_NOTIFY, slot[2], 0x2), 0x2);
	peer_expect_notification(p[1], r[1].client_id, 2, 0x5);
	st = peer_slot_op(p[1], PEER_STATUS, slot[1], 0);
	assert_int_equal(st, 0x5 | (0x7u << 16));
	st = peer_slot_op(p[2], PEER_STATUS, slot[2], 0);
	assert_int_equal(st, 0x1 | (0x7u << 16));
	st = peer_slot_op(p[2], PEER_STATUS, slot[2], 0);
	assert_int_equal(st, 0x7u << 16);

	/* Bits of absent indices (3, 8-15) and bits 16-31 are ignored. */
	assert_int_equal(peer_slot_op(p[0], PEER_NOTIFY, slot[0],
	    0x0005ff08 | 0x4), 0x4);
	peer_expect_notification(p[2], r[2].client_id, 0, 0x1);
	peer_expect_quiet(p[1]);
	assert_int_equal(peer_slot_op(p[0], PEER_NOTIFY, slot[0], 0xfff8), 0);
	peer_expect_quiet(p[1]);
	peer_expect_quiet(p[2]);

	/* The sender was never notified so far. */
	st = peer_slot_op(p[0], PEER_STATUS, slot[0], 0);
	assert_int_equal(st, 0x7u << 16);

	/* After a detach the mask shrinks and its bit is ignored, but the
	 * bits it set stay pending until read. */
	assert_int_equal(peer_slot_op(p[1], PEER_NOTIFY, slot[1], 0x1), 0x1);
	peer_expect_notification(p[0], r[0].client_id, 1, 0x2);
	peer_slot_op(p[1], PEER_DETACH, slot[1], 0);
	peer_expect_changed(p[0], false, r[0].client_id, 1, 0x5);
	peer_expect_changed(p[2], false, r[2].client_id, 1, 0x5);
	st = peer_slot_op(p[0], PEER_STATUS, slot[0], 0);
	assert_int_equal(st, 0x2 | (0x5u << 16));
	assert_int_equal(peer_slot_op(p[0], PEER_NOTIFY, slot[0], 0xffffffff),
	    0x4);
	assert_int_equal(peer_slot_op(p[0], PEER_NOTIFY, slot[0], 0x2), 0);
	peer_expect_notification(p[2], r[2].client_id, 0, 0x1);
	peer_expect_quiet(p[2]);
	peer_expect_quiet(p[1]);
}

/* ---- 3. membership events ---- */

static void
test_membership(void **state)
{
	struct broker *br = *state;
	struct peer *a = new_peer(br), *b = new_peer(br), *c = new_peer(br);
	struct shmc_region ra, rb, rc;
	int sa, sb, sc;

	assert_int_equal(peer_attach(a, "mb", 1, true, &ra, &sa), SHMC_GSS_OK);
	assert_int_equal(ra.active_mask, 0x1);
	assert_int_equal(peer_attach(b, "mb", 1, true, &rb, &sb), SHMC_GSS_OK);
	assert_int_equal(rb.active_mask, 0x3);
	peer_expect_changed(a, true, ra.client_id, 1, 0x3);
	assert_int_equal(peer_attach(c, "mb", 1, false, &rc, &sc),
	    SHMC_GSS_OK);
	assert_int_equal(rc.index, 2);
	assert_int_equal(rc.active_mask, 0x7);
	peer_expect_changed(a, true, ra.client_id, 2, 0x7);
	peer_expect_changed(b, true, rb.client_id, 2, 0x7);
	peer_expect_quiet(a);
	peer_expect_quiet(b);
	peer_drain(c);

	/* A detach, then the lowest free index is reused. */
	peer_slot_op(b, PEER_DETACH, sb, 0);
	peer_expect_changed(a, false, ra.client_id, 1, 0x5);
	peer_expect_changed(c, false, rc.client_id, 1, 0x5);
	peer_expect_quiet(b);
	assert_int_equal(peer_attach(b, "mb", 1, false, &rb, &sb),
	    SHMC_GSS_OK);
	assert_int_equal(rb.index, 1);
	assert_int_equal(rb.active_mask, 0x7);
	peer_expect_changed(a, true, ra.client_id, 1, 0x7);
	peer_expect_changed(c, true, rc.client_id, 1, 0x7);

	/* A connection that closes detaches its clients. */
	peer_close(c);
	peer_expect_changed(a, false, ra.client_id, 2, 0x3);
	peer_expect_changed(b, false, rb.client_id, 2, 0x3);
	peer_slot_op(a, PEER_DETACH, sa, 0);
	peer_expect_changed(b, false, rb.client_id, 0, 0x2);
	peer_expect_quiet(a);
	peer_expect_quiet(b);
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

	peer_expect_event(p, SHMC_EVENT_PEER_DETACHED, client_id, &e1);
	peer_expect_event(p, SHMC_EVENT_PEER_DETACHED, client_id, &e2);
	assert_true((e1.index == i && e2.index == j) ||
	    (e1.index == j && e2.index == i));
	assert_int_equal(e1.active_mask, rest | (1u << e2.index));
	assert_int_equal(e2.active_mask, rest);
}

static void
test_killed_client(void **state)
{
	struct broker *br = *state;
	struct peer *s = new_peer(br), *k = new_peer(br), *x = new_peer(br);
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
	peer_expect_changed(s, false, rs.client_id, 1, 0x5);
	peer_expect_changed(x, false, rx.client_id, 1, 0x5);

	m = new_peer(br);
	assert_int_equal(peer_attach(m, "kill", 2, true, &rm, NULL),
	    SHMC_GSS_OK);
	assert_false(rm.created);
	assert_int_equal(rm.index, 1);
	assert_int_equal(rm.active_mask, 0x7);
	peer_expect_changed(s, true, rs.client_id, 1, 0x7);
	peer_expect_changed(x, true, rx.client_id, 1, 0x7);

	/* Two dead at once: the next attacher takes the lower index. */
	peer_kill(m);
	peer_kill(s);
	expect_two_detached(x, rx.client_id, 0, 1, 0x4);
	m = new_peer(br);
	assert_int_equal(peer_attach(m, "kill", 2, true, &rm, NULL),
	    SHMC_GSS_OK);
	assert_int_equal(rm.index, 0);
	assert_int_equal(rm.active_mask, 0x5);
}

/* ---- 5. lifetimes ---- */

static void
test_lifetime_guest(void **state)
{
	struct broker *br = *state;
	struct fixture *f = &br->fx;
	struct peer *a = new_peer(br), *b = new_peer(br);
	struct shmc *adm = f->adm;
	struct shmc_region ra, rb;
	int sa, sb;

	assert_int_equal(peer_attach(a, "guest", 2, true, &ra, &sa),
	    SHMC_GSS_OK);
	assert_int_equal(peer_attach(b, "guest", 2, false, &rb, &sb),
	    SHMC_GSS_OK);
	peer_slot_op(a, PEER_DETACH, sa, 0);
	peer_expect_changed(b, false, rb.client_id, 0, 0x2);
	assert_int_equal(check_admin_clients(adm, "guest"), 1);
	peer_slot_op(b, PEER_DETACH, sb, 0);
	assert_int_equal(check_admin_clients(adm, "guest"), -1);
	assert_int_equal(peer_attach(a, "guest", 2, false, NULL, NULL),
	    SHMC_GSS_DOES_NOT_EXIST);

	/* Closing the connections detaches their clients, and the last one
	 * takes the region with it. */
	assert_int_equal(peer_attach(a, "guest2", 2, true, &ra, &sa),
	    SHMC_GSS_OK);
	assert_int_equal(peer_attach(b, "guest2", 2, false, &rb, &sb),
	    SHMC_GSS_OK);
	peer_close(a);
	peer_expect_changed(b, false, rb.client_id, 0, 0x2);
	peer_close(b);
	assert_int_equal(check_admin_wait_clients(adm, "guest2", -1), -1);
}

static void
test_lifetime_admin(void **state)
{
	struct fixture *f = *state;
	struct shmc *adm = f->adm;
	struct shmc *q = conn(f);
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
	assert_int_equal(check_admin_clients(adm, "adm"), 0);
	/* Create-or-attach finds it as well, and it survives again. */
	assert_int_equal(fixture_attach(f, q, "adm", 64, true, &r),
	    SHMC_GSS_OK);
	assert_false(r.created);
	assert_int_equal(r.size_pages, 8);
	assert_int_equal(shmc_detach(q, r.client_id), 0);
	assert_int_equal(check_admin_clients(adm, "adm"), 0);

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
	struct broker *br = *state;
	struct fixture *f = &br->fx;
	struct shmc *adm = f->adm;
	struct peer *p1 = new_peer(br), *p2 = new_peer(br);
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
	assert_int_equal(check_admin_clients(adm, "rev"), 2);
	assert_int_equal(check_admin_destroy(adm, "rev", true, &detached), 0);
	assert_int_equal(detached, 2);
	peer_expect_event(p1, SHMC_EVENT_REVOKED, r1.client_id, &ev);
	peer_expect_event(p2, SHMC_EVENT_REVOKED, r2.client_id, &ev);
	peer_expect_quiet(p1);
	peer_expect_quiet(p2);

	/* The region is gone and so are its clients; mappings stay valid. */
	assert_int_equal(peer_attach(p1, "rev", 4, false, NULL, NULL),
	    SHMC_GSS_DOES_NOT_EXIST);
	assert_int_equal(check_admin_clients(adm, "rev"), -1);
	assert_int_equal(peer_slot_try(p1, PEER_NOTIFY, s1, 0x2), -ENOENT);
	assert_int_equal(peer_slot_try(p2, PEER_STATUS, s2, 0), -ENOENT);
	assert_int_equal(peer_slot_op(p2, PEER_VERIFY, s2, 7), 0);

	/* A guest-created region can be force-destroyed as well. */
	assert_int_equal(peer_attach(p1, "grev", 1, true, &r1, &s1),
	    SHMC_GSS_OK);
	assert_int_equal(check_admin_destroy(adm, "grev", true, &detached), 0);
	assert_int_equal(detached, 1);
	peer_expect_event(p1, SHMC_EVENT_REVOKED, r1.client_id, &ev);
	assert_int_equal(peer_attach(p2, "grev", 1, false, NULL, NULL),
	    SHMC_GSS_DOES_NOT_EXIST);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_zero_copy, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_shmem_thp, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_notify, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_membership, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_killed_client, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_lifetime_guest, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_lifetime_admin, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_lifetime_revoked, setup,
		    teardown),
	};

	/* A daemon that fails keeps its log so that teardown can print it. */
	setenv("SHMBROKER_KEEP_LOGS", "1", 0);
	return cmocka_run_group_tests_name("integration.broker", tests, NULL,
	    NULL);
}
