/*
 * testcheck: cmocka checks the tests share (see testcheck.h).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testcheck.h"

int
check_count_own_fds(void)
{
	int n = harness_count_fds(getpid());

	if (n < 1)
		fail_msg("cannot read /proc/%d/fd", (int)getpid());
	return n - 1;	/* the directory's own fd */
}

int
check_raw_connect(const char *path)
{
	int fd = harness_connect_raw(path);

	if (fd < 0)
		fail_msg("connect %s: %s", path, strerror(-fd));
	return fd;
}

struct shmc *
check_connect(const char *path, const char *label)
{
	char err[256];
	struct shmc *c;

	if (shmc_connect(path, label, SHMC_DEFAULT_TIMEOUT_MS, &c, err,
	    sizeof(err)) < 0)
		fail_msg("connect to %s: %s", path, err);
	return c;
}

/* A reply for rc, the return of an admin call; transport errors fail. */
static Shmbroker__ServerMessage *
check_admin_reply(struct shmc *adm, int rc, Shmbroker__ServerMessage *m)
{
	if (rc < 0)
		fail_msg("admin call: %d %s", rc, shmc_error(adm));
	assert_non_null(m);
	return m;
}

Shmbroker__ServerMessage *
check_admin_call(struct shmc *adm, Shmbroker__ClientMessage *req)
{
	Shmbroker__ServerMessage *m = NULL;
	int rc = shmc_call(adm, req, &m);

	return check_admin_reply(adm, rc, m);
}

void
check_admin_counts(struct shmc *adm, uint32_t *regions, uint32_t *clients)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminStatus as = SHMBROKER__ADMIN_STATUS__INIT;
	Shmbroker__ServerMessage *m;

	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_STATUS;
	req.admin_status = &as;
	m = check_admin_call(adm, &req);
	assert_int_equal(m->error, SHMBROKER__ERROR__ERR_NONE);
	assert_int_equal(m->body_case,
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_STATUS);
	*regions = m->admin_status->regions;
	*clients = m->admin_status->clients;
	shmbroker__server_message__free_unpacked(m, NULL);
}

int
check_admin_create(struct shmc *adm, const char *name, uint32_t pages)
{
	Shmbroker__ServerMessage *m = NULL;
	int rc = shmc_admin_create(adm, name, pages, &m), err;

	m = check_admin_reply(adm, rc, m);
	err = m->error;
	if (err == SHMBROKER__ERROR__ERR_NONE) {
		assert_int_equal(m->body_case,
		    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_CREATE);
		assert_string_equal(m->admin_create->region->name, name);
		assert_int_equal(m->admin_create->region->size_pages, pages);
		assert_int_equal(m->admin_create->region->origin,
		    SHMBROKER__ORIGIN__ORIGIN_ADMIN);
	}
	shmbroker__server_message__free_unpacked(m, NULL);
	return err;
}

int
check_admin_destroy(struct shmc *adm, const char *name, bool force,
    uint32_t *detached)
{
	Shmbroker__ServerMessage *m = NULL;
	int rc = shmc_admin_destroy(adm, name, force, &m), err;

	m = check_admin_reply(adm, rc, m);
	err = m->error;
	if (err == SHMBROKER__ERROR__ERR_NONE && detached != NULL)
		*detached = m->admin_destroy->detached;
	shmbroker__server_message__free_unpacked(m, NULL);
	return err;
}
