/* SPDX-License-Identifier: ISC */
/*
 * shm-vm: the reference KVM VMM. Owns the command line and the order of
 * things: options, guest RAM, the image (checked before KVM is touched, so a
 * bad image is reported the same on every host), the VM, the shmem vdev on
 * the daemon's socket, the run (which a reset under --reboot starts again,
 * vm_reboot.c). A guest's factory write travels
 * vm_run.c (the MMIO exit) -> vm_vdev.c (the lock) -> libshmvdev
 * (shmvdev.c) -> libshmclient -> shmbrokerd, and the region comes back as a
 * memory slot (vm_vdev.c, op_map).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "units.h"
#include "vm.h"

struct options {
	const char *socket;
	const char *guest;
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: shm-vm [--socket PATH] --guest FILE [--mem SIZE] [--factory ADDR]\n"
"              [--vector N] [--arg VALUE] [--timeout SECONDS]\n"
"              [--reboot] [--max-reboots N]\n"
"\n"
"Runs FILE, a static ELF64 x86-64 executable (PT_LOAD segments at their\n"
"physical addresses, entered at e_entry) or a flat binary (loaded and\n"
"entered at 0x100000), on one vCPU in 64-bit long mode with guest RAM at\n"
"guest-physical 0. The guest starts as _start(factory, vector, arg):\n"
"RDI = the factory page address, RSI = the interrupt vector, RDX = --arg,\n"
"RSP = top of RAM - 8, interrupts off, low 4 GiB identity-mapped.\n"
"\n"
"  --socket PATH      shmbrokerd's VMM socket (default: $SHMBROKER_SOCKET,\n"
"                     else the daemon's default); shm-vm fails at start\n"
"                     when the daemon cannot be reached\n"
"  --guest FILE       the guest image\n"
"  --mem SIZE         guest RAM, e.g. 64M (default 64M, 2M..3G)\n"
"  --factory ADDR     guest-physical factory page (default 0x10000000),\n"
"                     page aligned, above guest RAM\n"
"  --vector N         interrupt vector passed to the guest (default 0x40)\n"
"  --arg VALUE        a 64-bit value passed to the guest in RDX (default 0)\n"
"  --timeout SECONDS  end the guest after this long, counted from the\n"
"                     first boot (default: never)\n"
"  --reboot           a guest reset reboots the guest instead of ending\n"
"                     shm-vm\n"
"  --max-reboots N    with --reboot (which it implies), end shm-vm at the\n"
"                     reset after the Nth reboot (default: no limit)\n"
"\n"
"Guest I/O: a byte written to port 0x3f8 goes to stdout; a byte v written\n"
"to port 0x501 ends shm-vm with exit status v. The shmem vdev's factory\n"
"page is at --factory; regions are placed from 0x40000000 (or the first\n"
"2 MiB boundary above guest RAM and the factory page) up to 0xfec00000;\n"
"the vdev interrupt is an MSI with --vector to the local APIC, taken when\n"
"IF=1 (EOI at 0xfee000b0).\n"
"Guest reset: a one-byte write with bit 2 (RST_CPU) set to port 0xcf9\n"
"(0x06, 0x0e) or a triple fault. Without --reboot it ends shm-vm; with\n"
"it, every client of the VM is detached, RAM is zeroed, the image as read\n"
"at start is loaded again and entered on a new vCPU as above. A reboot\n"
"after a triple fault is reported on stderr.\n"
"Exit status: the guest's, or 1 for a guest fault, a triple fault or a\n"
"reset without --reboot, a reset past --max-reboots, an exit KVM cannot\n"
"handle, a bad image, a KVM failure or a daemon that cannot be reached\n"
"(one line on stderr says which), 2 for a bad command line, 124 when\n"
"--timeout expired.\n");
}

static int
parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (s[0] == '-')
		return -1;
	errno = 0;
	*v = strtoull(s, &end, 0);
	return (errno != 0 || end == s || *end != '\0') ? -1 : 0;
}

static int
bad_option(const char *opt, const char *val, const char *want)
{
	fprintf(stderr, "shm-vm: bad %s '%s': %s\n", opt, val, want);
	return -1;
}

static int
parse_value(struct vm *vm, int c, const char *arg)
{
	uint64_t v;

	switch (c) {
	case 'm':
		if (units_parse_size(arg, &v) < 0 || v < VM_MIN_MEM ||
		    v > VM_MAX_MEM || v % 4096 != 0)
			return bad_option("--mem", arg,
			    "want a multiple of 4K from 2M to 3G, e.g. 64M");
		vm->mem_size = v;
		return 0;
	case 'f':
		if (parse_u64(arg, &v) < 0 || v % 4096 != 0 ||
		    v > VM_LAPIC_BASE - 4096)
			return bad_option("--factory", arg, "want a page-aligned "
			    "guest-physical address below 0xfee00000");
		vm->factory = v;
		return 0;
	case 'v':
		if (parse_u64(arg, &v) < 0 || v < 32 || v > 255)
			return bad_option("--vector", arg,
			    "want an interrupt vector from 32 to 255");
		vm->vector = (uint32_t)v;
		return 0;
	case 't':
		if (parse_u64(arg, &v) < 0 || v == 0 || v > 86400)
			return bad_option("--timeout", arg,
			    "want seconds from 1 to 86400");
		vm->timeout_s = (unsigned)v;
		return 0;
	case 'a':
		if (parse_u64(arg, &vm->arg) < 0)
			return bad_option("--arg", arg,
			    "want a number from 0 to 2^64-1, e.g. 1000 or 0x10");
		return 0;
	case 'n':
		/* UINT64_MAX is what "no limit" is kept as */
		if (parse_u64(arg, &v) < 0 || v == UINT64_MAX)
			return bad_option("--max-reboots", arg,
			    "want a number of reboots from 0 to 2^64-2");
		vm->max_reboots = v;
		vm->reboot = 1;
		return 0;
	}
	return -1;
}

