/* SPDX-License-Identifier: ISC */
/*
 * vm_run: the vCPU's run loop. It turns the guest's port writes into output
 * (0x3f8), an exit status (0x501) and a reset (0xcf9), hands MMIO to the
 * device model when there is one, and ends shm-vm with one line of reason
 * on stderr for everything a guest cannot come back from: an exit that KVM
 * cannot handle, a halt that nothing can wake, the --timeout. A reset and
 * a triple fault go to vm_reboot, which ends shm-vm or reboots the guest.
 * A tick every 100 ms brings the vCPU thread out of KVM_RUN to look at the
 * clock and at the halt; --timeout counts from the first boot.
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <time.h>

#include "vm.h"

#define RFLAGS_IF	(1ULL << 9)
#define MAX_INSN	15
#define RUN_GOING	(-1)
#define RESET_RIP	0xfff0
#define APIC_ISR	0x100
#define APIC_IRR	0x200

/*
 * The tick kicks KVM_RUN out with EINTR so the loop can look at the clock.
 * It must reach nothing else: outside KVM_RUN the vCPU thread blocks
 * SIGALRM, since an EINTR there would cut the guest's console writes and
 * restart libshmclient's receive timeout forever while a daemon hangs. KVM
 * unblocks it only for the run (KVM_SET_SIGNAL_MASK); a tick that arrives
 * then stays pending and is taken with sigtimedwait after KVM_RUN returns.
 * The handler is there in case one is ever delivered.
 */
static void
on_tick(int sig)
{
	(void)sig;
}

static int
tick_only_in_kvm_run(const struct vm *vm)
{
	struct {
		struct kvm_signal_mask m;
		uint8_t set[8];		/* the kernel's sigset_t */
	} km;
	sigset_t alrm, during;

	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	if (pthread_sigmask(SIG_BLOCK, &alrm, &during) != 0)
		return -1;
	sigdelset(&during, SIGALRM);
	memset(&km, 0, sizeof(km));
	km.m.len = sizeof(km.set);
	memcpy(km.set, &during, sizeof(km.set));
	return ioctl(vm->vcpu_fd, KVM_SET_SIGNAL_MASK, &km);
}

static void
take_ticks(void)
{
	const struct timespec zero = { 0, 0 };
	sigset_t alrm;

	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	while (sigtimedwait(&alrm, NULL, &zero) == SIGALRM)
		continue;
}

int64_t
vm_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int
start_ticks(void)
{
	struct sigaction sa;
	struct itimerval it;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_tick;
	sigemptyset(&sa.sa_mask);
	/* no SA_RESTART: KVM_RUN must come back to look at the clock */
	if (sigaction(SIGALRM, &sa, NULL) < 0)
		return -1;
	memset(&it, 0, sizeof(it));
	it.it_interval.tv_usec = 100000;
	it.it_value.tv_usec = 100000;
	return setitimer(ITIMER_REAL, &it, NULL);
}

static void
stop_ticks(void)
{
	struct itimerval it;

	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
}

static uint64_t
guest_rip(const struct vm *vm)
{
	struct kvm_regs r;

	if (ioctl(vm->vcpu_fd, KVM_GET_REGS, &r) < 0)
		return 0;
	return r.rip;
}

/* The bytes at the guest's RIP, through its own page tables when KVM can
 * translate (a guest may load its own CR3), else through the identity map. */
static size_t
insn_bytes(const struct vm *vm, uint64_t rip, uint8_t out[MAX_INSN])
{
	struct kvm_translation tr;
	uint64_t gpa = rip;
	size_t n = 0;

	memset(&tr, 0, sizeof(tr));
	tr.linear_address = rip;
	if (ioctl(vm->vcpu_fd, KVM_TRANSLATE, &tr) == 0 && tr.valid)
		gpa = tr.physical_address;
	while (n < MAX_INSN && gpa + n < vm->mem_size) {
		out[n] = vm->mem[gpa + n];
		n++;
	}
	return n;
}

static int
internal_error(const struct vm *vm)
{
	uint64_t rip = guest_rip(vm);
	uint8_t bytes[MAX_INSN];
	size_t n = insn_bytes(vm, rip, bytes);

	fprintf(stderr, "shm-vm: KVM_EXIT_INTERNAL_ERROR (suberror %" PRIu32
	    ") at RIP 0x%" PRIx64 ", instruction bytes:",
	    vm->run->internal.suberror, rip);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, " %02x", bytes[i]);
	fprintf(stderr, "%s\n", n == 0 ? " (RIP outside guest RAM)" : "");
	return VM_STATUS_FAIL;
}

/* Whether the vdev's vector is set in the local APIC's 256-bit register
 * at off (IRR: pending, ISR: in service). */
