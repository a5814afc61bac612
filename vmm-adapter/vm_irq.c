/* SPDX-License-Identifier: ISC */
/*
 * vm_irq: how the vdev's interrupt reaches the guest. shm-vm gives the VM an
 * in-kernel irqchip and one MSI route (GSI VM_MSI_GSI) that delivers the
 * vdev's vector, edge-triggered, to the vCPU's local APIC. Two things raise
 * it: a peer's signal on an eventfd bound as a KVM irqfd to that route,
 * which wakes a halted vCPU without shm-vm running at all (the notification
 * path), and shm-vm itself through KVM_SIGNAL_MSI for membership changes.
 * The guest acknowledges with an EOI to the in-kernel local APIC.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vm.h"

#define MSI_ADDRESS	0xfee00000U	/* physical destination: APIC ID 0 */
#define APIC_SVR	0xf0		/* spurious-interrupt vector register */
#define APIC_SVR_ENABLE	0x100

static int
irq_fail(const char *what)
{
	fprintf(stderr, "shm-vm: %s: %s\n", what, strerror(errno));
	return -1;
}

int
vm_irq_create(struct vm *vm)
{
	struct {
		struct kvm_irq_routing r;
		struct kvm_irq_routing_entry e[1];
	} routing;

	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return irq_fail("KVM_CREATE_IRQCHIP");
	/* The guest has no PIC or IOAPIC devices to drive: the MSI route is
	 * the whole table. */
	memset(&routing, 0, sizeof(routing));
	routing.r.nr = 1;
	routing.e[0].gsi = VM_MSI_GSI;
	routing.e[0].type = KVM_IRQ_ROUTING_MSI;
	routing.e[0].u.msi.address_lo = MSI_ADDRESS;
	routing.e[0].u.msi.data = vm->vector;	/* fixed delivery, edge */
	if (ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, &routing) < 0)
		return irq_fail("KVM_SET_GSI_ROUTING");
	return 0;
}

/* A local APIC comes out of reset software-disabled and would drop every
 * interrupt; the guest contract has the guest only send EOIs, so shm-vm
 * enables it. */
int
vm_irq_enable_lapic(struct vm *vm)
{
	struct kvm_lapic_state lapic;
	uint32_t svr;

	if (ioctl(vm->vcpu_fd, KVM_GET_LAPIC, &lapic) < 0)
		return irq_fail("KVM_GET_LAPIC");
	memcpy(&svr, lapic.regs + APIC_SVR, sizeof(svr));
	svr |= APIC_SVR_ENABLE | 0xff;
	memcpy(lapic.regs + APIC_SVR, &svr, sizeof(svr));
	if (ioctl(vm->vcpu_fd, KVM_SET_LAPIC, &lapic) < 0)
		return irq_fail("KVM_SET_LAPIC");
	return 0;
}

/* Any thread may call this; the in-kernel APIC kicks a running or halted
 * vCPU itself. */
int
vm_irq_raise(struct vm *vm)
{
	struct kvm_msi msi;

	memset(&msi, 0, sizeof(msi));
	msi.address_lo = MSI_ADDRESS;
	msi.data = vm->vector;
	if (ioctl(vm->vm_fd, KVM_SIGNAL_MSI, &msi) < 0)
		return -errno;
	return 0;
}

static int
irqfd(struct vm *vm, int fd, uint32_t flags)
{
	struct kvm_irqfd req;

	memset(&req, 0, sizeof(req));
	req.fd = (uint32_t)fd;
	req.gsi = VM_MSI_GSI;
	req.flags = flags;
	if (ioctl(vm->vm_fd, KVM_IRQFD, &req) < 0)
		return -errno;
	return 0;
}

int
vm_irq_bind(struct vm *vm, int fd)
{
	return irqfd(vm, fd, 0);
}

void
vm_irq_unbind(struct vm *vm, int fd)
{
	(void)irqfd(vm, fd, KVM_IRQFD_FLAG_DEASSIGN);
}
