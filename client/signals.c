/* SPDX-License-Identifier: ISC */
/*
 * libshmclient's direct notification path. Each attachment holds the
 * region's state page (mapped at its first use: an attach that never
 * notifies need not pay for mmap and munmap), its own eventfd and its
 * peers' eventfds, from the attach reply and the PeerChanged events. A notify sets the
 * sender's bit in each target's pending word and writes the target's
 * eventfd; a status read takes the reader's own word: neither needs the
 * daemon. Own eventfds sit in the epoll set of shmc_event_fd, tagged with
 * the attachment's id, until shmc_attachment_eventfd hands one to the
 * caller (a KVM irqfd consumes the counter, so nobody else may read it).
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shmclient_int.h"

#define SIG_BATCH 32

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* The peer eventfds of which that are open closed, and out of *peers:
 * by the mask, as an attach, a detach and a PeerChanged each pass here
 * and most regions have few members. */
static void
close_peers(int peer_efd[SHM_STATE_SLOTS], uint16_t *peers, uint32_t which)
{
	for (uint32_t left = *peers & which; left != 0;)
		close(peer_efd[shm_state_next(&left)]);
	*peers &= (uint16_t)~which;
}

void
shmc_af_init(struct att_fds *af)
{
	af->state_fd = af->own_efd = -1;
	af->peers = 0;
	af->active = 0;
	af->dev = 0;
	af->ino = 0;
}

void
shmc_af_close(struct att_fds *af)
{
	close_fd(&af->state_fd);
	close_fd(&af->own_efd);
	close_peers(af->peer_efd, &af->peers, SHM_STATE_ALL_OTHERS);
}

int
shmc_af_take(struct att_fds *af, struct wire_fds *fds, uint32_t index,
    uint32_t active)
{
	struct stat st;
	uint32_t peers, left;
	size_t k = 3;

	/* The daemon's word is not trusted: the index is checked before it
	 * becomes a shift. */
	if (index >= SHM_STATE_SLOTS || !(active & (1u << index)) ||
	    fds->n < k)
		return -EPROTO;
	/* One fd per peer, by ascending index; they are af's only once
	 * all of them and the state page are right. */
	left = peers = active & ~(1u << index) & 0xffffu;
	while (left != 0 && k < fds->n)
		af->peer_efd[shm_state_next(&left)] = fds->fd[k++];
	if (left != 0 || k != fds->n ||
	    shmc_memfd_ok(fds->fd[1], SHM_STATE_PAGE_SIZE, &st) < 0)
		return -EPROTO;
	af->state_fd = fds->fd[1];
	af->own_efd = fds->fd[2];
	af->peers = (uint16_t)peers;
	af->active = (uint16_t)active;
	/* The region memfd (fd[0]) stays for the caller. */
	fds->n = 1;
	return 0;
}

void
shmc_sig_init(struct att_signals *s)
{
	memset(s, 0, sizeof(*s));
	s->state_fd = s->own_efd = s->old_efd = -1;
}

static int
sig_watch(struct shmc *c, const struct attachment *a)
{
	struct epoll_event ev = { .events = EPOLLIN,
	    .data.u64 = a->user_id };

	return epoll_ctl(c->epfd, EPOLL_CTL_ADD, a->sig.own_efd, &ev) < 0 ?
	    -errno : 0;
}

/* Out of the epoll set before the close: the daemon holds the same
 * eventfd, so a close alone would leave it watched. */
static void
sig_unwatch(struct shmc *c, struct attachment *a)
{
	if (a->sig.own_efd >= 0 && !a->sig.claimed)
		epoll_ctl(c->epfd, EPOLL_CTL_DEL, a->sig.own_efd, NULL);
}

static void
sig_drop_peers(struct att_signals *s)
{
	close_peers(s->peer_efd, &s->peers, SHM_STATE_ALL_OTHERS);
	s->active = 0;
}

