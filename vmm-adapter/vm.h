/*
 * vm: the pieces of shm-vm, the reference KVM VMM: one vCPU in 64-bit long
 * mode running a small freestanding guest from guest RAM at guest-physical 0.
 * vm_load.c puts the guest image into RAM, vm_setup.c creates the VM and its
 * entry state (page tables, GDT, registers), vm_run.c runs the vCPU and
 * turns its exits into output, an exit status or one line of reason.
 * The guest contract is in DESIGN.md ("The reference VMM's guest contract").
 */
#ifndef SHMBROKER_VM_H
#define SHMBROKER_VM_H

#include <stddef.h>
#include <stdint.h>

/* Guest images load at or above this; everything below is shm-vm's. */
#define VM_IMAGE_BASE		0x100000ULL
#define VM_DEFAULT_MEM		(64ULL << 20)
#define VM_MIN_MEM		(2ULL << 20)
/* Guest RAM stays below the 4 GiB identity map's MMIO part. */
#define VM_MAX_MEM		(3ULL << 30)
#define VM_DEFAULT_FACTORY	0x10000000ULL
#define VM_DEFAULT_VECTOR	0x40U
#define VM_LAPIC_EOI		0xfee000b0ULL
#define VM_LAPIC_BASE		0xfee00000ULL

/* Ports the guest writes to. */
#define VM_PORT_CONSOLE		0x3f8
#define VM_PORT_EXIT		0x501

/* shm-vm's own exit statuses (a guest picks any status through 0x501). */
#define VM_STATUS_FAIL		1	/* guest fault, KVM error, bad image */
#define VM_STATUS_USAGE		2	/* bad command line */
#define VM_STATUS_TIMEOUT	124	/* --timeout expired, as timeout(1) */

/*
 * A device model's MMIO handler (the shmem vdev, later). Returns 1 when it
 * handled the access (for a read, data is filled), 0 when the address is not
 * its own, -1 on a fatal error that it has reported on stderr.
 */
typedef int vm_mmio_fn(void *ctx, uint64_t gpa, uint8_t *data, uint32_t len,
    int is_write);

struct vm {
	/* what the command line asked for */
	uint64_t mem_size;
	uint64_t factory;
	uint32_t vector;
	unsigned timeout_s;		/* 0: none */

	/* guest RAM: an anonymous mapping at guest-physical 0 */
	uint8_t *mem;
	uint64_t entry;			/* where the image starts running */

	int kvm_fd, vm_fd, vcpu_fd;
	struct kvm_run *run;
	size_t run_size;

	vm_mmio_fn *mmio;		/* NULL: no device model */
	void *mmio_ctx;

	/* accesses nobody handles, for the summary at the end */
	uint64_t unknown_mmio, unknown_pio;
};

/* vm_load.c: reads the ELF64 executable or flat binary at path into
 * vm->mem and sets vm->entry. Returns 0, or -1 with the reason on stderr. */
int vm_load_image(struct vm *vm, const char *path);

/* vm_setup.c: guest RAM, then the VM, its vCPU and its entry state. Each
 * returns 0, or -1 with the reason on stderr. vm_destroy undoes both. */
int vm_alloc_memory(struct vm *vm);
int vm_create(struct vm *vm);
void vm_destroy(struct vm *vm);

/* vm_run.c: runs the vCPU until the guest exits or fails. Returns the exit
 * status shm-vm ends with. */
int vm_run(struct vm *vm);

#endif
