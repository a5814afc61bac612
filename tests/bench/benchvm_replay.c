/* SPDX-License-Identifier: ISC */
/*
 * benchvm_replay: shmbench-vm's bare vdev, the control of
 * guest_create_usable. It answers the factory page and one control page
 * for a guest that creates a region, uses it and detaches it, over and
 * over (bench_create), with the system calls shm-vm makes for that
 * (libshmvdev and libshmclient with an event thread, as strace shows them)
 * and none of their code: no register decoder, no protobuf-c, no
 * bookkeeping, no lock. Its requests go to replay.c's server (replay.h),
 * which does what the daemon does.
 *
 * A size write: EPOLL_CTL_MOD of the socket out of the event set, the
 * request, the reply with three fds, EPOLL_CTL_MOD back and a poll, then
 * F_GET_SEALS + fstat of the region and the state page, F_GETFL of the
 * region, its mmap, the memory slot where shm-vm puts a region's data and
 * the eventfd as irqfd. A detach write: the irqfd unbound, the same
 * request/reply dance, the closes, the slot deleted, munmap.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <qvm/guest_shm.h>

#include "benchvm.h"
#include "replay.h"
#include "wire.h"

#define REPLAY_SLOT	1

static uint64_t
rv_read_value(const uint8_t *data, uint32_t len)
{
	uint64_t v = 0;

	memcpy(&v, data, len < sizeof(v) ? len : sizeof(v));
	return v;
}

/* One request and its reply, with the event thread's socket dance. */
static int
rv_call(struct replay_vdev *rv, const struct replay_req *q, size_t bytes,
    int *fds, size_t nfds)
{
	struct epoll_event ev = { .events = 0 };
	struct pollfd p = { .fd = rv->sock, .events = POLLIN };
	char buf[WIRE_MAX_MESSAGE];
	struct wire_fds got = { .n = 0 };
	ssize_t n;
	int rc;

	memset(buf, 0, bytes);
	memcpy(buf, q, sizeof(*q));
	epoll_ctl(rv->ep, EPOLL_CTL_MOD, rv->sock, &ev);
	if ((rc = wire_send(rv->sock, buf, bytes, NULL, 0)) < 0)
		return rc;
	n = wire_recv(rv->sock, buf, sizeof(buf), &got);
	ev.events = EPOLLIN;
	epoll_ctl(rv->ep, EPOLL_CTL_MOD, rv->sock, &ev);
	poll(&p, 1, 0);
	if (n <= 0 || got.n != nfds) {
		wire_fds_close(&got);
		return n < 0 ? (int)n : -EPROTO;
	}
	if (nfds > 0)
		memcpy(fds, got.fd, nfds * sizeof(int));
	return 0;
}

/* What a create holds, let go in the detach's order (shm-vm's): the
 * irqfd, the server's attachment, the eventfd and state page, the slot,
 * the mapping, the region. */
static void
rv_detach(struct replay_vdev *rv)
{
	struct replay_req q = { .kind = REPLAY_DETACH };

	if (rv->region < 0)
		return;
	if (rv->irq_bound)
		vm_irq_unbind(rv->vm, rv->efd);
	rv_call(rv, &q, REPLAY_REQ_DETACH_BYTES, NULL, 0);
	close(rv->efd);
	close(rv->page);
	if (rv->slot_set)
		vm_slot_set(rv->vm, REPLAY_SLOT, BENCHVM_DATA_GPA, 0, rv->hva,
		    0);
	if (rv->hva != NULL)
		munmap(rv->hva, rv->len);
	close(rv->region);
	rv->hva = NULL;
	rv->irq_bound = rv->slot_set = false;
	rv->region = rv->page = rv->efd = -1;
}

