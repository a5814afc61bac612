/* SPDX-License-Identifier: ISC */
/*
 * fig_scale: one daemon at scale. 10,000 VMM connections (1/20 with
 * --quick) are held by worker processes, because each libshmclient
 * connection takes three descriptors and one process may hold 20,000 at
 * most here; then 100,000 1-page regions are created over one admin
 * connection. Figures: scale_connections and scale_regions (what was
 * reached: creation stops at the first failure, typically the daemon's
 * descriptor limit), scale_rss (the daemon's VmRSS at that size) and
 * scale_attach (attaches from connections picked at random, timed inside
 * the worker, whose p99/p50 must stay small).
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "shmclient_admin.h"
#include "wire.h"

#define SCALE_CONNS 10000
#define SCALE_REGIONS 100000
#define SCALE_ATTACHES 5000
#define SCALE_QUICK_DIV 20
#define SCALE_MAX_WORKERS 16
#define SCALE_FDS_PER_CONN 3	/* socket, epoll, eventfd of a struct shmc */
#define SCALE_RSS_BUDGET_MIB 64.0
#define SCALE_ATTACH_TARGET 3.0
#define SCALE_HEADROOM 32	/* regions given back for the attach phase */
#define SCALE_CREATE_BUDGET_MS 150000
#define SCALE_CONNECT_TIMEOUT_MS 120000
#define PAGE 4096u

static const char scale_config[] =
    "[broker]\ntenancy = open\n"
    "max_regions = 200000\n"
    "max_connections = 20000\n"
    "max_clients = 400000\n"
    "hugepages = never\n";

enum worker_op { W_CONNECT = 1, W_ATTACH };

/* Attaches run in batches inside a worker, back to back as a VMM would
 * do them, so that no hop through this process sits between two. Each
 * batch begins with one attach that is not kept (and its bare
 * request/replies with one): the batches alternate placements, so every
 * process has just been moved to other CPUs and the worker woken, and
 * that first attach took twice the others' time at p50 on one CPU. Kept,
 * one in SCALE_BATCH would be the figure's p99: the harness's turn, not
 * the attach's tail. It is reported beside the figure. */
#define SCALE_BATCH 50

struct wcmd {
	uint32_t op;
	uint32_t arg;		/* connections to open, or attaches to do */
	uint32_t seq;		/* the first region name's number */
	uint64_t seed;		/* for picking connections */
};

struct wreply {
	int32_t rc;
	uint32_t n;		/* connections held, or attaches timed */
	uint64_t first_ns;	/* the batch's first attach, not kept */
	uint64_t ns[SCALE_BATCH];
	char err[240];
};

struct worker {
	pid_t pid;
	int sock;
	uint32_t want;		/* connections it should hold */
	uint32_t held;
};

struct scale {
	struct bench *b;
	struct test_daemon d;
	char conf[64];
	size_t nworkers;
	struct worker w[SCALE_MAX_WORKERS];
	uint32_t conns_goal, regions_goal, attaches;
	uint32_t conns, regions, released;
	double connect_s, create_s;
	char create_stop[300];	/* why creation stopped early, or "" */
	struct shmc *adm;
	struct bench_echo echo;	/* the bare request/reply, for comparison */
	struct samples flo[PLACE_N];
	struct samples first[PLACE_N];	/* each batch's first attach */
	char err[320];
};

/* ---- worker processes ---- */

static void
worker_connect(struct shmc ***conns, uint32_t *n, uint32_t more,
    const char *path, struct wreply *rep)
{
	struct shmc **v = realloc(*conns, (*n + more) * sizeof(*v));

	if (v == NULL) {
		rep->rc = -ENOMEM;
		snprintf(rep->err, sizeof(rep->err), "out of memory");
		return;
	}
	*conns = v;
	for (uint32_t i = 0; i < more; i++) {
		int rc = shmc_connect(path, "shmbench scale", BENCH_TIMEOUT_MS,
		    &v[*n], rep->err, sizeof(rep->err));

		if (rc < 0) {
			rep->rc = rc;
			break;
		}
		(*n)++;
	}
	rep->n = *n;
}

/* 1 + cmd->arg attaches, each from a connection picked at random; the
 * first is timed apart (SCALE_BATCH). */
static void
worker_attach(struct shmc **conns, uint32_t n, const struct wcmd *cmd,
    struct wreply *rep)
{
	uint64_t x = cmd->seed | 1;

