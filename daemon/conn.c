/* SPDX-License-Identifier: ISC */
/*
 * conn: the daemon's connections. Accepts on the VMM and admin sockets,
 * reads one datagram at a time into the broker's receive buffer and hands it
 * to rpc_dispatch, and sends replies and events: straight away when the
 * socket takes them, else from a bounded per-connection queue. Queued
 * events about the same client and kind are coalesced into the latest one
 * (their state is a mask the client can read at any time), so peers cannot
 * flood a slow reader. An fd (a peer's eventfd, with its attach) is never
 * dropped on its way, except when that peer's detach follows it in the
 * queue: the two cancel out into the detach. The fds a queue holds are
 * bounded per connection and in all, so that slow readers cannot take the
 * daemon's descriptors; and a connection stops being read while its queue
 * is long, so a client that does not read its replies cannot make the
 * daemon hold more of them (its requests in flight). A peer that still
 * lets its queue overflow is dropped, with a warning that names the
 * limit, rather than allowed to grow the daemon. An fd goes out only
 * within the budgets of fds in flight (conn_inflight.c); a message that
 * does not fit them waits in the queue. Connections are never
 * freed in the middle of a fan-out: conn_kill marks them dead and a
 * deferred event reaps them, which is also when the services above let go
 * of them (their clients detach).
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker.h"

/* A queue's message count is [broker] max_queued_messages. */
#define OUTQ_MAX_BYTES (4u << 20)
#define OUTQ_PAUSE_READS 64		/* stop reading requests past this */
#define EVENT_ROOM 64			/* for a coalesced event to grow */
#define OUTQ_MAX_FDS 256		/* a few attach replies' worth */
/* What one request can add to its own connection's queue at most: an
 * attach reply (WIRE_MAX_FDS) and a PeerChanged with an fd to each of
 * the connection's other clients of the region. Reading pauses while the
 * queue has less room than that, so that a client is never dropped for
 * the replies to its own requests, however many it pipelines. */
#define REQUEST_MAX_FDS (2 * WIRE_MAX_FDS)
#define REQUEST_MAX_BYTES (2 * WIRE_MAX_MESSAGE)

struct outmsg {
	STAILQ_ENTRY(outmsg) entry;
	uint64_t coalesce_key;		/* 0: none */
	int peer_index;			/* a PeerChanged's, or -1 */
	bool peer_attached;
	size_t cap;			/* room in data */
	size_t len;
	size_t nfds;
	int fds[WIRE_MAX_FDS];
	uint8_t data[];
};

static void conn_read_cb(evutil_socket_t fd, short what, void *arg);
static void conn_update_reading(struct conn *c);
static void conn_write_cb(evutil_socket_t fd, short what, void *arg);

/* Frees a message taken off c's queue, with its fds. */
static void
conn_free_msg(struct conn *c, struct outmsg *m)
{
	for (size_t i = 0; i < m->nfds; i++)
		close(m->fds[i]);
	c->outq_fds -= m->nfds;
	c->b->outq_fds -= m->nfds;
	free(m);
}

static void
conn_free_queue(struct conn *c)
{
	struct outmsg *m;

	while ((m = STAILQ_FIRST(&c->outq)) != NULL) {
		STAILQ_REMOVE_HEAD(&c->outq, entry);
		conn_free_msg(c, m);
	}
	c->outq_count = 0;
	c->outq_bytes = 0;
}

static void
conn_free(struct conn *c)
{
	conn_free_queue(c);
	if (c->ev_read != NULL)
		event_free(c->ev_read);
	if (c->ev_write != NULL)
		event_free(c->ev_write);
	/* A peer that holds fds unread keeps the socket: conn_inflight.c. */
	if (!inflight_keep(c))
		reaper_close(c->b->reaper, c->fd);
	free(c);
}

/* The services let go of a dead connection (its clients detach), then it
 * is freed. */
static void
conn_reap(struct conn *c)
{
	struct broker *b = c->b;

	b->up->reaped(c);
	TAILQ_REMOVE(&b->dead, c, entry);
	log_debug(&b->log, "connection %llu closed",
	    (unsigned long long)c->id);
	/* Its place goes now, or to the drain made of it (conn_free). */
	if (c->keeps_place) {
		b->ndying--;
		policy_connection_gone(c);
	}
	conn_free(c);
}

