/*
 * libshmclient: connection set-up and teardown, synchronous calls and the
 * calls of the API (see shmclient.h and shmclient_admin.h). A call sends
 * one request and reads datagrams until the reply with its id arrives;
 * events read on the way are queued (events.c), and a reply to a call that
 * already timed out is dropped. The socket blocks with
 * SO_RCVTIMEO/SO_SNDTIMEO as the timeout, so a call costs one send and one
 * receive. A call that finds the daemon gone may reconnect and try once
 * more (reconnect.c).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "qvm/guest_shm.h"
#include <unistd.h>

#include "shmclient_int.h"

/* shmclient.h repeats the guest header's status codes so that VMMs need
 * only one header; the build fails when the copy drifts. */
#define SHMC_SAME_STATUS(s)						\
	_Static_assert((int)SHMC_##s == (int)s,				\
	    "SHMC_" #s " differs from qvm/guest_shm.h")
SHMC_SAME_STATUS(GSS_OK);
SHMC_SAME_STATUS(GSS_UNKNOWN_FAILURE);
SHMC_SAME_STATUS(GSS_NOMEM);
SHMC_SAME_STATUS(GSS_CLIENT_MAX);
SHMC_SAME_STATUS(GSS_ILLEGAL_NAME);
SHMC_SAME_STATUS(GSS_NO_PERMISSION);
SHMC_SAME_STATUS(GSS_DOES_NOT_EXIST);

const char *
shmc_default_socket(bool admin, char *buf, size_t len)
{
	const char *env = getenv(admin ? "SHMBROKER_ADMIN_SOCKET" :
	    "SHMBROKER_SOCKET");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	const char *file = admin ? "admin.sock" : "vmm.sock";

	if (env != NULL && *env != '\0')
		snprintf(buf, len, "%s", env);
	else if (geteuid() != 0 && xdg != NULL && *xdg != '\0')
		snprintf(buf, len, "%s/shmbroker/%s", xdg, file);
	else
		snprintf(buf, len, "/run/shmbroker/%s", file);
	return buf;
}

const char *
shmc_error(const struct shmc *c)
{
	return c->err;
}

int64_t
shmc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
shmc_fail(struct shmc *c, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return err;
}

/* Applies the call timeout to the blocking socket's sends and receives. */
static int
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
			shmbroker__server_message__free_unpacked(m, NULL);
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

	if (c->sock < 0)
		return shmc_fail(c, -ENOTCONN, "not connected to shmbrokerd");
	n = wire_recv_flags(c->sock, c->buf, sizeof(c->buf), fds, flags);
	/* A daemon that closes with our request unread resets the socket, and
	 * the reset is reported before what it sent last (its reason). */
	if (n == -ECONNRESET) {
		n = wire_recv_flags(c->sock, c->buf, sizeof(c->buf), fds,
		    MSG_DONTWAIT);
		if (n == -EAGAIN || n == 0)
			n = -ECONNRESET;
	}
	/* nothing, nothing to read, or a signal: the caller's deadline */
	if (n == -EAGAIN || n == -ENOMSG || n == -EINTR)
		return 0;
	if (n == 0)
		return shmc_fail(c, -ECONNRESET, "shmbrokerd closed the "
		    "connection");
	if (n < 0)
		return shmc_fail(c, (int)n, "receiving from shmbrokerd: %s",
		    strerror((int)-n));
	*out = shmbroker__server_message__unpack(NULL, (size_t)n, c->buf);
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
	shmbroker__server_message__free_unpacked(m, NULL);
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
	shmbroker__server_message__free_unpacked(m, NULL);
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

/* Sends req and returns its reply, queueing events read meanwhile. */
static int
shmc_roundtrip(struct shmc *c, Shmbroker__ClientMessage *req,
    Shmbroker__ServerMessage **reply, struct wire_fds *fds)
{
	int64_t deadline = shmc_now_ms() + c->timeout_ms;
	Shmbroker__ServerMessage *m;
	bool shortened = false;
	int rc;

	req->id = c->next_id++;
	if ((rc = shmc_send(c, req)) < 0)
		return rc;
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
	return rc < 0 ? rc : 0;
}

static int
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
static int
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
		shmbroker__server_message__free_unpacked(*reply, NULL);
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
	return rc;
}

/* A call about one attachment: *idp (in req) gets the daemon's id for
 * user_id, again after a reconnect. */
static int
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