static void
sig_unmap(struct att_signals *s)
{
	if (s->state != NULL)
		munmap(s->state, SHM_STATE_PAGE_SIZE);
	s->state = NULL;
	close_fd(&s->state_fd);
}

static bool
sig_has_page(const struct att_signals *s)
{
	return s->state != NULL || s->state_fd >= 0;
}

struct shm_state_page *
shmc_sig_page(struct attachment *a)
{
	void *p;

	if (a->sig.state != NULL || a->sig.state_fd < 0)
		return a->sig.state;
	p = mmap(NULL, SHM_STATE_PAGE_SIZE, PROT_READ | PROT_WRITE,
	    MAP_SHARED, a->sig.state_fd, 0);
	if (p == MAP_FAILED)
		return NULL;
	/* The mapping keeps the page: its fd would only cost a slot. */
	close_fd(&a->sig.state_fd);
	a->sig.state = p;
	return p;
}

/* The new own eventfd of a claimed attachment: the caller still has the
 * old one bound and unbinds it when EVENTFD_CHANGED is dispatched. */
static void
sig_swap_claimed(struct shmc *c, struct attachment *a, int efd)
{
	struct shmc_event ev = { .kind = SHMC_EVENT_EVENTFD_CHANGED };

	if (a->sig.old_efd < 0)
		a->sig.old_efd = a->sig.own_efd;
	else
		close_fd(&a->sig.own_efd);	/* never handed out */
	a->sig.own_efd = efd;
	if (a->sig.change_queued)
		return;
	ev.client_id = a->user_id;
	ev.eventfd = -1;
	ev.old_eventfd = -1;
	shmc_queue_local(c, &ev);
	a->sig.change_queued = true;
}

int
shmc_sig_install(struct shmc *c, struct attachment *a, struct att_fds *af)
{
	int err = 0;

	sig_unmap(&a->sig);
	a->sig.state_fd = af->state_fd;
	af->state_fd = -1;
	sig_drop_peers(&a->sig);
	memcpy(a->sig.peer_efd, af->peer_efd, sizeof(af->peer_efd));
	a->sig.peers = af->peers;
	a->sig.active = af->active;
	if (a->sig.claimed && a->sig.own_efd >= 0) {
		sig_swap_claimed(c, a, af->own_efd);
	} else {
		sig_unwatch(c, a);
		close_fd(&a->sig.own_efd);
		a->sig.own_efd = af->own_efd;
		if (!a->sig.claimed)
			err = sig_watch(c, a);
	}
	shmc_af_init(af);
	return err;
}

void
shmc_sig_release(struct shmc *c, struct attachment *a)
{
	sig_unwatch(c, a);
	close_fd(&a->sig.own_efd);
	close_fd(&a->sig.old_efd);
	sig_drop_peers(&a->sig);
	sig_unmap(&a->sig);
}

void
shmc_sig_revoked(struct shmc *c, struct attachment *a)
{
	(void)c;
	/* The own eventfd stays until the detach: the caller may have it
	 * bound and must unbind it first. */
	sig_drop_peers(&a->sig);
	sig_unmap(&a->sig);
}

void
shmc_sig_lost(struct shmc *c, struct attachment *a)
{
	/* A handed-out eventfd (and one it replaced) stays for the caller
	 * to unbind before its detach. */
	if (a->sig.claimed)
		shmc_sig_revoked(c, a);
	else
		shmc_sig_release(c, a);
}

void
shmc_sig_peer_changed(struct attachment *a, const Shmbroker__PeerChanged *pc,
    struct wire_fds *fds)
{
	uint32_t idx = pc->index;

