/* SPDX-License-Identifier: ISC */
/*
 * libshmclient's event queue: events read during a synchronous call wait
 * here, and an eventfd, watched together with the socket and the
 * attachments' own eventfds by one epoll fd (the caller's shmc_event_fd),
 * says so. shmc_dispatch hands them out in order, then what the socket
 * holds, read with MSG_DONTWAIT, then the notifications that the own
 * eventfds signal (signals.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "shmclient_int.h"

struct queued_event {
	STAILQ_ENTRY(queued_event) entry;
	Shmbroker__ServerMessage *msg;	/* NULL: local */
	struct shmc_event local;
};

/* The epoll fd the caller polls and the eventfd of the queue: made once,
 * they stay across reconnects. */
int
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

int
shmc_event_fd(const struct shmc *c)
{
	return c->epfd;
}

int
shmc_retry_arm(struct shmc *c, int ms)
{
	struct itimerspec its = { .it_value = { ms / 1000,
	    (long)(ms % 1000) * 1000000 } };
	struct epoll_event ev = { .events = EPOLLIN };
	int fd;

	if (c->retry_tfd < 0) {
		fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK |
		    TFD_CLOEXEC);
		if (fd < 0)
			return shmc_fail(c, -errno, "timerfd: %s",
			    strerror(errno));
		if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			return shmc_fail(c, -errno, "epoll: %s",
			    strerror(errno));
		}
		c->retry_tfd = fd;
	}
	if (timerfd_settime(c->retry_tfd, 0, &its, NULL) < 0)
		return shmc_fail(c, -errno, "timerfd: %s", strerror(errno));
	return 0;
}

void
shmc_retry_disarm(struct shmc *c)
{
	struct itimerspec off = { { 0, 0 }, { 0, 0 } };

	if (c->retry_tfd >= 0)
		(void)timerfd_settime(c->retry_tfd, 0, &off, NULL);
	shmc_retry_drain(c);
}

void
shmc_retry_drain(struct shmc *c)
{
	uint64_t n;

	if (c->retry_tfd >= 0 && read(c->retry_tfd, &n, sizeof(n)) < 0) {
		/* EAGAIN: it had not fired. */
	}
}

void
shmc_wake_events(struct shmc *c)
{
	uint64_t one = 1;

	if (write(c->evfd, &one, sizeof(one)) < 0) {
		/* EAGAIN: a full counter is readable. */
	}
}

static void
shmc_queue_push(struct shmc *c, struct queued_event *q)
{
	STAILQ_INSERT_TAIL(&c->queue, q, entry);
	shmc_wake_events(c);
}

void
shmc_queue_event(struct shmc *c, Shmbroker__ServerMessage *m)
{
	struct queued_event *q = calloc(1, sizeof(*q));

	if (q == NULL) {
		wire_done_server(c->scratch, m);
		return;
	}
	/* kept past the next read: off the scratch (let go if that fails) */
	if ((q->msg = wire_keep_server(c->scratch, m)) == NULL) {
		free(q);
		return;
	}
	shmc_queue_push(c, q);
}

void
shmc_queue_local(struct shmc *c, const struct shmc_event *ev)
{
	struct queued_event *q = calloc(1, sizeof(*q));

	if (q == NULL)
		return;
	q->local = *ev;
	shmc_queue_push(c, q);
}

void
shmc_queue_forget(struct shmc *c, uint64_t user_id)
{
	struct queued_event *q, *next;

	for (q = STAILQ_FIRST(&c->queue); q != NULL; q = next) {
		next = STAILQ_NEXT(q, entry);
		if (q->msg == NULL && q->local.client_id == user_id &&
		    q->local.kind != SHMC_EVENT_EVENTFD_CHANGED) {
			STAILQ_REMOVE(&c->queue, q, queued_event, entry);
			free(q);
		}
	}
}

/* At shmc_close: events nobody dispatched. */
void
shmc_queue_free(struct shmc *c)
{
	struct queued_event *q;

	while ((q = STAILQ_FIRST(&c->queue)) != NULL) {
		STAILQ_REMOVE_HEAD(&c->queue, entry);
		if (q->msg != NULL)
			wire_free_server(q->msg);
		free(q);
	}
}

/* Fills ev from an event message; false for anything that is not one. */
static bool
shmc_decode_event(const Shmbroker__ServerMessage *m, struct shmc_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->eventfd = ev->old_eventfd = -1;
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
		ev->force_detached = m->client_revoked->force_detached;
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
shmc_deliver(struct shmc *c, Shmbroker__ServerMessage *m, shmc_event_cb cb,
    void *arg, int *count)
{
	struct shmc_event ev;

	if (shmc_decode_event(m, &ev)) {
		cb(&ev, arg);
		(*count)++;
	}
	wire_done_server(c->scratch, m);
}

/* An event the library made: the new eventfd of a claimed attachment,
 * or an attachment a reconnect lost. */
static void
shmc_deliver_local(struct shmc *c, struct shmc_event *ev, shmc_event_cb cb,
    void *arg, int *count)
{
	if (ev->kind != SHMC_EVENT_EVENTFD_CHANGED) {
		cb(ev, arg);
		(*count)++;
		return;
	}
	if (!shmc_sig_change_fill(c, ev))
		return;
	cb(ev, arg);
	(*count)++;
	shmc_sig_change_done(c, ev->client_id);
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
	shmc_retry_drain(c);
	/* Everything goes through the queue, in order: a callback that makes
	 * a call queues what that call reads, ahead of what is still in the
	 * socket. */
	for (;;) {
		if ((q = STAILQ_FIRST(&c->queue)) != NULL) {
			STAILQ_REMOVE_HEAD(&c->queue, entry);
			m = q->msg;
			if (m == NULL)
				shmc_deliver_local(c, &q->local, cb, arg,
				    &count);
			free(q);
			if (m != NULL)
				shmc_deliver(c, m, cb, arg, &count);
			continue;
		}
		if ((rc = shmc_read_one(c, &m, &fds, MSG_DONTWAIT)) < 0 &&
		    !reconnected && shmc_try_again_later(c, &rc)) {
			reconnected = true;	/* the new connection's events */
			continue;
		}
		if (rc <= 0)
			break;
		wire_fds_close(&fds);
		if (m->id == 0 && m->error == SHMBROKER__ERROR__ERR_NONE)
			shmc_deliver(c, m, cb, arg, &count);
		else if (m->id != 0)
			shmc_drop_late_reply(c, m);
		else
			return shmc_connection_error(c, m);
	}
	/* Own eventfds are read even so: a peer that keeps notifying while
	 * the daemon is away would keep the event fd readable, and a caller
	 * that goes on polling (as it should) spinning. */
	if (rc < 0) {
		(void)shmc_sig_dispatch(c, cb, arg);
		return rc;
	}
	/* Membership first, then what it may have been about. */
	if ((rc = shmc_sig_dispatch(c, cb, arg)) < 0)
		return shmc_fail(c, rc, "epoll: %s", strerror(-rc));
	return count + rc;
}
