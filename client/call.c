/* SPDX-License-Identifier: ISC */
/*
 * libshmclient's synchronous calls. A call sends one request and reads
 * datagrams until the reply with its id arrives; events read on the way are
 * queued (events.c), and a reply to a call that already timed out is
 * dropped. The socket blocks with SO_RCVTIMEO/SO_SNDTIMEO as the timeout,
 * so a call costs one send and one receive. A call that finds the daemon
 * gone may reconnect and try once more (reconnect.c).
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include "shmclient_int.h"

int64_t
shmc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Applies the call timeout to the blocking socket's sends and receives. */
int
shmc_apply_timeout(struct shmc *c)
{
	struct timeval tv = { c->timeout_ms / 1000,
	    (c->timeout_ms % 1000) * 1000 };

	if (setsockopt(c->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(c->sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return shmc_fail(c, -errno, "setsockopt: %s", strerror(errno));
	return 0;
}

void
shmc_set_timeout(struct shmc *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : SHMC_DEFAULT_TIMEOUT_MS;
	/* Between a failed reconnect and the next there is no socket; the
	 * next one gets the timeout when it is made. */
	if (c->sock >= 0)
		shmc_apply_timeout(c);
}

static int
shmc_timed_out(struct shmc *c)
{
	return shmc_fail(c, -ETIMEDOUT, "shmbrokerd did not answer in %d ms",
	    c->timeout_ms);
}

/* A daemon that refuses a connection says why and closes it; a send then
 * fails, but the reason may still be there to read. An event read on the
 * way is kept: a daemon that went away may have sent it before it did. */
static int
shmc_closed_why(struct shmc *c, int err)
{
	Shmbroker__ServerMessage *m;
	struct wire_fds fds;

	if (shmc_read_one(c, &m, &fds, MSG_DONTWAIT) > 0) {
		wire_fds_close(&fds);
		if (m->id == 0 && m->error != SHMBROKER__ERROR__ERR_NONE)
			return shmc_connection_error(c, m);
		if (m->id == 0)
			shmc_queue_event(c, m);
		else
			wire_done_server(c->scratch, m);
	}
	return shmc_fail(c, err, "sending to shmbrokerd: %s", strerror(-err));
}

static int
shmc_send(struct shmc *c, Shmbroker__ClientMessage *req)
{
	ssize_t len = wire_pack(&req->base, c->buf);
	int err;

	if (c->sock < 0)
		return shmc_fail(c, -ENOTCONN, "not connected to shmbrokerd");
	if (len < 0)
		return shmc_fail(c, -EMSGSIZE, "request too large");
	err = wire_send(c->sock, c->buf, (size_t)len, NULL, 0);
	if (err == -EAGAIN)
		return shmc_timed_out(c);
	if (err < 0)
		return shmc_closed_why(c, err);
	return 0;
}

/*
 * Reads one datagram (flags: MSG_DONTWAIT or 0 to wait up to the timeout).
 * Returns 1 with *out set (fds in fds), 0 when nothing came, -errno on
 * failure.
 */
int
shmc_read_one(struct shmc *c, Shmbroker__ServerMessage **out,
    struct wire_fds *fds, int flags)
{
	ssize_t n;

	bool lost;

	if (c->sock < 0)
		return shmc_fail(c, -ENOTCONN, "not connected to shmbrokerd");
	n = wire_recv_keep(c->sock, c->buf, sizeof(c->buf), fds, flags, &lost);
	/* A daemon that closes with our request unread resets the socket, and
	 * the reset is reported before what it sent last (its reason). */
	if (n == -ECONNRESET) {
		n = wire_recv_keep(c->sock, c->buf, sizeof(c->buf), fds,
		    MSG_DONTWAIT, &lost);
		if (n == -EAGAIN || n == 0)
			n = -ECONNRESET;
	}
	/* nothing, nothing to read, or a signal: the caller's deadline */
	if (n == -EAGAIN || n == -ENOMSG || n == -EINTR)
		return 0;
	/* One datagram refused whole, the connection fine. Said, and read
	 * on: ending the connection (or the caller's event loop) for it
	 * would lose every event after it, revocations too. */
	if (n == -ETOOMANYREFS || n == -EMSGSIZE || n == -EPROTO) {
		shmc_fail(c, (int)n, "a message from shmbrokerd was dropped: "
		    "%s (%s)", n == -ETOOMANYREFS ? "more fds than a message "
		    "has" : n == -EMSGSIZE ? "too long" : "ancillary data "
		    "other than fds", strerror((int)-n));
		return 0;
	}
	if (n == 0)
		return shmc_fail(c, -ECONNRESET, "shmbrokerd closed the "
		    "connection");
	if (n < 0)
		return shmc_fail(c, (int)n, "receiving from shmbrokerd: %s",
		    strerror((int)-n));
	/* Its bytes came whole and are handled: a reply ends its call at
	 * once (an attach without its fds fails, and its client is
	 * detached), an event goes without its fd. */
	c->fds_lost = lost;
	if (lost)
		shmc_fail(c, -EMFILE, "the fds of a message from shmbrokerd did "
		    "not all fit under this process's descriptor limit (raise "
		    "RLIMIT_NOFILE)");
	*out = wire_unpack_server_in(c->scratch, c->buf, (size_t)n);
	if (*out == NULL) {
		wire_fds_close(fds);
		return shmc_fail(c, -EPROTO, "malformed message from "
		    "shmbrokerd");
	}
	if ((*out)->id == 0)
		shmc_translate_event(c, *out, fds);
	return 1;
}

/* The daemon's word on the connection itself (id 0 with an error, e.g. a
 * refused tenant): it ends the call with the daemon's message. */
int
shmc_connection_error(struct shmc *c, Shmbroker__ServerMessage *m)
{
	int err = m->error == SHMBROKER__ERROR__ERR_NOT_PERMITTED ? -EPERM :
	    -EPROTO;

	shmc_fail(c, err, "%s", m->message);
	wire_done_server(c->scratch, m);
	return err;
}

/* A reply to a call that already timed out. An attach that succeeded
 * after all made a client the caller never heard of: detach it, or it
 * would hold an index and a quota until the connection closes. */
void
shmc_drop_late_reply(struct shmc *c, Shmbroker__ServerMessage *m)
{
	if (m->body_case == SHMBROKER__SERVER_MESSAGE__BODY_ATTACH &&
	    m->attach->status == SHMBROKER__GUEST_STATUS__GSS_OK) {
		Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
		Shmbroker__Detach d = SHMBROKER__DETACH__INIT;

		d.client_id = m->attach->client_id;
		req.id = c->next_id++;
		req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_DETACH;
		req.detach = &d;
		shmc_send(c, &req);	/* its reply is dropped like this one */
	}
	wire_done_server(c->scratch, m);
}

/* SO_RCVTIMEO for what is left of the call; restored to the whole timeout
 * once a call that needed it ends. */
static void
shmc_wait_at_most(struct shmc *c, int64_t deadline)
{
	int64_t left = deadline - shmc_now_ms();
	struct timeval tv;

	if (left < 1)
		left = 1;
	tv.tv_sec = (time_t)(left / 1000);
	tv.tv_usec = (suseconds_t)(left % 1000 * 1000);
	setsockopt(c->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

void
shmc_set_event_thread(struct shmc *c, bool on)
{
	c->event_thread = on;
}

/*
 * Out of the event fd's set for a call with an event thread (POLLIN off;
 * epoll keeps EPOLLERR and EPOLLHUP): its reply would wake that thread
 * (on one CPU a VMM's create paid about 18 us for it). What comes before
 * the reply is queued, which signals evfd. What came after it: the
 * re-arm wakes no one when the socket is still on epoll's ready list from
 * an earlier event (a waiter that does not rescan, such as an
 * edge-triggered epoll the fd is nested in, leaves it there), so a ready
 * socket signals evfd, which always wakes, and the waiter's dispatch
 * reads it. Not read here: an event about the attachment this call makes
 * would find it not yet known, and its peer's eventfd would be lost.
 */
static void
shmc_watch_socket(struct shmc *c, bool on)
{
	struct epoll_event ev = { .events = on ? EPOLLIN : 0 };
	struct pollfd p = { .fd = c->sock, .events = POLLIN };

	if (!c->event_thread || c->sock < 0)
		return;
	epoll_ctl(c->epfd, EPOLL_CTL_MOD, c->sock, &ev);
	if (on && poll(&p, 1, 0) > 0)
		shmc_wake_events(c);
}

/* Sends req and returns its reply, queueing events read meanwhile. */
int
shmc_roundtrip(struct shmc *c, Shmbroker__ClientMessage *req,
    Shmbroker__ServerMessage **reply, struct wire_fds *fds)
{
	int64_t deadline = shmc_now_ms() + c->timeout_ms;
	Shmbroker__ServerMessage *m;
	bool shortened = false;
	int rc;

	req->id = c->next_id++;
	shmc_watch_socket(c, false);
	if ((rc = shmc_send(c, req)) < 0) {
		shmc_watch_socket(c, true);
		return rc;
	}
	for (;;) {
		rc = shmc_read_one(c, &m, fds, 0);
		if (rc > 0 && m->id == req->id) {
			*reply = m;
			break;
		}
		if (rc > 0) {
			wire_fds_close(fds);
			if (m->id != 0)
				shmc_drop_late_reply(c, m);
			else if (m->error != SHMBROKER__ERROR__ERR_NONE) {
				rc = shmc_connection_error(c, m);
				break;
			} else
				shmc_queue_event(c, m);
		}
		if (rc < 0)
			break;
		if (shmc_now_ms() >= deadline) {
			rc = shmc_timed_out(c);
			break;
		}
		/* Something else came: wait only for what is left. */
		shmc_wait_at_most(c, deadline);
		shortened = true;
	}
	if (shortened)
		shmc_apply_timeout(c);
	shmc_watch_socket(c, true);
	return rc < 0 ? rc : 0;
}

int
shmc_call_once(struct shmc *c, Shmbroker__ClientMessage *req,
    Shmbroker__ServerMessage **reply)
{
	struct wire_fds fds = { .n = 0 };
	int rc = shmc_roundtrip(c, req, reply, &fds);

	wire_fds_close(&fds);
	if (rc == 0 && (*reply)->error != SHMBROKER__ERROR__ERR_NONE)
		shmc_fail(c, 0, "%s", (*reply)->message);
	return rc;
}

/* A call whose reply must have body case want and no error. */
int
shmc_call_expect(struct shmc *c, Shmbroker__ClientMessage *req, int want,
    Shmbroker__ServerMessage **reply)
{
	int rc = shmc_call_once(c, req, reply);

	if (rc < 0)
		return rc;
	if ((*reply)->error != SHMBROKER__ERROR__ERR_NONE) {
		rc = (*reply)->error == SHMBROKER__ERROR__ERR_NOT_ATTACHED ?
		    -ENOENT : (*reply)->error == SHMBROKER__ERROR__ERR_NOT_PERMITTED ?
		    -EPERM : -EPROTO;
	} else if ((int)(*reply)->body_case != want) {
		rc = shmc_fail(c, -EPROTO, "unexpected reply from shmbrokerd");
	}
	if (rc < 0) {
		wire_done_server(c->scratch, *reply);
		*reply = NULL;
	}
	return rc;
}

int
shmc_call(struct shmc *c, Shmbroker__ClientMessage *req,
    Shmbroker__ServerMessage **reply)
{
	int rc = shmc_call_once(c, req, reply);

	if (shmc_try_again(c, &rc))
		rc = shmc_call_once(c, req, reply);
	/* the caller's, freed with free_unpacked: off the scratch */
	if (rc == 0 && (*reply = wire_keep_server(c->scratch, *reply)) == NULL)
		rc = shmc_fail(c, -ENOMEM, "out of memory");
	return rc;
}

/* A call about one attachment: *idp (in req) gets the daemon's id for
 * user_id, again after a reconnect. */
int
shmc_client_call(struct shmc *c, Shmbroker__ClientMessage *req,
    uint64_t *idp, uint64_t user_id, int want,
    Shmbroker__ServerMessage **reply)
{
	int rc;

	for (int tries = 0;; tries++) {
		if ((rc = shmc_resolve(c, user_id, idp)) < 0)
			return rc;
		rc = shmc_call_expect(c, req, want, reply);
		if (tries > 0 || !shmc_try_again(c, &rc))
			return rc;
	}
}


/* Reads what the socket holds now into the event queue. */
void
shmc_pump(struct shmc *c)
{
	Shmbroker__ServerMessage *m = NULL;	/* set when shmc_read_one gives 1 */
	struct wire_fds fds;

	for (int i = 0; i < 256 &&
	    shmc_read_one(c, &m, &fds, MSG_DONTWAIT) > 0; i++) {
		wire_fds_close(&fds);
		if (m->id != 0)
			shmc_drop_late_reply(c, m);
		else if (m->error == SHMBROKER__ERROR__ERR_NONE)
			shmc_queue_event(c, m);
		else
			wire_done_server(c->scratch, m);
	}
}