static void
conn_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;
	struct conn *c;

	(void)fd;
	(void)what;
	/* Reaping detaches clients, whose peers may die in turn: loop. */
	while ((c = TAILQ_FIRST(&b->dead)) != NULL)
		conn_reap(c);
}

void
conn_kill(struct conn *c, const char *why)
{
	struct broker *b = c->b;

	if (c->dead)
		return;
	if (why != NULL)
		log_info(&b->log, "connection %llu (pid %d): %s",
		    (unsigned long long)c->id, (int)c->cred.pid, why);
	c->dead = true;
	/* One that may leave a drain (its peer holds fds unread) keeps its
	 * place until it is reaped, where the drain takes it over: else an
	 * accept in between, in the same turn of the loop, took it, and the
	 * drain then counted past max_connections, its tenant's or the
	 * daemon's. */
	if ((c->keeps_place = c->inflight_fds != 0))
		b->ndying++;
	else
		policy_connection_gone(c);
	inflight_unwait(c);
	b->up->killed(c);
	event_del(c->ev_read);
	if (c->ev_write != NULL)
		event_del(c->ev_write);
	TAILQ_REMOVE(&b->conns, c, entry);
	TAILQ_INSERT_TAIL(&b->dead, c, entry);
	b->nconns--;
	event_active(b->ev_reap, EV_TIMEOUT, 0);
}

/* Drops a peer that ran into a limit, saying which and what to do: a
 * warning, since the operator may have to raise it. */
static void __attribute__((format(printf, 2, 3)))
conn_drop(struct conn *c, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_warn(&c->b->log, "connection %llu (pid %d, uid %u): dropped: %s",
	    (unsigned long long)c->id, (int)c->cred.pid,
	    (unsigned)c->cred.uid, why);
	conn_kill(c, NULL);
}

void
conn_close_all(struct broker *b)
{
	struct conn *c;

	while ((c = TAILQ_FIRST(&b->conns)) != NULL)
		conn_kill(c, NULL);
	conn_reap_cb(-1, 0, b);
	inflight_close_all(b);
}

/* What coalescing needs to know of a message. */
struct msginfo {
	uint64_t key;
	int peer_index;
	bool peer_attached;
};

static void
conn_msginfo(const Shmbroker__ServerMessage *msg, uint64_t key,
    struct msginfo *mi)
{
	mi->key = key;
	mi->peer_index = -1;
	mi->peer_attached = false;
	if (msg->body_case == SHMBROKER__SERVER_MESSAGE__BODY_PEER_CHANGED) {
		mi->peer_index = (int)msg->peer_changed->index;
		mi->peer_attached = msg->peer_changed->attached;
	}
}

/* Room for nfds more fds in c's queue and in all queues together: true;
 * false when c was dropped for want of it. Room in all queues is made by
 * letting go the connection that holds the most, which may be c. */
static bool
conn_fd_room(struct conn *c, size_t nfds)
{
	struct broker *b = c->b;

	if (c->outq_fds + nfds > OUTQ_MAX_FDS) {
		b->stats.slow_connections_dropped++;
		conn_drop(c, "%zu fds wait unread in its replies and events, "
		    "the limit is %d per connection", c->outq_fds,
		    OUTQ_MAX_FDS);
		return false;
	}
	if (nfds > 0 && !conn_outq_room(b, nfds) && !c->dead) {
		b->stats.slow_connections_dropped++;
		conn_drop(c, "the unread replies and events of all "
		    "connections hold %zu fds, 1/%d of the daemon's limit "
		    "(raise LimitNOFILE)", b->outq_fds, OUTQ_FDS_SHARE);
	}
	return !c->dead;
}

/* May the queued event found give way to the new one? Not when that would
 * drop an fd, unless it is the eventfd of the very peer now detaching. */
static bool
conn_may_replace(const struct outmsg *found, const struct msginfo *mi,
    size_t nfds)
{
	if (found->nfds == 0)
		return true;
	return nfds == 0 && found->peer_attached && !mi->peer_attached &&
	    found->peer_index >= 0 && found->peer_index == mi->peer_index;
}

