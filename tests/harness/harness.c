/* SPDX-License-Identifier: ISC */
/*
 * harness: start, restart and stop a real shmbrokerd, run programs (see
 * harness.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/securebits.h>

#include "harness.h"

#define HARNESS_WAIT_MS 5000
#define HARNESS_MAX_FDS 64	/* descriptors a restart passes */

static bool
harness_can_connect(const char *path)
{
	int fd = harness_connect_raw(path);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/*
 * In the child: how's descriptors at 3, 4, ... and the LISTEN_* variables
 * that name them, as systemd hands over its fd store. They go out of the
 * way first (close-on-exec copies from 100 on), so that moving one into
 * place never overwrites another still to be moved.
 */
static void
harness_pass_fds(const struct harness_restart *how)
{
	char names[4096] = "", num[16];
	int moved[HARNESS_MAX_FDS];
	size_t len = 0;

	if (how == NULL || how->nfds <= 0 || how->nfds > HARNESS_MAX_FDS)
		return;
	for (int i = 0; i < how->nfds; i++)
		moved[i] = fcntl(how->fds[i], F_DUPFD_CLOEXEC, 100);
	for (int i = 0; i < how->nfds; i++) {
		dup2(moved[i], 3 + i);
		len += (size_t)snprintf(names + len, sizeof(names) - len,
		    "%s%s", i > 0 ? ":" : "", how->fdnames[i]);
		if (len >= sizeof(names))
			_exit(126);
	}
	snprintf(num, sizeof(num), "%d", how->nfds);
	setenv("LISTEN_FDS", num, 1);
	setenv("LISTEN_FDNAMES", names, 1);
	snprintf(num, sizeof(num), "%d", (int)getpid());
	setenv("LISTEN_PID", num, 1);
}

/* In the child: stderr into the log (appended to by a restart), then
 * shmbrokerd on d's sockets with the extra arguments. */
static void
harness_exec_daemon(const struct test_daemon *d, const char *const *extra,
    int log_flags, const struct harness_restart *how)
{
	const char *argv[64];
	int n = 0, fd;

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (how != NULL && how->delay_ms > 0)
		harness_sleep_ms(how->delay_ms);
	fd = open(d->log, O_WRONLY | O_CREAT | O_CLOEXEC | log_flags, 0644);
	if (fd >= 0)
		dup2(fd, STDERR_FILENO);
	harness_pass_fds(how);
	if (how != NULL && how->nofile > 0 &&
	    setrlimit(RLIMIT_NOFILE, &(struct rlimit){ (rlim_t)how->nofile,
	    (rlim_t)how->nofile }) < 0)
		_exit(125);
	/* Root's capabilities come from exec as root: not with NOROOT. */
	if (how != NULL && how->no_caps &&
	    prctl(PR_SET_SECUREBITS, SECBIT_NOROOT) < 0)
		_exit(124);
	if (how != NULL && how->uid > 0 && (chown(d->dir, how->uid,
	    (gid_t)how->uid) < 0 || setgroups(0, NULL) < 0 ||
	    setgid((gid_t)how->uid) < 0 || setuid(how->uid) < 0))
		_exit(123);
	argv[n++] = SHMBROKERD_PATH;
	argv[n++] = "--socket";
	argv[n++] = d->socket;
	argv[n++] = "--admin-socket";
	argv[n++] = d->admin_socket;
	argv[n++] = "--foreground";
	for (; extra != NULL && *extra != NULL && n < 62; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	execv(argv[0], (char *const *)argv);
	_exit(127);
}

static int
harness_fork_daemon(struct test_daemon *d, const char *const *extra,
    int log_flags, const struct harness_restart *how)
{
	if ((d->pid = fork()) < 0) {
		perror("fork");
		d->pid = 0;
		return -1;
	}
	if (d->pid == 0)
		harness_exec_daemon(d, extra, log_flags, how);
	return 0;
}

/* Waits until both of d's sockets accept connections: 0; -1 when the
 * daemon exited first (d->pid is 0 then) or after 5 s. */
static int
harness_wait_daemon(struct test_daemon *d)
{
	int status;

	for (int i = 0; i < HARNESS_WAIT_MS / 10; i++) {
		if (harness_can_connect(d->socket) &&
		    harness_can_connect(d->admin_socket))
			return 0;
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			fprintf(stderr, "shmbrokerd exited during start-up "
			    "(status %d); see %s\n", status, d->log);
			d->pid = 0;
			return -1;
		}
		harness_sleep_ms(10);
	}
	fprintf(stderr, "shmbrokerd did not listen within %d ms\n",
	    HARNESS_WAIT_MS);
	return -1;
}

int
harness_start_daemon(struct test_daemon *d, const char *const *extra)
{
	return harness_start_daemon_how(d, extra, NULL);
}

int
harness_start_daemon_how(struct test_daemon *d, const char *const *extra,
    const struct harness_restart *how)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->dir, sizeof(d->dir), "/tmp/shmbroker-test.XXXXXX");
	if (mkdtemp(d->dir) == NULL) {
		perror("mkdtemp");
		return -1;
	}
	snprintf(d->socket, sizeof(d->socket), "%s/vmm.sock", d->dir);
	snprintf(d->admin_socket, sizeof(d->admin_socket), "%s/admin.sock",
	    d->dir);
	snprintf(d->log, sizeof(d->log), "%s/daemon.log", d->dir);
	if (harness_fork_daemon(d, extra, O_TRUNC, how) < 0)
		return -1;
	if (harness_wait_daemon(d) == 0)
		return 0;
	/* One that exited leaves its directory (and log) to the caller. */
	if (d->pid > 0)
		harness_stop_daemon(d);
	return -1;
}

