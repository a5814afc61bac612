/* SPDX-License-Identifier: ISC */
/*
 * shmbench-vm: the doorbell VMM of shmbench's notification floors. It runs
 * a guest on shm-vm's own machine (vmm-adapter's shm_vm_core: the same
 * RAM, page tables, entry contract, irqchip and MSI route) with no daemon
 * and no vdev. Instead it wires the guest as QEMU's ivshmem doorbell does:
 *
 * - the shared memory (--shared-fd, a memfd) is a memory slot at
 *   BENCHVM_DATA_GPA, where shm-vm would put a region's data;
 * - the page before it stands for the region's control page: a write to
 *   its notify register is an in-kernel ioeventfd (KVM_IOEVENTFD) that
 *   signals --doorbell-fd, so the guest's notify never exits to this
 *   process;
 * - --irqfd is bound as the VM's irqfd on the vdev's MSI route, so a
 *   signal on it interrupts the guest with the vdev vector.
 *
 * The guest gets the control page's address in RDX (shm-vm's --arg), so
 * the doorbell builds of the bench guests run the same code as with the
 * vdev. Everything else a guest does (console, exit port, other MMIO) is
 * shm-vm's run loop. Descriptors come inherited, their numbers on the
 * command line.
 *
 * With --replay-fd it is instead the control of guest_create_usable: a
 * factory page and a control page answered by benchvm_replay.c's bare
 * vdev, which makes shm-vm's system calls for a create and a detach
 * against replay.c's server on that socket (--huge-kib: the kernel's huge
 * page size, which the server tries first, as the daemon at --hugepages
 * prefer does).
 */
#include <errno.h>
#include <getopt.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <qvm/guest_shm.h>

#include "benchvm.h"

struct benchvm_opts {
	const char *guest;
	int shared_fd, irqfd, doorbell_fd, replay_fd;
	uint32_t huge_kib;
	uint64_t mem;
	unsigned timeout_s;
};

static int
parse_fd(const char *s, int *fd)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*end != '\0' || v < 0 || v > 65535)
		return -1;
	*fd = (int)v;
	return 0;
}

static int
parse_args(int argc, char **argv, struct benchvm_opts *o)
{
	static const struct option longopts[] = {
		{ "guest", required_argument, NULL, 'g' },
		{ "mem-mib", required_argument, NULL, 'm' },
		{ "shared-fd", required_argument, NULL, 's' },
		{ "irqfd", required_argument, NULL, 'i' },
		{ "doorbell-fd", required_argument, NULL, 'd' },
		{ "timeout", required_argument, NULL, 't' },
		{ "replay-fd", required_argument, NULL, 'r' },
		{ "huge-kib", required_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	int c, bad = 0;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'g': o->guest = optarg; break;
		case 'm': o->mem = strtoull(optarg, NULL, 10) << 20; break;
		case 's': bad |= parse_fd(optarg, &o->shared_fd); break;
		case 'i': bad |= parse_fd(optarg, &o->irqfd); break;
		case 'd': bad |= parse_fd(optarg, &o->doorbell_fd); break;
		case 't': o->timeout_s = (unsigned)atoi(optarg); break;
		case 'r': bad |= parse_fd(optarg, &o->replay_fd); break;
		case 'H': o->huge_kib = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		default: bad = 1;
		}
	}
	if (bad || o->guest == NULL || (o->replay_fd < 0 && (o->shared_fd < 0 ||
	    o->irqfd < 0 || o->doorbell_fd < 0)) || o->mem < VM_MIN_MEM ||
	    o->mem > VM_MAX_MEM) {
		fprintf(stderr, "usage: shmbench-vm --guest FILE --mem-mib N "
		    "(--shared-fd FD --irqfd FD --doorbell-fd FD | "
		    "--replay-fd FD [--huge-kib N]) [--timeout S]\n");
		return -1;
	}
	return 0;
}

/* The shared memory as a memory slot where a region's data would be. */
static int
map_shared(struct vm *vm, int fd, void **hva, size_t *len)
{
	struct stat st;
	int err;

	if (fstat(fd, &st) < 0 || st.st_size <= 0) {
		fprintf(stderr, "shmbench-vm: --shared-fd: %s\n",
		    strerror(errno));
		return -1;
	}
	*len = (size_t)st.st_size;
	*hva = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (*hva == MAP_FAILED) {
		fprintf(stderr, "shmbench-vm: mmap of the shared memory: %s\n",
		    strerror(errno));
		return -1;
	}
	if ((err = vm_slot_set(vm, 1, BENCHVM_DATA_GPA, *len, *hva, 0)) < 0) {
		fprintf(stderr, "shmbench-vm: KVM_SET_USER_MEMORY_REGION: %s\n",
		    strerror(-err));
		return -1;
	}
	return 0;
}

/* Any 4-byte write to the control page's notify register signals fd in
 * the kernel: the guest's vCPU never leaves KVM_RUN for it. */
static int
bind_doorbell(struct vm *vm, int fd)
{
	struct kvm_ioeventfd io;

	memset(&io, 0, sizeof(io));
	io.addr = BENCHVM_CTL_GPA + offsetof(struct guest_shm_control, notify);
	io.len = 4;
	io.fd = fd;
	if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0) {
		fprintf(stderr, "shmbench-vm: KVM_IOEVENTFD: %s\n",
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* The guest_create_usable control: the bare vdev on the replay server. */
static int
run_replay(struct vm *vm, const struct benchvm_opts *o)
{
	struct replay_vdev rv;
	int status = VM_STATUS_FAIL;

	if (replay_vdev_open(&rv, vm, o->replay_fd, o->huge_kib) == 0 &&
	    vm_alloc_memory(vm) == 0 && vm_load_image(vm, o->guest) == 0 &&
	    vm_create(vm) == 0)
		status = vm_run(vm);
	replay_vdev_close(&rv);
	vm_destroy(vm);
	return status;
}

int
main(int argc, char **argv)
{
	struct benchvm_opts o = { .shared_fd = -1, .irqfd = -1,
	    .doorbell_fd = -1, .replay_fd = -1, .mem = 8ULL << 20 };
	struct vm vm;
	void *hva = NULL;
	size_t len = 0;
	int status = VM_STATUS_FAIL, err;

	if (parse_args(argc, argv, &o) < 0)
		return VM_STATUS_USAGE;
	vm_init(&vm);
	vm.mem_size = o.mem;
	vm.timeout_s = o.timeout_s;
	if (o.replay_fd >= 0)
		return run_replay(&vm, &o);
	vm.arg = BENCHVM_CTL_GPA;
	if (vm_alloc_memory(&vm) == 0 && vm_load_image(&vm, o.guest) == 0 &&
	    vm_create(&vm) == 0 && map_shared(&vm, o.shared_fd, &hva,
	    &len) == 0 && bind_doorbell(&vm, o.doorbell_fd) == 0) {
		if ((err = vm_irq_bind(&vm, o.irqfd)) < 0)
			fprintf(stderr, "shmbench-vm: KVM_IRQFD: %s\n",
			    strerror(-err));
		else
			status = vm_run(&vm);
	}
	vm_destroy(&vm);
	if (hva != NULL && hva != MAP_FAILED)
		munmap(hva, len);
	return status;
}
