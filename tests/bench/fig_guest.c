/* SPDX-License-Identifier: ISC */
/*
 * fig_guest: the guest figures, measured by guests in shm-vm processes on a
 * real daemon, each next to floors taken in the same run:
 * - guest_notify: guest A writes `notify`, guest B takes the interrupt and
 *   notifies back; half of A's round trip. Floor: a bare MMIO exit round
 *   trip (guest bench_mmio, an address nobody claims) plus a one-way
 *   eventfd wakeup between two processes.
 * - guest_create_usable: the guest's `size` write of a fresh 2 MiB region
 *   until it returns with the region mapped. Floor: MMIO exit + the
 *   SOCK_SEQPACKET request/reply with an fd + memfd setup of 2 MiB
 *   (hugetlb when the pool has room, as the region).
 * - guest_copy_64M: guest A fills a 64 MiB region, guest B copies it out
 *   into its own RAM; B's best pass, against the best host copy (glibc
 *   memcpy or rep movsb) of 64 MiB in this process.
 * Guests time themselves with rdtsc and print one "S <ticks>" line per
 * sample and "R <key> <value>" lines; the guest TSC runs at the host's
 * rate under KVM, which shmbench measures against CLOCK_MONOTONIC.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "bench.h"

#ifndef SHM_VM_PATH
#error "SHM_VM_PATH must be defined (tests/bench/CMakeLists.txt)"
#endif
#ifndef SHM_VM_GUEST_DIR
#error "SHM_VM_GUEST_DIR must be defined (tests/bench/CMakeLists.txt)"
#endif

#define FLOOR_ITERS	2000
#define CREATE_FLOOR_ITERS 200
#define GUEST_LIMIT_MS	300000	/* a guest run that takes longer fails */
#define NOTIFY_TARGET	1.5
#define CREATE_TARGET	1.5
#define COPY_TARGET	0.9
#define COPY_BYTES	(64ull << 20)
#define MIB		(1024ull * 1024ull)

struct guest_vm {
	pid_t pid;
	int out;		/* its stdout */
	char line[256];
	size_t len;
};

struct guest_run {
	struct bench *b;
	struct test_daemon d;
	double ns_per_tick;
	struct samples mmio, efd, echo, memfd;
	bool huge;		/* the pool had room: regions are hugetlb */
	char err[320];
};

/* The guest TSC ticks at the host's rate; count host ticks over 200 ms. */
static double
tsc_ns_per_tick(void)
{
	uint64_t t0 = bench_now_ns(), c0 = __rdtsc(), t1, c1;
	struct timespec ts = { 0, 200000000 };

	nanosleep(&ts, NULL);
	t1 = bench_now_ns();
	c1 = __rdtsc();
	return c1 > c0 ? (double)(t1 - t0) / (double)(c1 - c0) : NAN;
}

static const char *
guest_path(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", SHM_VM_GUEST_DIR, name);
	return buf;
}

/* Starts shm-vm on guest with its stdout piped to g->out; 0, or -1 with
 * r->err set. */