	for (uint32_t i = 0; i <= cmd->arg && i <= SCALE_BATCH; i++) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		rep->rc = bench_attach_once(conns[(x * 2685821657736338717ull)
		    % n], cmd->seq + i, i == 0 ? &rep->first_ns :
		    &rep->ns[i - 1], rep->err, sizeof(rep->err));
		if (rep->rc < 0)
			break;
		rep->n += i > 0;
	}
}

static void
worker_main(int sock, const char *path)
{
	struct shmc **conns = NULL;
	uint32_t n = 0;
	struct wcmd cmd;
	struct wreply rep;

	while (recv(sock, &cmd, sizeof(cmd), 0) == (ssize_t)sizeof(cmd)) {
		memset(&rep, 0, sizeof(rep));
		if (cmd.op == W_CONNECT)
			worker_connect(&conns, &n, cmd.arg, path, &rep);
		else if (cmd.op == W_ATTACH && n > 0)
			worker_attach(conns, n, &cmd, &rep);
		else {
			rep.rc = -EINVAL;
			snprintf(rep.err, sizeof(rep.err), "bad command");
		}
		if (send(sock, &rep, sizeof(rep), MSG_NOSIGNAL) < 0)
			break;
	}
	/* The kernel closes the connections faster than shmc_close would. */
	_exit(0);
}

static int
worker_start(struct scale *s, struct worker *w)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	if ((w->pid = fork()) < 0) {
		close(sv[0]);
		close(sv[1]);
		return -errno;
	}
	if (w->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pool_close_in_child(s->b);
		for (size_t i = 0; i < s->nworkers; i++)
			if (s->w[i].sock >= 0 && &s->w[i] != w)
				close(s->w[i].sock);
		shmc_close(s->adm);
		close(sv[0]);
		worker_main(sv[1], s->d.socket);
	}
	close(sv[1]);
	w->sock = sv[0];
	return 0;
}

/* Waits up to timeout_ms for a worker's reply, checking for signals. */
static int
worker_recv(struct scale *s, struct worker *w, struct wreply *rep,
    int timeout_ms)
{
	struct pollfd p = { .fd = w->sock, .events = POLLIN };
	ssize_t n;

	for (int waited = 0;; waited += 500) {
		if (bench_stopped(s->b))
			return -EINTR;
		if (waited >= timeout_ms)
			return -ETIMEDOUT;
		if (poll(&p, 1, 500) > 0)
			break;
	}
	n = recv(w->sock, rep, sizeof(*rep), 0);
	if (n != (ssize_t)sizeof(*rep))
		return n == 0 ? -ECONNRESET : -EPROTO;
	rep->err[sizeof(rep->err) - 1] = '\0';
	return 0;
}

static int
worker_send(struct worker *w, uint32_t op, uint32_t arg, uint32_t seq,
    uint64_t seed)
{
	struct wcmd cmd = { op, arg, seq, seed };

	return send(w->sock, &cmd, sizeof(cmd), MSG_NOSIGNAL) ==
	    (ssize_t)sizeof(cmd) ? 0 : -errno;
}

static void
workers_stop(struct scale *s)
{
	for (size_t i = 0; i < s->nworkers; i++) {
		if (s->w[i].sock >= 0)
			close(s->w[i].sock);
		s->w[i].sock = -1;
	}
	for (size_t i = 0; i < s->nworkers; i++)
		bench_reap(s->w[i].pid, 5000);
	s->nworkers = 0;
}

/* ---- the phases ---- */

static int
scale_connect(struct scale *s)
{
	struct rlimit rl = { 1024, 1024 };
	uint32_t per, left = s->conns_goal;
	uint64_t t0 = bench_now_ns();
	struct wreply rep;
	int err;

	getrlimit(RLIMIT_NOFILE, &rl);
	per = (uint32_t)((rl.rlim_cur - 64) / SCALE_FDS_PER_CONN);
	for (size_t i = 0; left > 0 && i < SCALE_MAX_WORKERS; i++) {
		struct worker *w = &s->w[s->nworkers];

		w->sock = -1;
		w->want = left < per ? left : per;
		if ((err = worker_start(s, w)) < 0) {
			snprintf(s->err, sizeof(s->err), "fork: %s",
			    strerror(-err));
			return -1;
		}
		s->nworkers++;
		left -= w->want;
		worker_send(w, W_CONNECT, w->want, 0, 0);
	}
	for (size_t i = 0; i < s->nworkers; i++) {
		struct worker *w = &s->w[i];

		if ((err = worker_recv(s, w, &rep,
		    SCALE_CONNECT_TIMEOUT_MS)) < 0) {
			snprintf(s->err, sizeof(s->err), "worker %zu: %s", i,
			    strerror(-err));
			return -1;
		}
		w->held = rep.n;
		s->conns += rep.n;
		if (rep.rc < 0)
			snprintf(s->err, sizeof(s->err), "%s", rep.err);
	}
	s->connect_s = (double)(bench_now_ns() - t0) / 1e9;
	return s->conns > 0 ? 0 : -1;
}

