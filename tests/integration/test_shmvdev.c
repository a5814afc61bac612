/*
 * test_shmvdev: libshmvdev, the VMM side of the guest vdev, against the
 * real daemon. Each "VM" is a fake VMM in this process: its map callback
 * mmaps the region fd into a table keyed by guest-physical address (so
 * the test reads and writes guest memory at a gpa), unmap undoes it, and
 * raise_irq counts; with bind_irqfd it keeps the bound eventfds the way
 * KVM would, and the test polls them as the kernel would. Several VMs (each its own libshmclient connection)
 * share regions the way guests would, through factory and control page
 * accesses only; the daemon's view is checked through the admin socket.
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
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "qvm/guest_shm.h"
#include "shmvdev.h"
#include "testcheck.h"

#define NVMS		4
#define MAXMAPS		24
#define WAIT_MS		5000
#define FACTORY		SHMVDEV_DEFAULT_FACTORY_GPA
#define MIB		(1024ull * 1024)

/* Factory and control offsets (struct guest_shm_factory/_control). */
#define F_SIG	0x00
#define F_SHMEM	0x08
#define F_VEC	0x10
#define F_STAT	0x14
#define F_SIZE	0x18
#define F_NAME	0x1C
#define F_FIND	0x3C
#define C_STAT	0x0
#define C_IDX	0x4
#define C_NTF	0x8
#define C_DET	0xC

struct gmap {
	uint64_t gpa, len;
	uint8_t *p;
};

/* A fake VMM: guest memory mapped by libshmvdev, interrupts counted. */
#define MAXBOUND	8

struct fvm {
	struct shmvdev *v;
	struct gmap maps[MAXMAPS];
	unsigned irqs, nmap, nunmap, bad_unmaps;
	bool last_hugetlb;
	int bound[MAXBOUND];	/* irqfds, -1: free slot */
	unsigned binds, unbinds, bad_unbinds;
	int bind_err;		/* what bind_irqfd returns, 0: binds */
};

/* The fixture and the fake VMs. */
struct vdev_fx {
	struct fixture fx;	/* first: fixture_teardown frees it whole */
	struct fvm vm[NVMS];
};

static int
fvm_map(void *vmm, uint64_t gpa, int fd, uint64_t len, bool hugetlb)
{
	struct fvm *m = vmm;
	void *p;

	for (size_t i = 0; i < MAXMAPS; i++) {
		if (m->maps[i].p != NULL)
			continue;
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			return -errno;
		m->maps[i] = (struct gmap){ .gpa = gpa, .len = len, .p = p };
		m->nmap++;
		m->last_hugetlb = hugetlb;
		return 0;
	}
	return -ENOSPC;
}

static int
fvm_unmap(void *vmm, uint64_t gpa, uint64_t len)
{
	struct fvm *m = vmm;

	for (size_t i = 0; i < MAXMAPS; i++)
		if (m->maps[i].p != NULL && m->maps[i].gpa == gpa &&
		    m->maps[i].len == len) {
			munmap(m->maps[i].p, len);
			m->maps[i].p = NULL;
			m->nunmap++;
			return 0;
		}
	m->bad_unmaps++;
	return -ENOENT;
}

static void
fvm_irq(void *vmm)
{
	((struct fvm *)vmm)->irqs++;
}

static const struct shmvdev_ops fvm_ops = {
	.map = fvm_map, .unmap = fvm_unmap, .raise_irq = fvm_irq,
};

/* KVM_IRQFD's part: an eventfd bound to at most one slot. */
static int
fvm_bind(void *vmm, int efd)
{
	struct fvm *m = vmm;

	m->binds++;
	if (m->bind_err != 0)
		return m->bind_err;
	for (size_t i = 0; i < MAXBOUND; i++)
		if (m->bound[i] == efd)
			return -EBUSY;
	for (size_t i = 0; i < MAXBOUND; i++)
		if (m->bound[i] < 0) {
			m->bound[i] = efd;
			return 0;
		}
	return -ENOSPC;
}

/* Unbinding needs the fd: one that is not open, or not bound, is a bug. */
static void
fvm_unbind(void *vmm, int efd)
{
	struct fvm *m = vmm;

	m->unbinds++;
	for (size_t i = 0; i < MAXBOUND; i++)
		if (m->bound[i] == efd && fcntl(efd, F_GETFD) >= 0) {
			m->bound[i] = -1;
			return;
		}
	m->bad_unbinds++;
}

static const struct shmvdev_ops fvm_irqfd_ops = {
	.map = fvm_map, .unmap = fvm_unmap, .raise_irq = fvm_irq,
	.bind_irqfd = fvm_bind, .unbind_irqfd = fvm_unbind,
};

static unsigned
fvm_nbound(const struct fvm *m)
{
	unsigned n = 0;

	for (size_t i = 0; i < MAXBOUND; i++)
		n += m->bound[i] >= 0;
	return n;
}

