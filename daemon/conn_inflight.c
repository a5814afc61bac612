/* SPDX-License-Identifier: ISC */
/*
 * conn_inflight: the fds the daemon has sent that their peers have not
 * read yet. The kernel keeps each in flight until its receiver reads or
 * closes, and counts all of them against the sending user's
 * RLIMIT_NOFILE: past it, every fd the daemon sends, to anyone, fails
 * with ETOOMANYREFS, unless the daemon has CAP_SYS_RESOURCE or
 * CAP_SYS_ADMIN (as root has; the shipped unit gives neither). Closing
 * the daemon's end does not release them, so a peer that never reads, or
 * one that is dropped and keeps its end open, could otherwise hold them
 * for ever and stop every other peer's attaches.
 *
 * So fds are sent only within budgets: per connection
 * (INFLIGHT_CONN_MAX, which also bounds the files a peer keeps alive),
 * and, where the kernel caps the daemon, per peer uid
 * (1/INFLIGHT_UID_SHARE of the fd limit, over its connections, dropped
 * ones too: a peer cannot take another uid's share) and per tenant
 * (1/INFLIGHT_ALL_SHARE in all, split evenly among the tenants and the
 * admins' open tenant: uids are anyone's to have, so no split among them
 * alone could hold against many, while tenants are the operator's). A
 * connection that holds nothing unread is
 * within its own budget whatever the message. A message that does not
 * fit waits in its connection's queue (conn.c), where its fds are
 * bounded and let go when the connection is, and is sent once its peer
 * has read what it holds. Whether it has is SIOCOUTQ: the bytes the peer has not read,
 * 0 once it read everything, when the connection's whole count is let
 * go (a peer that keeps something unread keeps its count). It is asked
 * when a budget would be exceeded and when a request comes on a
 * connection whose count is past a quarter of its budget or that waits,
 * so counts run high in between, and a uid's share or a tenant's is
 * often all counted. So these are served in turn: while a connection
 * waits for one, no other that draws on it sends fds past it (they wait
 * behind it), and the timer sends the queues of those that wait in the
 * order they began to, each as soon as the counts say it fits, there
 * and then. Else those that send straight away would take whatever
 * other peers' reads free, every time, and a connection whose peer reads
 * everything would wait until its queue overflowed (conn.c drops it).
 * The price: the first in line holds back smaller messages behind it,
 * until what it needs is free. Only one that waits for its tenant's share
 * alone (its uid's share has room, and none of its uid waits before it)
 * holds back every uid of its tenant; one short of its uid's share holds
 * back its own uid only; none holds back another tenant. A connection
 * that dies with fds unread stays a *drain*: its socket is kept, still
 * charged to its uid and tenant, until its peer reads or closes, and
 * counts against max_connections, its tenant's as the daemon's. A timer
 * retries waiting connections after
 * INFLIGHT_TICK_MS, then twice as long each time, up to
 * INFLIGHT_BACKOFF_MAX_MS, so peers that never read cost little; but
 * at the next tick one whose peer read some since the last look
 * (SIOCOUTQ fell) or just asked for something (it reads while it waits
 * for the reply); and one within its own budget, which waits for its
 * uid's or its tenant's, at the first tick at which the counts say it
 * fits (each tick sweeps, within the sweep's own bound, so that other
 * peers' reads are seen; the test itself is no system call). It looks at
 * drains every INFLIGHT_DRAIN_MS.
 */
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/sockios.h>

#include "broker.h"

#define INFLIGHT_CONN_MAX 256		/* a dozen attach replies' worth */
/* A tenant's share is never less than one connection's budget and a
 * message, which also covers what a QEMU's join may be sent (1 + 16
 * vectors of 16 indices): a share smaller than a message could never
 * send it. The floor may promise more than the half in all, which still
 * holds (inflight_all_fits). */
#define INFLIGHT_POOL_MIN (INFLIGHT_CONN_MAX + WIRE_MAX_FDS)
#define INFLIGHT_UID_SHARE 8
#define INFLIGHT_ALL_SHARE 2
#define INFLIGHT_TICK_MS 20
#define INFLIGHT_BACKOFF_MAX_MS 1000	/* a peer that does not read */
#define INFLIGHT_DRAIN_MS 1000
#define INFLIGHT_SWEEP_MS 50		/* full sweeps, at most this often */
#define INFLIGHT_REFRESH_AT (INFLIGHT_CONN_MAX / 4)	/* see inflight_request */
/* Drains one uid may hold before its QEMUs are refused: each counts
 * against max_connections, which one uid's must not fill. */
