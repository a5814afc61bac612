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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_parked_regions_are_shared,
		    setup, fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
