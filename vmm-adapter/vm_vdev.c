/* SPDX-License-Identifier: ISC */
/*
 * vm_vdev: shm-vm's half of libshmvdev. It turns the vdev's requests into
 * KVM calls (a region fd becomes a memory slot, read-only for a client
 * that may only read, an eventfd an irqfd, an interrupt an MSI), hands
 * trapped MMIO on the factory and control pages to the vdev, drops (and
 * counts) the guest's stores to read-only regions, runs the event thread
 * that dispatches the daemon's membership events while the vCPU runs, and
 * detaches everything when the guest resets. One mutex serialises every
 * call into the vdev, as shmvdev.h asks.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shmvdev.h"
#include "vm.h"

#define HUGE_2M		0x200000ULL

static struct vm_slot *
slot_find(struct vm *vm, uint64_t gpa)
{
	for (uint32_t i = 1; i < vm->slots_end; i++)
		if (vm->slots[i].len != 0 && vm->slots[i].gpa == gpa)
			return &vm->slots[i];
	return NULL;
}

/* Is fd open read-only? The daemon hands a client that may only read
 * the region an O_RDONLY memfd, which cannot be mapped writable. */
static int
fd_read_only(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -errno;
	return (fl & O_ACCMODE) == O_RDONLY;
}

/* Slot 0 is guest RAM; the others are regions. A hugetlb memfd maps in
 * whole huge pages, so its mapping is rounded up while the slot keeps the
 * region's length. A read-only region is a KVM_MEM_READONLY slot over a
 * PROT_READ mapping: the guest reads it as memory, and each of its stores
 * exits as MMIO, which vdev_mmio drops. */
static int
op_map(void *arg, uint64_t gpa, int fd, uint64_t len, bool hugetlb)
{
	struct vm *vm = arg;
	uint64_t maplen = hugetlb ? (len + HUGE_2M - 1) & ~(HUGE_2M - 1) : len;
	int ro = fd_read_only(fd), rc;
	uint32_t i;
	void *hva;

	if (ro < 0)
		return ro;
	if (ro && ioctl(vm->vm_fd, KVM_CHECK_EXTENSION,
	    KVM_CAP_READONLY_MEM) <= 0)
		return -EOPNOTSUPP;	/* no way to give the guest read-only
					 * memory: the attach fails */
	for (i = 1; i < vm->nslots && vm->slots[i].len != 0; i++)
		continue;
	if (i == vm->nslots)
		return -ENOMEM;
	hva = mmap(NULL, maplen, ro ? PROT_READ : PROT_READ | PROT_WRITE,
	    MAP_SHARED, fd, 0);
	if (hva == MAP_FAILED)
		return -errno;
	if ((rc = vm_slot_set(vm, i, gpa, len, hva, ro ? KVM_MEM_READONLY :
	    0)) < 0) {
		munmap(hva, maplen);
		return rc;
	}
	vm->slots[i] = (struct vm_slot){ gpa, len, maplen, hva, ro };
	if (i >= vm->slots_end)
		vm->slots_end = i + 1;
	return 0;
}

static int
op_unmap(void *arg, uint64_t gpa, uint64_t len)
{
	struct vm *vm = arg;
	struct vm_slot *s = slot_find(vm, gpa);
	int rc;

	if (s == NULL || s->len != len)
		return -ENOENT;
	rc = vm_slot_set(vm, (uint32_t)(s - vm->slots), gpa, 0, s->hva, 0);
	munmap(s->hva, s->maplen);
	memset(s, 0, sizeof(*s));
	return rc;
}

static void
op_raise_irq(void *arg)
{
	(void)vm_irq_raise(arg);
}

static int
op_bind_irqfd(void *arg, int fd)
{
	return vm_irq_bind(arg, fd);
}

static void
op_unbind_irqfd(void *arg, int fd)
{
	vm_irq_unbind(arg, fd);
}

static const struct shmvdev_ops vdev_ops = {
	.map = op_map,
	.unmap = op_unmap,
	.raise_irq = op_raise_irq,
	.bind_irqfd = op_bind_irqfd,
	.unbind_irqfd = op_unbind_irqfd,
};

/* Why a guest's create, find or notify failed on the host side is the VMM
 * operator's to know: a new vdev message goes to stderr, one that repeats
 * the last does not (the vdev's message stays until the next failure, and
 * this runs after every access). A refusal that the daemon answered with a
 * guest status ("attach: status N") is the guest's business: it reads it
 * from the factory page. A guest can also make the messages differ at will
 * (each size it asks for that has no room is one), so they are said at
 * most once in LOG_REPEAT_MS, counting those held back; one held back is
 * said when its turn comes if it is still the last, or at the exit. */
