/* SPDX-License-Identifier: ISC */
/*
 * shmctl_paged: the listings that come in pages (list, clients). A listing
 * is run to its end before anything is printed, so that a daemon that goes
 * away half way leaves no half a table, nor half a JSON array, behind.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "shmctl.h"

/* The listing request bc (AdminList or AdminClients) for the page after
 * `after`; its reply, of the body of the same name, in *m. */
static int
ctl_paged_call(struct ctl *ctl, Shmbroker__ClientMessage__BodyCase bc,
    uint64_t after, Shmbroker__ServerMessage **m)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminList list = SHMBROKER__ADMIN_LIST__INIT;
	Shmbroker__AdminClients clients = SHMBROKER__ADMIN_CLIENTS__INIT;

	list.after_id = clients.after_id = after;
	req.body_case = bc;
	if (bc == SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_LIST) {
		req.admin_list = &list;
		return ctl_conn_call(ctl, &req,
		    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_LIST, m);
	}
	req.admin_clients = &clients;
	return ctl_conn_call(ctl, &req,
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_CLIENTS, m);
}

/* Fetches the page after *after into t, or w for JSON, and moves the
 * cursor on to the next, or ends the listing. */
static int
ctl_paged_page(struct ctl *ctl, const struct ctl_listing *l, struct table *t,
    struct jw *w, uint64_t *after, bool *done)
{
	Shmbroker__ServerMessage *m;
	uint64_t next;
	bool last;
	int ex;

	if ((ex = ctl_paged_call(ctl, l->bc, *after, &m)) != EX_OK)
		return ex;
	ex = l->rows(t, w, m, &next, &last);
	shmbroker__server_message__free_unpacked(m, NULL);
	if (ex != EX_OK)
		return ex;
	/* A page must move the cursor on, or the listing would never end. */
	if (!last && next <= *after) {
		ctl_warn("shmbrokerd's %s listing did not advance past id %"
		    PRIu64, l->what, *after);
		return EX_SOFTWARE;
	}
	*after = next;
	*done = last;
	return EX_OK;
}

/*
 * Runs listing l to its end into a table (people) or a JSON array held in
 * memory (scripts), and prints it only when every page arrived. The rows
 * get a NULL writer for people.
 */
int
ctl_paged_run(struct ctl *ctl, const struct ctl_listing *l)
{
	struct table t;
	struct jw w = { .f = NULL };
	char *buf = NULL;
	size_t len = 0;
	uint64_t after = 0;
	bool done = false;
	int ex;

	l->table(&t);
	if ((ex = ctl_conn_open(ctl)) != EX_OK) {
		table_free(&t);
		return ex;
	}
	if (ctl->json) {
		if ((w.f = open_memstream(&buf, &len)) == NULL) {
			ctl_warn("open_memstream: %s", strerror(errno));
			table_free(&t);
			return EX_OSERR;
		}
		jw_open(&w, NULL, '[');
	}
	while (!done && ex == EX_OK)
		ex = ctl_paged_page(ctl, l, &t, ctl->json ? &w : NULL, &after,
		    &done);
	if (ex == EX_OSERR)
		ctl_warn("out of memory");
	if (ctl->json) {
		jw_close(&w, ']');
		fputc('\n', w.f);
		if (fclose(w.f) != 0 && ex == EX_OK) {
			ctl_warn("out of memory");
			ex = EX_OSERR;
		}
		if (ex == EX_OK)
			fwrite(buf, 1, len, stdout);
		free(buf);
	} else if (ex == EX_OK) {
		if (t.nrows == 0)
			puts(l->empty);
		else
			table_print(&t, stdout);
	}
	table_free(&t);
	return ex;
}