/* One admin create; the Error (0 on success) or -errno on transport. */
static int
scale_create_one(struct scale *s, uint32_t i)
{
	Shmbroker__ServerMessage *m = NULL;
	char name[32];
	int rc;

	snprintf(name, sizeof(name), "bench-r%u", i);
	if ((rc = shmc_admin_create(s->adm, name, 1, &m)) < 0) {
		snprintf(s->create_stop, sizeof(s->create_stop), "transport "
		    "error: %s", shmc_error(s->adm));
		return rc;
	}
	rc = (int)m->error;
	if (rc != SHMBROKER__ERROR__ERR_NONE)
		snprintf(s->create_stop, sizeof(s->create_stop), "%s: %s",
		    wire_error_name(rc), m->message);
	shmbroker__server_message__free_unpacked(m, NULL);
	return rc;
}

static int
scale_destroy_one(struct scale *s, uint32_t i)
{
	Shmbroker__ServerMessage *m = NULL;
	char name[32];
	int rc;

	snprintf(name, sizeof(name), "bench-r%u", i);
	if ((rc = shmc_admin_destroy(s->adm, name, false, &m)) < 0)
		return rc;
	rc = m->error == SHMBROKER__ERROR__ERR_NONE ? 0 : -EPROTO;
	shmbroker__server_message__free_unpacked(m, NULL);
	return rc;
}

static int
scale_create(struct scale *s)
{
	uint64_t t0 = bench_now_ns(), budget_ns;
	int rc = 0;

	budget_ns = (uint64_t)SCALE_CREATE_BUDGET_MS * 1000000u /
	    (s->b->quick ? SCALE_QUICK_DIV : 1);
	while (s->regions < s->regions_goal) {
		if ((rc = scale_create_one(s, s->regions)) != 0)
			break;
		s->regions++;
		if (s->regions % 1024 != 0)
			continue;
		if (bench_stopped(s->b))
			return -1;
		if (bench_now_ns() - t0 > budget_ns) {
			snprintf(s->create_stop, sizeof(s->create_stop),
			    "the time budget of %.0f s ran out",
			    (double)budget_ns / 1e9);
			break;
		}
	}
	s->create_s = (double)(bench_now_ns() - t0) / 1e9;
	if (rc < 0)
		return -1;	/* the admin connection is gone */
	/* A daemon out of descriptors could not create the attach regions. */
	if (rc != 0)
		while (s->released < SCALE_HEADROOM &&
		    s->released < s->regions &&
		    scale_destroy_one(s, s->regions - 1 - s->released) == 0)
			s->released++;
	return 0;
}

/* The number after "Key:" in /proc/PID/FILE; -1 when absent. */
static long
proc_long(pid_t pid, const char *file, const char *key)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	return harness_proc_value(path, key);
}

/* A "Key: N kB" of /proc/PID/FILE in MiB; NAN when absent. */
static double
proc_mib(pid_t pid, const char *file, const char *key)
{
	long kib = proc_long(pid, file, key);

	return kib < 0 ? NAN : (double)kib / 1024.0;
}

struct children {
	int n;
	double rss, pss;	/* MiB, summed */
};

/*
 * The daemon's child processes (its fd keepers). They are forked from the
 * daemon and share pages with it, so their PSS says more than their RSS.
 */
static void
children_mem(pid_t parent, struct children *ch)
{
	DIR *dir = opendir("/proc");
	struct dirent *e;

	memset(ch, 0, sizeof(*ch));
	if (dir == NULL)
		return;
	while ((e = readdir(dir)) != NULL) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		double rss, pss;

		if (*end != '\0' || pid <= 0 ||
		    proc_long((pid_t)pid, "status", "PPid") != (long)parent)
			continue;
		rss = proc_mib((pid_t)pid, "status", "VmRSS");
		pss = proc_mib((pid_t)pid, "smaps_rollup", "Pss");
		ch->rss += isfinite(rss) ? rss : 0;
		ch->pss += isfinite(pss) ? pss : 0;
		ch->n++;
	}
	closedir(dir);
}

