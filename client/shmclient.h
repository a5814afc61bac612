/* SPDX-License-Identifier: ISC */
/*
 * libshmclient: the C API of shmbrokerd for VMMs and tools.
 *
 * One struct shmc is one connection to the daemon. Calls are synchronous
 * with a timeout and return 0 (or a guest status, for attach) on success and
 * a negative errno on failure; shmc_error() then holds the daemon's or the
 * library's message. The library never exits or prints.
 *
 * Events (peer attached/detached, notifications, revoked clients, admin
 * events) arrive asynchronously. Poll shmc_event_fd() for POLLIN and call
 * shmc_dispatch(): events that arrived during a synchronous call are kept
 * and make that fd readable too, so none is missed.
 *
 * Notifications do not pass through the daemon. Each attachment holds
 * its region's state page (the pending words, see shmstate.h), its own
 * eventfd and its peers' eventfds, which the daemon hands out at attach
 * and with every peer's attach. A notify sets the sender's bit in each
 * target's word and signals the target's eventfd; a status read takes the
 * reader's word; both are a few atomics and syscalls in the caller
 * (shmc_notify_direct, shmc_status_direct; shmc_notify and
 * shmc_read_status use them too). The own eventfd is watched by
 * shmc_event_fd, or handed to the caller with shmc_attachment_eventfd
 * (e.g. to bind it as a KVM irqfd).
 *
 * A struct shmc is not thread-safe; use one per thread.
 *
 * With shmc_set_reconnect, a call that finds the daemon gone (a restart)
 * connects again to the same socket, attaches every attachment of the
 * connection again (find, asking for the same index) and then does what
 * it was asked. Callers keep their client ids and mappings: under systemd
 * with the daemon's fd store the region is the same memory; without it a
 * region made anew is not (see shmc_attachment_info). An attachment whose
 * region did not come back is lost: calls on it return -ENOENT.
 */
#ifndef SHMCLIENT_H
#define SHMCLIENT_H

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

#define SHMC_DEFAULT_TIMEOUT_MS 5000

/* Guest ABI status codes, as returned by shmc_attach. */
enum shmc_status {
	SHMC_GSS_OK = 0,
	SHMC_GSS_UNKNOWN_FAILURE = 1,
	SHMC_GSS_NOMEM = 2,
	SHMC_GSS_CLIENT_MAX = 3,
	SHMC_GSS_ILLEGAL_NAME = 4,
	SHMC_GSS_NO_PERMISSION = 5,
	SHMC_GSS_DOES_NOT_EXIST = 6,
};

struct shmc;

/*
 * An attached client of a region. The fd is the caller's to map and close.
 * Fields are only ever added at the end, and the functions that fill the
 * struct get a new symbol version with them (libshmclient.map): programs
 * built against an older header keep the functions of their version.
 */
struct shmc_region {
	uint64_t client_id;
	uint64_t region_id;
	int fd;			/* sealed memfd of the region */
	uint32_t index;		/* this client's index, 0..15 */
	uint32_t size_pages;	/* the region's size in 4 KiB pages */
	uint64_t backing_bytes;	/* the memfd's size (>= size_pages * 4096) */
	bool hugetlb;
	bool created;		/* this attach created the region */
	uint32_t active_mask;	/* attached indices, this one included */
	/* Since LIBSHMCLIENT_1: the client may read the region, not write
	 * it (the region's mode, or an allow_ro rule of its tenant). fd is
	 * then an O_RDONLY file description: map it PROT_READ; the kernel
	 * refuses a writable shared mapping (EACCES). */
	bool read_only;
};

enum shmc_event_kind {
	SHMC_EVENT_PEER_ATTACHED,
	SHMC_EVENT_PEER_DETACHED,
	SHMC_EVENT_NOTIFICATION,
	SHMC_EVENT_REVOKED,	/* an admin destroyed the region, or detached
				 * this client alone (force_detached), or
				 * the region did not come back after a
				 * daemon restart (a reconnect lost it) */
	SHMC_EVENT_ADMIN,	/* admin connections after shmc_admin_watch */
	/* After a reconnect, the own eventfd of an attachment whose eventfd
	 * the caller took (shmc_attachment_eventfd) is a new one: unbind
	 * old_eventfd (closed when the callback returns), bind eventfd. */
	SHMC_EVENT_EVENTFD_CHANGED,
};

