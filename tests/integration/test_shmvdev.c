/* SPDX-License-Identifier: ISC */
/*
 * test_shmvdev: libshmvdev, the VMM side of the guest vdev, against the
 * real daemon, driven by fake VMMs (fakevm.h) through factory and control
 * page accesses only: the factory page on its own, VMs sharing regions
 * and notifying each other, what a guest can get wrong, a VM reset, a
 * daemon that goes away, notifications through irqfds, a client an admin
 * revokes or detaches, an event thread the guest's calls do not wake,
 * and a VMM's bad configuration. The daemon's view is checked through the admin socket.
 * A daemon restart under the VMs is test_shmvdev_restart's.
 */
#include <errno.h>
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
#include "poller.h"
#include "qvm/guest_shm.h"
#include "testcheck.h"

/* ---- the factory page on its own ---- */

static void
test_signature_and_readonly(void **state)
{
	struct vdev_fx *f = *state;
	struct fvm *a = fvm_open(f, 0, 0, 0);
	uint64_t v;
	const uint64_t sig = GUEST_SHM_SIGNATURE;

	for (unsigned len = 1; len <= 8; len *= 2)
		for (unsigned off = 0; off + len <= 8; off += len) {
			uint64_t want = sig >> (8 * off);

			if (len < 8)
				want &= (1ull << (8 * len)) - 1;
			assert_int_equal(fvm_rd(a, FACTORY + off, len), want);
		}
	assert_int_equal(fvm_rd(a, FACTORY + F_VEC, 4), 0x40);
	/* Writes to read-only fields and find reads are ignored. */
	fvm_wr(a, FACTORY + F_SIG, 8, 0);
	fvm_wr(a, FACTORY + F_SHMEM, 8, 0x1234);
	fvm_wr(a, FACTORY + F_VEC, 4, 7);
	fvm_wr(a, FACTORY + F_STAT, 4, 5);
	assert_int_equal(fvm_rd(a, FACTORY + F_SIG, 8), sig);
	assert_int_equal(fvm_rd(a, FACTORY + F_SHMEM, 8), 0);
	assert_int_equal(fvm_rd(a, FACTORY + F_VEC, 4), 0x40);
	assert_int_equal(fvm_rd(a, FACTORY + F_STAT, 4), GSS_OK);
	assert_int_equal(fvm_rd(a, FACTORY + F_FIND, 4), 0);
	/* Outside the factory page and control pages: not ours. */
	assert_false(shmvdev_claims(a->v, FACTORY + 0x1000));
	assert_false(shmvdev_claims(a->v, FACTORY - 1));
	v = 1;
	assert_false(shmvdev_access(a->v, 0x5000, false, 4, 0, &v));
	assert_int_equal(v, 0);
	assert_false(shmvdev_access(a->v, FACTORY + 0x1000, true, 4, 7, &v));
}

/* ---- two VMs sharing a region ---- */

