/* SPDX-License-Identifier: ISC */
/*
 * shmctl_daemon: the commands on the daemon as a whole: what it holds and
 * counts (status, clients, stats, tenants, and all of that as metrics) and
 * reload, which has it read its configuration again.
 */
#include <stdio.h>
#include <sysexits.h>

#include "shmctl.h"
#include "shmctl_metrics.h"
#include "shmctl_print.h"

int
ctl_daemon_status(struct ctl *ctl, char **argv)
{
	Shmbroker__ServerMessage *m;
	int ex;

	(void)argv;
	if ((ex = ctl_conn_open(ctl)) != EX_OK ||
	    (ex = ctl_conn_call_empty(ctl,
	    SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_STATUS, &m)) != EX_OK)
		return ex;
	print_status(m->admin_status, ctl->socket, ctl->json);
	shmbroker__server_message__free_unpacked(m, NULL);
	return EX_OK;
}

/* The rows of an AdminClientsReply. */
static int
ctl_daemon_clients_rows(struct table *t, struct jw *w,
    const Shmbroker__ServerMessage *m, uint64_t *next, bool *last)
{
	const Shmbroker__AdminClientsReply *r = m->admin_clients;

	for (size_t i = 0; i < r->n_clients; i++)
		if (print_client_row(t, w, r->clients[i]) < 0)
			return EX_OSERR;
	*next = r->next_after_id;
	*last = r->done;
	return EX_OK;
}

int
ctl_daemon_clients(struct ctl *ctl, char **argv)
{
	static const struct ctl_listing clients = {
		.what = "client",
		.empty = "no clients",
		.bc = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_CLIENTS,
		.table = print_clients_table,
		.rows = ctl_daemon_clients_rows,
	};

	(void)argv;
	return ctl_paged_run(ctl, &clients);
}

int
ctl_daemon_stats(struct ctl *ctl, char **argv)
{
	Shmbroker__ServerMessage *m;
	int ex;

	(void)argv;
	if ((ex = ctl_conn_open(ctl)) != EX_OK ||
	    (ex = ctl_conn_call_empty(ctl,
	    SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_STATS, &m)) != EX_OK)
		return ex;
	print_stats(m->admin_stats, ctl->json);
	shmbroker__server_message__free_unpacked(m, NULL);
	return EX_OK;
}

int
ctl_daemon_tenants(struct ctl *ctl, char **argv)
{
	Shmbroker__ServerMessage *m;
	int ex;

	(void)argv;
	if ((ex = ctl_conn_open(ctl)) != EX_OK ||
	    (ex = ctl_conn_call_empty(ctl,
	    SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_TENANTS, &m)) != EX_OK)
		return ex;
	ex = print_tenants(m->admin_tenants, ctl->json);
	shmbroker__server_message__free_unpacked(m, NULL);
	return ex;
}

int
ctl_daemon_reload(struct ctl *ctl, char **argv)
{
	Shmbroker__ServerMessage *m;
	int ex;

	(void)argv;
	if ((ex = ctl_conn_open(ctl)) != EX_OK)
		return ex;
	/* The daemon answers once the file's regions are made, which a
	 * large file or fd keepers that fall behind (the daemon waits for
	 * them up to 10 s at a time) make longer than any other call. */
	shmc_set_timeout(ctl->c, CTL_RELOAD_TIMEOUT_MS);
	if ((ex = ctl_conn_call_empty(ctl,
	    SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_RELOAD, &m)) != EX_OK)
		return ex;
	print_reloaded(ctl->json);
	shmbroker__server_message__free_unpacked(m, NULL);
	return EX_OK;
}

int
ctl_daemon_metrics(struct ctl *ctl, char **argv)
{
	Shmbroker__ServerMessage *st = NULL, *stats = NULL, *ten = NULL;
	int ex;

	(void)argv;
	if (ctl->json) {
		ctl_warn("metrics has no JSON form: for JSON use status, "
		    "stats and tenants with --json");
		return EX_USAGE;
	}
	if ((ex = ctl_conn_open(ctl)) == EX_OK &&
	    (ex = ctl_conn_call_empty(ctl,
	    SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_STATUS, &st)) == EX_OK &&
	    (ex = ctl_conn_call_empty(ctl,
	    SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_STATS, &stats)) == EX_OK &&
	    (ex = ctl_conn_call_empty(ctl,
	    SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_TENANTS, &ten)) == EX_OK)
		print_metrics(stdout, st->admin_status, stats->admin_stats,
		    ten->admin_tenants);
	if (st != NULL)
		shmbroker__server_message__free_unpacked(st, NULL);
	if (stats != NULL)
		shmbroker__server_message__free_unpacked(stats, NULL);
	if (ten != NULL)
		shmbroker__server_message__free_unpacked(ten, NULL);
	return ex;
}
