/* SPDX-License-Identifier: ISC */
/*
 * soak_reboot: guest resets, many of them. shm-vm --reboot runs the
 * rebooting guest of tests/guests/reboot.c, which finds the region the
 * test made, checks it got a fresh machine and the index of its first
 * boot, counts the boot and resets without detaching, SOAK_REBOOTS times
 * (SHMBROKER_SOAK=long: LONG_REBOOTS). Meanwhile a peer attached all
 * along rings the guest every SAMPLE_MS (its irqfd is made anew with
 * each boot's VM) and reads its events, and the test samples the daemon
 * (clients, descriptors) and shm-vm itself: its memory slots holding a
 * region (its mappings of the region's memfd), its state page mappings,
 * its descriptors. Nothing may leak: the guest keeps its index every
 * boot, shm-vm never holds more than one region slot, its descriptors
 * stay within a boot's worth, the daemon's clients and descriptors come
 * back to where they started, and the peer saw exactly one attach and
 * one detach of the guest per boot. Skipped where /dev/kvm does not open.
 * test_guest_reboot (tests/integration) has the functional reboot tests.
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
#include "procfds.h"
#include "reboot.h"
#include "testcheck.h"
#include "vmproc.h"

#define SOAK_REBOOTS	200	/* quick: in the suite */
#define LONG_REBOOTS	1000
#define SAMPLE_MS	20
/* shm-vm's descriptors that one boot's attachment may add (the region's
 * memfd while it is mapped, the state page, the client's eventfd, peers'
 * eventfds, the irqfd's): a leak of one a boot passes it soon. */
#define VM_FDS_SLACK	8
#define DAEMON_FDS_SLACK 16
#define GUEST_INDEX	1	/* the peer holds 0 */

struct soak {
	struct fixture fx;	/* first: fixture_teardown frees it whole */
	struct vmproc vm;
	struct shmc *peer;
	struct shmc_region r;
};

/* What the sampling saw, at its extremes. */
struct seen {
	unsigned samples;
	int daemon_fds_max;
	uint32_t clients_max;
	int vm_fds_min, vm_fds_max;
	int region_maps_max, state_maps_max;
	long vm_rss_min, vm_rss_max;
	uint64_t rings;
	unsigned attached, detached, other_events;
};

static int
teardown(void **state)
{
	struct soak *t = *state;

	if (t == NULL)
		return 0;
	vmproc_kill(&t->vm);
	return fixture_teardown(state);
}

/* The daemon starts in the test, once KVM is known to open. */
static int
setup(void **state)
{
	return fixture_new(state, sizeof(struct soak)) != NULL ? 0 : -1;
}

static unsigned
reboots_wanted(void)
{
	const char *s = getenv("SHMBROKER_SOAK");

	return s != NULL && strcmp(s, "long") == 0 ? LONG_REBOOTS :
	    SOAK_REBOOTS;
}

static void
peer_event(const struct shmc_event *ev, void *arg)
{
	struct seen *s = arg;

	if (ev->kind == SHMC_EVENT_PEER_ATTACHED && ev->index == GUEST_INDEX)
		s->attached++;
	else if (ev->kind == SHMC_EVENT_PEER_DETACHED &&
	    ev->index == GUEST_INDEX)
		s->detached++;
	else
		s->other_events++;
}

static void
keep_max(int *max, int v)
{
	if (v > *max)
		*max = v;
}

/* shm-vm's boots are under way: its first boot has printed, its last
 * has not (before and after, shm-vm is starting or ending). */
static bool
booting(const struct vmproc *vm)
{
	return strstr(vm->outbuf, "R: boot 1:") != NULL &&
	    strstr(vm->outbuf, "done") == NULL;
}

/* One look at the daemon and at shm-vm, and a ring at the guest. */
static void
sample(struct soak *t, struct seen *s)
{
	pid_t vm = t->vm.pid;
	uint32_t regions, clients;
	int fds = harness_count_fds(vm);
	long rss = harness_rss_kib(vm);

	keep_max(&s->daemon_fds_max, harness_count_fds(t->fx.d.pid));
	check_admin_counts(t->fx.adm, &regions, &clients);
	assert_int_equal(regions, 1);
	if (clients > s->clients_max)
		s->clients_max = clients;
	if (fds > 0 && rss > 0 && booting(&t->vm)) {
		s->vm_fds_min = s->samples == 0 || fds < s->vm_fds_min ?
		    fds : s->vm_fds_min;
		keep_max(&s->vm_fds_max, fds);
		s->vm_rss_min = s->samples == 0 || rss < s->vm_rss_min ?
		    rss : s->vm_rss_min;
		s->vm_rss_max = rss > s->vm_rss_max ? rss : s->vm_rss_max;
		keep_max(&s->region_maps_max, procfds_count_maps(vm,
		    "/memfd:shm:"));
		keep_max(&s->state_maps_max, procfds_count_maps(vm,
		    "/memfd:shm-state"));
		s->samples++;
	}
	assert_int_equal(shmc_notify_direct(t->peer, t->r.client_id,
	    1u << GUEST_INDEX), 0);
	s->rings++;
	assert_true(shmc_dispatch(t->peer, peer_event, s) >= 0);
}