struct shmc_event {
	enum shmc_event_kind kind;
	uint64_t client_id;	/* the receiving client (not for ADMIN) */
	uint32_t index;		/* the peer; for NOTIFICATION the lowest
				 * pending index (a notifier) */
	uint32_t active_mask;	/* after the change (PEER_*) */
	uint32_t pending;	/* receiver's pending bits, still set: a
				 * status read takes them (NOTIFICATION) */
	/* SHMC_EVENT_ADMIN only: */
	const char *admin_kind;	/* create, attach, detach, notify, destroy */
	const char *region;
	int admin_index;	/* -1 when not about one client */
	uint64_t connection_id;
	uint64_t time_ms;
	/* SHMC_EVENT_EVENTFD_CHANGED only (else -1): */
	int eventfd;		/* the attachment's own eventfd now */
	int old_eventfd;	/* the one the caller had */
	/* SHMC_EVENT_REVOKED only: true when an admin detached this client
	 * alone (`shmctl detach`) and the region lives on for its peers, so
	 * the caller must stop using its mapping; false when the region was
	 * destroyed. (Added last: the library fills this struct, callers
	 * only read it.) */
	bool force_detached;
};

typedef void (*shmc_event_cb)(const struct shmc_event *ev, void *arg);

/* The socket paths clients use when given NULL: $SHMBROKER_SOCKET or
 * $SHMBROKER_ADMIN_SOCKET, else the daemon's defaults. Written into buf. */
const char *shmc_default_socket(bool admin, char *buf, size_t len);

/* The longest text shmc_error returns, or shmc_connect writes in errbuf
 * (with its NUL): the daemon's reasons name paths and regions whole, so
 * a buffer this size is never cut. */
#define SHMC_ERROR_MAX 12288

/*
 * Connects to the socket at path (NULL: the default VMM socket) and says
 * hello with label (free text shown by `shmctl clients`, may be NULL).
 * Returns 0 with *out set, or -errno (*out is then NULL; the message is
 * in errbuf when given). So that a caller can tell "not allowed" from
 * "not there":
 *   -EPERM   the daemon is there and refused this connection (the admin
 *            socket for a user who is not root, the daemon's user or in
 *            admin_group; a VMM connection no tenant matches); errbuf
 *            holds the daemon's own reason.
 *   -EACCES  the socket file or a directory above it keeps the caller out.
 *   -ENOENT, -ECONNREFUSED  no daemon listens at path.
 *   -ETIMEDOUT  no answer to the hello; -EPROTO  the daemon does not
 *            speak this library's protocol version, or garbled its reply.
 *   -EPIPE   the daemon closed the connection before the hello was sent
 *            (it accepted, then went or let the connection go).
 *   -ECONNRESET  the daemon closed the connection after the hello was
 *            sent, without an answer (it exited or was killed with the
 *            hello read, unread, or the connection not accepted yet).
 *            Neither leaves a reason: a daemon that refuses says why
 *            (-EPERM).
 */
int shmc_connect(const char *path, const char *label, int timeout_ms,
    struct shmc **out, char *errbuf, size_t errlen);
/* Closes c and all it holds. One that ever woke a peer directly waits
 * for an RCU grace period (tens of ms) as the kernel lets its AIO context
 * go (the waker that no peer can make block). */
void shmc_close(struct shmc *c);

/* The message of the last failure on c. */
const char *shmc_error(const struct shmc *c);

/*
 * Create-or-attach (create = true) or find (create = false) the region
 * called name, of size_pages 4 KiB pages when created. Returns a guest
 * status (>= 0; SHMC_GSS_OK fills *out) or -errno on a transport error;
 * -EPROTO for a reply no daemon means: no guest status, or a region (or
 * state page) whose memfd is shorter than it says or not sealed against
 * shrinking, which could make the caller's mapping fault later. On
 * SHMC_GSS_OK out->fd covers out->size_pages pages for good.
 */
int shmc_attach(struct shmc *c, const char *name, uint32_t size_pages,
    bool create, struct shmc_region *out);
/* The same with the raw bytes of a guest's name field, NUL included. */
int shmc_attach_raw(struct shmc *c, const void *name, size_t len,
    uint32_t size_pages, bool create, struct shmc_region *out);
/*
 * shmc_attach_raw for a VMM that binds the attachment's own eventfd (as a
 * KVM irqfd): on SHMC_GSS_OK *eventfd is that eventfd, handed over as by
 * shmc_attachment_eventfd, and the library never watches it (no epoll
 * registration to undo). -1 otherwise.
 */
int shmc_attach_claim(struct shmc *c, const void *name, size_t len,
    uint32_t size_pages, bool create, struct shmc_region *out, int *eventfd);

/* Notifies the indices in mask (0xffffffff: every other client; never the
 * sender). *delivered (may be NULL) gets the indices that were attached.
 * Direct (no daemon call) for an attachment of c, after a look at the
 * socket (a daemon that went away is reconnected to, as before); the
 * Notify request for any other client id. */
int shmc_notify(struct shmc *c, uint64_t client_id, uint32_t mask,
    uint32_t *delivered);
/* The control status word: pending bits 0-15 (cleared) | active << 16.
 * Direct like shmc_notify. */
int shmc_read_status(struct shmc *c, uint64_t client_id, uint32_t *status);
/* The same, leaving the pending bits in keep_mask set: a guest's read of
 * one byte of the status register returns and clears only that byte. */