	if (!sig_has_page(&a->sig))
		return;		/* revoked or lost: nothing to keep */
	/* The newcomer's eventfd replaces whatever the index held (its
	 * last holder's, when a coalesced event skipped that one's detach),
	 * also when it did not come (our descriptor limit): that peer then
	 * cannot be woken directly, rather than a gone one be. */
	if (pc->attached && idx < SHM_STATE_SLOTS && idx != a->index) {
		close_peers(a->sig.peer_efd, &a->sig.peers, 1u << idx);
		if (fds->n == 1) {
			a->sig.peer_efd[idx] = fds->fd[0];
			a->sig.peers |= (uint16_t)(1u << idx);
			fds->n = 0;
		}
	}
	a->sig.active = (uint16_t)pc->active_mask;
	/* Coalesced events may skip a detach: the mask says who is gone. */
	close_peers(a->sig.peer_efd, &a->sig.peers, ~(uint32_t)a->sig.active);
}

/* The attachment whose direct path is usable, or NULL with the error. */
static struct attachment *
sig_usable(struct shmc *c, uint64_t client_id, int *err)
{
	struct attachment *a = shmc_att_by_user(c, client_id);

	*err = 0;
	if (a == NULL || a->lost != 0) {
		*err = shmc_fail(c, -ENOENT, "client %llu is not an attachment "
		    "of this connection", (unsigned long long)client_id);
		return NULL;
	}
	return a;
}

/* Not write(2): a peer can make its eventfd block (wake.h). A peer whose
 * fd is no eventfd (a lying daemon's) is not woken; the others are. */
static void
sig_wake(struct shmc *c, const struct attachment *a, uint16_t targets)
{
	int efd[SHM_STATE_SLOTS];
	size_t n = 0;

	for (uint32_t left = targets; left != 0;)
		efd[n++] = a->sig.peer_efd[shm_state_next(&left)];
	(void)wake_signal(c->wake, efd, n);
}

int
shmc_notify_direct(struct shmc *c, uint64_t client_id, uint32_t mask)
{
	int err;
	struct attachment *a = sig_usable(c, client_id, &err);
	struct shm_state_page *page;
	uint16_t targets;

	if (a == NULL)
		return err;
	if (a->revoked || !sig_has_page(&a->sig))
		return shmc_fail(c, -ENOENT, "client %llu was revoked by an "
		    "admin", (unsigned long long)client_id);
	/* A target named by index that we have not heard of may have
	 * attached with its event still in the socket: read that first (no
	 * daemon call). */
	if (mask != SHM_STATE_ALL_OTHERS &&
	    (mask & 0xffffu & ~a->sig.active & ~(1u << a->index)) &&
	    c->sock >= 0) {
		shmc_pump(c);
		if ((a = sig_usable(c, client_id, &err)) == NULL)
			return err;
		if (a->revoked || !sig_has_page(&a->sig))
			return 0;
	}
	if ((page = shmc_sig_page(a)) == NULL)
		return shmc_fail(c, -errno, "mapping the state page: %s",
		    strerror(errno));
	/* Only those whose eventfd came can be woken. */
	targets = shm_state_targets(a->sig.active, a->index, mask) &
	    a->sig.peers;
	/* At the first wake: letting a waker go costs an RCU grace period
	 * (wake.h), which a connection that never wakes a peer directly
	 * need not pay at its close. */
	if (targets != 0 && c->wake == NULL && wake_open(&c->wake) < 0)
		return shmc_fail(c, -ENOMEM, "out of memory");
	for (uint32_t left = targets; left != 0;)
		shm_state_post(page, a->index, shm_state_next(&left));
	if (targets != 0)
		sig_wake(c, a, targets);
	return 0;
}

int
shmc_status_direct(struct shmc *c, uint64_t client_id, uint32_t keep_mask,
    uint32_t *status)
{
	int err;
	struct attachment *a = sig_usable(c, client_id, &err);
	struct shm_state_page *page;
	uint32_t pending;

	*status = 0;
	if (a == NULL)
		return err;
	if (a->revoked || !sig_has_page(&a->sig))
		return 0;
	if ((page = shmc_sig_page(a)) == NULL)
		return shmc_fail(c, -errno, "mapping the state page: %s",
		    strerror(errno));
	pending = shm_state_take(page, a->index, keep_mask);
	/* A notifier we have not heard of attached before it notified: its
	 * PeerChanged is in the socket already (the daemon sends it before
	 * the attach reply). Read it (no daemon call), so that the mask
	 * names whoever the bits name, unless it has left since. */
	if ((pending & ~(uint32_t)a->sig.active & ~(1u << a->index)) != 0 &&
	    c->sock >= 0) {
		shmc_pump(c);
		if ((a = sig_usable(c, client_id, &err)) == NULL)
			return err;
		if (a->revoked)
			return 0;
	}
	*status = pending | (uint32_t)a->sig.active << 16;
	return 0;
}

