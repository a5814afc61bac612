/* SPDX-License-Identifier: ISC */
/*
 * test_shmvdev_restart: libshmvdev across a restart of the daemon under
 * its fake VMMs (fakevm.h). Guests keep their indices and doorbells, a
 * region that did not come back reads as revoked until the guest detaches
 * it, with irqfds each client's new eventfd is bound in place of the old
 * one, an admin's revocation still waiting when the daemon restarts is
 * applied, and dispatch does not wait for the daemon to come back. The
 * daemon runs on a configuration with a region, which a new daemon makes
 * again at once.
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

#include "fakevm.h"
#include "qvm/guest_shm.h"
#include "shmclient_admin.h"
#include "testcheck.h"

/* A configured region comes back with a restarted daemon. */
static const char conf_region[] =
    "[broker]\ntenancy = open\nfd_store = no\n\n[region cfg]\nsize = 64K\n";

static int
setup_restart(void **state)
{
	return fvm_setup_conf(state, conf_region);
}

/* SIGTERM to the daemon, then a new one on the same sockets (the
 * harness's directory, so teardown stops whichever runs last). */
static void
restart(struct vdev_fx *f)
{
	assert_int_equal(fixture_restart(&f->fx, NULL), 0);
}

/* Guests keep their indices and doorbells across a restart; a region
 * that did not come back reads as revoked until the guest detaches. */
static void
test_daemon_restart(void **state)
{
	struct vdev_fx *f = *state;
	struct fvm *a = fvm_open(f, 0, 0, 0), *b = fvm_open(f, 1, 0, 0);
	uint64_t actl, bctl, lost;
	uint32_t regions, clients, st;
	unsigned irqs;

	assert_int_equal(fvm_find(a, "cfg"), GSS_OK);
	actl = fvm_rd(a, FACTORY + F_SHMEM, 8);
	assert_int_equal(fvm_find(b, "cfg"), GSS_OK);
	bctl = fvm_rd(b, FACTORY + F_SHMEM, 8);
	assert_int_equal(fvm_create(a, "guestonly", 1), GSS_OK);
	lost = fvm_rd(a, FACTORY + F_SHMEM, 8);
	fvm_drain(a);
	fvm_drain(b);

	restart(f);
	/* Status reads and notifies do not go to the daemon: the event fd
	 * shows it gone, and dispatch reconnects and re-claims, B first. */
	fvm_drain(b);
	st = (uint32_t)fvm_rd(b, bctl + C_STAT, 4);
	assert_int_equal(GUEST_SHM_ACTIVE(st), 1u << 1);
	fvm_drain(a);
	/* Both said, in one message: cfg's memory is new (no fd store),
	 * guestonly is gone. */
	print_message("%s\n", shmvdev_error(a->v));
	assert_non_null(strstr(shmvdev_error(a->v), "made anew"));
	assert_non_null(strstr(shmvdev_error(a->v), "lost (region did not come back)"));
	irqs = b->irqs;
	fvm_wr(a, actl + C_NTF, 4, 1u << 1);
	fvm_wait_irq(b, irqs);
	st = (uint32_t)fvm_rd(b, bctl + C_STAT, 4);
	assert_int_equal(GUEST_SHM_PENDING(st), 1u << 0);
	assert_int_equal(GUEST_SHM_ACTIVE(st), 3);
	assert_int_equal(fvm_rd(a, actl + C_IDX, 4), 0);
	assert_int_equal(fvm_rd(b, bctl + C_IDX, 4), 1);
	/* guestonly died with the old daemon. */
	assert_true(shmvdev_claims(a->v, lost));
	assert_int_equal(fvm_rd(a, lost + C_STAT, 4), 0);
	fvm_wr(a, lost + C_NTF, 4, GUEST_SHM_NOTIFY_ALL);
	fvm_wr(a, lost + C_DET, 4, 1);
	assert_int_equal(a->nunmap, 1);
	assert_int_equal(a->bad_unmaps, 0);
	fvm_daemon_counts(f, &regions, &clients);
	assert_int_equal(regions, 1);
	assert_int_equal(clients, 2);
	/* And new attaches work. */
	assert_int_equal(fvm_create(a, "after", 1), GSS_OK);
	assert_int_equal(fvm_rd(a, FACTORY + F_SHMEM, 8), lost);
}

