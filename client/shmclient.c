/*
 * libshmclient: connection, synchronous calls and event queue (see
 * shmclient.h). A call sends one request and reads datagrams until the
 * reply with its id arrives; events read on the way are queued and an
 * eventfd, watched together with the socket by one epoll fd, says so.
 * The socket blocks with SO_RCVTIMEO/SO_SNDTIMEO as the timeout, so a call
 * costs one send and one receive; shmc_dispatch reads with MSG_DONTWAIT.
 *
 * Every attachment is remembered until it is detached, so that after a
 * daemon restart (shmc_set_reconnect) the library can connect again and
 * re-claim them all. The new daemon hands out new client ids: the caller
 * keeps the ids it got first, and each call and event is translated
 * between the two here. The epoll and event fds outlive the socket, so the
 * caller's poll set stays valid across a reconnect.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "shmclient.h"
#include "shmclient_admin.h"
#include "wire.h"

struct queued_event {
	STAILQ_ENTRY(queued_event) entry;
	Shmbroker__ServerMessage *msg;
};

/* Between reconnect attempts; an activated daemon takes longer to come. */
#define SHMC_RECONNECT_RETRY_MS 50
/* Ids the library makes up when the daemon's id of a new attachment is one
 * the caller already holds for another; far above any daemon's ids. */
#define SHMC_LOCAL_ID_BASE (UINT64_C(1) << 63)

/* What it takes to attach again after a restart, and the ids on both sides
 * of the translation. */
struct attachment {
	uint64_t user_id;	/* what the caller got and keeps using */
	uint64_t cur_id;	/* the daemon's, on the current connection */
	uint8_t *name;		/* the name bytes as sent */
	size_t name_len;
	uint32_t size_pages;
	uint32_t index;		/* now; asked back after a restart */
	dev_t dev;		/* the memfd first handed out */
	ino_t ino;
	bool same_memory;	/* every re-claim found that memfd again */
	bool revoked;		/* an admin destroyed the region */
	int lost;		/* 0, or why a re-claim failed: a guest status,
				 * or -ENOENT when it had been revoked */
};

struct shmc {
	int sock;		/* -1 after a reconnect that failed */
	int epfd;		/* sock + evfd, handed out as the event fd */
	int evfd;		/* readable while queue is not empty */
	uint64_t next_id;
	int timeout_ms;
	STAILQ_HEAD(, queued_event) queue;
	char *path;		/* to connect to again */
	char *label;		/* NULL: the program's name */
	int reconnect_ms;	/* 0: never reconnect */
	unsigned reconnects;
	bool watching;		/* shmc_admin_watch, renewed at a reconnect */
	struct attachment *att;
	size_t natt, catt;
	uint64_t next_local_id;
	char err[256];
	uint8_t buf[WIRE_MAX_MESSAGE];
};

