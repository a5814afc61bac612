/* SPDX-License-Identifier: ISC */
/*
 * libshmvdev: the VMM side of the shmem guest device (the QNX hypervisor's
 * "shmem" vdev, <qvm/guest_shm.h>) for one VM, over shmbrokerd. This is
 * its whole public interface (pkg-config --cflags --libs libshmvdev;
 * docs/VMM-INTEGRATION.md and libshmvdev(3) walk through it).
 *
 * It owns the VM's factory page and the control pages of its attached
 * regions, places the regions in a window of guest-physical space, and
 * forwards a guest's create, find and detach to shmbrokerd over its own
 * libshmclient connection. A guest's notify and status read take the
 * direct path (the region's shared state page and the peers' eventfds):
 * no daemon call. It makes no KVM call and starts no thread: the VMM maps
 * memory and raises interrupts through the callbacks of struct
 * shmvdev_ops, so any VMM, on any hypervisor interface, can use it.
 *
 * The VMM's part:
 * - Forward every guest access to the factory page and to the control
 *   pages (gpas not backed by memory, which the VMM therefore traps:
 *   KVM_EXIT_MMIO, or the VMM's own MMIO dispatch) to shmvdev_access();
 *   a false return means the gpa is not the vdev's. Accesses are 1 to 8
 *   bytes at any offset (a 16-byte store reaches the VMM as two). Guest
 *   RAM, the regions' data and everything else stay the VMM's.
 * - Keep its RAM and other devices out of the factory page and the
 *   region window (struct shmvdev_config).
 * - Implement map and unmap: a region becomes ordinary guest memory, not
 *   trapped (a KVM memory slot over an mmap of the region's memfd).
 * - Implement raise_irq, and preferably bind_irqfd/unbind_irqfd (below).
 * - Poll shmvdev_event_fd() for POLLIN and call shmvdev_dispatch(), from
 *   a thread of its own or its event loop, while the guest runs or sleeps.
 * - Call shmvdev_reset() when the guest resets, shmvdev_close() at the end.
 *
 * Interrupts. Each client the guest attaches has its own eventfd, which
 * every notification to that client signals. With ops->bind_irqfd,
 * libshmvdev binds it at attach (KVM_IRQFD: the kernel raises the vdev
 * interrupt with no VMM thread in the way, even into a halted vCPU), binds
 * the new one after a daemon restart (unbinding the old one first) and
 * unbinds it before a detach, reset or close closes it. Without
 * bind_irqfd, or when a bind fails, the eventfd stays in shmvdev_event_fd's
 * set and shmvdev_dispatch calls ops->raise_irq for each notification.
 * Membership changes (a peer attached or detached, an admin revoked a
 * client, a daemon restart changed the members or lost a client) always
 * raise the interrupt through shmvdev_dispatch. A client
 * an admin revokes is unbound and unmapped there first, and its control
 * page reads as detached. The guest
 * tells the causes apart by reading its control pages' status.
 *
 * Guest-physical layout. The factory page sits at factory_gpa. Regions go
 * into [window_base, window_base + window_size), cut into 2 MiB slots. A
 * region takes one slot for its control page plus enough slots for its
 * data: the data starts on a slot boundary (2 MiB aligned, so a VMM can
 * map it with 2 MiB guest pages) and the control page is the last 4 KiB
 * page of the slot before it (control = data - 0x1000, as the guest
 * header says). The rest of the control slot stays empty. Slots freed by
 * a detach are reused first fit. The guest learns where a region landed
 * from the factory's shmem field; shmvdev_attached() tells the VMM.
 *
 * Threading and locking. A struct shmvdev is not thread-safe: a VMM with
 * several vCPU threads and an event thread serialises every call on one
 * struct shmvdev under one lock of its own (one lock per VM; different
 * VMs need no common lock). The callbacks run inside shmvdev_access,
 * shmvdev_dispatch, shmvdev_reset and shmvdev_close, on the caller's
 * thread, with that lock held: they must not call libshmvdev for the same
 * VM. Those of shmvdev_dispatch (raise_irq, bind_irqfd, unbind_irqfd,
 * and unmap for a revoked client) run on the event thread while vCPUs
 * run or sleep in the kernel, which KVM's ioctls allow. A write that
 * creates, finds or detaches, and a revocation that dispatch handles,
 * makes a daemon call and holds the lock for its round trip (milliseconds at
 * most, bounded by the call timeout); notify and status reads make none.
 * The replies to those calls do not wake a thread waiting on
 * shmvdev_event_fd (libshmclient's shmc_set_event_thread, which
 * shmvdev_open turns on): it wakes for events (and for a reply that
 * comes after its call gave up).
 *
 * Tenancy. The daemon decides what the guest may create and attach by the
 * credentials of the VMM process's own connection (SO_PEERCRED: its uid
 * and gid when shmvdev_open or a reconnect connects), never by anything
 * the VMM or the guest says: every guest of one VMM process is one tenant,
 * and the region a guest names N is its tenant's prefix + N. A refusal
 * reaches the guest as GSS_NO_PERMISSION or GSS_NOMEM (a quota). Run the
 * VMMs of different tenants as different users or groups.
 *
 * Daemon restarts. libshmclient's reconnect is on (reconnect_ms): the
 * first call that finds the daemon gone connects again to the same socket
 * for up to reconnect_ms, attaches every client of this VM again (the same
 * index when it is free), and carries on; a create, find or detach made
 * meanwhile blocks, with the VMM's lock held, for as long. Dispatch does
 * not: it tries once, each of the attempt's calls within 200 ms, and
 * libshmclient makes the event fd readable again every 50 ms for the next
 * try (dispatch returns the error meanwhile), so doorbells and status
 * reads wait for the lock no longer than one attempt. The guest keeps its
 * control pages and mappings. Under systemd with the daemon's fd store (the shipped
 * configuration) the regions are the same memory; otherwise a region that
 * the restarted daemon makes anew is new memory the guest does not see
 * (shmvdev_error says so). A client whose region did not come back reads
 * as revoked: its status reads 0 until the guest detaches it. Each client
 * gets a new eventfd, which shmvdev_dispatch rebinds (unbind_irqfd on the
 * old one, bind_irqfd on the new one). When reconnecting fails,
 * shmvdev_dispatch returns -errno (-ECONNRESET, or the connect's error such
 * as -ECONNREFUSED); the guest then runs on with its
 * regions mapped, its creates and finds fail with GSS_UNKNOWN_FAILURE,
 * and each later one tries to reconnect again: keep polling.
 *
 * Failures never reach the guest as a crash or a stall beyond the daemon
 * call timeout: a daemon that cannot be reached makes a create or find
 * fail with GSS_UNKNOWN_FAILURE, a status read return 0 and a notify do
 * nothing; shmvdev_error() keeps the message for the VMM's operator.
 */
