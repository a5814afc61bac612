/*
 * libshmvdev: the VMM side of the shmem vdev for one VM. It owns the VM's
 * factory page and the control pages of its attached regions, places the
 * regions in a window of guest-physical space, and forwards create, find
 * and detach to shmbrokerd through its own libshmclient connection. A
 * guest's notify write and status read take libshmclient's direct path
 * (the region's state page and the peers' eventfds): no daemon call. It
 * makes no KVM call: the VMM provides mapping and interrupts through
 * struct shmvdev_ops, so any VMM can use it.
 *
 * Interrupts. Each attached client has its own eventfd, signalled by
 * every notification to it. With ops->bind_irqfd, libshmvdev binds it at
 * attach (KVM_IRQFD: the kernel raises the vdev irq, no VMM thread in the
 * way), binds the new one after a daemon restart (unbinding the old one
 * first) and unbinds it before detach, reset or close closes it. Without
 * it, or when the bind fails, the eventfd stays in shmvdev_event_fd's set
 * and shmvdev_dispatch calls ops->raise_irq for each notification.
 * Membership changes always raise the irq through shmvdev_dispatch.
 *
 * Guest-physical layout. The factory page sits at factory_gpa. Regions go
 * into [window_base, window_base + window_size), cut into 2 MiB slots.
 * A region takes one slot for its control page plus enough slots for its
 * data: the data starts on a slot boundary (2 MiB aligned, so a VMM can
 * map it with 2 MiB guest pages) and the control page is the last 4 KiB
 * page of the slot before it (control = data - 0x1000, as the guest
 * header says). The rest of the control slot stays empty. Slots freed by
 * a detach are reused first-fit. The VMM must keep its own RAM and
 * devices out of the window and the factory page.
 *
 * The VMM's part:
 * - traps every access to the factory page and the control pages (those
 *   it does not map as memory) and hands it to shmvdev_access(), which
 *   says whether the gpa was the vdev's (shmvdev_claims() asks alone);
 *   accesses may be 1..8 bytes at any offset (vdev_regs.h);
 * - maps what ops->map asks for as ordinary guest memory (not trapped);
 * - polls shmvdev_event_fd() for POLLIN and calls shmvdev_dispatch(),
 *   which calls ops->raise_irq (and ops->bind_irqfd/unbind_irqfd after a
 *   daemon restart);
 * - calls shmvdev_reset() when the guest resets.
 *
 * Not thread-safe: a VMM with several vCPU threads and an event thread
 * serialises all calls on one struct shmvdev (one lock per VM). The
 * callbacks run inside shmvdev_access, shmvdev_dispatch and
 * shmvdev_reset, on the caller's thread, with that lock held.
 *
 * Failures never reach the guest as a crash or a stall beyond the
 * daemon call timeout: a daemon that cannot be reached makes a create or
 * find fail with GSS_UNKNOWN_FAILURE, a status read return 0 and a notify
 * do nothing; shmvdev_error() keeps the message. libshmclient's
 * reconnect is on, so a daemon restart is ridden out (calls made while
 * the daemon is away block for up to reconnect_ms).
 */
#ifndef SHMVDEV_H
#define SHMVDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHMVDEV_DEFAULT_FACTORY_GPA	0x10000000ull
#define SHMVDEV_DEFAULT_WINDOW_BASE	0x40000000ull
#define SHMVDEV_WINDOW_LIMIT		0x100000000ull	/* window ends below */
#define SHMVDEV_SLOT_SIZE		0x200000ull	/* 2 MiB */
#define SHMVDEV_DEFAULT_RECONNECT_MS	10000

/* What the VMM provides; vmm is the pointer given to shmvdev_open. */
struct shmvdev_ops {
	/*
	 * Map len bytes of fd (a sealed memfd, from offset 0) read-write at
	 * guest-physical [gpa, gpa + len). gpa is 2 MiB aligned, len a
	 * multiple of 4 KiB; hugetlb says the memfd is backed by huge pages
	 * (the VMM may then map it with huge pages). fd stays open and owned
	 * by libshmvdev until the matching unmap returns; the VMM dups it if
	 * it needs it longer. Returns 0 or -errno (-ENOMEM makes the guest
	 * see GSS_NOMEM, anything else GSS_UNKNOWN_FAILURE).
	 */
	int (*map)(void *vmm, uint64_t gpa, int fd, uint64_t len,
	    bool hugetlb);
	/* Undo one map: the same gpa and len. Returns 0 or -errno
	 * (ignored: the slots are free again either way). */
	int (*unmap)(void *vmm, uint64_t gpa, uint64_t len);
	/* Raise the vdev interrupt once (the factory's vector). */
	void (*raise_irq)(void *vmm);
	/*
	 * Optional (both or neither). Make a signal on eventfd raise the
	 * vdev irq in the kernel (KVM_IRQFD); 0 or -errno (a failure falls
	 * back to raise_irq from shmvdev_dispatch). The fd stays
	 * libshmvdev's.
	 */
	int (*bind_irqfd)(void *vmm, int eventfd);
	/* Undo a bind_irqfd; called before the fd is closed. */
	void (*unbind_irqfd)(void *vmm, int eventfd);
};

