/* SPDX-License-Identifier: ISC */
/*
 * soak-churn: the churn soak's command line (see tests/soak/README.md).
 * Without --socket it starts its own shmbrokerd (tests/harness), which
 * must exit cleanly at the end; with --socket and --admin-socket it
 * churns a daemon that runs already (under systemd: tests/soak/systemd.sh),
 * whose pid --pid-cmd prints. It makes the admin regions, measures the
 * daemon, runs the churn (churn_run.c), checks the end state
 * (churn_check.c) and prints the figures. Exit status: 0 when every
 * check held, 1 when one failed, 2 for a bad command line.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "churn.h"
#include "churn_view.h"
#include "harness.h"
#include "procfds.h"

#define QUICK_OPS	20000
#define LONG_OPS	10000000
#define ADMIN_MS	30000

static const struct option options[] = {
	{ "socket", required_argument, NULL, 's' },
	{ "admin-socket", required_argument, NULL, 'a' },
	{ "pid-cmd", required_argument, NULL, 'p' },
	{ "workers", required_argument, NULL, 'w' },
	{ "ops", required_argument, NULL, 'n' },
	{ "long", no_argument, NULL, 'L' },
	{ "wait-grace", no_argument, NULL, 'W' },
	{ "kill-pct", required_argument, NULL, 'k' },
	{ "admin-regions", required_argument, NULL, 'A' },
	{ "guest-regions", required_argument, NULL, 'G' },
	{ "life", required_argument, NULL, 'l' },
	{ "kill-daemon-at", required_argument, NULL, 'K' },
	{ "reconnect", required_argument, NULL, 'r' },
	{ "seed", required_argument, NULL, 'S' },
	{ "rss-slack", required_argument, NULL, 'R' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: soak-churn [--long | --ops N] [--workers N] [--kill-pct P]\n"
"                  [--admin-regions N] [--guest-regions N] [--life MIN-MAX]\n"
"                  [--seed N] [--rss-slack KIB] [--quiet]\n"
"                  [--socket PATH --admin-socket PATH --pid-cmd CMD\n"
"                   [--reconnect MS] [--kill-daemon-at PCT] [--wait-grace]]\n\n"
"  --ops N            operations in all (default %d; --long: %d,\n"
"                     also with SHMBROKER_SOAK=long in the environment)\n"
"  --workers N        VMM processes at a time (default 64, at most %d)\n"
"  --kill-pct P       worker lives SIGKILLed at a random moment (10)\n"
"  --admin-regions N  regions the admin makes, --guest-regions N names the\n"
"                     workers create (16 each, %d in all at most)\n"
"  --life MIN-MAX     operations a worker life does (50-500)\n"
"  --rss-slack KIB    growth of the daemon's RSS allowed (4096)\n"
"  --socket, --admin-socket  a daemon that runs already (default: start\n"
"                     one); --pid-cmd CMD prints its pid (a shell command)\n"
"  --reconnect MS     workers use shmc_set_reconnect(MS)\n"
"  --kill-daemon-at PCT  SIGKILL the daemon (--pid-cmd's) at PCT%% of the\n"
"                     operations; its service manager must restart it\n"
"  --wait-grace       after that, wait out the restarted daemon's grace\n"
"                     period (60 s) for the exact end state (--long does)\n",
	    QUICK_OPS, LONG_OPS, CHURN_MAX_WORKERS, CHURN_MAX_REGIONS);
}

static int
parse_num(const char *opt, const char *s, uint64_t lo, uint64_t hi,
    uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "soak-churn: --%s %s: want a number from %"
		    PRIu64 " to %" PRIu64 "\n", opt, s, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

static int
parse_life(struct churn_opts *o, const char *s)
{
	uint64_t lo, hi;
	char buf[64], *dash;

	snprintf(buf, sizeof(buf), "%s", s);
	if ((dash = strchr(buf, '-')) == NULL) {
		fprintf(stderr, "soak-churn: --life %s: want MIN-MAX\n", s);
		return -1;
	}
	*dash = '\0';
	if (parse_num("life", buf, 1, 1000000000, &lo) < 0 ||
	    parse_num("life", dash + 1, lo, 1000000000, &hi) < 0)
		return -1;
	o->life_min = (unsigned)lo;
	o->life_max = (unsigned)hi;
	return 0;
}

/* One option into o; -1 for a bad one. */
static int
parse_opt(struct churn_opts *o, int ch, const char *arg)
{
	uint64_t v = 0;
	int rc = 0;

	switch (ch) {
	case 's': o->socket = arg; return 0;
	case 'a': o->admin_socket = arg; return 0;
	case 'p': o->pid_cmd = arg; return 0;
	case 'L': o->ops = LONG_OPS; o->wait_grace = true; return 0;
	case 'W': o->wait_grace = true; return 0;
	case 'q': o->quiet = true; return 0;
	case 'l': return parse_life(o, arg);
	case 'w': rc = parse_num("workers", arg, 1, CHURN_MAX_WORKERS, &v);
		o->workers = (unsigned)v; break;
	case 'n': rc = parse_num("ops", arg, 1, UINT64_MAX / 2, &o->ops);
		break;
	case 'k': rc = parse_num("kill-pct", arg, 0, 100, &v);
		o->kill_pct = (unsigned)v; break;
	case 'A': rc = parse_num("admin-regions", arg, 1, 32, &v);
		o->admin_regions = (unsigned)v; break;
	case 'G': rc = parse_num("guest-regions", arg, 1, 32, &v);
		o->guest_regions = (unsigned)v; break;
	case 'K': rc = parse_num("kill-daemon-at", arg, 1, 99, &v);
		o->kill_daemon_pct = (unsigned)v; break;
	case 'r': rc = parse_num("reconnect", arg, 1, 600000, &v);
		o->reconnect_ms = (int)v; break;
	case 'S': rc = parse_num("seed", arg, 0, UINT64_MAX, &o->seed);
		break;
	case 'R': rc = parse_num("rss-slack", arg, 0, 1 << 30, &v);
		o->rss_slack_kib = (long)v; break;
	default: return -1;
	}
	return rc;
}