static int
shmc_fail(struct shmc *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
shmc_fail(struct shmc *c, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return err;
}

/* ---- attachments: what to re-claim, and the id translation ---- */

static struct attachment *
shmc_att_by_user(const struct shmc *c, uint64_t id)
{
	for (size_t i = 0; i < c->natt; i++)
		if (c->att[i].user_id == id)
			return &c->att[i];
	return NULL;
}

/* A lost attachment's cur_id is the old daemon's: it names nothing now. */
static struct attachment *
shmc_att_by_cur(const struct shmc *c, uint64_t id)
{
	for (size_t i = 0; i < c->natt; i++)
		if (c->att[i].cur_id == id && c->att[i].lost == 0)
			return &c->att[i];
	return NULL;
}

static void
shmc_att_forget(struct shmc *c, struct attachment *a)
{
	size_t i = (size_t)(a - c->att);

	free(a->name);
	memmove(&c->att[i], &c->att[i + 1], (c->natt - i - 1) * sizeof(*a));
	c->natt--;
}

/* Remembers a new attachment; r->client_id becomes the id the caller
 * keeps, which after a reconnect may not be the daemon's. */
static int
shmc_att_add(struct shmc *c, const void *name, size_t len,
    uint32_t size_pages, struct shmc_region *r)
{
	struct attachment *a;
	struct stat st;

	if (c->natt == c->catt) {
		size_t cap = c->catt ? 2 * c->catt : 8;

		if ((a = realloc(c->att, cap * sizeof(*a))) == NULL)
			return -ENOMEM;
		c->att = a;
		c->catt = cap;
	}
	a = &c->att[c->natt];
	memset(a, 0, sizeof(*a));
	if (fstat(r->fd, &st) < 0)
		return -errno;
	if ((a->name = malloc(len ? len : 1)) == NULL)
		return -ENOMEM;
	memcpy(a->name, name, len);
	a->name_len = len;
	a->size_pages = size_pages;
	a->index = r->index;
	a->dev = st.st_dev;
	a->ino = st.st_ino;
	a->same_memory = true;
	a->cur_id = r->client_id;
	a->user_id = r->client_id;
	if (shmc_att_by_user(c, a->user_id) != NULL) {
		if (c->next_local_id == 0)
			c->next_local_id = SHMC_LOCAL_ID_BASE;
		a->user_id = c->next_local_id++;
	}
	c->natt++;
	r->client_id = a->user_id;
	return 0;
}

/* The name for messages: printable, up to its NUL. */
static const char *
shmc_att_name(const struct attachment *a, char *buf, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < a->name_len && a->name[i] != '\0' &&
	    n + 1 < cap; i++)
		buf[n++] = a->name[i] >= 0x20 && a->name[i] < 0x7f ?
		    (char)a->name[i] : '?';
	buf[n] = '\0';
	return buf;
}

/* The daemon's id for the caller's; ids the library does not know (raw
 * calls) go as they are. -ENOENT for an attachment a restart lost. */
static int
shmc_resolve(struct shmc *c, uint64_t user_id, uint64_t *id)
{
	struct attachment *a = shmc_att_by_user(c, user_id);
	char name[64];

	*id = a != NULL ? a->cur_id : user_id;
	if (a == NULL || a->lost == 0)
		return 0;
	shmc_att_name(a, name, sizeof(name));
	if (a->lost < 0)
		return shmc_fail(c, -ENOENT, "client %llu of region %s: revoked "
		    "by an admin", (unsigned long long)user_id, name);
	return shmc_fail(c, -ENOENT, "client %llu of region %s: lost when "
	    "shmbrokerd restarted: attaching again gave %s",
	    (unsigned long long)user_id, name, wire_status_name(a->lost));
}

/* An event names the receiving client by the daemon's id: give it the
 * caller's. */
static void
shmc_translate_event(struct shmc *c, Shmbroker__ServerMessage *m)
{
	uint64_t *id = NULL;
	struct attachment *a;

	switch (m->body_case) {
	case SHMBROKER__SERVER_MESSAGE__BODY_PEER_CHANGED:
		id = &m->peer_changed->client_id;
		break;
	case SHMBROKER__SERVER_MESSAGE__BODY_NOTIFICATION:
		id = &m->notification->client_id;
		break;
	case SHMBROKER__SERVER_MESSAGE__BODY_CLIENT_REVOKED:
		id = &m->client_revoked->client_id;
		break;
	default:
		return;
	}
	if ((a = shmc_att_by_cur(c, *id)) == NULL)
		return;
	if (m->body_case == SHMBROKER__SERVER_MESSAGE__BODY_CLIENT_REVOKED)
		a->revoked = true;
	*id = a->user_id;
}

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

int
shmc_event_fd(const struct shmc *c)
{
	return c->epfd;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
	shmc_apply_timeout(c);
}

static int
shmc_timed_out(struct shmc *c)
{
	return shmc_fail(c, -ETIMEDOUT, "shmbrokerd did not answer in %d ms",
	    c->timeout_ms);
}

static int shmc_read_one(struct shmc *c, Shmbroker__ServerMessage **out,
    struct wire_fds *fds, int flags);
