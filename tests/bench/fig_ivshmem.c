/* SPDX-License-Identifier: ISC */
/*
 * fig_ivshmem: the doorbells of the QEMU bridge (daemon/ivshmem.c), each
 * against the in-kernel eventfd path it replaces, in both placements:
 * - ivshmem_qemu_qemu_rtt: two ivshmem peers ring each other with the
 *   eventfds the daemon handed them (QEMU's ioeventfd -> the peer's irqfd
 *   does exactly these writes, in the kernel). Floor eventfd_rtt: a
 *   ping-pong over two plain eventfds. No process in between: ~1.
 * - ivshmem_qemu_member_rtt: an ivshmem peer rings a libshmclient member
 *   (the daemon's relay sets the peer's bit in the member's pending word
 *   and signals its eventfd), the member reads its status (which names
 *   the peer) and notifies the peer directly (its vector 0, as a QNX
 *   guest's VMM does). Floor eventfd_status_rtt: the same ping-pong where
 *   the echo does the same atomic take and post on a shared page. The
 *   difference is the relay hop, one way.
 * The ivshmem peers here speak QEMU's protocol (version, index, memfd,
 * connect messages, own vectors) and ring by eventfd writes, as a QEMU
 * under KVM does through its ioeventfds; no QEMU process is started, so
 * that the figures are of the broker's path, not of QEMU's emulation.
 * Placement same_cpu: every process on CPU 0; cross_cpu: the ringing
 * side and the daemon on CPU 0, the echo on CPU 1. Round trips are paced
 * (IVS_PACE_NS) under the daemon's per-QEMU ring limit.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "ivsclient.h"
#include "shmclient_admin.h"

#define IVS_ITERS 20000
#define IVS_ITERS_QUICK 500
#define IVS_CHUNK 500
#define IVS_REGION "bench-ivshmem"
#define IVS_QQ_TARGET 1.2
#define IVS_QM_TARGET 2.0	/* one more wakeup than the floor's two */

/* ---- one ring and its answer ---- */

static int
ring(int fd)
{
	uint64_t one = 1;

	return write(fd, &one, sizeof(one)) == (ssize_t)sizeof(one) ? 0 : -1;
}

static int
take(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t n;

	if (poll(&p, 1, BENCH_TIMEOUT_MS) != 1)
		return -1;
	return read(fd, &n, sizeof(n)) == (ssize_t)sizeof(n) ? 0 : -1;
}

static int
rtt(int out, int in, uint64_t *ns)
{
	uint64_t t0 = bench_now_ns();

	if (ring(out) < 0 || take(in) < 0)
		return -1;
	*ns = bench_now_ns() - t0;
	return 0;
}

/* ---- the echoes, in children ---- */

static void
pin(pid_t pid, int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(pid, sizeof(set), &set);
}

/* The shared words of the floor's echo: the same atomics as a status
 * read (take) and a notify (post). */
struct floor_page {
	_Atomic uint32_t pending[2];
};

static void __attribute__((noreturn))
echo_plain(int in, int out, struct floor_page *pg)
{
	for (;;) {
		if (take(in) < 0)
			_exit(0);
		if (pg != NULL) {
			atomic_fetch_and(&pg->pending[1], 0);
			atomic_fetch_or(&pg->pending[0], 2);
		}
		if (ring(out) < 0)
			_exit(1);
	}
}

/* A second ivshmem peer: answers each ring of its vector 0 by ringing
 * the first peer's. */
static void __attribute__((noreturn))
echo_qemu(const char *path, int first, int ready)
{
	struct ivc p;

	if (ivc_open(&p, path) < 0 || ivc_until(&p, first) < 0)
		_exit(2);
	if (ring(ready) < 0)
		_exit(2);
	echo_plain(p.own, p.peer[first], NULL);
}

/* A libshmclient member: takes its pending word (it must name the
 * ringing peer) and notifies that peer directly. */
static void __attribute__((noreturn))
echo_member(const char *socket, int first, int ready)
{
	struct shmc_region r;
	struct shmc *c;
	uint32_t st;
	int efd;

	if (bench_connect(socket, false, &c) < 0 ||
	    shmc_attach(c, IVS_REGION, 512, false, &r) != SHMC_GSS_OK ||
	    (efd = shmc_attachment_eventfd(c, r.client_id)) < 0 ||
	    ring(ready) < 0)
		_exit(2);
	for (;;) {
		if (take(efd) < 0)
			_exit(0);
		if (shmc_status_direct(c, r.client_id, 0, &st) < 0 ||
		    (st & (1u << first)) == 0 ||
		    shmc_notify_direct(c, r.client_id, 1u << first) < 0)
			_exit(1);
	}
}

/* ---- the runs ---- */

