/* SPDX-License-Identifier: ISC */
/*
 * vm_setup: guest RAM, the KVM VM with its one vCPU, and the state the guest
 * starts in: 64-bit long mode, an identity map of the low 4 GiB in 2 MiB
 * pages (U/S=1, R/W=1 at every level, so CPL3 code needs no page tables of
 * its own), a flat GDT (code 0x08, data 0x10), SSE enabled, interrupts off,
 * and the registers of a call _start(factory, vector, arg). A reboot makes
 * the VM and its vCPU anew on the same RAM, zeroed: a new vCPU and
 * in-kernel local APIC are in KVM's power-on state, so no register,
 * segment, APIC setting or pending interrupt of the last boot can survive
 * it, which resetting each piece of state in place could not promise.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vm.h"

/* shm-vm's part of guest RAM, below VM_IMAGE_BASE. */
#define PML4_GPA	0x1000ULL
#define PDPT_GPA	0x2000ULL
#define PD_GPA		0x3000ULL	/* four page directories, one per GiB */
#define GDT_GPA		0x7000ULL
#define MAPPED_GIB	4

#define PTE_P		(1ULL << 0)
#define PTE_RW		(1ULL << 1)
#define PTE_US		(1ULL << 2)
#define PTE_PS		(1ULL << 7)

#define CR0_PE		(1ULL << 0)
#define CR0_MP		(1ULL << 1)
#define CR0_ET		(1ULL << 4)
#define CR0_NE		(1ULL << 5)
#define CR0_WP		(1ULL << 16)
#define CR0_PG		(1ULL << 31)
#define CR4_PAE		(1ULL << 5)
#define CR4_OSFXSR	(1ULL << 9)
#define CR4_OSXMMEXCPT	(1ULL << 10)
#define EFER_LME	(1ULL << 8)
#define EFER_LMA	(1ULL << 10)

#define SEL_CODE	0x08
#define SEL_DATA	0x10

/* 64-bit code (L=1) and flat data descriptors, DPL 0. */
static const uint64_t gdt[] = {
	0,
	0x00af9b000000ffffULL,
	0x00cf93000000ffffULL,
};

static void
put64(struct vm *vm, uint64_t gpa, uint64_t v)
{
	memcpy(vm->mem + gpa, &v, sizeof(v));
}

static void
build_page_tables(struct vm *vm)
{
	const uint64_t flags = PTE_P | PTE_RW | PTE_US;

	put64(vm, PML4_GPA, PDPT_GPA | flags);
	for (uint64_t g = 0; g < MAPPED_GIB; g++) {
		uint64_t pd = PD_GPA + g * 0x1000;

		put64(vm, PDPT_GPA + g * 8, pd | flags);
		for (uint64_t i = 0; i < 512; i++)
			put64(vm, pd + i * 8,
			    ((g << 30) | (i << 21)) | flags | PTE_PS);
	}
	memcpy(vm->mem + GDT_GPA, gdt, sizeof(gdt));
}

void
vm_init(struct vm *vm)
{
	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = vm->vcpu_fd = vm->vdev_stop = -1;
	vm->mem_size = VM_DEFAULT_MEM;
	vm->factory = VM_DEFAULT_FACTORY;
	vm->vector = VM_DEFAULT_VECTOR;
	vm->max_reboots = UINT64_MAX;
}

int
vm_alloc_memory(struct vm *vm)
{
	void *p;

	/* MAP_NORESERVE: a 64 MiB guest that touches 1 MiB costs 1 MiB. */
	p = mmap(NULL, vm->mem_size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "shm-vm: cannot map %llu bytes of guest RAM: "
		    "%s\n", (unsigned long long)vm->mem_size, strerror(errno));
		return -1;
	}
	vm->mem = p;
	build_page_tables(vm);
	return 0;
}

/* MADV_DONTNEED rather than a memset: a private anonymous page reads as
 * zero afterwards, and what the last boot touched goes back to the host
 * instead of being written over. */
int
vm_clear_memory(struct vm *vm)
{
	if (madvise(vm->mem, vm->mem_size, MADV_DONTNEED) < 0) {
		fprintf(stderr, "shm-vm: cannot zero guest RAM: %s\n",
		    strerror(errno));
		return -1;
	}
	build_page_tables(vm);
	return 0;
}

static int
kvm_fail(const char *what)
{
	fprintf(stderr, "shm-vm: %s: %s\n", what, strerror(errno));
	return -1;
}

static int
open_kvm(struct vm *vm)
{
	int version;

	if ((vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC)) < 0) {
		fprintf(stderr, "shm-vm: cannot open /dev/kvm: %s (is KVM "
		    "available and may this user open it?)\n",
		    strerror(errno));
		return -1;
	}
	version = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		fprintf(stderr, "shm-vm: /dev/kvm has API version %d, shm-vm "
		    "needs %d\n", version, KVM_API_VERSION);
		return -1;
	}
	return 0;
}

/* The host's supported CPUID as the guest's, asking with a bigger table
 * until KVM stops answering E2BIG. */
