/* SPDX-License-Identifier: ISC */
/*
 * fuzz_client's input format, shared with the seed generator. Two parts:
 * what the fake daemon sends, then what the VMM calls.
 *
 * The daemon's part: u8 flags (FC_FLAG_*), u8 the
 * number of connections it serves (modulo FC_MAX_CONNS, at least 1);
 * for each, u8 the number of datagrams (modulo FC_MAX_DGRAMS), each:
 *
 *   u8 kind (FC_DG_*), u8 id (0: an event; 0xff: a u64 follows; else that
 *   request id: libshmclient numbers a connection's requests 1, 2, ...),
 *   u8 fds (bits 0-4: how many, or bit 5: as many as an attach reply's
 *   fields promise; bits 6-7 and the count pick their kinds, FC_FD_*),
 *   then the kind's fields (fuzz_client.c, fc_dgram).
 *
 * All of a connection's datagrams are queued before the client reads
 * the first (then the daemon's side is shut for writing: the client
 * reads end-of-file after them, and reconnects if it does so). The
 * VMM's part: calls (FC_OP_*) until the input ends.
 */
#ifndef FUZZ_CLIENT_H
#define FUZZ_CLIENT_H

#define FC_MAX_CONNS 4
#define FC_MAX_DGRAMS 48
#define FC_MAX_FDS 24		/* past WIRE_MAX_FDS: the client refuses */
#define FC_TEXT_MAX 96
#define FC_RAW_MAX 1024
#define FC_ID_U64 0xff
#define FC_FDS_AS_PROMISED 0x20

/* The input's first byte. */
#define FC_FLAG_RECONNECT	0x01	/* shmc_set_reconnect */
#define FC_FLAG_EVENT_THREAD	0x02	/* shmc_set_event_thread */

enum fc_dgram_kind {
	FC_DG_HELLO, FC_DG_ATTACH, FC_DG_NOTIFY, FC_DG_STATUS, FC_DG_DETACH,
	FC_DG_ERROR, FC_DG_PEER, FC_DG_NOTIFICATION, FC_DG_REVOKED,
	FC_DG_ADMIN_EVENT, FC_DG_ADMIN_REPLY, FC_DG_RAW,
	FC_DG_COUNT
};

/* The kinds of fd the fake daemon passes: what the real one does (a
 * sealed region memfd, a sealed 4 KiB state page, eventfds), and what it
 * must not get away with. */
enum fc_fd {
	FC_FD_REGION, FC_FD_STATE, FC_FD_EVENTFD, FC_FD_EMPTY_MEMFD,
	FC_FD_UNSEALED_PAGE, FC_FD_DEVNULL, FC_FD_PIPE, FC_FD_SOCKET,
	FC_FD_COUNT
};

enum fc_op {
	FC_OP_ATTACH, FC_OP_CLAIM, FC_OP_NOTIFY, FC_OP_NOTIFY_DIRECT,
	FC_OP_STATUS, FC_OP_STATUS_DIRECT, FC_OP_DETACH, FC_OP_DISPATCH,
	FC_OP_EVENTFD, FC_OP_RELEASE, FC_OP_INFO, FC_OP_WATCH, FC_OP_CREATE,
	FC_OP_DESTROY,
	FC_OP_COUNT
};

#endif