struct ivs_run {
	int fig_out, fig_in;		/* the figure's ring and answer */
	int flo_out, flo_in;		/* the floor's */
	struct samples fig, flo;
	char err[200];
};

/* Round trips start IVS_PACE_NS apart, figure and floor alike: the
 * daemon passes a QEMU's rings on at up to IVSH_RING_BURST per window
 * (daemon/ivshmem_int.h: 10,000 a second), and a flat-out ping-pong would
 * measure that limit rather than the path. */
#define IVS_PACE_NS 150000

static void
pace(uint64_t t0)
{
	uint64_t now = bench_now_ns();

	if (now - t0 < IVS_PACE_NS)
		nanosleep(&(struct timespec){ 0, (long)(IVS_PACE_NS -
		    (now - t0)) }, NULL);
}

static int
ivs_chunk(void *ctx, size_t n, bool keep)
{
	struct ivs_run *r = ctx;
	uint64_t ns, t0;

	for (size_t i = 0; i < n; i++) {
		t0 = bench_now_ns();
		if (rtt(r->flo_out, r->flo_in, &ns) < 0) {
			snprintf(r->err, sizeof(r->err), "the floor's echo "
			    "did not answer");
			return -1;
		}
		if (keep)
			samples_add(&r->flo, ns);
		pace(t0);
	}
	for (size_t i = 0; i < n; i++) {
		t0 = bench_now_ns();
		if (rtt(r->fig_out, r->fig_in, &ns) < 0) {
			snprintf(r->err, sizeof(r->err), "the ivshmem echo "
			    "did not answer");
			return -1;
		}
		if (keep)
			samples_add(&r->fig, ns);
		pace(t0);
	}
	return 0;
}

struct ivs_env {
	struct test_daemon d;
	char path[108];
	struct ivc me;
	pid_t kids[2];
	int efd[2];		/* the floor's eventfds */
	struct floor_page *page;
};

static void
ivs_env_stop(struct ivs_env *e)
{
	for (int i = 0; i < 2; i++) {
		if (e->kids[i] > 0) {
			kill(e->kids[i], SIGKILL);
			bench_reap(e->kids[i], 2000);
		}
		e->kids[i] = 0;
		if (e->efd[i] >= 0)
			close(e->efd[i]);
		e->efd[i] = -1;
	}
	ivc_close(&e->me);
	memset(&e->me, -1, sizeof(e->me));
}

/* The region, its export and this process as its first ivshmem peer. */
static int
ivs_env_start(struct bench *b, struct ivs_env *e, char *err, size_t len)
{
	static const char *const extra[] = { "--hugepages", "never", NULL };
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminExport ex = SHMBROKER__ADMIN_EXPORT__INIT;
	Shmbroker__ServerMessage *m = NULL;
	struct shmc *adm = NULL;
	bool ok;

	snprintf(err, len, "shmbrokerd did not start");
	if (bench_start_daemon(b, &e->d, extra) < 0)
		return -1;
	snprintf(e->path, sizeof(e->path), "%s/ivs.sock", e->d.dir);
	snprintf(err, len, "cannot create and export %s", IVS_REGION);
	if (bench_connect(e->d.admin_socket, true, &adm) < 0 ||
	    shmc_admin_create(adm, IVS_REGION, 512, &m) < 0) {
		shmc_close(adm);
		return -1;
	}
	shmbroker__server_message__free_unpacked(m, NULL);
	ex.name = (char *)IVS_REGION;
	ex.path = e->path;
	ex.vectors = 1;
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_EXPORT;
	req.admin_export = &ex;
	ok = shmc_call(adm, &req, &m) == 0;
	ok = ok && m->error == SHMBROKER__ERROR__ERR_NONE;
	if (m != NULL)
		shmbroker__server_message__free_unpacked(m, NULL);
	shmc_close(adm);
	if (!ok || ivc_open(&e->me, e->path) < 0)
		return -1;
	return 0;
}

/* Forks the figure's echo (kind 0: an ivshmem peer, 1: a member) and the
 * floor's, placed, and waits until the figure's has joined. */