/* The daemon's descriptors once it has let go of what shm-vm held
 * (waiting for want first, unless it is -1). */
static int
daemon_fds_settled(const struct soak *t, int want)
{
	if (want >= 0)
		harness_wait_fd_count(t->fx.d.pid, want, 5000);
	return harness_settled_fd_count(t->fx.d.pid);
}

static void
test_reboot_soak(void **state)
{
	struct soak *t = *state;
	unsigned count = reboots_wanted();
	struct seen s = { 0 };
	uint32_t regions, clients_before, clients_after;
	char arg[16], want[128];
	const char *extra[] = { "--reboot", "--arg", arg, NULL };
	int fds_before, fds_after;
	int64_t start, ms;

	check_need_kvm();
	assert_int_equal(fixture_start(&t->fx, NULL, NULL), 0);
	assert_int_equal(check_admin_create(t->fx.adm, REBOOT_NAME,
	    REBOOT_PAGES), 0);
	t->peer = fixture_connect(&t->fx, t->fx.d.socket, "soak-peer");
	assert_int_equal(fixture_attach(&t->fx, t->peer, REBOOT_NAME, 0, false,
	    &t->r), SHMC_GSS_OK);
	assert_int_equal(t->r.index, 0);
	check_admin_counts(t->fx.adm, &regions, &clients_before);
	fds_before = daemon_fds_settled(t, -1);

	snprintf(arg, sizeof(arg), "%u", count);
	start = harness_now_ms();
	vmproc_start(&t->vm, t->fx.d.socket, "reboot", extra);
	while (vmproc_pump(&t->vm, SAMPLE_MS))
		sample(t, &s);
	assert_int_equal(vmproc_finish(&t->vm), 0);
	ms = harness_now_ms() - start;
	snprintf(want, sizeof(want), "R: boot 1: idx=%u\nR: boot %u: idx=%u "
	    "every time; done\n", GUEST_INDEX, count, GUEST_INDEX);
	assert_string_equal(t->vm.outbuf, want);
	assert_string_equal(t->vm.errbuf, "");

	fds_after = daemon_fds_settled(t, fds_before);
	check_admin_counts(t->fx.adm, &regions, &clients_after);
	check_round_trip(t->peer, t->r.client_id);
	assert_true(shmc_dispatch(t->peer, peer_event, &s) >= 0);
	print_message("%u boots (%u resets) in %.1f s, %.0f resets/s, the "
	    "guest rung %llu times; shm-vm: region slots at most %d, state "
	    "pages at most %d, fds %d to %d, RSS %ld to %ld KiB (%u samples); "
	    "daemon: clients %u before, at most %u, %u after; fds %d before, "
	    "at most %d, %d after; the peer saw %u attaches and %u detaches "
	    "of the guest\n", count, count - 1, ms / 1000.0,
	    ms > 0 ? (count - 1) * 1000.0 / ms : 0.0,
	    (unsigned long long)s.rings, s.region_maps_max, s.state_maps_max,
	    s.vm_fds_min, s.vm_fds_max, s.vm_rss_min, s.vm_rss_max, s.samples,
	    clients_before, s.clients_max, clients_after, fds_before,
	    s.daemon_fds_max, fds_after, s.attached, s.detached);

	/* shm-vm: one region slot and one state page at most, ever */
	assert_true(s.samples > 0);
	assert_true(s.region_maps_max <= 1);
	assert_true(s.state_maps_max <= 1);
	assert_true(s.vm_fds_max - s.vm_fds_min <= VM_FDS_SLACK);
	/* the daemon: the guest's one client at a time, none left */
	assert_int_equal(clients_after, clients_before);
	assert_true(s.clients_max <= clients_before + 1);
	assert_int_equal(fds_after, fds_before);
	assert_true(s.daemon_fds_max <= fds_before + DAEMON_FDS_SLACK);
	/* the peer: each boot attached once and went once */
	assert_int_equal(s.attached, count);
	assert_int_equal(s.detached, count);
	assert_int_equal(s.other_events, 0);
	assert_int_equal(((const struct reboot_data *)(const void *)
	    fixture_map(&t->fx, &t->r))->boots, count);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reboot_soak, setup,
		    teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
