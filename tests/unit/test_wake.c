/* SPDX-License-Identifier: ISC */
/*
 * test_wake: proto/wake.c against the holder who makes an eventfd block.
 * Every eventfd here is opened blocking (as a holder's fcntl(F_SETFL, 0)
 * leaves a shared one) and either full (a write of 1 would block) or
 * empty (a read would block); a SIGALRM kills the test if anything
 * blocks. The same checks run once more in a child whose seccomp filter
 * refuses io_setup, where the waker falls back to guarded writes, and
 * in the child of a fork, which cannot use its parent's AIO context.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "wake.h"

#define FULL 0xfffffffffffffffeull

/* A blocking eventfd holding count. */
static int
efd_with(uint64_t count)
{
	int fd = eventfd(0, EFD_CLOEXEC);

	assert_true(fd >= 0);
	if (count != 0)
		assert_int_equal(write(fd, &count, sizeof(count)),
		    sizeof(count));
	return fd;
}

static uint64_t
efd_take(int fd)
{
	uint64_t v = 0;

	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	if (read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
		v = 0;
	return v;
}

/* Guarded: the kernel signals, so even a full blocking counter takes
 * it (saturating) and a plain one counts it. */
static void
test_signal_guarded(void **state)
{
	struct wake *w;
	int efd[3], bad[2];

	(void)state;
	assert_int_equal(wake_open(&w), 0);
	if (!wake_is_guarded(w)) {
		wake_close(w);
		skip();		/* no AIO where this runs */
	}
	efd[0] = efd_with(FULL);
	efd[1] = efd_with(0);
	efd[2] = efd_with(5);
	assert_int_equal(pipe(bad), 0);
	alarm(10);
	assert_int_equal(wake_signal(w, efd, 3), 0);
	assert_true(efd_take(efd[0]) >= FULL);
	assert_int_equal(efd_take(efd[1]), 1);
	assert_int_equal(efd_take(efd[2]), 6);
	/* A pipe (a lying daemon's "eventfd") is refused, not written;
	 * the eventfds beside it are woken all the same. */
	efd[0] = bad[1];
	assert_int_equal(wake_signal(w, efd, 3), -EINVAL);
	assert_int_equal(efd_take(efd[1]), 1);
	assert_int_equal(efd_take(efd[2]), 1);
	efd[1] = -1;
	assert_int_equal(wake_signal(w, efd + 1, 2), -EBADF);
	assert_int_equal(efd_take(efd[2]), 1);
	/* More than the ring holds, none of them reaped by hand. */
	for (int i = 0; i < 1000; i++)
		assert_int_equal(wake_signal(w, efd + 2, 1), 0);
	assert_int_equal(efd_take(efd[2]), 1000);
	alarm(0);
	close(efd[2]);
	close(bad[0]);
	close(bad[1]);
	wake_close(w);
}

static void
test_drain(void **state)
{
	uint64_t v = 7;
	int fd = efd_with(0);

	(void)state;
	alarm(10);
	assert_int_equal(wake_drain(fd, &v), 0);	/* empty, blocking */
	assert_int_equal(v, 0);
	v = 3;
	assert_int_equal(write(fd, &v, sizeof(v)), sizeof(v));
	assert_int_equal(wake_drain(fd, &v), 1);
	assert_int_equal(v, 3);
	assert_int_equal(wake_drain(fd, &v), 0);
	alarm(0);
	close(fd);
	assert_int_equal(wake_drain(fd, &v), -EBADF);
}

/* No AIO: a child whose filter refuses io_setup. */
static int
refuse_io_setup(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

/* In the child: 0 when every check held. */
static int
unguarded_checks(void)
{
	struct wake *w;
	uint64_t v = 0;
	int full = efd_with(FULL), plain = efd_with(0), efd[2];

	if (refuse_io_setup() < 0 || wake_open(&w) < 0 ||
	    wake_is_guarded(w))
		return 1;
	alarm(10);
	efd[0] = full;
	efd[1] = plain;
	/* The blocking one is not written; the other is woken. */
	if (fcntl(plain, F_SETFL, O_NONBLOCK) < 0 ||
	    wake_signal(w, efd, 2) != -EWOULDBLOCK)
		return 2;
	if (read(plain, &v, sizeof(v)) != (ssize_t)sizeof(v) || v != 1)
		return 3;
	/* Non-blocking and full: EAGAIN is a woken reader, not an error. */
	if (fcntl(full, F_SETFL, O_NONBLOCK) < 0 || wake_signal(w, efd, 1) != 0)
		return 4;
	wake_close(w);
	return 0;
}

static void
test_signal_unguarded(void **state)
{
	pid_t pid;
	int st;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(unguarded_checks());
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));	/* not killed by the alarm */
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* A child of a fork wakes through the waker its parent made (the AIO
 * context is the parent's alone: the child makes its own). */
static void
test_signal_after_fork(void **state)
{
	struct wake *w;
	int efd = efd_with(0), st;
	pid_t pid;

	(void)state;
	assert_int_equal(wake_open(&w), 0);
	assert_int_equal(wake_signal(w, &efd, 1), 0);	/* the parent's */
	assert_int_equal(efd_take(efd), 1);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(10);
		_exit(wake_signal(w, &efd, 1) == 0 &&
		    wake_signal(w, &efd, 1) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(efd_take(efd), 2);
	close(efd);
	wake_close(w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signal_guarded),
		cmocka_unit_test(test_drain),
		cmocka_unit_test(test_signal_unguarded),
		cmocka_unit_test(test_signal_after_fork),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
