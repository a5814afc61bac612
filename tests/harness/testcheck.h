/*
 * testcheck: checks that cmocka tests share. Each one fails the running
 * test (a cmocka assertion) rather than return an error, so a test reads as
 * its assertions. Needs the caller to run under cmocka; links testutil and
 * libshmclient, never a daemon of its own.
 */
#ifndef SHMBROKER_TESTCHECK_H
#define SHMBROKER_TESTCHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "shmclient.h"
#include "shmclient_admin.h"
#include "testutil.h"

/* This process's open descriptors, not counting the one used to count. */
int check_count_own_fds(void);

/* A raw SOCK_SEQPACKET connection to path. */
int check_raw_connect(const char *path);
/* A libshmclient connection to path, labelled label. */
struct shmc *check_connect(const char *path, const char *label);

/* shmc_call on adm, which must not fail in transport; the caller frees
 * the reply. */
Shmbroker__ServerMessage *check_admin_call(struct shmc *adm,
    Shmbroker__ClientMessage *req);
/* Regions and clients the daemon holds, by AdminStatus on adm. */
void check_admin_counts(struct shmc *adm, uint32_t *regions,
    uint32_t *clients);
/* AdminCreate on adm: returns the daemon's error (0 on success, and then
 * the reply must describe the admin region asked for). */
int check_admin_create(struct shmc *adm, const char *name, uint32_t pages);
/* AdminDestroy on adm: returns the daemon's error; on success *detached
 * (when not NULL) gets how many clients were detached. */
int check_admin_destroy(struct shmc *adm, const char *name, bool force,
    uint32_t *detached);

#endif
