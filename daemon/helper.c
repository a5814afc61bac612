/* SPDX-License-Identifier: ISC */
/*
 * helper: starting and ending the daemon's helper processes (helper.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper.h"

/* Signals meant for the daemon reach its helpers too (`systemctl kill`
 * signals the whole cgroup; a reload's SIGHUP was fatal to keepers, and
 * the only copy of their regions' memory went with them). A helper ends
 * with its socket or its daemon, never by a signal that can be ignored. */
static const int helper_ignored[] = { SIGHUP, SIGINT, SIGTERM, SIGQUIT,
    SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM, SIGVTALRM, SIGPROF, SIGTSTP,
    SIGTTIN, SIGTTOU, SIGXFSZ, SIGXCPU };

void
helper_child_init(void)
{
	sigset_t none;

	for (size_t i = 0; i < sizeof(helper_ignored) /
	    sizeof(helper_ignored[0]); i++)
		signal(helper_ignored[i], SIG_IGN);
	/* Spawned with every signal held (helper_spawn). */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)	/* the daemon died before the line above */
		_exit(0);
	close_range(HELPER_SOCK + 1, ~0u, 0);
}

int
helper_spawn(const char *name, const char *arg, struct helper *h)
{
	char *argv[] = { (char *)name, (char *)arg, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t all;
	pid_t pid;
	int sv[2], err, pidfd = -1;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	/* The daemon's end never blocks: a helper that stops reading costs
	 * what it cannot take, not the event loop. */
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0) {
		err = -errno;
		close(sv[0]);
		close(sv[1]);
		return err;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], HELPER_SOCK);
	/* Every signal held until helper_child_init has made the helper
	 * deaf to the daemon's: a SIGHUP to the cgroup in between killed
	 * it. */
	posix_spawnattr_init(&attr);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
	err = -posix_spawn(&pid, "/proc/self/exe", &fa, &attr, argv, NULL);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	close(sv[1]);
	if (err == 0 && (pidfd = pidfd_open(pid, 0)) < 0) {
		err = -errno;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	if (err < 0) {
		close(sv[0]);
		return err;
	}
	fcntl(pidfd, F_SETFD, FD_CLOEXEC);
	h->pid = pid;
	h->pidfd = pidfd;
	h->sock = sv[0];
	return 0;
}

void
helper_end(struct helper *h, bool kill_it, bool wait)
{
	if (h->pid <= 0)
		return;
	close(h->sock);
	if (kill_it)
		pidfd_send_signal(h->pidfd, SIGKILL, NULL, 0);
	if (wait) {
		siginfo_t si;

		(void)waitid(P_PIDFD, (id_t)h->pidfd, &si, WEXITED);
	} else {
		(void)helper_reap(h);
	}
	close(h->pidfd);
	h->pid = 0;
	h->pidfd = h->sock = -1;
}

bool
helper_ended(const struct helper *h)
{
	struct pollfd p = { .fd = h->pidfd, .events = POLLIN };

	return h->pidfd >= 0 && poll(&p, 1, 0) == 1 &&
	    (p.revents & POLLIN) != 0;
}

int
helper_reap(struct helper *h)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PIDFD, (id_t)h->pidfd, &si, WEXITED | WNOHANG) < 0 ||
	    si.si_pid == 0)
		return -1;
	return si.si_code == CLD_EXITED ? W_EXITCODE(si.si_status, 0) :
	    si.si_status & 0x7f;
}