static int
vm_start(struct guest_run *r, struct guest_vm *g, const char *guest,
    const char *mem)
{
	char path[512];
	int p[2] = { -1, -1 }, err;

	memset(g, 0, sizeof(*g));
	if (pipe2(p, O_CLOEXEC) < 0 || (g->pid = fork()) < 0) {
		err = errno;
		if (p[0] >= 0) {
			close(p[0]);
			close(p[1]);
		}
		snprintf(r->err, sizeof(r->err), "cannot start shm-vm on %s: "
		    "%s", guest, strerror(err));
		return -1;
	}
	if (g->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pool_close_in_child(r->b);
		sigprocmask(SIG_UNBLOCK, &r->b->stop, NULL);
		dup2(p[1], STDOUT_FILENO);
		execl(SHM_VM_PATH, SHM_VM_PATH, "--socket", r->d.socket,
		    "--guest", guest_path(guest, path, sizeof(path)), "--mem",
		    mem, "--timeout", "290", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	g->out = p[0];
	return 0;
}

/* One line of guest output: a sample into s (when given), a result line
 * "R key value" into *res when key matches. */
static void
vm_line(struct guest_run *r, const char *line, struct samples *s,
    const char *key, double *res)
{
	size_t klen = key != NULL ? strlen(key) : 0;

	if (line[0] == 'S' && line[1] == ' ' && s != NULL)
		samples_add(s, (uint64_t)((double)strtoull(line + 2, NULL, 16) *
		    r->ns_per_tick));
	else if (line[0] == 'R' && line[1] == ' ' && key != NULL &&
	    strncmp(line + 2, key, klen) == 0 && line[2 + klen] == ' ')
		*res = (double)strtoull(line + 3 + klen, NULL, 16);
}

/* Reads the guest's output to its end and reaps it; 0 when it exited 0.
 * An interrupted run (SIGINT, SIGTERM) kills the guest at once. */
static int
vm_finish(struct guest_run *r, struct guest_vm *g, struct samples *s,
    const char *key, double *res)
{
	int64_t end = (int64_t)(bench_now_ns() / 1000000) + GUEST_LIMIT_MS;
	struct pollfd p = { g->out, POLLIN, 0 };
	int ws = 0, open_ = 1;
	char c;

	while (open_ && (int64_t)(bench_now_ns() / 1000000) < end &&
	    !bench_stopped(r->b)) {
		if (poll(&p, 1, 500) <= 0)
			continue;
		if (read(g->out, &c, 1) != 1)
			open_ = 0;
		else if (c != '\n')
			g->line[g->len++] = c;
		if (!open_ || c == '\n' || g->len + 1 >= sizeof(g->line)) {
			g->line[g->len] = '\0';
			if (g->len > 0)
				vm_line(r, g->line, s, key, res);
			g->len = 0;
		}
	}
	close(g->out);
	if (open_)
		kill(g->pid, SIGKILL);
	while (waitpid(g->pid, &ws, 0) < 0 && errno == EINTR)
		continue;
	if (!open_ && WIFEXITED(ws) && WEXITSTATUS(ws) == 0)
		return 0;
	snprintf(r->err, sizeof(r->err), "guest run failed (exit status %d%s)"
	    "; run shm-vm by hand on it to see its stderr",
	    WIFEXITED(ws) ? WEXITSTATUS(ws) : -1,
	    !open_ ? "" : bench_stopped(r->b) ? ", interrupted" :
	    ", timed out");
	return -1;
}

/*
 * Runs guests ga and gb at once and reads both to their end: samples and
 * akey's result from the first, bkey's from the second. When one fails
 * (to start or to run) its partner would wait for it until its --timeout,
 * so it is killed; the first failure is the one r->err reports.
 */
static int
vm_run_pair(struct guest_run *r, const char *ga, const char *gb,
    const char *mem, struct samples *s, const char *akey, double *ares,
    const char *bkey, double *bres)
{
	char first[sizeof(r->err)];
	struct guest_vm a, b;
	int rc;

	if (vm_start(r, &a, ga, mem) < 0)
		return -1;
	if ((rc = vm_start(r, &b, gb, mem)) == 0)
		rc = vm_finish(r, &a, s, akey, ares);
	else
		kill(a.pid, SIGKILL);
	if (rc < 0) {
		memcpy(first, r->err, sizeof(first));
		if (b.pid > 0)
			kill(b.pid, SIGKILL);
		vm_finish(r, b.pid > 0 ? &b : &a, NULL, NULL, NULL);
		memcpy(r->err, first, sizeof(first));
		return -1;
	}
	return vm_finish(r, &b, NULL, bkey, bres);
}

static int
vm_run_one(struct guest_run *r, const char *guest, const char *mem,
    struct samples *s)
{
	struct guest_vm g;

	if (vm_start(r, &g, guest, mem) < 0)
		return -1;
	return vm_finish(r, &g, s, NULL, NULL);
}

/* One-way eventfd wakeup: a forked child echoes a→b; half a round trip. */
static int
floor_eventfd(struct guest_run *r, size_t n)
{
	int a = eventfd(0, EFD_CLOEXEC), b = eventfd(0, EFD_CLOEXEC), rc = 0;
	uint64_t one = 1, v;
	pid_t pid;

	if (a < 0 || b < 0 || (pid = fork()) < 0) {
		rc = -1;
		goto out;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pool_close_in_child(r->b);
		while (read(a, &v, sizeof(v)) == sizeof(v) && v != 2)
			if (write(b, &one, sizeof(one)) != sizeof(one))
				_exit(1);
		_exit(0);
	}
	for (size_t i = 0; i < n + n / 20 && rc == 0; i++) {
		uint64_t t0 = bench_now_ns();

		if (write(a, &one, sizeof(one)) != sizeof(one) ||
		    read(b, &v, sizeof(v)) != sizeof(v))
			rc = -1;
		else if (i >= n / 20)
			samples_add(&r->efd, (bench_now_ns() - t0) / 2);
	}
	v = 2;
	if (write(a, &v, sizeof(v)) != sizeof(v))
		kill(pid, SIGKILL);
	bench_reap(pid, 2000);
out:
	if (rc < 0)
		snprintf(r->err, sizeof(r->err), "the eventfd floor failed: "
		    "%s", strerror(errno));
	if (a >= 0)
		close(a);
	if (b >= 0)
		close(b);
	return rc;
}

static int
floor_create(struct guest_run *r, size_t n)
{
	struct bench_echo e = { 0, -1 };
	uint64_t ns;
	int rc = 0;

	if (bench_echo_start(r->b, &e) < 0) {
		snprintf(r->err, sizeof(r->err), "cannot start the echo "
		    "server");
		return -1;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		if ((rc = bench_echo_once(e.sock, &ns)) == 0)
			samples_add(&r->echo, ns);
		if (rc == 0 && (rc = bench_memfd_once(2 * MIB, r->huge,
		    &ns)) == 0)
			samples_add(&r->memfd, ns);
	}
	bench_echo_stop(&e);
	if (rc < 0)
		snprintf(r->err, sizeof(r->err), "the create floor failed: "
		    "%s", strerror(-rc));
	return rc;
}

/* a[i] + b[i] + c[i] (c may be NULL), cycling the shorter ones: the floor
 * of a path made of those steps. */
static int
floor_sum(struct samples *out, struct samples *a, struct samples *b,
    struct samples *c)
{
	size_t n = a->n > b->n ? a->n : b->n;

	if (a->n == 0 || b->n == 0 || (c != NULL && c->n == 0) ||
	    samples_init(out, n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		samples_add(out, a->ns[i % a->n] + b->ns[i % b->n] +
		    (c != NULL ? c->ns[i % c->n] : 0));
	return 0;
}

/* The best of glibc's memcpy and rep movsb over 64 MiB, in GB/s. */
static double
host_copy_gbps(void)
{
	uint8_t *src = mmap(NULL, COPY_BYTES, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *dst = mmap(NULL, COPY_BYTES, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	double best = NAN;

	if (src == MAP_FAILED || dst == MAP_FAILED)
		goto out;
	memset(src, 0x5a, COPY_BYTES);
	memset(dst, 0, COPY_BYTES);
	for (int pass = 0; pass < 8; pass++) {
		uint64_t t0 = bench_now_ns(), t1;

		if (pass % 2 == 0) {
			memcpy(dst, src, COPY_BYTES);
		} else {
			void *d = dst, *s = src;
			size_t n = COPY_BYTES;

			__asm__ volatile("rep movsb" : "+D"(d), "+S"(s),
			    "+c"(n) : : "memory");
		}
		t1 = bench_now_ns();
		if (!(best >= (double)COPY_BYTES / (double)(t1 - t0)))
			best = (double)COPY_BYTES / (double)(t1 - t0);
	}
out:
	if (src != MAP_FAILED)
		munmap(src, COPY_BYTES);
	if (dst != MAP_FAILED)
		munmap(dst, COPY_BYTES);
	return best;
}

static void
fig_notify(struct guest_run *r)
{
	struct figure *f = figure_new(r->b, "guest_notify", "us");
	struct samples s = { 0 }, floor = { 0 };
	int rc = -1;

	snprintf(r->err, sizeof(r->err), "out of memory");
	if (samples_init(&s, 1024) < 0)
		goto out;
	rc = vm_run_pair(r, "bench_ping.elf", "bench_pong.elf", "8M", &s,
	    NULL, NULL, NULL, NULL);
	if (rc == 0 && floor_sum(&floor, &r->mmio, &r->efd, NULL) < 0)
		rc = -1;
out:
	if (rc == 0 && s.n > 0) {
		figure_times(f, &s, "mmio_exit+eventfd_oneway", &floor,
		    NOTIFY_TARGET);
		figure_note(f, "half of a guest ping-pong (notify, irqfd, "
		    "interrupt, notify back); floor parts p50: MMIO exit "
		    "%.2f us, eventfd one-way %.2f us",
		    samples_us(&r->mmio, 0.5), samples_us(&r->efd, 0.5));
	} else {
		bench_error(r->b, f->name, "%s", r->err);
		figure_skip(f, "mmio_exit+eventfd_oneway", NOTIFY_TARGET,
		    true, "failed: %s", r->err);
	}
	report_figure(r->b, f);
	samples_free(&s);
	samples_free(&floor);
}

static void
fig_create_usable(struct guest_run *r)
{
	struct figure *f = figure_new(r->b, "guest_create_usable", "us");
	const char *floor_name = r->huge ?
	    "mmio_exit+seqpacket_fd_rtt+memfd_hugetlb_2M" :
	    "mmio_exit+seqpacket_fd_rtt+memfd_shmem_2M";
	struct samples s = { 0 }, part = { 0 }, floor = { 0 };
	int rc = -1;

	if (samples_init(&s, 256) < 0)
		goto out;
	if (vm_run_one(r, "bench_create.elf", "8M", &s) < 0 ||
	    floor_sum(&part, &r->echo, &r->memfd, NULL) < 0 ||
	    floor_sum(&floor, &r->mmio, &part, NULL) < 0)
		goto out;
	rc = 0;
out:
	if (rc == 0 && s.n > 0) {
		figure_times(f, &s, floor_name, &floor, CREATE_TARGET);
		figure_note(f, "a fresh 2 MiB region (%s) from the size write "
		    "until it returns mapped; floor parts p50: MMIO exit "
		    "%.2f us, request/reply with fd %.2f us, memfd %.2f us",
		    r->huge ? "hugetlb" : "shmem: no pool",
		    samples_us(&r->mmio, 0.5), samples_us(&r->echo, 0.5),
		    samples_us(&r->memfd, 0.5));
	} else {
		bench_error(r->b, f->name, "%s", r->err);
		figure_skip(f, floor_name, CREATE_TARGET, true, "failed: %s",
		    r->err);
	}
	report_figure(r->b, f);
	samples_free(&s);
	samples_free(&part);
	samples_free(&floor);
}

/* Bandwidth in GB/s from a guest's tick count for COPY_BYTES. */
static double
copy_gbps(const struct guest_run *r, double ticks)
{
	return ticks > 0 ? (double)COPY_BYTES / (ticks * r->ns_per_tick) :
	    NAN;
}

static void
fig_copy(struct guest_run *r)
{
	struct figure *f = figure_new(r->b, "guest_copy_64M", "GB/s");
	double wticks = NAN, rticks = NAN, host;
	int rc = vm_run_pair(r, "bench_fill.elf", "bench_drain.elf", "160M",
	    NULL, "write", &wticks, "read", &rticks);

	host = host_copy_gbps();
	if (rc == 0 && isfinite(rticks)) {
		figure_value(f, copy_gbps(r, rticks), host, COPY_TARGET,
		    false);
		figure_note(f, "guest B's best pass copying the region out "
		    "into its RAM (%s); guest A filled it at %.2f GB/s; the "
		    "reference is the best host copy of 64 MiB, %.2f GB/s",
		    r->huge ? "hugetlb" : "shmem: no pool",
		    copy_gbps(r, wticks), host);
	} else {
		bench_error(r->b, f->name, "%s", r->err);
		figure_skip(f, "host_copy_64M", COPY_TARGET, false,
		    "failed: %s", r->err);
	}
	report_figure(r->b, f);
}

static const char *const guest_figures[] = {
	"guest_notify", "guest_create_usable", "guest_copy_64M",
};

#define NGUEST (sizeof(guest_figures) / sizeof(guest_figures[0]))

static void
skip_all(struct bench *b, const char *why)
{
	static const char *const floors[] = {
		"mmio_exit+eventfd_oneway", "mmio_exit+seqpacket_fd_rtt+memfd",
		"host_copy_64M",
	};

	for (size_t i = 0; i < NGUEST; i++) {
		struct figure *f;

		if (!bench_wants(b, guest_figures[i]))
			continue;
		f = figure_new(b, guest_figures[i],
		    i == 2 ? "GB/s" : "us");
		figure_skip(f, floors[i], i == 2 ? COPY_TARGET : 1.5, i != 2,
		    "%s", why);
		report_figure(b, f);
	}
}

/* The floors every wanted figure needs, then the figures. */
static int
guest_figures_run(struct guest_run *r)
{
	struct bench *b = r->b;
	bool notify = bench_wants(b, "guest_notify");
	bool create = bench_wants(b, "guest_create_usable");

	if ((notify || create) &&
	    vm_run_one(r, "bench_mmio.elf", "8M", &r->mmio) < 0)
		return -1;
	if (notify && floor_eventfd(r, FLOOR_ITERS) < 0)
		return -1;
	if (create && floor_create(r, CREATE_FLOOR_ITERS) < 0)
		return -1;
	if (notify && !bench_stopped(b))
		fig_notify(r);
	if (create && !bench_stopped(b))
		fig_create_usable(r);
	if (bench_wants(b, "guest_copy_64M") && !bench_stopped(b))
		fig_copy(r);
	return 0;
}

int
fig_guest(struct bench *b)
{
	static const char *const prefer[] = { "--hugepages", "prefer", NULL };
	struct guest_run r;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	r.b = b;
	if (!harness_kvm_opens()) {
		skip_all(b, "no usable /dev/kvm on this host: run shmbench "
		    "inside tests/qemu-kvm/run-in-vm.sh");
		return 0;
	}
	r.ns_per_tick = tsc_ns_per_tick();
	/* 64 MiB for the copy region, 2 MiB for a create. */
	r.huge = pool_prepare(b, COPY_BYTES + 2 * MIB) == 0;
	if (samples_init(&r.mmio, 1024) < 0 ||
	    samples_init(&r.efd, FLOOR_ITERS) < 0 ||
	    samples_init(&r.echo, CREATE_FLOOR_ITERS) < 0 ||
	    samples_init(&r.memfd, CREATE_FLOOR_ITERS) < 0) {
		skip_all(b, "failed: out of memory");
		goto out;
	}
	if (!isfinite(r.ns_per_tick)) {
		skip_all(b, "failed: cannot measure the TSC rate");
		goto out;
	}
	if (bench_start_daemon(b, &r.d, prefer) < 0) {
		skip_all(b, "failed: shmbrokerd did not start");
		goto out;
	}
	if ((rc = guest_figures_run(&r)) < 0) {
		bench_error(b, "guest", "%s", r.err);
		skip_all(b, r.err);
	}
out:
	bench_stop_daemon(&r.d);
	pool_restore(b);
	samples_free(&r.mmio);
	samples_free(&r.efd);
	samples_free(&r.echo);
	samples_free(&r.memfd);
	return rc;
}
