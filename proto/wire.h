/* SPDX-License-Identifier: ISC */
/*
 * wire: the framing shared by shmbrokerd and its clients, and the entry
 * points of its codec (envelope.h). One protobuf
 * message per SOCK_SEQPACKET datagram, at most WIRE_MAX_MESSAGE bytes, with
 * up to WIRE_MAX_FDS file descriptors as SCM_RIGHTS ancillary data. A
 * datagram that was truncated, or whose fds were, is rejected whole and any
 * fds that did arrive are closed, so a peer can never leak descriptors into
 * us by sending garbage.
 */
#ifndef SHMBROKER_WIRE_H
#define SHMBROKER_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shmbroker.pb-c.h"

#define WIRE_PROTOCOL_VERSION 1
#define WIRE_MAX_MESSAGE 65536
/* An attach reply: the region memfd, the state page, the client's own
 * eventfd and one eventfd per other client (15 at most). */
#define WIRE_MAX_FDS 20
/* The most fds one message can carry at all (the kernel's SCM_MAX_FD). */
#define WIRE_SCM_MAX_FD 253

struct wire_fds {
	int fd[WIRE_MAX_FDS];
	size_t n;
};

/* Closes every fd in the set and empties it. */
void wire_fds_close(struct wire_fds *fds);

/*
 * Sends one datagram. Returns 0, or -errno: -EAGAIN when the socket is
 * non-blocking and full, -EMSGSIZE when len or nfds is over the limits.
 * Never raises SIGPIPE.
 */
int wire_send(int sock, const void *buf, size_t len, const int *fds,
    size_t nfds);
/* The same without the protocol's limits (any bytes, up to
 * WIRE_SCM_MAX_FD fds), with sendmsg flags (MSG_DONTWAIT): for the
 * daemon's own helpers. */
int wire_send_fds(int sock, const void *buf, size_t len, const int *fds,
    size_t nfds, int flags);

/*
 * Receives one datagram into buf (cap bytes). Returns its length, 0 when the
 * peer closed, or -errno: -EMSGSIZE for a datagram that did not fit,
 * -ETOOMANYREFS for more than WIRE_MAX_FDS fds, -EPROTO for unexpected
 * ancillary data, -ENOMSG for an empty datagram (no message packs to 0
 * bytes). fds are closed on every error.
 * Received fds carry FD_CLOEXEC.
 */
ssize_t wire_recv(int sock, void *buf, size_t cap, struct wire_fds *fds);
/* The same with recvmsg flags (MSG_DONTWAIT on a blocking socket), and
 * -EINTR when a signal cut a blocking receive short, so that a caller with
 * a deadline can look at it (retrying would restart SO_RCVTIMEO). */
ssize_t wire_recv_flags(int sock, void *buf, size_t cap, struct wire_fds *fds,
    int flags);
/* The same, but a datagram whose fds did not all fit under the
 * receiver's descriptor limit (MSG_CTRUNC) is returned with the fds that
 * came and *lost set, not refused: its bytes came whole, and a reply
 * lost whole would leave its call waiting and what it made behind. */
ssize_t wire_recv_keep(int sock, void *buf, size_t cap, struct wire_fds *fds,
    int flags, bool *lost);
/*
 * The same for a receiver that must decide how each fd is closed (the
 * daemon: reaper.h): every fd that came (up to WIRE_SCM_MAX_FD) is left in
 * fd[] with *nfd set, whatever the outcome, and none is closed here. A
 * datagram with more than WIRE_MAX_FDS is -ETOOMANYREFS as above.
 */
ssize_t wire_recv_every(int sock, void *buf, size_t cap, int *fd,
    size_t *nfd, int flags);

/* Packs and sends one envelope; -EMSGSIZE when it would not fit. */
int wire_send_server(int sock, const Shmbroker__ServerMessage *msg,
    const int *fds, size_t nfds);
int wire_send_client(int sock, const Shmbroker__ClientMessage *msg,
    const int *fds, size_t nfds);

/*
 * Packs a message, an envelope as a rule, into buf (WIRE_MAX_MESSAGE bytes).
 * Returns the length or -EMSGSIZE. The bytes are protobuf-c's; envelopes
 * take envelope.c's shorter way there.
 */
ssize_t wire_pack(const ProtobufCMessage *msg, uint8_t *buf);

/*
 * Unpacks an envelope: NULL for bytes that are not one (where protobuf-c's
 * unpack says NULL) or out of memory. Unknown fields are skipped, not kept.
 * Free with wire_free_*, which also frees what protobuf-c unpacked.
 */
Shmbroker__ClientMessage *wire_unpack_client(const uint8_t *buf, size_t len);
Shmbroker__ServerMessage *wire_unpack_server(const uint8_t *buf, size_t len);
void wire_free_client(Shmbroker__ClientMessage *m);
void wire_free_server(Shmbroker__ServerMessage *m);

/*
 * For a message that lives only while it is handled (a request in the
 * daemon, a reply in libshmclient): unpacked into a scratch, storage made
 * once for one envelope of either type and its strings, with no malloc
 * and free per message or string. The same message as wire_unpack_*'s,
 * but that it is the scratch's: let go of it once with wire_done_*, keep
 * it past that with wire_keep_server. While the scratch holds one, the next
 * is unpacked on the heap as wire_unpack_* does, and wire_done_* frees
 * that one, so no caller can overwrite a message it still reads.
 */
struct wire_scratch;
struct wire_scratch *wire_scratch_new(void);	/* NULL: out of memory */
void wire_scratch_free(struct wire_scratch *s);
Shmbroker__ClientMessage *wire_unpack_client_in(struct wire_scratch *s,
    const uint8_t *buf, size_t len);
Shmbroker__ServerMessage *wire_unpack_server_in(struct wire_scratch *s,
    const uint8_t *buf, size_t len);
void wire_done_client(struct wire_scratch *s, Shmbroker__ClientMessage *m);
void wire_done_server(struct wire_scratch *s, Shmbroker__ServerMessage *m);
/* m on the heap, for wire_free_server: itself unless it is the scratch's,
 * which is then copied (of any packed length) and let go. NULL when out
 * of memory (m let go all the same). */
Shmbroker__ServerMessage *wire_keep_server(struct wire_scratch *s,
    Shmbroker__ServerMessage *m);

/* Human name of an Error value, for messages. */
const char *wire_error_name(int error);
/* Human name of a GuestStatus value. */
const char *wire_status_name(int status);

#endif
