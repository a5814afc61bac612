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

#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83	/* Linux 6.16 */
#endif

/* The kernel's most fds in one message (SCM_MAX_FD). */
#define REAPER_BATCH 253
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
	union {
		char buf[CMSG_SPACE(sizeof(int) * REAPER_BATCH)];
		struct cmsghdr align;
	} ctl;
	char byte = 0;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (n > 0) {
		memset(ctl.buf, 0, sizeof(ctl.buf));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	}
	return sendmsg(r->live.sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 ?
	    -errno : 0;
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
	union {
		char buf[CMSG_SPACE(sizeof(int) * REAPER_BATCH)];
		struct cmsghdr align;
	} ctl;
	struct reaper_held held = { NULL, 0, 0 };
	char byte;

	helper_child_init();
	for (;;) {
		struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
		    .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
		ssize_t n = recvmsg(HELPER_SOCK, &mh, MSG_CMSG_CLOEXEC);
		bool go = true;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL;
		    c = CMSG_NXTHDR(&mh, c)) {
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t i = 0; c->cmsg_type == SCM_RIGHTS &&
			    i < k; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int),
				    sizeof(fd));
				/* Without room to hold it, only this close
				 * can be the daemon's last. */
				if (!reaper_hold(&held, fd))
					close(fd);
				go = false;
			}
		}
		if (!go)
			continue;
		while (held.n > 0)
			close(held.fd[--held.n]);
	}
	/* The daemon has gone (or let this reaper go): its copies are
	 * closed, and these are the last. */
	while (held.n > 0)
		close(held.fd[--held.n]);
	_exit(0);
}
