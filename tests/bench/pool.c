/*
 * pool: the kernel's hugepage pool for the hugetlb figures. When the pool
 * is short and we are allowed to, nr_hugepages is raised for the run and
 * put back afterwards. The putting back is done by a guard process that
 * waits for a pipe to close: whether shmbench returns, fails, is
 * interrupted or is killed outright, the pipe closes and the guard writes
 * the saved value. That needs no signal handler and no global state.
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

#define NR_HUGEPAGES "/proc/sys/vm/nr_hugepages"

static int
read_long(const char *path, long *v)
{
	FILE *f = fopen(path, "re");
	int rc;

	if (f == NULL)
		return -errno;
	rc = fscanf(f, "%ld", v) == 1 ? 0 : -EINVAL;
	fclose(f);
	return rc;
}

static int
write_long(const char *path, long v)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	char buf[32];
	int len, rc = 0;

	if (fd < 0)
		return -errno;
	len = snprintf(buf, sizeof(buf), "%ld\n", v);
	if (write(fd, buf, (size_t)len) != len)
		rc = -errno;
	close(fd);
	return rc;
}

int
pool_read(struct pool_info *pi)
{
	char line[128];
	unsigned long long kib = 0;
	FILE *f = fopen("/proc/meminfo", "re");

	memset(pi, 0, sizeof(*pi));
	if (f == NULL)
		return -errno;
	while (fgets(line, sizeof(line), f) != NULL) {
		sscanf(line, "HugePages_Total: %ld", &pi->total);
		sscanf(line, "HugePages_Free: %ld", &pi->free);
		sscanf(line, "HugePages_Rsvd: %ld", &pi->rsvd);
		sscanf(line, "Hugepagesize: %llu kB", &kib);
	}
	fclose(f);
	pi->page_bytes = (uint64_t)kib * 1024;
	if (read_long(NR_HUGEPAGES, &pi->nr) < 0)
		pi->nr = pi->total;
	return 0;
}

static long
pool_available(const struct pool_info *pi)
{
	return pi->free > pi->rsvd ? pi->free - pi->rsvd : 0;
}

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
	if (write_long(NR_HUGEPAGES, saved) < 0)
		fprintf(stderr, "shmbench: could not restore %s to %ld\n",
		    NR_HUGEPAGES, saved);
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
pool_raise(struct pool *p, const struct pool_info *pi, long missing)
{
	long want = pi->nr + missing;
	int err;

	if ((err = pool_start_guard(p, pi->nr)) < 0) {
		snprintf(p->why, sizeof(p->why), "cannot start the pool guard: "
		    "%s", strerror(-err));
		return -1;
	}
	if ((err = write_long(NR_HUGEPAGES, want)) < 0) {
		snprintf(p->why, sizeof(p->why), "cannot raise %s to %ld: %s",
		    NR_HUGEPAGES, want, strerror(-err));
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
	struct pool_info pi;
	long need, missing;

	if (p->checked)
		return p->ready ? 0 : -1;
	p->checked = true;
	if (pool_read(&pi) < 0 || pi.page_bytes == 0) {
		snprintf(p->why, sizeof(p->why), "the kernel has no hugepages");
		return -1;
	}
	need = (long)pages_for(need_bytes, pi.page_bytes);
	missing = need - pool_available(&pi);
	if (missing > 0 && b->keep_pool) {
		snprintf(p->why, sizeof(p->why), "the hugepage pool has %ld "
		    "free pages, %ld needed, and --keep-pool forbids raising "
		    "it", pool_available(&pi), need);
		return -1;
	}
	if (missing > 0 && geteuid() != 0) {
		snprintf(p->why, sizeof(p->why), "the hugepage pool has %ld "
		    "free pages, %ld needed; run as root or raise %s",
		    pool_available(&pi), need, NR_HUGEPAGES);
		return -1;
	}
	if (missing > 0 && pool_raise(p, &pi, missing) < 0) {
		pool_restore(b);
		return -1;
	}
	pool_read(&pi);
	if (pool_available(&pi) < need) {
		snprintf(p->why, sizeof(p->why), "the kernel could give the "
		    "hugepage pool only %ld free pages of the %ld needed",
		    pool_available(&pi), need);
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
	p->ready = false;
}

/* A forked child must not keep the guard's pipe open. */
void
pool_close_in_child(const struct bench *b)
{
	if (b->pool.guard_fd >= 0)
		close(b->pool.guard_fd);
}
