/* SPDX-License-Identifier: ISC */
/*
 * peers: real client processes for the broker tests. A peer is a forked
 * child that makes libshmclient calls on the test's command, sent over a
 * socketpair, and answers with what it got, so that every assertion
 * stays in the test process (a cmocka assertion in a forked child would
 * unwind into the child's copy of the test runner). A peer maps what it
 * attaches and fills or checks the bytes of peer_pattern, which the test
 * process can write and check in its own mappings too. Everything here
 * fails the running cmocka test rather than return an error, unless it
 * returns a guest status or an rc.
 */
#ifndef SHMBROKER_PEERS_H
#define SHMBROKER_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shmclient.h"

#define PEERS_MAX	8
#define PEER_SLOTS	8	/* attachments a peer holds at once */
#define PEER_EVENT_MS	5000	/* how long peer_expect_* wait */

enum peer_op {
	PEER_CONNECT,	/* text: socket path */
	PEER_ATTACH,	/* text: name, arg: size, create */
	PEER_FILL,	/* slot, arg: seed */
	PEER_VERIFY,	/* slot, arg: seed; value: mismatching bytes */
	PEER_NOTIFY,	/* slot, arg: mask; value: delivered */
	PEER_STATUS,	/* slot; value: status word */
	PEER_DETACH,	/* slot */
	PEER_EVENT,	/* arg: timeout ms; ev */
	PEER_SYNC,	/* value: events waiting after a round trip */
	PEER_CLOSE,
};

struct peer {
	pid_t pid;
	int ctl;
};

/* The peers of one test, killed by peers_kill. */
struct peers {
	struct peer p[PEERS_MAX];
	size_t n;
};

/* A new peer connected to the VMM socket at path. */
struct peer *peer_new(struct peers *ps, const char *path);
void peer_kill(struct peer *p);
void peers_kill(struct peers *ps);

/* Attach or find; returns the guest status. out and slot (may be NULL)
 * get the region, whose fd is the peer's, and the peer's slot for it. */
int peer_attach(struct peer *p, const char *name, uint32_t size, bool create,
    struct shmc_region *out, int *slot);
/* An op on an attached slot that must succeed; returns its value. */
uint32_t peer_slot_op(struct peer *p, enum peer_op op, int slot,
    uint32_t arg);
/* The same, returning the rc for calls that are expected to fail. */
int peer_slot_try(struct peer *p, enum peer_op op, int slot, uint32_t arg);
/* The oldest event at the peer, waiting up to timeout_ms; 0 or -errno. */
int peer_event(struct peer *p, int timeout_ms, struct shmc_event *ev);
/* Events waiting at the peer after a round trip to the daemon. */
uint32_t peer_sync(struct peer *p);
/* Closes the peer's connection (its clients go with it). */
void peer_close(struct peer *p);
/* Drops the events waiting at the peer. */
void peer_drain(struct peer *p);

/* The next event at the peer must be of kind, for client_id; in ev. */
void peer_expect_event(struct peer *p, enum shmc_event_kind kind,
    uint64_t client_id, struct shmc_event *ev);
/* The next event must say that the client at index attached (or
 * detached), leaving active. */
void peer_expect_changed(struct peer *p, bool attached, uint64_t client_id,
    uint32_t index, uint32_t active);
/* The next event must be a notification from index from, the pending
 * bits then being pending. */
void peer_expect_notification(struct peer *p, uint64_t client_id,
    uint32_t from, uint32_t pending);
/* No event may wait at the peer after a round trip. */
void peer_expect_quiet(struct peer *p);

/* The bytes peers fill and check, by seed. */
void peer_pattern_fill(uint8_t *p, size_t len, uint32_t seed);
/* How many of len bytes at p differ from seed's pattern. */
uint32_t peer_pattern_mismatches(const uint8_t *p, size_t len,
    uint32_t seed);

#endif
