/* SPDX-License-Identifier: ISC */
/*
 * test_guest_reboot: shm-vm --reboot against a real shmbrokerd. The guests
 * of tests/guests/reboot.c reboot themselves without ever detaching,
 * counting their boots in a region the test made (so that it outlives
 * their clients); each boot checks that it got a fresh machine and the
 * index of the first boot, which a client left behind by a reboot would
 * push up, and at 16 into GSS_CLIENT_MAX. The test checks what the daemon
 * is left with (its client count and its fds, during the run and after
 * it), what a peer attached all along saw (a detach and a new attach for
 * each reboot), --max-reboots, a reset without --reboot, and a triple
 * fault with and without it. Skipped where /dev/kvm cannot be opened.
 *
 * The long run: SHMBROKER_TEST_REBOOTS=1000 runs the reboot loop 1000
 * times instead of REBOOTS_DEFAULT; the test prints the time, the reboots
 * per second and the daemon's counts before, during and after.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "reboot.h"
#include "testcheck.h"
#include "vmproc.h"

#define REBOOTS_DEFAULT	100	/* above 16: a leaked index would show */
#define REBOOTS_MAX	1000000
#define SAMPLE_MS	50
/* What one VMM connection and its one client may hold in the daemon at
 * once; a client or fd left behind by each reboot would pass it long
 * before REBOOTS_DEFAULT. */
#define PEAK_FDS_SLACK	16
#define PEER_BOOTS	3

struct reboot_test {
	struct fixture fx;	/* first: fixture_teardown frees it whole */
	struct vmproc vm;
};

/* What the daemon holds, at one moment or at its peak. */
struct daemon_counts {
	int fds;
	uint32_t clients;
};

static int
teardown(void **state)
{
	struct reboot_test *t = *state;

	if (t == NULL)
		return 0;
	vmproc_kill(&t->vm);
	return fixture_teardown(state);
}

/* The daemon; without KVM the tests skip, and none is started. */
static int
setup(void **state)
{
	struct reboot_test *t = fixture_new(state, sizeof(*t));

	if (t == NULL)
		return -1;
	if (harness_kvm_opens() && fixture_start(&t->fx, NULL, NULL) < 0)
		return fixture_failed(state);
	return 0;
}

/* The region that keeps the boot count, made by an admin so that it
 * lives through every boot of the guest. */
static void
make_region(struct reboot_test *t)
{
	assert_int_equal(check_admin_create(t->fx.adm, REBOOT_NAME,
	    REBOOT_PAGES), 0);
}

static unsigned
reboot_count(void)
{
	const char *s = getenv("SHMBROKER_TEST_REBOOTS");
	unsigned long n;
	char *end;

	if (s == NULL || *s == '\0')
		return REBOOTS_DEFAULT;
	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || n < 1 || n > REBOOTS_MAX)
		fail_msg("SHMBROKER_TEST_REBOOTS='%s': want 1 to %d", s,
		    REBOOTS_MAX);
	return (unsigned)n;
}

static struct daemon_counts
counts_now(const struct reboot_test *t)
{
	struct daemon_counts c;
	uint32_t regions;

	c.fds = harness_count_fds(t->fx.d.pid);
	check_admin_counts(t->fx.adm, &regions, &c.clients);
	assert_int_equal(regions, 1);
	return c;
}

/* The counts once the daemon has let go of what shm-vm held, which it
 * learns of asynchronously: waiting for want_fds, unless it is -1. */
static struct daemon_counts
counts_settled(const struct reboot_test *t, int want_fds)
{
	struct daemon_counts c;

	if (want_fds >= 0)
		harness_wait_fd_count(t->fx.d.pid, want_fds, 5000);
	c = counts_now(t);
	c.fds = harness_settled_fd_count(t->fx.d.pid);
	return c;
}

/* Runs the started shm-vm to its end, sampling the daemon's counts every
 * SAMPLE_MS into *peak; its exit status. */
static int
finish_sampled(struct reboot_test *t, struct daemon_counts *peak)
{
	struct daemon_counts c;

	*peak = counts_now(t);
	while (vmproc_pump(&t->vm, SAMPLE_MS)) {
		c = counts_now(t);
		if (c.fds > peak->fds)
			peak->fds = c.fds;
		if (c.clients > peak->clients)
			peak->clients = c.clients;
	}
	return vmproc_finish(&t->vm);
}

/* What the reboot guest prints when every boot of count had the first
 * boot's index idx. */
