/* SPDX-License-Identifier: ISC */
/*
 * harness: runs a real shmbrokerd for tests and benchmarks. Each daemon gets
 * a fresh temporary directory for its sockets, dies with the process that
 * started it (PR_SET_PDEATHSIG), and is stopped and cleaned up by
 * harness_stop_daemon, which tests call from their teardown so that a
 * failing assertion still leaves nothing behind. A test that restarts the
 * daemon gets the next one on the same directory and sockets.
 */
#ifndef SHMBROKER_HARNESS_H
#define SHMBROKER_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "testutil.h"

struct test_daemon {
	pid_t pid;
	char dir[64];
	char socket[108];
	char admin_socket[108];
	char log[128];		/* the daemon's stderr */
};

/*
 * Starts shmbrokerd with --socket and --admin-socket in a new temporary
 * directory, plus the NULL-terminated extra arguments (may be NULL), and
 * waits until both sockets accept connections. Returns 0, or -1 with the
 * reason on stderr.
 */
int harness_start_daemon(struct test_daemon *d, const char *const *extra);
/* SIGTERM, wait (SIGKILL after 5 s), remove the directory. Returns the
 * daemon's exit status, or -1 when it had to be killed or crashed. */
int harness_stop_daemon(struct test_daemon *d);

/*
 * Ends the daemon with sig and reaps it (SIGKILL when it is still there
 * after 5 s), keeping its directory, sockets' paths and log for
 * harness_restart_daemon. Returns its exit status, or -1 when a signal
 * ended it (always so for SIGKILL) or it did not exit on sig. sig 0
 * sends nothing: it waits for a daemon that exits by itself.
 */
int harness_end_daemon(struct test_daemon *d, int sig);

/* How harness_restart_daemon (or harness_start_daemon_how) starts the
 * next daemon; NULL: at once, with nothing passed. */
struct harness_restart {
	int delay_ms;		/* > 0: it starts this much later, unwaited */
	/*
	 * Descriptors passed as systemd passes its fd store: at 3, 4, ...
	 * in this order, named in LISTEN_FDNAMES, counted in LISTEN_FDS,
	 * for LISTEN_PID the new daemon's.
	 */
	const int *fds;
	const char *const *fdnames;
	int nfds;
	long nofile;		/* > 0: its descriptor limit, soft and hard */
	bool no_caps;		/* started as root without root's capabilities,
				 * as under its unit (needs CAP_SETPCAP) */
	/* > 0: runs as this uid (and gid), owning its directory, as under
	 * its unit's User=; no capabilities. The kernel caps fds in flight
	 * per user: as root, the daemon's count is every root process's,
	 * and other tests' daemons made its sends fail. */
	uid_t uid;
};

/* harness_start_daemon, started as how says (delay_ms must be 0). */
int harness_start_daemon_how(struct test_daemon *d, const char *const *extra,
    const struct harness_restart *how);

/*
 * Ends the running daemon, if any, with SIGTERM (it must exit with 0),
 * and starts a new one on the same directory and sockets with the extra
 * arguments, its stderr appended to the same log, so that clients
 * reconnect to the path they know and the teardown's stop finds the new
 * one. Unless how delays it, waits until both sockets accept
 * connections. Returns 0, or -1 with the reason on stderr.
 */
int harness_restart_daemon(struct test_daemon *d, const char *const *extra,
    const struct harness_restart *how);
/*
 * The same for a test that requires a clean exit: a daemon that did not
 * exit with 0 (a crash, a sanitizer report) is reported on stderr with its
 * log, which the harness keeps for that when SHMBROKER_KEEP_LOGS is set,
 * and then the directory goes. Does nothing when d->pid is 0.
 */
int harness_stop_daemon_checked(struct test_daemon *d);

/* Runs argv (argv[0] a path) with stdout captured into out (NUL-terminated,
 * truncated to outlen). Returns the exit status, or -1. */
int harness_run(char *const argv[], char *out, size_t outlen);

/* Paths of the built programs, set by CMake. */
#ifndef SHMBROKERD_PATH
#error "SHMBROKERD_PATH must be defined"
#endif
#ifndef SHMCTL_PATH
#error "SHMCTL_PATH must be defined"
#endif

#endif
