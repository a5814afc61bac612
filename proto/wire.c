/* SPDX-License-Identifier: ISC */
/*
 * wire: datagram framing with fd passing, shared by daemon and clients.
 * See wire.h for the contract.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "qvm/guest_shm.h"
#include "envelope.h"
#include "wire.h"

/* The schema's GuestStatus is a copy of the guest header's status codes,
 * which alone define them: the build fails when the two drift apart. */
#define WIRE_SAME_STATUS(s)						\
	_Static_assert((int)SHMBROKER__GUEST_STATUS__##s == (int)s,	\
	    #s " differs between shmbroker.proto and qvm/guest_shm.h")
WIRE_SAME_STATUS(GSS_OK);
WIRE_SAME_STATUS(GSS_UNKNOWN_FAILURE);
WIRE_SAME_STATUS(GSS_NOMEM);
WIRE_SAME_STATUS(GSS_CLIENT_MAX);
WIRE_SAME_STATUS(GSS_ILLEGAL_NAME);
WIRE_SAME_STATUS(GSS_NO_PERMISSION);
WIRE_SAME_STATUS(GSS_DOES_NOT_EXIST);

void
wire_fds_close(struct wire_fds *fds)
{
	for (size_t i = 0; i < fds->n; i++)
		if (fds->fd[i] >= 0)
			close(fds->fd[i]);
	fds->n = 0;
}

int
wire_send(int sock, const void *buf, size_t len, const int *fds, size_t nfds)
{
	if (len > WIRE_MAX_MESSAGE || nfds > WIRE_MAX_FDS)
		return -EMSGSIZE;
	return wire_send_fds(sock, buf, len, fds, nfds, 0);
}

int
wire_send_fds(int sock, const void *buf, size_t len, const int *fds,
    size_t nfds, int flags)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * WIRE_SCM_MAX_FD)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds > WIRE_SCM_MAX_FD)
		return -EMSGSIZE;
	if (nfds > 0) {
		struct cmsghdr *c;

		/* Only what is sent: the buffer has room for 253. */
		memset(&ctl, 0, CMSG_SPACE(sizeof(int) * nfds));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	for (;;) {
		if (sendmsg(sock, &mh, MSG_NOSIGNAL | flags) >= 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

/* Moves the SCM_RIGHTS fds of mh into fd[] (room for cap; the rest are
 * closed); -ETOOMANYREFS past max, -EPROTO for anything else. */
static int
wire_take_fds(struct msghdr *mh, int *fd, size_t cap, size_t max,
    size_t *nfd)
{
	size_t seen = 0;
	int err = 0;

	*nfd = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c != NULL;
	    c = CMSG_NXTHDR(mh, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			err = -EPROTO;
			continue;
		}
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++, seen++) {
			int one;

			memcpy(&one, CMSG_DATA(c) + i * sizeof(int),
			    sizeof(one));
			if (*nfd < cap)
				fd[(*nfd)++] = one;
			else
				close(one);
		}
	}
	if (err == 0 && seen > max)
		err = -ETOOMANYREFS;
	return err;
}

/* recvmsg returns 0 both for an empty datagram and at the end of the
 * stream; only the hang-up tells them apart. */
static bool
wire_peer_closed(int sock)
{
	struct pollfd p = { .fd = sock, .events = POLLRDHUP };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLRDHUP));
}

ssize_t
wire_recv(int sock, void *buf, size_t cap, struct wire_fds *fds)
{
	ssize_t n;

	do
		n = wire_recv_flags(sock, buf, cap, fds, 0);
	while (n == -EINTR);
	return n;
}

ssize_t
wire_recv_flags(int sock, void *buf, size_t cap, struct wire_fds *fds,
    int flags)
{
	bool lost;
	ssize_t n = wire_recv_keep(sock, buf, cap, fds, flags, &lost);

	if (n >= 0 && lost) {
		wire_fds_close(fds);
		return -ETOOMANYREFS;
	}
	return n;
}

/* One datagram into buf and fd[] (room for fdcap), fds left in fd[] on
 * every outcome; see wire_recv_keep and wire_recv_every. */