#define INFLIGHT_UID_DRAINS 64

/* What the peers of one uid hold unread; there is one while it is not
 * 0, in b->inflight_uids. */
struct inflight_uid {
	struct hnode node;
	uid_t uid;
	size_t fds;
	size_t drains;		/* of them: closed sockets kept */
	size_t waiters;		/* its connections waiting for a budget */
	uint64_t full_tick;	/* the tick that found its share full */
};

/* A dead connection's socket, kept while its peer holds fds unread. */
struct conn_drain {
	LIST_ENTRY(conn_drain) entry;
	int fd;
	size_t fds;
	struct inflight_uid *owner;
	struct tenant_usage *pool;	/* whose share it holds */
	struct tenant_usage *usage;	/* whose connections count it */
};

static void inflight_tick_cb(evutil_socket_t fd, short what, void *arg);

/* Bytes sent on fd that its peer has not read; -1 when unknown. */
static int
inflight_unread(int fd)
{
	int n;

	return ioctl(fd, SIOCOUTQ, &n) < 0 ? -1 : n;
}

static struct inflight_uid *
inflight_find(const struct broker *b, uid_t uid)
{
	uint64_t h = hash_u64(uid);

	for (struct hnode *n = htable_bucket(&b->inflight_uids, h); n != NULL;
	    n = n->next) {
		struct inflight_uid *u = container_of(n, struct inflight_uid,
		    node);

		if (n->hash == h && u->uid == uid)
			return u;
	}
	return NULL;
}

/* u goes when nothing is counted in it any more. */
static void
inflight_uid_put(struct broker *b, struct inflight_uid *u)
{
	if (u->fds == 0 && u->waiters == 0) {
		htable_remove(&b->inflight_uids, &u->node);
		free(u);
	}
}

/* n fds sent to a peer of u (NULL: uncounted, out of memory) and of
 * pool's tenant (NULL: none); inflight_uncharge lets them go. */
static void
inflight_charge(struct broker *b, struct inflight_uid *u,
    struct tenant_usage *pool, size_t n)
{
	b->inflight_fds += n;
	if (pool != NULL)
		pool->inflight_fds += n;
	if (u != NULL)
		u->fds += n;
}

static void
inflight_uncharge(struct broker *b, struct inflight_uid *u,
    struct tenant_usage *pool, size_t n)
{
	b->inflight_fds -= n;
	if (pool != NULL)
		pool->inflight_fds -= n;
	if (u != NULL) {
		u->fds -= n;
		inflight_uid_put(b, u);
	}
}

/* c's peer read everything: its count is let go. Sending only adds to
 * the bytes unread, so a count that fell since the last look says that
 * its peer reads (inflight_wait). */
static void
inflight_refresh(struct conn *c)
{
	int unread;

	if (c->inflight_fds == 0)
		return;
	unread = inflight_unread(c->fd);
	if (unread >= 0 && c->inflight_unread_seen >= 0 &&
	    unread < c->inflight_unread_seen)
		c->inflight_progress = true;
	c->inflight_unread_seen = unread;
	if (unread != 0)
		return;
	inflight_uncharge(c->b, c->inflight_owner, c->inflight_pool,
	    c->inflight_fds);
	c->inflight_fds = 0;
	c->inflight_owner = NULL;
	c->inflight_pool = NULL;
}

/* The entry of c's uid, or NULL while it has none. */
static const struct inflight_uid *
inflight_uid_of(const struct conn *c)
{
	return c->inflight_owner != NULL ? c->inflight_owner :
	    inflight_find(c->b, c->cred.uid);
}

/* What the peers of c's uid hold unread. */
static size_t
inflight_uid_fds(const struct conn *c)
{
	const struct inflight_uid *u = inflight_uid_of(c);

	return u != NULL ? u->fds : 0;
}

