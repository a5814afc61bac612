/* SPDX-License-Identifier: ISC */
/*
 * procfds: a process's descriptors by kind (see procfds.h).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procfds.h"

#define REGION_PREFIX	"/memfd:shm:"
#define STATE_PREFIX	"/memfd:shm-state"

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The kind of a descriptor by its /proc link; a region's name into name. */
static enum procfds_kind
procfds_kind_of(const char *link, char *name, size_t len)
{
	if (strncmp(link, REGION_PREFIX, strlen(REGION_PREFIX)) == 0) {
		const char *s = link + strlen(REGION_PREFIX);
		const char *end = strstr(s, " (deleted)");
		size_t n = end != NULL ? (size_t)(end - s) : strlen(s);

		snprintf(name, len, "%.*s", (int)n, s);
		return PF_REGION;
	}
	if (strncmp(link, STATE_PREFIX, strlen(STATE_PREFIX)) == 0)
		return PF_STATE;
	if (strncmp(link, "/memfd:", 7) == 0)
		return PF_MEMFD;
	if (strcmp(link, "anon_inode:[eventfd]") == 0)
		return PF_EVENTFD;
	if (strncmp(link, "socket:", 7) == 0)
		return PF_SOCKET;
	return PF_OTHER;
}

int
procfds_read(pid_t pid, struct procfds *out)
{
	char dir[64], path[384], link[256], name[PROCFDS_NAME];
	struct dirent *e;
	DIR *d;

	memset(out, 0, sizeof(*out));
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	if ((d = opendir(dir)) == NULL)
		return -errno;
	while ((e = readdir(d)) != NULL) {
		enum procfds_kind k;
		ssize_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		/* our own descriptor of the directory, when pid is us */
		if (pid == getpid() && atoi(e->d_name) == dirfd(d))
			continue;
		if ((n = readlink(path, link, sizeof(link) - 1)) < 0)
			continue;	/* closed meanwhile */
		link[n] = '\0';
		memset(name, 0, sizeof(name));
		k = procfds_kind_of(link, name, sizeof(name));
		out->n[k]++;
		out->total++;
		if (k == PF_REGION && out->nnames < PROCFDS_NAMES)
			memcpy(out->names[out->nnames++], name, sizeof(name));
	}
	closedir(d);
	qsort(out->names, out->nnames, sizeof(out->names[0]), name_cmp);
	return 0;
}

void
procfds_format(const struct procfds *p, char *buf, size_t len)
{
	snprintf(buf, len, "%d (region memfds %d, state pages %d, other memfds "
	    "%d, eventfds %d, sockets %d, other %d)", p->total, p->n[PF_REGION],
	    p->n[PF_STATE], p->n[PF_MEMFD], p->n[PF_EVENTFD], p->n[PF_SOCKET],
	    p->n[PF_OTHER]);
}

int
procfds_count_maps(pid_t pid, const char *prefix)
{
	char path[64], line[512];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return -errno;
	while (fgets(line, sizeof(line), f) != NULL) {
		/* address perms offset dev inode path */
		const char *p = strchr(line, '/');

		if (p != NULL && strncmp(p, prefix, strlen(prefix)) == 0)
			n++;
	}
	fclose(f);
	return n;
}