int
shmc_hello(struct shmc *c, const char *label)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__Hello h = SHMBROKER__HELLO__INIT;
	Shmbroker__ServerMessage *r;
	int rc;

	h.version = WIRE_PROTOCOL_VERSION;
	h.label = (char *)(label != NULL ? label : program_invocation_short_name);
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_HELLO;
	req.hello = &h;
	rc = shmc_call_expect(c, &req, SHMBROKER__SERVER_MESSAGE__BODY_HELLO,
	    &r);
	if (rc == 0)
		shmbroker__server_message__free_unpacked(r, NULL);
	return rc;
}

int
shmc_open_socket(struct shmc *c, const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN };

	if (strlen(path) >= sizeof(sun.sun_path))
		return shmc_fail(c, -ENAMETOOLONG, "%s: socket path too long",
		    path);
	strcpy(sun.sun_path, path);
	c->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->sock < 0)
		return shmc_fail(c, -errno, "socket: %s", strerror(errno));
	if (connect(c->sock, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		return shmc_fail(c, -errno, "cannot connect to %s: %s (is "
		    "shmbrokerd running?)", path, strerror(errno));
	if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->sock, &ev) < 0)
		return shmc_fail(c, -errno, "epoll: %s", strerror(errno));
	return shmc_apply_timeout(c);
}

/* Closes a socket that is done with; what the daemon sent on it before it
 * went (up to a bound: it may still be sending) is queued for the caller. */
void
shmc_drop_socket(struct shmc *c)
{
	Shmbroker__ServerMessage *m;
	struct wire_fds fds;

	if (c->sock < 0)
		return;
	for (int i = 0; i < 256 &&
	    shmc_read_one(c, &m, &fds, MSG_DONTWAIT) > 0; i++) {
		wire_fds_close(&fds);
		if (m->id == 0 && m->error == SHMBROKER__ERROR__ERR_NONE)
			shmc_queue_event(c, m);
		else
			shmbroker__server_message__free_unpacked(m, NULL);
	}
	epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->sock, NULL);
	close(c->sock);
	c->sock = -1;
}

int
shmc_connect(const char *path, const char *label, int timeout_ms,
    struct shmc **out, char *errbuf, size_t errlen)
{
	char def[256];
	struct shmc *c = calloc(1, sizeof(*c));
	int rc;

	*out = NULL;
	if (c == NULL)
		return -ENOMEM;
	c->sock = c->epfd = c->evfd = -1;
	c->next_id = 1;
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : SHMC_DEFAULT_TIMEOUT_MS;
	STAILQ_INIT(&c->queue);
	if (path == NULL)
		path = shmc_default_socket(false, def, sizeof(def));
	if ((c->path = strdup(path)) == NULL ||
	    (label != NULL && (c->label = strdup(label)) == NULL))
		rc = shmc_fail(c, -ENOMEM, "out of memory");
	else
		rc = shmc_open_events(c);
	if (rc == 0)
		rc = shmc_open_socket(c, path);
	if (rc == 0)
		rc = shmc_hello(c, label);
	if (rc < 0) {
		if (errbuf != NULL)
			snprintf(errbuf, errlen, "%s", c->err);
		shmc_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

void
shmc_close(struct shmc *c)
{
	if (c == NULL)
		return;
	shmc_queue_free(c);
	shmc_att_free_all(c);
	if (c->sock >= 0)
		close(c->sock);
	if (c->epfd >= 0)
		close(c->epfd);
	if (c->evfd >= 0)
		close(c->evfd);
	free(c->path);
	free(c->label);
	free(c);
}

int
shmc_attach_once(struct shmc *c, const void *name, size_t len,
    uint32_t size_pages, bool create, uint32_t want_index,
    struct shmc_region *out, struct att_fds *af)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__Attach a = SHMBROKER__ATTACH__INIT;
	Shmbroker__ServerMessage *m;
	Shmbroker__AttachReply *r;
	struct wire_fds fds = { .n = 0 };
	int rc;

	a.name.data = (uint8_t *)name;
	a.name.len = len;
	a.size_pages = size_pages;
	a.create = create;
	a.want_index = want_index;
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ATTACH;
	req.attach = &a;
	if ((rc = shmc_roundtrip(c, &req, &m, &fds)) < 0)
		return rc;
	r = m->attach;
	if (m->error != SHMBROKER__ERROR__ERR_NONE ||
	    m->body_case != SHMBROKER__SERVER_MESSAGE__BODY_ATTACH) {
		rc = shmc_fail(c, -EPROTO, "%s", m->message[0] ? m->message :
		    "unexpected reply from shmbrokerd");
	} else if (r->status != SHMBROKER__GUEST_STATUS__GSS_OK) {
		rc = (int)r->status;
		shmc_fail(c, 0, "%s: %s", wire_status_name(rc), m->message);
	} else if (fds.n < 1 ||
	    shmc_af_take(af, &fds, r->index, r->active_mask) < 0) {
		rc = shmc_fail(c, -EPROTO, "attach reply without the region fd, "
		    "the state page and the eventfds (%zu fds)", fds.n);
	} else {
		out->client_id = r->client_id;
		out->region_id = r->region_id;
		out->fd = fds.fd[0];
		fds.n = 0;	/* the caller's now */
		out->index = r->index;
		out->size_pages = r->size_pages;
		out->backing_bytes = r->backing_bytes;
		out->hugetlb = r->backing == SHMBROKER__BACKING__BACKING_HUGETLB;
		out->created = r->created;
		out->active_mask = r->active_mask;
		rc = SHMC_GSS_OK;
	}
	wire_fds_close(&fds);
	shmbroker__server_message__free_unpacked(m, NULL);
	return rc;
}

/* Detaches a client the caller will never hear of (ours could not be
 * remembered). */
static void
shmc_detach_unknown(struct shmc *c, uint64_t id)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__Detach d = SHMBROKER__DETACH__INIT;
	Shmbroker__ServerMessage *m;

