/* SPDX-License-Identifier: ISC */
/*
 * shmbench: the benchmark program. Owns the command line, the selection of
 * figures, the run's signal handling and the helpers that every figure
 * group uses (clock, random numbers, daemons, connections). See README.md
 * for the figures and the output.
 *
 * SIGINT, SIGTERM and SIGHUP stay blocked while the benchmark runs and are
 * polled at checkpoints, so an interrupted run still stops its daemons,
 * children and temporary files the ordinary way; the hugepage pool has its
 * own guard process (pool.c) that restores it even after a SIGKILL.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define GROUP_FIGURES 4

struct group {
	const char *names[GROUP_FIGURES];
	int (*run)(struct bench *);
};

static const struct group groups[] = {
	{ { "attach_rtt", "attach_existing_rtt" }, fig_attach },
	{ { "create_hugetlb_2M", "create_hugetlb_64M", "create_shmem_2M",
	    "create_shmem_64M" }, fig_create },
	{ { "scale_connections", "scale_regions", "scale_rss",
	    "scale_attach" }, fig_scale },
	{ { "boot_storm", "boot_storm_p99" }, fig_storm },
	{ { "notify_flood" }, fig_flood },
	{ { "guest_notify", "guest_create_usable", "guest_copy_64M" },
	    fig_guest },
	{ { "ivshmem_qemu_qemu_rtt", "ivshmem_qemu_member_rtt",
	    "ivshmem_qemu_qemu_rtt_x", "ivshmem_qemu_member_rtt_x" },
	    fig_ivshmem },
};

#define NGROUPS (sizeof(groups) / sizeof(groups[0]))

static const struct option options[] = {
	{ "quick", no_argument, NULL, 'q' },
	{ "json", no_argument, NULL, 'j' },
	{ "only", required_argument, NULL, 'o' },
	{ "keep-pool", no_argument, NULL, 'k' },
	{ "daemon-log-level", required_argument, NULL, 'l' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: shmbench [--quick] [--json] [--only NAME] [--keep-pool]\n"
	    "                [--daemon-log-level LEVEL]\n\n"
	    "  --quick       reduced iterations, the scale run at 1/20 size\n"
	    "  --json        one JSON object per figure and line on stdout\n"
	    "  --only NAME   one figure, or every figure whose name starts\n"
	    "                with NAME_ (e.g. scale, create_hugetlb)\n"
	    "  --keep-pool   never change /proc/sys/vm/nr_hugepages\n"
	    "  --daemon-log-level LEVEL  the daemons' log level "
	    "(default notice)\n\n"
	    "figures:");
	for (size_t g = 0; g < NGROUPS; g++)
		for (int i = 0; i < GROUP_FIGURES && groups[g].names[i]; i++)
			fprintf(f, " %s", groups[g].names[i]);
	fprintf(f, "\n");
}

bool
bench_wants(const struct bench *b, const char *name)
{
	size_t len;

	if (b->only == NULL || strcmp(b->only, name) == 0)
		return true;
	len = strlen(b->only);
	return strncmp(name, b->only, len) == 0 && name[len] == '_';
}

static bool
group_wanted(const struct bench *b, const struct group *g)
{
	for (int i = 0; i < GROUP_FIGURES && g->names[i] != NULL; i++)
		if (bench_wants(b, g->names[i]))
			return true;
	return false;
}

/* A checkpoint: true once SIGINT, SIGTERM or SIGHUP has arrived. */
bool
bench_stopped(struct bench *b)
{
	sigset_t pending;

	if (b->interrupted)
		return true;
	if (sigpending(&pending) < 0)
		return false;
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(&b->stop, sig) == 1 &&
		    sigismember(&pending, sig) == 1)
			b->interrupted = true;
	return b->interrupted;
}

int
bench_measure(struct bench *b, bench_chunk_fn chunk, void *ctx,
    const struct samples *fig, size_t iters, size_t warmup, size_t most,
    char *err, size_t errlen)
{
	if (chunk(ctx, warmup, false) < 0)
		return -1;
	while (fig->n < iters) {
		size_t n = iters - fig->n;

		if (chunk(ctx, n < most ? n : most, true) < 0)
			return -1;
		if (bench_stopped(b)) {
			snprintf(err, errlen, "interrupted");
			return -1;
		}
	}
	return 0;
}

static uint64_t
ts_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
}

uint64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts_ns(&ts);
}

uint64_t
bench_cpu_ns(pid_t pid)
{
	struct timespec ts;
	clockid_t id = CLOCK_THREAD_CPUTIME_ID;

	if (pid != 0 && clock_getcpuclockid(pid, &id) != 0)
		return BENCH_CPU_UNKNOWN;
	if (clock_gettime(id, &ts) < 0)
		return BENCH_CPU_UNKNOWN;
	return ts_ns(&ts);
}

void
bench_cpu_add(struct bench_cpu *c, uint64_t before, uint64_t after,
    size_t ops)
{
	if (before == BENCH_CPU_UNKNOWN || after == BENCH_CPU_UNKNOWN)
		c->unknown = true;
	c->ns += after - before;
	c->ops += ops;
}

double
bench_cpu_us_per_op(const struct bench_cpu *c)
{
	if (c->unknown || c->ops == 0)
		return -1;
	return (double)c->ns / 1e3 / (double)c->ops;
}

/* xorshift64*: enough to pick connections; no global state. */
uint64_t
bench_random(struct bench *b)
{
	b->rng ^= b->rng >> 12;
	b->rng ^= b->rng << 25;
	b->rng ^= b->rng >> 27;
	return b->rng * 2685821657736338717ull;
}