static int shmc_connection_error(struct shmc *c, Shmbroker__ServerMessage *m);
static void shmc_queue_event(struct shmc *c, Shmbroker__ServerMessage *m);

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

static void
shmc_queue_event(struct shmc *c, Shmbroker__ServerMessage *m)
{
	struct queued_event *q = malloc(sizeof(*q));
	uint64_t one = 1;

	if (q == NULL) {
		shmbroker__server_message__free_unpacked(m, NULL);
		return;
	}
	q->msg = m;
	STAILQ_INSERT_TAIL(&c->queue, q, entry);
	if (write(c->evfd, &one, sizeof(one)) < 0) {
		/* The counter cannot overflow at one per event. */
	}
}

/*
 * Reads one datagram (flags: MSG_DONTWAIT or 0 to wait up to the timeout).
 * Returns 1 with *out set (fds in fds), 0 when nothing came, -errno on
 * failure.
 */
static int
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
	if (n == -EAGAIN || n == -ENOMSG)	/* nothing, or nothing to read */
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
		shmc_translate_event(c, *out);
	return 1;
}

/* The daemon's word on the connection itself (id 0 with an error, e.g. a
 * refused tenant): it ends the call with the daemon's message. */
static int
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
static void
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
	int64_t left = deadline - now_ms();
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
	int64_t deadline = now_ms() + c->timeout_ms;
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
		if (now_ms() >= deadline) {
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

static int
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

/* The epoll fd the caller polls and the eventfd of the queue: made once,
 * they stay across reconnects. */
static int
shmc_open_events(struct shmc *c)
{
	struct epoll_event ev = { .events = EPOLLIN };

	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	c->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->epfd < 0 || c->evfd < 0 ||
	    epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->evfd, &ev) < 0)
		return shmc_fail(c, -errno, "epoll: %s", strerror(errno));
	return 0;
}

static int
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
static void
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

static int shmc_attach_once(struct shmc *c, const void *name, size_t len,
    uint32_t size_pages, bool create, uint32_t want_index,
    struct shmc_region *out);
static int shmc_admin_watch_once(struct shmc *c);

/* Attaches every remembered attachment again, asking for its old index.
 * One the new daemon refuses (the region did not survive) is lost; a
 * transport error fails the attempt. */
static int
shmc_reclaim(struct shmc *c)
{
	struct shmc_region r;
	struct stat st;
	int rc;

	for (size_t i = 0; i < c->natt; i++) {
		struct attachment *a = &c->att[i];

		if (a->lost != 0)
			continue;
		if (a->revoked) {
			a->lost = -ENOENT;
			continue;
		}
		rc = shmc_attach_once(c, a->name, a->name_len, a->size_pages,
		    false, a->index + 1, &r);
		if (rc < 0)
			return rc;
		if (rc != SHMC_GSS_OK) {
			a->lost = rc;
			continue;
		}
		/* The caller's mapping is of the first memfd: only the fd
		 * store gives the same one back. */
		a->same_memory = a->same_memory && fstat(r.fd, &st) == 0 &&
		    st.st_dev == a->dev && st.st_ino == a->ino;
		close(r.fd);
		a->cur_id = r.client_id;
		a->index = r.index;
	}
	return 0;
}

static void
shmc_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* A new connection to the same path, with the same label, the same
 * attachments and the same admin watch; retried until reconnect_ms. */
static int
shmc_reconnect(struct shmc *c)
{
	int64_t deadline = now_ms() + c->reconnect_ms;
	char why[sizeof(c->err)];
	int rc;

	shmc_drop_socket(c);
	for (;;) {
		rc = shmc_open_socket(c, c->path);
		if (rc == 0)
			rc = shmc_hello(c, c->label);
		if (rc == 0)
			rc = shmc_reclaim(c);
		if (rc == 0 && c->watching)
			rc = shmc_admin_watch_once(c);
		if (rc == 0)
			break;
		memcpy(why, c->err, sizeof(why));
		shmc_drop_socket(c);
		/* Refused for good, or out of time; anything else (no socket
		 * yet, nobody listening, a daemon still starting) passes. */
		if (rc == -EPERM || rc == -EACCES || rc == -ENAMETOOLONG ||
		    now_ms() + SHMC_RECONNECT_RETRY_MS > deadline)
			break;
		shmc_sleep_ms(SHMC_RECONNECT_RETRY_MS);
	}
	if (rc < 0)
		return shmc_fail(c, rc, "lost the connection to shmbrokerd and "
		    "could not make a new one in %d ms: %s", c->reconnect_ms,
		    why);
	c->reconnects++;
	return 0;
}

