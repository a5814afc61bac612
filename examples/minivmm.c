/* SPDX-License-Identifier: ISC */
/*
 * minivmm: the smallest VMM that offers the shmem guest device, an example
 * for VMM authors (docs/VMM-INTEGRATION.md walks through it). It is built
 * from an installed shmbroker alone (pkg-config libshmvdev). One KVM vCPU
 * in 64-bit long mode runs a flat guest image loaded at 1 MiB; libshmvdev
 * is the device: trapped MMIO goes to it, its regions become memory
 * slots, its eventfds irqfds and its interrupt an MSI. The guest writes
 * bytes to port 0x3f8 (stdout) and ends with a byte to port 0x501 (the
 * exit status). A region this VMM may only read (the daemon's tenant
 * rules or the region's mode) is read-only guest memory, whose stores it
 * drops and counts.
 *
 * Usage: minivmm GUEST.bin [SOCKET]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <shmvdev.h>

#define MEM_SIZE	(16u << 20)	/* guest RAM, at guest-physical 0 */
#define IMAGE_GPA	0x100000u	/* the guest image; below: page tables */
#define PML4_GPA	0x1000u
#define PDPT_GPA	0x2000u
#define GDT_GPA		0x3000u
#define PD_GPA		0x4000u		/* four page directories */
#define VECTOR		0x40u		/* the device's interrupt */
#define MSI_GSI		1u		/* its route: an MSI to vCPU 0 */
#define MSI_ADDR	0xfee00000u
/* Regions go here: above RAM and the factory page, below the APICs. */
#define WINDOW_BASE	0x40000000ull
#define WINDOW_SIZE	0x40000000ull
#define PORT_CONSOLE	0x3f8
#define PORT_EXIT	0x501
#define MAX_SLOTS	32		/* memory slots; 0 is RAM */

struct mini_slot {
	uint64_t gpa, len;		/* len 0: free */
	void *hva;
	bool read_only;
};

struct mini {
	int kvm, vm, vcpu;
	struct kvm_run *run;
	size_t run_size;
	uint8_t *ram;
	struct shmvdev *vdev;
	/* Serialises every call into vdev (shmvdev.h): the vCPU thread's
	 * MMIO and the event thread's dispatch. */
	pthread_mutex_t lock;
	int stop;			/* eventfd that ends the event thread */
	struct mini_slot slot[MAX_SLOTS];
	unsigned long ro_stores;	/* guest stores to read-only regions */
};

static int
mini_ioctl(int fd, unsigned long req, void *arg, const char *name)
{
	int rc = ioctl(fd, req, arg);

	if (rc < 0)
		fprintf(stderr, "minivmm: %s: %s\n", name, strerror(errno));
	return rc;
}

/* ---- libshmvdev's callbacks: KVM calls, no more ---- */

