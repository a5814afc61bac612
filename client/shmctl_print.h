/* SPDX-License-Identifier: ISC */
/*
 * shmctl_print: what shmctl's admin commands print, for people (tables and
 * key/value blocks) and for scripts (--json), from the daemon's replies.
 * One function per reply; the commands in shmctl.c fetch, these print.
 */
#ifndef SHMCTL_PRINT_H
#define SHMCTL_PRINT_H

#include <stdbool.h>
#include <stdint.h>

#include "shmclient.h"
#include "shmclient_admin.h"
#include "shmctl_output.h"

/* Paged listings add one row per item: to w when it is not NULL (JSON,
 * inside the array the caller opened), else to t. -1 without memory. */
void print_list_table(struct table *t);
int print_region_row(struct table *t, struct jw *w,
    const Shmbroker__RegionInfo *r);
void print_clients_table(struct table *t);
int print_client_row(struct table *t, struct jw *w,
    const Shmbroker__ClientInfo *ci);

void print_status(const Shmbroker__AdminStatusReply *r, const char *socket,
    bool json);
/* EX_OK, or EX_OSERR after saying so. */
int print_show(const Shmbroker__AdminShowReply *r, bool json);
void print_created(const Shmbroker__RegionInfo *g, bool json);
void print_destroyed(const char *name, uint32_t detached, bool json);
/* EX_OK, or EX_OSERR after saying so. */
int print_detached(const Shmbroker__ClientInfo *ci, bool json);
void print_stats(const Shmbroker__AdminStatsReply *r, bool json);
/* EX_OK, or EX_OSERR after saying so. */
int print_tenants(const Shmbroker__AdminTenantsReply *r, bool json);
void print_reloaded(bool json);
/* One line per admin event. */
void print_event(const struct shmc_event *ev, bool json);

#endif
