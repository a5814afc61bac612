/* SPDX-License-Identifier: ISC */
/*
 * fig_flood: notify_flood. One client notifying as fast as it can must not
 * slow the other pairs, and must never reach the daemon. A pair (this
 * process and a pong child, region flood-pair) measures its one-way
 * notification (half a round trip: shmc_notify, the peer's eventfd, its
 * notify back) idle, then while a hose child floods a sink child (region
 * flood-hose) with shmc_notify_direct in a loop. Figure: the pair's
 * one-way under the flood, its p99 against the idle p99 of the same run
 * and placement (target 2). The note gives the same rounds while the hose
 * only spins (as busy on its CPU, notifying nobody: what CPU sharing alone
 * costs), how many notifications the hose made and what CPU time the
 * daemon took meanwhile (/proc/PID/stat utime +
 * stime, and its CPU clock), which a flood that never reaches it leaves
 * at zero. Client side: this process and the hose; server side: pong, the
 * sink and the daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define FLOOD_ROUNDS	4000
#define FLOOD_ROUNDS_QUICK 1000
#define FLOOD_TARGET	2.0
#define FLOOD_SETTLE_MS	20
#define FLOOD_ALARM_S	60
#define FLOOD_TURNS	4	/* flood and bare flood blocks, in turns */
#define NOTIFY_ALL	0xffffffffu

enum flood_role { ROLE_PONG, ROLE_HOSE, ROLE_SINK, ROLE_BARE_SINK, NROLES };
/* What the hose does: notify flat out, only spin (the control: a process
 * as busy on the CPU that notifies nobody), or write a bare eventfd that
 * a sink of its own reads (the control: the same wakeups with none of
 * the broker). */
enum { HOSE_FLOOD = 1, HOSE_SPIN = 2, HOSE_BARE = 3 };

/* What the hose and this process share (MAP_SHARED, made before fork). */
struct flood_shared {
	volatile uint32_t run;		/* HOSE_FLOOD, HOSE_SPIN, or 0: stop */
	volatile uint64_t notifies;	/* made by the hose so far */
};

struct flood {
	struct bench *b;
	struct test_daemon d;
	struct flood_shared *sh;
	pid_t pid[NROLES];
	int ready[NROLES];	/* a child's readiness and go pipe */
	int go[NROLES];
	struct shmc *c;
	uint64_t id;
	int efd;
	int bare_efd;		/* HOSE_BARE's, read by ROLE_BARE_SINK */
	size_t rounds;
	struct samples idle[PLACE_N], busy[PLACE_N];
	struct samples spin[PLACE_N];	/* the control: a busy CPU only */
	struct samples bare[PLACE_N];	/* the control: bare eventfd writes */
	double daemon_ticks[PLACE_N], daemon_ms[PLACE_N], rate[PLACE_N];
	double bare_rate[PLACE_N];
	char err[320];
};

/* ---- the children ---- */

static void __attribute__((noreturn))
flood_child_fail(const char *what, struct shmc *c)
{
	fprintf(stderr, "shmbench: notify_flood child: %s: %s\n", what,
	    c != NULL ? shmc_error(c) : strerror(errno));
	_exit(1);
}

/* Waits for a notification on an attachment's eventfd, which the daemon
 * made non-blocking (the file is shared with it and with the peers, so
 * its flags stay as they are). 0, or -1 with errno set. */
static int
flood_wait(int efd)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	uint64_t v;

	while (read(efd, &v, sizeof(v)) != sizeof(v)) {
		if (errno != EAGAIN || poll(&p, 1, -1) < 0)
			return -1;
	}
	return 0;
}

/* Pong answers each notification; the sink only takes them. */
static void __attribute__((noreturn))
flood_answer(struct shmc *c, uint64_t id, int efd, bool echo)
{
	while (flood_wait(efd) == 0)
		if (echo && shmc_notify(c, id, NOTIFY_ALL, NULL) < 0)
			flood_child_fail("notify", c);
	_exit(0);
}

/* The hose floods (or spins) while sh->run says so, each time its go
 * pipe tells it to start. */
