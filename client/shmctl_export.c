/* SPDX-License-Identifier: ISC */
/*
 * shmctl_export: `export` and `unexport`, which serve a region to stock
 * QEMU on an ivshmem socket and stop it. The socket path is made absolute
 * here, against shmctl's working directory: the daemon runs elsewhere.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "shmctl.h"

/* --ivshmem PATH, absolute. */
static int
ctl_export_path(const char *path, char out[PATH_MAX])
{
	char cwd[PATH_MAX];

	if (path[0] == '/') {
		snprintf(out, PATH_MAX, "%s", path);
	} else if (getcwd(cwd, sizeof(cwd)) == NULL ||
	    snprintf(out, PATH_MAX, "%s/%s", cwd, path) >= PATH_MAX) {
		ctl_warn("cannot make --ivshmem %.60s an absolute path", path);
		return EX_USAGE;
	}
	if (strlen(out) > 107) {
		ctl_warn("--ivshmem %.60s: a UNIX socket path has at most 107 "
		    "bytes", out);
		return EX_USAGE;
	}
	return EX_OK;
}

static int
ctl_export_vectors(const char *s, uint32_t *n)
{
	char *end;
	unsigned long v;

	if (s == NULL) {
		*n = 1;
		return EX_OK;
	}
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 16 ||
	    s[0] == '-') {
		ctl_warn("--vectors '%.20s': give the QEMU's number of "
		    "interrupt vectors, 1 to 16", s);
		return EX_USAGE;
	}
	*n = (uint32_t)v;
	return EX_OK;
}

int
ctl_export_run(struct ctl *ctl, char **argv)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminExport body = SHMBROKER__ADMIN_EXPORT__INIT;
	Shmbroker__ServerMessage *m;
	char path[PATH_MAX];
	uint32_t vectors;
	int ex;

	if (ctl->ivshmem == NULL) {
		ctl_warn("export: give the socket with --ivshmem PATH");
		return EX_USAGE;
	}
	if ((ex = ctl_region_check_name(argv[0])) != EX_OK ||
	    (ex = ctl_export_path(ctl->ivshmem, path)) != EX_OK ||
	    (ex = ctl_export_vectors(ctl->vectors, &vectors)) != EX_OK ||
	    (ex = ctl_conn_open(ctl)) != EX_OK)
		return ex;
	body.name = argv[0];
	body.path = path;
	body.vectors = vectors;
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_EXPORT;
	req.admin_export = &body;
	if ((ex = ctl_conn_call(ctl, &req,
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_EXPORT, &m)) != EX_OK)
		return ex;
	shmbroker__server_message__free_unpacked(m, NULL);
	if (ctl->json) {
		struct jw w = { .f = stdout };

		jw_open(&w, NULL, '{');
		jw_str(&w, "name", argv[0]);
		jw_str(&w, "ivshmem", path);
		jw_u64(&w, "vectors", vectors);
		jw_close(&w, '}');
		putchar('\n');
	} else
		printf("region %s exported on %s (%u vector%s)\n", argv[0],
		    path, vectors, vectors == 1 ? "" : "s");
	return EX_OK;
}

int
ctl_unexport_run(struct ctl *ctl, char **argv)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminUnexport body = SHMBROKER__ADMIN_UNEXPORT__INIT;
	Shmbroker__ServerMessage *m;
	char path[PATH_MAX] = "";
	int ex;

	if ((ex = ctl_region_check_name(argv[0])) != EX_OK ||
	    (ctl->ivshmem != NULL &&
	    (ex = ctl_export_path(ctl->ivshmem, path)) != EX_OK) ||
	    (ex = ctl_conn_open(ctl)) != EX_OK)
		return ex;
	body.name = argv[0];
	body.path = path;
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_UNEXPORT;
	req.admin_unexport = &body;
	if ((ex = ctl_conn_call(ctl, &req,
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_UNEXPORT, &m)) != EX_OK)
		return ex;
	if (ctl->json) {
		struct jw w = { .f = stdout };

		jw_open(&w, NULL, '{');
		jw_str(&w, "name", argv[0]);
		jw_u64(&w, "closed", m->admin_unexport->closed);
		jw_close(&w, '}');
		putchar('\n');
	} else
		printf("region %s: %u export%s closed\n", argv[0],
		    m->admin_unexport->closed,
		    m->admin_unexport->closed == 1 ? "" : "s");
	shmbroker__server_message__free_unpacked(m, NULL);
	return EX_OK;
}
