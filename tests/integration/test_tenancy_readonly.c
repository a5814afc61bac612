/* SPDX-License-Identifier: ISC */
/*
 * test_tenancy_readonly: access narrower than read-write, against a real
 * shmbrokerd with VMM clients that really are other users (agents, see
 * tenancy_agents.h). A region's mode that gives a connection read without
 * write, and a tenant's allow_ro rule, attach read-only: the client is
 * told so, and its VMM cannot write whatever it tries (a writable shared
 * mapping, opening /proc/self/fd/N again for writing, making the memfd
 * writable), while it reads what writers write. The admin's view says
 * which client may write; a reload that turns allow_ro into allow is
 * logged as widening and applies to the attaches after it. Needs root;
 * every test skips otherwise.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tenancy_agents.h"

/* The writer's regions: read-only for group 3101; the reader is in it. */
static const char conf_modes[] =
    "[broker]\n"
    "hugepages = never\n"
    "\n"
    "[region board]\n"
    "size = 64K\n"
    "mode = 0640\n"
    "group = 3101\n"
    "\n"
    "[tenant writer]\n"
    "uid = 2101\n"
    "mode = 0640\n"
    "group = 3101\n"
    "\n"
    "[tenant reader]\n"
    "uid = 2102\n"
    "\n"
    "[tenant stranger]\n"
    "uid = 2104\n";

/* Admin regions are mode 0666: only the rules narrow them. */
#define CONF_FEEDS(kind)						\
	"[broker]\n"							\
	"hugepages = never\n"						\
	"\n"								\
	"[tenant feeds]\n"						\
	"uid = 2103\n"							\
	kind " = feed*\n"						\
	"allow = own*\n"

/* AdminShow: is region's client client_id read-only (-1: not there)? */
static int
shown_read_only(struct tstate *st, const char *region, uint64_t client_id)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminShow show = SHMBROKER__ADMIN_SHOW__INIT;
	Shmbroker__ServerMessage *m;
	int ro = -1;

	show.name = (char *)region;
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_SHOW;
	req.admin_show = &show;
	m = check_admin_call(st->adm, &req);
	assert_int_equal(m->error, SHMBROKER__ERROR__ERR_NONE);
	for (size_t i = 0; i < m->admin_show->n_clients; i++)
		if (m->admin_show->clients[i]->client_id == client_id)
			ro = m->admin_show->clients[i]->read_only;
	shmbroker__server_message__free_unpacked(m, NULL);
	return ro;
}

/* The reply of a read-only attach: the flag, and every way to write
 * refused by the kernel. */
static void
expect_read_only(const struct agent_rep *r)
{
	assert_true(r->read_only);
	assert_int_equal(r->map_rw_err, EACCES);
	assert_int_equal(r->reopen_rw_err, EACCES);
	assert_int_equal(r->chmod_err, EPERM);
}

/*
 * Mode bits: the writer's tenant makes its regions 0640 with group 3101,
 * so the reader (primary gid 3101) reads them and cannot write; a
 * stranger gets nothing. The configured board, 0640 too, is the same
 * for the reader and refused to the writer (its other bits are 0).
 */
