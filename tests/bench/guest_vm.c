/* SPDX-License-Identifier: ISC */
/*
 * guest_vm: the VMs of the guest figures. Each is a child process (shm-vm
 * on the run's daemon, or shmbench-vm) pinned to its CPU before it execs,
 * so all its threads run there, with its stdout piped back; what its guest
 * prints is read to the end and parsed (guest.h), and a VM that fails or
 * outlives GUEST_LIMIT_MS is killed and reported. A pair runs at once; when
 * one fails, its partner, which would wait for it until its own timeout,
 * is killed.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest.h"

#ifndef SHM_VM_PATH
#error "SHM_VM_PATH must be defined (tests/bench/CMakeLists.txt)"
#endif
#ifndef SHMBENCH_VM_PATH
#error "SHMBENCH_VM_PATH must be defined (tests/bench/CMakeLists.txt)"
#endif
#ifndef SHM_VM_GUEST_DIR
#error "SHM_VM_GUEST_DIR must be defined (tests/bench/CMakeLists.txt)"
#endif

#define VM_TIMEOUT_S "290"	/* the VM's own, under GUEST_LIMIT_MS */

void
vm_spec_shm_vm(struct guest_run *r, struct vm_spec *v, const char *guest,
    const char *mem, int cpu)
{
	size_t n = 0;

	memset(v, 0, sizeof(*v));
	snprintf(v->path, sizeof(v->path), "%s/%s", SHM_VM_GUEST_DIR, guest);
	v->argv[n++] = SHM_VM_PATH;
	v->argv[n++] = "--socket";
	v->argv[n++] = r->d.socket;
	v->argv[n++] = "--guest";
	v->argv[n++] = v->path;
	v->argv[n++] = "--mem";
	v->argv[n++] = mem;
	v->argv[n++] = "--timeout";
	v->argv[n++] = VM_TIMEOUT_S;
	v->argv[n] = NULL;
	v->cpu = cpu;
}

/* shmbench-vm's arguments that every mode has; the count of them. */
static size_t
vm_spec_benchvm(struct vm_spec *v, const char *guest, int cpu)
{
	size_t n = 0;

	memset(v, 0, sizeof(*v));
	snprintf(v->path, sizeof(v->path), "%s/%s", SHM_VM_GUEST_DIR, guest);
	v->argv[n++] = SHMBENCH_VM_PATH;
	v->argv[n++] = "--guest";
	v->argv[n++] = v->path;
	v->argv[n++] = "--mem-mib";
	v->argv[n++] = "8";
	v->argv[n++] = "--timeout";
	v->argv[n++] = VM_TIMEOUT_S;
	v->cpu = cpu;
	return n;
}

void
vm_spec_doorbell(struct vm_spec *v, const char *guest, int shared,
    int irqfd, int doorbell, int cpu)
{
	static const char *const opt[3] = {
		"--shared-fd", "--irqfd", "--doorbell-fd",
	};
	const int fds[3] = { shared, irqfd, doorbell };
	size_t n = vm_spec_benchvm(v, guest, cpu);

	for (int i = 0; i < 3; i++) {
		snprintf(v->num[i], sizeof(v->num[i]), "%d", fds[i]);
		v->argv[n++] = opt[i];
		v->argv[n++] = v->num[i];
		v->keep[v->nkeep++] = fds[i];
	}
	v->argv[n] = NULL;
}

void
vm_spec_replay(struct vm_spec *v, const char *guest, int sock,
    uint32_t huge_kib, int cpu)
{
	size_t n = vm_spec_benchvm(v, guest, cpu);

	snprintf(v->num[0], sizeof(v->num[0]), "%d", sock);
	v->argv[n++] = "--replay-fd";
	v->argv[n++] = v->num[0];
	snprintf(v->num[1], sizeof(v->num[1]), "%u", huge_kib);
	v->argv[n++] = "--huge-kib";
	v->argv[n++] = v->num[1];
	v->argv[n] = NULL;
	v->keep[v->nkeep++] = sock;
}

/* In the child: on its CPU, with its descriptors, then the program. */
static void __attribute__((noreturn))
vm_exec(struct guest_run *r, const struct vm_spec *v, int out)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	pool_close_in_child(r->b);
	sigprocmask(SIG_UNBLOCK, &r->b->stop, NULL);
	if (v->cpu >= 0 && place_pin(0, v->cpu) < 0)
		_exit(126);
	for (int i = 0; i < v->nkeep; i++)
		fcntl(v->keep[i], F_SETFD, 0);
	dup2(out, STDOUT_FILENO);
	execv(v->argv[0], (char *const *)v->argv);
	_exit(127);
}