static bool
inflight_uid_fits(const struct conn *c, size_t nfds)
{
	return inflight_uid_fds(c) + nfds <= c->b->fd_limit /
	    INFLIGHT_UID_SHARE;
}

/* A tenant's share of the fds the daemon may have in flight: everyone's
 * budget split evenly among the tenants and the admins' open tenant, so
 * that no tenant's peers, however many uids they run as, take what
 * another's need. */
static size_t
inflight_pool_budget(const struct broker *b)
{
	size_t pools = b->cfg.open_tenancy ? 1 : b->cfg.ntenants + 1;
	size_t all = b->fd_limit / INFLIGHT_ALL_SHARE, share = all / pools;

	if (share >= INFLIGHT_POOL_MIN)
		return share;
	return all < INFLIGHT_POOL_MIN ? all : INFLIGHT_POOL_MIN;
}

/* The half in all: past a reload that changed the tenants, or shares at
 * their floor, the pools' counts can add up to more. */
static bool
inflight_all_fits(const struct broker *b, size_t nfds)
{
	return b->inflight_fds + nfds <= b->fd_limit / INFLIGHT_ALL_SHARE;
}

/* The share c draws on: the tenant's it was charged to while it holds
 * anything, else its tenant's now. */
static struct tenant_usage *
inflight_pool_of(const struct conn *c)
{
	if (c->inflight_pool != NULL)
		return c->inflight_pool;
	return c->tenant != NULL ? c->tenant->usage : c->b->open_tenant.usage;
}

static bool
inflight_pool_fits(const struct conn *c, size_t nfds)
{
	return inflight_pool_of(c)->inflight_fds + nfds <=
	    inflight_pool_budget(c->b);
}

/* Whether connections wait for a budget that c would draw on: they go
 * first, unless it is c's turn. */
static bool
inflight_others_first(const struct conn *c)
{
	const struct inflight_uid *u;

	if (c->inflight_turn)
		return false;
	if (inflight_pool_of(c)->inflight_waiters != 0)
		return true;
	u = inflight_uid_of(c);
	return u != NULL && u->waiters != 0;
}

/* Within each budget (a connection that holds nothing unread is within
 * its own); the uid's, the tenant's and the total only where the kernel
 * caps us, and only when nobody waits for them before c. */
static bool
inflight_fits(const struct conn *c, size_t nfds)
{
	const struct broker *b = c->b;

	if (c->inflight_fds != 0 && c->inflight_fds + nfds > INFLIGHT_CONN_MAX)
		return false;
	return !b->inflight_capped || (!inflight_others_first(c) &&
	    inflight_uid_fits(c, nfds) && inflight_pool_fits(c, nfds) &&
	    inflight_all_fits(b, nfds));
}

/* d is closed: its fds and its place among its tenant's connections are
 * let go. */
static void
inflight_drain_free(struct broker *b, struct conn_drain *d)
{
	if (d->owner != NULL)
		d->owner->drains--;
	inflight_uncharge(b, d->owner, d->pool, d->fds);
	if (d->usage != NULL)
		d->usage->connections--;
	LIST_REMOVE(d, entry);
	reaper_close(b->reaper, d->fd);
	free(d);
}

/* Drains whose peer read or closed are closed, their count let go. */
static void
inflight_sweep_drains(struct broker *b)
{
	struct conn_drain *d, *next;

	for (d = LIST_FIRST(&b->drains); d != NULL; d = next) {
		next = LIST_NEXT(d, entry);
		if (inflight_unread(d->fd) > 0)
			continue;
		inflight_drain_free(b, d);
		b->ndrains--;
	}
}

/*
 * Every count that can be let go is: counts are only looked at when a
 * budget would be exceeded (a SIOCOUTQ costs a system call, a few per
 * attach otherwise), so they run high in between. A sweep looks at every
 * connection, so the next waits INFLIGHT_SWEEP_MS or 20 times the CPU
 * time this one took, whichever is longer: at most 1/20 of the daemon's
 * time. CPU time, not the clock's: a sweep preempted for 50 ms on a
 * loaded host put the next off by a second, and every connection that
 * waited for other peers' reads with it.
 */