#ifndef SHMVDEV_H
#define SHMVDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with -fvisibility=hidden and a version script: it
 * exports what this header declares and nothing else. */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

#define SHMVDEV_DEFAULT_FACTORY_GPA	0x10000000ull
#define SHMVDEV_DEFAULT_WINDOW_BASE	0x40000000ull
#define SHMVDEV_WINDOW_LIMIT		0x100000000ull	/* window ends below */
#define SHMVDEV_SLOT_SIZE		0x200000ull	/* 2 MiB */
#define SHMVDEV_DEFAULT_RECONNECT_MS	10000

/*
 * What the VMM provides; vmm is the pointer given to shmvdev_open. Each
 * callback runs with the VMM's lock held (see "Threading and locking").
 */
struct shmvdev_ops {
	/*
	 * Map len bytes of fd (a sealed memfd, from offset 0) read-write at
	 * guest-physical [gpa, gpa + len), as ordinary guest memory (a KVM
	 * memory slot over mmap(MAP_SHARED) of fd: no copy, not trapped).
	 * When fd is open read-only ((fcntl(fd, F_GETFL) & O_ACCMODE) ==
	 * O_RDONLY: the daemon lets this client read the region, not write
	 * it, and the kernel refuses a writable shared mapping with EACCES),
	 * map it PROT_READ as read-only guest memory (KVM_MEM_READONLY): the
	 * guest's stores to it then reach the VMM as MMIO, which
	 * shmvdev_access does not claim; drop them.
	 * gpa is 2 MiB aligned, len a multiple of 4 KiB: the memfd's size,
	 * which may be more than the guest asked for. hugetlb says the memfd
	 * is backed by huge pages; len is then a whole number of them (mmap
	 * wants that) and the VMM may map the data with 2 MiB guest pages.
	 * Called from shmvdev_access, during the guest's create or find.
	 * fd stays open and owned by libshmvdev until the matching unmap
	 * returns; the VMM dups it to keep it longer. Returns 0 or -errno
	 * (-ENOMEM makes the guest see GSS_NOMEM, anything else
	 * GSS_UNKNOWN_FAILURE; either way the client is detached again).
	 */
	int (*map)(void *vmm, uint64_t gpa, int fd, uint64_t len,
	    bool hugetlb);
	/*
	 * Undo one map: the same gpa and len. After it returns the guest
	 * must not reach the memory (remove the memory slot, then munmap).
	 * Called from shmvdev_access (the guest's detach), shmvdev_dispatch
	 * (an admin revoked the client: `shmctl destroy --force` of its
	 * region, `shmctl detach` of the client; the vCPU may be running)
	 * and shmvdev_reset; not from shmvdev_close, which leaves guest
	 * memory to the VMM.
	 * Returns 0 or -errno (ignored: the slots are free again either way).
	 */
	int (*unmap)(void *vmm, uint64_t gpa, uint64_t len);
	/*
	 * Raise the vdev interrupt once: the vector the factory's vector
	 * field reads (struct shmvdev_config), edge-triggered, to the vCPU
	 * the guest expects it on (KVM_SIGNAL_MSI, or KVM_IRQ_LINE). Called
	 * from shmvdev_dispatch only, so from the VMM's event thread while
	 * a vCPU may be running or halted: it must wake a halted vCPU.
	 */
	void (*raise_irq)(void *vmm);
	/*
	 * Optional (both or neither). Make a signal on eventfd raise the vdev
	 * interrupt in the kernel (KVM_IRQFD with the interrupt's GSI), so a
	 * notification reaches the guest with no VMM thread on its path.
	 * Returns 0 or -errno; a failure falls back to raise_irq from
	 * shmvdev_dispatch. The fd stays libshmvdev's: do not close it.
	 * Called from shmvdev_access (attach) and shmvdev_dispatch (a new
	 * eventfd after a daemon restart).
	 */
	int (*bind_irqfd)(void *vmm, int eventfd);
	/*
	 * Undo a bind_irqfd (KVM_IRQFD_FLAG_DEASSIGN), before the fd is
	 * closed. Called from shmvdev_access (detach), shmvdev_dispatch,
	 * shmvdev_reset and shmvdev_close (so the VM's fd must still be open
	 * when the VMM calls shmvdev_close).
	 */
	void (*unbind_irqfd)(void *vmm, int eventfd);
};