static int
ivs_echoes(struct ivs_env *e, int kind, bool cross, char *err, size_t len)
{
	int ready = eventfd(0, EFD_CLOEXEC), cpu = cross ? 1 : 0;

	e->efd[0] = eventfd(0, EFD_CLOEXEC);
	e->efd[1] = eventfd(0, EFD_CLOEXEC);
	snprintf(err, len, "cannot start the echoes");
	if (ready < 0 || e->efd[0] < 0 || e->efd[1] < 0)
		goto fail;
	if ((e->kids[0] = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (kind == 0)
			echo_qemu(e->path, e->me.index, ready);
		echo_member(e->d.socket, e->me.index, ready);
	}
	if ((e->kids[1] = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		echo_plain(e->efd[0], e->efd[1], kind == 1 ? e->page : NULL);
	}
	if (e->kids[0] < 0 || e->kids[1] < 0 || take(ready) < 0)
		goto fail;
	pin(e->kids[0], cpu);
	pin(e->kids[1], cpu);
	close(ready);
	/* The joined peer: index 1, told to this process by the daemon. */
	snprintf(err, len, "the daemon did not announce the echo");
	return ivc_until(&e->me, 1);
fail:
	if (ready >= 0)
		close(ready);
	return -1;
}

static void
ivs_figures(struct bench *b, struct figure *f[2], struct ivs_run *r,
    const char *placement, int kind)
{
	static const char *const floors[] = { "eventfd_rtt",
	    "eventfd_status_rtt" };
	double target = kind == 0 ? IVS_QQ_TARGET : IVS_QM_TARGET;
	double one_way;

	(void)b;
	figure_times(f[kind], &r->fig, floors[kind], &r->flo, target);
	f[kind]->placement = placement;	/* a literal: it outlives f */
	one_way = f[kind]->p50 - f[kind]->floor_p50;
	if (kind == 0)
		figure_note(f[kind], "%s: QEMU -> QEMU and back through the "
		    "eventfds the daemon handed out: no process in between",
		    placement);
	else
		figure_note(f[kind], "%s: QEMU -> member through the daemon's "
		    "relay, member -> QEMU direct; the relay hop costs %.1f us "
		    "at p50", placement, one_way);
}

/* One kind of echo in one placement. */
static int
ivs_measure(struct bench *b, struct ivs_env *e, struct figure *f[2],
    int kind, bool cross, char *err, size_t len)
{
	size_t iters = b->quick ? IVS_ITERS_QUICK : IVS_ITERS;
	struct ivs_run r = { .fig_in = e->me.own, .flo_out = e->efd[0] };
	int rc = -1;

	pin(0, 0);
	pin(e->d.pid, 0);
	if (ivs_echoes(e, kind, cross, err, len) < 0)
		goto out;
	r.fig_out = e->me.peer[1];
	r.flo_out = e->efd[0];
	r.flo_in = e->efd[1];
	snprintf(err, len, "out of memory");
	if (samples_init(&r.fig, iters) < 0 || samples_init(&r.flo, iters) < 0)
		goto out;
	if (bench_measure(b, ivs_chunk, &r, &r.fig, iters, iters / 20,
	    IVS_CHUNK, r.err, sizeof(r.err)) < 0) {
		snprintf(err, len, "%s", r.err);
		goto out;
	}
	ivs_figures(b, f, &r, cross ? "cross_cpu" : "same_cpu", kind);
	rc = 0;
out:
	samples_free(&r.fig);
	samples_free(&r.flo);
	return rc;
}

int
fig_ivshmem(struct bench *b)
{
	static const char *const names[2][2] = {
		{ "ivshmem_qemu_qemu_rtt", "ivshmem_qemu_member_rtt" },
		{ "ivshmem_qemu_qemu_rtt_x", "ivshmem_qemu_member_rtt_x" },
	};
	struct ivs_env e = { .efd = { -1, -1 } };
	struct figure *f[2][2];
	cpu_set_t saved;
	char err[256] = "";
	int rc = 0;

	memset(&e.me, -1, sizeof(e.me));
	sched_getaffinity(0, sizeof(saved), &saved);
	for (int p = 0; p < 2; p++)
		for (int k = 0; k < 2; k++)
			f[p][k] = figure_new(b, names[p][k], "us");
	e.page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	for (int p = 0; p < 2 && rc == 0; p++) {
		for (int k = 0; k < 2 && rc == 0; k++) {
			if (e.page == MAP_FAILED ||
			    ivs_env_start(b, &e, err, sizeof(err)) < 0 ||
			    ivs_measure(b, &e, f[p], k, p == 1, err,
			    sizeof(err)) < 0)
				rc = -1;
			ivs_env_stop(&e);
			bench_stop_daemon(&e.d);
			memset(&e.d, 0, sizeof(e.d));
		}
	}
	sched_setaffinity(0, sizeof(saved), &saved);
	if (e.page != MAP_FAILED)
		munmap(e.page, 4096);
	for (int p = 0; p < 2; p++) {
		for (int k = 0; k < 2; k++) {
			if (rc < 0 && f[p][k]->samples == 0)
				figure_skip(f[p][k], k == 0 ? "eventfd_rtt" :
				    "eventfd_status_rtt", k == 0 ?
				    IVS_QQ_TARGET : IVS_QM_TARGET, true,
				    "failed: %s", err);
			report_figure(b, f[p][k]);
		}
	}
	if (rc < 0)
		bench_error(b, "ivshmem", "%s", err);
	return rc;
}