static void __attribute__((noreturn))
flood_hose(struct flood *f, struct shmc *c, uint64_t id, int go)
{
	uint32_t status;
	char cmd;

	while (read(go, &cmd, 1) == 1) {
		uint64_t n = 0;

		/* Reads the sink's join from the socket: its eventfd. */
		if (shmc_read_status(c, id, &status) < 0)
			flood_child_fail("status", c);
		while (f->sh->run == HOSE_FLOOD) {
			if (shmc_notify_direct(c, id, NOTIFY_ALL) < 0)
				flood_child_fail("notify", c);
			n++;
		}
		while (f->sh->run == HOSE_SPIN)
			n++;
		while (f->sh->run == HOSE_BARE) {
			uint64_t one = 1;

			if (write(f->bare_efd, &one, sizeof(one)) !=
			    sizeof(one) && errno != EAGAIN)
				flood_child_fail("bare eventfd write", NULL);
			n++;
		}
		f->sh->notifies = n;
		if (write(f->ready[ROLE_HOSE], "d", 1) != 1)
			break;
	}
	_exit(0);
}

static void __attribute__((noreturn))
flood_child(struct flood *f, enum flood_role role)
{
	const char *region = role == ROLE_PONG ? "flood-pair" : "flood-hose";
	struct shmc_region r;
	struct shmc *c = NULL;
	char err[256];
	int efd;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	pool_close_in_child(f->b);
	if (role == ROLE_BARE_SINK) {
		if (write(f->ready[role], "r", 1) != 1)
			_exit(1);
		while (flood_wait(f->bare_efd) == 0)
			continue;
		_exit(0);
	}
	if (shmc_connect(f->d.socket, "shmbench flood", BENCH_TIMEOUT_MS, &c,
	    err, sizeof(err)) < 0) {
		fprintf(stderr, "shmbench: notify_flood child: %s\n", err);
		_exit(1);
	}
	if (shmc_attach_claim(c, region, strlen(region) + 1, 1, true, &r,
	    &efd) != SHMC_GSS_OK)
		flood_child_fail("attach", c);
	if (write(f->ready[role], "r", 1) != 1)
		_exit(1);
	if (role == ROLE_HOSE)
		flood_hose(f, c, r.client_id, f->go[role]);
	flood_answer(c, r.client_id, efd, role == ROLE_PONG);
}

/* Each child with its two pipes: ready (child to us) and go (us to it).
 * Kept in one array pair per direction, both ends here until the fork. */
static int
flood_start_child(struct flood *f, enum flood_role role)
{
	int rp[2], gp[2];
	char c;

	if (pipe2(rp, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(gp, O_CLOEXEC) < 0) {
		close(rp[0]);
		close(rp[1]);
		return -1;
	}
	if ((f->pid[role] = fork()) == 0) {
		close(rp[0]);
		close(gp[1]);
		f->ready[role] = rp[1];
		f->go[role] = gp[0];
		flood_child(f, role);
	}
	close(rp[1]);
	close(gp[0]);
	f->ready[role] = rp[0];
	f->go[role] = gp[1];
	if (f->pid[role] < 0 || read(rp[0], &c, 1) != 1) {
		snprintf(f->err, sizeof(f->err), "a notify_flood child did "
		    "not start (see its message above)");
		return -1;
	}
	return 0;
}

/* ---- the pair ---- */

static void
on_alarm(int sig)
{
	(void)sig;
}

/* n timed rounds of the pair, after n / 20 not kept. */
static int
flood_rounds(struct flood *f, struct samples *s, size_t n)
{
	struct sigaction sa, old;
	int rc = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, &old);
	alarm(FLOOD_ALARM_S);
	for (size_t i = 0; i < n + n / 20 && rc == 0; i++) {
		uint64_t t0 = bench_now_ns();

		if (shmc_notify(f->c, f->id, NOTIFY_ALL, NULL) < 0) {
			snprintf(f->err, sizeof(f->err), "the pair's notify "
			    "failed: %s", shmc_error(f->c));
			rc = -1;
		} else if (flood_wait(f->efd) < 0) {
			snprintf(f->err, sizeof(f->err), "the pair's wait "
			    "failed: %s", strerror(errno));
			rc = -1;
		} else if (i >= n / 20)
			samples_add(s, (bench_now_ns() - t0) / 2);
	}
	alarm(0);
	sigaction(SIGALRM, &old, NULL);
	return rc;
}

static int
flood_place(struct flood *f, enum place p)
{
	int err = place_pin_role(f->b, 0, p, ROLE_CLIENT);

	if (err == 0)
		err = place_pin_tree(f->d.pid, place_cpu(f->b, p,
		    ROLE_SERVER));
	if (err == 0)
		err = place_pin_role(f->b, f->pid[ROLE_HOSE], p, ROLE_CLIENT);
	if (err == 0)
		err = place_pin_role(f->b, f->pid[ROLE_PONG], p, ROLE_SERVER);
	if (err == 0)
		err = place_pin_role(f->b, f->pid[ROLE_SINK], p, ROLE_SERVER);
	if (err == 0)
		err = place_pin_role(f->b, f->pid[ROLE_BARE_SINK], p,
		    ROLE_SERVER);
	if (err < 0)
		snprintf(f->err, sizeof(f->err), "cannot pin for %s: %s",
		    place_name(p), strerror(-err));
	return err;
}