static void
test_two_vms(void **state)
{
	struct vdev_fx *f = *state;
	struct fvm *a = fvm_open(f, 0, 0, 0), *b = fvm_open(f, 1, 0, 0);
	uint64_t actl, bctl, adata, bdata;
	uint32_t aidx, bidx, regions, clients, st;
	unsigned irqs;

	assert_int_equal(fvm_create(a, "shared", 3), GSS_OK);
	actl = fvm_rd(a, FACTORY + F_SHMEM, 8);
	assert_int_equal(fvm_rd(a, FACTORY + F_SIZE, 4), 3);
	adata = actl + 0x1000;
	assert_int_equal(adata % (2 * MIB), 0);
	assert_true(adata >= SHMVDEV_DEFAULT_WINDOW_BASE);
	assert_int_equal(a->nmap, 1);
	assert_false(a->last_hugetlb);

	/* B asks for another size: find and create both attach. */
	assert_int_equal(fvm_find(b, "shared"), GSS_OK);
	bctl = fvm_rd(b, FACTORY + F_SHMEM, 8);
	bdata = bctl + 0x1000;
	assert_int_equal(fvm_rd(b, FACTORY + F_SIZE, 4), 3);
	fvm_set_name(b, "shared");
	fvm_wr(b, FACTORY + F_SIZE, 4, 99);
	assert_int_equal(fvm_rd(b, FACTORY + F_STAT, 4), GSS_OK);
	assert_int_equal(fvm_rd(b, FACTORY + F_SIZE, 4), 3);
	assert_int_not_equal(fvm_rd(b, FACTORY + F_SHMEM, 8), bctl);
	/* The second client of B goes away again. */
	fvm_wr(b, fvm_rd(b, FACTORY + F_SHMEM, 8) + C_DET, 4, 1);

	/* Zero copy: A's store is B's load, through the same memfd. */
	memcpy(fvm_gmem(a, adata, 3 * 4096), "through the fd", 15);
	assert_string_equal((char *)fvm_gmem(b, bdata, 3 * 4096),
	    "through the fd");
	fvm_gmem(b, bdata + 3 * 4096 - 1, 1)[0] = 0x5a;
	assert_int_equal(fvm_gmem(a, adata + 3 * 4096 - 1, 1)[0], 0x5a);

	aidx = (uint32_t)fvm_rd(a, actl + C_IDX, 4);
	bidx = (uint32_t)fvm_rd(b, bctl + C_IDX, 4);
	assert_int_equal(aidx, 0);
	assert_int_equal(bidx, 1);
	/* Control status and idx are read-only. */
	fvm_wr(a, actl + C_IDX, 4, 9);
	fvm_wr(a, actl + C_STAT, 4, 0xffff);
	assert_int_equal(fvm_rd(a, actl + C_IDX, 4), 0);

	/* A notifies B. */
	fvm_drain(b);
	irqs = b->irqs;
	fvm_wr(a, actl + C_NTF, 4, 1u << bidx);
	fvm_wait_irq(b, irqs);
	st = (uint32_t)fvm_rd(b, bctl + C_STAT, 4);
	assert_int_equal(GUEST_SHM_PENDING(st), 1u << aidx);
	assert_int_equal(GUEST_SHM_ACTIVE(st), (1u << aidx) | (1u << bidx));
	assert_int_equal(GUEST_SHM_PENDING(fvm_rd(b, bctl + C_STAT, 4)), 0);

	/* Every other client. */
	fvm_drain(a);
	irqs = b->irqs;
	fvm_wr(a, actl + C_NTF, 4, GUEST_SHM_NOTIFY_ALL);
	fvm_wait_irq(b, irqs);
	assert_int_equal(GUEST_SHM_PENDING(fvm_rd(b, bctl + C_STAT, 4)),
	    1u << aidx);
	assert_int_equal(GUEST_SHM_PENDING(fvm_rd(a, actl + C_STAT, 4)), 0);

	/* B detaches: A hears of it, B's pages go. */
	fvm_drain(a);
	irqs = a->irqs;
	fvm_wr(b, bctl + C_DET, 4, 0);
	assert_int_equal(b->nunmap, 2);
	assert_int_equal(b->bad_unmaps, 0);
	fvm_wait_irq(a, irqs);
	st = (uint32_t)fvm_rd(a, actl + C_STAT, 4);
	assert_int_equal(GUEST_SHM_ACTIVE(st), 1u << aidx);
	/* The detached page stays claimed, reads 0 and ignores writes. */
	assert_true(shmvdev_claims(b->v, bctl));
	assert_int_equal(fvm_rd(b, bctl + C_IDX, 4), 0);
	assert_int_equal(fvm_rd(b, bctl + C_STAT, 8), 0);
	fvm_wr(b, bctl + C_DET, 4, 1);
	fvm_wr(b, bctl + C_NTF, 4, 1);
	assert_int_equal(b->nunmap, 2);
	fvm_daemon_counts(f, &regions, &clients);
	assert_int_equal(regions, 1);
	assert_int_equal(clients, 1);
	/* B attaches again: the freed slots and control page come back. */
	assert_int_equal(fvm_find(b, "shared"), GSS_OK);
	assert_int_equal(fvm_rd(b, FACTORY + F_SHMEM, 8), bctl);
	assert_int_equal(fvm_rd(b, bctl + C_IDX, 4), 1);
	assert_string_equal((char *)fvm_gmem(b, bdata, 16), "through the fd");
}