struct shmvdev_config {
	const char *socket;	/* the daemon's VMM socket; NULL: default */
	const char *label;	/* shown by `shmctl clients`; may be NULL */
	uint64_t factory_gpa;	/* 4 KiB aligned; 0: the default */
	uint32_t vector;	/* what the factory's vector field reads */
	uint64_t window_base;	/* 2 MiB aligned; 0: the default */
	uint64_t window_size;	/* multiple of 2 MiB, at least 4 MiB, ends
				 * at or below 4 GiB; 0: up to 4 GiB */
	int reconnect_ms;	/* 0: the default; < 0: no reconnect */
};

struct shmvdev;

/*
 * Checks cfg, connects to the daemon and returns the VM's vdev with the
 * factory page in its power-on state. Returns 0 with *out set, or -errno
 * with the reason in err (when not NULL) and *out NULL. ops and its three
 * callbacks must be set; ops is copied.
 */
int shmvdev_open(const struct shmvdev_config *cfg,
    const struct shmvdev_ops *ops, void *vmm, struct shmvdev **out,
    char *err, size_t errlen);

/*
 * Closes the daemon connection (the daemon then detaches every client of
 * this VM and tells the peers) and frees d. Calls no callback but
 * unbind_irqfd for each bound eventfd (so the VM fd must still be open):
 * the VMM may already have torn its guest memory down. NULL is ignored.
 */
void shmvdev_close(struct shmvdev *d);

/*
 * True for a gpa on the factory page or on a control page: attached, or
 * detached and not yet reused (its accesses then read 0 and writes are
 * ignored, so the VMM must keep trapping it).
 */
bool shmvdev_claims(const struct shmvdev *d, uint64_t gpa);

/*
 * One trapped access of len bytes (1..8) at gpa: data holds a write's
 * bytes little-endian (kvm_run.mmio.data, see shmvdev_load_le). Returns
 * whether gpa is the vdev's (what shmvdev_claims says), with *value the
 * value a read gives (0 for a write, and for a gpa that is not the
 * vdev's). A write that creates, finds, notifies or detaches completes
 * its daemon call before returning, so the guest sees the outcome on its
 * next read.
 */
bool shmvdev_access(struct shmvdev *d, uint64_t gpa, bool is_write,
    unsigned len, uint64_t data, uint64_t *value);

/* An fd that polls readable while daemon events wait for dispatch. It
 * stays the same for d's lifetime, across daemon restarts. */
int shmvdev_event_fd(const struct shmvdev *d);

/*
 * Handles the waiting daemon events without blocking (unless a daemon
 * restart is being ridden out): ops->raise_irq once for each notification
 * to one of this VM's clients whose eventfd is not bound as an irqfd and
 * for each change in the membership of a region one of them is attached
 * to (including an admin revoking the client, after which its status
 * reads 0 until the guest detaches).
 * Returns the number of events handled, or -errno when the daemon is gone
 * for good (-ECONNRESET; the VMM may then stop polling the fd).
 */
int shmvdev_dispatch(struct shmvdev *d);

/*
 * The guest reset: detaches every client of this VM (ops->unmap for
 * each), forgets every control page and puts the factory page back in its
 * power-on state, so a guest that reboots without detaching leaks
 * nothing.
 */
void shmvdev_reset(struct shmvdev *d);

/* The message of the last failure ("" when none). */
const char *shmvdev_error(const struct shmvdev *d);

/* Where a client's pages are, for VMMs and tests: the control page gpa of
 * every attached client in *ctl (up to n), returns how many there are. */
size_t shmvdev_attached(const struct shmvdev *d, uint64_t *ctl, size_t n);

#endif /* SHMVDEV_H */