static void
inflight_sweep(struct broker *b)
{
	uint64_t now = broker_mono_ns(), start = broker_cpu_ns(), took;
	struct conn *c;

	if (now < b->inflight_next_sweep_ns)
		return;
	TAILQ_FOREACH(c, &b->conns, entry)
		inflight_refresh(c);
	inflight_sweep_drains(b);
	took = broker_cpu_ns() - start;
	b->inflight_next_sweep_ns = now + (20 * took >
	    INFLIGHT_SWEEP_MS * 1000000ull ? 20 * took :
	    INFLIGHT_SWEEP_MS * 1000000ull);
}

/*
 * A request from c: a peer that calls and waits for its reply has read
 * all it was sent, so a count this high is let go here, at a SIOCOUTQ
 * every few dozen attaches. Left to inflight_admit, the question was
 * asked at a send, often just after an event to the same peer (a
 * PeerChanged to its other attachment) that it could not have read yet:
 * the reply then waited INFLIGHT_TICK_MS for a peer that reads at once
 * (one attach in 50 of a VMM with two attachments to one region). A
 * connection that waits is asked at every request: a peer that was slow
 * and caught up gets its queue now, not at its next retry, up to
 * INFLIGHT_BACKOFF_MAX_MS later.
 */
void
inflight_request(struct conn *c)
{
	size_t held = c->inflight_fds;
	uint64_t now;

	if (held < INFLIGHT_REFRESH_AT && !c->inflight_waiting)
		return;
	inflight_refresh(c);
	/* One that waits for others keeps its place: the timer's. */
	if (!c->inflight_waiting || c->inflight_for_others)
		return;
	if (held != 0 && c->inflight_fds == 0) {
		inflight_unwait(c);
		event_add(c->ev_write, NULL);
		return;
	}
	/* It will read all it holds while it waits for this reply: look
	 * again at the next tick, not after a backoff made for a peer that
	 * does not read (its reply would wait for it, up to a second, and
	 * its events pile up behind until conn.c drops it). Only sooner: a
	 * peer that asks often must not put its retry off. */
	now = broker_mono_ns() / 1000000;
	if (c->inflight_retry_ms > now + INFLIGHT_TICK_MS) {
		c->inflight_backoff_ms = INFLIGHT_TICK_MS;
		c->inflight_retry_ms = now + INFLIGHT_TICK_MS;
	}
}

bool
inflight_admit(struct conn *c, size_t nfds)
{
	if (nfds == 0 || inflight_fits(c, nfds))
		return true;
	inflight_refresh(c);
	if (inflight_fits(c, nfds))
		return true;
	if (!c->b->inflight_capped)
		return false;
	inflight_sweep(c->b);
	return inflight_fits(c, nfds);
}

/* uid's entry, made when it has none; NULL without memory. */
static struct inflight_uid *
inflight_uid_get(struct broker *b, uid_t uid)
{
	struct inflight_uid *u = inflight_find(b, uid);

	if (u == NULL && (u = calloc(1, sizeof(*u))) != NULL) {
		u->uid = uid;
		htable_insert(&b->inflight_uids, &u->node, hash_u64(uid));
	}
	return u;
}

void
inflight_sent(struct conn *c, size_t nfds)
{
	struct broker *b = c->b;

	if (nfds == 0)
		return;
	/* Without memory for it, the uid goes uncounted; the connection's
	 * own bound and its tenant's still hold. */
	if (c->inflight_fds == 0) {
		c->inflight_owner = inflight_uid_get(b, c->cred.uid);
		c->inflight_pool = inflight_pool_of(c);
	}
	inflight_charge(b, c->inflight_owner, c->inflight_pool, nfds);
	c->inflight_backoff_ms = 0;
	c->inflight_fds += nfds;
}

static void
inflight_arm(struct broker *b)
{
	struct timeval tv = { 0, INFLIGHT_TICK_MS * 1000 };

	if (b->ev_inflight == NULL)
		b->ev_inflight = evtimer_new(b->base, inflight_tick_cb, b);
	if (b->ev_inflight != NULL && !evtimer_pending(b->ev_inflight, NULL))
		evtimer_add(b->ev_inflight, &tv);
}

/* How long c waits before its next try: a peer that shows no sign of
 * reading, twice as long each time. */
