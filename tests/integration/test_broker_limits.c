/* SPDX-License-Identifier: ISC */
/*
 * test_broker_limits: what shmbrokerd's limits and region memory allow:
 * the client limit of a region, creates over max_region_size that leave
 * nothing behind, sealed memfds, hugetlb backing with and without a pool
 * (this test changes the kernel's hugepage pool and holds the
 * hugepage_pool ctest lock), and thousands of connections. Each test runs
 * against its own daemon (the fixture) from the test process.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "peers.h"
#include "testcheck.h"

#define PAGE 4096u
#define HUGE_2M (2u << 20)
#define SETTLE_WAIT_MS 20000
#define MANY_CONNS 3000
#define MANY_ATTACH 1000

/* The fixture and what a test changes in this process or the host. */
struct limits {
	struct fixture fx;	/* first: fixture_teardown frees it whole */
	struct shmc **many;	/* test_many_connections */
	size_t nmany;
	long saved_hugepages;	/* -1: the pool was not touched */
	bool nofile_changed;
	struct rlimit saved_nofile;
};

static int
teardown(void **state)
{
	struct limits *l = *state;
	int rc = 0;

	if (l == NULL)
		return 0;
	for (size_t i = 0; i < l->nmany; i++)
		shmc_close(l->many[i]);
	free(l->many);
	if (harness_hugepages_restore(l->saved_hugepages,
	    "test_broker_limits") < 0)
		rc = -1;
	if (l->nofile_changed)
		setrlimit(RLIMIT_NOFILE, &l->saved_nofile);
	if (fixture_teardown(state) < 0)
		rc = -1;
	return rc;
}

/* A daemon on conf (NULL: none) with --hugepages never, and its
 * descriptors once settled. */
static int
setup_conf(void **state, const char *conf)
{
	static const char *const never[] = { "--hugepages", "never", NULL };
	struct limits *l;

	if (fixture_begin(state, sizeof(*l), conf, never) < 0)
		return -1;
	l = *state;
	l->saved_hugepages = -1;
	l->fx.baseline_fds = harness_settled_fd_count(l->fx.d.pid);
	return 0;
}

static int
setup(void **state)
{
	return setup_conf(state, NULL);
}

/* For test_hugepages, which starts its daemons itself. */
static int
setup_empty(void **state)
{
	struct limits *l = fixture_new(state, sizeof(*l));

	if (l == NULL)
		return -1;
	l->saved_hugepages = -1;
	return 0;
}

/* A connection of the test process's own. */
static struct shmc *
conn(struct fixture *f)
{
	return fixture_connect(f, f->d.socket, "test");
}

/* Stops the running daemon, which must exit cleanly, and starts another
 * with extra, letting go of what the test held of the first. */
static void
start_anew(struct fixture *f, const char *const *extra)
{
	assert_int_equal(fixture_stop(f), 0);
	assert_int_equal(fixture_start(f, NULL, extra), 0);
}

/* ---- 6. client limit and failed creates ---- */

static void
test_client_max(void **state)
{
	struct fixture *f = *state;
	struct shmc *c1 = conn(f);
	struct shmc *c2 = conn(f);
	struct shmc *c3 = conn(f);
	struct shmc *adm = f->adm;
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
	assert_int_equal(check_admin_clients(adm, "full"), 16);

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
	fixture_close(f, c1);
	assert_int_equal(check_admin_wait_clients(adm, "full", 7), 7);
	assert_int_equal(fixture_attach(f, c3, "full", 2, false, &extra),
	    SHMC_GSS_OK);
	assert_int_equal(extra.index, 0);
}

static int
setup_small_max(void **state)
{
	return setup_conf(state,
	    "[broker]\ntenancy = open\nmax_region_size = 1M\n");
}

static void
test_failed_create(void **state)
{
	struct fixture *f = *state;
	struct shmc *c = conn(f);
	struct shmc *adm = f->adm;
	struct shmc_region r;
	uint32_t regions, clients;

	/* 512 pages is 2 MiB, over max_region_size = 1M: refused, and
	 * counted under that limit. */
	assert_int_equal(fixture_attach(f, c, "big", 512, true, &r),
	    SHMC_GSS_NOMEM);
	assert_int_equal(CHECK_STAT(adm, refused_max_region_size), 1);
	assert_int_equal(fixture_attach(f, c, "big", 512, false, &r),
	    SHMC_GSS_DOES_NOT_EXIST);
	assert_int_equal(check_admin_clients(adm, "big"), -1);
	assert_int_equal(fixture_attach(f, c, "zero", 0, true, &r),
	    SHMC_GSS_NOMEM);
	assert_int_equal(fixture_attach(f, c, "zero", 0, false, &r),
	    SHMC_GSS_DOES_NOT_EXIST);
	check_admin_counts(adm, &regions, &clients);
	assert_int_equal(regions, 0);
	assert_int_equal(clients, 0);
	/* Nothing of them stays: c's socket is all the daemon holds beyond
	 * what it had at start (the admin connection's among it). */
	assert_int_equal(harness_count_fds(f->d.pid), f->baseline_fds + 1);

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
	struct shmc *c = conn(f);
	struct shmc_region r;
	uint8_t *map;

	assert_int_equal(fixture_attach(f, c, "sealed", 3, true, &r),
	    SHMC_GSS_OK);
	assert_int_equal(r.backing_bytes, 3 * PAGE);
	check_sealed(r.fd, r.backing_bytes);
	map = fixture_map(f, &r);
	peer_pattern_fill(map, 3 * PAGE, 9);
	assert_int_equal(peer_pattern_mismatches(map, 3 * PAGE, 9), 0);
}