/* A one-byte status read takes only the bits of that byte. */
static void
test_status_bytes(void **state)
{
	struct vdev_fx *f = *state;
	struct fvm *a = fvm_open(f, 0, 0, 0), *b = fvm_open(f, 1, 0, 0);
	struct fvm *c = fvm_open(f, 2, 0, 0);
	uint64_t actl, bctl, cctl = 0;
	uint32_t st;
	unsigned irqs;

	assert_int_equal(fvm_create(a, "bytes", 1), GSS_OK);
	actl = fvm_rd(a, FACTORY + F_SHMEM, 8);
	assert_int_equal(fvm_find(b, "bytes"), GSS_OK);
	bctl = fvm_rd(b, FACTORY + F_SHMEM, 8);
	/* C takes indices 2..9: one VM, several clients of one region. */
	for (int i = 2; i <= 9; i++) {
		assert_int_equal(fvm_find(c, "bytes"), GSS_OK);
		cctl = fvm_rd(c, FACTORY + F_SHMEM, 8);
		assert_int_equal(fvm_rd(c, cctl + C_IDX, 4), (uint64_t)i);
	}
	fvm_drain(b);
	irqs = b->irqs;
	fvm_wr(a, actl + C_NTF, 4, 1u << 1);
	fvm_wr(c, cctl + C_NTF, 1, 1u << 1);	/* a byte store notifies */
	fvm_wait_irq(b, irqs);
	/* Both notifications are in the daemon: byte 1 alone, then the rest. */
	assert_int_equal(fvm_rd(b, bctl + C_STAT + 1, 1), 0x02);
	assert_int_equal(fvm_rd(b, bctl + C_STAT + 2, 2), 0x3ff);
	st = (uint32_t)fvm_rd(b, bctl + C_STAT, 4);
	assert_int_equal(GUEST_SHM_PENDING(st), 0x001);
	assert_int_equal(GUEST_SHM_ACTIVE(st), 0x3ff);
	/* And the other way round: byte 0 keeps byte 1. */
	fvm_wr(a, actl + C_NTF, 4, 1u << 1);
	fvm_wr(c, cctl + C_NTF, 4, 1u << 1);
	assert_int_equal(fvm_rd(b, bctl + C_STAT, 1), 0x01);
	assert_int_equal(fvm_rd(b, bctl + C_STAT, 2), 0x0200);
	assert_int_equal(fvm_rd(b, bctl + C_STAT, 2), 0);
	/* Bytes 2-3 alone take nothing. */
	fvm_wr(a, actl + C_NTF, 4, 1u << 1);
	assert_int_equal(fvm_rd(b, bctl + C_STAT + 2, 2), 0x3ff);
	assert_int_equal(fvm_rd(b, bctl + C_STAT, 8) & 0xffff, 0x001);
	/* An 8-byte read at 0 covers idx too. */
	assert_int_equal(fvm_rd(b, bctl + C_STAT, 8) >> 32, 1);
}

/* ---- what a guest can get wrong ---- */

static void
test_guest_errors(void **state)
{
	struct vdev_fx *f = *state;
	struct fvm *a = fvm_open(f, 0, 0, 0);
	uint32_t regions, clients;
	uint64_t ctl;

	assert_int_equal(fvm_create(a, "good", 1), GSS_OK);
	ctl = fvm_rd(a, FACTORY + F_SHMEM, 8);
	/* 32 name bytes without a NUL. */
	for (unsigned i = 0; i < 32; i += 8)
		fvm_wr(a, FACTORY + F_NAME + i, 8, 0x4141414141414141ull);
	fvm_wr(a, FACTORY + F_SIZE, 4, 1);
	assert_int_equal(fvm_rd(a, FACTORY + F_STAT, 4), GSS_ILLEGAL_NAME);
	assert_true(strlen(shmvdev_error(a->v)) > 0);
	/* After a failure shmem stays, size reads what was written. */
	assert_int_equal(fvm_rd(a, FACTORY + F_SHMEM, 8), ctl);
	assert_int_equal(fvm_rd(a, FACTORY + F_SIZE, 4), 1);
	assert_int_equal(fvm_create(a, "", 1), GSS_ILLEGAL_NAME);
	assert_int_equal(fvm_find(a, "missing"), GSS_DOES_NOT_EXIST);
	assert_int_equal(fvm_create(a, "empty", 0), GSS_NOMEM);
	assert_int_equal(fvm_rd(a, FACTORY + F_SIZE, 4), 0);
	assert_int_equal(check_admin_show(f->fx.adm, "empty").error,
	    SHMBROKER__ERROR__ERR_NOT_FOUND);
	assert_int_equal(fvm_rd(a, FACTORY + F_SHMEM, 8), ctl);
	/* Only the good region's single client, and one mapping. */
	fvm_daemon_counts(f, &regions, &clients);
	assert_int_equal(regions, 1);
	assert_int_equal(clients, 1);
	assert_int_equal(a->nmap, 1);
	/* A store spanning size and the name's first bytes lands whole. */
	fvm_set_name(a, "xxxx");
	fvm_wr(a, FACTORY + F_SIZE, 8, 1ull | (uint64_t)'g' << 32 |
	    (uint64_t)'o' << 40 | (uint64_t)'o' << 48 | (uint64_t)'d' << 56);
	assert_int_equal(fvm_rd(a, FACTORY + F_STAT, 4), GSS_OK);
	assert_int_equal(fvm_rd(a, FACTORY + F_SIZE, 4), 1);
	assert_int_equal(check_admin_show(f->fx.adm, "good").clients, 2);
}

