/* SPDX-License-Identifier: ISC */
/*
 * procfds: a process's descriptors by kind, read from /proc/PID/fd, so
 * that a soak can say not just that a daemon or VMM holds more descriptors
 * than it did but which: region memfds (the daemon names them shm:NAME),
 * state pages (shm-state), eventfds, sockets, and the rest. Plain C, no
 * cmocka.
 */
#ifndef SHMBROKER_PROCFDS_H
#define SHMBROKER_PROCFDS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define PROCFDS_NAMES	128	/* region names kept */
#define PROCFDS_NAME	64

enum procfds_kind {
	PF_REGION,	/* /memfd:shm:NAME */
	PF_STATE,	/* /memfd:shm-state */
	PF_MEMFD,	/* any other memfd */
	PF_EVENTFD,
	PF_SOCKET,
	PF_OTHER,
	PF_KINDS
};

struct procfds {
	int total;
	int n[PF_KINDS];
	size_t nnames;		/* region memfds' names, sorted */
	char names[PROCFDS_NAMES][PROCFDS_NAME];
};

/* Reads pid's descriptors into out. Returns 0, or -errno. */
int procfds_read(pid_t pid, struct procfds *out);
/* The counts as one line: "31 (regions 16, state 0, eventfd 0, ...)". */
void procfds_format(const struct procfds *p, char *buf, size_t len);
/* Memory mappings of pid whose path starts with prefix (e.g. "/memfd:"),
 * from /proc/PID/maps; -errno when it cannot be read. */
int procfds_count_maps(pid_t pid, const char *prefix);

#endif
