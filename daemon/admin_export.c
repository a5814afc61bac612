/* SPDX-License-Identifier: ISC */
/*
 * admin_export: the admin requests that serve a region to stock QEMU
 * (AdminExport, AdminUnexport) and the exports `shmctl show` lists. The
 * exports themselves are ivshmem.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "broker.h"

/* An admin request's region, or NULL (replied). */
static struct region *
admin_export_region(struct conn *c, uint64_t id, const char *name)
{
	struct region *g = registry_find(&c->b->reg, name);

	if (g == NULL)
		conn_reply_error(c, id, SHMBROKER__ERROR__ERR_NOT_FOUND,
		    "no region named '%.40s'", name);
	return g;
}

void
admin_export(struct conn *c, uint64_t id, const Shmbroker__AdminExport *req)
{
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__AdminExportReply r = SHMBROKER__ADMIN_EXPORT_REPLY__INIT;
	struct region *g = admin_export_region(c, id, req->name);
	char err[BROKER_MESSAGE_MAX];
	int rc;

	if (g == NULL)
		return;
	rc = ivshmem_export(c->b, g, req->path, req->vectors == 0 ? 1 :
	    req->vectors, false, err, sizeof(err));
	if (rc < 0) {
		conn_reply_error(c, id, rc == -EINVAL ?
		    SHMBROKER__ERROR__ERR_INVALID : rc == -EEXIST ||
		    rc == -EADDRINUSE ? SHMBROKER__ERROR__ERR_EXISTS :
		    SHMBROKER__ERROR__ERR_NO_RESOURCES, "%s", err);
		return;
	}
	log_info(&c->b->log, "connection %llu (uid %u) exported region %s "
	    "on %s", (unsigned long long)c->id, (unsigned)c->cred.uid,
	    g->name, req->path);
	m.id = id;
	m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_EXPORT;
	m.admin_export = &r;
	conn_send(c, &m, NULL, 0);
}

void
admin_unexport(struct conn *c, uint64_t id,
    const Shmbroker__AdminUnexport *req)
{
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__AdminUnexportReply r = SHMBROKER__ADMIN_UNEXPORT_REPLY__INIT;
	struct region *g = admin_export_region(c, id, req->name);

	if (g == NULL)
		return;
	r.closed = ivshmem_unexport(c->b, g, req->path[0] != '\0' ?
	    req->path : NULL);
	if (r.closed == 0) {
		conn_reply_error(c, id, SHMBROKER__ERROR__ERR_NOT_FOUND,
		    "region '%s' is not exported%s%s", req->name,
		    req->path[0] != '\0' ? " on " : "", req->path);
		return;
	}
	m.id = id;
	m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_UNEXPORT;
	m.admin_unexport = &r;
	conn_send(c, &m, NULL, 0);
}

size_t
admin_export_infos(struct broker *b, const struct region *g,
    Shmbroker__ExportInfo infos[IVSHMEM_MAX_EXPORTS],
    Shmbroker__ExportInfo *ptrs[IVSHMEM_MAX_EXPORTS])
{
	struct ivshmem_export_info ex[IVSHMEM_MAX_EXPORTS];
	size_t n = ivshmem_exports(b, g, ex, IVSHMEM_MAX_EXPORTS);

	for (size_t i = 0; i < n; i++) {
		shmbroker__export_info__init(&infos[i]);
		infos[i].path = (char *)ex[i].path;
		infos[i].vectors = ex[i].vectors;
		infos[i].peers = ex[i].peers;
		infos[i].configured = ex[i].configured;
		ptrs[i] = &infos[i];
	}
	return n;
}