/* A region becomes guest memory: its memfd mapped, as a memory slot. */
static int
mini_map(void *arg, uint64_t gpa, int fd, uint64_t len, bool hugetlb)
{
	struct mini *m = arg;
	struct kvm_userspace_memory_region r = { .guest_phys_addr = gpa,
	    .memory_size = len };
	uint32_t i = 1;
	void *hva;
	int err;

	/* A client that may only read gets the memfd opened read-only, and
	 * the kernel refuses it a writable shared mapping: such a region is
	 * read-only guest memory, whose stores exit as MMIO (mini_mmio). */
	bool ro = (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY;

	(void)hugetlb;		/* len is whole huge pages then, as mmap wants */
	while (i < MAX_SLOTS && m->slot[i].len != 0)
		i++;
	if (i == MAX_SLOTS)
		return -ENOMEM;
	hva = mmap(NULL, len, ro ? PROT_READ : PROT_READ | PROT_WRITE,
	    MAP_SHARED, fd, 0);
	if (hva == MAP_FAILED)
		return -errno;
	r.slot = i;
	r.flags = ro ? KVM_MEM_READONLY : 0;
	r.userspace_addr = (uintptr_t)hva;
	if (ioctl(m->vm, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
		err = -errno;
		munmap(hva, len);
		return err;
	}
	m->slot[i] = (struct mini_slot){ gpa, len, hva, ro };
	if (ro)
		fprintf(stderr, "minivmm: a region at 0x%llx is read-only "
		    "for this VMM: its guest's stores are dropped\n",
		    (unsigned long long)gpa);
	return 0;
}

static int
mini_unmap(void *arg, uint64_t gpa, uint64_t len)
{
	struct mini *m = arg;
	struct kvm_userspace_memory_region r = { .guest_phys_addr = gpa };

	for (uint32_t i = 1; i < MAX_SLOTS; i++) {
		if (m->slot[i].gpa != gpa || m->slot[i].len != len)
			continue;
		r.slot = i;	/* size 0 deletes the slot */
		(void)ioctl(m->vm, KVM_SET_USER_MEMORY_REGION, &r);
		munmap(m->slot[i].hva, len);
		m->slot[i].len = 0;
		return 0;
	}
	return -ENOENT;
}

/* Membership changes: the event thread raises the vector itself. */
static void
mini_raise_irq(void *arg)
{
	struct mini *m = arg;
	struct kvm_msi msi = { .address_lo = MSI_ADDR, .data = VECTOR };

	(void)ioctl(m->vm, KVM_SIGNAL_MSI, &msi);
}

/* Notifications: a peer's eventfd write raises the vector in the kernel,
 * even into a halted vCPU, with no thread of ours on the way. */
static int
mini_irqfd(struct mini *m, int fd, uint32_t flags)
{
	struct kvm_irqfd req = { .fd = (uint32_t)fd, .gsi = MSI_GSI,
	    .flags = flags };

	return ioctl(m->vm, KVM_IRQFD, &req) < 0 ? -errno : 0;
}

static int
mini_bind_irqfd(void *arg, int fd)
{
	return mini_irqfd(arg, fd, 0);
}

static void
mini_unbind_irqfd(void *arg, int fd)
{
	(void)mini_irqfd(arg, fd, KVM_IRQFD_FLAG_DEASSIGN);
}

static const struct shmvdev_ops mini_ops = {
	.map = mini_map,
	.unmap = mini_unmap,
	.raise_irq = mini_raise_irq,
	.bind_irqfd = mini_bind_irqfd,
	.unbind_irqfd = mini_unbind_irqfd,
};

/* ---- the VM ---- */

static int
mini_load(struct mini *m, const char *path)
{
	ssize_t n = -1;
	int fd;

	m->ram = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m->ram == MAP_FAILED) {
		m->ram = NULL;
		fprintf(stderr, "minivmm: no memory for the guest: %s\n",
		    strerror(errno));
		return -1;
	}
	/* The image goes at 1 MiB; the last MiB is the stack. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, m->ram + IMAGE_GPA,
		    MEM_SIZE - IMAGE_GPA - (1u << 20));
		close(fd);
	}
	if (n <= 0) {
		fprintf(stderr, "minivmm: cannot load the guest %s: %s\n",
		    path, n == 0 ? "empty file" : strerror(errno));
		return -1;
	}
	return 0;
}

/* The vdev's interrupt: an in-kernel local APIC, and one GSI routed to
 * it as an MSI with the vector, for irqfds. */
static int
mini_irqchip(struct mini *m)
{
	struct {
		struct kvm_irq_routing r;
		struct kvm_irq_routing_entry e;
	} rt = { .r.nr = 1, .e.gsi = MSI_GSI, .e.type = KVM_IRQ_ROUTING_MSI,
	    .e.u.msi.address_lo = MSI_ADDR, .e.u.msi.data = VECTOR };

	if (mini_ioctl(m->vm, KVM_CREATE_IRQCHIP, NULL, "KVM_CREATE_IRQCHIP")
	    < 0)
		return -1;
	return mini_ioctl(m->vm, KVM_SET_GSI_ROUTING, &rt,
	    "KVM_SET_GSI_ROUTING");
}

/* The host's CPUID, which says long mode is there. */
static int
mini_cpuid(struct mini *m)
{
	struct {
		struct kvm_cpuid2 c;
		struct kvm_cpuid_entry2 e[256];
	} id = { .c.nent = 256 };

	if (mini_ioctl(m->kvm, KVM_GET_SUPPORTED_CPUID, &id,
	    "KVM_GET_SUPPORTED_CPUID") < 0)
		return -1;
	return mini_ioctl(m->vcpu, KVM_SET_CPUID2, &id, "KVM_SET_CPUID2");
}

/*
 * Long mode at once: the low 4 GiB identity-mapped in 2 MiB pages (RAM,
 * the factory page, the region window and the local APIC alike; not 1 GiB
 * pages, which not every host's KVM runs), a GDT
 * with a 64-bit code segment (0x08) and a data segment (0x10), and the
 * registers of a call _start(factory, vector) with interrupts off.
 */
static int
mini_long_mode(struct mini *m)
{
	uint64_t *pml4 = (uint64_t *)(m->ram + PML4_GPA);
	uint64_t *pdpt = (uint64_t *)(m->ram + PDPT_GPA);
	uint64_t *gdt = (uint64_t *)(m->ram + GDT_GPA);
	uint64_t *pd = (uint64_t *)(m->ram + PD_GPA);
	struct kvm_segment cs = { .limit = 0xffffffff, .selector = 0x08,
	    .type = 0xb, .present = 1, .s = 1, .l = 1, .g = 1 };
	struct kvm_segment ds = { .limit = 0xffffffff, .selector = 0x10,
	    .type = 0x3, .present = 1, .s = 1, .db = 1, .g = 1 };
	struct kvm_regs regs = { .rip = IMAGE_GPA, .rsp = MEM_SIZE - 8,
	    .rdi = SHMVDEV_DEFAULT_FACTORY_GPA, .rsi = VECTOR, .rflags = 2 };
	struct kvm_sregs s;

	pml4[0] = PDPT_GPA | 0x3;			/* present, writable */
	for (uint64_t i = 0; i < 4; i++)
		pdpt[i] = (PD_GPA + i * 0x1000) | 0x3;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = i << 21 | 0x83;			/* and a 2 MiB page */
	gdt[1] = 0x00af9b000000ffffull;
	gdt[2] = 0x00cf93000000ffffull;
	if (mini_ioctl(m->vcpu, KVM_GET_SREGS, &s, "KVM_GET_SREGS") < 0)
		return -1;
	s.cs = cs;
	s.ds = s.es = s.fs = s.gs = s.ss = ds;
	s.gdt.base = GDT_GPA;
	s.gdt.limit = 3 * 8 - 1;
	s.cr3 = PML4_GPA;
	s.cr4 = 1u << 5;				/* PAE */
	s.cr0 = 1u << 31 | 1u << 5 | 1u << 4 | 1u;	/* PG NE ET PE */
	s.efer = 1u << 10 | 1u << 8;			/* LMA LME */
	if (mini_ioctl(m->vcpu, KVM_SET_SREGS, &s, "KVM_SET_SREGS") < 0)
		return -1;
	return mini_ioctl(m->vcpu, KVM_SET_REGS, &regs, "KVM_SET_REGS");
}

static int
mini_create(struct mini *m)
{
	struct kvm_userspace_memory_region ram = { .slot = 0,
	    .memory_size = MEM_SIZE, .userspace_addr = (uintptr_t)m->ram };
	int size;

	if ((m->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC)) < 0) {
		fprintf(stderr, "minivmm: cannot open /dev/kvm: %s (is KVM "
		    "there, and may this user open it?)\n", strerror(errno));
		return -1;
	}
	if ((m->vm = mini_ioctl(m->kvm, KVM_CREATE_VM, NULL,
	    "KVM_CREATE_VM")) < 0 ||
	    mini_ioctl(m->vm, KVM_SET_USER_MEMORY_REGION, &ram,
	    "KVM_SET_USER_MEMORY_REGION") < 0 || mini_irqchip(m) < 0 ||
	    (m->vcpu = mini_ioctl(m->vm, KVM_CREATE_VCPU, NULL,
	    "KVM_CREATE_VCPU")) < 0 ||
	    (size = mini_ioctl(m->kvm, KVM_GET_VCPU_MMAP_SIZE, NULL,
	    "KVM_GET_VCPU_MMAP_SIZE")) < 0)
		return -1;
	m->run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    m->vcpu, 0);
	if (m->run == MAP_FAILED) {
		m->run = NULL;
		fprintf(stderr, "minivmm: mmap of kvm_run: %s\n",
		    strerror(errno));
		return -1;
	}
	m->run_size = (size_t)size;
	return mini_cpuid(m) < 0 ? -1 : mini_long_mode(m);
}