static void
test_window_full(void **state)
{
	struct vdev_fx *f = *state;
	struct fvm *a = fvm_open(f, 0, 4 * MIB, 0);
	uint32_t regions, clients;
	uint64_t ctl;

	assert_int_equal(fvm_create(a, "fits", 1), GSS_OK);
	ctl = fvm_rd(a, FACTORY + F_SHMEM, 8);
	assert_int_equal(ctl, SHMVDEV_DEFAULT_WINDOW_BASE + 2 * MIB - 0x1000);
	assert_int_equal(fvm_create(a, "nofit", 1), GSS_NOMEM);
	assert_int_equal(check_admin_show(f->fx.adm, "nofit").error,
	    SHMBROKER__ERROR__ERR_NOT_FOUND);
	/* Attaching another VM's region fails too, the region stays. */
	assert_int_equal(fvm_create(a, "fits", 1), GSS_NOMEM);
	fvm_daemon_counts(f, &regions, &clients);
	assert_int_equal(regions, 1);
	assert_int_equal(clients, 1);
	assert_int_equal(a->nmap, 1);
	/* Too big for the window at all. */
	assert_int_equal(fvm_create(a, "huge", 1024), GSS_NOMEM);
	/* Detach frees the slots for the next one. */
	fvm_wr(a, ctl + C_DET, 4, 1);
	assert_int_equal(fvm_create(a, "nofit", 1), GSS_OK);
	assert_int_equal(fvm_rd(a, FACTORY + F_SHMEM, 8), ctl);
	assert_int_equal(fvm_rd(a, ctl + C_IDX, 4), 0);
	fvm_daemon_counts(f, &regions, &clients);
	assert_int_equal(regions, 1);
	assert_int_equal(clients, 1);
}

/*
 * A detached control page reads 0 until a later attach reuses its
 * address. One whose slots a create took for a region it then could not
 * map (the VMM's map failed) stayed unclaimed, so the next access to it
 * went to the VMM as a stray one (a reviewer's find): it stays a detached
 * page until an attach really takes the address.
 */
static void
test_failed_map_keeps_detached_page(void **state)
{
	struct vdev_fx *f = *state;
	struct fvm *a = fvm_open(f, 0, 0, 0);
	uint64_t ctl;

	assert_int_equal(fvm_create(a, "first", 1), GSS_OK);
	ctl = fvm_rd(a, FACTORY + F_SHMEM, 8);
	fvm_wr(a, ctl + C_DET, 4, 1);
	assert_true(shmvdev_claims(a->v, ctl));
	a->map_err = -ENOMEM;
	assert_int_equal(fvm_create(a, "second", 1), GSS_NOMEM);
	assert_true(shmvdev_claims(a->v, ctl));
	assert_int_equal(fvm_rd(a, ctl + C_STAT, 4), 0);
	a->map_err = 0;
	assert_int_equal(fvm_create(a, "second", 1), GSS_OK);
	assert_int_equal(fvm_rd(a, FACTORY + F_SHMEM, 8), ctl);
	assert_int_equal(fvm_rd(a, ctl + C_STAT, 4) >> 16, 1);
}

static void
test_client_max(void **state)
{
	struct vdev_fx *f = *state;
	struct fvm *a = fvm_open(f, 0, 0, 0), *b = fvm_open(f, 1, 0, 0);
	uint32_t regions, clients;

	for (int i = 0; i < GUEST_SHM_MAX_CLIENTS; i++)
		assert_int_equal(fvm_create(i % 2 ? b : a, "full", 1), GSS_OK);
	assert_int_equal(fvm_create(b, "full", 1), GSS_CLIENT_MAX);
	assert_int_equal(fvm_find(a, "full"), GSS_CLIENT_MAX);
	fvm_daemon_counts(f, &regions, &clients);
	assert_int_equal(clients, GUEST_SHM_MAX_CLIENTS);
	assert_int_equal(a->nmap + b->nmap, GUEST_SHM_MAX_CLIENTS);
}