static void
inflight_backoff(struct conn *c)
{
	if (c->inflight_backoff_ms == 0) {
		c->inflight_backoff_ms = INFLIGHT_TICK_MS;
	} else if (c->inflight_progress) {
		/* Its peer reads, only never all by our look: look again
		 * soon, before what waits fills its queue (conn.c drops it). */
		c->inflight_backoff_ms = INFLIGHT_TICK_MS;
	} else if ((c->inflight_backoff_ms *= 2) > INFLIGHT_BACKOFF_MAX_MS) {
		c->inflight_backoff_ms = INFLIGHT_BACKOFF_MAX_MS;
	}
	c->inflight_progress = false;
	c->inflight_retry_ms = broker_mono_ns() / 1000000 +
	    c->inflight_backoff_ms;
}

void
inflight_wait(struct conn *c, size_t nfds)
{
	struct broker *b = c->b;

	if (c->dead)
		return;
	/* Whoever armed the write event, it stays off until the timer. */
	if (c->ev_write != NULL)
		event_del(c->ev_write);
	if (c->inflight_waiting)
		return;
	if (c->inflight_backoff_ms == 0) {
		b->stats.inflight_waits++;
		log_debug(&b->log, "connection %llu: %zu fds unread, uid %u's "
		    "%zu, its tenant's %zu, all %zu: its next message waits "
		    "until the peers read (its own, or its uid's and its "
		    "tenant's)", (unsigned long long)c->id, c->inflight_fds,
		    (unsigned)c->cred.uid, inflight_uid_fds(c),
		    inflight_pool_of(c)->inflight_fds, b->inflight_fds);
	}
	/* Within its own budget, it waits for its uid's or its tenant's,
	 * which other peers' reads free: not a peer that does not read.
	 * The timer tries it when the counts say it fits (no system call,
	 * so that many such cost little), whatever the backoff. What fits
	 * already waits for the kernel (ETOOMANYREFS): backed off. */
	c->inflight_for_others = c->inflight_fds + nfds <= INFLIGHT_CONN_MAX &&
	    !inflight_fits(c, nfds);
	/* Counted where those that send after it look (without memory for
	 * its uid's entry, it does not hold its uid's others back). */
	if (c->inflight_for_others) {
		struct inflight_uid *u = inflight_uid_get(b, c->cred.uid);
		bool first = u == NULL || u->waiters == 0;

		if ((c->inflight_queued = u) != NULL)
			u->waiters++;
		/* Short of its tenant's share too, with its uid's share
		 * there and none of its uid before it: the sends of every uid
		 * of its tenant wait behind it (the timer counts it so when
		 * it finds it short). Short of its uid's share, or behind
		 * one of its uid that goes first, it waits for its uid's
		 * peers and holds back no other uid. */
		if (first && inflight_uid_fits(c, nfds) &&
		    !inflight_pool_fits(c, nfds)) {
			c->inflight_queued_pool = inflight_pool_of(c);
			c->inflight_queued_pool->inflight_waiters++;
		}
	}
	inflight_backoff(c);
	c->inflight_waiting = true;
	TAILQ_INSERT_TAIL(&b->inflight_waiting, c, wait_entry);
	inflight_arm(b);
}

/* c holds no other uid back (any more): its own uid's peers hold it. */
static void
inflight_uncount_pool(struct conn *c)
{
	if (c->inflight_queued_pool != NULL) {
		c->inflight_queued_pool->inflight_waiters--;
		c->inflight_queued_pool = NULL;
	}
}

void
inflight_unwait(struct conn *c)
{
	struct broker *b = c->b;

	if (!c->inflight_waiting)
		return;
	TAILQ_REMOVE(&b->inflight_waiting, c, wait_entry);
	c->inflight_waiting = false;
	if (c->inflight_queued != NULL) {
		c->inflight_queued->waiters--;
		inflight_uid_put(b, c->inflight_queued);
		c->inflight_queued = NULL;
	}
	inflight_uncount_pool(c);
}

/* Waiting connections whose time came try again, now (they send what
 * fits and wait again, longer, for the rest): those that wait for
 * others in turn, the first whose budget is still full holding back
 * those behind it that draw on the same; drains are looked at now and
 * then. */
