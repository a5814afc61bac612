/* SPDX-License-Identifier: ISC */
/*
 * vm_reboot: what a guest reset does. A reset is a byte with RST_CPU set
 * written to the PC's reset control register, port 0xcf9 (vm_run.c), or a
 * triple fault (KVM_EXIT_SHUTDOWN). Without --reboot it ends shm-vm, as a
 * guest fault does; past --max-reboots too. With --reboot the guest
 * restarts the way a PC reboots: every client of the VM is detached
 * (vm_vdev_reset: the daemon frees its indices and tells its peers, so a
 * guest that never detaches leaks nothing however often it reboots), the
 * regions' memory slots go, and the VM and its vCPU are made anew on
 * zeroed RAM holding the image read at start, entered with the same
 * contract (docs/DESIGN.md).
 */
#include <inttypes.h>
#include <stdio.h>

#include "vm.h"

static int
end_here(const struct vm *vm, const char *why)
{
	if (!vm->reboot)
		fprintf(stderr, "shm-vm: the guest %s; without --reboot that "
		    "ends it\n", why);
	else
		fprintf(stderr, "shm-vm: the guest %s; that would be reboot %"
		    PRIu64 ", past --max-reboots %" PRIu64 "\n", why,
		    vm->reboots + 1, vm->max_reboots);
	return VM_STATUS_FAIL;
}

int
vm_reboot(struct vm *vm, const char *why, bool fault)
{
	if (!vm->reboot || vm->reboots >= vm->max_reboots)
		return end_here(vm, why);
	vm->reboots++;
	if (fault)
		fprintf(stderr, "shm-vm: the guest %s; reboot %" PRIu64 "\n",
		    why, vm->reboots);
	vm_vdev_reset(vm);
	vm_close_machine(vm);
	if (vm_clear_memory(vm) < 0 || vm_reload_image(vm) < 0 ||
	    vm_create_machine(vm) < 0)
		return VM_STATUS_FAIL;
	return 0;
}
