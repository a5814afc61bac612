/* SPDX-License-Identifier: ISC */
/*
 * helper: the daemon's helper processes (fd keepers, the fd reaper).
 * Owns how one is started and what it is like: shmbrokerd re-executed
 * with an argument that names its job, so that it starts small instead of
 * inheriting the daemon's heap; its socket to the daemon at HELPER_SOCK;
 * deaf to the signals meant for the daemon; dead with the daemon.
 */
#ifndef SHMBROKER_HELPER_H
#define SHMBROKER_HELPER_H

#include <stdbool.h>
#include <sys/types.h>

#define HELPER_SOCK 3

struct helper {
	pid_t pid;
	int pidfd;	/* close-on-exec */
	int sock;	/* the daemon's end: SOCK_SEQPACKET, non-blocking */
};

/* Starts /proc/self/exe as the helper named by arg (argv[0] is name).
 * Returns 0 or -errno; h is untouched on failure. */
int helper_spawn(const char *name, const char *arg, struct helper *h);

/* Ends h: its socket closed (it exits on the end of its input) and,
 * when kill, SIGKILL too (for one that is stuck). Waits for it only when
 * wait; else reaps it only if it has ended already. Waits go through the
 * pidfd: once a helper is reaped, its pid may be another child's. */
void helper_end(struct helper *h, bool kill_it, bool wait);

/* Whether h's process has ended: its pidfd is readable then. */
bool helper_ended(const struct helper *h);
/* Reaps h's process if it has ended: its wait status as waitpid(2) gives
 * it, or -1 (still running, or reaped already). */
int helper_reap(struct helper *h);

/* In the helper, first thing: deaf to the daemon's signals, dead with it,
 * no descriptor but its socket. Returns only when the daemon lives. */
void helper_child_init(void);

#endif