/* A worker picked in proportion to the connections it holds, so that
 * every connection is equally likely. */
static struct worker *
scale_pick(struct scale *s)
{
	uint64_t k = bench_random(s->b) % s->conns;

	for (size_t i = 0; i < s->nworkers; i++) {
		if (k < s->w[i].held)
			return &s->w[i];
		k -= s->w[i].held;
	}
	return NULL;
}

/* The workers and this process on the client's CPU, the daemon and the
 * echo server on the server's. */
static int
scale_place(struct scale *s, enum place p)
{
	int err = place_pin_tree(s->d.pid, place_cpu(s->b, p, ROLE_SERVER));

	if (err == 0)
		err = place_pin_role(s->b, s->echo.pid, p, ROLE_SERVER);
	if (err == 0)
		err = place_pin_role(s->b, 0, p, ROLE_CLIENT);
	for (size_t i = 0; i < s->nworkers && err == 0; i++)
		err = place_pin_role(s->b, s->w[i].pid, p, ROLE_CLIENT);
	if (err < 0)
		snprintf(s->err, sizeof(s->err), "cannot pin for %s: %s",
		    place_name(p), strerror(-err));
	return err;
}

/* As many bare request/replies as the batch had attaches, in its
 * placement: what the host's own spread is. The first is not kept, as
 * the batch's first attach is not. */
static int
scale_echo(struct scale *s, enum place p, uint32_t n, bool keep)
{
	uint64_t ns;
	int err;

	for (uint32_t i = 0; i <= n; i++) {
		if ((err = bench_echo_once(s->echo.sock, &ns)) < 0) {
			snprintf(s->err, sizeof(s->err), "the echo server "
			    "failed: %s", strerror(-err));
			return -1;
		}
		if (keep && i > 0)
			samples_add(&s->flo[p], ns);
	}
	return 0;
}

/* Batches go to the placements in turn; the first batch of each warms
 * the path up and is not kept. */
static int
scale_attach(struct scale *s, struct samples smp[PLACE_N])
{
	uint32_t seq = 0, batch = 0, np = 0;
	struct wreply rep;
	int err;

	while (np < PLACE_N && place_possible(s->b, (enum place)np))
		np++;
	for (;; batch++) {
		enum place p = (enum place)(batch % np);
		struct worker *w = scale_pick(s);
		uint32_t left = s->attaches - (uint32_t)smp[p].n;
		uint32_t n = left < SCALE_BATCH ? left : SCALE_BATCH;

		bool full = true;

		for (uint32_t k = 0; k < np; k++)
			full &= smp[k].n >= s->attaches;
		if (full)
			break;
		if (smp[p].n >= s->attaches)
			continue;
		if (scale_place(s, p) < 0)
			return -1;

		if (w == NULL || worker_send(w, W_ATTACH, n, seq,
		    bench_random(s->b)) < 0 ||
		    (err = worker_recv(s, w, &rep, (int)n * BENCH_TIMEOUT_MS))
		    < 0) {
			snprintf(s->err, sizeof(s->err), "a worker did not "
			    "answer");
			return -1;
		}
		seq += n + 1;
		for (uint32_t i = 0; i < rep.n && batch >= np; i++)
			samples_add(&smp[p], rep.ns[i]);
		if (rep.rc == 0 && batch >= np)
			samples_add(&s->first[p], rep.first_ns);
		if (rep.rc != 0) {
			snprintf(s->err, sizeof(s->err), "%s", rep.err);
			return -1;
		}
		if (scale_echo(s, p, n, batch >= np) < 0)
			return -1;
	}
	return 0;
}

/* ---- the figures ---- */

static void
scale_emit(struct scale *s, struct figure *f)
{
	if (bench_wants(s->b, f->name))
		report_figure(s->b, f);
	else
		s->b->nfigs--;	/* measured on the way, not asked for */
}