/* A VM reset drops every client of that VM and the factory's state. */
static void
test_reset(void **state)
{
	struct vdev_fx *f = *state;
	struct fvm *a = fvm_open(f, 0, 0, 0), *b = fvm_open(f, 1, 0, 0);
	uint64_t ctl[4], bctl;
	uint32_t regions, clients;
	unsigned irqs;

	assert_int_equal(fvm_create(b, "one", 1), GSS_OK);
	bctl = fvm_rd(b, FACTORY + F_SHMEM, 8);
	for (int i = 0; i < 3; i++)
		assert_int_equal(fvm_create(a, "one", 1), GSS_OK);
	assert_int_equal(fvm_create(a, "two", 2), GSS_OK);
	assert_int_equal(shmvdev_attached(a->v, ctl, 4), 4);
	fvm_wr(a, ctl[3] + C_DET, 4, 1);	/* "two" is gone with it */
	fvm_daemon_counts(f, &regions, &clients);
	assert_int_equal(regions, 1);
	assert_int_equal(clients, 4);
	fvm_drain(b);
	irqs = b->irqs;
	shmvdev_reset(a->v);
	assert_int_equal(a->nunmap, 4);
	assert_int_equal(a->bad_unmaps, 0);
	fvm_daemon_counts(f, &regions, &clients);
	assert_int_equal(clients, 1);
	fvm_wait_irq(b, irqs);
	assert_int_equal(GUEST_SHM_ACTIVE(fvm_rd(b, bctl + C_STAT, 4)), 1);
	for (int i = 0; i < 4; i++)
		assert_false(shmvdev_claims(a->v, ctl[i]));
	assert_int_equal(fvm_rd(a, FACTORY + F_SHMEM, 8), 0);
	assert_int_equal(fvm_rd(a, FACTORY + F_SIZE, 4), 0);
	assert_int_equal(fvm_rd(a, FACTORY + F_NAME, 8), 0);
	assert_int_equal(fvm_rd(a, FACTORY + F_VEC, 4), 0x40);
	shmvdev_reset(b->v);
	fvm_daemon_counts(f, &regions, &clients);
	assert_int_equal(clients, 0);
	assert_int_equal(regions, 0);
	/* The guest starts over at the same addresses. */
	assert_int_equal(fvm_create(a, "again", 1), GSS_OK);
	assert_int_equal(fvm_rd(a, FACTORY + F_SHMEM, 8), ctl[0]);
}

/* The daemon goes away: guest accesses fail softly, never crash. */
static void
test_daemon_gone(void **state)
{
	struct vdev_fx *f = *state;
	struct fvm *a = fvm_open(f, 0, 0, 200);
	uint64_t ctl;

	assert_int_equal(fvm_create(a, "doomed", 1), GSS_OK);
	ctl = fvm_rd(a, FACTORY + F_SHMEM, 8);
	assert_int_equal(harness_stop_daemon(&f->fx.d), 0);
	/* Status and notify need no daemon: the state page is still here. */
	assert_int_equal(fvm_rd(a, ctl + C_STAT, 4), 1u << 16);
	fvm_wr(a, ctl + C_NTF, 4, GUEST_SHM_NOTIFY_ALL);
	assert_int_equal(fvm_create(a, "later", 1), GSS_UNKNOWN_FAILURE);
	assert_true(strlen(shmvdev_error(a->v)) > 0);
	assert_int_equal(fvm_rd(a, FACTORY + F_SHMEM, 8), ctl);
	fvm_wr(a, ctl + C_DET, 4, 1);
	assert_int_equal(a->nunmap, 1);
	assert_true(shmvdev_dispatch(a->v) < 0);
	shmvdev_reset(a->v);
}

/* ---- notifications through irqfds ---- */

/*
 * With bind_irqfd, each client's own eventfd is bound at attach: a peer's
 * notify makes it readable with no dispatch and no daemon call; the
 * status word carries the notifier's index and clears on read.
 */
