/* SPDX-License-Identifier: ISC */
/*
 * ivshmem_peer: one stock QEMU connected to an ivshmem export, as a member
 * of its region. What it is told (its index, the memfd, connect messages
 * for each index once, in order and without blocking on a QEMU that does
 * not read); its own vectors, which are its index's slots
 * (ivshmem_slots.c); and its relays: for an index it learned while a
 * member that is not a QEMU held it, an eventfd per vector that the daemon
 * passes on to whoever holds the index when it rings (the QEMU's bit in
 * the member's pending word, so the member's status names it). A QEMU is
 * never told that a peer left while it stays connected: stock QEMU frees
 * the peer's eventfd array then, and writes to it when the id comes back.
 * A QEMU never sends anything: what it does send is read and dropped, and
 * its end of the socket is how the daemon learns it is gone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ivshmem_int.h"

static void ivsh_peer_flush(struct ivsh_peer *p);

/* Frees p from the event loop, never from inside a region change. */
static void
ivsh_peer_close_later(struct ivsh_peer *p)
{
	p->closing = true;
	event_add(p->ev_close, &(struct timeval){ 0, 0 });
}

/* The QEMU is to be told it leaves, and closed once it is: at the latest
 * after IVSH_CLOSE_GRACE_MS, read or not. */
static void
ivsh_peer_closing(struct ivsh_peer *p)
{
	/* One let go is closed by the next turn of the loop already: a
	 * grace now would keep it (and what it holds) 5 s longer. */
	if (p->dropped)
		return;
	p->closing = true;
	event_add(p->ev_close, &(struct timeval){
	    IVSH_CLOSE_GRACE_MS / 1000, IVSH_CLOSE_GRACE_MS % 1000 * 1000 });
}

/*
 * A QEMU let go during its set-up (version, index, memfd, which it waits
 * for before anything else) is sent, in place of the next of them, -err
 * in 8 bytes without an fd, which QEMU refuses at any of the three ("server
 * sent version -105", "invalid ... message"), ending its set-up with an
 * error; an end of stream there makes stock QEMU (7.2) spin. A message
 * that went in part cannot be mended.
 */
static void
ivsh_peer_abort_setup(struct ivsh_peer *p, int err)
{
	const struct ivsh_msg *m = STAILQ_FIRST(&p->outq);
	uint8_t bytes[8];

	if (p->setup_left == 0 || (m != NULL && m->sent != 0))
		return;
	ivshmem_encode(err, bytes);
	(void)!send(p->fd, bytes, sizeof(bytes), MSG_DONTWAIT | MSG_NOSIGNAL);
	p->setup_left = 0;
}

/* Lets go of a QEMU that does not read, saying why. */
static void
ivsh_peer_drop(struct ivsh_peer *p, const char *why)
{
	p->b->stats.ivshmem_dropped++;
	log_warn(&p->b->log, "ivshmem %s: QEMU pid %d (uid %u): %s: letting "
	    "it go", p->exp != NULL ? p->exp->path : "-", (int)p->cred.pid,
	    (unsigned)p->cred.uid, why);
	p->dropped = true;
	ivsh_peer_abort_setup(p, -ENOBUFS);
	ivsh_peer_close_later(p);
}

static void
ivsh_peer_close_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ivsh_peer *p = arg;

	(void)fd;
	(void)what;
	if (!p->dropped && !STAILQ_EMPTY(&p->outq)) {
		ivsh_peer_drop(p, "it left the region and did not read what "
		    "it was told in time");
		return;
	}
	ivsh_peer_free(p);
}

static void
ivsh_msg_free(struct ivsh_peer *p, struct ivsh_msg *m)
{
	if (m->fd >= 0) {
		close(m->fd);
		p->b->outq_fds--;
	}
	free(m);
}

/* Queues one message; fd (may be -1) is copied. A QEMU that lets the
 * queue fill up is not reading: it is let go. */
