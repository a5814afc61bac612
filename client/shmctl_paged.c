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

/*
 * Runs a paged listing to its end into t (people) or a JSON array held in
 * memory (scripts), and prints it only when every page arrived. page gets
 * a NULL writer for people. Frees t.
 */
int
ctl_paged_run(struct ctl *ctl, struct table *t, ctl_page_fn page,
    const char *empty)
{
	struct jw w = { .f = NULL };
	char *buf = NULL;
	size_t len = 0;
	uint64_t after = 0;
	bool done = false;
	int ex;

	if ((ex = ctl_conn_open(ctl)) != EX_OK) {
		table_free(t);
		return ex;
	}
	if (ctl->json) {
		if ((w.f = open_memstream(&buf, &len)) == NULL) {
			ctl_warn("open_memstream: %s", strerror(errno));
			table_free(t);
			return EX_OSERR;
		}
		jw_open(&w, NULL, '[');
	}
	while (!done && ex == EX_OK)
		ex = page(ctl, t, ctl->json ? &w : NULL, &after, &done);
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
		if (t->nrows == 0)
			puts(empty);
		else
			table_print(t, stdout);
	}
	table_free(t);
	return ex;
}

/* The listing request bc (AdminList or AdminClients) for the page after
 * `after`; its reply, of body want, in *m. */
int
ctl_paged_call(struct ctl *ctl, Shmbroker__ClientMessage__BodyCase bc,
    Shmbroker__ServerMessage__BodyCase want, uint64_t after,
    Shmbroker__ServerMessage **m)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminList list = SHMBROKER__ADMIN_LIST__INIT;
	Shmbroker__AdminClients clients = SHMBROKER__ADMIN_CLIENTS__INIT;

	list.after_id = clients.after_id = after;
	req.body_case = bc;
	if (bc == SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_LIST)
		req.admin_list = &list;
	else
		req.admin_clients = &clients;
	return ctl_conn_call(ctl, &req, want, m);
}

/*
 * After a page's rows (ex: how printing them went): moves the cursor on to
 * next, or ends the listing, and frees m. A page must move the cursor on,
 * or the listing would never end.
 */
int
ctl_paged_next(const char *what, int ex, uint64_t *after, bool *done,
    uint64_t next, bool last, Shmbroker__ServerMessage *m)
{
	if (ex == EX_OK && !last && next <= *after) {
		ctl_warn("shmbrokerd's %s listing did not advance past id %"
		    PRIu64, what, *after);
		ex = EX_SOFTWARE;
	}
	*after = next;
	*done = last;
	shmbroker__server_message__free_unpacked(m, NULL);
	return ex;
}