/* Replaces the queued event with the same key by the new one: 1; 0 when
 * there is none, it has no room, it may not give way, or a reply is
 * queued after it (an event must not overtake a reply sent before it);
 * -ENOBUFS when the fds it would add have no room and c was dropped. */
static int
conn_coalesce(struct conn *c, const struct msginfo *mi, const uint8_t *buf,
    size_t len, const int *fds, size_t nfds)
{
	struct outmsg *m, *found = NULL;
	int dup[WIRE_MAX_FDS];
	size_t i;

	STAILQ_FOREACH(m, &c->outq, entry) {
		if (m->coalesce_key == mi->key)
			found = m;
		else if (m->coalesce_key == 0)
			found = NULL;
	}
	if (found == NULL || len > found->cap ||
	    !conn_may_replace(found, mi, nfds))
		return 0;
	/* A detach's event (no fd) that becomes an attach's holds one fd
	 * more: the same bounds as a new message, or a connection that
	 * never reads would hold an fd per client it has. */
	if (nfds > found->nfds && !conn_fd_room(c, nfds - found->nfds))
		return -ENOBUFS;
	for (i = 0; i < nfds; i++)
		if ((dup[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 0)) < 0)
			break;
	if (i < nfds) {
		while (i > 0)
			close(dup[--i]);
		return 0;
	}
	for (i = 0; i < found->nfds; i++)
		close(found->fds[i]);
	c->outq_fds = c->outq_fds - found->nfds + nfds;
	c->b->outq_fds = c->b->outq_fds - found->nfds + nfds;
	memcpy(found->fds, dup, nfds * sizeof(int));
	found->nfds = nfds;
	found->peer_index = mi->peer_index;
	found->peer_attached = mi->peer_attached;
	c->outq_bytes += len - found->len;
	found->len = len;
	memcpy(found->data, buf, len);
	/* An fd more may be what stops its requests: the replies to them
	 * must still fit. */
	conn_update_reading(c);
	return 1;
}

/* How many replies and events may wait before reading stops: half the
 * queue, up to OUTQ_PAUSE_READS, so that the replies to the requests
 * that came before always fit. */
static size_t
conn_pause_count(const struct broker *b)
{
	size_t half = b->cfg.max_queued_messages / 2;

	return half < OUTQ_PAUSE_READS ? half : OUTQ_PAUSE_READS;
}

/* Requests in flight: a long queue pauses reading, so a client must take
 * its replies to be heard, and the requests it sends meanwhile wait in
 * its own socket, not in the daemon. */
static void
conn_update_reading(struct conn *c)
{
	struct broker *b = c->b;
	bool pause = c->outq_count > conn_pause_count(b) ||
	    c->outq_fds + REQUEST_MAX_FDS > OUTQ_MAX_FDS ||
	    c->outq_bytes + REQUEST_MAX_BYTES > OUTQ_MAX_BYTES;

	if (pause == c->reads_paused || c->dead)
		return;
	c->reads_paused = pause;
	if (pause) {
		b->stats.reads_paused++;
		log_debug(&b->log, "connection %llu: %zu replies and events "
		    "unread (%zu fds): its requests wait until it reads them",
		    (unsigned long long)c->id, c->outq_count, c->outq_fds);
		event_del(c->ev_read);
	} else {
		event_add(c->ev_read, NULL);
	}
}

bool
conn_outq_room(struct broker *b, size_t nfds)
{
	size_t limit = b->fd_limit / OUTQ_FDS_SHARE;
	struct conn *c, *top = NULL;

	if (b->outq_fds + nfds <= limit)
		return true;
	TAILQ_FOREACH(c, &b->conns, entry)
		if (top == NULL || c->outq_fds > top->outq_fds)
			top = c;
	/* One, and only if that makes the room: where the QEMUs' queues
	 * hold the share, dropping every connection would not. */
	if (top == NULL || top->outq_fds == 0 ||
	    b->outq_fds - top->outq_fds + nfds > limit)
		return false;
	b->stats.slow_connections_dropped++;
	conn_drop(top, "its unread replies and events hold %zu fds, the most "
	    "of any connection, and all send queues hold 1/%d of the "
	    "daemon's limit (raise LimitNOFILE)", top->outq_fds,
	    OUTQ_FDS_SHARE);
	/* Now, not at the reap: the room is wanted now. */
	conn_free_queue(top);
	return true;
}