static void
hugepages_attach(struct fixture *f, const char *name, uint32_t pages,
    bool hugetlb)
{
	struct shmc *c = conn(f);
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
	peer_pattern_fill(map, len, pages);
	assert_int_equal(fixture_attach(f, c, name, 1, false, &r2),
	    SHMC_GSS_OK);
	assert_int_equal(r2.hugetlb, hugetlb);
	map2 = fixture_map(f, &r2);
	assert_int_equal(peer_pattern_mismatches(map2, len, pages), 0);
}

static const char *const require_args[] = { "--hugepages", "require", NULL };
static const char *const prefer_args[] = { "--hugepages", "prefer", NULL };

static void
test_hugepages(void **state)
{
	struct limits *l = *state;
	struct fixture *f = &l->fx;
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
	l->saved_hugepages = harness_hugepages_save();
	assert_true(l->saved_hugepages >= 0);
	if (harness_hugepages_make_free(4) < 4) {
		print_message("SKIP: the kernel could not make 4 hugepages "
		    "free\n");
		skip();
	}

	/* With a pool: require and prefer both give hugetlb memory. */
	assert_int_equal(fixture_start(f, NULL, require_args), 0);
	hugepages_attach(f, "huge", 512, true);
	hugepages_attach(f, "huge-small", 1, true);
	start_anew(f, prefer_args);
	hugepages_attach(f, "huge", 512, true);

	/* Without: require fails and leaves nothing, prefer falls back. */
	assert_int_equal(fixture_stop(f), 0);
	assert_int_equal(harness_hugepages_make_free(0), 0);
	assert_int_equal(fixture_start(f, NULL, require_args), 0);
	c = conn(f);
	assert_int_equal(fixture_attach(f, c, "huge", 512, true, &r),
	    SHMC_GSS_NOMEM);
	assert_int_equal(fixture_attach(f, c, "huge", 512, false, &r),
	    SHMC_GSS_DOES_NOT_EXIST);
	start_anew(f, prefer_args);
	hugepages_attach(f, "huge", 512, false);
}

/* ---- 8. thousands of connections ---- */

static void
test_many_connections(void **state)
{
	struct limits *l = *state;
	struct fixture *f = &l->fx;
	struct shmc_region r;
	struct shmc *c;
	struct rlimit rl;
	uint32_t regions, clients;
	char err[256], name[32];
	int base = f->baseline_fds, n;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	l->saved_nofile = rl;
	l->nofile_changed = true;
	rl.rlim_cur = rl.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	/* Each connection holds a socket, an epoll fd and an eventfd. */
	assert_true(rl.rlim_cur >= MANY_CONNS * 3 + 256);

	l->many = calloc(MANY_CONNS, sizeof(*l->many));
	assert_non_null(l->many);
	for (int i = 0; i < MANY_CONNS; i++) {
		if (shmc_connect(f->d.socket, NULL, 10000, &l->many[i], err,
		    sizeof(err)) < 0)
			fail_msg("connection %d: %s", i, err);
		l->nmany++;
	}
	n = harness_count_fds(f->d.pid);
	assert_true(n >= base + MANY_CONNS);
	for (int i = 0; i < MANY_ATTACH; i++) {
		snprintf(name, sizeof(name), "many%02d", i % 100);
		if (shmc_attach(l->many[i], name, 1, true, &r) != SHMC_GSS_OK)
			fail_msg("attach %d: %s", i, shmc_error(l->many[i]));
		close(r.fd);
		assert_int_equal(r.index, (uint32_t)(i / 100));
	}
	assert_true(harness_count_fds(f->d.pid) >= base + MANY_CONNS + 100);

	for (size_t i = 0; i < l->nmany; i++)
		shmc_close(l->many[i]);
	l->nmany = 0;
	n = harness_wait_fd_count(f->d.pid, base, SETTLE_WAIT_MS);
	assert_int_equal(n, base);

	c = conn(f);
	assert_int_equal(fixture_attach(f, c, "after", 4, true, &r),
	    SHMC_GSS_OK);
	assert_true(r.created);
	assert_int_equal(r.index, 0);
	check_admin_counts(f->adm, &regions, &clients);
	assert_int_equal(regions, 1);
	assert_int_equal(clients, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_client_max,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_create,
		    setup_small_max, teardown),
		cmocka_unit_test_setup_teardown(test_memfd_sealed,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_hugepages,
		    setup_empty, teardown),
		cmocka_unit_test_setup_teardown(test_many_connections,
		    setup, teardown),
	};

	/* A daemon that fails keeps its log so that teardown can print it. */
	setenv("SHMBROKER_KEEP_LOGS", "1", 0);
	return cmocka_run_group_tests_name("integration.broker_limits", tests,
	    NULL, NULL);
}