/* ---- the device and its event thread ---- */

static int
mini_open_vdev(struct mini *m, const char *socket)
{
	struct shmvdev_config cfg = { .socket = socket, .label = "minivmm",
	    .vector = VECTOR, .window_base = WINDOW_BASE,
	    .window_size = WINDOW_SIZE };
	char err[256];

	if (shmvdev_open(&cfg, &mini_ops, m, &m->vdev, err, sizeof(err)) < 0) {
		fprintf(stderr, "minivmm: the shmem device cannot start: %s\n",
		    err);
		return -1;
	}
	return 0;
}

/* Daemon events (a peer came or went, a region was revoked) while the
 * vCPU runs or sleeps in hlt. */
static void *
mini_events(void *arg)
{
	struct mini *m = arg;
	struct pollfd p[2] = {
		{ .fd = shmvdev_event_fd(m->vdev), .events = POLLIN },
		{ .fd = m->stop, .events = POLLIN },
	};
	char said[512] = "";
	int rc;

	while (poll(p, 2, -1) >= 0 || errno == EINTR) {
		if (p[1].revents != 0)
			break;
		if (p[0].revents == 0)
			continue;
		pthread_mutex_lock(&m->lock);
		rc = shmvdev_dispatch(m->vdev);
		/* Said once, not the end: while the daemon is away dispatch
		 * tries again every 50 ms with the same words, and then the
		 * next create reconnects. */
		if (rc < 0 && strcmp(shmvdev_error(m->vdev), said) != 0) {
			snprintf(said, sizeof(said), "%s",
			    shmvdev_error(m->vdev));
			fprintf(stderr, "minivmm: shared memory events: %s\n",
			    said);
		}
		pthread_mutex_unlock(&m->lock);
	}
	return NULL;
}