int
harness_end_daemon(struct test_daemon *d, int sig)
{
	int status = 0;

	if (d->pid <= 0)
		return -1;
	kill(d->pid, sig);
	for (int i = 0; i < HARNESS_WAIT_MS / 10; i++) {
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		}
		harness_sleep_ms(10);
	}
	fprintf(stderr, "shmbrokerd did not exit on signal %d in %d ms\n", sig,
	    HARNESS_WAIT_MS);
	kill(d->pid, SIGKILL);
	waitpid(d->pid, &status, 0);
	d->pid = 0;
	return -1;
}

int
harness_restart_daemon(struct test_daemon *d, const char *const *extra,
    const struct harness_restart *how)
{
	int rc;

	if (d->pid > 0 && (rc = harness_end_daemon(d, SIGTERM)) != 0) {
		fprintf(stderr, "shmbrokerd exited with status %d on SIGTERM; "
		    "see %s\n", rc, d->log);
		return -1;
	}
	if (harness_fork_daemon(d, extra, O_APPEND, how) < 0)
		return -1;
	if (how != NULL && how->delay_ms > 0)
		return 0;
	if (harness_wait_daemon(d) == 0)
		return 0;
	if (d->pid > 0)
		harness_end_daemon(d, SIGKILL);
	return -1;
}

static void
harness_print_log(const char *path)
{
	char line[1024];
	FILE *in = fopen(path, "re");

	if (in == NULL) {
		fprintf(stderr, "(no daemon log at %s)\n", path);
		return;
	}
	fprintf(stderr, "---- %s ----\n", path);
	while (fgets(line, sizeof(line), in) != NULL)
		fputs(line, stderr);
	fprintf(stderr, "---- end of daemon log ----\n");
	fclose(in);
}

static int
harness_stop(struct test_daemon *d, bool print_log)
{
	int rc = harness_end_daemon(d, SIGTERM);

	if (d->dir[0] != '\0') {
		/* Show the log of a daemon that failed before it goes, or keep
		 * it for the reader. */
		if (rc != 0 && getenv("SHMBROKER_KEEP_LOGS") != NULL) {
			fprintf(stderr, "daemon log kept in %s\n", d->dir);
		} else {
			if (rc != 0 && print_log)
				harness_print_log(d->log);
			harness_rmtree(d->dir);
		}
		d->dir[0] = '\0';
	}
	return rc;
}

int
harness_stop_daemon(struct test_daemon *d)
{
	return harness_stop(d, false);
}

int
harness_stop_daemon_checked(struct test_daemon *d)
{
	int rc;

	if (d->pid <= 0)
		return 0;
	if ((rc = harness_stop(d, true)) != 0)
		fprintf(stderr, "shmbrokerd exited with status %d\n", rc);
	return rc;
}

int
harness_run(char *const argv[], char *out, size_t outlen)
{
	int pipefd[2], status;
	size_t used = 0;
	ssize_t n;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -1;
	if ((pid = fork()) < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pipefd[1]);
	while ((n = read(pipefd[0], out + used, outlen - 1 - used)) > 0)
		used += (size_t)n;
	out[used] = '\0';
	/* Drain what did not fit so the child never blocks on a full pipe. */
	{
		char sink[4096];

		while (read(pipefd[0], sink, sizeof(sink)) > 0)
			;
	}
	close(pipefd[0]);
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