static void
test_irqfd_notify(void **state)
{
	struct vdev_fx *f = *state;
	struct fvm *a = fvm_open_irqfd(f, 0), *b = fvm_open_irqfd(f, 1);
	struct fvm *c = fvm_open(f, 2, 0, 0);
	uint64_t actl, bctl, cctl;
	uint32_t st;
	unsigned airqs, birqs, cirqs;
	int aefd, befd;

	assert_int_equal(fvm_create(a, "irq", 1), GSS_OK);
	actl = fvm_rd(a, FACTORY + F_SHMEM, 8);
	assert_int_equal(fvm_find(b, "irq"), GSS_OK);
	bctl = fvm_rd(b, FACTORY + F_SHMEM, 8);
	assert_int_equal(fvm_find(c, "irq"), GSS_OK);
	cctl = fvm_rd(c, FACTORY + F_SHMEM, 8);
	aefd = fvm_irqfd(a);
	befd = fvm_irqfd(b);
	assert_int_not_equal(aefd, befd);
	assert_int_equal(fvm_nbound(c), 0);
	fvm_drain(a);
	fvm_drain(b);
	fvm_drain(c);
	airqs = a->irqs;
	birqs = b->irqs;
	cirqs = c->irqs;

	/* A notifies B: B's irqfd fires; nobody dispatches. */
	fvm_wr(a, actl + C_NTF, 4, 1u << 1);
	assert_int_equal(fvm_irqfd_take(befd), 1);
	assert_int_equal(fvm_irqfd_take(aefd), 0);
	st = (uint32_t)fvm_rd(b, bctl + C_STAT, 4);
	assert_int_equal(GUEST_SHM_PENDING(st), 1u << 0);
	assert_int_equal(GUEST_SHM_ACTIVE(st), 0x7);
	assert_int_equal(GUEST_SHM_PENDING(fvm_rd(b, bctl + C_STAT, 4)), 0);

	/* Every other client: both irqfds, and C (not bound) through its
	 * event fd and dispatch. */
	fvm_wr(c, cctl + C_NTF, 4, GUEST_SHM_NOTIFY_ALL);
	assert_int_equal(fvm_irqfd_take(aefd), 1);
	assert_int_equal(fvm_irqfd_take(befd), 1);
	assert_int_equal(GUEST_SHM_PENDING(fvm_rd(a, actl + C_STAT, 4)),
	    1u << 2);
	assert_int_equal(GUEST_SHM_PENDING(fvm_rd(b, bctl + C_STAT, 4)),
	    1u << 2);
	fvm_wr(b, bctl + C_NTF, 4, GUEST_SHM_NOTIFY_ALL);
	assert_int_equal(fvm_irqfd_take(aefd), 1);
	fvm_wait_irq(c, cirqs);
	assert_int_equal(GUEST_SHM_PENDING(fvm_rd(c, cctl + C_STAT, 4)),
	    1u << 1);

	/* The keep mask: a read of byte 1 leaves byte 0's bits set. */
	fvm_wr(b, bctl + C_NTF, 4, 1u << 0);
	fvm_wr(c, cctl + C_NTF, 4, 1u << 0);
	assert_int_equal(fvm_irqfd_take(aefd), 2);
	assert_int_equal(fvm_rd(a, actl + C_STAT + 1, 1), 0);
	assert_int_equal(fvm_rd(a, actl + C_STAT, 1), 0x06);
	assert_int_equal(GUEST_SHM_PENDING(fvm_rd(a, actl + C_STAT, 4)), 0);

	/* The irqfd path raised no interrupt through dispatch. */
	fvm_drain(a);
	fvm_drain(b);
	assert_int_equal(a->irqs, airqs);
	assert_int_equal(b->irqs, birqs);

	/* Detach unbinds before the eventfd is closed. */
	fvm_wr(b, bctl + C_DET, 4, 1);
	assert_int_equal(b->unbinds, 1);
	assert_int_equal(b->bad_unbinds, 0);
	assert_int_equal(fvm_nbound(b), 0);
	shmvdev_reset(a->v);
	assert_int_equal(a->unbinds, 1);
	assert_int_equal(a->bad_unbinds, 0);
	assert_int_equal(fvm_nbound(a), 0);
}

/* A bind that fails falls back to raise_irq from dispatch. */
static void
test_irqfd_bind_fails(void **state)
{
	struct vdev_fx *f = *state;
	struct fvm *a = fvm_open(f, 0, 0, 0), *b = fvm_open_irqfd(f, 1);
	uint64_t actl, bctl;
	unsigned irqs;

	b->bind_err = -EBUSY;
	assert_int_equal(fvm_create(a, "nobind", 1), GSS_OK);
	actl = fvm_rd(a, FACTORY + F_SHMEM, 8);
	assert_int_equal(fvm_find(b, "nobind"), GSS_OK);
	bctl = fvm_rd(b, FACTORY + F_SHMEM, 8);
	assert_int_equal(b->binds, 1);
	assert_int_equal(fvm_nbound(b), 0);
	fvm_drain(b);
	irqs = b->irqs;
	fvm_wr(a, actl + C_NTF, 4, 1u << 1);
	fvm_wait_irq(b, irqs);
	assert_int_equal(GUEST_SHM_PENDING(fvm_rd(b, bctl + C_STAT, 4)),
	    1u << 0);
	fvm_wr(b, bctl + C_DET, 4, 1);
	assert_int_equal(b->unbinds, 0);
}

/* A client revoked with its region (destroy --force) is unmapped and
 * its eventfd unbound at once; its control page reads 0 and takes no
 * writes, as after its own detach. */
