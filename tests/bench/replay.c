/* SPDX-License-Identifier: ISC */
/*
 * replay: the system calls of an attach and its detach, made by both ends
 * in the order shmbrokerd and libshmclient make them (as strace shows
 * them), with none of the broker's code in between: no protobuf-c, no
 * policy, no registry, no event library. The attach figures print it next
 * to their floor, so that a figure above its target says how much of the
 * excess is these calls (the kernel's) and how much the broker's own work.
 *
 * Server side, per attach: epoll_wait, recvmsg, (a create: memfd_create,
 * ftruncate, F_ADD_SEALS of the region), sendmsg of the reply with three
 * fds (region, a state page and an eventfd from the stock), then the
 * stock's refill: sched_yield, memfd_create + ftruncate + F_ADD_SEALS of a
 * state page, eventfd2. Per detach: epoll_wait, recvmsg, a close of what
 * the attachment held, sendmsg. Client side, timed: sendmsg, recvmsg,
 * F_GET_SEALS + fstat of the region and of the state page, EPOLL_CTL_ADD
 * of the eventfd; untimed: the close of the region fd, then the detach
 * (sendmsg, recvmsg, EPOLL_CTL_DEL, two closes).
 *
 * The same for boot_storm's server: one process over every connection,
 * answering each attach as the daemon does in a storm, where the stock is
 * empty: a region's first attach makes its memfd and its state page, every
 * attach an eventfd; the reply carries the region, the state page, the
 * eventfd and each member's eventfd, and each member is sent the
 * newcomer's eventfd (PeerChanged).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "replay.h"
#include "wire.h"

#define RECV_BYTES 65536	/* the daemon's and libshmclient's buffer */

struct replay_server {
	int sock, ep;
	int region;		/* the existing region's memfd */
	int page, efd;		/* the stock */
	int held[3];		/* the attachment's: region if made, page, efd */
	char buf[RECV_BYTES];
};

/* A sealed memfd of bytes, in the daemon's order (daemon/memory.c): a
 * hugetlb one is mapped and unmapped once, which reserves its pages. */
static int
replay_region(const char *name, size_t bytes, bool huge)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING |
	    (huge ? MFD_HUGETLB : 0));
	void *p;

	if (fd < 0 || ftruncate(fd, (off_t)bytes) < 0)
		_exit(1);
	if (huge) {
		p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		    0);
		if (p == MAP_FAILED)
			_exit(1);
		munmap(p, bytes);
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
	    F_SEAL_SEAL) < 0)
		_exit(1);
	return fd;
}

static int
replay_memfd(const char *name)
{
	return replay_region(name, 4096, false);
}

/* A datagram of len bytes, its fds (when fds) moved into fds exactly. */
static ssize_t
replay_recv(int sock, void *buf, size_t len, int *fds, size_t nfds,
    int flags)
{
	struct wire_fds got = { .n = 0 };
	ssize_t n = wire_recv_flags(sock, buf, len, &got, flags);

	if (n == 0)
		n = -ECONNRESET;
	if (n > 0 && got.n != nfds)
		n = -EPROTO;
	if (n < 0) {
		wire_fds_close(&got);
		return n;
	}
	memcpy(fds, got.fd, sizeof(int) * nfds);
	return n;
}