/*
 * What a restart changes the guest is told of: the restarted daemon's
 * members of a region (B's VMM has not come back yet, then does), and a
 * client whose region did not come back. Neither raised the interrupt (a
 * reviewer's find), which the contract asks for whenever the set of
 * attached clients changes, so a guest waiting in hlt never learnt of
 * either.
 */
static void
test_restart_raises_irq(void **state)
{
	struct vdev_fx *f = *state;
	struct fvm *a = fvm_open(f, 0, 0, 0), *b = fvm_open(f, 1, 0, 0);
	uint64_t actl, lost;
	unsigned irqs;

	assert_int_equal(fvm_find(a, "cfg"), GSS_OK);
	actl = fvm_rd(a, FACTORY + F_SHMEM, 8);
	assert_int_equal(fvm_find(b, "cfg"), GSS_OK);
	fvm_drain(a);
	fvm_drain(b);
	assert_int_equal(GUEST_SHM_ACTIVE(fvm_rd(a, actl + C_STAT, 4)), 0x3);

	/* B's VMM does not dispatch yet, so only A re-claims. */
	restart(f);
	irqs = a->irqs;
	fvm_drain(a);
	if (a->irqs == irqs)
		fail_msg("no interrupt for the members a restart lost");
	assert_int_equal(GUEST_SHM_ACTIVE(fvm_rd(a, actl + C_STAT, 4)), 0x1);
	irqs = a->irqs;
	fvm_drain(b);
	fvm_wait_irq(a, irqs);
	assert_int_equal(GUEST_SHM_ACTIVE(fvm_rd(a, actl + C_STAT, 4)), 0x3);

	/* A region that does not come back, with the members unchanged. */
	assert_int_equal(fvm_create(a, "guestonly", 1), GSS_OK);
	lost = fvm_rd(a, FACTORY + F_SHMEM, 8);
	fvm_drain(a);
	restart(f);
	fvm_drain(b);
	irqs = a->irqs;
	fvm_drain(a);
	if (a->irqs == irqs)
		fail_msg("no interrupt for the client a restart lost");
	assert_int_equal(fvm_rd(a, lost + C_STAT, 4), 0);
	assert_int_equal(GUEST_SHM_ACTIVE(fvm_rd(a, actl + C_STAT, 4)), 0x3);
}

/*
 * An admin's revocation that waits undispatched when the daemon restarts
 * is still applied: the guest loses the memory. The reconnect had marked
 * the client lost (its region "did not come back"), and a lost client
 * keeps its memory, so the revocation that came next was let pass and
 * the guest kept a region an admin had detached it from (a reviewer's
 * find).
 */
static void
test_revoke_before_restart(void **state)
{
	struct vdev_fx *f = *state;
	struct fvm *a = fvm_open(f, 0, 0, 0);
	Shmbroker__ServerMessage *m = NULL;
	struct pollfd p;
	uint64_t actl;
	unsigned irqs;

	assert_int_equal(fvm_find(a, "cfg"), GSS_OK);
	actl = fvm_rd(a, FACTORY + F_SHMEM, 8);
	fvm_drain(a);
	assert_int_equal(shmc_admin_detach(f->fx.adm, 0, "cfg", 0, &m), 0);
	shmbroker__server_message__free_unpacked(m, NULL);
	p = (struct pollfd){ .fd = shmvdev_event_fd(a->v), .events = POLLIN };
	assert_int_equal(poll(&p, 1, CHECK_REPLY_WAIT_MS), 1);

	/* Not dispatched: the guest's next create finds the daemon gone
	 * and reconnects. */
	restart(f);
	irqs = a->irqs;
	assert_int_equal(fvm_create(a, "after", 1), GSS_OK);
	fvm_drain(a);
	assert_int_equal(a->nunmap, 1);
	assert_true(a->irqs > irqs);
	assert_int_equal(fvm_rd(a, actl + C_STAT, 4), 0);
	assert_null(strstr(shmvdev_error(a->v), "lost (region did not come back)"));
}

/*
 * While the daemon is away, dispatch tries once and returns. The VMM's
 * event thread holds the lock that every doorbell and status read takes
 * while it dispatches, and held it for the whole reconnect wait (up to
 * 10 s; a reviewer's find). The event fd wakes it for each next try, and
 * one gets through once the daemon is back; the guest's reads answer
 * meanwhile.
 */
