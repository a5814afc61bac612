/* SPDX-License-Identifier: ISC */
/*
 * guest: what the guest figures share (fig_guest.c: notification and
 * create-to-usable; fig_copy.c: the copy). guest_vm.c starts VMs (shm-vm
 * on the run's daemon, or shmbench-vm, the doorbell VMM of benchvm.c),
 * pinned to a CPU before they exec, and reads what their guests print: one
 * "S <ticks>" line a sample and "R <key> <value>" result lines, in guest
 * TSC ticks, which run at the host's rate under KVM (ns_per_tick says how
 * fast). kvm_floor.c is a VM made in this process as shm-vm makes its
 * own, for the floors of making a region usable (memory slot, irqfd).
 */
#ifndef SHMBENCH_GUEST_H
#define SHMBENCH_GUEST_H

#include "bench.h"
#include "vm.h"

#define GUEST_LIMIT_MS		300000	/* a guest run that takes longer fails */
#define GUEST_MAX_RESULTS	8
#define MIB			(1024ull * 1024ull)

struct guest_run {
	struct bench *b;
	struct test_daemon d;
	double ns_per_tick;
	bool huge;		/* the pool had room: regions are hugetlb */
	char err[320];
};

/* What a guest printed. */
struct guest_out {
	struct samples *s;	/* its samples; NULL: not wanted */
	size_t nres;
	char key[GUEST_MAX_RESULTS][24];
	double val[GUEST_MAX_RESULTS];
};

/* A VM to start: its program's arguments, the CPU it runs on, and the
 * descriptors it inherits (their numbers are in its arguments). */
struct vm_spec {
	const char *argv[24];
	char path[512];
	char num[4][16];
	int cpu;
	int keep[4];
	int nkeep;
};

struct guest_vm {
	pid_t pid;
	int out;		/* its stdout */
	char line[256];
	size_t len;
};

/* guest_vm.c */
void vm_spec_shm_vm(struct guest_run *r, struct vm_spec *v,
    const char *guest, const char *mem, int cpu);
/* shmbench-vm with shared as its shared memory, irqfd as its irqfd and
 * doorbell signalled by its guest's notify. */
void vm_spec_doorbell(struct vm_spec *v, const char *guest, int shared,
    int irqfd, int doorbell, int cpu);
/* shmbench-vm with its bare vdev on replay.c's server at sock (the
 * control of guest_create_usable), the kernel's huge page size given. */
void vm_spec_replay(struct vm_spec *v, const char *guest, int sock,
    uint32_t huge_kib, int cpu);
int vm_start(struct guest_run *r, struct guest_vm *g, const struct vm_spec *v);
int vm_finish(struct guest_run *r, struct guest_vm *g, struct guest_out *o);
int vm_run_one(struct guest_run *r, const struct vm_spec *v,
    struct guest_out *o);
int vm_run_pair(struct guest_run *r, const struct vm_spec *a,
    const struct vm_spec *b, struct guest_out *ao, struct guest_out *bo);
/* The value of "R key", NAN when the guest did not print it. */
double guest_result(const struct guest_out *o, const char *key);
/* Guest ticks to nanoseconds. */
uint64_t guest_ns(const struct guest_run *r, double ticks);

/* kvm_floor.c: a VM of mem bytes made by shm_vm_core, never run. */
int kvm_floor_open(struct vm *vm, uint64_t mem);
void kvm_floor_close(struct vm *vm);
/* Makes fd (len bytes) usable as a region is: mmap, memory slot, irqfd;
 * the three times, then undone untimed. 0 or -errno. */
int kvm_floor_usable_once(struct vm *vm, int fd, size_t len,
    uint64_t ns[3]);

/* fig_copy.c */
void fig_copy(struct guest_run *r);

#endif
