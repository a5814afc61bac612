/*
 * harness: runs a real shmbrokerd for tests and benchmarks. Each daemon gets
 * a fresh temporary directory for its sockets, dies with the process that
 * started it (PR_SET_PDEATHSIG), and is stopped and cleaned up by
 * harness_stop_daemon, which tests call from their teardown so that a
 * failing assertion still leaves nothing behind.
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