static void
scale_report_counts(struct scale *s)
{
	struct figure *f = figure_new(s->b, "scale_connections", "conns");

	figure_value(f, s->conns, s->conns_goal, 1.0, false);
	figure_note(f, "%u connections in %.1f s from %zu worker processes",
	    s->conns, s->connect_s, s->nworkers);
	if (s->conns < s->conns_goal)
		figure_note(f, "stopped: %s", s->err);
	scale_emit(s, f);
	f = figure_new(s->b, "scale_regions", "regions");
	figure_value(f, s->regions, s->regions_goal, 1.0, false);
	figure_note(f, "%u regions in %.1f s", s->regions, s->create_s);
	if (s->create_stop[0] != '\0')
		figure_note(f, "creation stopped: %s", s->create_stop);
	if (s->released > 0)
		figure_note(f, "%u given back before the attaches",
		    s->released);
	scale_emit(s, f);
}

static void
scale_report_rss(struct scale *s)
{
	struct figure *f = figure_new(s->b, "scale_rss", "MiB");
	double rss = proc_mib(s->d.pid, "status", "VmRSS");
	double shm = proc_mib(s->d.pid, "status", "RssShmem");
	double anon = proc_mib(s->d.pid, "status", "RssAnon");
	struct children ch;

	children_mem(s->d.pid, &ch);
	figure_value(f, rss, SCALE_RSS_BUDGET_MIB, 1.0, true);
	figure_note(f, "RssAnon %.1f MiB, RssShmem %.1f MiB, %d descriptors, "
	    "at %u connections and %u regions", anon, shm,
	    harness_count_fds(s->d.pid), s->conns, s->regions - s->released);
	if (ch.n > 0)
		figure_note(f, "its %d child processes: %.1f MiB RSS, %.1f MiB "
		    "PSS", ch.n, ch.rss, ch.pss);
	snprintf(f->extra, sizeof(f->extra), ",\"rss_shmem_mib\":%.3f,"
	    "\"rss_anon_mib\":%.3f,\"children\":%d,"
	    "\"children_rss_mib\":%.3f,\"children_pss_mib\":%.3f",
	    isfinite(shm) ? shm : 0.0, isfinite(anon) ? anon : 0.0, ch.n,
	    ch.rss, ch.pss);
	scale_emit(s, f);
}

static void
scale_report_attach(struct scale *s, struct samples *smp, enum place p,
    int rc)
{
	struct figure *f = figure_new_placed(s->b, "scale_attach", "us", p);

	if (smp->n == 0) {
		figure_skip(f, "scale_attach_p50", SCALE_ATTACH_TARGET, true,
		    "failed: %s", s->err);
	} else {
		figure_times(f, smp, "scale_attach_p50", NULL,
		    SCALE_ATTACH_TARGET);
		f->floor_p50 = f->p50;
		f->ratio = f->p99 / f->p50;
		figure_note(f, "ratio is p99/p50; %zu attaches, in batches "
		    "of %d, from random connections among %u, %u regions; "
		    "the bare request/reply (seqpacket_fd_rtt) after each "
		    "batch, same placement: p50 %.2f us, p99 %.2f us, p99/p50 "
		    "%.2f", smp->n, SCALE_BATCH, s->conns,
		    s->regions - s->released, samples_us(&s->flo[p], 0.5),
		    samples_us(&s->flo[p], 0.99),
		    samples_us(&s->flo[p], 0.99) / samples_us(&s->flo[p],
		    0.5));
		figure_note(f, "not kept: each batch's first attach, right "
		    "after the processes moved to the batch's CPUs: p50 %.2f "
		    "us over %zu batches", samples_us(&s->first[p], 0.5),
		    s->first[p].n);
		if (rc < 0)
			figure_note(f, "stopped early: %s", s->err);
	}
	scale_emit(s, f);
}

static int
scale_start(struct scale *s)
{
	const char *extra[] = { "--config", s->conf, NULL };
	int fd;

	snprintf(s->conf, sizeof(s->conf), "/tmp/shmbench-XXXXXX.conf");
	if ((fd = mkstemps(s->conf, 5)) < 0) {
		snprintf(s->err, sizeof(s->err), "mkstemps: %s",
		    strerror(errno));
		s->conf[0] = '\0';
		return -1;
	}
	if (write(fd, scale_config, sizeof(scale_config) - 1) !=
	    (ssize_t)sizeof(scale_config) - 1) {
		close(fd);
		snprintf(s->err, sizeof(s->err), "cannot write %s", s->conf);
		return -1;
	}
	close(fd);
	if (bench_start_daemon(s->b, &s->d, extra) < 0) {
		snprintf(s->err, sizeof(s->err), "shmbrokerd did not start");
		return -1;
	}
	return 0;
}

