/* SPDX-License-Identifier: ISC */
/*
 * churn_run: the churn's parent. It keeps a worker process in every slot
 * until the run's operations are used up, starting each life with a
 * random length and, for kill_pct of them, a random operation at which it
 * is SIGKILLed (the parent watches the life's progress in the shared
 * block, so the kill lands wherever that worker is then: in a call, in
 * the daemon's reply, between two). The worker that draws operation
 * kill_daemon_pct% SIGKILLs the daemon (whose service manager starts it
 * again); the parent waits for its new pid while the workers ride it
 * out. It samples the daemon's descriptors and memory for their peaks.
 * When every live worker has reported the end of the run, the checks of
 * churn_check.c run and the workers are let go.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "churn.h"
#include "testutil.h"

#define NO_KILL		UINT64_MAX
#define POLL_MS		1
#define SAMPLE_MS	250
#define PID_POLL_MS	100
#define DAEMON_BACK_MS	60000	/* systemd restarts it within RestartSec= */
#define EXIT_WAIT_MS	10000
#define STUCK_MS	60000

struct wslot {
	pid_t pid;		/* 0: empty */
	int ctl;
	bool reported;		/* out of operations, holding */
	uint64_t kill_at;
	struct churn_report rep;
};

enum daemon_state { DAEMON_UP, DAEMON_KILLED, DAEMON_BACK };

struct runner {
	struct churn *ch;
	struct wslot s[CHURN_MAX_WORKERS];
	uint64_t rng;
	enum daemon_state dstate;
	pid_t old_pid;
	int64_t kill_t0, next_pid_poll, next_sample;
	uint64_t last_ops;
	int64_t last_move;
};

static uint64_t
run_rand(struct runner *r)
{
	return churn_rand(&r->rng);
}

static bool
run_budget_left(const struct runner *r)
{
	return atomic_load(&r->ch->sh->ops) < r->ch->o->ops;
}

static bool
run_failed(const struct runner *r)
{
	return r->ch->nerr > 0 || atomic_load(&r->ch->sh->nfail) > 0;
}

/* A new life in slot i, unless the run's operations are used up. */
static void
run_spawn(struct runner *r, unsigned i)
{
	const struct churn_opts *o = r->ch->o;
	struct wslot *w = &r->s[i];
	struct churn_life life = { .slot = i };
	int sv[2];

	memset(w, 0, sizeof(*w));
	w->ctl = -1;
	if (!run_budget_left(r))
		return;
	life.ops = o->life_min + run_rand(r) % (o->life_max - o->life_min + 1);
	life.seed = run_rand(r);
	w->kill_at = run_rand(r) % 100 < o->kill_pct ?
	    run_rand(r) % life.ops : NO_KILL;
	atomic_store(&r->ch->sh->life_ops[i], 0);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		churn_err(r->ch, "socketpair: %s", strerror(errno));
		return;
	}
	fflush(NULL);
	w->pid = fork();
	if (w->pid == 0) {
		close(sv[0]);
		churn_worker_main(o, r->ch->sh, &life, r->ch->socket, sv[1]);
	}
	close(sv[1]);
	if (w->pid < 0) {
		churn_err(r->ch, "fork: %s", strerror(errno));
		close(sv[0]);
		w->pid = 0;
		return;
	}
	w->ctl = sv[0];
	r->ch->fig.lives++;
}

static void
run_clear(struct wslot *w)
{
	if (w->ctl >= 0)
		close(w->ctl);
	w->ctl = -1;
	w->pid = 0;
}

/* SIGKILLs the lives whose moment has come, and replaces them. */
static void
run_kills(struct runner *r)
{
	for (unsigned i = 0; i < r->ch->o->workers; i++) {
		struct wslot *w = &r->s[i];

		if (w->pid == 0 || w->reported || w->kill_at == NO_KILL ||
		    atomic_load(&r->ch->sh->life_ops[i]) < w->kill_at)
			continue;
		kill(w->pid, SIGKILL);
		waitpid(w->pid, NULL, 0);
		run_clear(w);
		r->ch->fig.kills++;
		run_spawn(r, i);
	}
}

/* A life that ended by itself (its socket closed): replaced when it
 * ended cleanly; any other end fails the run. */
