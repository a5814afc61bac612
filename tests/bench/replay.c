/* SPDX-License-Identifier: ISC */
/*
 * replay: the controls' servers (replay.h), which make shmbrokerd's system
 * calls in its order (as strace shows them) with none of its code: no
 * protobuf-c, no policy, no registry, no event library. A figure above its
 * target then says how much of the excess is these calls (the kernel's)
 * and how much the broker's own work.
 *
 * Both keep a stock of state pages and eventfds as daemon/stock.c does
 * (STOCK_MAX of each, made at start) and refill what was taken once the
 * turn of the loop that took it is over, after a sched_yield.
 *
 * The attach server, per attach: epoll_wait, recvmsg, (a create: the
 * region's memfd, as daemon/memory.c makes it), sendmsg of the reply with
 * the region, a state page and an eventfd, then the refill. Per detach:
 * epoll_wait, recvmsg, a close of what the attachment held, sendmsg.
 * bench_replay_once is its client, making libshmclient's calls: timed,
 * sendmsg, recvmsg, F_GET_SEALS + fstat of the region and of the state
 * page, EPOLL_CTL_ADD of the eventfd; untimed, the close of the region fd
 * and the detach (sendmsg, recvmsg, EPOLL_CTL_DEL, two closes).
 *
 * The storm server: one epoll loop over every connection of boot_storm's
 * driver, a region's first attach making its memfd, each attach taking a
 * state page (the region's first) and an eventfd from the stock or making
 * them when it is empty, as in a storm, then PeerChanged with the
 * newcomer's eventfd to each member, then the reply with the region, the
 * state page, the eventfd and every member's eventfd.
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

#define RECV_BYTES	65536	/* the daemon's and libshmclient's buffer */
#define REPLAY_STOCK	8	/* daemon/broker.h STOCK_MAX */

/* ---- what both servers make ---- */

static int
replay_huge(const char *name, uint64_t bytes, uint64_t huge)
{
	uint64_t hbytes = (bytes + huge - 1) / huge * huge;
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING |
	    MFD_HUGETLB);
	void *p;

	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)hbytes) < 0 || (p = mmap(NULL, hbytes,
	    PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		close(fd);
		return -1;
	}
	munmap(p, hbytes);
	return fd;
}

/* A sealed memfd of bytes, as daemon/memory.c's memory_create makes it:
 * with REPLAY_MEM_PREFER, hugetlb first (mapped and unmapped once, which
 * reserves its pages) when the kernel has huge pages and the region is at
 * least one, else, or when that fails, shmem. */
int
bench_replay_memfd(const char *name, uint64_t bytes, int mem,
    uint64_t huge_bytes)
{
	int fd = -1;

	if (mem == REPLAY_MEM_PREFER && huge_bytes != 0 && bytes >= huge_bytes)
		fd = replay_huge(name, bytes, huge_bytes);
	if (fd < 0 && ((fd = memfd_create(name, MFD_CLOEXEC |
	    MFD_ALLOW_SEALING)) < 0 || ftruncate(fd, (off_t)bytes) < 0))
		_exit(1);
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
	    F_SEAL_SEAL) < 0)
		_exit(1);
	return fd;
}

static int
replay_state_page(void)
{
	return bench_replay_memfd("shm-state", 4096, REPLAY_MEM_SHMEM, 0);
}

static int
replay_eventfd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	if (fd < 0)
		_exit(1);
	return fd;
}

struct replay_stock {
	int page[REPLAY_STOCK], efd[REPLAY_STOCK];
	int npages, nefds;
	bool taken;		/* since the last refill */
};

static void
stock_fill(struct replay_stock *st)
{
	while (st->npages < REPLAY_STOCK)
		st->page[st->npages++] = replay_state_page();
	while (st->nefds < REPLAY_STOCK)
		st->efd[st->nefds++] = replay_eventfd();
}

/* The last of fds, or one made now when there is none (an empty stock
 * is no failure, as in daemon/stock.c). */
static int
stock_take(struct replay_stock *st, int *fds, int *n, int (*make)(void))
{
	if (*n == 0)
		return make();
	st->taken = true;
	return fds[--*n];
}

static int
stock_page(struct replay_stock *st)
{
	return stock_take(st, st->page, &st->npages, replay_state_page);
}

static int
stock_eventfd(struct replay_stock *st)
{
	return stock_take(st, st->efd, &st->nefds, replay_eventfd);
}