static void
inflight_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;
	uint64_t now = broker_mono_ns() / 1000000, tick = ++b->inflight_ticks;
	struct conn *c, *next;
	bool others = false;

	(void)fd;
	(void)what;
	TAILQ_FOREACH(c, &b->inflight_waiting, wait_entry)
		others |= c->inflight_for_others;
	/* What other peers read is let go only when someone looks. */
	if (others)
		inflight_sweep(b);
	for (c = TAILQ_FIRST(&b->inflight_waiting); c != NULL; c = next) {
		struct inflight_uid *u = c->inflight_queued;
		bool turn = c->inflight_for_others;
		/* What its queue's head needs now: a coalesced event may
		 * have taken the place of the one that had to wait. */
		size_t need = conn_head_fds(c);

		next = TAILQ_NEXT(c, wait_entry);
		if (turn) {
			struct tenant_usage *pool = inflight_pool_of(c);

			/* Counted in the tenant it had before a reload. */
			if (c->inflight_queued_pool != pool)
				inflight_uncount_pool(c);
			/* Behind one of its tenant short of the share. */
			if (pool->inflight_full_tick == tick)
				continue;
			/* Behind one of its uid short of the share, or short
			 * of it itself: its own uid's peers hold it back. */
			if ((u != NULL && u->full_tick == tick) ||
			    !inflight_uid_fits(c, need)) {
				if (u != NULL)
					u->full_tick = tick;
				inflight_uncount_pool(c);
				continue;
			}
			if (!inflight_pool_fits(c, need)) {
				/* First in line for its tenant's: counted so. */
				pool->inflight_full_tick = tick;
				if (c->inflight_queued_pool == NULL) {
					c->inflight_queued_pool = pool;
					pool->inflight_waiters++;
				}
				continue;
			}
			/* Its place kept while the half in all is full. */
			if (!inflight_all_fits(b, need))
				continue;
		} else if (c->inflight_retry_ms > now) {
			continue;
		}
		/* Sent now: at the write event, those that send straight
		 * away would have taken what fits first. It waits again, at
		 * the end, for what does not fit. */
		inflight_unwait(c);
		c->inflight_turn = turn;
		conn_flush(c);
		c->inflight_turn = false;
	}
	if (now - b->drains_swept_ms >= INFLIGHT_DRAIN_MS) {
		b->drains_swept_ms = now;
		inflight_sweep_drains(b);
	}
	if (!LIST_EMPTY(&b->drains) || !TAILQ_EMPTY(&b->inflight_waiting))
		inflight_arm(b);
}

/* fd's socket is kept as a drain of fds unread, charged to owner (and
 * usage's connections): true, or false when it could not be (the caller
 * closes it; its count is let go). */
static bool
inflight_drain_add(struct broker *b, int fd, size_t fds,
    struct inflight_uid *owner, struct tenant_usage *pool,
    struct tenant_usage *usage)
{
	struct conn_drain *d;

	/* Uncapped, what the peer holds is its own business. */
	if (fds == 0 || !b->inflight_capped ||
	    (d = calloc(1, sizeof(*d))) == NULL) {
		/* Without memory: given up, the kernel still holds them. */
		inflight_uncharge(b, owner, pool, fds);
		return false;
	}
	d->fd = fd;
	d->fds = fds;
	d->owner = owner;
	d->pool = pool;
	if (owner != NULL)
		owner->drains++;
	/* It counts against its tenant's max_connections as against
	 * [broker] max_connections, until closed. */
	if ((d->usage = usage) != NULL)
		d->usage->connections++;
	shutdown(d->fd, SHUT_RDWR);
	LIST_INSERT_HEAD(&b->drains, d, entry);
	b->ndrains++;
	inflight_arm(b);
	return true;
}

bool
inflight_keep(struct conn *c)
{
	inflight_unwait(c);
	inflight_refresh(c);
	if (!inflight_drain_add(c->b, c->fd, c->inflight_fds,
	    c->inflight_owner, c->inflight_pool, c->conn_usage))
		return false;
	log_debug(&c->b->log, "connection %llu: closed with %zu fds unread "
	    "by its peer: kept until it reads or closes",
	    (unsigned long long)c->id, c->inflight_fds);
	return true;
}