static int
mini_start_events(struct mini *m, pthread_t *t)
{
	int rc;

	if ((m->stop = eventfd(0, EFD_CLOEXEC)) < 0) {
		fprintf(stderr, "minivmm: eventfd: %s\n", strerror(errno));
		return -1;
	}
	if ((rc = pthread_create(t, NULL, mini_events, m)) != 0) {
		fprintf(stderr, "minivmm: cannot start the event thread: %s\n",
		    strerror(rc));
		return -1;
	}
	return 0;
}

/* ---- the vCPU ---- */

/* Is gpa in a read-only region's slot? Under m->lock (slots change in
 * map and unmap). */
static bool
mini_read_only(const struct mini *m, uint64_t gpa)
{
	for (uint32_t i = 1; i < MAX_SLOTS; i++)
		if (m->slot[i].len != 0 && m->slot[i].read_only &&
		    gpa - m->slot[i].gpa < m->slot[i].len)
			return true;
	return false;
}

static void
mini_mmio(struct mini *m)
{
	struct kvm_run *r = m->run;
	uint64_t v = 0;
	bool claimed;

	pthread_mutex_lock(&m->lock);
	claimed = shmvdev_access(m->vdev, r->mmio.phys_addr, r->mmio.is_write,
	    r->mmio.len, shmvdev_load_le(r->mmio.data, r->mmio.len), &v);
	if (!claimed && r->mmio.is_write &&
	    mini_read_only(m, r->mmio.phys_addr))
		m->ro_stores++;	/* read-only memory: the store is dropped */
	else if (!claimed)
		fprintf(stderr, "minivmm: MMIO at 0x%llx is nobody's\n",
		    (unsigned long long)r->mmio.phys_addr);
	pthread_mutex_unlock(&m->lock);
	if (!r->mmio.is_write)
		shmvdev_store_le(r->mmio.data, r->mmio.len, v);
}