/* After a call that failed with *rc: true when the daemon had gone and a
 * reconnect made a new connection, so the call is worth a second try;
 * else *rc is the error to return. */
static bool
shmc_try_again(struct shmc *c, int *rc)
{
	if (c->reconnect_ms <= 0 || (*rc != -ECONNRESET && *rc != -EPIPE &&
	    *rc != -ENOTCONN && *rc != -ECONNREFUSED && *rc != -ECONNABORTED))
		return false;
	*rc = shmc_reconnect(c);
	return *rc == 0;
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

void
shmc_set_reconnect(struct shmc *c, int timeout_ms)
{
	c->reconnect_ms = timeout_ms > 0 ? timeout_ms : 0;
}

unsigned
shmc_reconnects(const struct shmc *c)
{
	return c->reconnects;
}

int
shmc_attachment_info(const struct shmc *c, uint64_t client_id,
    uint32_t *index, bool *same_memory)
{
	const struct attachment *a = shmc_att_by_user(c, client_id);

	if (a == NULL || a->lost != 0)
		return -ENOENT;
	if (index != NULL)
		*index = a->index;
	if (same_memory != NULL)
		*same_memory = a->same_memory;
	return 0;
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
	struct queued_event *q;

	if (c == NULL)
		return;
	while ((q = STAILQ_FIRST(&c->queue)) != NULL) {
		STAILQ_REMOVE_HEAD(&c->queue, entry);
		shmbroker__server_message__free_unpacked(q->msg, NULL);
		free(q);
	}
	if (c->sock >= 0)
		close(c->sock);
	if (c->epfd >= 0)
		close(c->epfd);
	if (c->evfd >= 0)
		close(c->evfd);
	for (size_t i = 0; i < c->natt; i++)
		free(c->att[i].name);
	free(c->att);
	free(c->path);
	free(c->label);
	free(c);
}

static int
shmc_attach_once(struct shmc *c, const void *name, size_t len,
    uint32_t size_pages, bool create, uint32_t want_index,
    struct shmc_region *out)
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
	} else if (fds.n != 1) {
		rc = shmc_fail(c, -EPROTO, "attach reply without the region fd");
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

int
shmc_attach_raw(struct shmc *c, const void *name, size_t len,
    uint32_t size_pages, bool create, struct shmc_region *out)
{
	int rc = shmc_attach_once(c, name, len, size_pages, create, 0, out);
	int err;

	if (shmc_try_again(c, &rc))
		rc = shmc_attach_once(c, name, len, size_pages, create, 0, out);
	if (rc != SHMC_GSS_OK)
		return rc;
	if ((err = shmc_att_add(c, name, len, size_pages, out)) < 0) {
		shmc_detach_unknown(c, out->client_id);
		close(out->fd);
		return shmc_fail(c, err, "cannot remember the attachment: %s",
		    strerror(-err));
	}
	return rc;
}

int
shmc_attach(struct shmc *c, const char *name, uint32_t size_pages,
    bool create, struct shmc_region *out)
{
	return shmc_attach_raw(c, name, strlen(name) + 1, size_pages, create,
	    out);
}

int
shmc_notify(struct shmc *c, uint64_t client_id, uint32_t mask,
    uint32_t *delivered)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__Notify n = SHMBROKER__NOTIFY__INIT;
	Shmbroker__ServerMessage *m;
	int rc;

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
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__ReadStatus rs = SHMBROKER__READ_STATUS__INIT;
	Shmbroker__ServerMessage *m;
	int rc;

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
	struct attachment *a;
	int rc;

	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_DETACH;
	req.detach = &d;
	rc = shmc_client_call(c, &req, &d.client_id, client_id,
	    SHMBROKER__SERVER_MESSAGE__BODY_DETACH, &m);
	if (rc == 0)
		shmbroker__server_message__free_unpacked(m, NULL);
	/* Gone either way: nothing to re-claim any more. */
	if ((rc == 0 || rc == -ENOENT) &&
	    (a = shmc_att_by_user(c, client_id)) != NULL)
		shmc_att_forget(c, a);
	return rc;
}