static int
set_cpuid(struct vm *vm)
{
	struct kvm_cpuid2 *cpuid;
	int nent = 64, rc;

	for (;;) {
		cpuid = calloc(1, sizeof(*cpuid) +
		    (size_t)nent * sizeof(cpuid->entries[0]));
		if (cpuid == NULL) {
			fprintf(stderr, "shm-vm: out of memory for CPUID\n");
			return -1;
		}
		cpuid->nent = (uint32_t)nent;
		rc = ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid);
		if (rc == 0 || errno != E2BIG || nent >= 4096)
			break;
		free(cpuid);
		nent *= 2;
	}
	if (rc < 0) {
		free(cpuid);
		return kvm_fail("KVM_GET_SUPPORTED_CPUID");
	}
	rc = ioctl(vm->vcpu_fd, KVM_SET_CPUID2, cpuid);
	free(cpuid);
	return rc < 0 ? kvm_fail("KVM_SET_CPUID2") : 0;
}

static void
flat_segment(struct kvm_segment *s, uint16_t selector, uint8_t type, int code)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = selector;
	s->type = type;
	s->present = 1;
	s->dpl = 0;
	s->db = code ? 0 : 1;
	s->s = 1;
	s->l = code ? 1 : 0;
	s->g = 1;
}

static int
set_long_mode(struct vm *vm)
{
	struct kvm_sregs sr;

	/* Start from KVM's reset state: it keeps a valid TR and LDTR. */
	if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sr) < 0)
		return kvm_fail("KVM_GET_SREGS");
	flat_segment(&sr.cs, SEL_CODE, 0xb, 1);
	flat_segment(&sr.ds, SEL_DATA, 0x3, 0);
	sr.es = sr.fs = sr.gs = sr.ss = sr.ds;
	sr.gdt.base = GDT_GPA;
	sr.gdt.limit = sizeof(gdt) - 1;
	/* No IDT: an exception before the guest loads one triple-faults,
	 * which shm-vm reports. */
	sr.idt.base = 0;
	sr.idt.limit = 0;
	sr.cr3 = PML4_GPA;
	sr.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
	sr.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	sr.efer = EFER_LME | EFER_LMA;
	if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sr) < 0)
		return kvm_fail("KVM_SET_SREGS");
	return 0;
}

static int
set_entry_regs(struct vm *vm)
{
	struct kvm_regs r;

	memset(&r, 0, sizeof(r));
	r.rip = vm->entry;
	/* As if _start had been called: the return address slot. */
	r.rsp = vm->mem_size - 8;
	r.rdi = vm->factory;
	r.rsi = vm->vector;
	r.rdx = vm->arg;
	r.rflags = 0x2;		/* bit 1 is reserved-one; IF=0 */
	if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &r) < 0)
		return kvm_fail("KVM_SET_REGS");
	return 0;
}

static int
create_vcpu(struct vm *vm)
{
	int size;
	void *p;

	if ((vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0)) < 0)
		return kvm_fail("KVM_CREATE_VCPU");
	if ((size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0)) <= 0)
		return kvm_fail("KVM_GET_VCPU_MMAP_SIZE");
	p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    vm->vcpu_fd, 0);
	if (p == MAP_FAILED)
		return kvm_fail("mmap of the vCPU's kvm_run");
	vm->run = p;
	vm->run_size = (size_t)size;
	return 0;
}

int
vm_slot_set(struct vm *vm, uint32_t slot, uint64_t gpa, uint64_t len,
    void *hva, uint32_t flags)
{
	struct kvm_userspace_memory_region r;

	memset(&r, 0, sizeof(r));
	r.slot = slot;
	r.flags = flags;
	r.guest_phys_addr = gpa;
	r.memory_size = len;
	r.userspace_addr = (uint64_t)(uintptr_t)hva;
	return ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ?
	    -errno : 0;
}

int
vm_create_machine(struct vm *vm)
{
	int err;

	if ((vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0)) < 0)
		return kvm_fail("KVM_CREATE_VM");
	if ((err = vm_slot_set(vm, 0, 0, vm->mem_size, vm->mem, 0)) < 0) {
		errno = -err;
		return kvm_fail("KVM_SET_USER_MEMORY_REGION");
	}
	if (vm_irq_create(vm) < 0 || create_vcpu(vm) < 0 ||
	    set_cpuid(vm) < 0 || vm_irq_enable_lapic(vm) < 0 ||
	    set_long_mode(vm) < 0 || set_entry_regs(vm) < 0)
		return -1;
	return 0;
}

int
vm_create(struct vm *vm)
{
	if (open_kvm(vm) < 0)
		return -1;
	return vm_create_machine(vm);
}

void
vm_close_machine(struct vm *vm)
{
	if (vm->run != NULL)
		munmap(vm->run, vm->run_size);
	if (vm->vcpu_fd >= 0)
		close(vm->vcpu_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	vm->run = NULL;
	vm->vcpu_fd = vm->vm_fd = -1;
}

void
vm_destroy(struct vm *vm)
{
	vm_close_machine(vm);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->mem != NULL)
		munmap(vm->mem, vm->mem_size);
	free(vm->image);
	vm->mem = NULL;
	vm->image = NULL;
	vm->kvm_fd = -1;
}
