/* SPDX-License-Identifier: ISC */
/*
 * pool: the kernel's hugepage pool for the hugetlb figures. When the pool
 * is short and we are allowed to, nr_hugepages is raised for the run and
 * put back afterwards. The putting back is done by a guard process that
 * waits for a pipe to close: whether shmbench returns, fails, is
 * interrupted or is killed outright, the pipe closes and the guard writes
 * the saved value. That needs no signal handler and no global state.
 * Reading and writing the pool is tests/harness's (testutil.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

/* The guard: ignores the signals a terminal sends and waits for EOF. */
static void
pool_guard_main(int rfd, long saved)
{
	char c;
	ssize_t n;
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	if (null >= 0) {
		/* Do not hold the reader of our stdout open. */
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
	}
	do
		n = read(rfd, &c, 1);
	while (n > 0 || (n < 0 && errno == EINTR));
	harness_hugepages_restore(saved, "shmbench");
	_exit(0);
}

static int
pool_start_guard(struct pool *p, long saved)
{
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	if ((pid = fork()) < 0) {
		int err = -errno;

		close(fds[0]);
		close(fds[1]);
		return err;
	}
	if (pid == 0) {
		close(fds[1]);
		pool_guard_main(fds[0], saved);
	}
	close(fds[0]);
	p->guard = pid;
	p->guard_fd = fds[1];
	p->saved = saved;
	return 0;
}

static uint64_t
pages_for(uint64_t bytes, uint64_t page)
{
	return (bytes + page - 1) / page;
}

/* Raises nr_hugepages by what is missing; p->why says why not. */
static int
pool_raise(struct pool *p, const struct harness_hugepages *pi, long missing)
{
	long want = pi->nr + missing;
	int err;

	if ((err = pool_start_guard(p, pi->nr)) < 0) {
		snprintf(p->why, sizeof(p->why), "cannot start the pool guard: "
		    "%s", strerror(-err));
		return -1;
	}
	if ((err = harness_hugepages_set(want)) < 0) {
		snprintf(p->why, sizeof(p->why), "cannot raise %s to %ld: %s",
		    HARNESS_NR_HUGEPAGES, want, strerror(-err));
		return -1;
	}
	p->raised_to = want;
	return 0;
}

/*
 * Makes the pool hold need_bytes of free hugepages. Returns 0 when it
 * does; -1 with b->pool.why set when the hugetlb figures must be skipped.
 */
int
pool_prepare(struct bench *b, uint64_t need_bytes)
{
	struct pool *p = &b->pool;
	struct harness_hugepages pi;
	long need, have;

	if (p->checked)
		return p->ready ? 0 : -1;
	p->checked = true;
	if (harness_hugepages_read(&pi) < 0 || pi.page_bytes == 0) {
		snprintf(p->why, sizeof(p->why), "the kernel has no hugepages");
		return -1;
	}
	need = (long)pages_for(need_bytes, pi.page_bytes);
	have = harness_hugepages_available(&pi);
	if (have < need && b->keep_pool) {
		snprintf(p->why, sizeof(p->why), "the hugepage pool has %ld "
		    "free pages, %ld needed, and --keep-pool forbids raising "
		    "it", have, need);
		return -1;
	}
	if (have < need && geteuid() != 0) {
		snprintf(p->why, sizeof(p->why), "the hugepage pool has %ld "
		    "free pages, %ld needed; run as root or raise %s", have,
		    need, HARNESS_NR_HUGEPAGES);
		return -1;
	}
	if (have < need && pool_raise(p, &pi, need - have) < 0) {
		pool_restore(b);
		return -1;
	}
	harness_hugepages_read(&pi);
	if ((have = harness_hugepages_available(&pi)) < need) {
		snprintf(p->why, sizeof(p->why), "the kernel could give the "
		    "hugepage pool only %ld free pages of the %ld needed",
		    have, need);
		pool_restore(b);
		return -1;
	}
	p->ready = true;
	return 0;
}

/* Restores nr_hugepages now: closes the pipe and waits for the guard. */
void
pool_restore(struct bench *b)
{
	struct pool *p = &b->pool;
	int status;

	if (p->guard_fd >= 0) {
		close(p->guard_fd);
		p->guard_fd = -1;
	}
	if (p->guard > 0) {
		for (int i = 0; i < 500; i++) {
			if (waitpid(p->guard, &status, WNOHANG) != 0)
				break;
			poll(NULL, 0, 10);
		}
		p->guard = 0;
	}
	/* A later group may prepare the pool again. */
	p->ready = false;
	p->checked = false;
}

/* A forked child must not keep the guard's pipe open. */
void
pool_close_in_child(const struct bench *b)
{
	if (b->pool.guard_fd >= 0)
		close(b->pool.guard_fd);
}