static void
ivsh_peer_queue(struct ivsh_peer *p, int64_t value, int fd)
{
	struct broker *b = p->b;
	struct ivsh_msg *m;

	if (p->dropped)
		return;
	if (p->queued >= IVSH_MAX_QUEUED) {
		ivsh_peer_drop(p, "it does not read the messages queued for "
		    "it");
		return;
	}
	if (fd >= 0 && !conn_outq_room(b, 1)) {
		char why[128];

		snprintf(why, sizeof(why), "the daemon's send queues hold "
		    "%zu fds, 1/%d of its limit (raise LimitNOFILE)",
		    b->outq_fds, OUTQ_FDS_SHARE);
		ivsh_peer_drop(p, why);
		return;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		ivsh_peer_drop(p, "out of memory for its messages");
		return;
	}
	ivshmem_encode(value, m->bytes);
	m->fd = -1;
	if (fd >= 0) {
		if ((m->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0) {
			free(m);
			ivsh_peer_drop(p, "out of fds for its messages");
			return;
		}
		b->outq_fds++;
	}
	STAILQ_INSERT_TAIL(&p->outq, m, entry);
	p->queued++;
}

/* Sends the head of the queue: 1 when it went whole, 0 when the socket is
 * full, -errno when the QEMU is gone. */
static int
ivsh_peer_send_one(struct ivsh_peer *p, struct ivsh_msg *m)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { m->bytes + m->sent, sizeof(m->bytes) - m->sent };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (m->fd >= 0) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &m->fd, sizeof(int));
	}
	do
		n = sendmsg(p->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	/* The fd went with the first byte; the rest goes without it. */
	if (m->fd >= 0) {
		close(m->fd);
		m->fd = -1;
		p->b->outq_fds--;
		inflight_count_sent(p->b, &p->inflight, p->cred.uid, p->pool,
		    1);
		ivshmem_counts_arm(p->b->ivshmem);
	}
	m->sent += (uint8_t)n;
	return m->sent == sizeof(m->bytes);
}

static void
ivsh_peer_flush(struct ivsh_peer *p)
{
	struct ivsh_msg *m;
	int rc = 1;

	if (p->dropped)
		return;
	while ((m = STAILQ_FIRST(&p->outq)) != NULL &&
	    (rc = ivsh_peer_send_one(p, m)) == 1) {
		STAILQ_REMOVE_HEAD(&p->outq, entry);
		p->queued--;
		if (p->setup_left > 0)
			p->setup_left--;
		ivsh_msg_free(p, m);
	}
	if (rc < 0) {
		/* Gone (its read side says so), or an fd refused
		 * (ETOOMANYREFS), which is said. */
		if (rc != -EPIPE && rc != -ECONNRESET)
			log_warn(&p->b->log, "ivshmem %s: QEMU pid %d (uid %u): "
			    "cannot send to it (%s): letting it go",
			    p->exp != NULL ? p->exp->path : "-",
			    (int)p->cred.pid, (unsigned)p->cred.uid,
			    strerror(-rc));
		p->dropped = true;
		ivsh_peer_abort_setup(p, rc);
		ivsh_peer_close_later(p);
		return;
	}
	if (m != NULL)
		event_add(p->ev_write, NULL);
	else if (p->closing)
		ivsh_peer_close_later(p);
}

static void
ivsh_peer_write_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	ivsh_peer_flush(arg);
}

/* A QEMU's socket said something: it only ever closes it. Bytes are
 * against the protocol (a QEMU never sends any), and reading them as
 * fast as a peer writes took most of a CPU: that peer is let go. */
static void
ivsh_peer_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ivsh_peer *p = arg;
	int fds[WIRE_SCM_MAX_FD];
	size_t nfds = 0;
	char buf[256];
	ssize_t n;

	(void)what;
	/* Taken, not left for read(2) to drop here: the reaper closes them
	 * (reaper.h). */
	n = wire_recv_every(fd, buf, sizeof(buf), fds, &nfds, 0);
	reaper_close_all(p->b->reaper, fds, nfds);
	if (n == -EAGAIN || n == -EINTR)
		return;
	log_info(&p->b->log, "ivshmem %s: QEMU pid %d (index %d) %s",
	    p->exp != NULL ? p->exp->path : "-", (int)p->cred.pid,
	    p->cl != NULL ? p->cl->index : -1, n > 0 ? "sent bytes, which "
	    "the protocol has no place for: let go" : "went away");
	ivsh_peer_free(p);
}

bool
ivsh_is_qemu(const struct client *cl)
{
	return cl->ops == &ivsh_member_ops;
}

static void
ivsh_relay_free(struct ivsh_relay *r)
{
	if (r->efd < 0)
		return;
	event_free(r->ev);
	close(r->efd);
	r->efd = -1;
	r->ev = NULL;
}

/* The QEMU rang an index through its relay: to whoever holds it now. */
static void
ivsh_relay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ivsh_relay *r = arg;
	struct ivsh_peer *p = r->p;
	uint64_t count;

	(void)what;
	/* Not read(2): the QEMU holds this eventfd too (wake.h). */
	if (wake_drain(fd, &count) <= 0)
		return;
	if (p->cl != NULL)
		ivsh_slots_deliver(p->slots, r->target, r->vector,
		    (uint16_t)(1u << p->cl->index));
	/* Counted even for a QEMU no longer a member (revoked, or in its
	 * close's grace): its rings wake the daemon all the same. */
	ivsh_throttle_ring(&p->throttle);
}