static void
report_vdev_error(struct vm *vm)
{
	const char *e = shmvdev_error(vm->vdev);
	bool again = strcmp(e, vm->vdev_last_err) == 0;
	uint64_t unsaid, now;

	/* one held back is counted in unsaid until a line is said */
	if (e[0] == '\0' || strncmp(e, "attach: status ", 15) == 0 ||
	    (again && vm->vdev_said.unsaid == 0))
		return;
	now = (uint64_t)vm_mono_ns() / 1000000;
	if (again && now - vm->vdev_said.said_ms < LOG_REPEAT_MS)
		return;		/* held back already, and counted */
	snprintf(vm->vdev_last_err, sizeof(vm->vdev_last_err), "%s", e);
	if (!log_limit_pass(&vm->vdev_said, now, LOG_REPEAT_MS, &unsaid))
		return;
	if (again)
		unsaid--;	/* counted when it was held back */
	if (unsaid == 0)
		fprintf(stderr, "shm-vm: shmem vdev: %s\n", e);
	else
		fprintf(stderr, "shm-vm: shmem vdev: %s (and %" PRIu64 " other "
		    "messages since the last line, said at most every %d s)\n",
		    e, unsaid, LOG_REPEAT_MS / 1000);
}

/* A store to a read-only region: the slot that holds gpa is one. Called
 * under vdev_lock, which guards the slots. */
static bool
ro_slot_holds(const struct vm *vm, uint64_t gpa)
{
	/* KVM offers tens of thousands of slots; a VM uses a few, and this
	 * runs at every write nothing claims. */
	for (uint32_t i = 1; i < vm->slots_end; i++) {
		const struct vm_slot *s = &vm->slots[i];

		if (s->len != 0 && s->read_only && gpa >= s->gpa &&
		    gpa - s->gpa < s->len)
			return true;
	}
	return false;
}

/* vm->mmio: the factory page and the control pages are the vdev's; a
 * store to a read-only region is dropped and counted. */
static int
vdev_mmio(void *ctx, uint64_t gpa, uint8_t *data, uint32_t len, int is_write)
{
	struct vm *vm = ctx;
	uint64_t v;
	bool claimed;

	if (len == 0 || len > 8)
		return 0;
	pthread_mutex_lock(&vm->vdev_lock);
	claimed = shmvdev_access(vm->vdev, gpa, is_write != 0, len,
	    is_write ? shmvdev_load_le(data, len) : 0, &v);
	if (claimed)
		report_vdev_error(vm);
	else if (is_write && ro_slot_holds(vm, gpa)) {
		vm->ro_writes++;
		claimed = true;
		v = 0;
	}
	pthread_mutex_unlock(&vm->vdev_lock);
	if (claimed && !is_write)
		shmvdev_store_le(data, len, v);
	return claimed;
}

/*
 * A guest reset: every client of the VM detached (the daemon frees their
 * indices and tells their peers), their slots unmapped and irqfds unbound
 * on the VM that is about to go. With no client left the vdev calls none
 * of vdev_ops until the guest's next create or find, which only the vCPU
 * thread can make, so that thread may then make the VM anew without the
 * lock while the event thread dispatches.
 */
void
vm_vdev_reset(struct vm *vm)
{
	pthread_mutex_lock(&vm->vdev_lock);
	shmvdev_reset(vm->vdev);
	report_vdev_error(vm);
	pthread_mutex_unlock(&vm->vdev_lock);
}

/* The event thread: daemon events (membership changes, revocations) while
 * the vCPU runs or sleeps in hlt. The replies to the vCPU thread's own
 * calls (a create, a find) come on the same socket but do not wake it
 * (libshmvdev sets shmc_set_event_thread). An event that comes during
 * such a call makes it wait for the vdev lock until the call is through;
 * as a SCHED_BATCH thread it never preempts the vCPU thread on that wake. */
static void *
event_thread(void *arg)
{
	struct sched_param batch = { .sched_priority = 0 };
	struct vm *vm = arg;
	struct pollfd p[2];

	/* Only a scheduling preference: failing leaves it as it was. */
	(void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &batch);

	p[0].fd = shmvdev_event_fd(vm->vdev);
	p[0].events = POLLIN;
	p[1].fd = vm->vdev_stop;
	p[1].events = POLLIN;
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents != 0)
			break;
		if (p[0].revents == 0)
			continue;
		/* A failure is not the end of events: dispatch tries the
		 * daemon again on its own, then the guest's next create or
		 * detach does, and revocations must still be applied then.
		 * What dispatch found (a restart's lost clients too) is said
		 * as the vCPU's accesses say theirs. */
		pthread_mutex_lock(&vm->vdev_lock);
		(void)shmvdev_dispatch(vm->vdev);
		report_vdev_error(vm);
		pthread_mutex_unlock(&vm->vdev_lock);
	}
	return NULL;
}