static int
rv_map(struct replay_vdev *rv)
{
	struct stat rs, ps;
	void *hva;

	if (replay_check(rv->region, &rs) < 0 ||
	    replay_check(rv->page, &ps) < 0 || fcntl(rv->region, F_GETFL) < 0)
		return -1;
	rv->len = (size_t)rs.st_size;
	hva = mmap(NULL, rv->len, PROT_READ | PROT_WRITE, MAP_SHARED,
	    rv->region, 0);
	if (hva == MAP_FAILED)
		return -1;
	rv->hva = hva;
	if (vm_slot_set(rv->vm, REPLAY_SLOT, BENCHVM_DATA_GPA, rv->len,
	    rv->hva, 0) < 0)
		return -1;
	rv->slot_set = true;
	if (vm_irq_bind(rv->vm, rv->efd) < 0)
		return -1;
	rv->irq_bound = true;
	return 0;
}

static uint32_t
rv_create(struct replay_vdev *rv, uint32_t pages)
{
	struct replay_req q = { .kind = REPLAY_CREATE,
	    .mem = REPLAY_MEM_PREFER, .pages = pages,
	    .huge_kib = rv->huge_kib };
	int fds[3];

	if (rv->region >= 0 || rv_call(rv, &q, REPLAY_REQ_CREATE_BYTES, fds,
	    3) < 0)
		return GSS_UNKNOWN_FAILURE;
	rv->region = fds[0];
	rv->page = fds[1];
	rv->efd = fds[2];
	if (rv_map(rv) < 0) {
		rv_detach(rv);
		return GSS_UNKNOWN_FAILURE;
	}
	return GSS_OK;
}

static void
rv_factory(struct replay_vdev *rv, uint64_t off, uint8_t *data, uint32_t len,
    int is_write)
{
	uint64_t v = 0;

	if (is_write) {
		if (off == offsetof(struct guest_shm_factory, size))
			rv->status = rv_create(rv, (uint32_t)rv_read_value(data,
			    len));
		return;
	}
	if (off == offsetof(struct guest_shm_factory, signature))
		v = GUEST_SHM_SIGNATURE;
	else if (off == offsetof(struct guest_shm_factory, shmem))
		v = BENCHVM_CTL_GPA;
	else if (off == offsetof(struct guest_shm_factory, vector))
		v = rv->vm->vector;
	else if (off == offsetof(struct guest_shm_factory, status))
		v = rv->status;
	memcpy(data, &v, len < sizeof(v) ? len : sizeof(v));
}

int
replay_vdev_mmio(void *ctx, uint64_t gpa, uint8_t *data, uint32_t len,
    int is_write)
{
	struct replay_vdev *rv = ctx;

	if (gpa >= rv->vm->factory && gpa < rv->vm->factory +
	    GUEST_SHM_PAGE_SIZE) {
		rv_factory(rv, gpa - rv->vm->factory, data, len, is_write);
		return 1;
	}
	if (gpa < BENCHVM_CTL_GPA || gpa >= BENCHVM_CTL_GPA +
	    GUEST_SHM_PAGE_SIZE)
		return 0;
	if (is_write && gpa - BENCHVM_CTL_GPA ==
	    offsetof(struct guest_shm_control, detach))
		rv_detach(rv);
	else if (!is_write)
		memset(data, 0, len);
	return 1;
}

int
replay_vdev_open(struct replay_vdev *rv, struct vm *vm, int sock,
    uint32_t huge_kib)
{
	struct epoll_event ev = { .events = EPOLLIN };

	memset(rv, 0, sizeof(*rv));
	rv->vm = vm;
	rv->sock = sock;
	rv->huge_kib = huge_kib;
	rv->region = rv->page = rv->efd = -1;
	rv->status = GSS_UNKNOWN_FAILURE;
	/* The event fd of libshmclient, with the daemon's socket in it. */
	rv->ep = epoll_create1(EPOLL_CLOEXEC);
	if (rv->ep < 0 || epoll_ctl(rv->ep, EPOLL_CTL_ADD, sock, &ev) < 0) {
		fprintf(stderr, "shmbench-vm: epoll: %s\n", strerror(errno));
		return -1;
	}
	vm->factory = VM_DEFAULT_FACTORY;
	vm->mmio = replay_vdev_mmio;
	vm->mmio_ctx = rv;
	return 0;
}

void
replay_vdev_close(struct replay_vdev *rv)
{
	rv_detach(rv);
	if (rv->ep >= 0)
		close(rv->ep);
	rv->ep = -1;
}