struct shmvdev_config {
	const char *socket;	/* the daemon's VMM socket; NULL: the
				 * default (shmc_default_socket:
				 * $SHMBROKER_SOCKET, else
				 * /run/shmbroker/vmm.sock, or under
				 * $XDG_RUNTIME_DIR when not root) */
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
 * with the reason in err (when not NULL) and *out NULL: -EINVAL for a bad
 * cfg or ops, -EPERM when the daemon refused the connection (no tenant
 * matches this process), -EACCES, -ENOENT or -ECONNREFUSED when the
 * socket cannot be reached (see shmc_connect in libshmclient(3)). ops
 * and its three mandatory callbacks must be set; ops is copied. No
 * callback is called.
 */
int shmvdev_open(const struct shmvdev_config *cfg,
    const struct shmvdev_ops *ops, void *vmm, struct shmvdev **out,
    char *err, size_t errlen);

/*
 * Closes the daemon connection (the daemon then detaches every client of
 * this VM and tells the peers) and frees d. Calls no callback but
 * unbind_irqfd for each bound eventfd (so the VM fd must still be open):
 * the VMM may already have torn its guest memory down, and unmaps it
 * itself. NULL is ignored.
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
 * bytes little-endian (kvm_run.mmio.data through shmvdev_load_le).
 * Returns whether gpa is the vdev's (what shmvdev_claims says), with
 * *value the value a read gives (0 for a write, and for a gpa that is
 * not the vdev's; shmvdev_store_le puts it back into kvm_run.mmio.data).
 * A write that creates, finds, notifies or detaches completes before
 * returning (map, bind_irqfd, unbind_irqfd and unmap included), so the
 * guest sees the outcome on its next read.
 */
bool shmvdev_access(struct shmvdev *d, uint64_t gpa, bool is_write,
    unsigned len, uint64_t data, uint64_t *value);

/* An fd that polls readable while daemon events (or, for eventfds that
 * are not bound as irqfds, notifications) wait for shmvdev_dispatch. It
 * stays the same for d's lifetime, across daemon restarts. */
int shmvdev_event_fd(const struct shmvdev *d);

/*
 * Handles the waiting daemon events without blocking (unless a daemon
 * restart is being ridden out): ops->raise_irq once for each notification
 * to one of this VM's clients whose eventfd is not bound as an irqfd and
 * for each change in the membership of a region one of them is attached
 * to, including an admin revoking the client (with its region, or alone:
 * `shmctl detach`), whose eventfd it unbinds and whose region it unmaps
 * first (unbind_irqfd, ops->unmap), after which the control page reads
 * 0 and ignores writes as after the guest's own detach; after a daemon
 * restart, the irqfds of the new eventfds. Returns the number of events
 * handled, or -errno when reconnecting failed (-ECONNRESET, or the
 * connect's error such as -ECONNREFUSED). The VMM keeps polling and
 * calling: events come again once a call (the guest's next create or
 * detach, or this one) reconnects.
 */
int shmvdev_dispatch(struct shmvdev *d);

/*
 * The guest reset (a reboot, a triple fault the VMM turns into one):
 * detaches every client of this VM (unbind_irqfd and ops->unmap for
 * each, then the daemon tells the peers), forgets every control page and
 * puts the factory page back in its power-on state, so a guest that
 * reboots without detaching leaks nothing. Call it before the guest runs
 * again, with the vCPUs stopped. With no client left, no callback is
 * called until the guest's next create or find, so the VMM may make its
 * VM anew (a new VM fd) under the same struct shmvdev.
 */
void shmvdev_reset(struct shmvdev *d);

/* The message of the last failure ("" when none), for the VMM's operator:
 * the guest reads its own outcome from the factory page. */
const char *shmvdev_error(const struct shmvdev *d);

/* Where a client's pages are, for VMMs and tests: the control page gpa of
 * every attached client in *ctl (up to n), returns how many there are. */
size_t shmvdev_attached(const struct shmvdev *d, uint64_t *ctl, size_t n);

/*
 * The data of an MMIO access and the uint64_t of shmvdev_access: byte i
 * of an access is bits 8i..8i+7 (little-endian, whatever the host).
 * shmvdev_load_le reads len bytes (at most 8) into a value, for a write;
 * shmvdev_store_le writes the low len bytes of value, for a read's result.
 */
uint64_t shmvdev_load_le(const uint8_t *bytes, unsigned len);
void shmvdev_store_le(uint8_t *bytes, unsigned len, uint64_t value);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* SHMVDEV_H */