static void
test_mode_read_only(void **state)
{
	struct tstate *st = *state;
	struct agent *w, *rd, *s;
	struct agent_rep rw, r;

	NEED_ROOT();
	tenancy_start(st, conf_modes);
	w = agent_start(st, 2101, 2101);
	rd = agent_start(st, 2102, 3101);
	s = agent_start(st, 2104, 2104);
	agent_vmm(st, w, 0);
	agent_vmm(st, rd, 0);
	agent_vmm(st, s, 0);

	GSS(SHMC_GSS_OK, agent_attach_rw(w, 0, "news", 1, true,
	    "first edition", &rw), rw);
	assert_true(rw.created);
	assert_false(rw.read_only);
	assert_int_equal(region_info(st, "news").mode, 0640);
	GSS(SHMC_GSS_OK, agent_attach_rw(rd, 0, "news", 1, false, "overwrite?",
	    &r), r);
	expect_read_only(&r);
	assert_string_equal((const char *)r.head, "first edition");
	assert_int_equal(shown_read_only(st, "news", r.client_id), 1);
	assert_int_equal(shown_read_only(st, "news", rw.client_id), 0);
	/* The reader sees what the writer writes next, through a new
	 * attach, and its own try above left nothing. */
	GSS(SHMC_GSS_OK, agent_attach_rw(w, 0, "news", 1, false,
	    "second edition", &rw), rw);
	GSS(SHMC_GSS_OK, agent_attach_rw(rd, 0, "news", 1, true, NULL, &r), r);
	expect_read_only(&r);
	assert_string_equal((const char *)r.head, "second edition");
	GSS(SHMC_GSS_NO_PERMISSION, agent_attach(s, 0, "news", 1, false, &r),
	    r);

	GSS(SHMC_GSS_OK, agent_attach_rw(rd, 0, "board", 1, false, NULL, &r),
	    r);
	expect_read_only(&r);
	GSS(SHMC_GSS_NO_PERMISSION, agent_attach(w, 0, "board", 1, false, &r),
	    r);
	/* The reader's own regions are its own, read-write. */
	GSS(SHMC_GSS_OK, agent_attach_rw(rd, 0, "mine", 1, true, "mine", &r),
	    r);
	assert_false(r.read_only);
	assert_string_equal((const char *)r.head, "mine");
}

/*
 * An allow_ro rule: an admin's region (mode 0666) is read-only for the
 * tenant, a create of a name it may only read that does not exist is a
 * find, and the other rules work as ever. A reload that turns allow_ro
 * into allow is logged as widening; the client attached before stays
 * read-only, the next attach writes.
 */
static void
test_rule_read_only(void **state)
{
	struct tstate *st = *state;
	struct agent *a;
	struct agent_rep r, before;
	char msg[256];

	NEED_ROOT();
	tenancy_start(st, CONF_FEEDS("allow_ro"));
	a = agent_start(st, 2103, 2103);
	agent_vmm(st, a, 0);
	assert_int_equal(check_admin_create(st->adm, "feed1", 1), 0);

	GSS(SHMC_GSS_OK, agent_attach_rw(a, 0, "feed1", 1, true, "x", &before),
	    before);
	expect_read_only(&before);
	assert_false(before.created);
	assert_int_equal(before.head[0], 0);
	GSS(SHMC_GSS_DOES_NOT_EXIST, agent_attach(a, 0, "feed2", 1, true, &r),
	    r);
	assert_non_null(strstr(r.msg, "allow_ro"));
	assert_int_equal(region_info(st, "feed2").error,
	    SHMBROKER__ERROR__ERR_NOT_FOUND);
	GSS(SHMC_GSS_OK, agent_attach_rw(a, 0, "own1", 1, true, "own", &r), r);
	assert_false(r.read_only);
	GSS(SHMC_GSS_NO_PERMISSION, agent_attach(a, 0, "other", 1, true, &r),
	    r);
	assert_int_equal(tenant_info(st, "feeds").denials, 1);

	check_write_file(st->conf, CONF_FEEDS("allow"));
	assert_int_equal(check_admin_reload(st->adm, msg, sizeof(msg)), 0);
	assert_int_equal(log_count(st, "reload widens access: tenant feeds: "
	    "name rules were (allow_ro feed*, allow own*), are (allow feed*, "
	    "allow own*)"), 1);
	GSS(SHMC_GSS_OK, agent_attach_rw(a, 0, "feed1", 1, false, "now rw",
	    &r), r);
	assert_false(r.read_only);
	assert_string_equal((const char *)r.head, "now rw");
	assert_int_equal(shown_read_only(st, "feed1", before.client_id), 1);
	assert_int_equal(shown_read_only(st, "feed1", r.client_id), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TENANCY_TEST(test_mode_read_only),
		TENANCY_TEST(test_rule_read_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
