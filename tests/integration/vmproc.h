/* SPDX-License-Identifier: ISC */
/*
 * vmproc: shm-vm children of the guest tests. A test starts the
 * reference VMM on one of tests/guests' images against its daemon, with
 * its stdout and stderr on pipes, reads what the guest prints as it runs,
 * waits for a line, and reaps it with its exit status. Waits have limits
 * only so that a hung guest fails the test instead of hanging it: every
 * outcome is decided by what the guests print. A child dies with the test
 * (PR_SET_PDEATHSIG); a teardown kills what a failed test left running.
 * Everything here fails the running cmocka test rather than return an
 * error.
 */
#ifndef SHMBROKER_VMPROC_H
#define SHMBROKER_VMPROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define VMPROC_WAIT_MS	120000	/* a hung guest fails, it does not hang */
#define VMPROC_TIMEOUT	"300"	/* shm-vm's own guard, past the test's */
#define VMPROC_OUT_MAX	8192

/* One shm-vm child and what it printed so far. */
struct vmproc {
	pid_t pid;		/* 0: none (never started, or reaped) */
	int out, err;		/* read ends; -1 at EOF */
	size_t olen, elen;
	char outbuf[VMPROC_OUT_MAX];
	char errbuf[VMPROC_OUT_MAX];
};

/* Starts shm-vm --socket socket --guest SHM_VM_GUEST_DIR/guest.elf
 * --timeout VMPROC_TIMEOUT and the NULL-terminated extra arguments (may
 * be NULL). */
void vmproc_start(struct vmproc *vp, const char *socket, const char *guest,
    const char *const *extra);

/* Reads what the child printed, waiting up to ms; false once both of its
 * pipes are closed (it has ended). */
bool vmproc_pump(struct vmproc *vp, int ms);

/* What the guest printed, for a failure (cmocka cuts long messages). */
void vmproc_show(const struct vmproc *vp, pid_t pid);

/* Waits until the guest has printed text (a whole line, with its \n). */
void vmproc_wait_for(struct vmproc *vp, const char *text);

/* Reaps the child and closes its pipes; waitpid's return. */
int vmproc_reap(struct vmproc *vp, int *ws);

/* Reads to the end and returns the exit status (-1 for a signal). */
int vmproc_finish(struct vmproc *vp);

/* SIGKILL and reap, when it runs. */
void vmproc_kill(struct vmproc *vp);

/* The guest ended with status and printed exactly out; its stderr holds
 * no line (a vdev failure, a fault) unless the caller expects some. */
void vmproc_expect(struct vmproc *vp, int status, const char *out,
    bool quiet);

#endif
