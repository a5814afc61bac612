/* SPDX-License-Identifier: ISC */
/*
 * test_fdstash: regions whose memfds the daemon parks in keeper processes
 * (daemon/fdstash.c) behave exactly like the others: peers attach, share
 * bytes, and every parked fd is closed when its region goes. The daemon is
 * configured to keep only two region memfds itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fixture.h"
#include "shmclient.h"

#define NREGIONS 12

static bool
keeper_was_execed(pid_t pid)
{
	char path[64], cmd[256];
	size_t n;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return false;
	n = fread(cmd, 1, sizeof(cmd) - 1, fp);
	fclose(fp);
	cmd[n] = '\0';
	/* argv[0] ends at the first NUL; argv[1] follows it. */
	return n > strlen(cmd) + 1 &&
	    strcmp(cmd + strlen(cmd) + 1, "--fdstash-keeper") == 0;
}

/* The keeper closes parked fds asynchronously: give it a moment. */
#define KEEPER_SETTLE_MS 2000

/* The daemon keeps only two region memfds itself. */
static int
setup(void **state)
{
	static const char conf[] = "[broker]\ntenancy = open\n"
	    "local_region_fds = 2\nhugepages = never\n";
	return fixture_begin(state, sizeof(struct fixture), conf, NULL);
}

static void
test_parked_regions_are_shared(void **state)
{
	struct fixture *f = *state;
	struct shmc *a, *b, *c;
	struct shmc_region ra[NREGIONS], rb[NREGIONS];
	pid_t keepers[4];
	int nk, base_fds;

	a = fixture_connect(f, f->d.socket, "a");
	b = fixture_connect(f, f->d.socket, "b");
	base_fds = harness_count_fds(f->d.pid);
	for (int i = 0; i < NREGIONS; i++) {
		char name[16];
		char *pa, *pb;

		snprintf(name, sizeof(name), "parked%d", i);
		assert_int_equal(shmc_attach(a, name, 4, true, &ra[i]), 0);
		assert_int_equal(shmc_attach(b, name, 1, false, &rb[i]), 0);
		assert_int_equal(rb[i].size_pages, 4);
		pa = mmap(NULL, 16384, PROT_READ | PROT_WRITE, MAP_SHARED,
		    ra[i].fd, 0);
		pb = mmap(NULL, 16384, PROT_READ | PROT_WRITE, MAP_SHARED,
		    rb[i].fd, 0);
		assert_ptr_not_equal(pa, MAP_FAILED);
		assert_ptr_not_equal(pb, MAP_FAILED);
		snprintf(pa + 8192, 64, "bytes of region %d", i);
		assert_string_equal(pb + 8192, pa + 8192);
		munmap(pa, 16384);
		munmap(pb, 16384);
	}
	/* Two memfds stay in the daemon, which now also holds the keeper's
	 * socket and pidfd; ten memfds went to the keeper. Each region with
	 * clients has its state page here, and each client its eventfd. The
	 * daemon makes its stock of those again after the last reply
	 * (daemon/stock.c): wait for it. */
	assert_int_equal(harness_wait_fd_count(f->d.pid, base_fds + 2 + 2 +
	    NREGIONS * 3, KEEPER_SETTLE_MS), base_fds + 2 + 2 + NREGIONS * 3);
	nk = harness_wait_children(f->d.pid, HARNESS_KEEPER_ARG, keepers, 4, 1,
	    5000);
	assert_int_equal(nk, 1);
	/* The keeper holds its socket, its inherited stdio and 10 memfds
	 * (parking does not wait for the keeper). */
	assert_int_equal(harness_wait_fd_count(keepers[0], 4 + NREGIONS - 2,
	    KEEPER_SETTLE_MS), 4 + NREGIONS - 2);

	/* A third peer finds every region, parked or not, and sees what the
	 * creator wrote: the fd it gets is the region's own memfd. */
	c = fixture_connect(f, f->d.socket, "c");
	for (int i = 0; i < NREGIONS; i++) {
		struct shmc_region rc;
		char name[16], want[64], *pc;

		snprintf(name, sizeof(name), "parked%d", i);
		snprintf(want, sizeof(want), "bytes of region %d", i);
		assert_int_equal(shmc_attach(c, name, 1, false, &rc), 0);
		assert_int_equal(rc.index, 2);
		pc = mmap(NULL, 16384, PROT_READ, MAP_SHARED, rc.fd, 0);
		assert_ptr_not_equal(pc, MAP_FAILED);
		assert_string_equal(pc + 8192, want);
		munmap(pc, 16384);
		close(rc.fd);
		assert_int_equal(shmc_detach(c, rc.client_id), 0);
	}
	fixture_close(f, c);
	/* A keeper is shmbrokerd started afresh by exec, not a fork that
	 * carries a copy of the daemon's heap: its command line says so. */
	assert_true(keeper_was_execed(keepers[0]));

	for (int i = 0; i < NREGIONS; i++) {
		assert_int_equal(shmc_detach(a, ra[i].client_id), 0);
		assert_int_equal(shmc_detach(b, rb[i].client_id), 0);
		close(ra[i].fd);
		close(rb[i].fd);
	}
	/* Every region went with its last client, wherever its fd was. */
	assert_int_equal(harness_wait_fd_count(keepers[0], 4,
	    KEEPER_SETTLE_MS), 4);
	assert_int_equal(harness_count_fds(f->d.pid), base_fds + 2);
}

