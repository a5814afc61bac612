/* SPDX-License-Identifier: ISC */
/*
 * shmctl_metrics: `shmctl metrics`, the daemon's state and counters in the
 * Prometheus text exposition format (version 0.0.4), for a node exporter's
 * textfile collector or a scrape through a small wrapper. Built from three
 * replies taken one after the other, so the figures are close to, not
 * exactly, one instant.
 */
#ifndef SHMCTL_METRICS_H
#define SHMCTL_METRICS_H

#include <stdio.h>

#include "shmclient_admin.h"

void print_metrics(FILE *f, const Shmbroker__AdminStatusReply *st,
    const Shmbroker__AdminStatsReply *stats,
    const Shmbroker__AdminTenantsReply *tenants);

#endif