static int
parse(int argc, char **argv, struct churn_opts *o)
{
	const char *env = getenv("SHMBROKER_SOAK");
	int ch;

	*o = (struct churn_opts){ .workers = 64, .ops = QUICK_OPS,
	    .kill_pct = 10, .admin_regions = 16, .guest_regions = 16,
	    .life_min = 50, .life_max = 500, .rss_slack_kib = 4096,
	    .seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) };
	if (env != NULL && strcmp(env, "long") == 0) {
		o->ops = LONG_OPS;
		o->wait_grace = true;
	}
	while ((ch = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (ch == 'h') {
			usage(stdout);
			exit(0);
		}
		if (parse_opt(o, ch, optarg) < 0) {
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc ||
	    (o->socket == NULL) != (o->admin_socket == NULL) ||
	    (o->socket != NULL && o->pid_cmd == NULL) ||
	    (o->kill_daemon_pct > 0 && (o->pid_cmd == NULL ||
	    o->reconnect_ms == 0))) {
		fprintf(stderr, "soak-churn: --socket goes with --admin-socket "
		    "and --pid-cmd, --kill-daemon-at with --pid-cmd and "
		    "--reconnect\n");
		return -1;
	}
	if (o->admin_regions + o->guest_regions > CHURN_MAX_REGIONS) {
		fprintf(stderr, "soak-churn: at most %d regions\n",
		    CHURN_MAX_REGIONS);
		return -1;
	}
	return 0;
}

static void
print_figures(const struct churn *ch)
{
	const struct churn_figures *f = &ch->fig;
	const struct churn_opts *o = ch->o;
	uint64_t c[CC_COUNTERS];
	double s = f->elapsed_ms / 1000.0;

	for (int i = 0; i < CC_COUNTERS; i++)
		c[i] = atomic_load(&ch->sh->count[i]);
	printf("soak-churn: %" PRIu64 " operations by %u VMM processes at a "
	    "time in %.1f s (%.0f/s): %" PRIu64 " lives, %" PRIu64 " SIGKILLed,"
	    " %" PRIu64 " ended by themselves, %u at the end (seed %" PRIu64
	    ")\n", o->ops, o->workers, s, s > 0 ? o->ops / s : 0.0, f->lives,
	    f->kills, f->clean_ends, f->end_workers, o->seed);
	printf("  attaches %" PRIu64 " (%" PRIu64 " created, %" PRIu64
	    " claiming the eventfd), %" PRIu64 " refused as full, %" PRIu64
	    " finds of absent guest regions; detaches %" PRIu64 ", notifies %"
	    PRIu64 ", status reads %" PRIu64 "\n", c[CC_ATTACH_OK],
	    c[CC_CREATED], c[CC_CLAIMED], c[CC_CLIENT_MAX], c[CC_NOT_FOUND],
	    c[CC_DETACH], c[CC_NOTIFY], c[CC_STATUS]);
	printf("  events: %" PRIu64 " membership changes, %" PRIu64
	    " notifications; region patterns checked at %" PRIu64
	    " attaches and in %u regions at the end\n", c[CC_EV_PEER],
	    c[CC_EV_NOTIFY], c[CC_DATA_CHECKED], f->marked);
	printf("  end: %u live processes hold %u clients in %u regions, as "
	    "the daemon lists them; the %u admin regions kept\n",
	    f->end_workers, f->end_clients, f->end_regions, o->admin_regions);
	printf("  daemon fds %d before, at most %d during, %d after; RSS %ld "
	    "KiB before, at most %ld during, %ld after\n", f->fds_before,
	    f->fds_peak, f->fds_after, f->rss_before, f->rss_peak,
	    f->rss_after);
	if (o->kill_daemon_pct == 0)
		return;
	printf("  daemon SIGKILLed at %u%% (pid %d, back as %d in %lld ms): "
	    "%" PRIu64 " reconnects; attachments re-claimed: %" PRIu64 " at "
	    "their index, %" PRIu64 " at another (the daemon gave %" PRIu64
	    " kept indices to new attaches: no other was free), %" PRIu64
	    " lost (attaches filled the region first); %" PRIu64 " eventfds "
	    "changed\n", o->kill_daemon_pct, (int)f->daemon_pid_before,
	    (int)f->daemon_pid_after, (long long)f->daemon_down_ms,
	    c[CC_RECONNECTS], c[CC_KEPT_INDEX], c[CC_MOVED_INDEX],
	    f->kept_given, c[CC_LOST_FULL], c[CC_EV_EVENTFD]);
	if (f->lingering == 0) {
		printf("  at the end no restored region waited for its "
		    "clients any more: the end state is the exact one\n");
		return;
	}
	printf("  at the end %u restored guest regions without clients kept "
	    "for the grace period, with their data", f->lingering);
	if (f->grace_waited_ms > 0)
		printf("; gone %lld ms after the restart\n",
		    (long long)f->grace_waited_ms);
	else
		printf(", and %u state pages (not waited for: --wait-grace)\n",
		    f->state_kept);
}

/* The admin connection, waiting for a daemon that restarts. */
static int
connect_admin(struct churn *ch)
{
	char err[256];

	if (shmc_connect(ch->admin_socket, "soak-admin", ADMIN_MS, &ch->adm,
	    err, sizeof(err)) < 0) {
		churn_err(ch, "connect to %s: %s", ch->admin_socket, err);
		return -1;
	}
	if (ch->o->reconnect_ms > 0)
		shmc_set_reconnect(ch->adm, ch->o->reconnect_ms);
	return 0;
}

/* The regions, the baseline, the run, the checks. */
static int
soak(struct churn *ch)
{
	struct procfds before;

	if (connect_admin(ch) < 0 || churn_make_admin_regions(ch) < 0)
		return -1;
	if ((ch->daemon_pid = churn_daemon_pid(ch)) <= 0) {
		churn_err(ch, "no daemon pid (--pid-cmd '%s')", ch->o->pid_cmd);
		return -1;
	}
	harness_settled_fd_count(ch->daemon_pid);
	if (procfds_read(ch->daemon_pid, &before) < 0) {
		churn_err(ch, "cannot read /proc/%d/fd", (int)ch->daemon_pid);
		return -1;
	}
	ch->fig.fds_before = ch->fig.fds_peak = before.total;
	ch->fig.rss_before = ch->fig.rss_peak = harness_rss_kib(
	    ch->daemon_pid);
	if (churn_run(ch) < 0)
		return -1;
	ch->fig.daemon_pid_after = ch->daemon_pid;
	return churn_check_after(ch, &before, ch->fig.rss_before);
}

static void
print_worker_failures(const struct churn_shared *sh)
{
	unsigned n = atomic_load(&sh->nfail);

	for (unsigned i = 0; i < n && i < CHURN_FAILS; i++)
		printf("FAIL: %s\n", sh->fail[i]);
	if (n > CHURN_FAILS)
		printf("FAIL: ... and %u more\n", n - CHURN_FAILS);
}

int
main(int argc, char **argv)
{
	struct churn_opts o;
	struct churn ch = { .o = &o };
	struct test_daemon d = { 0 };
	const char *const extra[] = { "--hugepages", "never", "--log-level",
	    "warning", NULL };
	int rc;

	if (parse(argc, argv, &o) < 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	ch.sh = mmap(NULL, sizeof(*ch.sh), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ch.sh == MAP_FAILED) {
		perror("soak-churn: mmap");
		return 1;
	}
	ch.socket = o.socket;
	ch.admin_socket = o.admin_socket;
	if (o.socket == NULL) {
		if (harness_start_daemon(&d, extra) < 0)
			return 1;
		ch.socket = d.socket;
		ch.admin_socket = d.admin_socket;
		ch.daemon_pid = d.pid;
	}
	rc = soak(&ch);
	if (ch.adm != NULL)
		shmc_close(ch.adm);
	if (d.pid > 0 && harness_stop_daemon_checked(&d) != 0)
		churn_err(&ch, "the daemon did not exit cleanly");
	print_worker_failures(ch.sh);
	if (rc == 0 && ch.nerr == 0 && atomic_load(&ch.sh->nfail) == 0) {
		print_figures(&ch);
		return 0;
	}
	print_figures(&ch);
	printf("soak-churn: FAILED\n");
	return 1;
}