static void
test_irqfd_revoked(void **state)
{
	struct vdev_fx *f = *state;
	struct fvm *a = fvm_open_irqfd(f, 0), *b = fvm_open_irqfd(f, 1);
	uint64_t actl, bctl;
	uint32_t detached;
	unsigned irqs, unmaps;

	assert_int_equal(check_admin_create(f->fx.adm, "rvk", 1), 0);
	assert_int_equal(fvm_find(a, "rvk"), GSS_OK);
	actl = fvm_rd(a, FACTORY + F_SHMEM, 8);
	assert_int_equal(fvm_find(b, "rvk"), GSS_OK);
	bctl = fvm_rd(b, FACTORY + F_SHMEM, 8);
	fvm_drain(a);
	fvm_wr(b, bctl + C_NTF, 4, 1u << 0);
	assert_int_equal(fvm_irqfd_take(fvm_irqfd(a)), 1);
	irqs = a->irqs;
	unmaps = a->nunmap;
	assert_int_equal(check_admin_destroy(f->fx.adm, "rvk", true, &detached),
	    0);
	assert_int_equal(detached, 2);
	fvm_wait_irq(a, irqs);
	assert_int_equal(a->nunmap, unmaps + 1);
	assert_int_equal(a->unbinds, 1);
	assert_int_equal(fvm_rd(a, actl + C_STAT, 4), 0);
	assert_int_equal(fvm_rd(a, actl + C_STAT, 8) >> 32, 0);
	fvm_wr(a, actl + C_NTF, 4, GUEST_SHM_NOTIFY_ALL);
	fvm_wr(a, actl + C_DET, 4, 1);
	assert_int_equal(a->unbinds, 1);
	assert_int_equal(a->bad_unbinds, 0);
}

/* A revoked client's detach lets go of libshmclient's record and eventfd
 * too: over revoke-then-detach rounds this process's fds stay flat (they
 * grew by one a round). */
static void
test_revoked_detach_frees(void **state)
{
	struct vdev_fx *f = *state;
	struct fvm *a = fvm_open(f, 0, 0, 0);
	int base = -1;

	for (int round = 0; round < 4; round++) {
		uint32_t detached;
		uint64_t ctl;

		assert_int_equal(check_admin_create(f->fx.adm, "rvk2", 1), 0);
		assert_int_equal(fvm_find(a, "rvk2"), GSS_OK);
		ctl = fvm_rd(a, FACTORY + F_SHMEM, 8);
		assert_int_equal(check_admin_destroy(f->fx.adm, "rvk2", true,
		    &detached), 0);
		assert_int_equal(detached, 1);
		fvm_drain(a);
		assert_int_equal(fvm_rd(a, ctl + C_STAT, 4), 0);
		fvm_wr(a, ctl + C_DET, 4, 1);
		if (base < 0)
			base = check_count_own_fds();
		else if (check_count_own_fds() != base)
			fail_msg("round %d: %d fds, %d after the first round",
			    round, check_count_own_fds(), base);
	}
}

/*
 * An admin detaches one VM's client (shmctl detach): its VMM unbinds the
 * eventfd and unmaps the region at once, the control page reads 0 and
 * takes no writes (as after the guest's own detach) but stays claimed,
 * and the guest is interrupted; the peer sees it leave and keeps the
 * region; libshmclient's record goes (no fd left behind).
 */
