/* SPDX-License-Identifier: ISC */
/*
 * reaper: closing peers' fds in a helper process (reaper.h).
 *
 * The daemon sends the fds over the reaper's socket, closes its own
 * copies, and then sends a go: a message without fds, on which the
 * reaper closes all it holds. Its closes are thus the last, never the
 * daemon's, which a reaper that took the fds and closed them at once
 * could leave to the daemon. A send that fails (the reaper's queue is
 * full because a close is stuck, or the reaper died) lets that reaper go
 * with SIGKILL and starts another; the one let go closes what it holds
 * as it dies. At most REAPER_MAX are kept, the stuck ones among them
 * reaped once they end. Past that, the daemon closes inline, as it did
 * before there was a reaper.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper.h"
#include "reaper.h"
#include "wire.h"

#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83	/* Linux 6.16 */
#endif

/* The kernel's most fds in one message (SCM_MAX_FD). */
#define REAPER_BATCH WIRE_SCM_MAX_FD
#define REAPER_MAX 8

struct reaper {
	struct helper live;		/* pid 0: none yet */
	pid_t stuck[REAPER_MAX];	/* let go, not yet reaped */
	size_t nstuck;
};

struct reaper *
reaper_new(void)
{
	return calloc(1, sizeof(struct reaper));
}

/* Reaps the stuck reapers that have ended since. */
static void
reaper_reap(struct reaper *r)
{
	for (size_t i = 0; i < r->nstuck;)
		if (waitpid(r->stuck[i], NULL, WNOHANG) != 0)
			r->stuck[i] = r->stuck[--r->nstuck];
		else
			i++;
}

/* Lets the live reaper go (a close of its may never end: it is not
 * waited for) and starts another, unless REAPER_MAX are around. */
static int
reaper_replace(struct reaper *r)
{
	reaper_reap(r);
	if (r->live.pid > 0) {
		r->stuck[r->nstuck++] = r->live.pid;
		helper_end(&r->live, true, false);
	}
	if (r->nstuck >= REAPER_MAX - 1)
		return -EAGAIN;
	return helper_spawn("shmbroker-reaper", REAPER_ARG, &r->live);
}

/* One message to the live reaper: the n fds to hold, or with n 0 the go
 * to close what it holds. */
static int
reaper_send(struct reaper *r, const int *fds, size_t n)
{
	char byte = 0;

	return wire_send_fds(r->live.sock, &byte, 1, fds, n, MSG_DONTWAIT);
}

/* Hands n (at most REAPER_BATCH) fds to a reaper: 0 or -errno. */
static int
reaper_hand(struct reaper *r, const int *fds, size_t n)
{
	if (r->live.pid == 0 && reaper_replace(r) < 0)
		return -EAGAIN;
	if (reaper_send(r, fds, n) == 0)
		return 0;
	if (reaper_replace(r) < 0)
		return -EAGAIN;
	return reaper_send(r, fds, n);
}

void
reaper_close_all(struct reaper *r, const int *fds, size_t n)
{
	while (n > 0) {
		size_t k = n < REAPER_BATCH ? n : REAPER_BATCH;
		bool handed = r != NULL && reaper_hand(r, fds, k) == 0;

		/* Handed, these copies are not the last; else there is
		 * nothing better than to close them here. */
		for (size_t i = 0; i < k; i++)
			close(fds[i]);
		/* A reaper that cannot take the go is let go, and closes
		 * what it holds as it dies. */
		if (handed && reaper_send(r, NULL, 0) < 0)
			(void)reaper_replace(r);
		fds += k;
		n -= k;
	}
}

void
reaper_close(struct reaper *r, int fd)
{
	if (fd >= 0)
		reaper_close_all(r, &fd, 1);
}

bool
reaper_refuse_fds(int listen_fd)
{
	const char *no = getenv("SHMBROKER_TEST_NO_PASSRIGHTS");
	int off = 0;

	if (no != NULL && strcmp(no, "1") == 0)
		return false;
	return setsockopt(listen_fd, SOL_SOCKET, SO_PASSRIGHTS, &off,
	    sizeof(off)) == 0;
}

void
reaper_free(struct reaper *r)
{
	if (r == NULL)
		return;
	/* A live reaper exits on the end of its input, once its closes are
	 * done; none is waited for. */
	helper_end(&r->live, false, false);
	reaper_reap(r);
	free(r);
}

/* The fds a reaper holds until the go; false when memory ran out. */
struct reaper_held {
	int *fd;
	size_t n, cap;
};

static bool
reaper_hold(struct reaper_held *h, int fd)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 256;
		int *p = realloc(h->fd, cap * sizeof(*p));

		if (p == NULL)
			return false;
		h->fd = p;
		h->cap = cap;
	}
	h->fd[h->n++] = fd;
	return true;
}

int
reaper_main(void)
{
	struct reaper_held held = { NULL, 0, 0 };
	int fds[WIRE_SCM_MAX_FD];
	char byte;

	helper_child_init();
	for (;;) {
		size_t nfds = 0;
		ssize_t n = wire_recv_every(HELPER_SOCK, &byte, 1, fds, &nfds,
		    0);

		/* Without room to hold one, only its close can be the
		 * daemon's last. */
		for (size_t i = 0; i < nfds; i++)
			if (!reaper_hold(&held, fds[i]))
				close(fds[i]);
		if (n == 0 || (n < 0 && n != -EINTR && n != -ETOOMANYREFS &&
		    n != -ENOMSG && n != -EMSGSIZE && n != -EPROTO))
			break;
		if (nfds > 0 || n < 0)
			continue;
		while (held.n > 0)	/* the go */
			close(held.fd[--held.n]);
	}
	/* The daemon has gone (or let this reaper go): its copies are
	 * closed, and these are the last. */
	while (held.n > 0)
		close(held.fd[--held.n]);
	_exit(0);
}
