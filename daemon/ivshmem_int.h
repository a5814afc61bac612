/* SPDX-License-Identifier: ISC */
/*
 * ivshmem_int: what ivshmem.c (exports: sockets, admission) and
 * ivshmem_peer.c (one connected QEMU: its messages, doorbells and relays)
 * share. Nothing outside those two files includes it.
 */
#ifndef SHMBROKER_IVSHMEM_INT_H
#define SHMBROKER_IVSHMEM_INT_H

#include <sys/queue.h>

#include "broker.h"
#include "ivshmem_proto.h"

struct ivsh_peer;

/* One socket that serves one region. */
struct ivsh_export {
	LIST_ENTRY(ivsh_export) entry;
	struct ivshmem *ivs;
	struct region *region;
	char path[108];
	unsigned vectors;
	bool configured;		/* from the configuration file */
	int fd;
	struct event *ev;
	LIST_HEAD(, ivsh_peer) peers;
};

struct ivshmem {
	struct broker *b;
	LIST_HEAD(, ivsh_export) exports;
	LIST_HEAD(, ivsh_peer) orphans;	/* peers whose export is gone */
};

/* A doorbell from this QEMU to a member that does not read ivshmem
 * eventfds (a QNX-interface guest or a libshmclient process): the QEMU
 * rings efd, and the daemon sets the QEMU's bit in the target's pending
 * word and signals the target's eventfd. */
struct ivsh_relay {
	struct ivsh_peer *p;
	int efd;			/* -1: none */
	uint8_t target;
	struct event *ev;
};

struct ivsh_msg {
	STAILQ_ENTRY(ivsh_msg) entry;
	uint8_t bytes[8];
	uint8_t sent;
	int fd;				/* owned (a dup), or -1 */
};

/* Messages queued for one QEMU, at most: a join sends 3 + 16 x 16, a
 * QEMU that lets this many pile up is not reading and is let go. */
#define IVSH_MAX_QUEUED 4096

struct ivsh_peer {
	LIST_ENTRY(ivsh_peer) entry;	/* its export's, or the orphans */
	struct ivsh_export *exp;	/* NULL once the export is gone */
	struct broker *b;
	uint64_t id;			/* a connection id */
	int fd;
	struct ucred cred;
	char label[64];
	struct tenant *tenant;
	struct event *ev_read;
	struct event *ev_write;
	struct event *ev_close;		/* closes it between events */
	struct client_list clients;	/* its client, while it has one */
	struct client *cl;
	unsigned vectors;
	int vec_efd[IVSHMEM_MAX_VECTORS];	/* [0] is cl->efd, not owned */
	struct ivsh_relay relay[REGION_MAX_CLIENTS];
	uint16_t told;			/* peers the QEMU has been given */
	STAILQ_HEAD(, ivsh_msg) outq;
	unsigned queued;
	bool closing;			/* sends what is queued, then closes */
	bool dropped;			/* cannot be sent to: closes now */
};

/* ivshmem_peer.c */
/* A peer for a connection just accepted on e (fd is taken). */
struct ivsh_peer *ivsh_peer_new(struct ivsh_export *e, int fd,
    const struct ucred *cred);
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