/* The loop's turn is over: what it took is made again (daemon/stock.c). */
static void
stock_refill(struct replay_stock *st)
{
	if (!st->taken)
		return;
	sched_yield();
	stock_fill(st);
	st->taken = false;
}

/* A datagram of len bytes, its fds moved into fds when there are exactly
 * nfds; 0 at the peer's hang-up, else -errno. */
static ssize_t
replay_recv(int sock, void *buf, size_t len, int *fds, size_t nfds,
    int flags)
{
	struct wire_fds got = { .n = 0 };
	ssize_t n = wire_recv_flags(sock, buf, len, &got, flags);

	if (n > 0 && got.n != nfds)
		n = -EPROTO;
	if (n <= 0) {
		wire_fds_close(&got);
		return n;
	}
	if (nfds > 0)
		memcpy(fds, got.fd, sizeof(int) * nfds);
	return n;
}

/* ---- the attach server ---- */

struct replay_server {
	int sock, ep;
	int region;		/* the existing region's memfd */
	struct replay_stock stock;
	int held[3];		/* the attachment's: region if made, page, efd */
	char buf[RECV_BYTES];
};

static void
replay_attach(struct replay_server *s, const struct replay_req *q)
{
	bool create = q->kind == REPLAY_CREATE;
	int fds[3];

	if (create && (q->pages == 0 || q->pages > (1u << 20)))
		_exit(1);
	s->held[0] = create ? bench_replay_memfd("shm:replay",
	    (uint64_t)q->pages * 4096, q->mem, (uint64_t)q->huge_kib * 1024) :
	    -1;
	fds[0] = create ? s->held[0] : s->region;
	fds[1] = s->held[1] = stock_page(&s->stock);
	fds[2] = s->held[2] = stock_eventfd(&s->stock);
	if (wire_send(s->sock, s->buf, create ? REPLAY_REPLY_CREATE_BYTES :
	    REPLAY_REPLY_FIND_BYTES, fds, 3) < 0)
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
	struct replay_server s = { .sock = sock, .held = { -1, -1, -1 } };
	struct epoll_event ev = { .events = EPOLLIN }, evs[32];
	struct replay_req q;
	ssize_t n;

	s.ep = epoll_create1(EPOLL_CLOEXEC);
	if (s.ep < 0 || epoll_ctl(s.ep, EPOLL_CTL_ADD, sock, &ev) < 0)
		_exit(1);
	s.region = replay_state_page();
	stock_fill(&s.stock);
	for (;;) {
		if (epoll_wait(s.ep, evs, 32, -1) < 0 && errno != EINTR)
			_exit(1);
		n = replay_recv(sock, s.buf, sizeof(s.buf), NULL, 0, 0);
		if (n == 0)
			_exit(0);
		if (n < 0)
			_exit(1);
		/* A detach is shorter than the struct: only its kind. */
		memset(&q, 0, sizeof(q));
		memcpy(&q, s.buf, (size_t)n < sizeof(q) ? (size_t)n :
		    sizeof(q));
		if (q.kind == REPLAY_DETACH)
			replay_detach(&s);
		else
			replay_attach(&s, &q);
		stock_refill(&s.stock);
	}
}

int
bench_replay_start(struct bench *b, struct bench_echo *e)
{
	return bench_fork_server(b, replay_main, &e->sock, &e->pid);
}

int
bench_replay_once(int sock, int ep, bool create, uint64_t *ns)
{
	char buf[RECV_BYTES];
	struct replay_req q = { .kind = create ? REPLAY_CREATE : REPLAY_FIND,
	    .pages = 1 };
	char req[REPLAY_REQ_FIND_BYTES] = { 0 };
	struct epoll_event ev = { .events = EPOLLIN };
	struct stat st;
	uint64_t t0, t1;
	int fds[3], rc, drc;
	ssize_t n;

	memcpy(req, &q, sizeof(q));
	t0 = bench_now_ns();
	if ((rc = wire_send(sock, req, create ? REPLAY_REQ_CREATE_BYTES :
	    REPLAY_REQ_FIND_BYTES, NULL, 0)) < 0)
		return rc;
	if ((n = replay_recv(sock, buf, sizeof(buf), fds, 3, 0)) <= 0)
		return n == 0 ? -ECONNRESET : (int)n;
	if ((rc = replay_check(fds[0], &st)) == 0 &&
	    (rc = replay_check(fds[1], &st)) == 0) {
		ev.data.fd = fds[2];
		rc = epoll_ctl(ep, EPOLL_CTL_ADD, fds[2], &ev) < 0 ? -errno : 0;
	}
	t1 = bench_now_ns();
	close(fds[0]);
	/* The server holds the attachment whatever the checks said. */
	q.kind = REPLAY_DETACH;
	memcpy(req, &q, sizeof(q));
	if ((drc = wire_send(sock, req, REPLAY_REQ_DETACH_BYTES, NULL,
	    0)) == 0 && (n = replay_recv(sock, buf, sizeof(buf), NULL, 0,
	    0)) <= 0)
		drc = n == 0 ? -ECONNRESET : (int)n;
	epoll_ctl(ep, EPOLL_CTL_DEL, fds[2], NULL);
	close(fds[2]);
	close(fds[1]);
	*ns = t1 - t0;
	return rc < 0 ? rc : drc;
}