/* Whether one more message of len bytes overflows c's queue's count or
 * bytes (its fds are conn_fd_room's): the drop's reason in why. */
static bool
conn_queue_full(const struct conn *c, size_t len, char *why, size_t whylen)
{
	const struct broker *b = c->b;

	if (c->outq_count >= b->cfg.max_queued_messages)
		snprintf(why, whylen, "%zu replies and events wait unread, "
		    "the limit (raise max_queued_messages in [broker] for "
		    "clients that read slowly)", c->outq_count);
	else if (c->outq_bytes + len > OUTQ_MAX_BYTES)
		snprintf(why, whylen, "%zu bytes of replies and events wait "
		    "unread, the limit is %u", c->outq_bytes + len,
		    OUTQ_MAX_BYTES);
	else
		return false;
	return true;
}

static int
conn_enqueue(struct conn *c, const uint8_t *buf, size_t len, const int *fds,
    size_t nfds, const struct msginfo *mi)
{
	struct outmsg *m;
	uint64_t key = mi->key;
	char why[256];
	size_t cap;
	int rc;

	if (key != 0 && (rc = conn_coalesce(c, mi, buf, len, fds, nfds)) != 0)
		return rc > 0 ? 0 : rc;

	if (conn_queue_full(c, len, why, sizeof(why))) {
		c->b->stats.slow_connections_dropped++;
		conn_drop(c, "%s", why);
		return -ENOBUFS;
	}
	if (!conn_fd_room(c, nfds))
		return -ENOBUFS;
	cap = key != 0 && len < EVENT_ROOM ? EVENT_ROOM : len;
	if ((m = malloc(sizeof(*m) + cap)) == NULL) {
		conn_kill(c, "dropped: out of memory for its send queue");
		return -ENOMEM;
	}
	m->len = len;
	m->cap = cap;
	m->coalesce_key = key;
	m->peer_index = mi->peer_index;
	m->peer_attached = mi->peer_attached;
	memcpy(m->data, buf, len);
	for (m->nfds = 0; m->nfds < nfds; m->nfds++) {
		m->fds[m->nfds] = fcntl(fds[m->nfds], F_DUPFD_CLOEXEC, 0);
		if (m->fds[m->nfds] < 0) {
			for (size_t i = 0; i < m->nfds; i++)
				close(m->fds[i]);
			free(m);
			conn_kill(c, "dropped: out of descriptors for its queue");
			return -EMFILE;
		}
	}
	if (c->ev_write == NULL)
		c->ev_write = event_new(c->b->base, c->fd, EV_WRITE | EV_PERSIST,
		    conn_write_cb, c);
	if (c->ev_write == NULL) {
		for (size_t i = 0; i < m->nfds; i++)
			close(m->fds[i]);
		free(m);
		conn_kill(c, "dropped: out of memory for its send queue");
		return -ENOMEM;
	}
	STAILQ_INSERT_TAIL(&c->outq, m, entry);
	c->outq_count++;
	c->outq_bytes += len;
	c->outq_fds += m->nfds;
	c->b->outq_fds += m->nfds;
	/* A queue that waits for its peer to read the fds it holds is
	 * retried by conn_inflight.c's timer: its socket is writable, and
	 * its write event armed now would fire on every pass of the loop,
	 * a whole CPU until the retry. */
	if (!c->inflight_waiting)
		event_add(c->ev_write, NULL);
	conn_update_reading(c);
	return 0;
}

/*
 * Sends one datagram now if the socket and the budgets of fds in flight
 * take it: 0; -EAGAIN when it must wait in the queue, for room in the
 * socket or, with *for_peer, for the peer to read the fds it holds
 * (conn_inflight.c; also when the kernel refuses more fds in flight for
 * the daemon's user); another -errno when the connection is broken.
 */