/* The daemon's CPU time: utime + stime ticks of /proc/PID/stat, and its
 * CPU clock in ms. */
static void
daemon_cpu(pid_t pid, double *ticks, double *ms)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	struct timespec ts = { 0, 0 };
	clockid_t clk;
	FILE *fp;

	*ticks = *ms = 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fp = fopen(path, "re")) != NULL) {
		/* the fields after the command, which may hold spaces */
		if (fgets(buf, sizeof(buf), fp) != NULL &&
		    (p = strrchr(buf, ')')) != NULL &&
		    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
		    "%lu %lu", &ut, &st) == 2)
			*ticks = (double)(ut + st);
		fclose(fp);
	}
	if (clock_getcpuclockid(pid, &clk) == 0 &&
	    clock_gettime(clk, &ts) == 0)
		*ms = (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* n rounds of the pair while the hose does what (HOSE_*), with the
 * daemon's CPU time over them added to ticks and ms, the hose's count to
 * *count and the time to *ns. */
static int
flood_busy(struct flood *f, uint32_t what, struct samples *s, size_t n,
    double *ticks, double *ms, uint64_t *count, uint64_t *ns)
{
	uint64_t start;
	double t0, m0, t1, m1;
	char c;
	int rc;

	f->sh->run = what;
	if (write(f->go[ROLE_HOSE], "g", 1) != 1)
		return -1;
	start = bench_now_ns();
	harness_sleep_ms(FLOOD_SETTLE_MS);
	daemon_cpu(f->d.pid, &t0, &m0);
	rc = flood_rounds(f, s, n);
	daemon_cpu(f->d.pid, &t1, &m1);
	f->sh->run = 0;
	if (read(f->ready[ROLE_HOSE], &c, 1) != 1) {
		snprintf(f->err, sizeof(f->err), "the hose died");
		return -1;
	}
	*ticks += t1 - t0;
	*ms += m1 - m0;
	*count += f->sh->notifies;
	*ns += bench_now_ns() - start;
	return rc;
}

/* The flood and its bare control in turns, so that drift hits both. */
static int
flood_at(struct flood *f, enum place p)
{
	uint64_t n = 0, ns = 0, bn = 0, bns = 0;
	size_t block = f->rounds / FLOOD_TURNS;
	double ticks = 0, ms = 0;

	if (flood_place(f, p) < 0 ||
	    flood_rounds(f, &f->idle[p], f->rounds) < 0 ||
	    flood_busy(f, HOSE_SPIN, &f->spin[p], f->rounds, &ticks, &ms, &n,
	    &ns) < 0)
		return -1;
	n = ns = 0;
	for (int t = 0; t < FLOOD_TURNS; t++)
		if (flood_busy(f, HOSE_FLOOD, &f->busy[p], block,
		    &f->daemon_ticks[p], &f->daemon_ms[p], &n, &ns) < 0 ||
		    flood_busy(f, HOSE_BARE, &f->bare[p], block, &ticks, &ms,
		    &bn, &bns) < 0)
			return -1;
	f->rate[p] = (double)n / ((double)ns / 1e9);
	f->bare_rate[p] = (double)bn / ((double)bns / 1e9);
	return 0;
}

/* ---- the figure ---- */

static void
flood_report(struct flood *f, enum place p, int rc)
{
	struct figure *fig = figure_new_placed(f->b, "notify_flood", "us", p);
	char what[200];

	if (rc < 0 || f->busy[p].n == 0) {
		figure_skip(fig, "idle_oneway", FLOOD_TARGET, true,
		    "failed: %s", f->err);
		report_figure(f->b, fig);
		return;
	}
	figure_times(fig, &f->busy[p], "idle_oneway", &f->idle[p],
	    FLOOD_TARGET);
	fig->ratio = fig->p99 / samples_us(&f->idle[p], 0.99);
	figure_note(fig, "a pair's one-way notification (host clients) while "
	    "another client floods its own peer at %.0f notifications/s; "
	    "ratio is p99 / the idle p99 (%.2f us; floor_p50 is the idle "
	    "p50); while the same process only spins (no notifications): "
	    "p50 %.2f us, p99 %.2f us; the daemon's CPU time during the "
	    "flood: %.0f ticks of /proc/PID/stat (utime+stime), %.3f ms by "
	    "its CPU clock", f->rate[p], samples_us(&f->idle[p], 0.99),
	    samples_us(&f->spin[p], 0.5), samples_us(&f->spin[p], 0.99),
	    f->daemon_ticks[p], f->daemon_ms[p]);
	snprintf(fig->extra, sizeof(fig->extra), ",\"idle_p99\":%.3f,"
	    "\"spin_p99\":%.3f,\"flood_per_s\":%.0f,"
	    "\"daemon_cpu_ms\":%.3f", samples_us(&f->idle[p], 0.99),
	    samples_us(&f->spin[p], 0.99), f->rate[p], f->daemon_ms[p]);
	snprintf(what, sizeof(what), "in turns with the flood, the hose "
	    "writing a bare eventfd that a sink of its own reads (the same "
	    "wakeups, none of the broker) at %.0f writes/s, p99",
	    f->bare_rate[p]);
	figure_control(fig, what, samples_us(&f->bare[p], 0.99),
	    samples_us(&f->idle[p], 0.99), fig->p99);
	report_figure(f->b, fig);
}

static int
flood_setup(struct flood *f)
{
	static const char *const extra[] = { "--hugepages", "never", NULL };
	struct shmc_region r;
	uint32_t status;

	f->sh = mmap(NULL, sizeof(*f->sh), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (f->sh == MAP_FAILED) {
		f->sh = NULL;
		return -1;
	}
	if ((f->bare_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		return -1;
	snprintf(f->err, sizeof(f->err), "shmbrokerd did not start");
	if (bench_start_daemon(f->b, &f->d, extra) < 0)
		return -1;
	for (int role = 0; role < NROLES; role++)
		if (flood_start_child(f, (enum flood_role)role) < 0)
			return -1;
	snprintf(f->err, sizeof(f->err), "cannot attach flood-pair");
	if (bench_connect(f->d.socket, false, &f->c) < 0 ||
	    shmc_attach_claim(f->c, "flood-pair", 11, 1, true, &r,
	    &f->efd) != SHMC_GSS_OK)
		return -1;
	close(r.fd);
	f->id = r.client_id;
	/* pong's eventfd came with the reply; the status read is one more
	 * look at the socket for anything after it */
	return shmc_read_status(f->c, f->id, &status);
}

static void
flood_teardown(struct flood *f)
{
	shmc_close(f->c);
	for (int role = 0; role < NROLES; role++) {
		if (f->pid[role] > 0)
			kill(f->pid[role], SIGKILL);
		bench_reap(f->pid[role], 2000);
		if (f->ready[role] >= 0)
			close(f->ready[role]);
		if (f->go[role] >= 0)
			close(f->go[role]);
	}
	bench_stop_daemon(&f->d);
	if (f->bare_efd >= 0)
		close(f->bare_efd);
	if (f->sh != NULL)
		munmap(f->sh, sizeof(*f->sh));
	for (int p = 0; p < PLACE_N; p++) {
		samples_free(&f->idle[p]);
		samples_free(&f->busy[p]);
		samples_free(&f->spin[p]);
		samples_free(&f->bare[p]);
	}
}

int
fig_flood(struct bench *b)
{
	struct flood *f = calloc(1, sizeof(*f));
	int rc = -1;

	if (f == NULL)
		return -1;
	f->b = b;
	f->rounds = b->quick ? FLOOD_ROUNDS_QUICK : FLOOD_ROUNDS;
	for (int role = 0; role < NROLES; role++)
		f->ready[role] = f->go[role] = -1;
	f->bare_efd = -1;
	snprintf(f->err, sizeof(f->err), "out of memory");
	for (int p = 0; p < PLACE_N; p++)
		if (samples_init(&f->idle[p], f->rounds) < 0 ||
		    samples_init(&f->busy[p], f->rounds) < 0 ||
		    samples_init(&f->spin[p], f->rounds) < 0 ||
		    samples_init(&f->bare[p], f->rounds) < 0)
			goto out;
	if (flood_setup(f) < 0)
		goto out;
	rc = 0;
	for (int p = 0; p < PLACE_N && rc == 0; p++)
		if (place_possible(b, (enum place)p) && !bench_stopped(b))
			rc = flood_at(f, (enum place)p);
out:
	if (rc < 0)
		bench_error(b, "notify_flood", "%s", f->err);
	for (int p = 0; p < PLACE_N; p++)
		if (place_possible(b, (enum place)p))
			flood_report(f, (enum place)p, rc);
	place_release(b);
	flood_teardown(f);
	free(f);
	return rc;
}