static void
done_text(char *buf, size_t len, unsigned count, unsigned idx)
{
	if (count == 1)
		snprintf(buf, len, "R: boot 1: idx=%u every time; done\n",
		    idx);
	else
		snprintf(buf, len, "R: boot 1: idx=%u\nR: boot %u: idx=%u "
		    "every time; done\n", idx, count, idx);
}

/* The guest's boot count, read through a connection and client of the
 * test's own, which go again. */
static uint32_t
boots_counted(struct reboot_test *t)
{
	struct shmc *c = fixture_connect(&t->fx, t->fx.d.socket, "reader");
	const struct reboot_data *d;
	struct shmc_region r;
	uint32_t boots;

	assert_int_equal(fixture_attach(&t->fx, c, REBOOT_NAME, 0, false,
	    &r), SHMC_GSS_OK);
	d = (const struct reboot_data *)(const void *)fixture_map(&t->fx, &r);
	boots = d->boots;
	fixture_close(&t->fx, c);
	return boots;
}

/* Exactly n lines on stderr, each containing want. */
static void
assert_lines(const char *err, int n, const char *want)
{
	int lines = 0;

	for (const char *l = err; *l != '\0'; lines++) {
		const char *nl = strchr(l, '\n');

		assert_non_null(nl);
		if (strstr(l, want) == NULL || strstr(l, want) > nl)
			fail_msg("stderr line %d lacks \"%s\":\n%s", lines + 1,
			    want, err);
		l = nl + 1;
	}
	assert_int_equal(lines, n);
}

/*
 * The guest attaches, counts and resets without detaching, count times:
 * its index never moves and no attach fails (the guest checks both), the
 * daemon never holds more than its one client, and its clients and fds
 * are back where they started.
 */
static void
test_reboot_loop(void **state)
{
	struct reboot_test *t = *state;
	unsigned count = reboot_count();
	struct daemon_counts before, peak, after;
	char arg[16], want[128];
	const char *extra[] = { "--reboot", "--arg", arg, NULL };
	int64_t start, ms;

	check_need_kvm();
	make_region(t);
	snprintf(arg, sizeof(arg), "%u", count);
	before = counts_settled(t, -1);
	start = harness_now_ms();
	vmproc_start(&t->vm, t->fx.d.socket, "reboot", extra);
	assert_int_equal(finish_sampled(t, &peak), 0);
	ms = harness_now_ms() - start;
	done_text(want, sizeof(want), count, 0);
	assert_string_equal(t->vm.outbuf, want);
	assert_string_equal(t->vm.errbuf, "");
	after = counts_settled(t, before.fds);
	print_message("%u boots (%u reboots) in %.2f s, %.0f reboots/s; "
	    "daemon fds %d, at most %d during, %d after; clients %u, at most "
	    "%u during, %u after\n", count, count - 1, ms / 1000.0,
	    ms > 0 ? (count - 1) * 1000.0 / ms : 0.0, before.fds, peak.fds,
	    after.fds, before.clients, peak.clients, after.clients);
	assert_int_equal(after.clients, before.clients);
	assert_int_equal(after.fds, before.fds);
	assert_true(peak.clients <= before.clients + 1);
	assert_true(peak.fds <= before.fds + PEAK_FDS_SLACK);
	assert_int_equal(boots_counted(t), count);
}

/* Past --max-reboots (which implies --reboot) shm-vm ends at the next
 * reset with one line and status 1; the guest's client goes with it. */
static void
test_max_reboots(void **state)
{
	struct reboot_test *t = *state;
	const char *extra[] = { "--max-reboots", "3", "--arg", "10", NULL };
	struct daemon_counts before, after;

	check_need_kvm();
	make_region(t);
	before = counts_settled(t, -1);
	vmproc_start(&t->vm, t->fx.d.socket, "reboot", extra);
	assert_int_equal(vmproc_finish(&t->vm), 1);
	assert_string_equal(t->vm.outbuf, "R: boot 1: idx=0\n");
	assert_lines(t->vm.errbuf, 1, "shm-vm: the guest asked for a reset "
	    "(0x0e to port 0xcf9); that would be reboot 4, past --max-reboots "
	    "3");
	after = counts_settled(t, before.fds);
	assert_int_equal(after.clients, before.clients);
	assert_int_equal(after.fds, before.fds);
	assert_int_equal(boots_counted(t), 4);
}