/* Lines of the daemon's log that say keeper pid was killed by SIGKILL,
 * with the regions parked in it, waited for up to ms. */
static int
wait_keeper_line(struct fixture *f, pid_t keeper, int64_t ms)
{
	char who[96], what[64];
	int64_t end = harness_now_ms() + ms;
	int n;

	snprintf(who, sizeof(who), "fd keeper process %d was killed by "
	    "signal 9 (", (int)keeper);
	snprintf(what, sizeof(what), "the %d regions parked in it",
	    NREGIONS - 2);
	while ((n = fixture_log_lines(f, who, what)) == 0 &&
	    harness_now_ms() < end)
		usleep(50 * 1000);
	return n;
}

/*
 * A keeper killed (SIGKILL, the OOM killer) took the memory of the
 * regions parked in it; the daemon learnt of it only when an attach to
 * one of them failed, and never if none came. It now says so within
 * about a second, once, and an attach to a lost region still fails
 * cleanly while the others work.
 */
static void
test_killed_keeper_is_said(void **state)
{
	struct fixture *f = *state;
	struct shmc *a, *b;
	struct shmc_region r;
	pid_t keepers[4];

	a = fixture_connect(f, f->d.socket, "a");
	b = fixture_connect(f, f->d.socket, "b");
	for (int i = 0; i < NREGIONS; i++) {
		char name[16];

		snprintf(name, sizeof(name), "parked%d", i);
		assert_int_equal(fixture_attach(f, a, name, 4, true, &r),
		    SHMC_GSS_OK);
	}
	assert_int_equal(harness_wait_children(f->d.pid, HARNESS_KEEPER_ARG,
	    keepers, 4, 1, 5000), 1);
	/* Parking does not wait for the keeper: let it take all ten. */
	assert_int_equal(harness_wait_fd_count(keepers[0], 4 + NREGIONS - 2,
	    KEEPER_SETTLE_MS), 4 + NREGIONS - 2);
	assert_int_equal(kill(keepers[0], SIGKILL), 0);
	assert_int_equal(wait_keeper_line(f, keepers[0], 5000), 1);
	/* The oldest region was parked: its memory is gone. The newest is
	 * still the daemon's own. */
	assert_int_equal(fixture_attach(f, b, "parked0", 1, false, &r),
	    SHMC_GSS_NOMEM);
	assert_int_equal(fixture_log_lines(f, "cannot take the memfd of "
	    "region parked0 back", NULL), 1);
	assert_int_equal(fixture_attach(f, b, "parked11", 1, false, &r),
	    SHMC_GSS_OK);
	usleep(1500 * 1000);	/* the check runs every second: said once */
	assert_int_equal(wait_keeper_line(f, keepers[0], 0), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_parked_regions_are_shared,
		    setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_killed_keeper_is_said,
		    setup, fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
