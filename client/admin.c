/* SPDX-License-Identifier: ISC */
/*
 * libshmclient's admin calls (shmclient_admin.h), for this tree's own tools
 * and tests: watch, renewed after a reconnect (reconnect.c), create,
 * destroy and detach. Their replies are the caller's, in the protobuf
 * types.
 */
#include <stdbool.h>

#include "shmclient_int.h"

int
shmc_admin_watch_once(struct shmc *c)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminWatch w = SHMBROKER__ADMIN_WATCH__INIT;
	Shmbroker__ServerMessage *m;
	int rc;

	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_WATCH;
	req.admin_watch = &w;
	rc = shmc_call_expect(c, &req,
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_WATCH, &m);
	if (rc == 0)
		wire_done_server(c->scratch, m);
	return rc;
}

int
shmc_admin_watch(struct shmc *c)
{
	int rc = shmc_admin_watch_once(c);

	if (shmc_try_again(c, &rc))
		rc = shmc_admin_watch_once(c);
	if (rc == 0)
		c->watching = true;
	return rc;
}

int
shmc_admin_create(struct shmc *c, const char *name, uint32_t size_pages,
    Shmbroker__ServerMessage **reply)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminCreate a = SHMBROKER__ADMIN_CREATE__INIT;

	a.name = (char *)name;
	a.size_pages = size_pages;
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_CREATE;
	req.admin_create = &a;
	return shmc_call(c, &req, reply);
}

int
shmc_admin_destroy(struct shmc *c, const char *name, bool force,
    Shmbroker__ServerMessage **reply)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminDestroy d = SHMBROKER__ADMIN_DESTROY__INIT;

	d.name = (char *)name;
	d.force = force;
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_DESTROY;
	req.admin_destroy = &d;
	return shmc_call(c, &req, reply);
}

int
shmc_admin_detach(struct shmc *c, uint64_t client_id, const char *region,
    uint32_t index, Shmbroker__ServerMessage **reply)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminDetach d = SHMBROKER__ADMIN_DETACH__INIT;

	d.client_id = client_id;
	if (region != NULL) {
		d.region = (char *)region;
		d.index = index;
	}
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_DETACH;
	req.admin_detach = &d;
	return shmc_call(c, &req, reply);
}
