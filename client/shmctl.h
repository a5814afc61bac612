/* SPDX-License-Identifier: ISC */
/*
 * shmctl's private header: one run's state (struct ctl) and what its files
 * call of each other. The command line (shmctl.c) runs a command of
 * shmctl_region.c, shmctl_daemon.c or shmctl_watch.c; the commands talk to
 * the daemon through shmctl_conn.c, page through listings with
 * shmctl_paged.c and print with shmctl_print.c and shmctl_metrics.c.
 */
#ifndef SHMCTL_H
#define SHMCTL_H

#include <stdbool.h>
#include <stdint.h>

#include "shmclient.h"
#include "shmclient_admin.h"
#include "shmctl_output.h"

/* How long `shmctl reload` waits for the daemon's answer, which comes once
 * the file's regions are made (every other call: the library's 5 s). */
#define CTL_RELOAD_TIMEOUT_MS 120000

struct ctl {
	char socket[256];
	bool have_socket;		/* --admin-socket was given */
	bool json;
	bool force;
	const char *ivshmem;		/* --ivshmem PATH, or NULL */
	const char *vectors;		/* --vectors N, or NULL */
	struct shmc *c;
};

/*
 * shmctl_conn.c. Each returns an exit code of <sysexits.h>, EX_OK or one
 * it said why for; a reply handed out in *out is the caller's to free.
 */
int ctl_conn_open(struct ctl *ctl);
/* The exit status for a libshmclient call that failed with rc. */
int ctl_conn_exit_for_rc(int rc);
/* The outcome of an admin call that returned rc with reply m, which must
 * carry body want. */
int ctl_conn_reply(struct ctl *ctl, int rc, Shmbroker__ServerMessage *m,
    Shmbroker__ServerMessage__BodyCase want, Shmbroker__ServerMessage **out);
int ctl_conn_call(struct ctl *ctl, Shmbroker__ClientMessage *req,
    Shmbroker__ServerMessage__BodyCase want, Shmbroker__ServerMessage **out);
/* An admin request that has no fields; the reply carries the body of the
 * same name. */
int ctl_conn_call_empty(struct ctl *ctl, Shmbroker__ClientMessage__BodyCase bc,
    Shmbroker__ServerMessage **out);

/* shmctl_paged.c: a listing that comes in pages. */
struct ctl_listing {
	const char *what;		/* "region": for messages */
	const char *empty;		/* printed for people when none */
	Shmbroker__ClientMessage__BodyCase bc;	/* AdminList or AdminClients */
	void (*table)(struct table *t);	/* sets up the table for people */
	/* Adds the rows of reply m to t, or to w for JSON, and says where
	 * the next page starts and whether m was the last. EX_OK, or
	 * EX_OSERR without memory. */
	int (*rows)(struct table *t, struct jw *w,
	    const Shmbroker__ServerMessage *m, uint64_t *next, bool *last);
};

int ctl_paged_run(struct ctl *ctl, const struct ctl_listing *l);

/* The commands: argv holds the operands, as many as the command takes. */

/* shmctl_region.c */
int ctl_region_list(struct ctl *ctl, char **argv);
int ctl_region_show(struct ctl *ctl, char **argv);
int ctl_region_create(struct ctl *ctl, char **argv);
int ctl_region_destroy(struct ctl *ctl, char **argv);
int ctl_region_detach(struct ctl *ctl, char **argv);

/* shmctl_export.c */
int ctl_export_run(struct ctl *ctl, char **argv);
int ctl_unexport_run(struct ctl *ctl, char **argv);
/* shared with shmctl_export.c */
int ctl_region_check_name(const char *name);

/* shmctl_daemon.c */
int ctl_daemon_status(struct ctl *ctl, char **argv);
int ctl_daemon_clients(struct ctl *ctl, char **argv);
int ctl_daemon_stats(struct ctl *ctl, char **argv);
int ctl_daemon_tenants(struct ctl *ctl, char **argv);
int ctl_daemon_reload(struct ctl *ctl, char **argv);
int ctl_daemon_metrics(struct ctl *ctl, char **argv);

/* shmctl_watch.c */
int ctl_watch_run(struct ctl *ctl, char **argv);

#endif