static int
scale_run(struct scale *s, struct samples smp[PLACE_N])
{
	int rc;

	if (scale_start(s) < 0 || scale_connect(s) < 0) {
		bench_error(s->b, "scale", "%s", s->err);
		return -1;
	}
	if (bench_connect(s->d.admin_socket, true, &s->adm) < 0 ||
	    scale_create(s) < 0) {
		bench_error(s->b, "scale", "creating regions: %s",
		    s->create_stop[0] ? s->create_stop : "interrupted");
		return -1;
	}
	scale_report_counts(s);
	scale_report_rss(s);
	if (bench_stopped(s->b))
		return -1;
	if (bench_echo_start(s->b, &s->echo) < 0) {
		snprintf(s->err, sizeof(s->err), "cannot start the echo "
		    "server");
		return -1;
	}
	rc = scale_attach(s, smp);
	for (int p = 0; p < PLACE_N; p++)
		if (place_possible(s->b, (enum place)p))
			scale_report_attach(s, &smp[p], (enum place)p, rc);
	place_release(s->b);
	return 0;
}

struct scale_figure {
	const char *name, *unit, *floor;
	double target;
	bool target_max;
};

static const struct scale_figure scale_figures[] = {
	{ "scale_connections", "conns", "none", 1.0, false },
	{ "scale_regions", "regions", "none", 1.0, false },
	{ "scale_rss", "MiB", "none", 1.0, true },
	{ "scale_attach", "us", "scale_attach_p50", SCALE_ATTACH_TARGET, true },
};

/* After a failure: the wanted figures that were not reported. */
static void
scale_skip_missing(struct scale *s)
{
	for (size_t i = 0; i < sizeof(scale_figures) /
	    sizeof(scale_figures[0]); i++) {
		const struct scale_figure *sf = &scale_figures[i];
		bool done = false;
		struct figure *f;

		for (size_t k = 0; k < s->b->nfigs; k++)
			done |= strcmp(s->b->figs[k].name, sf->name) == 0;
		if (done || !bench_wants(s->b, sf->name))
			continue;
		f = figure_new(s->b, sf->name, sf->unit);
		figure_skip(f, sf->floor, sf->target, sf->target_max,
		    "failed: %s", s->err[0] ? s->err : s->create_stop[0] ?
		    s->create_stop : "interrupted");
		report_figure(s->b, f);
	}
}

int
fig_scale(struct bench *b)
{
	struct scale *s = calloc(1, sizeof(*s));
	uint32_t div = b->quick ? SCALE_QUICK_DIV : 1;
	struct samples smp[PLACE_N] = { { 0 } };
	int rc = -1;

	if (s == NULL)
		return -1;
	s->b = b;
	s->conns_goal = SCALE_CONNS / div;
	s->regions_goal = SCALE_REGIONS / div;
	s->attaches = SCALE_ATTACHES / div;
	for (size_t i = 0; i < SCALE_MAX_WORKERS; i++)
		s->w[i].sock = -1;
	s->echo.sock = -1;
	if (samples_init(&smp[PLACE_SAME], s->attaches) == 0 &&
	    samples_init(&smp[PLACE_CROSS], s->attaches) == 0 &&
	    samples_init(&s->flo[PLACE_SAME], s->attaches) == 0 &&
	    samples_init(&s->flo[PLACE_CROSS], s->attaches) == 0 &&
	    samples_init(&s->first[PLACE_SAME], s->attaches) == 0 &&
	    samples_init(&s->first[PLACE_CROSS], s->attaches) == 0)
		rc = scale_run(s, smp);
	if (rc < 0)
		scale_skip_missing(s);
	/* The echo server holds copies of the workers' sockets: it goes
	 * first, or the workers would not see theirs close. */
	bench_echo_stop(&s->echo);
	workers_stop(s);
	shmc_close(s->adm);
	bench_stop_daemon(&s->d);
	if (s->conf[0] != '\0')
		unlink(s->conf);
	samples_free(&smp[PLACE_SAME]);
	samples_free(&smp[PLACE_CROSS]);
	samples_free(&s->flo[PLACE_SAME]);
	samples_free(&s->flo[PLACE_CROSS]);
	samples_free(&s->first[PLACE_SAME]);
	samples_free(&s->first[PLACE_CROSS]);
	free(s);
	return rc;
}