static bool
apic_vector_bit(const struct kvm_lapic_state *l, unsigned off,
    uint32_t vector)
{
	uint32_t word;

	memcpy(&word, l->regs + off + 0x10 * (vector / 32), sizeof(word));
	return (word >> (vector % 32)) & 1;
}

/* Where the guest was when its time ran out, on the same line, so that a
 * hang says whether it waits for an interrupt that never came (halted,
 * interrupts on, nothing pending) or one that came and was not taken.
 * One write: another VM's lines may share the stream. */
static int
timed_out(const struct vm *vm)
{
	struct kvm_mp_state mp;
	struct kvm_lapic_state lapic;
	struct kvm_regs r;
	char where[160] = "", apic[80] = "";
	const char *state = "in an unknown state";

	if (ioctl(vm->vcpu_fd, KVM_GET_MP_STATE, &mp) == 0)
		state = mp.mp_state == KVM_MP_STATE_HALTED ? "halted" :
		    "running";
	if (ioctl(vm->vcpu_fd, KVM_GET_REGS, &r) == 0)
		snprintf(where, sizeof(where), ", %s at RIP 0x%" PRIx64
		    " with interrupts %s", state, (uint64_t)r.rip,
		    r.rflags & RFLAGS_IF ? "on" : "off");
	if (ioctl(vm->vcpu_fd, KVM_GET_LAPIC, &lapic) == 0)
		snprintf(apic, sizeof(apic), "; vector %" PRIu32 " %s pending, "
		    "%s in service", vm->vector, apic_vector_bit(&lapic,
		    APIC_IRR, vm->vector) ? "is" : "not",
		    apic_vector_bit(&lapic, APIC_ISR, vm->vector) ? "is" : "not");
	fprintf(stderr, "shm-vm: timeout: the guest was still running after "
	    "%u s (--timeout)%s%s\n", vm->timeout_s, where, apic);
	return VM_STATUS_TIMEOUT;
}

/*
 * The in-kernel irqchip keeps a halted vCPU inside KVM_RUN until an
 * interrupt can be taken, so nothing exits on hlt. A halt with IF=0 can
 * never end that way: the tick looks for one and ends the guest.
 */
static int
halted_for_good(const struct vm *vm)
{
	struct kvm_mp_state mp;
	struct kvm_regs r;

	if (ioctl(vm->vcpu_fd, KVM_GET_MP_STATE, &mp) < 0 ||
	    mp.mp_state != KVM_MP_STATE_HALTED ||
	    ioctl(vm->vcpu_fd, KVM_GET_REGS, &r) < 0 ||
	    (r.rflags & RFLAGS_IF))
		return 0;
	fprintf(stderr, "shm-vm: the guest halted with interrupts disabled "
	    "at RIP 0x%" PRIx64 "; nothing can wake it\n", (uint64_t)r.rip);
	return 1;
}

/*
 * A guest reset (vm_reboot): when the guest runs again it is on a new
 * vCPU, whose signal mask the tick needs as the first one did.
 */
static int
guest_reset(struct vm *vm, const char *why, bool fault)
{
	int status = vm_reboot(vm, why, fault);

	if (status != 0)
		return status;
	if (tick_only_in_kvm_run(vm) < 0) {
		fprintf(stderr, "shm-vm: cannot set the rebooted vCPU's signal "
		    "mask: %s\n", strerror(errno));
		return VM_STATUS_FAIL;
	}
	return RUN_GOING;
}

/* AMD's KVM resets the vCPU before it reports a shutdown, so a RIP at the
 * reset vector says nothing about where the guest was. */
static int
shutdown(struct vm *vm)
{
	uint64_t rip = guest_rip(vm);
	char why[160];

	if (rip == RESET_RIP)
		snprintf(why, sizeof(why), "triple-faulted (KVM_EXIT_SHUTDOWN; "
		    "KVM reset the vCPU, so its RIP is lost): an exception "
		    "with no IDT to handle it");
	else
		snprintf(why, sizeof(why), "triple-faulted (KVM_EXIT_SHUTDOWN) "
		    "at RIP 0x%" PRIx64 ": an exception with no IDT to handle "
		    "it", rip);
	return guest_reset(vm, why, true);
}

/* A byte with RST_CPU set written to the reset control register: a
 * reset, as on a PC (0x06 soft, 0x0e hard; to shm-vm both are a full
 * reboot). */
static int
reset_port(struct vm *vm, uint8_t b)
{
	char why[64];

	snprintf(why, sizeof(why), "asked for a reset (0x%02x to port 0xcf9)",
	    b);
	return guest_reset(vm, why, false);
}