static void
replay_attach(struct replay_server *s, const struct replay_req *q)
{
	bool create = q->kind == REPLAY_CREATE;
	int fds[3];

	if (create && (q->pages == 0 || q->pages > (1u << 20)))
		_exit(1);
	s->held[0] = create ? replay_region("shm:replay",
	    (size_t)q->pages * 4096, q->huge) : -1;
	fds[0] = create ? s->held[0] : s->region;
	fds[1] = s->held[1] = s->page;
	fds[2] = s->held[2] = s->efd;
	if (wire_send(s->sock, s->buf, create ? REPLAY_REPLY_CREATE_BYTES :
	    REPLAY_REPLY_FIND_BYTES, fds, 3) < 0)
		_exit(1);
	/* The daemon's stock refill (daemon/stock.c). */
	sched_yield();
	s->page = replay_memfd("shm-state");
	if ((s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		_exit(1);
}

static void
replay_detach(struct replay_server *s)
{
	for (int i = 2; i >= 0; i--)
		if (s->held[i] >= 0)
			close(s->held[i]);
	s->held[0] = s->held[1] = s->held[2] = -1;
	if (wire_send(s->sock, s->buf, REPLAY_REPLY_DETACH_BYTES, NULL, 0) < 0)
		_exit(1);
}

static void
replay_main(int sock)
{
	struct replay_server s;
	struct replay_req q;
	struct epoll_event ev = { .events = EPOLLIN }, evs[32];
	ssize_t n;

	s.sock = sock;
	s.ep = epoll_create1(EPOLL_CLOEXEC);
	if (s.ep < 0 || epoll_ctl(s.ep, EPOLL_CTL_ADD, sock, &ev) < 0)
		_exit(1);
	s.region = replay_memfd("shm:replay-existing");
	s.page = replay_memfd("shm-state");
	s.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s.held[0] = s.held[1] = s.held[2] = -1;
	for (;;) {
		if (epoll_wait(s.ep, evs, 32, -1) < 0 && errno != EINTR)
			_exit(1);
		n = replay_recv(sock, s.buf, sizeof(s.buf), NULL, 0, 0);
		if (n <= 0)
			_exit(n == -ECONNRESET ? 0 : 1);
		if ((size_t)n < sizeof(q))
			_exit(1);
		memcpy(&q, s.buf, sizeof(q));
		if (q.kind == REPLAY_DETACH)
			replay_detach(&s);
		else
			replay_attach(&s, &q);
	}
}

int
bench_replay_start(struct bench *b, struct bench_echo *e)
{
	return bench_fork_server(b, replay_main, &e->sock, &e->pid);
}

/* libshmclient's checks of a region memfd and a state page. */
static int
replay_check(int fd)
{
	struct stat st;

	if (fcntl(fd, F_GET_SEALS) < 0 || fstat(fd, &st) < 0)
		return -errno;
	return 0;
}

int
bench_replay_once(int sock, int ep, bool create, uint64_t *ns)
{
	char buf[RECV_BYTES];
	struct replay_req q = { .kind = create ? REPLAY_CREATE : REPLAY_FIND,
	    .pages = 1 };
	char req[REPLAY_REQ_FIND_BYTES] = { 0 };
	struct epoll_event ev = { .events = EPOLLIN };
	uint64_t t0, t1;
	int fds[3], rc;
	ssize_t n;

	memcpy(req, &q, sizeof(q));
	t0 = bench_now_ns();
	if ((rc = wire_send(sock, req, create ? REPLAY_REQ_CREATE_BYTES :
	    REPLAY_REQ_FIND_BYTES, NULL, 0)) < 0)
		return rc;
	if ((n = replay_recv(sock, buf, sizeof(buf), fds, 3, 0)) < 0)
		return (int)n;
	if ((rc = replay_check(fds[0])) == 0 &&
	    (rc = replay_check(fds[1])) == 0) {
		ev.data.fd = fds[2];
		rc = epoll_ctl(ep, EPOLL_CTL_ADD, fds[2], &ev) < 0 ? -errno : 0;
	}
	t1 = bench_now_ns();
	close(fds[0]);
	req[0] = REPLAY_DETACH;
	if (rc == 0 && (rc = wire_send(sock, req, REPLAY_REQ_DETACH_BYTES, NULL,
	    0)) == 0 && (n = replay_recv(sock, buf, sizeof(buf), NULL, 0,
	    0)) < 0)
		rc = (int)n;
	epoll_ctl(ep, EPOLL_CTL_DEL, fds[2], NULL);
	close(fds[2]);
	close(fds[1]);
	*ns = t1 - t0;
	return rc;
}

/* ---- boot_storm's server ---- */

#define STORM_REPLY_BYTES 20
#define STORM_PEER_BYTES 30

struct storm_name {
	int region, page;
	size_t n;
	int sock[BENCH_STORM_SHARE], efd[BENCH_STORM_SHARE];
};

static void
storm_replay_attach(struct storm_name *nm, int sock)
{
	uint8_t reply[STORM_REPLY_BYTES] = { BENCH_REPLAY_REPLY };
	uint8_t peer[STORM_PEER_BYTES] = { BENCH_REPLAY_PEER };
	int fds[3 + BENCH_STORM_SHARE], efd;

	if (nm->n == BENCH_STORM_SHARE)
		_exit(1);
	if (nm->n == 0) {
		nm->region = replay_memfd("shm:replay-storm");
		nm->page = replay_memfd("shm-state");
	}
	if ((efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		_exit(1);
	fds[0] = nm->region;
	fds[1] = nm->page;
	fds[2] = efd;
	memcpy(fds + 3, nm->efd, nm->n * sizeof(int));
	if (wire_send(sock, reply, sizeof(reply), fds, 3 + nm->n) < 0)
		_exit(1);
	for (size_t k = 0; k < nm->n; k++)
		if (wire_send(nm->sock[k], peer, sizeof(peer), &efd, 1) < 0)
			_exit(1);
	nm->sock[nm->n] = sock;
	nm->efd[nm->n++] = efd;
}

void
bench_replay_storm_main(int *socks, size_t n, size_t attaches)
{
	size_t nnames = (n + BENCH_STORM_SHARE - 1) / BENCH_STORM_SHARE *
	    attaches, open_ = n;
	struct storm_name *names = calloc(nnames, sizeof(*names));
	uint32_t *step = calloc(n, sizeof(*step));
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev[64];
	char buf[RECV_BYTES];

	if (names == NULL || step == NULL || ep < 0)
		_exit(1);
	for (size_t i = 0; i < n; i++) {
		struct epoll_event e = { .events = EPOLLIN, .data.u64 = i };

		if (epoll_ctl(ep, EPOLL_CTL_ADD, socks[i], &e) < 0)
			_exit(1);
	}
	while (open_ > 0) {
		int got = epoll_wait(ep, ev, 64, -1);

		for (int k = 0; k < got; k++) {
			size_t i = ev[k].data.u64;
			ssize_t len = replay_recv(socks[i], buf, sizeof(buf),
			    NULL, 0, MSG_DONTWAIT);

			if (len > 0 && step[i] < attaches) {
				storm_replay_attach(&names[i /
				    BENCH_STORM_SHARE * attaches + step[i]++],
				    socks[i]);
				continue;
			}
			if (len == -EAGAIN)
				continue;
			epoll_ctl(ep, EPOLL_CTL_DEL, socks[i], NULL);
			open_--;
		}
	}
	/* What a storm's connections leave, as the daemon drops it. */
	for (size_t j = 0; j < nnames; j++) {
		for (size_t k = 0; k < names[j].n; k++)
			close(names[j].efd[k]);
		if (names[j].n > 0) {
			close(names[j].region);
			close(names[j].page);
		}
	}
	_exit(0);
}