static int
conn_try_send(struct conn *c, const uint8_t *buf, size_t len,
    const int *fds, size_t nfds, bool *for_peer)
{
	int err;

	*for_peer = !inflight_admit(c, nfds);
	if (*for_peer)
		return -EAGAIN;
	err = wire_send(c->fd, buf, len, fds, nfds);
	if (err == 0)
		inflight_sent(c, nfds);
	*for_peer = err == -ETOOMANYREFS;
	return err == -ETOOMANYREFS || err == -ENOBUFS ? -EAGAIN : err;
}

int
conn_send(struct conn *c, const Shmbroker__ServerMessage *msg,
    const int *fds, size_t nfds)
{
	return conn_send_event(c, msg, fds, nfds, 0);
}

int
conn_send_event(struct conn *c, const Shmbroker__ServerMessage *msg,
    const int *fds, size_t nfds, uint64_t coalesce_key)
{
	uint8_t *buf = c->b->txbuf;
	struct msginfo mi;
	bool for_peer = false;
	ssize_t len;
	int err;

	if (c->dead)
		return -EPIPE;
	if ((len = wire_pack(&msg->base, buf)) < 0) {
		log_err(&c->b->log, "reply to connection %llu does not fit "
		    "one datagram", (unsigned long long)c->id);
		return (int)len;
	}
	if (STAILQ_EMPTY(&c->outq)) {
		err = conn_try_send(c, buf, (size_t)len, fds, nfds, &for_peer);
		if (err == 0)
			return 0;
		if (err != -EAGAIN) {
			conn_kill(c, strerror(-err));
			return err;
		}
	}
	conn_msginfo(msg, coalesce_key, &mi);
	if ((err = conn_enqueue(c, buf, (size_t)len, fds, nfds, &mi)) == 0 &&
	    for_peer)
		inflight_wait(c, nfds);
	return err;
}

static void
conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct outmsg *m;

	(void)fd;
	(void)what;
	while ((m = STAILQ_FIRST(&c->outq)) != NULL) {
		bool for_peer;
		int err = conn_try_send(c, m->data, m->len, m->fds, m->nfds,
		    &for_peer);

		if (err == -EAGAIN) {
			if (for_peer)
				inflight_wait(c, m->nfds);
			return;
		}
		if (err < 0) {
			conn_kill(c, strerror(-err));
			return;
		}
		STAILQ_REMOVE_HEAD(&c->outq, entry);
		c->outq_count--;
		c->outq_bytes -= m->len;
		conn_free_msg(c, m);
		conn_update_reading(c);
	}
	event_del(c->ev_write);
}

size_t
conn_head_fds(const struct conn *c)
{
	const struct outmsg *m = STAILQ_FIRST(&c->outq);

	return m != NULL ? m->nfds : 0;
}

void
conn_flush(struct conn *c)
{
	if (c->dead || c->ev_write == NULL || STAILQ_EMPTY(&c->outq))
		return;
	/* Armed first: what the socket cannot take now goes when it can. */
	event_add(c->ev_write, NULL);
	conn_write_cb(c->fd, EV_WRITE, c);
}

/* A datagram that no request can be, refused whole (its fds gone to
 * the reaper) with the reason; the connection goes on. */
static void
conn_refuse_datagram(struct conn *c, int err)
{
	struct broker *b = c->b;
	const Shmbroker__Error bad = SHMBROKER__ERROR__ERR_BAD_REQUEST;

	b->stats.bad_requests++;
	if (err == -EMSGSIZE) {
		b->stats.datagrams_oversized++;
		conn_reply_error(c, 0, bad, "datagram over %d bytes (the "
		    "protocol's max_message): dropped", WIRE_MAX_MESSAGE);
	} else if (err == -ETOOMANYREFS) {
		b->stats.datagrams_with_fds++;
		conn_reply_error(c, 0, bad, "datagram with more than %d fds: "
		    "dropped and its fds closed (requests carry none)",
		    WIRE_MAX_FDS);
	} else if (err == -EPROTO) {
		conn_reply_error(c, 0, bad, "datagram with ancillary data "
		    "other than fds: dropped");
	} else {
		conn_reply_error(c, 0, bad, "empty datagram: dropped");
	}
}

