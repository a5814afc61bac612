/* SPDX-License-Identifier: ISC */
/*
 * ivshmem_int: what ivshmem.c (exports: sockets, admission),
 * ivshmem_peer.c (one connected QEMU: its messages, doorbells and relays),
 * ivshmem_slots.c (an exported region's doorbells) and ivshmem_throttle.c
 * (the rate of doorbells the daemon wakes for) share. Nothing else
 * includes it.
 */
#ifndef SHMBROKER_IVSHMEM_INT_H
#define SHMBROKER_IVSHMEM_INT_H

#include <sys/queue.h>

#include "broker.h"
#include "fdname.h"
#include "ivshmem_proto.h"

struct ivsh_peer;

/* One socket that serves one region. */
struct ivsh_export {
	LIST_ENTRY(ivsh_export) entry;
	struct ivshmem *ivs;
	struct region *region;
	char path[IVSHMEM_PATH_MAX];
	unsigned vectors;
	bool configured;		/* from the configuration file */
	bool stored;			/* its socket is in the fd store */
	int fd;
	struct event *ev;
	LIST_HEAD(, ivsh_peer) peers;
};

/*
 * How often one doorbell source (a QEMU's relays, or a region's watched
 * slots) may wake the daemon: IVSH_RING_BURST rings per
 * IVSH_RING_WINDOW_MS, past which its events sleep until the window ends,
 * so that a guest ringing flat out cannot keep the daemon busy. Nothing
 * is lost: the rings wait in their eventfds, and what they mean (a pending
 * bit, an interrupt) coalesces anyway.
 */
#define IVSH_RING_WINDOW_MS 10
#define IVSH_RING_BURST 100

/* The event of a source at [index][vector], NULL where it has none live
 * (no relay made, a slot a QEMU holds). */
typedef struct event *ivsh_throttle_event_fn(void *owner, unsigned index,
    unsigned vector);

struct ivsh_throttle {
	uint64_t start_ms;
	unsigned rings;
	bool paused;			/* the source's events sleep */
	struct event *resume;		/* ends the pause */
	ivsh_throttle_event_fn *event;
	void *owner;
};

/*
 * The doorbells of one exported region's indices. Stock QEMU cannot take
 * a peer id again once told that peer left (its device frees the peer's
 * eventfd array and writes to it at the next connect), so a QEMU learns
 * each index once, and what it holds for it must stay right whoever holds
 * the index later. A QEMU at index i takes vector v on ring[i][v], the
 * same eventfd for every QEMU that ever holds i: a QEMU that learned i
 * while a QEMU held it rings that eventfd, in the kernel. While a member
 * that is not a QEMU holds i (or nobody), the daemon watches ring[i]
 * instead and passes rings on as a notification.
 */
struct ivsh_slot {
	struct ivsh_slots *s;
	uint8_t index, vector;
	int efd;			/* -1: not made yet */
	struct event *ev;		/* watched while no QEMU holds it */
	bool watched;
};

struct ivsh_slots {
	LIST_ENTRY(ivsh_slots) entry;
	struct ivshmem *ivs;
	struct region *region;
	struct ivsh_throttle throttle;
	struct ivsh_slot ring[REGION_MAX_CLIENTS][IVSHMEM_MAX_VECTORS];
};

/* An export's socket back from the fd store, served once the regions
 * exist. */
struct ivsh_pending {
	LIST_ENTRY(ivsh_pending) entry;
	int fd;
	char fdname[FDNAME_MAX];
	struct fdname_export fe;
};

struct ivshmem {
	struct broker *b;
	LIST_HEAD(, ivsh_pending) pending;
	LIST_HEAD(, ivsh_export) exports;
	LIST_HEAD(, ivsh_peer) orphans;	/* peers whose export is gone */
	LIST_HEAD(, ivsh_slots) slots;	/* one per exported region */
	struct event *ev_counts;	/* lets QEMUs' fds in flight go */
};

/* A doorbell from one QEMU at an index it learned while a member that is
 * not a QEMU held it: the QEMU rings efd, and the daemon passes it on to
 * whoever holds the index: the QEMU's bit in a member's pending word and
 * the member's eventfd, or a QEMU's ring[index][vector]. */
struct ivsh_relay {
	struct ivsh_peer *p;
	int efd;			/* -1: none */
	uint8_t target, vector;
	struct event *ev;
};

struct ivsh_msg {
	STAILQ_ENTRY(ivsh_msg) entry;
	uint8_t bytes[8];
	uint8_t sent;
	int fd;				/* owned (a dup), or -1 */
};

/*
 * Messages queued for one QEMU, at most. A QEMU is told of each index
 * once, so all it is ever sent is the version, its index, the memfd, its
 * own vectors and each peer's (IVSHMEM_MAX_VECTORS each) and, as it
 * leaves, one message per index: IVSH_MOST_SENT. A QEMU that does not
 * read holds at most that many (and an fd with most of them); the limit
 * is a safety net past it. A QEMU told to leave that has not read it
 * within IVSH_CLOSE_GRACE_MS is closed all the same.
 */
