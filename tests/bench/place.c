/* SPDX-License-Identifier: ISC */
/*
 * place: the CPU placement every interprocess figure and its floor run
 * under. On a host where a wakeup across CPUs costs ten times one on the
 * same CPU, a figure and its floor compare only under the same placement,
 * so each is measured twice:
 * - same_cpu: every process the figure uses (shmbench, the daemon, the
 *   floor's server, shm-vm and its threads) on one CPU;
 * - cross_cpu: the client side (shmbench, the first VM) on one CPU, the
 *   server side (the daemon, the floor's server, the second VM) on another.
 * The two CPUs are the first two this process may run on at start. Pinning
 * is sched_setaffinity on every thread of a process (/proc/PID/task), so a
 * process that has threads already (shm-vm) moves whole; a child pinned
 * before exec passes its mask on to the threads it makes. The daemon is
 * pinned with its child processes (its fd keepers).
 */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static const char *const place_names[PLACE_N] = { "same_cpu", "cross_cpu" };

const char *
place_name(enum place p)
{
	return p < PLACE_N ? place_names[p] : "none";
}

void
place_init(struct bench *b)
{
	cpu_set_t set;
	int n = 0;

	b->cpu[0] = b->cpu[1] = -1;
	CPU_ZERO(&b->cpus_at_start);
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return;
	b->cpus_at_start = set;
	for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
		if (CPU_ISSET(c, &set))
			b->cpu[n++] = c;
}

bool
place_possible(const struct bench *b, enum place p)
{
	return b->cpu[0] >= 0 && (p == PLACE_SAME || b->cpu[1] >= 0);
}

int
place_cpu(const struct bench *b, enum place p, enum role r)
{
	return r == ROLE_SERVER && p == PLACE_CROSS ? b->cpu[1] : b->cpu[0];
}

static int
pin_task(pid_t tid, int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(tid, sizeof(set), &set) < 0 ? -errno : 0;
}

int
place_pin(pid_t pid, int cpu)
{
	char path[64];
	struct dirent *e;
	DIR *dir;
	int rc = 0, err;

	if (cpu < 0)
		return -EINVAL;
	if (pid == 0)
		return pin_task(0, cpu);
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((dir = opendir(path)) == NULL)
		return pin_task(pid, cpu);
	while ((e = readdir(dir)) != NULL) {
		long tid = strtol(e->d_name, NULL, 10);

		/* A thread that ended meanwhile is no failure. */
		if (tid > 0 && (err = pin_task((pid_t)tid, cpu)) < 0 &&
		    err != -ESRCH)
			rc = err;
	}
	closedir(dir);
	return rc;
}

/* pid and its child processes (the daemon's fd keepers). */
int
place_pin_tree(pid_t pid, int cpu)
{
	DIR *dir = opendir("/proc");
	struct dirent *e;
	char path[64];
	int rc = place_pin(pid, cpu);

	if (dir == NULL)
		return rc;
	while ((e = readdir(dir)) != NULL) {
		char *end;
		long child = strtol(e->d_name, &end, 10);

		if (*end != '\0' || child <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/status", child);
		if (harness_proc_value(path, "PPid") == (long)pid)
			place_pin((pid_t)child, cpu);
	}
	closedir(dir);
	return rc;
}

int
place_pin_role(const struct bench *b, pid_t pid, enum place p, enum role r)
{
	return place_pin(pid, place_cpu(b, p, r));
}

void
place_release(const struct bench *b)
{
	if (CPU_COUNT(&b->cpus_at_start) > 0)
		sched_setaffinity(0, sizeof(b->cpus_at_start),
		    &b->cpus_at_start);
}