int
shmc_attachment_eventfd(struct shmc *c, uint64_t client_id)
{
	struct attachment *a = shmc_att_by_user(c, client_id);

	if (a == NULL || a->lost != 0 || a->sig.own_efd < 0)
		return -ENOENT;
	if (!a->sig.claimed) {
		epoll_ctl(c->epfd, EPOLL_CTL_DEL, a->sig.own_efd, NULL);
		a->sig.claimed = true;
	}
	/* The new one, while its EVENTFD_CHANGED waits, is not the caller's
	 * yet: a second reconnect before the dispatch closes it (it was
	 * never handed out), and a caller that had bound it would hold a
	 * closed number, soon another file's. */
	if (a->sig.old_efd >= 0)
		return a->sig.old_efd;
	return a->sig.own_efd;
}

int
shmc_attachment_eventfd_release(struct shmc *c, uint64_t client_id)
{
	struct attachment *a = shmc_att_by_user(c, client_id);

	if (a == NULL || a->lost != 0 || a->sig.own_efd < 0)
		return -ENOENT;
	if (!a->sig.claimed)
		return 0;
	close_fd(&a->sig.old_efd);
	a->sig.claimed = false;
	return sig_watch(c, a);
}

bool
shmc_sig_change_fill(struct shmc *c, struct shmc_event *ev)
{
	struct attachment *a = shmc_att_by_user(c, ev->client_id);

	if (a == NULL || !a->sig.change_queued || a->lost != 0)
		return false;
	a->sig.change_queued = false;
	/* Given back meanwhile: the old one is closed already. */
	if (!a->sig.claimed || a->sig.old_efd < 0)
		return false;
	ev->eventfd = a->sig.own_efd;
	ev->old_eventfd = a->sig.old_efd;
	return true;
}

void
shmc_sig_change_done(struct shmc *c, uint64_t user_id)
{
	struct attachment *a = shmc_att_by_user(c, user_id);

	if (a != NULL)
		close_fd(&a->sig.old_efd);
}

/* The lowest index among pending bits: the notifier, when there is one. */
static uint32_t
sig_lowest(uint16_t pending)
{
	return pending != 0 ? (uint32_t)__builtin_ctz(pending) : 0;
}

int
shmc_sig_dispatch(struct shmc *c, shmc_event_cb cb, void *arg)
{
	struct epoll_event evs[SIG_BATCH];
	int n, count = 0;

	n = epoll_wait(c->epfd, evs, SIG_BATCH, 0);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct attachment *a;
		struct shmc_event ev;
		uint64_t v;

		/* The socket and the queue's eventfd carry 0. */
		if (evs[i].data.u64 == 0 ||
		    (a = shmc_att_by_user(c, evs[i].data.u64)) == NULL ||
		    a->sig.claimed || a->sig.own_efd < 0 ||
		    wake_drain(a->sig.own_efd, &v) != 1)
			continue;
		memset(&ev, 0, sizeof(ev));
		ev.kind = SHMC_EVENT_NOTIFICATION;
		ev.client_id = a->user_id;
		ev.pending = shmc_sig_page(a) != NULL ?
		    shm_state_peek(a->sig.state, a->index) : 0;
		ev.index = sig_lowest((uint16_t)ev.pending);
		ev.active_mask = a->sig.active;
		ev.eventfd = ev.old_eventfd = -1;
		cb(&ev, arg);
		count++;
	}
	return count;
}
