/* SPDX-License-Identifier: ISC */
/*
 * fakevm: fake VMMs for the libshmvdev tests (see fakevm.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "fakevm.h"
#include "testcheck.h"

static int
fvm_map(void *vmm, uint64_t gpa, int fd, uint64_t len, bool hugetlb)
{
	struct fvm *m = vmm;
	void *p;

	if (m->map_err != 0)
		return m->map_err;
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

const struct shmvdev_ops fvm_ops = {
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

unsigned
fvm_nbound(const struct fvm *m)
{
	unsigned n = 0;

	for (size_t i = 0; i < MAXBOUND; i++)
		n += m->bound[i] >= 0;
	return n;
}

/* The one bound eventfd of m. */
int
fvm_irqfd(const struct fvm *m)
{
	assert_int_equal(fvm_nbound(m), 1);
	for (size_t i = 0; i < MAXBOUND; i++)
		if (m->bound[i] >= 0)
			return m->bound[i];
	return -1;
}

/* Takes a bound eventfd's counter as the kernel would; 0: not signalled. */
uint64_t
fvm_irqfd_take(int efd)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	uint64_t v = 0;

	if (poll(&p, 1, 0) != 1 || read(efd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

/* Guest memory at gpa, which must be mapped for n bytes. */
uint8_t *
fvm_gmem(struct fvm *m, uint64_t gpa, uint64_t n)
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

int
fvm_teardown(void **state)
{
	struct vdev_fx *f = *state;

	if (f == NULL)
		return 0;
	for (int i = 0; i < NVMS; i++)
		fvm_release(&f->vm[i]);
	return fixture_teardown(state);
}

/* A daemon with conf (NULL: none), --hugepages never. */
int
fvm_setup_conf(void **state, const char *conf)
{
	static const char *const never[] = { "--hugepages", "never", NULL };

	return fixture_begin(state, sizeof(struct vdev_fx), conf, never);
}

int
fvm_setup(void **state)
{
	return fvm_setup_conf(state, NULL);
}

static struct fvm *
fvm_open_ops(struct vdev_fx *f, int i, uint64_t window_size,
    int reconnect_ms, const struct shmvdev_ops *ops)
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
struct fvm *
fvm_open(struct vdev_fx *f, int i, uint64_t window_size, int reconnect_ms)
{
	return fvm_open_ops(f, i, window_size, reconnect_ms, &fvm_ops);
}

/* The same with irqfds: notifications do not go through dispatch. */
struct fvm *
fvm_open_irqfd(struct vdev_fx *f, int i)
{
	return fvm_open_ops(f, i, 0, 0, &fvm_irqfd_ops);
}

/* An access the vdev must take as its own: shmvdev_claims and the
 * access itself agree. */
uint64_t
fvm_rd(struct fvm *m, uint64_t gpa, unsigned len)
{
	uint64_t v;

	assert_true(shmvdev_claims(m->v, gpa));
	assert_true(shmvdev_access(m->v, gpa, false, len, 0, &v));
	return v;
}

void
fvm_wr(struct fvm *m, uint64_t gpa, unsigned len, uint64_t data)
{
	uint64_t v;

	assert_true(shmvdev_claims(m->v, gpa));
	assert_true(shmvdev_access(m->v, gpa, true, len, data, &v));
	assert_int_equal(v, 0);
}

/* The guest's name copy, a byte at a time, NUL included. */
void
fvm_set_name(struct fvm *m, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i <= n; i++)
		fvm_wr(m, FACTORY + F_NAME + i, 1, (uint8_t)name[i]);
}

uint32_t
fvm_create(struct fvm *m, const char *name, uint32_t pages)
{
	fvm_set_name(m, name);
	fvm_wr(m, FACTORY + F_SIZE, 4, pages);
	return (uint32_t)fvm_rd(m, FACTORY + F_STAT, 4);
}

uint32_t
fvm_find(struct fvm *m, const char *name)
{
	fvm_set_name(m, name);
	fvm_wr(m, FACTORY + F_FIND, 4, 0);
	return (uint32_t)fvm_rd(m, FACTORY + F_STAT, 4);
}

/* Dispatches until m has seen more than irqs interrupts. */
void
fvm_wait_irq(struct fvm *m, unsigned irqs)
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
void
fvm_drain(struct fvm *m)
{
	struct pollfd p = { .fd = shmvdev_event_fd(m->v), .events = POLLIN };

	while (poll(&p, 1, 0) > 0)
		assert_true(shmvdev_dispatch(m->v) >= 0);
}

void
fvm_daemon_counts(struct vdev_fx *f, uint32_t *regions,
    uint32_t *clients)
{
	check_admin_counts(f->fx.adm, regions, clients);
}