#define IVSH_MOST_SENT (3 + REGION_MAX_CLIENTS * IVSHMEM_MAX_VECTORS + \
	REGION_MAX_CLIENTS)
#define IVSH_MAX_QUEUED 512
_Static_assert(IVSH_MOST_SENT <= IVSH_MAX_QUEUED,
    "a QEMU that reads nothing must not be dropped for what it is owed");
#define IVSH_CLOSE_GRACE_MS 5000

struct ivsh_peer {
	LIST_ENTRY(ivsh_peer) entry;	/* its export's, or the orphans */
	struct ivsh_export *exp;	/* NULL once the export is gone */
	struct broker *b;
	uint64_t id;			/* a connection id */
	int fd;
	struct ucred cred;
	char label[64];
	/* Its tenant's usage, whose share of fds in flight it draws on
	 * and whose connections count it, from its join until it is freed
	 * (then its drain's, if it leaves one): usages live as long as the
	 * daemon, while a reload frees the tenants themselves. */
	struct tenant_usage *pool;
	struct event *ev_read;
	struct event *ev_write;
	struct event *ev_close;		/* closes it between events */
	struct ivsh_throttle throttle;	/* of its relays */
	struct client_list clients;	/* its client, while it has one */
	struct client *cl;
	unsigned vectors;
	struct ivsh_slots *slots;	/* its region's */
	struct ivsh_relay relay[REGION_MAX_CLIENTS][IVSHMEM_MAX_VECTORS];
	uint16_t told;			/* indices the QEMU has been given */
	uint16_t direct;		/* ... as ring[index] (else relays) */
	STAILQ_HEAD(, ivsh_msg) outq;
	unsigned queued;
	struct inflight_count inflight;	/* fds sent, maybe unread */
	unsigned setup_left;		/* of version, index, memfd: unsent */
	bool closing;			/* sends what is queued, then closes */
	bool dropped;			/* cannot be sent to: closes now */
};

/* ivshmem.c: a QEMU was sent an fd; its count is looked at soon. */
void ivshmem_counts_arm(struct ivshmem *ivs);

/* ivshmem_throttle.c */
/* t for the source whose live events event() gives; -ENOMEM. */
int ivsh_throttle_init(struct ivsh_throttle *t, struct event_base *base,
    ivsh_throttle_event_fn *event, void *owner);
void ivsh_throttle_fini(struct ivsh_throttle *t);
/* Counts one ring of t's source; past the burst, its events sleep until
 * the window ends (t->paused meanwhile: an event made live then is left
 * for the resume to add). */
void ivsh_throttle_ring(struct ivsh_throttle *t);

/* ivshmem_slots.c */
/* The slots of g, made on first use; NULL without memory. */
struct ivsh_slots *ivsh_slots_get(struct ivshmem *ivs, struct region *g);
/* Frees the slots of g, if any. */
void ivsh_slots_free(struct ivshmem *ivs, const struct region *g);
/* ring[index][0..n) made and handed to a QEMU that takes index: no longer
 * watched, emptied of rings meant for whoever held it before. 0 or
 * -errno. */
int ivsh_slots_take(struct ivsh_slots *s, unsigned index, unsigned n);
/* index was let go by a QEMU, or taken by a member that is not one: the
 * daemon watches its rings again. */
void ivsh_slots_release(struct ivsh_slots *s, unsigned index);
/* The eventfd of ring[index][vector], or -1. */
int ivsh_slots_fd(const struct ivsh_slots *s, unsigned index,
    unsigned vector);
/* Passes a ring on to whoever holds index now, as from the QEMUs in
 * from (a notification) or as ring[index][vector] (to a QEMU). */
void ivsh_slots_deliver(struct ivsh_slots *s, unsigned index,
    unsigned vector, uint16_t from);

/* ivshmem_peer.c */
/* A peer for a connection just accepted on e (fd is taken), for region
 * slots s, of the tenant whose usage is pool: one of its connections and
 * of the daemon's (b->nqemus) until freed. */
struct ivsh_peer *ivsh_peer_new(struct ivsh_export *e, int fd,
    const struct ucred *cred, struct ivsh_slots *s,
    struct tenant_usage *pool);
/* Whether cl is a QEMU's. */
bool ivsh_is_qemu(const struct client *cl);
/* Sends the QEMU everything a new member gets: the version, its index, the
 * region's memfd (region_fd, not taken), its peers and its own vectors. */
int ivsh_peer_welcome(struct ivsh_peer *p, int region_fd);
/* Tells the QEMU every peer left, lets its client go (peers are told),
 * and closes it once that is sent. */
void ivsh_peer_leave(struct ivsh_peer *p);
/* Closes and frees now, letting its client go. */
void ivsh_peer_free(struct ivsh_peer *p);
extern const struct member_ops ivsh_member_ops;

#endif