static void
run_reap(struct runner *r, unsigned i)
{
	struct wslot *w = &r->s[i];
	int ws;

	if (waitpid(w->pid, &ws, 0) < 0) {
		churn_err(r->ch, "waitpid %d: %s", (int)w->pid,
		    strerror(errno));
		ws = 0;
	}
	if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0 && !w->reported) {
		run_clear(w);
		r->ch->fig.clean_ends++;
		run_spawn(r, i);
		return;
	}
	/* status 2: the worker said why in the shared block */
	if (!(WIFEXITED(ws) && WEXITSTATUS(ws) == 2))
		churn_err(r->ch, "worker %u (pid %d) ended with %s %d", i,
		    (int)w->pid, WIFEXITED(ws) ? "status" : "signal",
		    WIFEXITED(ws) ? WEXITSTATUS(ws) : WTERMSIG(ws));
	run_clear(w);
}

/* Reports of lives that ran out of operations, and lives that ended,
 * waiting up to POLL_MS. */
static void
run_reports(struct runner *r)
{
	struct pollfd p[CHURN_MAX_WORKERS];
	unsigned slot[CHURN_MAX_WORKERS], n = 0;

	for (unsigned i = 0; i < r->ch->o->workers; i++)
		if (r->s[i].pid != 0 && !r->s[i].reported) {
			p[n] = (struct pollfd){ .fd = r->s[i].ctl,
			    .events = POLLIN };
			slot[n++] = i;
		}
	if (poll(p, n, POLL_MS) <= 0)
		return;
	for (unsigned k = 0; k < n; k++) {
		struct wslot *w = &r->s[slot[k]];

		if ((p[k].revents & POLLIN) && recv(w->ctl, &w->rep,
		    sizeof(w->rep), MSG_DONTWAIT) == (ssize_t)sizeof(w->rep))
			w->reported = true;
		else if (p[k].revents & (POLLHUP | POLLERR))
			run_reap(r, slot[k]);
	}
}

/* The daemon's peaks while the workers run. */
static void
run_sample(struct runner *r)
{
	struct churn_figures *f = &r->ch->fig;
	int64_t now = harness_now_ms();
	pid_t pid = r->ch->daemon_pid;
	long rss;
	int fds;

	if (now < r->next_sample || r->dstate == DAEMON_KILLED || pid <= 0)
		return;
	r->next_sample = now + SAMPLE_MS;
	if ((fds = harness_count_fds(pid)) > f->fds_peak)
		f->fds_peak = fds;
	if ((rss = harness_rss_kib(pid)) > f->rss_peak)
		f->rss_peak = rss;
}

/* The daemon's kill (a worker's, at its operation) and its return. */
static void
run_daemon(struct runner *r)
{
	const struct churn_opts *o = r->ch->o;
	struct churn_shared *sh = r->ch->sh;
	int64_t now = harness_now_ms();
	pid_t pid;

	if (r->dstate == DAEMON_UP && atomic_load(&sh->daemon_killed)) {
		r->dstate = DAEMON_KILLED;
		r->old_pid = sh->daemon_pid;
		r->kill_t0 = atomic_load(&sh->kill_ms);
		r->ch->fig.daemon_pid_before = r->old_pid;
		if (!o->quiet)
			printf("daemon (pid %d) SIGKILLed at operation %llu\n",
			    (int)r->old_pid, (unsigned long long)sh->kill_op);
	}
	if (r->dstate != DAEMON_KILLED || now < r->next_pid_poll)
		return;
	r->next_pid_poll = now + PID_POLL_MS;
	pid = churn_daemon_pid(r->ch);
	if (pid > 0 && pid != r->old_pid) {
		r->ch->daemon_pid = pid;
		r->ch->fig.daemon_down_ms = now - r->kill_t0;
		r->dstate = DAEMON_BACK;
		if (!o->quiet)
			printf("daemon back as pid %d after %lld ms\n",
			    (int)pid, (long long)(now - r->kill_t0));
	} else if (now - r->kill_t0 > DAEMON_BACK_MS) {
		churn_err(r->ch, "no new daemon %d ms after the SIGKILL",
		    DAEMON_BACK_MS);
	}
}

/* Over when the operations are used up, the daemon serves, and every
 * live worker has reported. */
static bool
run_over(const struct runner *r)
{
	if (run_budget_left(r) || r->dstate == DAEMON_KILLED)
		return false;
	for (unsigned i = 0; i < r->ch->o->workers; i++)
		if (r->s[i].pid != 0 && !r->s[i].reported)
			return false;
	return true;
}