static void
test_force_detached(void **state)
{
	struct vdev_fx *f = *state;
	struct fvm *a = fvm_open(f, 0, 0, 0), *b = fvm_open_irqfd(f, 1);
	Shmbroker__ServerMessage *m = NULL;
	uint64_t actl, bctl;
	unsigned airqs, birqs, unmaps;
	int fds;

	assert_int_equal(fvm_create(a, "fdet", 1), GSS_OK);
	actl = fvm_rd(a, FACTORY + F_SHMEM, 8);
	fds = check_count_own_fds();
	assert_int_equal(fvm_find(b, "fdet"), GSS_OK);
	bctl = fvm_rd(b, FACTORY + F_SHMEM, 8);
	fvm_gmem(a, actl + 0x1000, 4)[0] = 0x5a;
	assert_int_equal(fvm_gmem(b, bctl + 0x1000, 4)[0], 0x5a);
	fvm_drain(a);
	fvm_drain(b);
	airqs = a->irqs;
	birqs = b->irqs;
	unmaps = b->nunmap;

	assert_int_equal(shmc_admin_detach(f->fx.adm, 0, "fdet", 1, &m), 0);
	assert_int_equal(m->error, SHMBROKER__ERROR__ERR_NONE);
	shmbroker__server_message__free_unpacked(m, NULL);
	fvm_wait_irq(b, birqs);
	assert_int_equal(b->nunmap, unmaps + 1);
	assert_int_equal(b->bad_unmaps, 0);
	assert_int_equal(b->unbinds, 1);
	assert_int_equal(b->bad_unbinds, 0);
	assert_int_equal(fvm_nbound(b), 0);
	assert_true(shmvdev_claims(b->v, bctl));
	assert_false(shmvdev_claims(b->v, bctl + 0x1000));
	assert_int_equal(fvm_rd(b, bctl + C_STAT, 4), 0);
	assert_int_equal(fvm_rd(b, bctl + C_IDX, 4), 0);
	fvm_wr(b, bctl + C_NTF, 4, GUEST_SHM_NOTIFY_ALL);
	fvm_wr(b, bctl + C_DET, 4, 1);
	assert_int_equal(shmvdev_attached(b->v, NULL, 0), 0);

	fvm_wait_irq(a, airqs);
	/* a let go of b's eventfd too */
	assert_int_equal(check_count_own_fds(), fds);
	assert_int_equal(GUEST_SHM_ACTIVE(fvm_rd(a, actl + C_STAT, 4)), 0x1);
	assert_int_equal(fvm_gmem(a, actl + 0x1000, 4)[0], 0x5a);
	assert_int_equal(check_admin_clients(f->fx.adm, "fdet"), 1);
	/* The VM may attach again, where the detached page was. */
	assert_int_equal(fvm_find(b, "fdet"), GSS_OK);
	assert_int_equal(fvm_rd(b, FACTORY + F_SHMEM, 8), bctl);
	assert_int_equal(GUEST_SHM_ACTIVE(fvm_rd(b, bctl + C_STAT, 4)), 0x3);
}

/* The event thread shmvdev.h asks for sleeps through the guest's calls:
 * libshmvdev tells libshmclient it is there (test_notify has the wakes it
 * is spared). */
static void
test_event_thread_sleeps(void **state)
{
	struct vdev_fx *f = *state;
	struct fvm *a = fvm_open(f, 0, 0, 0);
	struct harness_poller *p;
	long wakes, ready;

	assert_int_equal(harness_poller_start(shmvdev_event_fd(a->v), &p), 0);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(fvm_create(a, "evt", 1), GSS_OK);
		fvm_wr(a, fvm_rd(a, FACTORY + F_SHMEM, 8) + C_DET, 4, 1);
	}
	harness_poller_stop(p, &wakes, &ready);
	print_message("event thread: woken %ld times over 100 calls\n",
	    wakes);
	assert_true(wakes <= 1);
}

static void
test_bad_config(void **state)
{
	struct vdev_fx *f = *state;
	struct shmvdev_config cfg = { .socket = f->fx.d.socket };
	struct shmvdev *v = NULL;
	char err[256];

	cfg.window_base = 0x40100000;	/* not 2 MiB aligned */
	assert_int_equal(shmvdev_open(&cfg, &fvm_ops, NULL, &v, err,
	    sizeof(err)), -EINVAL);
	assert_null(v);
	assert_non_null(strstr(err, "2 MiB"));
	cfg.window_base = 0;
	cfg.factory_gpa = SHMVDEV_DEFAULT_WINDOW_BASE + 0x1000;
	assert_int_equal(shmvdev_open(&cfg, &fvm_ops, NULL, &v, err,
	    sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "inside the window"));
	cfg.factory_gpa = 0;
	cfg.window_size = 8ull << 30;
	assert_int_equal(shmvdev_open(&cfg, &fvm_ops, NULL, &v, err,
	    sizeof(err)), -EINVAL);
	cfg.window_size = 0;
	cfg.socket = "/nonexistent/shmbroker.sock";
	assert_true(shmvdev_open(&cfg, &fvm_ops, NULL, &v, err,
	    sizeof(err)) < 0);
	assert_null(v);
}

#define VDEV_TEST(fn) \
	cmocka_unit_test_setup_teardown(fn, fvm_setup, fvm_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		VDEV_TEST(test_signature_and_readonly),
		VDEV_TEST(test_two_vms),
		VDEV_TEST(test_status_bytes),
		VDEV_TEST(test_guest_errors),
		VDEV_TEST(test_window_full),
		VDEV_TEST(test_failed_map_keeps_detached_page),
		VDEV_TEST(test_client_max),
		VDEV_TEST(test_reset),
		VDEV_TEST(test_daemon_gone),
		VDEV_TEST(test_irqfd_notify),
		VDEV_TEST(test_irqfd_bind_fails),
		VDEV_TEST(test_irqfd_revoked),
		VDEV_TEST(test_revoked_detach_frees),
		VDEV_TEST(test_force_detached),
		VDEV_TEST(test_event_thread_sleeps),
		VDEV_TEST(test_bad_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