/* One datagram per wakeup: the event loop is level-triggered, so a busy
 * peer is served again next round, after the others, and the common case
 * costs no extra recvmsg to find the socket empty. */
static void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct broker *b = c->b;
	int fds[WIRE_SCM_MAX_FD];
	size_t nfds = 0;
	ssize_t n;

	(void)what;
	n = wire_recv_every(fd, b->rxbuf, sizeof(b->rxbuf), fds, &nfds, 0);
	/* No request carries fds: whatever came goes, and not by a close
	 * here, which the sender could make wait (reaper.h). */
	reaper_close_all(b->reaper, fds, nfds);
	if (n == -EAGAIN || n == -EINTR)
		return;
	if (n == 0) {
		conn_kill(c, NULL);
		return;
	}
	if (n == -EMSGSIZE || n == -ETOOMANYREFS || n == -EPROTO ||
	    n == -ENOMSG) {
		conn_refuse_datagram(c, (int)n);
		return;
	}
	if (n < 0) {
		conn_kill(c, strerror((int)-n));
		return;
	}
	inflight_request(c);
	b->up->dispatch(c, b->rxbuf, (size_t)n, nfds);
}

uint32_t
conn_count(const struct broker *b)
{
	return b->nconns + b->ndying + b->nqemus + (uint32_t)b->ndrains;
}

/* A connection past max_connections is told why and closed at once, so
 * it holds nothing; the socket is new, so the reason fits. */
static void
conn_refuse_over_limit(struct broker *b, int fd)
{
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	char text[160];

	b->stats.refused[LIMIT_MAX_CONNECTIONS]++;
	log_warn(&b->log, "refusing a connection: %u connections (%u of "
	    "them QEMUs on ivshmem exports, %zu closed, with fds their peers "
	    "have not read) is the limit (raise max_connections in "
	    "[broker])", conn_count(b), b->nqemus, b->ndrains);
	snprintf(text, sizeof(text), "shmbrokerd serves %u connections, its "
	    "max_connections: try again later", conn_count(b));
	m.error = SHMBROKER__ERROR__ERR_NO_RESOURCES;
	m.message = text;
	wire_send_server(fd, &m, NULL, 0);
	reaper_close(b->reaper, fd);
}

/* A connection past its tenant's max_connections, told why and closed
 * as one past max_connections is: the tenant's other connections stay,
 * and other tenants' peers are served. */
static void
conn_refuse_tenant_limit(struct conn *c)
{
	const struct tenant *t = c->tenant;
	uint32_t n = t->usage->connections;
	const char *s = n == 1 ? "" : "s";

	log_warn(&c->b->log, "refusing connection %llu (pid %d, uid %u): "
	    "tenant %s holds %u connection%s (QEMUs', and closed ones whose "
	    "peers hold fds unread, included), its max_connections is %u "
	    "(raise max_connections in [tenant %s])", (unsigned long long)c->id,
	    (int)c->cred.pid, (unsigned)c->cred.uid, t->name, n, s,
	    t->max_connections, t->name);
	conn_reply_error(c, 0, SHMBROKER__ERROR__ERR_NO_RESOURCES,
	    "tenant %s holds %u connection%s, its max_connections is %u: "
	    "close one of them and try again, or have max_connections in "
	    "[tenant %s] raised", t->name, n, s, t->max_connections, t->name);
	conn_kill(c, NULL);
}