static int
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

/* Fills ev from an event message; false for anything that is not one. */
static bool
shmc_decode_event(const Shmbroker__ServerMessage *m, struct shmc_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	switch (m->body_case) {
	case SHMBROKER__SERVER_MESSAGE__BODY_PEER_CHANGED:
		ev->kind = m->peer_changed->attached ?
		    SHMC_EVENT_PEER_ATTACHED : SHMC_EVENT_PEER_DETACHED;
		ev->client_id = m->peer_changed->client_id;
		ev->index = m->peer_changed->index;
		ev->active_mask = m->peer_changed->active_mask;
		return true;
	case SHMBROKER__SERVER_MESSAGE__BODY_NOTIFICATION:
		ev->kind = SHMC_EVENT_NOTIFICATION;
		ev->client_id = m->notification->client_id;
		ev->index = m->notification->from_index;
		ev->pending = m->notification->pending;
		return true;
	case SHMBROKER__SERVER_MESSAGE__BODY_CLIENT_REVOKED:
		ev->kind = SHMC_EVENT_REVOKED;
		ev->client_id = m->client_revoked->client_id;
		return true;
	case SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_EVENT:
		ev->kind = SHMC_EVENT_ADMIN;
		ev->admin_kind = m->admin_event->kind;
		ev->region = m->admin_event->region;
		ev->admin_index = m->admin_event->index;
		ev->active_mask = m->admin_event->active_mask;
		ev->connection_id = m->admin_event->connection_id;
		ev->time_ms = m->admin_event->time_ms;
		return true;
	default:
		return false;
	}
}

static void
shmc_deliver(Shmbroker__ServerMessage *m, shmc_event_cb cb, void *arg,
    int *count)
{
	struct shmc_event ev;

	if (shmc_decode_event(m, &ev)) {
		cb(&ev, arg);
		(*count)++;
	}
	shmbroker__server_message__free_unpacked(m, NULL);
}

int
shmc_dispatch(struct shmc *c, shmc_event_cb cb, void *arg)
{
	struct queued_event *q;
	Shmbroker__ServerMessage *m;
	struct wire_fds fds;
	uint64_t drained;
	int count = 0, rc = 0;
	bool reconnected = false;

	if (read(c->evfd, &drained, sizeof(drained)) < 0) {
		/* EAGAIN: nothing was queued. */
	}
	/* Everything goes through the queue, in order: a callback that makes
	 * a call queues what that call reads, ahead of what is still in the
	 * socket. */
	for (;;) {
		if ((q = STAILQ_FIRST(&c->queue)) != NULL) {
			STAILQ_REMOVE_HEAD(&c->queue, entry);
			m = q->msg;
			free(q);
			shmc_deliver(m, cb, arg, &count);
			continue;
		}
		if ((rc = shmc_read_one(c, &m, &fds, MSG_DONTWAIT)) < 0 &&
		    !reconnected && shmc_try_again(c, &rc)) {
			reconnected = true;	/* the new connection's events */
			continue;
		}
		if (rc <= 0)
			break;
		wire_fds_close(&fds);
		if (m->id == 0 && m->error == SHMBROKER__ERROR__ERR_NONE)
			shmc_deliver(m, cb, arg, &count);
		else if (m->id != 0)
			shmc_drop_late_reply(c, m);
		else
			return shmc_connection_error(c, m);
	}
	return rc < 0 ? rc : count;
}
