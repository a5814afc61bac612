/* SPDX-License-Identifier: ISC */
/*
 * wake: eventfd wakes and drains that never block (see wake.h).
 *
 * The AIO context's completions are never looked at: each one is a write
 * of nothing to /dev/null. The ring they land in is mapped into this
 * process, and the kernel takes back the requests it counts as in flight
 * from the ring's head, which user space may move (libaio's reaping
 * without a system call does the same); so after each submission the head
 * is set to the tail. A ring whose layout is not the one known here is
 * emptied with io_getevents instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "wake.h"

#define WAKE_RING_MAGIC 0xa10a10a1u

/* The head of the completion ring io_setup maps (fs/aio.c). */
struct wake_ring {
	unsigned id, nr, head, tail;
	unsigned magic, compat_features, incompat_features, header_length;
};

struct wake {
	aio_context_t ctx;	/* 0: no AIO, guarded writes */
	struct wake_ring *ring;	/* the ctx's ring, when its layout is known */
	int null_fd;
};

/* The context's ring, when its layout is the one known here. */
static struct wake_ring *
wake_ring_of(aio_context_t ctx)
{
	struct wake_ring *r = (struct wake_ring *)(uintptr_t)ctx;

	return r->magic == WAKE_RING_MAGIC && r->incompat_features == 0 &&
	    r->header_length == sizeof(*r) ? r : NULL;
}

int
wake_open(struct wake **out)
{
	struct wake *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return -ENOMEM;
	w->null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (w->null_fd >= 0 && syscall(SYS_io_setup, WAKE_BATCH, &w->ctx) < 0)
		w->ctx = 0;
	if (w->ctx != 0)
		w->ring = wake_ring_of(w->ctx);
	*out = w;
	return 0;
}

void
wake_close(struct wake *w)
{
	if (w == NULL)
		return;
	if (w->ctx != 0)
		syscall(SYS_io_destroy, w->ctx);
	if (w->null_fd >= 0)
		close(w->null_fd);
	free(w);
}

bool
wake_is_guarded(const struct wake *w)
{
	return w->ctx != 0;
}

/* Forgets every completion, so that their requests count as done. */
static void
wake_reap(struct wake *w)
{
	struct io_event ev[WAKE_BATCH];
	struct timespec now = { 0, 0 };

	if (w->ring != NULL)
		__atomic_store_n(&w->ring->head, __atomic_load_n(&w->ring->tail,
		    __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);
	else
		while (syscall(SYS_io_getevents, w->ctx, 0, WAKE_BATCH, ev,
		    &now) == WAKE_BATCH)
			continue;
}

/* Without AIO: a write only while the flag says it cannot block. */
static int
wake_write_guarded(int efd)
{
	uint64_t one = 1;
	int fl = fcntl(efd, F_GETFL);

	if (fl < 0)
		return -errno;
	if (!(fl & O_NONBLOCK))
		return -EWOULDBLOCK;
	/* EAGAIN: the counter is full, so its reader is woken already. */
	if (write(efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

static int
wake_unguarded(const int *efd, size_t n)
{
	int err = 0, rc;

	for (size_t i = 0; i < n; i++)
		if ((rc = wake_write_guarded(efd[i])) < 0 && err == 0)
			err = rc;
	return err;
}

/* A context is the process's that made it: after a fork every
 * submission is refused (EINVAL, as for an fd that is no eventfd), so a
 * child makes its own. */
static bool
wake_ctx_lost(struct wake *w)
{
	if (syscall(SYS_io_submit, w->ctx, 0L, NULL) == 0)
		return false;
	w->ring = NULL;
	if (syscall(SYS_io_setup, WAKE_BATCH, &w->ctx) < 0)
		w->ctx = 0;
	else
		w->ring = wake_ring_of(w->ctx);
	return true;
}

int
wake_signal(struct wake *w, const int *efd, size_t n)
{
	struct iocb cb[WAKE_BATCH], *p[WAKE_BATCH];
	size_t done = 0;
	bool reaped = false;
	int err = 0;

	if (n > WAKE_BATCH)
		return -E2BIG;
	if (w->ctx == 0)
		return wake_unguarded(efd, n);
	memset(cb, 0, n * sizeof(cb[0]));
	for (size_t i = 0; i < n; i++) {
		/* Nothing written: a byte cost a fifth more here. */
		cb[i].aio_lio_opcode = IOCB_CMD_PWRITE;
		cb[i].aio_fildes = (uint32_t)w->null_fd;
		cb[i].aio_flags = IOCB_FLAG_RESFD;
		cb[i].aio_resfd = (uint32_t)efd[i];
		p[i] = &cb[i];
	}
	while (done < n) {
		long k = syscall(SYS_io_submit, w->ctx, (long)(n - done),
		    p + done);
		int e = k < 0 ? errno : EAGAIN;

		if (k > 0) {
			done += (size_t)k;
		} else if (e == EINTR) {
			continue;
		} else if (e == EAGAIN && !reaped) {
			wake_reap(w);	/* completions not yet forgotten */
			reaped = true;
		} else if (e == EINVAL && wake_ctx_lost(w) && w->ctx != 0) {
			continue;	/* a fork's child, with its own now */
		} else if (e == EAGAIN || w->ctx == 0) {
			int rc = wake_unguarded(efd + done, n - done);

			return err != 0 ? err : rc;
		} else {
			/* p[done] was refused: its fd is no eventfd. */
			if (err == 0)
				err = -e;
			done++;
		}
	}
	wake_reap(w);
	return err;
}

int
wake_drain(int efd, uint64_t *count)
{
	struct iovec iov = { count, sizeof(*count) };
	ssize_t n = preadv2(efd, &iov, 1, -1, RWF_NOWAIT);

	if (n < 0 && errno == EOPNOTSUPP) {
		/* A kernel before 5.12: the flag is put back (the eventfd was
		 * made non-blocking), which a holder can race; left unread,
		 * the caller's level-triggered loop would spin. */
		int fl = fcntl(efd, F_GETFL);

		if (fl < 0)
			return -errno;
		if (!(fl & O_NONBLOCK) && fcntl(efd, F_SETFL, fl | O_NONBLOCK) < 0)
			return -errno;
		n = read(efd, count, sizeof(*count));
	}
	if (n == (ssize_t)sizeof(*count))
		return 1;
	*count = 0;
	if (n < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}