static int
port_out(struct vm *vm)
{
	const struct kvm_run *run = vm->run;
	const uint8_t *data = (const uint8_t *)run + run->io.data_offset;

	for (uint32_t i = 0; i < run->io.count; i++) {
		uint8_t b = data[(size_t)i * run->io.size];

		if (run->io.port == VM_PORT_CONSOLE) {
			putchar(b);
			if (b == '\n')
				fflush(stdout);
		} else if (run->io.port == VM_PORT_EXIT) {
			return b;
		} else if (run->io.port == VM_PORT_RESET &&
		    run->io.size == 1) {
			/* Without RST_CPU the bits only choose the kind of a
			 * later reset on a PC; shm-vm has one kind. */
			if (b & VM_RESET_CPU)
				return reset_port(vm, b);
		} else {
			vm->unknown_pio++;
		}
	}
	return RUN_GOING;
}

static void
port_in(struct vm *vm)
{
	struct kvm_run *run = vm->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	size_t len = (size_t)run->io.size * run->io.count;

	/* The UART's line status says "ready to send" so polling console
	 * code works; every other port reads as a floating bus. */
	if (run->io.port == VM_PORT_CONSOLE + 5) {
		memset(data, 0x60, len);
		return;
	}
	memset(data, 0xff, len);
	vm->unknown_pio++;
}

static int
mmio(struct vm *vm)
{
	struct kvm_run *run = vm->run;
	uint64_t gpa = run->mmio.phys_addr;
	uint32_t len = run->mmio.len;
	int rc = 0;

	if (vm->mmio != NULL) {
		rc = vm->mmio(vm->mmio_ctx, gpa, run->mmio.data, len,
		    run->mmio.is_write);
		if (rc < 0)
			return VM_STATUS_FAIL;
	}
	if (rc == 1)
		return RUN_GOING;
	/* The guest's EOI to a local APIC shm-vm does not model: accepted. */
	if (run->mmio.is_write && gpa == VM_LAPIC_EOI)
		return RUN_GOING;
	if (!run->mmio.is_write)
		memset(run->mmio.data, 0, sizeof(run->mmio.data));
	vm->unknown_mmio++;
	return RUN_GOING;
}

static int
handle_exit(struct vm *vm)
{
	struct kvm_run *run = vm->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		if (run->io.direction == KVM_EXIT_IO_OUT)
			return port_out(vm);
		port_in(vm);
		return RUN_GOING;
	case KVM_EXIT_MMIO:
		return mmio(vm);
	case KVM_EXIT_INTR:
		return RUN_GOING;
	case KVM_EXIT_SHUTDOWN:
		return shutdown(vm);
	case KVM_EXIT_INTERNAL_ERROR:
		return internal_error(vm);
	case KVM_EXIT_FAIL_ENTRY:
		fprintf(stderr, "shm-vm: KVM_EXIT_FAIL_ENTRY (hardware reason "
		    "0x%llx) at RIP 0x%" PRIx64 "\n",
		    (unsigned long long)
		    run->fail_entry.hardware_entry_failure_reason,
		    guest_rip(vm));
		return VM_STATUS_FAIL;
	case KVM_EXIT_SYSTEM_EVENT:
		fprintf(stderr, "shm-vm: the guest asked for a system event "
		    "(type %" PRIu32 ") at RIP 0x%" PRIx64 "\n",
		    run->system_event.type, guest_rip(vm));
		return VM_STATUS_FAIL;
	default:
		fprintf(stderr, "shm-vm: unexpected KVM exit %" PRIu32
		    " at RIP 0x%" PRIx64 "\n", run->exit_reason,
		    guest_rip(vm));
		return VM_STATUS_FAIL;
	}
}

static int
run_loop(struct vm *vm, int64_t deadline)
{
	int status;

	for (;;) {
		if (deadline != 0 && vm_mono_ns() >= deadline)
			return timed_out(vm);
		if (ioctl(vm->vcpu_fd, KVM_RUN, 0) < 0) {
			int err = errno;

			if (err == EINTR) {
				take_ticks();
				if (halted_for_good(vm))
					return VM_STATUS_FAIL;
			}
			if (err == EINTR || err == EAGAIN)
				continue;
			fprintf(stderr, "shm-vm: KVM_RUN: %s\n", strerror(err));
			return VM_STATUS_FAIL;
		}
		if ((status = handle_exit(vm)) != RUN_GOING)
			return status;
	}
}

int
vm_run(struct vm *vm)
{
	int64_t deadline = 0;
	int status;

	if (vm->timeout_s != 0)
		deadline = vm_mono_ns() + (int64_t)vm->timeout_s * 1000000000;
	if (tick_only_in_kvm_run(vm) < 0 || start_ticks() < 0) {
		fprintf(stderr, "shm-vm: cannot start the vCPU's tick: %s\n",
		    strerror(errno));
		return VM_STATUS_FAIL;
	}
	status = run_loop(vm, deadline);
	stop_ticks();
	fflush(stdout);
	return status;
}
