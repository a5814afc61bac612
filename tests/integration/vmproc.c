/* SPDX-License-Identifier: ISC */
/*
 * vmproc: shm-vm children of the guest tests (vmproc.h): the fork and
 * exec, the pipes that carry the guest's console and shm-vm's reasons,
 * the waits and the reaping.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "vmproc.h"

#ifndef SHM_VM_PATH
#error "SHM_VM_PATH must be defined (tests/integration/CMakeLists.txt)"
#endif
#ifndef SHM_VM_GUEST_DIR
#error "SHM_VM_GUEST_DIR must be defined (tests/integration/CMakeLists.txt)"
#endif

#define VMPROC_ARGS	24

static void
vmproc_exec(const char *socket, const char *guest, const char *const *extra,
    int out, int err)
{
	char path[512];
	const char *argv[VMPROC_ARGS] = {
		SHM_VM_PATH, "--socket", socket, "--guest", path,
		"--timeout", VMPROC_TIMEOUT,
	};
	size_t n = 7;

	while (extra != NULL && *extra != NULL && n < VMPROC_ARGS - 1)
		argv[n++] = *extra++;
	argv[n] = NULL;
	/* A test that dies takes its guests with it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	snprintf(path, sizeof(path), "%s/%s.elf", SHM_VM_GUEST_DIR, guest);
	dup2(out, STDOUT_FILENO);
	dup2(err, STDERR_FILENO);
	execv(argv[0], (char *const *)argv);
	_exit(127);
}

void
vmproc_start(struct vmproc *vp, const char *socket, const char *guest,
    const char *const *extra)
{
	int op[2], ep[2];

	memset(vp, 0, sizeof(*vp));
	vp->out = vp->err = -1;
	assert_int_equal(pipe2(op, O_CLOEXEC), 0);
	assert_int_equal(pipe2(ep, O_CLOEXEC), 0);
	vp->pid = fork();
	assert_true(vp->pid >= 0);
	if (vp->pid == 0)
		vmproc_exec(socket, guest, extra, op[1], ep[1]);
	close(op[1]);
	close(ep[1]);
	vp->out = op[0];
	vp->err = ep[0];
}

static void
vmproc_read(int *fd, char *buf, size_t *len)
{
	ssize_t n = read(*fd, buf + *len, VMPROC_OUT_MAX - 1 - *len);

	if (n > 0) {
		*len += (size_t)n;
		buf[*len] = '\0';
	} else if ((n == 0 || errno != EINTR) || *len >= VMPROC_OUT_MAX - 1) {
		close(*fd);
		*fd = -1;
	}
}

bool
vmproc_pump(struct vmproc *vp, int ms)
{
	struct pollfd p[2] = {
		{ .fd = vp->out, .events = POLLIN },
		{ .fd = vp->err, .events = POLLIN },
	};

	if (vp->out < 0 && vp->err < 0)
		return false;
	if (poll(p, 2, ms) <= 0)
		return true;
	if (p[0].revents != 0)
		vmproc_read(&vp->out, vp->outbuf, &vp->olen);
	if (p[1].revents != 0)
		vmproc_read(&vp->err, vp->errbuf, &vp->elen);
	return true;
}

void
vmproc_show(const struct vmproc *vp, pid_t pid)
{
	print_message("shm-vm %d printed on stdout:\n%s\nand on stderr:\n%s",
	    (int)pid, vp->outbuf, vp->errbuf);
}

void
vmproc_wait_for(struct vmproc *vp, const char *text)
{
	int64_t end = harness_now_ms() + VMPROC_WAIT_MS;

	while (strstr(vp->outbuf, text) == NULL) {
		if (!vmproc_pump(vp, 200) || harness_now_ms() > end) {
			vmproc_show(vp, vp->pid);
			fail_msg("shm-vm %d never printed \"%s\"",
			    (int)vp->pid, text);
		}
	}
}

int
vmproc_reap(struct vmproc *vp, int *ws)
{
	int rc;

	while ((rc = waitpid(vp->pid, ws, 0)) < 0 && errno == EINTR)
		continue;
	vp->pid = 0;
	if (vp->out >= 0)
		close(vp->out);
	if (vp->err >= 0)
		close(vp->err);
	vp->out = vp->err = -1;
	return rc;
}

int
vmproc_finish(struct vmproc *vp)
{
	int64_t end = harness_now_ms() + VMPROC_WAIT_MS;
	pid_t pid = vp->pid;
	int ws;

	while (vmproc_pump(vp, 200))
		if (harness_now_ms() > end) {
			vmproc_show(vp, vp->pid);
			fail_msg("shm-vm %d did not end", (int)vp->pid);
		}
	assert_int_equal(vmproc_reap(vp, &ws), pid);
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

void
vmproc_kill(struct vmproc *vp)
{
	int ws;

	if (vp->pid <= 0)
		return;
	kill(vp->pid, SIGKILL);
	(void)vmproc_reap(vp, &ws);
}

void
vmproc_expect(struct vmproc *vp, int status, const char *out, bool quiet)
{
	pid_t pid = vp->pid;
	int st = vmproc_finish(vp);

	if (st != status || strcmp(vp->outbuf, out) != 0 ||
	    (quiet && vp->errbuf[0] != '\0')) {
		vmproc_show(vp, pid);
		print_message("wanted on stdout:\n%s", out);
		fail_msg("shm-vm %d exited %d (want %d)", (int)pid, st,
		    status);
	}
}