/*
 * A peer that is not a connection (an ivshmem QEMU) is sent its fds at
 * once, as its protocol wants, so nothing of it waits: it is counted as
 * it is sent (struct inflight_count), let go once its peer read all
 * (SIOCOUTQ 0, looked at when a budget looks full), kept as a drain of
 * its uid and tenant when it goes with some unread (in its place among
 * its tenant's connections, as a connection's drain is), and a new peer
 * of a uid or tenant whose share is full is not let in.
 */
void
inflight_count_sent(struct broker *b, struct inflight_count *ic, uid_t uid,
    struct tenant_usage *pool, size_t nfds)
{
	if (nfds == 0)
		return;
	if (ic->fds == 0) {
		ic->owner = inflight_uid_get(b, uid);
		ic->pool = pool;
	}
	inflight_charge(b, ic->owner, ic->pool, nfds);
	ic->fds += nfds;
}

void
inflight_count_refresh(struct broker *b, struct inflight_count *ic, int fd)
{
	if (ic->fds == 0 || inflight_unread(fd) != 0)
		return;
	inflight_uncharge(b, ic->owner, ic->pool, ic->fds);
	*ic = (struct inflight_count){ NULL, NULL, 0 };
}

void
inflight_count_let_go(struct broker *b, struct inflight_count *ic, int fd,
    struct tenant_usage *usage)
{
	inflight_count_refresh(b, ic, fd);
	if (ic->fds == 0 || !inflight_drain_add(b, fd, ic->fds, ic->owner,
	    ic->pool, usage))
		reaper_close(b->reaper, fd);
	*ic = (struct inflight_count){ NULL, NULL, 0 };
}

static bool
inflight_room_now(const struct broker *b, uid_t uid,
    const struct tenant_usage *pool, size_t nfds)
{
	const struct inflight_uid *u = inflight_find(b, uid);

	if ((u != NULL ? u->fds : 0) + nfds > b->fd_limit / INFLIGHT_UID_SHARE ||
	    (u != NULL && u->drains >= INFLIGHT_UID_DRAINS))
		return false;
	return pool->inflight_fds + nfds <= inflight_pool_budget(b) &&
	    inflight_all_fits(b, nfds);
}

bool
inflight_room(struct broker *b, uid_t uid, struct tenant_usage *pool,
    size_t nfds)
{
	if (!b->inflight_capped || inflight_room_now(b, uid, pool, nfds))
		return true;
	/* What peers read since the last sweep is let go first, within the
	 * sweep's own bound: every refusal used to look at every drain in
	 * the daemon (2.6 ms of CPU beside a thousand), so that a loop of
	 * connects kept the daemon busy. */
	inflight_sweep(b);
	return inflight_room_now(b, uid, pool, nfds);
}

/* Whether the kernel caps what the daemon has in flight: it does not for
 * a process with CAP_SYS_RESOURCE or CAP_SYS_ADMIN. Unknown: it does. */
static bool
inflight_kernel_caps_us(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
	uint32_t exempt = 1u << CAP_SYS_RESOURCE | 1u << CAP_SYS_ADMIN;

	_Static_assert(CAP_SYS_RESOURCE < 32 && CAP_SYS_ADMIN < 32,
	    "both in the first word");
	if (syscall(SYS_capget, &h, d) < 0)
		return true;
	return (d[0].effective & exempt) == 0;
}

int
inflight_init(struct broker *b)
{
	TAILQ_INIT(&b->inflight_waiting);
	LIST_INIT(&b->drains);
	b->inflight_capped = inflight_kernel_caps_us();
	log_debug(&b->log, "fds in flight: %s", b->inflight_capped ?
	    "capped by the kernel at the descriptor limit: budgets apply" :
	    "not capped (CAP_SYS_RESOURCE or CAP_SYS_ADMIN)");
	return htable_init(&b->inflight_uids);
}

void
inflight_close_all(struct broker *b)
{
	struct conn_drain *d;

	while ((d = LIST_FIRST(&b->drains)) != NULL)
		inflight_drain_free(b, d);
	b->ndrains = 0;
	htable_free(&b->inflight_uids);
	if (b->ev_inflight != NULL) {
		event_free(b->ev_inflight);
		b->ev_inflight = NULL;
	}
}