static int
alloc_slots(struct vm *vm)
{
	int n = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);

	if (n < 2)
		n = 32;		/* KVM's minimum since forever */
	vm->slots = calloc((size_t)n, sizeof(*vm->slots));
	if (vm->slots == NULL) {
		fprintf(stderr, "shm-vm: out of memory for memory slots\n");
		return -1;
	}
	vm->nslots = (uint32_t)n;
	return 0;
}

/* The event thread must not take SIGALRM: the tick is there to kick the
 * vCPU thread out of KVM_RUN. */
static int
start_event_thread(struct vm *vm)
{
	sigset_t all, old;
	int rc;

	if ((vm->vdev_stop = eventfd(0, EFD_CLOEXEC)) < 0) {
		fprintf(stderr, "shm-vm: eventfd: %s\n", strerror(errno));
		return -1;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&vm->vdev_thread, NULL, event_thread, vm);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		fprintf(stderr, "shm-vm: cannot start the event thread: %s\n",
		    strerror(rc));
		return -1;
	}
	vm->vdev_thread_running = 1;
	return 0;
}

int
vm_vdev_open(struct vm *vm, const char *socket)
{
	struct shmvdev_config cfg;
	char err[256], label[64];

	if (alloc_slots(vm) < 0)
		return -1;
	snprintf(label, sizeof(label), "shm-vm pid %ld", (long)getpid());
	memset(&cfg, 0, sizeof(cfg));
	cfg.socket = socket;
	cfg.label = label;
	cfg.factory_gpa = vm->factory;
	cfg.vector = vm->vector;
	cfg.window_base = vm->window_base;
	cfg.window_size = VM_WINDOW_END - vm->window_base;
	if (shmvdev_open(&cfg, &vdev_ops, vm, &vm->vdev, err,
	    sizeof(err)) < 0) {
		fprintf(stderr, "shm-vm: the shmem vdev cannot start: %s\n",
		    err);
		return -1;
	}
	if (pthread_mutex_init(&vm->vdev_lock, NULL) != 0) {
		fprintf(stderr, "shm-vm: cannot create the vdev lock\n");
		return -1;
	}
	vm->vdev_lock_ready = 1;
	vm->mmio = vdev_mmio;
	vm->mmio_ctx = vm;
	return start_event_thread(vm);
}

/* Before vm_destroy: the vdev's daemon connection closes (the daemon
 * detaches this VM's clients), then the slots and the lock go. */
void
vm_vdev_close(struct vm *vm)
{
	uint64_t one = 1;

	if (vm->vdev_thread_running) {
		if (write(vm->vdev_stop, &one, sizeof(one)) < 0)
			fprintf(stderr, "shm-vm: cannot stop the event thread"
			    ": %s\n", strerror(errno));
		pthread_join(vm->vdev_thread, NULL);
		vm->vdev_thread_running = 0;
	}
	if (vm->vdev_stop >= 0)
		close(vm->vdev_stop);
	vm->vdev_stop = -1;
	if (vm->ro_writes != 0)
		fprintf(stderr, "shm-vm: dropped %" PRIu64 " guest stores to "
		    "read-only shared memory\n", vm->ro_writes);
	if (vm->vdev_said.unsaid != 0)
		fprintf(stderr, "shm-vm: shmem vdev: %s (the last of %" PRIu64
		    " messages not said since the last line, said at most every "
		    "%d s)\n", vm->vdev_last_err, vm->vdev_said.unsaid,
		    LOG_REPEAT_MS / 1000);
	shmvdev_close(vm->vdev);
	vm->vdev = NULL;
	for (uint32_t i = 1; i < vm->slots_end; i++)
		if (vm->slots[i].len != 0)
			munmap(vm->slots[i].hva, vm->slots[i].maplen);
	free(vm->slots);
	vm->slots = NULL;
	vm->nslots = vm->slots_end = 0;
	if (vm->vdev_lock_ready)
		pthread_mutex_destroy(&vm->vdev_lock);
	vm->vdev_lock_ready = 0;
}