/* A relay's event: the source ivsh_throttle puts to sleep. */
static struct event *
ivsh_peer_relay_event(void *owner, unsigned index, unsigned vector)
{
	struct ivsh_relay *r = &((struct ivsh_peer *)owner)->relay[index][vector];

	return r->efd >= 0 ? r->ev : NULL;
}

static int
ivsh_relay_open(struct ivsh_relay *r, struct event_base *base)
{
	if ((r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		return -errno;
	r->ev = event_new(base, r->efd, EV_READ | EV_PERSIST, ivsh_relay_cb,
	    r);
	/* While the QEMU's relays sleep, the resume adds this one too. */
	if (r->ev == NULL ||
	    (!r->p->throttle.paused && event_add(r->ev, NULL) < 0)) {
		if (r->ev != NULL)
			event_free(r->ev);
		close(r->efd);
		r->efd = -1;
		return -ENOMEM;
	}
	return 0;
}

/* What a QEMU rings for vector v of the member at index, as it learns it
 * now: that QEMU's own slot, or a relay; -1 past what both have. */
static int
ivsh_index_fd(struct ivsh_peer *p, unsigned index, unsigned v)
{
	const struct client *peer = p->slots->region->clients[index];
	int err;

	if (ivsh_is_qemu(peer)) {
		const struct ivsh_peer *tp = peer->owner;

		return v < tp->vectors ? ivsh_slots_fd(p->slots, index, v) :
		    -1;
	}
	if (p->relay[index][v].efd < 0 &&
	    (err = ivsh_relay_open(&p->relay[index][v], p->b->base)) < 0) {
		log_warn(&p->b->log, "ivshmem: no doorbell from QEMU pid %d "
		    "to index %u: %s", (int)p->cred.pid, index,
		    strerror(-err));
		return -1;
	}
	return p->relay[index][v].efd;
}

/* Connect messages for the member at index, the first time it holds
 * one: what they carry stays the QEMU's way to that index. */
static void
ivsh_peer_tell_join(struct ivsh_peer *p, unsigned index)
{
	const struct client *peer = p->slots->region->clients[index];
	int fd;

	if (peer == NULL || (p->told & (1u << index)))
		return;
	for (unsigned v = 0; v < p->vectors &&
	    (fd = ivsh_index_fd(p, index, v)) >= 0; v++)
		ivsh_peer_queue(p, index, fd);
	p->told |= (uint16_t)(1u << index);
	if (ivsh_is_qemu(peer))
		p->direct |= (uint16_t)(1u << index);
}

/* Before the QEMU goes: every index it knows of left its view. */
static void
ivsh_peer_tell_all_left(struct ivsh_peer *p)
{
	for (unsigned i = 0; i < REGION_MAX_CLIENTS; i++)
		if (p->told & (1u << i))
			ivsh_peer_queue(p, i, -1);
	p->told = 0;
}

int
ivsh_peer_welcome(struct ivsh_peer *p, int region_fd)
{
	unsigned self = p->cl->index;

	ivsh_peer_queue(p, IVSHMEM_PROTOCOL_VERSION, -1);
	ivsh_peer_queue(p, self, -1);
	ivsh_peer_queue(p, IVSHMEM_MSG_SHMEM, region_fd);
	for (unsigned i = 0; i < REGION_MAX_CLIENTS; i++)
		if (i != self)
			ivsh_peer_tell_join(p, i);
	for (unsigned v = 0; v < p->vectors; v++)
		ivsh_peer_queue(p, self, ivsh_slots_fd(p->slots, self, v));
	ivsh_peer_flush(p);
	return p->closing ? -ENOBUFS : 0;
}

void
ivsh_peer_leave(struct ivsh_peer *p)
{
	struct client *cl = p->cl;

	ivsh_peer_tell_all_left(p);
	ivsh_peer_closing(p);
	if (cl != NULL) {
		p->cl = NULL;
		region_detach_client(p->b, cl);
	}
	ivsh_peer_flush(p);
}

static void
ivsh_member_peer_changed(struct broker *b, struct client *self, int index,
    bool attached)
{
	struct ivsh_peer *p = self->owner;

	(void)b;
	/* A member that left stays in the QEMU's view (see the top): its
	 * slot or the relays reach whoever takes the index next. */
	if (p->closing || !attached)
		return;
	ivsh_peer_tell_join(p, (unsigned)index);
	ivsh_peer_flush(p);
}

/* The region is being destroyed: region.c frees the client next. */
static void
ivsh_member_revoked(struct broker *b, struct client *self)
{
	struct ivsh_peer *p = self->owner;

	(void)b;
	ivsh_peer_tell_all_left(p);
	p->cl = NULL;
	ivsh_peer_closing(p);
	ivsh_peer_flush(p);
}

static struct member_ident
ivsh_member_ident(const struct client *self)
{
	const struct ivsh_peer *p = self->owner;

	return (struct member_ident){ .conn_id = p->id, .cred = p->cred,
	    .label = p->label };
}

/* Its index's slots are its vectors; vector 0 is what the other members
 * ring (a copy: the client closes its own). */
static int
ivsh_member_eventfd(struct broker *b, struct client *self)
{
	struct ivsh_peer *p = self->owner;
	int err, fd;

	(void)b;
	if ((err = ivsh_slots_take(p->slots, self->index, p->vectors)) < 0)
		return err;
	fd = fcntl(ivsh_slots_fd(p->slots, self->index, 0), F_DUPFD_CLOEXEC,
	    3);
	return fd < 0 ? -errno : fd;
}

const struct member_ops ivsh_member_ops = {
	.peer_changed = ivsh_member_peer_changed,
	.revoked = ivsh_member_revoked,
	.ident = ivsh_member_ident,
	.eventfd = ivsh_member_eventfd,
};

struct ivsh_peer *
ivsh_peer_new(struct ivsh_export *e, int fd, const struct ucred *cred,
    struct ivsh_slots *s, struct tenant_usage *pool)
{
	struct broker *b = e->ivs->b;
	struct ivsh_peer *p;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		reaper_close(b->reaper, fd);
		return NULL;
	}
	/* Counted as a VMM connection is, so that its drain, should it go
	 * with fds unread, takes a place it held, never a new one. */
	p->pool = pool;
	p->pool->connections++;
	b->nqemus++;
	p->b = b;
	p->exp = e;
	p->fd = fd;
	p->cred = *cred;
	p->id = b->next_conn_id++;
	p->vectors = e->vectors;
	p->slots = s;
	snprintf(p->label, sizeof(p->label), "ivshmem %.55s", e->path);
	LIST_INIT(&p->clients);
	STAILQ_INIT(&p->outq);
	p->setup_left = 3;
	for (unsigned i = 0; i < REGION_MAX_CLIENTS; i++)
		for (unsigned v = 0; v < IVSHMEM_MAX_VECTORS; v++)
			p->relay[i][v] = (struct ivsh_relay){ .p = p,
			    .efd = -1, .target = (uint8_t)i,
			    .vector = (uint8_t)v };
	LIST_INSERT_HEAD(&e->peers, p, entry);
	p->ev_read = event_new(b->base, fd, EV_READ | EV_PERSIST,
	    ivsh_peer_read_cb, p);
	p->ev_write = event_new(b->base, fd, EV_WRITE, ivsh_peer_write_cb, p);
	p->ev_close = evtimer_new(b->base, ivsh_peer_close_cb, p);
	if (p->ev_read == NULL || p->ev_write == NULL || p->ev_close == NULL ||
	    ivsh_throttle_init(&p->throttle, b->base, ivsh_peer_relay_event,
	    p) < 0 ||
	    event_add(p->ev_read, NULL) < 0) {
		ivsh_peer_free(p);
		return NULL;
	}
	return p;
}

void
ivsh_peer_free(struct ivsh_peer *p)
{
	struct ivsh_msg *m;

	LIST_REMOVE(p, entry);
	if (p->cl != NULL) {
		struct client *cl = p->cl;

		p->cl = NULL;
		region_detach_client(p->b, cl);
	}
	for (unsigned i = 0; i < REGION_MAX_CLIENTS; i++)
		for (unsigned v = 0; v < IVSHMEM_MAX_VECTORS; v++)
			ivsh_relay_free(&p->relay[i][v]);
	while ((m = STAILQ_FIRST(&p->outq)) != NULL) {
		STAILQ_REMOVE_HEAD(&p->outq, entry);
		ivsh_msg_free(p, m);
	}
	if (p->ev_read != NULL)
		event_free(p->ev_read);
	if (p->ev_write != NULL)
		event_free(p->ev_write);
	if (p->ev_close != NULL)
		event_free(p->ev_close);
	ivsh_throttle_fini(&p->throttle);
	/* A QEMU that went (or was let go) without reading what it was
	 * sent keeps those fds in flight, charged to the daemon by the
	 * kernel: its socket stays, counted to its uid and in its place
	 * among the connections, until it reads or closes, so that its uid
	 * cannot join again past its share, nor its tenant past its
	 * max_connections. */
	p->pool->connections--;
	p->b->nqemus--;
	inflight_count_let_go(p->b, &p->inflight, p->fd, p->pool);
	free(p);
}