int
vm_start(struct guest_run *r, struct guest_vm *g, const struct vm_spec *v)
{
	int p[2] = { -1, -1 }, err;

	memset(g, 0, sizeof(*g));
	if (pipe2(p, O_CLOEXEC) < 0 || (g->pid = fork()) < 0) {
		err = errno;
		if (p[0] >= 0) {
			close(p[0]);
			close(p[1]);
		}
		snprintf(r->err, sizeof(r->err), "cannot start %.80s on %.160s: %s",
		    v->argv[0], v->path, strerror(err));
		return -1;
	}
	if (g->pid == 0)
		vm_exec(r, v, p[1]);
	close(p[1]);
	g->out = p[0];
	return 0;
}

uint64_t
guest_ns(const struct guest_run *r, double ticks)
{
	return (uint64_t)(ticks * r->ns_per_tick);
}

/* One line of guest output: a sample, or a result "R key value". */
static void
vm_line(struct guest_run *r, const char *line, struct guest_out *o)
{
	const char *sp;
	size_t klen;

	if (o == NULL || line[1] != ' ')
		return;
	if (line[0] == 'S' && o->s != NULL)
		samples_add(o->s, guest_ns(r, (double)strtoull(line + 2, NULL,
		    16)));
	if (line[0] != 'R' || o->nres >= GUEST_MAX_RESULTS ||
	    (sp = strchr(line + 2, ' ')) == NULL ||
	    (klen = (size_t)(sp - line - 2)) >= sizeof(o->key[0]))
		return;
	memcpy(o->key[o->nres], line + 2, klen);
	o->key[o->nres][klen] = '\0';
	o->val[o->nres++] = (double)strtoull(sp + 1, NULL, 16);
}

double
guest_result(const struct guest_out *o, const char *key)
{
	for (size_t i = 0; i < o->nres; i++)
		if (strcmp(o->key[i], key) == 0)
			return o->val[i];
	return NAN;
}

static void
vm_line_end(struct guest_run *r, struct guest_vm *g, struct guest_out *o)
{
	g->line[g->len] = '\0';
	if (g->len > 1)
		vm_line(r, g->line, o);
	g->len = 0;
}

/* What the guest printed since the last call, line by line; 0 at its end.
 * In blocks: shmbench may share a CPU with what it measures. */
static int
vm_read(struct guest_run *r, struct guest_vm *g, struct guest_out *o)
{
	char buf[4096];
	ssize_t n = read(g->out, buf, sizeof(buf));

	if (n < 0)
		return errno == EINTR;
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] != '\n')
			g->line[g->len++] = buf[i];
		if (buf[i] == '\n' || g->len + 1 >= sizeof(g->line))
			vm_line_end(r, g, o);
	}
	if (n == 0)
		vm_line_end(r, g, o);	/* a last line without its newline */
	return n > 0;
}

/* Reads the guest's output to its end and reaps it; 0 when it exited 0.
 * An interrupted run (SIGINT, SIGTERM) kills the guest at once. */
int
vm_finish(struct guest_run *r, struct guest_vm *g, struct guest_out *o)
{
	int64_t end = (int64_t)(bench_now_ns() / 1000000) + GUEST_LIMIT_MS;
	struct pollfd p = { g->out, POLLIN, 0 };
	int ws = 0, open_ = 1;

	while (open_ && (int64_t)(bench_now_ns() / 1000000) < end &&
	    !bench_stopped(r->b)) {
		if (poll(&p, 1, 500) <= 0)
			continue;
		open_ = vm_read(r, g, o);
	}
	close(g->out);
	if (open_)
		kill(g->pid, SIGKILL);
	while (waitpid(g->pid, &ws, 0) < 0 && errno == EINTR)
		continue;
	if (!open_ && WIFEXITED(ws) && WEXITSTATUS(ws) == 0)
		return 0;
	snprintf(r->err, sizeof(r->err), "guest run failed (exit status %d%s)"
	    "; run the VM by hand on it to see its stderr",
	    WIFEXITED(ws) ? WEXITSTATUS(ws) : -1,
	    !open_ ? "" : bench_stopped(r->b) ? ", interrupted" :
	    ", timed out");
	return -1;
}

int
vm_run_pair(struct guest_run *r, const struct vm_spec *va,
    const struct vm_spec *vb, struct guest_out *ao, struct guest_out *bo)
{
	char first[sizeof(r->err)];
	struct guest_vm a, b;
	int rc;

	if (vm_start(r, &a, va) < 0)
		return -1;
	if ((rc = vm_start(r, &b, vb)) == 0)
		rc = vm_finish(r, &a, ao);
	else
		kill(a.pid, SIGKILL);
	if (rc < 0) {
		memcpy(first, r->err, sizeof(first));
		if (b.pid > 0)
			kill(b.pid, SIGKILL);
		vm_finish(r, b.pid > 0 ? &b : &a, NULL);
		memcpy(r->err, first, sizeof(first));
		return -1;
	}
	return vm_finish(r, &b, bo);
}

int
vm_run_one(struct guest_run *r, const struct vm_spec *v, struct guest_out *o)
{
	struct guest_vm g;

	if (vm_start(r, &g, v) < 0)
		return -1;
	return vm_finish(r, &g, o);
}