static void
conn_accept_one(struct listener *l, int fd)
{
	struct broker *b = l->b;
	struct conn *c;
	socklen_t len = sizeof(struct ucred);

	/* QEMUs, and closed connections whose peers hold fds unread,
	 * count too. */
	if (conn_count(b) >= b->cfg.max_connections) {
		conn_refuse_over_limit(b, fd);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		reaper_close(b->reaper, fd);
		return;
	}
	c->b = b;
	c->fd = fd;
	c->kind = l->kind;
	c->id = b->next_conn_id++;
	LIST_INIT(&c->clients);
	STAILQ_INIT(&c->outq);
	/* Without credentials there is no tenant to judge by: refuse. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &len) < 0) {
		log_warn(&b->log, "refusing a connection without peer "
		    "credentials: %s", strerror(errno));
		free(c);
		reaper_close(b->reaper, fd);
		return;
	}
	c->ev_read = event_new(b->base, fd, EV_READ | EV_PERSIST,
	    conn_read_cb, c);
	if (c->ev_read == NULL || event_add(c->ev_read, NULL) < 0) {
		conn_free(c);
		return;
	}
	policy_classify(b, c);
	TAILQ_INSERT_TAIL(&b->conns, c, entry);
	b->nconns++;
	b->stats.connections_total++;
	/* A refused connection is told why and closed now, so that it
	 * cannot hold one of max_connections by staying silent. */
	if (c->refusal != NULL) {
		b->stats.refused_connections++;
		conn_reply_error(c, 0, SHMBROKER__ERROR__ERR_NOT_PERMITTED,
		    "%s (uid %u, gid %u)", c->refusal, (unsigned)c->cred.uid,
		    (unsigned)c->cred.gid);
		conn_kill(c, c->refusal);
		return;
	}
	if (policy_connection_admit(b, c) < 0) {
		conn_refuse_tenant_limit(c);
		return;
	}
	log_debug(&b->log, "connection %llu from pid %d uid %u on the %s "
	    "socket", (unsigned long long)c->id, (int)c->cred.pid,
	    (unsigned)c->cred.uid, l->kind == CONN_ADMIN ? "admin" : "vmm");
}

static void
conn_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct listener *l = arg;
	struct broker *b = l->b;

	(void)what;
	for (int i = 0; i < 64; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			conn_accept_one(l, fd);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE)
			conn_pause_accept(b);
		return;
	}
}

void
conn_pause_accept(struct broker *b)
{
	struct timeval tv = { 0, 100000 };
	uint64_t unsaid;

	if (b->ev_accept_retry == NULL ||	/* no listener of conn.c */
	    evtimer_pending(b->ev_accept_retry, NULL))
		return;
	if (log_limit_pass(&b->pause_said, broker_mono_ns() / 1000000,
	    LOG_REPEAT_MS, &unsaid))
		log_warn(&b->log, "out of file descriptors: pausing accept "
		    "for 100 ms (raise LimitNOFILE; %llu more pauses since "
		    "the last such line, said at most every %d s)",
		    (unsigned long long)unsaid, LOG_REPEAT_MS / 1000);
	for (int k = 0; k < 2; k++)
		if (b->listeners[k].ev != NULL)
			event_del(b->listeners[k].ev);
	ivshmem_accepting(b, false);
	evtimer_add(b->ev_accept_retry, &tv);
}

static void
conn_accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;

	(void)fd;
	(void)what;
	for (int k = 0; k < 2; k++)
		if (b->listeners[k].ev != NULL)
			event_add(b->listeners[k].ev, NULL);
	ivshmem_accepting(b, true);
}

int
conn_listen(struct broker *b, struct listener *l, int fd, enum conn_kind kind)
{
	l->b = b;
	l->fd = fd;
	l->kind = kind;
	/* Requests carry no fds: where the kernel can, it refuses them. */
	(void)reaper_refuse_fds(fd);
	if (b->ev_reap == NULL) {
		b->ev_reap = event_new(b->base, -1, 0, conn_reap_cb, b);
		b->ev_accept_retry = evtimer_new(b->base, conn_accept_retry_cb,
		    b);
		if (b->ev_reap == NULL || b->ev_accept_retry == NULL ||
		    inflight_init(b) < 0)
			return -ENOMEM;
	}
	l->ev = event_new(b->base, fd, EV_READ | EV_PERSIST, conn_accept_cb, l);
	if (l->ev == NULL || event_add(l->ev, NULL) < 0)
		return -ENOMEM;
	return 0;
}

void
conn_reply_error(struct conn *c, uint64_t id, Shmbroker__Error err,
    const char *fmt, ...)
{
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	char text[BROKER_MESSAGE_MAX + 256];	/* never cuts a message */
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	m.id = id;
	m.error = err;
	m.message = text;
	log_debug(&c->b->log, "connection %llu request %llu: %s",
	    (unsigned long long)c->id, (unsigned long long)id, text);
	conn_send(c, &m, NULL, 0);
}