static void
run_kill_all(struct runner *r)
{
	for (unsigned i = 0; i < r->ch->o->workers; i++)
		if (r->s[i].pid != 0) {
			kill(r->s[i].pid, SIGKILL);
			waitpid(r->s[i].pid, NULL, 0);
			run_clear(&r->s[i]);
		}
}

/* Tells every worker left to close and exit, and reaps them. */
static void
run_release(struct runner *r)
{
	int64_t deadline = harness_now_ms() + EXIT_WAIT_MS;
	int cmd = CHURN_EXIT, ws;

	for (unsigned i = 0; i < r->ch->o->workers; i++)
		if (r->s[i].pid != 0 && send(r->s[i].ctl, &cmd, sizeof(cmd),
		    MSG_NOSIGNAL) != sizeof(cmd))
			churn_err(r->ch, "worker %u is gone before its exit",
			    i);
	for (unsigned i = 0; i < r->ch->o->workers; i++) {
		struct wslot *w = &r->s[i];

		while (w->pid != 0 && waitpid(w->pid, &ws, WNOHANG) == 0) {
			if (harness_now_ms() > deadline) {
				churn_err(r->ch, "worker %u did not exit", i);
				kill(w->pid, SIGKILL);
				waitpid(w->pid, &ws, 0);
			}
			harness_sleep_ms(1);
		}
		if (w->pid != 0 && !(WIFEXITED(ws) && WEXITSTATUS(ws) == 0))
			churn_err(r->ch, "worker %u ended with 0x%x", i, ws);
		run_clear(w);
	}
}

/* The live workers at the end, for the checks. */
static size_t
run_ends(struct runner *r, struct churn_worker_end *end)
{
	size_t n = 0;

	for (unsigned i = 0; i < r->ch->o->workers; i++)
		if (r->s[i].pid != 0)
			end[n++] = (struct churn_worker_end){
			    .pid = r->s[i].pid, .ctl = r->s[i].ctl,
			    .rep = r->s[i].rep };
	return n;
}

/* A run whose operations stopped moving has a worker stuck in a call:
 * a failure, not a hang until ctest's timeout. */
static void
run_progress(struct runner *r)
{
	uint64_t ops = atomic_load(&r->ch->sh->ops);
	int64_t now = harness_now_ms();

	if (ops != r->last_ops || r->dstate == DAEMON_KILLED) {
		r->last_ops = ops;
		r->last_move = now;
	} else if (now - r->last_move > STUCK_MS) {
		churn_err(r->ch, "no operation for %d ms after %llu (a worker "
		    "stuck in a call, or the daemon)", STUCK_MS,
		    (unsigned long long)ops);
	}
}

static int
run_loop(struct runner *r)
{
	int64_t start = harness_now_ms();

	r->last_move = start;
	for (unsigned i = 0; i < r->ch->o->workers; i++)
		run_spawn(r, i);
	while (!run_over(r) && !run_failed(r)) {
		run_daemon(r);
		run_kills(r);
		run_reports(r);
		run_sample(r);
		run_progress(r);
	}
	if (r->ch->o->kill_daemon_pct > 0 && r->dstate != DAEMON_BACK &&
	    !run_failed(r))
		churn_err(r->ch, "the run ended and the daemon was never "
		    "killed");
	r->ch->fig.elapsed_ms = harness_now_ms() - start;
	return run_failed(r) ? -1 : 0;
}

int
churn_run(struct churn *ch)
{
	struct churn_worker_end end[CHURN_MAX_WORKERS];
	struct runner *r = calloc(1, sizeof(*r));
	int rc;

	if (r == NULL)
		return -1;
	r->ch = ch;
	r->rng = ch->o->seed | 1;
	ch->sh->daemon_pid = ch->daemon_pid;
	ch->sh->kill_op = ch->o->ops / 100 * ch->o->kill_daemon_pct;
	for (unsigned i = 0; i < CHURN_MAX_WORKERS; i++)
		r->s[i].ctl = -1;
	rc = run_loop(r);
	if (rc == 0) {
		size_t n = run_ends(r, end);

		ch->fig.end_workers = (unsigned)n;
		rc = churn_check_holdings(ch, end, n);
		run_release(r);
	}
	run_kill_all(r);
	free(r);
	return rc == 0 && ch->nerr == 0 ? 0 : -1;
}
