/* SPDX-License-Identifier: ISC */
/*
 * shmctl_watch: `shmctl watch`, the daemon's admin events printed as they
 * come until SIGINT or SIGTERM, taken through a signalfd so that the one
 * poll loop sees both and the command can end with success.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sysexits.h>
#include <unistd.h>

#include "shmctl.h"
#include "shmctl_print.h"

static void
ctl_watch_print(const struct shmc_event *ev, void *arg)
{
	const struct ctl *ctl = arg;

	if (ev->kind != SHMC_EVENT_ADMIN)
		return;
	print_event(ev, ctl->json);
	fflush(stdout);
}

/* Follows events until SIGINT or SIGTERM, which end it with success. */
static int
ctl_watch_loop(struct ctl *ctl, int sfd)
{
	struct pollfd p[2] = {
		{ .fd = sfd, .events = POLLIN },
		{ .fd = shmc_event_fd(ctl->c), .events = POLLIN },
	};
	int n;

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			ctl_warn("poll: %s", strerror(errno));
			return EX_OSERR;
		}
		if (p[0].revents != 0)
			return EX_OK;
		if (p[1].revents != 0 &&
		    (n = shmc_dispatch(ctl->c, ctl_watch_print, ctl)) < 0) {
			ctl_warn("%s", shmc_error(ctl->c));
			return ctl_conn_exit_for_rc(n);
		}
	}
}

int
ctl_watch_run(struct ctl *ctl, char **argv)
{
	Shmbroker__ServerMessage *m;
	sigset_t set;
	int sfd, ex;

	(void)argv;
	/* Blocked from the start: a signal before the loop is not lost. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 ||
	    (sfd = signalfd(-1, &set, SFD_CLOEXEC)) < 0) {
		ctl_warn("signalfd: %s", strerror(errno));
		return EX_OSERR;
	}
	if ((ex = ctl_conn_open(ctl)) == EX_OK && (ex = ctl_conn_call_empty(ctl,
	    SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_WATCH, &m)) == EX_OK) {
		shmbroker__server_message__free_unpacked(m, NULL);
		ex = ctl_watch_loop(ctl, sfd);
	}
	close(sfd);
	return ex;
}