int shmc_read_status_keep(struct shmc *c, uint64_t client_id,
    uint32_t keep_mask, uint32_t *status);

/*
 * The direct path, never a daemon call. Notify: for each attached peer t
 * in mask (0xffffffff: all; never self; absent indices ignored) sets this
 * client's bit in t's pending word, then signals t's eventfd. Returns 0,
 * or -ENOENT for a client id that is not an attachment of c (or was lost
 * or revoked).
 */
int shmc_notify_direct(struct shmc *c, uint64_t client_id, uint32_t mask);
/*
 * Status: takes the pending bits not in keep_mask (atomically) and returns
 * them with the active mask: pending | active << 16, where every notifier
 * still attached is in the mask (a bit from an index not heard of reads
 * the events in the socket first). A revoked client reads 0. Returns 0,
 * or -ENOENT like shmc_notify_direct.
 */
int shmc_status_direct(struct shmc *c, uint64_t client_id, uint32_t keep_mask,
    uint32_t *status);
/*
 * The attachment's own eventfd, signalled by each notification to it, for
 * the caller to bind (e.g. as a KVM irqfd). It stays libshmclient's (it is
 * closed at detach), but from now on the library no longer reads it:
 * shmc_dispatch reports no NOTIFICATION for it. After a reconnect the
 * attachment gets a new one: see SHMC_EVENT_EVENTFD_CHANGED. Until that
 * event is dispatched this still returns the one the caller took (the
 * event names both, and closes that one after its callback). Returns the
 * fd or -ENOENT.
 */
int shmc_attachment_eventfd(struct shmc *c, uint64_t client_id);
/* Gives the eventfd back (the caller could not bind it, or unbound it):
 * shmc_event_fd watches it again. 0 or -ENOENT. */
int shmc_attachment_eventfd_release(struct shmc *c, uint64_t client_id);
/* Ends a client: 0, or -ENOENT for one that was revoked or lost (or was
 * never one), or -errno when the daemon did not answer. Whatever it
 * returns, the library has let the client go (its eventfd closed, no
 * re-claim after a reconnect): a daemon that answers late still reads
 * the request, one that went away drops the client with the connection. */
int shmc_detach(struct shmc *c, uint64_t client_id);

/* An fd that polls readable while events wait for shmc_dispatch, and
 * while a notification to an attachment (whose eventfd was not taken with
 * shmc_attachment_eventfd) waits. */
int shmc_event_fd(const struct shmc *c);
/* Calls cb for each waiting event without blocking: the daemon's events,
 * then one NOTIFICATION for each attachment whose eventfd was signalled
 * (it does not clear the pending bits). Returns the number dispatched,
 * or -errno (-ECONNRESET when the daemon went away). */
int shmc_dispatch(struct shmc *c, shmc_event_cb cb, void *arg);

/* Sets the timeout of later synchronous calls. */
void shmc_set_timeout(struct shmc *c, int timeout_ms);

/*
 * Says that another thread waits on shmc_event_fd() while calls are made
 * on c (a VMM's event thread beside its vCPU threads; true), or not
 * (false, the default). Each call then takes the socket out of the event
 * fd's set until its reply is read (two epoll_ctl calls and a poll), so
 * that the reply does not wake that thread, which would only find
 * nothing left or wait for the caller's lock. Events that come during a
 * call still make the event fd readable.
 */
void shmc_set_event_thread(struct shmc *c, bool on);

/*
 * Enables reconnecting after the daemon went away (0, the default, turns
 * it off): a call that finds the connection closed tries to connect again
 * every 50 ms for up to timeout_ms, re-attaches every attachment not
 * detached, and is then tried once more. The event fd stays the same. The
 * call that finds it gone may block for that long; once such a wait was
 * in vain, each later call tries to connect once, without waiting, until
 * one gets through. shmc_dispatch never waits: it tries once (each of
 * that attempt's calls within 200 ms), and until timeout_ms has passed
 * since the daemon went, makes the event fd readable again 50 ms later for
 * the next try, returning the error meanwhile ("... trying again ...").
 */
void shmc_set_reconnect(struct shmc *c, int timeout_ms);
/* How many times c has reconnected. */
unsigned shmc_reconnects(const struct shmc *c);
/*
 * An attachment as it stands after reconnects: its index now (the old one
 * unless another client took it meanwhile), and whether its region is
 * still the memory first mapped (false when the region was made anew).
 * Either pointer may be NULL. Returns 0; -ECANCELED when an admin
 * revoked it (its SHMC_EVENT_REVOKED came, or waits for shmc_dispatch,
 * before a reconnect or after); -ENOENT when client_id is not an
 * attachment of c or its region did not come back at a reconnect.
 */
int shmc_attachment_info(const struct shmc *c, uint64_t client_id,
    uint32_t *index, bool *same_memory);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif
