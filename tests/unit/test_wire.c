/* SPDX-License-Identifier: ISC */
/*
 * test_wire: the datagram framing on a real SOCK_SEQPACKET socketpair: fd
 * passing, the limits, and that no descriptor a peer sends can leak into
 * the receiver whatever the datagram looks like.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "wire.h"
#include "testcheck.h"

struct pair {
	int tx;
	int rx;
};

static int
setup(void **state)
{
	struct pair *p = malloc(sizeof(*p));
	int sv[2];

	if (p == NULL || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0, sv) < 0) {
		free(p);
		return -1;
	}
	p->tx = sv[0];
	p->rx = sv[1];
	*state = p;
	return 0;
}

static int
teardown(void **state)
{
	struct pair *p = *state;

	if (p->tx >= 0)
		close(p->tx);
	if (p->rx >= 0)
		close(p->rx);
	free(p);
	return 0;
}

static int
new_memfd(void)
{
	int fd = memfd_create("test_wire", MFD_CLOEXEC);

	assert_true(fd >= 0);
	return fd;
}

static void
close_all(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
}

/* Sends buf with n copies of fd as SCM_RIGHTS, bypassing wire_send. */
static void
raw_send(int sock, const void *buf, size_t len, int fd, size_t n)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 250)];
		struct cmsghdr align;
	} ctl;
	int fds[250];
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	assert_true(n <= 250);
	for (size_t i = 0; i < n; i++)
		fds[i] = fd;
	memset(&ctl, 0, sizeof(ctl));
	mh.msg_control = ctl.buf;
	mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * n);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	assert_int_equal(sendmsg(sock, &mh, 0), (ssize_t)len);
}

static void
assert_empty(int sock)
{
	char buf[16];
	struct wire_fds fds;

	assert_int_equal(wire_recv(sock, buf, sizeof(buf), &fds), -EAGAIN);
	assert_int_equal(fds.n, 0);
}

static void
test_round_trip_fds(void **state)
{
	struct pair *p = *state;
	int base = check_count_own_fds();

	for (size_t n = 0; n <= WIRE_MAX_FDS; n++) {
		int fds[WIRE_MAX_FDS];
		struct stat a, b;
		char msg[32], buf[64];
		struct wire_fds got;
		ssize_t len;

		for (size_t i = 0; i < n; i++)
			fds[i] = new_memfd();
		snprintf(msg, sizeof(msg), "message with %zu fds", n);
		assert_int_equal(wire_send(p->tx, msg, strlen(msg), fds, n), 0);
		len = wire_recv(p->rx, buf, sizeof(buf), &got);
		assert_int_equal(len, strlen(msg));
		assert_memory_equal(buf, msg, strlen(msg));
		assert_int_equal(got.n, n);
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(fstat(fds[i], &a), 0);
			assert_int_equal(fstat(got.fd[i], &b), 0);
			assert_int_equal(a.st_ino, b.st_ino);
			assert_int_equal(a.st_dev, b.st_dev);
			assert_int_not_equal(got.fd[i], fds[i]);
			assert_true(fcntl(got.fd[i], F_GETFD) & FD_CLOEXEC);
		}
		assert_int_equal(check_count_own_fds(), base + 2 * (int)n);
		wire_fds_close(&got);
		assert_int_equal(got.n, 0);
		close_all(fds, n);
		assert_int_equal(check_count_own_fds(), base);
	}
	assert_empty(p->rx);
}

static void
test_max_message(void **state)
{
	struct pair *p = *state;
	static uint8_t big[WIRE_MAX_MESSAGE + 1], in[WIRE_MAX_MESSAGE + 1];
	struct wire_fds got;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	assert_int_equal(wire_send(p->tx, big, WIRE_MAX_MESSAGE + 1, NULL, 0),
	    -EMSGSIZE);
	assert_empty(p->rx);
	assert_int_equal(wire_send(p->tx, big, WIRE_MAX_MESSAGE, NULL, 0), 0);
	assert_int_equal(wire_recv(p->rx, in, WIRE_MAX_MESSAGE, &got),
	    WIRE_MAX_MESSAGE);
	assert_memory_equal(in, big, WIRE_MAX_MESSAGE);
	assert_int_equal(got.n, 0);
}

static void
test_send_too_many_fds(void **state)
{
	struct pair *p = *state;
	int fds[WIRE_MAX_FDS + 1];

	for (size_t i = 0; i < WIRE_MAX_FDS + 1; i++)
		fds[i] = new_memfd();
	assert_int_equal(wire_send(p->tx, "x", 1, fds, WIRE_MAX_FDS + 1),
	    -EMSGSIZE);
	assert_empty(p->rx);
	/* The caller still owns them. */
	for (size_t i = 0; i < WIRE_MAX_FDS + 1; i++)
		assert_true(fcntl(fds[i], F_GETFD) >= 0);
	close_all(fds, WIRE_MAX_FDS + 1);
}

static void
test_truncated_datagram_closes_fds(void **state)
{
	struct pair *p = *state;
	int base = check_count_own_fds();
	int fds[2] = { new_memfd(), new_memfd() };
	char msg[200], buf[100];
	struct wire_fds got;

	memset(msg, 'm', sizeof(msg));
	assert_int_equal(wire_send(p->tx, msg, sizeof(msg), fds, 2), 0);
	close_all(fds, 2);
	assert_int_equal(check_count_own_fds(), base);
	assert_int_equal(wire_recv(p->rx, buf, sizeof(buf), &got), -EMSGSIZE);
	assert_int_equal(got.n, 0);
	assert_int_equal(check_count_own_fds(), base);
	/* The whole datagram is consumed, the next one is fine. */
	assert_int_equal(wire_send(p->tx, "ok", 2, NULL, 0), 0);
	assert_int_equal(wire_recv(p->rx, buf, sizeof(buf), &got), 2);
	assert_memory_equal(buf, "ok", 2);
	assert_empty(p->rx);
}

static void
test_too_many_fds_received(void **state)
{
	struct pair *p = *state;
	/* One over the limit, and more than wire_recv's control buffer. */
	static const size_t counts[] = { WIRE_MAX_FDS + 1, WIRE_MAX_FDS * 4,
	    WIRE_MAX_FDS * 4 + 1, 250 };
	int base = check_count_own_fds();

	for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
		int fd = new_memfd();
		char buf[64];
		struct wire_fds got;

		raw_send(p->tx, "fds", 3, fd, counts[k]);
		close(fd);
		assert_int_equal(check_count_own_fds(), base);
		/* Told apart from a datagram too large, for the counters. */
		assert_int_equal(wire_recv(p->rx, buf, sizeof(buf), &got),
		    -ETOOMANYREFS);
		assert_int_equal(got.n, 0);
		assert_int_equal(check_count_own_fds(), base);
	}
	assert_empty(p->rx);
}

/* Credentials are not fds: anything but SCM_RIGHTS is refused. */
static void
test_foreign_ancillary(void **state)
{
	struct pair *p = *state;
	int on = 1, base = check_count_own_fds();
	int fd = new_memfd();
	char buf[64];
	struct wire_fds got;

	assert_int_equal(setsockopt(p->rx, SOL_SOCKET, SO_PASSCRED, &on,
	    sizeof(on)), 0);
	assert_int_equal(wire_send(p->tx, "cred", 4, &fd, 1), 0);
	close(fd);
	assert_int_equal(wire_recv(p->rx, buf, sizeof(buf), &got), -EPROTO);
	assert_int_equal(got.n, 0);
	assert_int_equal(check_count_own_fds(), base);
}

/*
 * On SOCK_SEQPACKET a zero-length datagram reads as 0, like the peer's
 * close, yet it can carry fds. Whoever treats 0 as "closed" must not be
 * left holding them.
 */
static void
test_empty_datagram_with_fds(void **state)
{
	struct pair *p = *state;
	int base = check_count_own_fds();
	int fd = new_memfd();
	char buf[64];
	struct wire_fds got;
	ssize_t n;

	raw_send(p->tx, "", 0, fd, 2);
	close(fd);
	n = wire_recv(p->rx, buf, sizeof(buf), &got);
	assert_int_equal(n, -ENOMSG);
	assert_int_equal(got.n, 0);
	assert_int_equal(check_count_own_fds(), base);
}

/* An empty datagram is not the end of the stream: the peer is still there
 * and the next datagram reads normally. */
static void
test_empty_datagram_is_not_eof(void **state)
{
	struct pair *p = *state;
	char buf[64];
	struct wire_fds got;

	assert_int_equal(wire_send(p->tx, "", 0, NULL, 0), 0);
	assert_int_equal(wire_send(p->tx, "next", 4, NULL, 0), 0);
	assert_int_equal(wire_recv(p->rx, buf, sizeof(buf), &got), -ENOMSG);
	assert_int_equal(wire_recv(p->rx, buf, sizeof(buf), &got), 4);
	assert_memory_equal(buf, "next", 4);
}

static void
test_peer_close(void **state)
{
	struct pair *p = *state;
	char buf[64];
	struct wire_fds got;

	assert_empty(p->rx);
	assert_int_equal(wire_send(p->tx, "last", 4, NULL, 0), 0);
	close(p->tx);
	p->tx = -1;
	assert_int_equal(wire_recv(p->rx, buf, sizeof(buf), &got), 4);
	assert_int_equal(wire_recv(p->rx, buf, sizeof(buf), &got), 0);
	assert_int_equal(got.n, 0);
	assert_int_equal(wire_recv(p->rx, buf, sizeof(buf), &got), 0);
	/* And sending to a closed peer fails without SIGPIPE. */
	assert_int_equal(wire_send(p->rx, "x", 1, NULL, 0), -EPIPE);
}

static void
test_send_full(void **state)
{
	struct pair *p = *state;
	static uint8_t buf[4096];
	int rc, sent = 0;

	/* The socket is non-blocking: fill it until the kernel says so. */
	while ((rc = wire_send(p->tx, buf, sizeof(buf), NULL, 0)) == 0)
		assert_true(++sent < 100000);
	assert_int_equal(rc, -EAGAIN);
	assert_true(sent > 0);
}

static void
test_pack_server_message(void **state)
{
	struct pair *p = *state;
	Shmbroker__ServerMessage msg = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__AttachReply ar = SHMBROKER__ATTACH_REPLY__INIT;
	Shmbroker__ServerMessage *back;
	static uint8_t buf[WIRE_MAX_MESSAGE];
	struct wire_fds got;
	ssize_t len;
	char *huge;
	int fd = new_memfd();
	struct stat a, b;

	msg.id = 42;
	msg.body_case = SHMBROKER__SERVER_MESSAGE__BODY_ATTACH;
	msg.attach = &ar;
	ar.status = SHMBROKER__GUEST_STATUS__GSS_OK;
	ar.client_id = 7;
	ar.index = 3;
	ar.active_mask = 0x9;
	len = wire_pack(&msg.base, buf);
	assert_true(len > 0);
	assert_int_equal(len, protobuf_c_message_get_packed_size(&msg.base));
	back = shmbroker__server_message__unpack(NULL, (size_t)len, buf);
	assert_non_null(back);
	assert_int_equal(back->id, 42);
	assert_int_equal(back->body_case,
	    SHMBROKER__SERVER_MESSAGE__BODY_ATTACH);
	assert_int_equal(back->attach->client_id, 7);
	assert_int_equal(back->attach->index, 3);
	assert_int_equal(back->attach->active_mask, 0x9);
	shmbroker__server_message__free_unpacked(back, NULL);

	/* Through the socket, with the region fd. */
	assert_int_equal(wire_send_server(p->tx, &msg, &fd, 1), 0);
	len = wire_recv(p->rx, buf, sizeof(buf), &got);
	assert_true(len > 0);
	assert_int_equal(got.n, 1);
	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(fstat(got.fd[0], &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	wire_fds_close(&got);
	back = shmbroker__server_message__unpack(NULL, (size_t)len, buf);
	assert_non_null(back);
	assert_int_equal(back->attach->client_id, 7);
	shmbroker__server_message__free_unpacked(back, NULL);

	/* A reason string too long for one datagram. */
	huge = malloc(WIRE_MAX_MESSAGE + 1);
	assert_non_null(huge);
	memset(huge, 'e', WIRE_MAX_MESSAGE);
	huge[WIRE_MAX_MESSAGE] = '\0';
	msg.error = SHMBROKER__ERROR__ERR_INVALID;
	msg.message = huge;
	assert_int_equal(wire_pack(&msg.base, buf), -EMSGSIZE);
	assert_int_equal(wire_send_server(p->tx, &msg, &fd, 1), -EMSGSIZE);
	assert_empty(p->rx);
	/* Just under: the largest that fits packs and arrives whole. */
	huge[WIRE_MAX_MESSAGE - 64] = '\0';
	len = wire_pack(&msg.base, buf);
	assert_true(len > WIRE_MAX_MESSAGE - 64 && len <= WIRE_MAX_MESSAGE);
	free(huge);
	close(fd);
}

static void
test_send_client_message(void **state)
{
	struct pair *p = *state;
	Shmbroker__ClientMessage msg = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__Attach at = SHMBROKER__ATTACH__INIT;
	Shmbroker__ClientMessage *back;
	uint8_t buf[256];
	struct wire_fds got;
	ssize_t len;

	msg.id = 9;
	msg.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ATTACH;
	msg.attach = &at;
	at.name.data = (uint8_t *)"shm0";
	at.name.len = 5;
	at.size_pages = 16;
	at.create = 1;
	assert_int_equal(wire_send_client(p->tx, &msg, NULL, 0), 0);
	len = wire_recv(p->rx, buf, sizeof(buf), &got);
	assert_true(len > 0);
	assert_int_equal(got.n, 0);
	back = shmbroker__client_message__unpack(NULL, (size_t)len, buf);
	assert_non_null(back);
	assert_int_equal(back->id, 9);
	assert_int_equal(back->body_case,
	    SHMBROKER__CLIENT_MESSAGE__BODY_ATTACH);
	assert_int_equal(back->attach->name.len, 5);
	assert_memory_equal(back->attach->name.data, "shm0", 5);
	assert_int_equal(back->attach->size_pages, 16);
	assert_true(back->attach->create);
	shmbroker__client_message__free_unpacked(back, NULL);
}

static void
test_error_names(void **state)
{
	const ProtobufCEnumDescriptor *d = &shmbroker__error__descriptor;

	(void)state;
	assert_string_equal(wire_error_name(0), "ok");
	assert_string_equal(wire_error_name(SHMBROKER__ERROR__ERR_VERSION),
	    "unsupported version");
	assert_string_equal(wire_error_name(SHMBROKER__ERROR__ERR_BUSY),
	    "busy");
	/* Every value of the schema has a name of its own. */
	for (unsigned i = 0; i < d->n_values; i++) {
		const char *n = wire_error_name(d->values[i].value);

		assert_string_not_equal(n, "unknown error");
		for (unsigned j = 0; j < i; j++)
			assert_string_not_equal(n,
			    wire_error_name(d->values[j].value));
	}
	assert_string_equal(wire_error_name((int)d->n_values), "unknown error");
	assert_string_equal(wire_error_name(-1), "unknown error");
	assert_string_equal(wire_error_name(INT_MAX), "unknown error");
	assert_string_equal(wire_error_name(INT_MIN), "unknown error");
}

static void
test_status_names(void **state)
{
	const ProtobufCEnumDescriptor *d = &shmbroker__guest_status__descriptor;

	(void)state;
	/* The names are the schema's own. */
	for (unsigned i = 0; i < d->n_values; i++)
		assert_string_equal(wire_status_name(d->values[i].value),
		    d->values[i].name);
	assert_string_equal(wire_status_name(4), "GSS_ILLEGAL_NAME");
	assert_string_equal(wire_status_name(7), "GSS_?");
	assert_string_equal(wire_status_name(-1), "GSS_?");
	assert_string_equal(wire_status_name(INT_MAX), "GSS_?");
	assert_string_equal(wire_status_name(INT_MIN), "GSS_?");
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_round_trip_fds),
		T(test_max_message),
		T(test_send_too_many_fds),
		T(test_truncated_datagram_closes_fds),
		T(test_too_many_fds_received),
		T(test_foreign_ancillary),
		T(test_empty_datagram_with_fds),
		T(test_empty_datagram_is_not_eof),
		T(test_peer_close),
		T(test_send_full),
		T(test_pack_server_message),
		T(test_send_client_message),
		cmocka_unit_test(test_error_names),
		cmocka_unit_test(test_status_names),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
