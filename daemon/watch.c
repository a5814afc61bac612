/* SPDX-License-Identifier: ISC */
/*
 * watch: the admin event stream that `shmctl watch` follows. Admin
 * connections subscribe (watch_add) and are dropped from the list when
 * they close (watch_remove); the region lifecycle reports what happens to
 * regions and clients (watch_event), which goes to every subscriber. A
 * leaf: it only sends, through conn.c.
 */
#include "broker.h"

void
watch_add(struct conn *c)
{
	if (!c->watching)
		LIST_INSERT_HEAD(&c->b->watchers, c, watch_entry);
	c->watching = true;
}

void
watch_remove(struct conn *c)
{
	if (c->watching) {
		LIST_REMOVE(c, watch_entry);
		c->watching = false;
	}
}

static void
watch_send(struct broker *b, const char *kind, const struct region *g,
    int index, uint64_t conn_id)
{
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__AdminEvent ev = SHMBROKER__ADMIN_EVENT__INIT;
	struct conn *c, *next;

	m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_EVENT;
	m.admin_event = &ev;
	ev.kind = (char *)kind;
	ev.region = (char *)g->name;
	ev.index = index;
	ev.active_mask = g->active;
	ev.connection_id = conn_id;
	ev.time_ms = broker_now_ms();
	/* conn_send may kill a slow watcher, which unlinks it: save next. */
	for (c = LIST_FIRST(&b->watchers); c != NULL; c = next) {
		next = LIST_NEXT(c, watch_entry);
		conn_send(c, &m, NULL, 0);
	}
}

void
watch_event(struct broker *b, const char *kind, const struct region *g,
    int index, uint64_t conn_id)
{
	/* Every create, attach and detach comes here: with no watcher,
	 * nothing is made, not even the time (in one function, the
	 * compiler filled the message before it looked). */
	if (!LIST_EMPTY(&b->watchers))
		watch_send(b, kind, g, index, conn_id);
}