static void
test_dispatch_does_not_wait(void **state)
{
	struct vdev_fx *f = *state;
	struct fvm *a = fvm_open(f, 0, 0, 0);
	struct harness_restart later = { .delay_ms = 1500 };
	struct pollfd p;
	uint64_t actl;
	int rc, tries = 0;

	assert_int_equal(fvm_find(a, "cfg"), GSS_OK);
	actl = fvm_rd(a, FACTORY + F_SHMEM, 8);
	fvm_drain(a);
	assert_int_equal(fixture_restart(&f->fx, &later), 0);
	p = (struct pollfd){ .fd = shmvdev_event_fd(a->v), .events = POLLIN };
	for (;;) {
		assert_int_equal(poll(&p, 1, CHECK_REPLY_WAIT_MS), 1);
		if ((rc = shmvdev_dispatch(a->v)) >= 0)
			break;
		assert_non_null(strstr(shmvdev_error(a->v), "trying again"));
		assert_int_equal(GUEST_SHM_ACTIVE(fvm_rd(a, actl + C_STAT, 4)),
		    1u << 0);
		tries++;
	}
	print_message("%d dispatches before the daemon was back\n", tries);
	assert_true(tries > 0);
	/* Re-claimed at its index, and the daemon answers. */
	assert_int_equal(fvm_rd(a, actl + C_IDX, 4), 0);
	assert_int_equal(fvm_find(a, "cfg"), GSS_OK);
}

/* With irqfds, a restart gives each client a new eventfd: the old one is
 * unbound (while still open), the new one bound, and notifications reach
 * it. */
static void
test_daemon_restart_irqfd(void **state)
{
	struct vdev_fx *f = *state;
	struct fvm *a = fvm_open_irqfd(f, 0), *b = fvm_open_irqfd(f, 1);
	uint64_t actl, bctl, lost;

	assert_int_equal(fvm_find(a, "cfg"), GSS_OK);
	actl = fvm_rd(a, FACTORY + F_SHMEM, 8);
	assert_int_equal(fvm_find(b, "cfg"), GSS_OK);
	bctl = fvm_rd(b, FACTORY + F_SHMEM, 8);
	assert_int_equal(fvm_nbound(b), 1);
	assert_int_equal(fvm_create(a, "guestonly", 1), GSS_OK);
	lost = fvm_rd(a, FACTORY + F_SHMEM, 8);
	assert_int_equal(fvm_nbound(a), 2);
	fvm_drain(a);
	fvm_drain(b);

	restart(f);
	fvm_drain(b);
	fvm_drain(a);
	/* guestonly did not come back: its eventfd stays bound (and open)
	 * until the guest detaches it. */
	assert_int_equal(fvm_rd(a, lost + C_STAT, 4), 0);
	fvm_wr(a, lost + C_DET, 4, 1);
	assert_int_equal(a->binds, 3);
	assert_int_equal(a->unbinds, 2);
	assert_int_equal(a->bad_unbinds, 0);
	assert_int_equal(b->binds, 2);
	assert_int_equal(b->unbinds, 1);
	assert_int_equal(b->bad_unbinds, 0);
	/* The new eventfds are the ones bound, and they fire. */
	fvm_wr(a, actl + C_NTF, 4, 1u << 1);
	assert_int_equal(fvm_irqfd_take(fvm_irqfd(b)), 1);
	fvm_wr(b, bctl + C_NTF, 4, 1u << 0);
	assert_int_equal(fvm_irqfd_take(fvm_irqfd(a)), 1);
	assert_int_equal(GUEST_SHM_PENDING(fvm_rd(a, actl + C_STAT, 4)),
	    1u << 1);
	assert_int_equal(GUEST_SHM_PENDING(fvm_rd(b, bctl + C_STAT, 4)),
	    1u << 0);
	assert_int_equal(GUEST_SHM_ACTIVE(fvm_rd(b, bctl + C_STAT, 4)), 0x3);
}

#define RESTART_TEST(fn) \
	cmocka_unit_test_setup_teardown(fn, setup_restart, fvm_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		RESTART_TEST(test_daemon_restart),
		RESTART_TEST(test_restart_raises_irq),
		RESTART_TEST(test_daemon_restart_irqfd),
		RESTART_TEST(test_revoke_before_restart),
		RESTART_TEST(test_dispatch_does_not_wait),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