static ssize_t
wire_recv_into(int sock, void *buf, size_t cap, int *fd, size_t fdcap,
    size_t *nfd, int flags, bool *lost)
{
	/* Room for every fd one message can carry (the kernel's SCM_MAX_FD),
	 * so that none is dropped by the kernel inside recvmsg, in this
	 * process, where its last close could wait (reaper.h). */
	union {
		char buf[CMSG_SPACE(sizeof(int) * WIRE_SCM_MAX_FD)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
	ssize_t n;
	int err;

	*nfd = 0;
	*lost = false;
	n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_TRUNC | flags);
	if (n < 0)
		return -errno;
	err = wire_take_fds(&mh, fd, fdcap, WIRE_MAX_FDS, nfd);
	if (err == 0 && n == 0 && (*nfd > 0 || !wire_peer_closed(sock)))
		err = -ENOMSG;
	/* Cut short: more fds than the receiver's descriptor limit let in;
	 * the kernel closed the rest. */
	if (err == 0 && (mh.msg_flags & MSG_CTRUNC))
		*lost = true;
	if (err == 0 && (mh.msg_flags & MSG_TRUNC))
		err = -EMSGSIZE;
	if (err == 0 && (size_t)n > cap)
		err = -EMSGSIZE;
	return err != 0 ? err : n;
}

ssize_t
wire_recv_keep(int sock, void *buf, size_t cap, struct wire_fds *fds,
    int flags, bool *lost)
{
	ssize_t n = wire_recv_into(sock, buf, cap, fds->fd, WIRE_MAX_FDS,
	    &fds->n, flags, lost);

	if (n < 0)
		wire_fds_close(fds);
	return n;
}

ssize_t
wire_recv_every(int sock, void *buf, size_t cap, int *fd, size_t *nfd,
    int flags)
{
	bool lost;

	return wire_recv_into(sock, buf, cap, fd, WIRE_SCM_MAX_FD, nfd, flags,
	    &lost);
}

static bool
wire_is_envelope(const ProtobufCMessage *msg)
{
	return (msg->descriptor == &shmbroker__server_message__descriptor ||
	    msg->descriptor == &shmbroker__client_message__descriptor) &&
	    msg->n_unknown_fields == 0;
}

ssize_t
wire_pack(const ProtobufCMessage *msg, uint8_t *buf)
{
	size_t len;

	if (wire_is_envelope(msg))
		return envelope_pack(msg, buf);
	len = protobuf_c_message_get_packed_size(msg);

	if (len > WIRE_MAX_MESSAGE)
		return -EMSGSIZE;
	return (ssize_t)protobuf_c_message_pack(msg, buf);
}

Shmbroker__ClientMessage *
wire_unpack_client(const uint8_t *buf, size_t len)
{
	return (Shmbroker__ClientMessage *)envelope_unpack(
	    &shmbroker__client_message__descriptor, buf, len);
}

Shmbroker__ServerMessage *
wire_unpack_server(const uint8_t *buf, size_t len)
{
	return (Shmbroker__ServerMessage *)envelope_unpack(
	    &shmbroker__server_message__descriptor, buf, len);
}

void
wire_free_client(Shmbroker__ClientMessage *m)
{
	envelope_free(m != NULL ? &m->base : NULL);
}

void
wire_free_server(Shmbroker__ServerMessage *m)
{
	envelope_free(m != NULL ? &m->base : NULL);
}

/* The scratch is envelope.c's, made for both envelopes. */
struct wire_scratch *
wire_scratch_new(void)
{
	static const ProtobufCMessageDescriptor *const types[] = {
		&shmbroker__client_message__descriptor,
		&shmbroker__server_message__descriptor,
	};

	return (struct wire_scratch *)envelope_scratch_new(types, 2,
	    WIRE_MAX_MESSAGE);
}

void
wire_scratch_free(struct wire_scratch *s)
{
	envelope_scratch_free((struct envelope_scratch *)s);
}

Shmbroker__ClientMessage *
wire_unpack_client_in(struct wire_scratch *s, const uint8_t *buf, size_t len)
{
	return (Shmbroker__ClientMessage *)envelope_unpack_in(
	    (struct envelope_scratch *)s,
	    &shmbroker__client_message__descriptor, buf, len);
}

Shmbroker__ServerMessage *
wire_unpack_server_in(struct wire_scratch *s, const uint8_t *buf, size_t len)
{
	return (Shmbroker__ServerMessage *)envelope_unpack_in(
	    (struct envelope_scratch *)s,
	    &shmbroker__server_message__descriptor, buf, len);
}

void
wire_done_client(struct wire_scratch *s, Shmbroker__ClientMessage *m)
{
	envelope_scratch_done((struct envelope_scratch *)s,
	    m != NULL ? &m->base : NULL);
}

void
wire_done_server(struct wire_scratch *s, Shmbroker__ServerMessage *m)
{
	envelope_scratch_done((struct envelope_scratch *)s,
	    m != NULL ? &m->base : NULL);
}

Shmbroker__ServerMessage *
wire_keep_server(struct wire_scratch *s, Shmbroker__ServerMessage *m)
{
	return (Shmbroker__ServerMessage *)envelope_scratch_keep(
	    (struct envelope_scratch *)s, m != NULL ? &m->base : NULL);
}

static int
wire_send_message(int sock, const ProtobufCMessage *msg, const int *fds,
    size_t nfds)
{
	uint8_t buf[WIRE_MAX_MESSAGE];
	ssize_t len = wire_pack(msg, buf);

	if (len < 0)
		return (int)len;
	return wire_send(sock, buf, (size_t)len, fds, nfds);
}

int
wire_send_server(int sock, const Shmbroker__ServerMessage *msg,
    const int *fds, size_t nfds)
{
	return wire_send_message(sock, &msg->base, fds, nfds);
}

int
wire_send_client(int sock, const Shmbroker__ClientMessage *msg,
    const int *fds, size_t nfds)
{
	return wire_send_message(sock, &msg->base, fds, nfds);
}

const char *
wire_error_name(int error)
{
	static const char *const names[] = {
		"ok", "bad request", "not attached", "not permitted",
		"exists", "not found", "busy", "invalid argument",
		"no resources", "unsupported version",
	};

	if (error < 0 || (size_t)error >= sizeof(names) / sizeof(names[0]))
		return "unknown error";
	return names[error];
}

const char *
wire_status_name(int status)
{
	static const char *const names[] = {
		[GSS_OK] = "GSS_OK",
		[GSS_UNKNOWN_FAILURE] = "GSS_UNKNOWN_FAILURE",
		[GSS_NOMEM] = "GSS_NOMEM",
		[GSS_CLIENT_MAX] = "GSS_CLIENT_MAX",
		[GSS_ILLEGAL_NAME] = "GSS_ILLEGAL_NAME",
		[GSS_NO_PERMISSION] = "GSS_NO_PERMISSION",
		[GSS_DOES_NOT_EXIST] = "GSS_DOES_NOT_EXIST",
	};
	_Static_assert(sizeof(names) / sizeof(names[0]) ==
	    GSS_DOES_NOT_EXIST + 1, "a status of qvm/guest_shm.h has no name");

	if (status < 0 || (size_t)status >= sizeof(names) / sizeof(names[0]))
		return "GSS_?";
	return names[status];
}