/* Waits for a child of ours, killing it after timeout_ms. */
void
bench_reap(pid_t pid, int timeout_ms)
{
	int status;

	if (pid <= 0)
		return;
	for (int waited = 0; waited < timeout_ms; waited += 10) {
		if (waitpid(pid, &status, WNOHANG) != 0)
			return;
		poll(NULL, 0, 10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

int
bench_fork_server(struct bench *b, void (*serve)(int sock), int *sock,
    pid_t *pid)
{
	struct timeval tv = { BENCH_TIMEOUT_MS / 1000, 0 };
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	if ((*pid = fork()) < 0) {
		close(sv[0]);
		close(sv[1]);
		return -errno;
	}
	if (*pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pool_close_in_child(b);
		close(sv[0]);
		serve(sv[1]);
		_exit(0);
	}
	close(sv[1]);
	*sock = sv[0];
	/* Never hang on a dead server; costs nothing per call. */
	setsockopt(*sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return 0;
}

void
bench_server_ready(int ready)
{
	if (write(ready, "r", 1) != 1)
		_exit(1);
	close(ready);
}

int
bench_wait_ready(int ready)
{
	struct pollfd p = { .fd = ready, .events = POLLIN };
	char c;

	if (poll(&p, 1, BENCH_TIMEOUT_MS) != 1 || read(ready, &c, 1) != 1)
		return -1;
	return 0;
}

void
bench_error(struct bench *b, const char *group, const char *fmt, ...)
{
	va_list ap;

	(void)b;
	fprintf(stderr, "shmbench: %s: ", group);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

/*
 * Starts a daemon with extra (NULL-terminated, may be NULL) and the run's
 * log level. The stop signals are unblocked around the fork so that the
 * daemon does not inherit them blocked (it would then ignore SIGTERM).
 */
int
bench_start_daemon(struct bench *b, struct test_daemon *d,
    const char *const *extra)
{
	const char *argv[16];
	size_t n = 0;
	int rc;

	memset(d, 0, sizeof(*d));
	for (; extra != NULL && *extra != NULL && n < 12; extra++)
		argv[n++] = *extra;
	argv[n++] = "--log-level";
	argv[n++] = b->log_level;
	argv[n] = NULL;
	if (bench_stopped(b))
		return -1;
	sigprocmask(SIG_UNBLOCK, &b->stop, NULL);
	rc = harness_start_daemon(d, argv);
	sigprocmask(SIG_BLOCK, &b->stop, NULL);
	return rc;
}

void
bench_stop_daemon(struct test_daemon *d)
{
	if (d->pid > 0 || d->dir[0] != '\0')
		harness_stop_daemon(d);
}

int
bench_connect(const char *path, bool admin, struct shmc **out)
{
	char err[256];
	int rc;

	rc = shmc_connect(path, admin ? "shmbench admin" : "shmbench",
	    BENCH_TIMEOUT_MS, out, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "shmbench: connecting to %s: %s\n", path, err);
	return rc;
}

/* Many connections and regions need descriptors: take all we may. */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static bool
known_figure(const char *only)
{
	struct bench probe = { .only = only };

	for (size_t g = 0; g < NGROUPS; g++)
		if (group_wanted(&probe, &groups[g]))
			return true;
	return false;
}

static int
parse_args(struct bench *b, int argc, char **argv)
{
	int ch;

	while ((ch = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (ch) {
		case 'q': b->quick = true; break;
		case 'j': b->json = true; break;
		case 'o': b->only = optarg; break;
		case 'k': b->keep_pool = true; break;
		case 'l': b->log_level = optarg; break;
		case 'h': usage(stdout); return 1;
		default: usage(stderr); return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "shmbench: unexpected argument '%s'\n",
		    argv[optind]);
		return -1;
	}
	if (b->only != NULL && !known_figure(b->only)) {
		fprintf(stderr, "shmbench: --only %s: no such figure\n",
		    b->only);
		usage(stderr);
		return -1;
	}
	return 0;
}

static void
bench_init(struct bench *b)
{
	memset(b, 0, sizeof(*b));
	b->log_level = "notice";
	b->rng = bench_now_ns() | 1;
	b->pool.saved = -1;
	b->pool.guard_fd = -1;
	sigemptyset(&b->stop);
	sigaddset(&b->stop, SIGINT);
	sigaddset(&b->stop, SIGTERM);
	sigaddset(&b->stop, SIGHUP);
}

int
main(int argc, char **argv)
{
	struct bench *b = malloc(sizeof(*b));
	int rc;

	if (b == NULL)
		return 1;
	bench_init(b);
	if ((rc = parse_args(b, argc, argv)) != 0) {
		free(b);
		return rc < 0 ? 2 : 0;
	}
	raise_nofile();
	place_init(b);
	sigprocmask(SIG_BLOCK, &b->stop, NULL);
	/* Unbuffered-enough output: each figure is one flushed line. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	report_facts(b);
	for (size_t g = 0; g < NGROUPS && !bench_stopped(b); g++)
		if (group_wanted(b, &groups[g]) && groups[g].run(b) < 0)
			b->errors++;
	pool_restore(b);
	place_release(b);
	report_summary(b);
	if (b->interrupted) {
		fprintf(stderr, "shmbench: interrupted\n");
		rc = 130;
	} else
		rc = b->errors > 0 ? 1 : 0;
	free(b);
	return rc;
}
