/* SPDX-License-Identifier: ISC */
/*
 * churn_daemon: the daemon as the churn's parent reads and uses it: its
 * pid (its own, or what --pid-cmd prints for a daemon under systemd), its
 * regions and clients through the admin API (paged to the end), the admin
 * regions it makes for the run, and the data of a region read through a
 * VMM connection of its own.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "churn.h"
#include "churn_view.h"
#include "shmclient_admin.h"

#define CONNECT_MS	30000

pid_t
churn_daemon_pid(struct churn *ch)
{
	char line[64];
	long pid = 0;
	FILE *f;

	if (ch->o->pid_cmd == NULL)
		return ch->daemon_pid;
	if ((f = popen(ch->o->pid_cmd, "re")) == NULL)
		return 0;
	if (fgets(line, sizeof(line), f) != NULL)
		pid = strtol(line, NULL, 10);
	pclose(f);
	return pid > 0 ? (pid_t)pid : 0;
}

/* One page of AdminList or AdminClients after `after`. */
static int
view_page(struct churn *ch, bool clients, uint64_t after,
    Shmbroker__ServerMessage **m)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminList list = SHMBROKER__ADMIN_LIST__INIT;
	Shmbroker__AdminClients cl = SHMBROKER__ADMIN_CLIENTS__INIT;
	int rc;

	list.after_id = cl.after_id = after;
	if (clients) {
		req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_CLIENTS;
		req.admin_clients = &cl;
	} else {
		req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_LIST;
		req.admin_list = &list;
	}
	if ((rc = shmc_call(ch->adm, &req, m)) < 0) {
		churn_err(ch, "admin %s: %s", clients ? "clients" : "list",
		    shmc_error(ch->adm));
		return rc;
	}
	if ((*m)->error != SHMBROKER__ERROR__ERR_NONE ||
	    (*m)->body_case != (clients ?
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_CLIENTS :
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_LIST)) {
		churn_err(ch, "admin %s refused: %s", clients ? "clients" :
		    "list", (*m)->message);
		shmbroker__server_message__free_unpacked(*m, NULL);
		return -EPROTO;
	}
	return 0;
}

static void
view_add_region(struct churn_view *v, const Shmbroker__RegionInfo *ri)
{
	struct churn_view_region *g;

	if (v->nregions == CHURN_VIEW_REGIONS)
		return;
	g = &v->regions[v->nregions++];
	snprintf(g->name, sizeof(g->name), "%s", ri->name);
	g->active = ri->active_mask;
	g->clients = ri->clients;
	g->size_pages = ri->size_pages;
	g->admin = ri->origin == SHMBROKER__ORIGIN__ORIGIN_ADMIN;
}

static void
view_add_client(struct churn_view *v, const Shmbroker__ClientInfo *ci)
{
	struct churn_view_client *c;

	if (v->nclients == CHURN_VIEW_CLIENTS)
		return;
	c = &v->clients[v->nclients++];
	c->pid = ci->pid;
	c->index = ci->index;
	snprintf(c->region, sizeof(c->region), "%s", ci->region);
}

int
churn_view_read(struct churn *ch, struct churn_view *v)
{
	memset(v, 0, sizeof(*v));
	for (int pass = 0; pass < 2; pass++) {
		bool clients = pass == 1, done = false;
		uint64_t after = 0;

		while (!done) {
			Shmbroker__ServerMessage *m;
			int rc = view_page(ch, clients, after, &m);

			if (rc < 0)
				return rc;
			uint64_t next;

			if (clients) {
				Shmbroker__AdminClientsReply *r =
				    m->admin_clients;

				for (size_t i = 0; i < r->n_clients; i++)
					view_add_client(v, r->clients[i]);
				done = r->done;
				next = r->next_after_id;
			} else {
				Shmbroker__AdminListReply *r = m->admin_list;

				for (size_t i = 0; i < r->n_regions; i++)
					view_add_region(v, r->regions[i]);
				done = r->done;
				next = r->next_after_id;
			}
			/* a page that does not move the cursor ends it */
			done = done || next <= after;
			after = next;
			shmbroker__server_message__free_unpacked(m, NULL);
		}
	}
	return 0;
}

const struct churn_view_region *
churn_view_region(const struct churn_view *v, const char *name)
{
	for (size_t i = 0; i < v->nregions; i++)
		if (strcmp(v->regions[i].name, name) == 0)
			return &v->regions[i];
	return NULL;
}

struct shmc *
churn_vmm_connect(struct churn *ch)
{
	struct shmc *c = NULL;
	char err[256];

	if (shmc_connect(ch->socket, "soak-parent", CONNECT_MS, &c, err,
	    sizeof(err)) < 0) {
		churn_err(ch, "connect to %s: %s", ch->socket, err);
		return NULL;
	}
	return c;
}

int
churn_region_data(struct churn *ch, struct shmc *c, uint32_t g, bool fill)
{
	struct shmc_region r;
	char name[32];
	void *p;
	int rc;

	churn_region_name(ch->o, g, name, sizeof(name));
	if ((rc = shmc_attach(c, name, 0, false, &r)) != SHMC_GSS_OK) {
		churn_err(ch, "find of region %s for its data: %d %s", name,
		    rc, rc < 0 ? shmc_error(c) : "");
		return -1;
	}
	p = mmap(NULL, CHURN_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, r.fd,
	    0);
	close(r.fd);
	if (p == MAP_FAILED) {
		churn_err(ch, "mmap of region %s: %s", name, strerror(errno));
		rc = -1;
	} else if (fill) {
		churn_pattern_fill(p, g);
		rc = 1;
	} else if ((rc = churn_pattern_check(p, g)) < 0) {
		churn_err(ch, "region %s does not hold its pattern", name);
	}
	if (p != MAP_FAILED)
		munmap(p, CHURN_PAGE);
	if (shmc_detach(c, r.client_id) < 0) {
		churn_err(ch, "detach from region %s: %s", name,
		    shmc_error(c));
		return -1;
	}
	return rc;
}

int
churn_make_admin_regions(struct churn *ch)
{
	struct shmc *c;
	char name[32];
	int rc = 0;

	for (uint32_t g = 0; g < ch->o->admin_regions; g++) {
		Shmbroker__ServerMessage *m;

		churn_region_name(ch->o, g, name, sizeof(name));
		if (shmc_admin_create(ch->adm, name, churn_region_pages(ch->o,
		    g), &m) < 0) {
			churn_err(ch, "admin create %s: %s", name,
			    shmc_error(ch->adm));
			return -1;
		}
		if (m->error != SHMBROKER__ERROR__ERR_NONE) {
			churn_err(ch, "admin create %s: %s", name, m->message);
			rc = -1;
		}
		shmbroker__server_message__free_unpacked(m, NULL);
	}
	if (rc < 0 || (c = churn_vmm_connect(ch)) == NULL)
		return -1;
	for (uint32_t g = 0; g < ch->o->admin_regions && rc == 0; g++)
		if (churn_region_data(ch, c, g, true) < 0)
			rc = -1;
	shmc_close(c);
	return rc;
}
