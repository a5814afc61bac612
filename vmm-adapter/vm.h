/* SPDX-License-Identifier: ISC */
/*
 * vm: the pieces of shm-vm, the reference KVM VMM: one vCPU in 64-bit long
 * mode running a small freestanding guest from guest RAM at guest-physical 0.
 * vm_load.c puts the guest image into RAM, vm_setup.c creates the VM and its
 * entry state (page tables, GDT, registers), vm_run.c runs the vCPU and
 * turns its exits into output, an exit status, one line of reason or a
 * guest reset, which vm_reboot.c ends shm-vm with or turns into a reboot.
 * The guest contract is in docs/DESIGN.md ("The reference VMM's guest
 * contract").
 */
#ifndef SHMBROKER_VM_H
#define SHMBROKER_VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loglimit.h"

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
/* Regions go between these: clear of guest RAM and of the APIC pages. */
#define VM_WINDOW_BASE		0x40000000ULL
#define VM_WINDOW_END		0xfec00000ULL
#define VM_WINDOW_MIN		(4ULL << 20)	/* libshmvdev's least */
#define VM_MSI_GSI		24	/* the vdev's route, past the IOAPIC's */

/* Ports the guest writes to. */
#define VM_PORT_CONSOLE		0x3f8
#define VM_PORT_EXIT		0x501
#define VM_PORT_RESET		0xcf9	/* the PC's reset control register */
#define VM_RESET_CPU		0x04	/* its RST_CPU bit: a write resets */

/* shm-vm's own exit statuses (a guest picks any status through 0x501). */
#define VM_STATUS_FAIL		1	/* guest fault, KVM error, bad image */
#define VM_STATUS_USAGE		2	/* bad command line */
#define VM_STATUS_TIMEOUT	124	/* --timeout expired, as timeout(1) */

/*
 * A device model's MMIO handler (the shmem vdev, later). Returns 1 when it
 * handled the access (for a read, data is filled), 0 when the address is not
 * its own, -1 on a fatal error that it has reported on stderr.
 */
struct shmvdev;

/* A memory slot holding a region (slot 0 is guest RAM). */
struct vm_slot {
	uint64_t gpa, len;	/* len 0: free */
	uint64_t maplen;	/* the host mapping, whole huge pages */
	void *hva;
	bool read_only;		/* KVM_MEM_READONLY: the client may only
				 * read; guest stores exit as MMIO */
};

typedef int vm_mmio_fn(void *ctx, uint64_t gpa, uint8_t *data, uint32_t len,
    int is_write);

struct vm {
	/* what the command line asked for */
	uint64_t mem_size;
	uint64_t factory;
	uint32_t vector;
	uint64_t window_base;		/* 0: libshmvdev's default */
	unsigned timeout_s;		/* 0: none */
	uint64_t arg;			/* --arg: the guest's RDX */
	int reboot;			/* --reboot: a reset restarts */
	uint64_t max_reboots;		/* UINT64_MAX: no limit */

	/* guest RAM: an anonymous mapping at guest-physical 0 */
	uint8_t *mem;
	uint64_t entry;			/* where the image starts running */

	/* the image as read at start: every boot loads these bytes */
	const char *image_path;
	uint8_t *image;
	size_t image_len;
	uint64_t reboots;		/* done so far */

	int kvm_fd, vm_fd, vcpu_fd;
	struct kvm_run *run;
	size_t run_size;

	vm_mmio_fn *mmio;		/* NULL: no device model */
	void *mmio_ctx;

	/* the shmem vdev (vm_vdev.c) */
	struct shmvdev *vdev;
	pthread_mutex_t vdev_lock;
	int vdev_lock_ready;
	pthread_t vdev_thread;
	int vdev_thread_running;
	int vdev_stop;			/* eventfd that ends the thread */
	struct vm_slot *slots;
	uint32_t nslots;
	uint32_t slots_end;		/* past the highest slot ever used */
	char vdev_last_err[512];	/* the last vdev message reported */
	struct log_limit vdev_said;	/* vdev messages, a guest's choice;
					 * under vdev_lock */

	/* accesses nobody handles, for the summary at the end */
	uint64_t unknown_mmio, unknown_pio;
	/* guest stores to read-only regions, dropped (vm_vdev.c; under
	 * vdev_lock), said at the end */
	uint64_t ro_writes;
};

/* vm_load.c: reads the ELF64 executable or flat binary at path, keeps
 * its bytes in vm->image and loads them into vm->mem, setting vm->entry;
 * vm_reload_image loads the kept bytes again, into RAM a reboot zeroed.
 * Each returns 0, or -1 with the reason on stderr. */
int vm_load_image(struct vm *vm, const char *path);
int vm_reload_image(struct vm *vm);

/* vm_setup.c: vm_init gives vm shm-vm's defaults and no descriptors
 * (before anything else, and before vm_destroy may run). Guest RAM, then
 * the VM, its vCPU and its entry state. Each
 * returns 0, or -1 with the reason on stderr. vm_destroy undoes both.
 * For a reboot: vm_close_machine ends the VM and its vCPU (RAM stays),
 * vm_clear_memory zeroes RAM and puts shm-vm's page tables and GDT back,
 * vm_create_machine makes a new VM and vCPU on the same RAM. */
void vm_init(struct vm *vm);
int vm_alloc_memory(struct vm *vm);
int vm_create(struct vm *vm);
void vm_destroy(struct vm *vm);
void vm_close_machine(struct vm *vm);
int vm_clear_memory(struct vm *vm);
int vm_create_machine(struct vm *vm);
/* Memory slot slot of the VM at gpa, len bytes at hva (len 0 deletes
 * it), with KVM_MEM_* flags. 0 or -errno. */
int vm_slot_set(struct vm *vm, uint32_t slot, uint64_t gpa, uint64_t len,
    void *hva, uint32_t flags);

/* vm_irq.c: the in-kernel irqchip with the vdev's MSI route (before the
 * vCPU), the vCPU's local APIC switched on (after it), and the two ways to
 * raise the vector: KVM_SIGNAL_MSI now, or an eventfd bound as irqfd. */
int vm_irq_create(struct vm *vm);
int vm_irq_enable_lapic(struct vm *vm);
int vm_irq_raise(struct vm *vm);
int vm_irq_bind(struct vm *vm, int fd);
void vm_irq_unbind(struct vm *vm, int fd);

/* vm_vdev.c: libshmvdev on the daemon's socket (NULL: the default), its
 * MMIO handler and its event thread; vm_vdev_close before vm_destroy,
 * which says how many guest stores to read-only regions it dropped.
 * vm_vdev_reset detaches every client on a guest reset, before the VM
 * goes. */
int vm_vdev_open(struct vm *vm, const char *socket);
void vm_vdev_close(struct vm *vm);
void vm_vdev_reset(struct vm *vm);

/* vm_run.c: runs the vCPU until the guest exits or fails. Returns the exit
 * status shm-vm ends with. vm_mono_ns is shm-vm's one clock (monotonic),
 * for the --timeout deadline and the vdev message limit. */
int vm_run(struct vm *vm);
int64_t vm_mono_ns(void);

/*
 * vm_reboot.c: the guest reset, why being what the guest did ("asked for
 * a reset (0x06 to port 0xcf9)"), fault whether it was a fault rather
 * than a request. Without --reboot, or past --max-reboots, says so in one
 * line and returns the status shm-vm ends with (never 0). With it,
 * restarts the guest as a PC reboots and returns 0: the guest runs again
 * on a new vCPU. A reboot a fault caused is reported in a line too.
 */
int vm_reboot(struct vm *vm, const char *why, bool fault);

#endif