/* ---- boot_storm's server ---- */

struct storm_name {
	int region, page;
	size_t n;
	int sock[REPLAY_STORM_SHARE], efd[REPLAY_STORM_SHARE];
};

/* The members are told first, then the newcomer (daemon/region.c). */
static void
storm_replay_attach(struct storm_name *nm, struct replay_stock *st, int sock)
{
	uint8_t reply[REPLAY_STORM_REPLY_BYTES] = { REPLAY_STORM_REPLY };
	uint8_t peer[REPLAY_STORM_PEER_BYTES] = { REPLAY_STORM_PEER };
	int fds[3 + REPLAY_STORM_SHARE], efd;

	if (nm->n == REPLAY_STORM_SHARE)
		_exit(1);
	if (nm->n == 0) {
		nm->region = bench_replay_memfd("shm:replay-storm", 4096,
		    REPLAY_MEM_SHMEM, 0);
		nm->page = stock_page(st);
	}
	efd = stock_eventfd(st);
	for (size_t k = 0; k < nm->n; k++)
		if (wire_send(nm->sock[k], peer, sizeof(peer), &efd, 1) < 0)
			_exit(1);
	fds[0] = nm->region;
	fds[1] = nm->page;
	fds[2] = efd;
	memcpy(fds + 3, nm->efd, nm->n * sizeof(int));
	if (wire_send(sock, reply, sizeof(reply), fds, 3 + nm->n) < 0)
		_exit(1);
	nm->sock[nm->n] = sock;
	nm->efd[nm->n++] = efd;
}

/* One connection's turn: 0, or 1 when it hung up. */
static int
storm_replay_read(struct storm_name *names, struct replay_stock *st,
    int *socks, uint32_t *step, size_t i, size_t attaches)
{
	char buf[256];
	ssize_t len = replay_recv(socks[i], buf, sizeof(buf), NULL, 0,
	    MSG_DONTWAIT);

	if (len == -EAGAIN)
		return 0;
	if (len == 0)
		return 1;
	if (len < 0 || step[i] >= attaches)
		_exit(1);
	storm_replay_attach(&names[i / REPLAY_STORM_SHARE * attaches +
	    step[i]++], st, socks[i]);
	return 0;
}

void
bench_replay_storm_main(int *socks, size_t n, size_t attaches, int ready)
{
	size_t nnames = (n + REPLAY_STORM_SHARE - 1) / REPLAY_STORM_SHARE *
	    attaches, open_ = n;
	struct storm_name *names = calloc(nnames, sizeof(*names));
	uint32_t *step = calloc(n, sizeof(*step));
	int ep = epoll_create1(EPOLL_CLOEXEC), got;
	struct replay_stock st = { .npages = 0 };
	struct epoll_event ev[64];

	if (names == NULL || step == NULL || ep < 0)
		_exit(1);
	for (size_t i = 0; i < n; i++) {
		struct epoll_event e = { .events = EPOLLIN, .data.u64 = i };

		if (epoll_ctl(ep, EPOLL_CTL_ADD, socks[i], &e) < 0)
			_exit(1);
	}
	stock_fill(&st);
	bench_server_ready(ready);
	while (open_ > 0) {
		if ((got = epoll_wait(ep, ev, 64, -1)) < 0 && errno != EINTR)
			_exit(1);
		for (int k = 0; k < got; k++)
			if (storm_replay_read(names, &st, socks,
			    step, ev[k].data.u64, attaches) == 1) {
				epoll_ctl(ep, EPOLL_CTL_DEL,
				    socks[ev[k].data.u64], NULL);
				open_--;
			}
		stock_refill(&st);
	}
	_exit(0);
}