/* A port write: the console, or the guest's exit status. */
static int
mini_port(struct mini *m)
{
	struct kvm_run *r = m->run;
	const uint8_t *data = (const uint8_t *)r + r->io.data_offset;

	if (r->io.direction == KVM_EXIT_IO_OUT && r->io.port == PORT_CONSOLE)
		fwrite(data, r->io.size, r->io.count, stdout);
	else if (r->io.direction == KVM_EXIT_IO_OUT && r->io.port == PORT_EXIT)
		return data[0];
	return -1;
}

/* Runs the guest; returns the status it exits with, or 1. */
static int
mini_run(struct mini *m)
{
	int status = -1;

	while (status < 0) {
		if (ioctl(m->vcpu, KVM_RUN, NULL) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			fprintf(stderr, "minivmm: KVM_RUN: %s\n",
			    strerror(errno));
			return 1;
		}
		if (m->run->exit_reason == KVM_EXIT_MMIO)
			mini_mmio(m);
		else if (m->run->exit_reason == KVM_EXIT_IO)
			status = mini_port(m);
		else {
			/* A VMM that reboots its guest on KVM_EXIT_SHUTDOWN
			 * calls shmvdev_reset here, under the lock, before it
			 * enters the guest again: minivmm ends instead. */
			fprintf(stderr, "minivmm: the guest stopped: KVM exit "
			    "reason %u\n", m->run->exit_reason);
			return 1;
		}
	}
	return status;
}

static void
mini_destroy(struct mini *m)
{
	/* The device first: it unbinds its irqfds from the VM. */
	shmvdev_close(m->vdev);
	for (uint32_t i = 1; i < MAX_SLOTS; i++)
		if (m->slot[i].len != 0)
			munmap(m->slot[i].hva, m->slot[i].len);
	if (m->run != NULL)
		munmap(m->run, m->run_size);
	if (m->ram != NULL)
		munmap(m->ram, MEM_SIZE);
	if (m->vcpu >= 0)
		close(m->vcpu);
	if (m->vm >= 0)
		close(m->vm);
	if (m->kvm >= 0)
		close(m->kvm);
	if (m->stop >= 0)
		close(m->stop);
}

int
main(int argc, char **argv)
{
	struct mini m = { .kvm = -1, .vm = -1, .vcpu = -1, .stop = -1,
	    .lock = PTHREAD_MUTEX_INITIALIZER };
	pthread_t events;
	int status;

	/* The guest's console lines come out as it writes them. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: minivmm GUEST.bin [SOCKET]\n");
		return 2;
	}
	if (mini_load(&m, argv[1]) < 0 || mini_create(&m) < 0 ||
	    mini_open_vdev(&m, argc > 2 ? argv[2] : NULL) < 0 ||
	    mini_start_events(&m, &events) < 0) {
		mini_destroy(&m);
		return 1;
	}
	status = mini_run(&m);
	fflush(stdout);
	if (m.ro_stores != 0)
		fprintf(stderr, "minivmm: dropped %lu guest stores to "
		    "read-only memory\n", m.ro_stores);
	(void)eventfd_write(m.stop, 1);
	pthread_join(events, NULL);
	mini_destroy(&m);
	return status;
}