/* Without --reboot a reset ends shm-vm, as it always did a triple fault. */
static void
test_reset_ends(void **state)
{
	struct reboot_test *t = *state;
	const char *extra[] = { "--arg", "10", NULL };

	check_need_kvm();
	make_region(t);
	vmproc_start(&t->vm, t->fx.d.socket, "reboot", extra);
	assert_int_equal(vmproc_finish(&t->vm), 1);
	assert_string_equal(t->vm.outbuf, "R: boot 1: idx=0\n");
	assert_lines(t->vm.errbuf, 1, "shm-vm: the guest asked for a reset "
	    "(0x06 to port 0xcf9); without --reboot that ends it");
	assert_int_equal(check_admin_wait_clients(t->fx.adm, REBOOT_NAME, 0),
	    0);
	assert_int_equal(boots_counted(t), 1);
}

/* A triple fault (an exception with an empty IDT) reboots under --reboot,
 * one line each, and ends shm-vm without it. */
static void
test_triple_fault(void **state)
{
	struct reboot_test *t = *state;
	const char *reboot[] = { "--reboot", "--arg", "3", NULL };
	const char *once[] = { "--arg", "3", NULL };
	char want[128];

	check_need_kvm();
	make_region(t);
	vmproc_start(&t->vm, t->fx.d.socket, "reboot_tf", reboot);
	assert_int_equal(vmproc_finish(&t->vm), 0);
	done_text(want, sizeof(want), 3, 0);
	assert_string_equal(t->vm.outbuf, want);
	assert_lines(t->vm.errbuf, 2, "shm-vm: the guest triple-faulted "
	    "(KVM_EXIT_SHUTDOWN");
	assert_non_null(strstr(t->vm.errbuf, "; reboot 1\n"));
	assert_non_null(strstr(t->vm.errbuf, "; reboot 2\n"));

	/* a new region: the old one counted three boots already */
	assert_int_equal(check_admin_destroy(t->fx.adm, REBOOT_NAME, false,
	    NULL), 0);
	make_region(t);
	vmproc_start(&t->vm, t->fx.d.socket, "reboot_tf", once);
	assert_int_equal(vmproc_finish(&t->vm), 1);
	assert_string_equal(t->vm.outbuf, "R: boot 1: idx=0\n");
	assert_lines(t->vm.errbuf, 1, "; without --reboot that ends it");
	assert_non_null(strstr(t->vm.errbuf, "triple-faulted "
	    "(KVM_EXIT_SHUTDOWN"));
}

/* A peer's membership events, as they came. */
struct peer_log {
	int n;
	char text[512];
};

static void
log_event(const struct shmc_event *ev, void *arg)
{
	struct peer_log *log = arg;
	size_t len = strlen(log->text);

	if (ev->kind != SHMC_EVENT_PEER_ATTACHED &&
	    ev->kind != SHMC_EVENT_PEER_DETACHED)
		return;
	snprintf(log->text + len, sizeof(log->text) - len, "%s %u 0x%x\n",
	    ev->kind == SHMC_EVENT_PEER_ATTACHED ? "attach" : "detach",
	    ev->index, ev->active_mask);
	log->n++;
}

/*
 * A peer that made the region before the guest came (index 0) sees each
 * reboot as the guest's detach and a new attach at the same index, with
 * the active mask of each; the last detach is the guest's own, at the
 * end.
 */
static void
test_peer_sees_reboot(void **state)
{
	struct reboot_test *t = *state;
	const char *extra[] = { "--reboot", "--arg", "3", NULL };
	struct peer_log log;
	struct shmc_region r;
	struct shmc *peer;
	char want[128];

	check_need_kvm();
	/* the peer's client keeps the region through the guest's reboots */
	peer = fixture_connect(&t->fx, t->fx.d.socket, "peer");
	assert_int_equal(fixture_attach(&t->fx, peer, REBOOT_NAME,
	    REBOOT_PAGES, true, &r), SHMC_GSS_OK);
	assert_int_equal(r.index, 0);
	vmproc_start(&t->vm, t->fx.d.socket, "reboot", extra);
	done_text(want, sizeof(want), PEER_BOOTS, 1);
	vmproc_expect(&t->vm, 0, want, true);

	/* every event the guest's attaches and detaches caused is read */
	check_round_trip(peer, r.client_id);
	memset(&log, 0, sizeof(log));
	assert_true(shmc_dispatch(peer, log_event, &log) >= 0);
	assert_string_equal(log.text,
	    "attach 1 0x3\ndetach 1 0x1\n"
	    "attach 1 0x3\ndetach 1 0x1\n"
	    "attach 1 0x3\ndetach 1 0x1\n");
	assert_int_equal(check_admin_clients(t->fx.adm, REBOOT_NAME), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reboot_loop, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_max_reboots, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reset_ends, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_triple_fault, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_peer_sees_reboot, setup,
		    teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