	d.client_id = id;
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_DETACH;
	req.detach = &d;
	if (shmc_call_once(c, &req, &m) == 0)
		shmbroker__server_message__free_unpacked(m, NULL);
}

static int
shmc_attach_common(struct shmc *c, bool claim, const void *name, size_t len,
    uint32_t size_pages, bool create, struct shmc_region *out)
{
	struct att_fds af;
	int rc, err;

	shmc_af_init(&af);
	rc = shmc_attach_once(c, name, len, size_pages, create, 0, out, &af);
	if (shmc_try_again(c, &rc))
		rc = shmc_attach_once(c, name, len, size_pages, create, 0, out,
		    &af);
	if (rc != SHMC_GSS_OK)
		return rc;
	if ((err = shmc_att_add(c, claim, name, len, size_pages, out,
	    &af)) < 0) {
		shmc_detach_unknown(c, out->client_id);
		close(out->fd);
		return shmc_fail(c, err, "cannot remember the attachment: %s",
		    strerror(-err));
	}
	return rc;
}

int
shmc_attach_raw(struct shmc *c, const void *name, size_t len,
    uint32_t size_pages, bool create, struct shmc_region *out)
{
	return shmc_attach_common(c, false, name, len, size_pages, create,
	    out);
}

int
shmc_attach_claim(struct shmc *c, const void *name, size_t len,
    uint32_t size_pages, bool create, struct shmc_region *out, int *eventfd)
{
	int rc = shmc_attach_common(c, true, name, len, size_pages, create,
	    out);

	*eventfd = rc == SHMC_GSS_OK ?
	    shmc_attachment_eventfd(c, out->client_id) : -1;
	return rc;
}

int
shmc_attach(struct shmc *c, const char *name, uint32_t size_pages,
    bool create, struct shmc_region *out)
{
	return shmc_attach_raw(c, name, strlen(name) + 1, size_pages, create,
	    out);
}

/* Reads what the socket holds now into the event queue. */
void
shmc_pump(struct shmc *c)
{
	Shmbroker__ServerMessage *m;
	struct wire_fds fds;

	for (int i = 0; i < 256 &&
	    shmc_read_one(c, &m, &fds, MSG_DONTWAIT) > 0; i++) {
		wire_fds_close(&fds);
		if (m->id != 0)
			shmc_drop_late_reply(c, m);
		else if (m->error == SHMBROKER__ERROR__ERR_NONE)
			shmc_queue_event(c, m);
		else
			shmbroker__server_message__free_unpacked(m, NULL);
	}
}

/*
 * The attachment whose direct path works, else NULL: the request then
 * goes to the daemon (a raw client id, a revoked or lost one). The old
 * calls went to the daemon and so noticed it had gone (and reconnected):
 * a look at the socket, no daemon call, keeps that. *rc is the error when
 * the daemon is gone for good.
 */