/* The one bound eventfd of m. */
static int
fvm_irqfd(const struct fvm *m)
{
	assert_int_equal(fvm_nbound(m), 1);
	for (size_t i = 0; i < MAXBOUND; i++)
		if (m->bound[i] >= 0)
			return m->bound[i];
	return -1;
}

/* Takes a bound eventfd's counter as the kernel would; 0: not signalled. */
static uint64_t
irqfd_take(int efd)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	uint64_t v = 0;

	if (poll(&p, 1, 0) != 1 || read(efd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

/* Guest memory at gpa, which must be mapped for n bytes. */
static uint8_t *
gmem(struct fvm *m, uint64_t gpa, uint64_t n)
{
	for (size_t i = 0; i < MAXMAPS; i++)
		if (m->maps[i].p != NULL && gpa >= m->maps[i].gpa &&
		    gpa + n <= m->maps[i].gpa + m->maps[i].len)
			return m->maps[i].p + (gpa - m->maps[i].gpa);
	fail_msg("gpa 0x%llx is not guest memory", (unsigned long long)gpa);
	return NULL;
}

static void
fvm_release(struct fvm *m)
{
	shmvdev_close(m->v);
	for (size_t i = 0; i < MAXMAPS; i++)
		if (m->maps[i].p != NULL)
			munmap(m->maps[i].p, m->maps[i].len);
	memset(m, 0, sizeof(*m));
}

static int
teardown(void **state)
{
	struct vdev_fx *f = *state;

	if (f == NULL)
		return 0;
	for (int i = 0; i < NVMS; i++)
		fvm_release(&f->vm[i]);
	return fixture_teardown(state);
}

/* A daemon with conf (NULL: none), --hugepages never. */
static int
setup_conf(void **state, const char *conf)
{
	static const char *const never[] = { "--hugepages", "never", NULL };

	return fixture_begin(state, sizeof(struct vdev_fx), conf, never);
}

static int
setup(void **state)
{
	return setup_conf(state, NULL);
}

static struct fvm *
vm_open_ops(struct vdev_fx *f, int i, uint64_t window_size, int reconnect_ms,
    const struct shmvdev_ops *ops)
{
	struct shmvdev_config cfg = {
		.socket = f->fx.d.socket, .label = "test-vm",
		.vector = 0x40u + (uint32_t)i, .window_size = window_size,
		.reconnect_ms = reconnect_ms,
	};
	char err[256];

	for (size_t k = 0; k < MAXBOUND; k++)
		f->vm[i].bound[k] = -1;
	if (shmvdev_open(&cfg, ops, &f->vm[i], &f->vm[i].v, err,
	    sizeof(err)) < 0)
		fail_msg("shmvdev_open: %s", err);
	return &f->vm[i];
}

/* Opens VM i; window_size 0 is the default window. */
static struct fvm *
vm_open(struct vdev_fx *f, int i, uint64_t window_size, int reconnect_ms)
{
	return vm_open_ops(f, i, window_size, reconnect_ms, &fvm_ops);
}

/* The same with irqfds: notifications do not go through dispatch. */
static struct fvm *
vm_open_irqfd(struct vdev_fx *f, int i)
{
	return vm_open_ops(f, i, 0, 0, &fvm_irqfd_ops);
}

/* An access the vdev must take as its own: shmvdev_claims and the
 * access itself agree. */
static uint64_t
rd(struct fvm *m, uint64_t gpa, unsigned len)
{
	uint64_t v;

	assert_true(shmvdev_claims(m->v, gpa));
	assert_true(shmvdev_access(m->v, gpa, false, len, 0, &v));
	return v;
}

static void
wr(struct fvm *m, uint64_t gpa, unsigned len, uint64_t data)
{
	uint64_t v;

	assert_true(shmvdev_claims(m->v, gpa));
	assert_true(shmvdev_access(m->v, gpa, true, len, data, &v));
	assert_int_equal(v, 0);
}

/* The guest's name copy, a byte at a time, NUL included. */
static void
set_name(struct fvm *m, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i <= n; i++)
		wr(m, FACTORY + F_NAME + i, 1, (uint8_t)name[i]);
}

static uint32_t
create(struct fvm *m, const char *name, uint32_t pages)
{
	set_name(m, name);
	wr(m, FACTORY + F_SIZE, 4, pages);
	return (uint32_t)rd(m, FACTORY + F_STAT, 4);
}

static uint32_t
find(struct fvm *m, const char *name)
{
	set_name(m, name);
	wr(m, FACTORY + F_FIND, 4, 0);
	return (uint32_t)rd(m, FACTORY + F_STAT, 4);
}

/* Dispatches until m has seen more than irqs interrupts. */
static void
wait_irq(struct fvm *m, unsigned irqs)
{
	int64_t end = harness_now_ms() + WAIT_MS;
	struct pollfd p = { .fd = shmvdev_event_fd(m->v), .events = POLLIN };

	while (m->irqs <= irqs && harness_now_ms() < end) {
		if (poll(&p, 1, 100) > 0)
			assert_true(shmvdev_dispatch(m->v) >= 0);
	}
	assert_true(m->irqs > irqs);
}

/* Dispatches whatever is waiting now. */
static void
drain(struct fvm *m)
{
	struct pollfd p = { .fd = shmvdev_event_fd(m->v), .events = POLLIN };

	while (poll(&p, 1, 0) > 0)
		assert_true(shmvdev_dispatch(m->v) >= 0);
}

static void
daemon_counts(struct vdev_fx *f, uint32_t *regions, uint32_t *clients)
{
	check_admin_counts(f->fx.adm, regions, clients);
}

/* ---- the factory page on its own ---- */

static void
test_signature_and_readonly(void **state)
{
	struct vdev_fx *f = *state;
	struct fvm *a = vm_open(f, 0, 0, 0);
	uint64_t v;
	const uint64_t sig = GUEST_SHM_SIGNATURE;

	for (unsigned len = 1; len <= 8; len *= 2)
		for (unsigned off = 0; off + len <= 8; off += len) {
			uint64_t want = sig >> (8 * off);

			if (len < 8)
				want &= (1ull << (8 * len)) - 1;
			assert_int_equal(rd(a, FACTORY + off, len), want);
		}
	assert_int_equal(rd(a, FACTORY + F_VEC, 4), 0x40);
	/* Writes to read-only fields and find reads are ignored. */
	wr(a, FACTORY + F_SIG, 8, 0);
	wr(a, FACTORY + F_SHMEM, 8, 0x1234);
	wr(a, FACTORY + F_VEC, 4, 7);
	wr(a, FACTORY + F_STAT, 4, 5);
	assert_int_equal(rd(a, FACTORY + F_SIG, 8), sig);
	assert_int_equal(rd(a, FACTORY + F_SHMEM, 8), 0);
	assert_int_equal(rd(a, FACTORY + F_VEC, 4), 0x40);
	assert_int_equal(rd(a, FACTORY + F_STAT, 4), GSS_OK);
	assert_int_equal(rd(a, FACTORY + F_FIND, 4), 0);
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
	struct fvm *a = vm_open(f, 0, 0, 0), *b = vm_open(f, 1, 0, 0);
	uint64_t actl, bctl, adata, bdata;
	uint32_t aidx, bidx, regions, clients, st;
	unsigned irqs;

	assert_int_equal(create(a, "shared", 3), GSS_OK);
	actl = rd(a, FACTORY + F_SHMEM, 8);
	assert_int_equal(rd(a, FACTORY + F_SIZE, 4), 3);
	adata = actl + 0x1000;
	assert_int_equal(adata % (2 * MIB), 0);
	assert_true(adata >= SHMVDEV_DEFAULT_WINDOW_BASE);
	assert_int_equal(a->nmap, 1);
	assert_false(a->last_hugetlb);

	/* B asks for another size: find and create both attach. */
	assert_int_equal(find(b, "shared"), GSS_OK);
	bctl = rd(b, FACTORY + F_SHMEM, 8);
	bdata = bctl + 0x1000;
	assert_int_equal(rd(b, FACTORY + F_SIZE, 4), 3);
	set_name(b, "shared");
	wr(b, FACTORY + F_SIZE, 4, 99);
	assert_int_equal(rd(b, FACTORY + F_STAT, 4), GSS_OK);
	assert_int_equal(rd(b, FACTORY + F_SIZE, 4), 3);
	assert_int_not_equal(rd(b, FACTORY + F_SHMEM, 8), bctl);
	/* The second client of B goes away again. */
	wr(b, rd(b, FACTORY + F_SHMEM, 8) + C_DET, 4, 1);

	/* Zero copy: A's store is B's load, through the same memfd. */
	memcpy(gmem(a, adata, 3 * 4096), "through the fd", 15);
	assert_string_equal((char *)gmem(b, bdata, 3 * 4096),
	    "through the fd");
	gmem(b, bdata + 3 * 4096 - 1, 1)[0] = 0x5a;
	assert_int_equal(gmem(a, adata + 3 * 4096 - 1, 1)[0], 0x5a);

	aidx = (uint32_t)rd(a, actl + C_IDX, 4);
	bidx = (uint32_t)rd(b, bctl + C_IDX, 4);
	assert_int_equal(aidx, 0);
	assert_int_equal(bidx, 1);
	/* Control status and idx are read-only. */
	wr(a, actl + C_IDX, 4, 9);
	wr(a, actl + C_STAT, 4, 0xffff);
	assert_int_equal(rd(a, actl + C_IDX, 4), 0);

	/* A notifies B. */
	drain(b);
	irqs = b->irqs;
	wr(a, actl + C_NTF, 4, 1u << bidx);
	wait_irq(b, irqs);
	st = (uint32_t)rd(b, bctl + C_STAT, 4);
	assert_int_equal(GUEST_SHM_PENDING(st), 1u << aidx);
	assert_int_equal(GUEST_SHM_ACTIVE(st), (1u << aidx) | (1u << bidx));
	assert_int_equal(GUEST_SHM_PENDING(rd(b, bctl + C_STAT, 4)), 0);

	/* Every other client. */
	drain(a);
	irqs = b->irqs;
	wr(a, actl + C_NTF, 4, GUEST_SHM_NOTIFY_ALL);
	wait_irq(b, irqs);
	assert_int_equal(GUEST_SHM_PENDING(rd(b, bctl + C_STAT, 4)),
	    1u << aidx);
	assert_int_equal(GUEST_SHM_PENDING(rd(a, actl + C_STAT, 4)), 0);

	/* B detaches: A hears of it, B's pages go. */
	drain(a);
	irqs = a->irqs;
	wr(b, bctl + C_DET, 4, 0);
	assert_int_equal(b->nunmap, 2);
	assert_int_equal(b->bad_unmaps, 0);
	wait_irq(a, irqs);
	st = (uint32_t)rd(a, actl + C_STAT, 4);
	assert_int_equal(GUEST_SHM_ACTIVE(st), 1u << aidx);
	/* The detached page stays claimed, reads 0 and ignores writes. */
	assert_true(shmvdev_claims(b->v, bctl));
	assert_int_equal(rd(b, bctl + C_IDX, 4), 0);
	assert_int_equal(rd(b, bctl + C_STAT, 8), 0);
	wr(b, bctl + C_DET, 4, 1);
	wr(b, bctl + C_NTF, 4, 1);
	assert_int_equal(b->nunmap, 2);
	daemon_counts(f, &regions, &clients);
	assert_int_equal(regions, 1);
	assert_int_equal(clients, 1);
	/* B attaches again: the freed slots and control page come back. */
	assert_int_equal(find(b, "shared"), GSS_OK);
	assert_int_equal(rd(b, FACTORY + F_SHMEM, 8), bctl);
	assert_int_equal(rd(b, bctl + C_IDX, 4), 1);
	assert_string_equal((char *)gmem(b, bdata, 16), "through the fd");
}

/* A one-byte status read takes only the bits of that byte. */
static void
test_status_bytes(void **state)
{
	struct vdev_fx *f = *state;
	struct fvm *a = vm_open(f, 0, 0, 0), *b = vm_open(f, 1, 0, 0);
	struct fvm *c = vm_open(f, 2, 0, 0);
	uint64_t actl, bctl, cctl = 0;
	uint32_t st;
	unsigned irqs;

	assert_int_equal(create(a, "bytes", 1), GSS_OK);
	actl = rd(a, FACTORY + F_SHMEM, 8);
	assert_int_equal(find(b, "bytes"), GSS_OK);
	bctl = rd(b, FACTORY + F_SHMEM, 8);
	/* C takes indices 2..9: one VM, several clients of one region. */
	for (int i = 2; i <= 9; i++) {
		assert_int_equal(find(c, "bytes"), GSS_OK);
		cctl = rd(c, FACTORY + F_SHMEM, 8);
		assert_int_equal(rd(c, cctl + C_IDX, 4), (uint64_t)i);
	}
	drain(b);
	irqs = b->irqs;
	wr(a, actl + C_NTF, 4, 1u << 1);
	wr(c, cctl + C_NTF, 1, 1u << 1);	/* a byte store notifies */
	wait_irq(b, irqs);
	/* Both notifications are in the daemon: byte 1 alone, then the rest. */
	assert_int_equal(rd(b, bctl + C_STAT + 1, 1), 0x02);
	assert_int_equal(rd(b, bctl + C_STAT + 2, 2), 0x3ff);
	st = (uint32_t)rd(b, bctl + C_STAT, 4);
	assert_int_equal(GUEST_SHM_PENDING(st), 0x001);
	assert_int_equal(GUEST_SHM_ACTIVE(st), 0x3ff);
	/* And the other way round: byte 0 keeps byte 1. */
	wr(a, actl + C_NTF, 4, 1u << 1);
	wr(c, cctl + C_NTF, 4, 1u << 1);
	assert_int_equal(rd(b, bctl + C_STAT, 1), 0x01);
	assert_int_equal(rd(b, bctl + C_STAT, 2), 0x0200);
	assert_int_equal(rd(b, bctl + C_STAT, 2), 0);
	/* Bytes 2-3 alone take nothing. */
	wr(a, actl + C_NTF, 4, 1u << 1);
	assert_int_equal(rd(b, bctl + C_STAT + 2, 2), 0x3ff);
	assert_int_equal(rd(b, bctl + C_STAT, 8) & 0xffff, 0x001);
	/* An 8-byte read at 0 covers idx too. */
	assert_int_equal(rd(b, bctl + C_STAT, 8) >> 32, 1);
}

/* ---- what a guest can get wrong ---- */

static void
test_guest_errors(void **state)
{
	struct vdev_fx *f = *state;
	struct fvm *a = vm_open(f, 0, 0, 0);
	uint32_t regions, clients;
	uint64_t ctl;

	assert_int_equal(create(a, "good", 1), GSS_OK);
	ctl = rd(a, FACTORY + F_SHMEM, 8);
	/* 32 name bytes without a NUL. */
	for (unsigned i = 0; i < 32; i += 8)
		wr(a, FACTORY + F_NAME + i, 8, 0x4141414141414141ull);
	wr(a, FACTORY + F_SIZE, 4, 1);
	assert_int_equal(rd(a, FACTORY + F_STAT, 4), GSS_ILLEGAL_NAME);
	assert_true(strlen(shmvdev_error(a->v)) > 0);
	/* After a failure shmem stays, size reads what was written. */
	assert_int_equal(rd(a, FACTORY + F_SHMEM, 8), ctl);
	assert_int_equal(rd(a, FACTORY + F_SIZE, 4), 1);
	assert_int_equal(create(a, "", 1), GSS_ILLEGAL_NAME);
	assert_int_equal(find(a, "missing"), GSS_DOES_NOT_EXIST);
	assert_int_equal(create(a, "empty", 0), GSS_NOMEM);
	assert_int_equal(rd(a, FACTORY + F_SIZE, 4), 0);
	assert_int_equal(check_admin_show(f->fx.adm, "empty").error,
	    SHMBROKER__ERROR__ERR_NOT_FOUND);
	assert_int_equal(rd(a, FACTORY + F_SHMEM, 8), ctl);
	/* Only the good region's single client, and one mapping. */
	daemon_counts(f, &regions, &clients);
	assert_int_equal(regions, 1);
	assert_int_equal(clients, 1);
	assert_int_equal(a->nmap, 1);
	/* A store spanning size and the name's first bytes lands whole. */
	set_name(a, "xxxx");
	wr(a, FACTORY + F_SIZE, 8, 1ull | (uint64_t)'g' << 32 |
	    (uint64_t)'o' << 40 | (uint64_t)'o' << 48 | (uint64_t)'d' << 56);
	assert_int_equal(rd(a, FACTORY + F_STAT, 4), GSS_OK);
	assert_int_equal(rd(a, FACTORY + F_SIZE, 4), 1);
	assert_int_equal(check_admin_show(f->fx.adm, "good").clients, 2);
}

static void
test_window_full(void **state)
{
	struct vdev_fx *f = *state;
	struct fvm *a = vm_open(f, 0, 4 * MIB, 0);
	uint32_t regions, clients;
	uint64_t ctl;

	assert_int_equal(create(a, "fits", 1), GSS_OK);
	ctl = rd(a, FACTORY + F_SHMEM, 8);
	assert_int_equal(ctl, SHMVDEV_DEFAULT_WINDOW_BASE + 2 * MIB - 0x1000);
	assert_int_equal(create(a, "nofit", 1), GSS_NOMEM);
	assert_int_equal(check_admin_show(f->fx.adm, "nofit").error,
	    SHMBROKER__ERROR__ERR_NOT_FOUND);
	/* Attaching another VM's region fails too, the region stays. */
	assert_int_equal(create(a, "fits", 1), GSS_NOMEM);
	daemon_counts(f, &regions, &clients);
	assert_int_equal(regions, 1);
	assert_int_equal(clients, 1);
	assert_int_equal(a->nmap, 1);
	/* Too big for the window at all. */
	assert_int_equal(create(a, "huge", 1024), GSS_NOMEM);
	/* Detach frees the slots for the next one. */
	wr(a, ctl + C_DET, 4, 1);
	assert_int_equal(create(a, "nofit", 1), GSS_OK);
	assert_int_equal(rd(a, FACTORY + F_SHMEM, 8), ctl);
	assert_int_equal(rd(a, ctl + C_IDX, 4), 0);
	daemon_counts(f, &regions, &clients);
	assert_int_equal(regions, 1);
	assert_int_equal(clients, 1);
}

static void
test_client_max(void **state)
{
	struct vdev_fx *f = *state;
	struct fvm *a = vm_open(f, 0, 0, 0), *b = vm_open(f, 1, 0, 0);
	uint32_t regions, clients;

	for (int i = 0; i < GUEST_SHM_MAX_CLIENTS; i++)
		assert_int_equal(create(i % 2 ? b : a, "full", 1), GSS_OK);
	assert_int_equal(create(b, "full", 1), GSS_CLIENT_MAX);
	assert_int_equal(find(a, "full"), GSS_CLIENT_MAX);
	daemon_counts(f, &regions, &clients);
	assert_int_equal(clients, GUEST_SHM_MAX_CLIENTS);
	assert_int_equal(a->nmap + b->nmap, GUEST_SHM_MAX_CLIENTS);
}

/* A VM reset drops every client of that VM and the factory's state. */
static void
test_reset(void **state)
{
	struct vdev_fx *f = *state;
	struct fvm *a = vm_open(f, 0, 0, 0), *b = vm_open(f, 1, 0, 0);
	uint64_t ctl[4], bctl;
	uint32_t regions, clients;
	unsigned irqs;

	assert_int_equal(create(b, "one", 1), GSS_OK);
	bctl = rd(b, FACTORY + F_SHMEM, 8);
	for (int i = 0; i < 3; i++)
		assert_int_equal(create(a, "one", 1), GSS_OK);
	assert_int_equal(create(a, "two", 2), GSS_OK);
	assert_int_equal(shmvdev_attached(a->v, ctl, 4), 4);
	wr(a, ctl[3] + C_DET, 4, 1);	/* "two" is gone with it */
	daemon_counts(f, &regions, &clients);
	assert_int_equal(regions, 1);
	assert_int_equal(clients, 4);
	drain(b);
	irqs = b->irqs;
	shmvdev_reset(a->v);
	assert_int_equal(a->nunmap, 4);
	assert_int_equal(a->bad_unmaps, 0);
	daemon_counts(f, &regions, &clients);
	assert_int_equal(clients, 1);
	wait_irq(b, irqs);
	assert_int_equal(GUEST_SHM_ACTIVE(rd(b, bctl + C_STAT, 4)), 1);
	for (int i = 0; i < 4; i++)
		assert_false(shmvdev_claims(a->v, ctl[i]));
	assert_int_equal(rd(a, FACTORY + F_SHMEM, 8), 0);
	assert_int_equal(rd(a, FACTORY + F_SIZE, 4), 0);
	assert_int_equal(rd(a, FACTORY + F_NAME, 8), 0);
	assert_int_equal(rd(a, FACTORY + F_VEC, 4), 0x40);
	shmvdev_reset(b->v);
	daemon_counts(f, &regions, &clients);
	assert_int_equal(clients, 0);
	assert_int_equal(regions, 0);
	/* The guest starts over at the same addresses. */
	assert_int_equal(create(a, "again", 1), GSS_OK);
	assert_int_equal(rd(a, FACTORY + F_SHMEM, 8), ctl[0]);
}

/* The daemon goes away: guest accesses fail softly, never crash. */
static void
test_daemon_gone(void **state)
{
	struct vdev_fx *f = *state;
	struct fvm *a = vm_open(f, 0, 0, 200);
	uint64_t ctl;

	assert_int_equal(create(a, "doomed", 1), GSS_OK);
	ctl = rd(a, FACTORY + F_SHMEM, 8);
	assert_int_equal(harness_stop_daemon(&f->fx.d), 0);
	/* Status and notify need no daemon: the state page is still here. */
	assert_int_equal(rd(a, ctl + C_STAT, 4), 1u << 16);
	wr(a, ctl + C_NTF, 4, GUEST_SHM_NOTIFY_ALL);
	assert_int_equal(create(a, "later", 1), GSS_UNKNOWN_FAILURE);
	assert_true(strlen(shmvdev_error(a->v)) > 0);
	assert_int_equal(rd(a, FACTORY + F_SHMEM, 8), ctl);
	wr(a, ctl + C_DET, 4, 1);
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
	struct fvm *a = vm_open_irqfd(f, 0), *b = vm_open_irqfd(f, 1);
	struct fvm *c = vm_open(f, 2, 0, 0);
	uint64_t actl, bctl, cctl;
	uint32_t st;
	unsigned airqs, birqs, cirqs;
	int aefd, befd;

	assert_int_equal(create(a, "irq", 1), GSS_OK);
	actl = rd(a, FACTORY + F_SHMEM, 8);
	assert_int_equal(find(b, "irq"), GSS_OK);
	bctl = rd(b, FACTORY + F_SHMEM, 8);
	assert_int_equal(find(c, "irq"), GSS_OK);
	cctl = rd(c, FACTORY + F_SHMEM, 8);
	aefd = fvm_irqfd(a);
	befd = fvm_irqfd(b);
	assert_int_not_equal(aefd, befd);
	assert_int_equal(fvm_nbound(c), 0);
	drain(a);
	drain(b);
	drain(c);
	airqs = a->irqs;
	birqs = b->irqs;
	cirqs = c->irqs;

	/* A notifies B: B's irqfd fires; nobody dispatches. */
	wr(a, actl + C_NTF, 4, 1u << 1);
	assert_int_equal(irqfd_take(befd), 1);
	assert_int_equal(irqfd_take(aefd), 0);
	st = (uint32_t)rd(b, bctl + C_STAT, 4);
	assert_int_equal(GUEST_SHM_PENDING(st), 1u << 0);
	assert_int_equal(GUEST_SHM_ACTIVE(st), 0x7);
	assert_int_equal(GUEST_SHM_PENDING(rd(b, bctl + C_STAT, 4)), 0);

	/* Every other client: both irqfds, and C (not bound) through its
	 * event fd and dispatch. */
	wr(c, cctl + C_NTF, 4, GUEST_SHM_NOTIFY_ALL);
	assert_int_equal(irqfd_take(aefd), 1);
	assert_int_equal(irqfd_take(befd), 1);
	assert_int_equal(GUEST_SHM_PENDING(rd(a, actl + C_STAT, 4)), 1u << 2);
	assert_int_equal(GUEST_SHM_PENDING(rd(b, bctl + C_STAT, 4)), 1u << 2);
	wr(b, bctl + C_NTF, 4, GUEST_SHM_NOTIFY_ALL);
	assert_int_equal(irqfd_take(aefd), 1);
	wait_irq(c, cirqs);
	assert_int_equal(GUEST_SHM_PENDING(rd(c, cctl + C_STAT, 4)), 1u << 1);

	/* The keep mask: a read of byte 1 leaves byte 0's bits set. */
	wr(b, bctl + C_NTF, 4, 1u << 0);
	wr(c, cctl + C_NTF, 4, 1u << 0);
	assert_int_equal(irqfd_take(aefd), 2);
	assert_int_equal(rd(a, actl + C_STAT + 1, 1), 0);
	assert_int_equal(rd(a, actl + C_STAT, 1), 0x06);
	assert_int_equal(GUEST_SHM_PENDING(rd(a, actl + C_STAT, 4)), 0);

	/* The irqfd path raised no interrupt through dispatch. */
	drain(a);
	drain(b);
	assert_int_equal(a->irqs, airqs);
	assert_int_equal(b->irqs, birqs);

	/* Detach unbinds before the eventfd is closed. */
	wr(b, bctl + C_DET, 4, 1);
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
	struct fvm *a = vm_open(f, 0, 0, 0), *b = vm_open_irqfd(f, 1);
	uint64_t actl, bctl;
	unsigned irqs;

	b->bind_err = -EBUSY;
	assert_int_equal(create(a, "nobind", 1), GSS_OK);
	actl = rd(a, FACTORY + F_SHMEM, 8);
	assert_int_equal(find(b, "nobind"), GSS_OK);
	bctl = rd(b, FACTORY + F_SHMEM, 8);
	assert_int_equal(b->binds, 1);
	assert_int_equal(fvm_nbound(b), 0);
	drain(b);
	irqs = b->irqs;
	wr(a, actl + C_NTF, 4, 1u << 1);
	wait_irq(b, irqs);
	assert_int_equal(GUEST_SHM_PENDING(rd(b, bctl + C_STAT, 4)), 1u << 0);
	wr(b, bctl + C_DET, 4, 1);
	assert_int_equal(b->unbinds, 0);
}

/* A revoked client reads 0 and its eventfd is unbound at its detach. */
static void
test_irqfd_revoked(void **state)
{
	struct vdev_fx *f = *state;
	struct fvm *a = vm_open_irqfd(f, 0), *b = vm_open_irqfd(f, 1);
	uint64_t actl, bctl;
	uint32_t detached;
	unsigned irqs;

	assert_int_equal(check_admin_create(f->fx.adm, "rvk", 1), 0);
	assert_int_equal(find(a, "rvk"), GSS_OK);
	actl = rd(a, FACTORY + F_SHMEM, 8);
	assert_int_equal(find(b, "rvk"), GSS_OK);
	bctl = rd(b, FACTORY + F_SHMEM, 8);
	drain(a);
	wr(b, bctl + C_NTF, 4, 1u << 0);
	assert_int_equal(irqfd_take(fvm_irqfd(a)), 1);
	irqs = a->irqs;
	assert_int_equal(check_admin_destroy(f->fx.adm, "rvk", true, &detached),
	    0);
	assert_int_equal(detached, 2);
	wait_irq(a, irqs);
	assert_int_equal(rd(a, actl + C_STAT, 4), 0);
	assert_int_equal(rd(a, actl + C_STAT, 8) >> 32, 0);
	wr(a, actl + C_NTF, 4, GUEST_SHM_NOTIFY_ALL);
	wr(a, actl + C_DET, 4, 1);
	assert_int_equal(a->unbinds, 1);
	assert_int_equal(a->bad_unbinds, 0);
}

/* ---- a daemon restart ---- */

/* A configured region comes back with a restarted daemon. */
static const char conf_region[] =
    "[broker]\ntenancy = open\nfd_store = no\n\n[region cfg]\nsize = 64K\n";

static int
setup_restart(void **state)
{
	return setup_conf(state, conf_region);
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
	struct fvm *a = vm_open(f, 0, 0, 0), *b = vm_open(f, 1, 0, 0);
	uint64_t actl, bctl, lost;
	uint32_t regions, clients, st;
	unsigned irqs;

	assert_int_equal(find(a, "cfg"), GSS_OK);
	actl = rd(a, FACTORY + F_SHMEM, 8);
	assert_int_equal(find(b, "cfg"), GSS_OK);
	bctl = rd(b, FACTORY + F_SHMEM, 8);
	assert_int_equal(create(a, "guestonly", 1), GSS_OK);
	lost = rd(a, FACTORY + F_SHMEM, 8);
	drain(a);
	drain(b);

	restart(f);
	/* Status reads and notifies do not go to the daemon: the event fd
	 * shows it gone, and dispatch reconnects and re-claims, B first. */
	drain(b);
	st = (uint32_t)rd(b, bctl + C_STAT, 4);
	assert_int_equal(GUEST_SHM_ACTIVE(st), 1u << 1);
	drain(a);
	irqs = b->irqs;
	wr(a, actl + C_NTF, 4, 1u << 1);
	wait_irq(b, irqs);
	st = (uint32_t)rd(b, bctl + C_STAT, 4);
	assert_int_equal(GUEST_SHM_PENDING(st), 1u << 0);
	assert_int_equal(GUEST_SHM_ACTIVE(st), 3);
	assert_int_equal(rd(a, actl + C_IDX, 4), 0);
	assert_int_equal(rd(b, bctl + C_IDX, 4), 1);
	/* guestonly died with the old daemon. */
	assert_true(shmvdev_claims(a->v, lost));
	assert_int_equal(rd(a, lost + C_STAT, 4), 0);
	wr(a, lost + C_NTF, 4, GUEST_SHM_NOTIFY_ALL);
	wr(a, lost + C_DET, 4, 1);
	assert_int_equal(a->nunmap, 1);
	assert_int_equal(a->bad_unmaps, 0);
	daemon_counts(f, &regions, &clients);
	assert_int_equal(regions, 1);
	assert_int_equal(clients, 2);
	/* And new attaches work. */
	assert_int_equal(create(a, "after", 1), GSS_OK);
	assert_int_equal(rd(a, FACTORY + F_SHMEM, 8), lost);
}

/* With irqfds, a restart gives each client a new eventfd: the old one is
 * unbound (while still open), the new one bound, and notifications reach
 * it. */
static void
test_daemon_restart_irqfd(void **state)
{
	struct vdev_fx *f = *state;
	struct fvm *a = vm_open_irqfd(f, 0), *b = vm_open_irqfd(f, 1);
	uint64_t actl, bctl, lost;

	assert_int_equal(find(a, "cfg"), GSS_OK);
	actl = rd(a, FACTORY + F_SHMEM, 8);
	assert_int_equal(find(b, "cfg"), GSS_OK);
	bctl = rd(b, FACTORY + F_SHMEM, 8);
	assert_int_equal(fvm_nbound(b), 1);
	assert_int_equal(create(a, "guestonly", 1), GSS_OK);
	lost = rd(a, FACTORY + F_SHMEM, 8);
	assert_int_equal(fvm_nbound(a), 2);
	drain(a);
	drain(b);

	restart(f);
	drain(b);
	drain(a);
	/* guestonly did not come back: its eventfd stays bound (and open)
	 * until the guest detaches it. */
	assert_int_equal(rd(a, lost + C_STAT, 4), 0);
	wr(a, lost + C_DET, 4, 1);
	assert_int_equal(a->binds, 3);
	assert_int_equal(a->unbinds, 2);
	assert_int_equal(a->bad_unbinds, 0);
	assert_int_equal(b->binds, 2);
	assert_int_equal(b->unbinds, 1);
	assert_int_equal(b->bad_unbinds, 0);
	/* The new eventfds are the ones bound, and they fire. */
	wr(a, actl + C_NTF, 4, 1u << 1);
	assert_int_equal(irqfd_take(fvm_irqfd(b)), 1);
	wr(b, bctl + C_NTF, 4, 1u << 0);
	assert_int_equal(irqfd_take(fvm_irqfd(a)), 1);
	assert_int_equal(GUEST_SHM_PENDING(rd(a, actl + C_STAT, 4)), 1u << 1);
	assert_int_equal(GUEST_SHM_PENDING(rd(b, bctl + C_STAT, 4)), 1u << 0);
	assert_int_equal(GUEST_SHM_ACTIVE(rd(b, bctl + C_STAT, 4)), 0x3);
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_signature_and_readonly,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_vms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_bytes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_guest_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_window_full, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_client_max, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_daemon_gone, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_irqfd_notify, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_irqfd_bind_fails, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_irqfd_revoked, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_daemon_restart,
		    setup_restart, teardown),
		cmocka_unit_test_setup_teardown(test_daemon_restart_irqfd,
		    setup_restart, teardown),
		cmocka_unit_test_setup_teardown(test_bad_config, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