/*
 * Places the region window from 0x40000000, or from the first 2 MiB
 * boundary above guest RAM and the factory page, up to the APIC pages, and
 * checks that the factory page is outside RAM and what the in-kernel
 * irqchip owns, and that the window keeps room for a region.
 */
static int
check_layout(struct vm *vm)
{
	uint64_t above = vm->mem_size > vm->factory + 4096 ?
	    vm->mem_size : vm->factory + 4096;

	vm->window_base = VM_WINDOW_BASE;
	if (above > vm->window_base)
		vm->window_base = (above + 0x1fffff) & ~0x1fffffULL;
	if (vm->factory < vm->mem_size) {
		fprintf(stderr, "shm-vm: --factory 0x%" PRIx64 " lies inside "
		    "guest RAM (0..0x%" PRIx64 "); move it up or lower --mem\n",
		    vm->factory, vm->mem_size);
		return -1;
	}
	if (vm->window_base + VM_WINDOW_MIN > VM_WINDOW_END) {
		fprintf(stderr, "shm-vm: no room for regions between guest RAM "
		    "and the factory page (up to 0x%" PRIx64 ") and the APIC "
		    "pages at 0x%llx; lower --mem or --factory\n",
		    vm->window_base, VM_WINDOW_END);
		return -1;
	}
	return 0;
}

/* Returns 0, 1 after --help, or -1 after saying what was wrong. */
static int
parse_args(int argc, char **argv, struct vm *vm, struct options *o)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "guest", required_argument, NULL, 'g' },
		{ "mem", required_argument, NULL, 'm' },
		{ "factory", required_argument, NULL, 'f' },
		{ "vector", required_argument, NULL, 'v' },
		{ "timeout", required_argument, NULL, 't' },
		{ "arg", required_argument, NULL, 'a' },
		{ "reboot", no_argument, NULL, 'r' },
		{ "max-reboots", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == 's')
			o->socket = optarg;
		else if (c == 'g')
			o->guest = optarg;
		else if (c == 'r')
			vm->reboot = 1;
		else if (c == 'h')
			return 1;
		else if (c == '?' || parse_value(vm, c, optarg) < 0)
			return -1;
	}
	if (optind < argc) {
		fprintf(stderr, "shm-vm: unexpected argument '%s'\n",
		    argv[optind]);
		return -1;
	}
	if (o->guest == NULL) {
		fprintf(stderr, "shm-vm: --guest FILE is required\n");
		return -1;
	}
	return check_layout(vm);
}

int
main(int argc, char **argv)
{
	struct vm vm;
	struct options o;
	int rc, status = VM_STATUS_FAIL;

	vm_init(&vm);
	memset(&o, 0, sizeof(o));
	if ((rc = parse_args(argc, argv, &vm, &o)) != 0) {
		if (rc > 0) {
			usage(stdout);
			return 0;
		}
		fprintf(stderr, "shm-vm: see shm-vm --help\n");
		return VM_STATUS_USAGE;
	}
	if (vm_alloc_memory(&vm) == 0 && vm_load_image(&vm, o.guest) == 0 &&
	    vm_create(&vm) == 0 && vm_vdev_open(&vm, o.socket) == 0)
		status = vm_run(&vm);
	vm_vdev_close(&vm);
	vm_destroy(&vm);
	return status;
}