static struct attachment *
shmc_direct(struct shmc *c, uint64_t client_id, int *rc)
{
	struct pollfd p = { .fd = c->sock, .events = POLLIN | POLLRDHUP };
	struct attachment *a;

	*rc = 0;
	/* Events that wait in the socket are read into the queue on the way,
	 * as a reply would have: the active mask is as the daemon last said. */
	if (c->sock >= 0 && poll(&p, 1, 0) > 0 && (p.revents & POLLIN) &&
	    !(p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
		shmc_pump(c);
	if (c->sock < 0 || (poll(&p, 1, 0) > 0 &&
	    (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))) {
		*rc = -ECONNRESET;
		if (!shmc_try_again(c, rc)) {
			if (*rc == -ECONNRESET)
				shmc_fail(c, *rc, "shmbrokerd closed the "
				    "connection");
			return NULL;
		}
	}
	a = shmc_att_by_user(c, client_id);
	return a != NULL && a->lost == 0 && !a->revoked &&
	    (a->sig.state != NULL || a->sig.state_fd >= 0) ? a : NULL;
}

int
shmc_notify(struct shmc *c, uint64_t client_id, uint32_t mask,
    uint32_t *delivered)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__Notify n = SHMBROKER__NOTIFY__INIT;
	Shmbroker__ServerMessage *m;
	struct attachment *a;
	int rc;

	if ((a = shmc_direct(c, client_id, &rc)) != NULL) {
		uint16_t t = shm_state_targets(a->sig.active, a->index, mask);

		if (delivered != NULL)
			*delivered = t;
		return shmc_notify_direct(c, client_id, mask);
	}
	if (rc < 0)
		return rc;
	n.mask = mask;
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_NOTIFY;
	req.notify = &n;
	rc = shmc_client_call(c, &req, &n.client_id, client_id,
	    SHMBROKER__SERVER_MESSAGE__BODY_NOTIFY, &m);
	if (rc < 0)
		return rc;
	if (delivered != NULL)
		*delivered = m->notify->delivered;
	shmbroker__server_message__free_unpacked(m, NULL);
	return 0;
}

int
shmc_read_status(struct shmc *c, uint64_t client_id, uint32_t *status)
{
	return shmc_read_status_keep(c, client_id, 0, status);
}

int
shmc_read_status_keep(struct shmc *c, uint64_t client_id, uint32_t keep_mask,
    uint32_t *status)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__ReadStatus rs = SHMBROKER__READ_STATUS__INIT;
	Shmbroker__ServerMessage *m;
	int rc;

	if (shmc_direct(c, client_id, &rc) != NULL)
		return shmc_status_direct(c, client_id, keep_mask, status);
	if (rc < 0)
		return rc;
	rs.keep_mask = keep_mask;
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_READ_STATUS;
	req.read_status = &rs;
	rc = shmc_client_call(c, &req, &rs.client_id, client_id,
	    SHMBROKER__SERVER_MESSAGE__BODY_READ_STATUS, &m);
	if (rc < 0)
		return rc;
	*status = m->read_status->status;
	shmbroker__server_message__free_unpacked(m, NULL);
	return 0;
}

int
shmc_detach(struct shmc *c, uint64_t client_id)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__Detach d = SHMBROKER__DETACH__INIT;
	Shmbroker__ServerMessage *m;
	int rc;

	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_DETACH;
	req.detach = &d;
	rc = shmc_client_call(c, &req, &d.client_id, client_id,
	    SHMBROKER__SERVER_MESSAGE__BODY_DETACH, &m);
	if (rc == 0)
		shmbroker__server_message__free_unpacked(m, NULL);
	/* Gone either way: nothing to re-claim any more. */
	if (rc == 0 || rc == -ENOENT)
		shmc_att_forget_id(c, client_id);
	return rc;
}

int
shmc_admin_watch_once(struct shmc *c)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminWatch w = SHMBROKER__ADMIN_WATCH__INIT;
	Shmbroker__ServerMessage *m;
	int rc;

	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_WATCH;
	req.admin_watch = &w;
	rc = shmc_call_expect(c, &req,
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_WATCH, &m);
	if (rc == 0)
		shmbroker__server_message__free_unpacked(m, NULL);
	return rc;
}

int
shmc_admin_watch(struct shmc *c)
{
	int rc = shmc_admin_watch_once(c);

	if (shmc_try_again(c, &rc))
		rc = shmc_admin_watch_once(c);
	if (rc == 0)
		c->watching = true;
	return rc;
}

int
shmc_admin_create(struct shmc *c, const char *name, uint32_t size_pages,
    Shmbroker__ServerMessage **reply)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminCreate a = SHMBROKER__ADMIN_CREATE__INIT;

	a.name = (char *)name;
	a.size_pages = size_pages;
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_CREATE;
	req.admin_create = &a;
	return shmc_call(c, &req, reply);
}

int
shmc_admin_destroy(struct shmc *c, const char *name, bool force,
    Shmbroker__ServerMessage **reply)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminDestroy d = SHMBROKER__ADMIN_DESTROY__INIT;

	d.name = (char *)name;
	d.force = force;
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_DESTROY;
	req.admin_destroy = &d;
	return shmc_call(c, &req, reply);
}
