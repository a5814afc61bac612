/* SPDX-License-Identifier: ISC */
/*
 * kvm_floor: the part of making a region usable that no VMM can skip,
 * measured bare: in a VM that shm_vm_core makes exactly as shm-vm makes its
 * own (the same RAM size, irqchip, MSI route and vCPU), the region's memfd
 * is mapped, becomes a memory slot where shm-vm would put it, and an
 * eventfd becomes an irqfd on the vdev's route. The VM never runs: in the
 * figure the vCPU waits in an MMIO exit while its VMM does the same.
 */
#include <errno.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guest.h"

#define FLOOR_SLOT	1
#define FLOOR_GPA	(VM_WINDOW_BASE + 0x200000ULL)

int
kvm_floor_open(struct vm *vm, uint64_t mem)
{
	vm_init(vm);
	vm->mem_size = mem;
	vm->entry = VM_IMAGE_BASE;
	if (vm_alloc_memory(vm) < 0 || vm_create(vm) < 0) {
		vm_destroy(vm);
		return -1;
	}
	return 0;
}

void
kvm_floor_close(struct vm *vm)
{
	vm_destroy(vm);
}

int
kvm_floor_usable_once(struct vm *vm, int fd, size_t len, uint64_t ns[3])
{
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), err = 0;
	uint64_t t0, t1, t2, t3;
	void *hva;

	if (efd < 0)
		return -errno;
	t0 = bench_now_ns();
	hva = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	t1 = bench_now_ns();
	if (hva == MAP_FAILED) {
		err = -errno;
		goto out;
	}
	if ((err = vm_slot_set(vm, FLOOR_SLOT, FLOOR_GPA, len, hva, 0)) == 0) {
		t2 = bench_now_ns();
		err = vm_irq_bind(vm, efd);
		t3 = bench_now_ns();
		if (err == 0)
			vm_irq_unbind(vm, efd);
		vm_slot_set(vm, FLOOR_SLOT, FLOOR_GPA, 0, hva, 0);
		ns[0] = t1 - t0;
		ns[1] = t2 - t1;
		ns[2] = t3 - t2;
	}
	munmap(hva, len);
out:
	close(efd);
	return err;
}
