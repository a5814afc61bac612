/* SPDX-License-Identifier: ISC */
/*
 * libshmclient's admin side, for shmctl and management tools: raw access to
 * the admin service in the protobuf types of proto/shmbroker.proto. Needs
 * <protobuf-c/protobuf-c.h> and the generated shmbroker.pb-c.h.
 */
#ifndef SHMCLIENT_ADMIN_H
#define SHMCLIENT_ADMIN_H

#include "shmclient.h"
#include "shmbroker.pb-c.h"

/*
 * Sends req (its id is set here) and waits for the reply with the same id.
 * Returns 0 with *reply set (free it with
 * shmbroker__server_message__free_unpacked(*reply, NULL)); the daemon's
 * error, if any, is in (*reply)->error and ->message. Returns -errno on a
 * transport failure. Any fds that come with the reply are closed.
 */
int shmc_call(struct shmc *c, Shmbroker__ClientMessage *req,
    Shmbroker__ServerMessage **reply);

/* Subscribes this connection to admin events (SHMC_EVENT_ADMIN). */
int shmc_admin_watch(struct shmc *c);

/* AdminCreate and AdminDestroy through shmc_call: the same returns. */
int shmc_admin_create(struct shmc *c, const char *name, uint32_t size_pages,
    Shmbroker__ServerMessage **reply);
int shmc_admin_destroy(struct shmc *c, const char *name, bool force,
    Shmbroker__ServerMessage **reply);
/* AdminDetach of one client, by client_id when region is NULL, else by
 * region and index; the same returns. */
int shmc_admin_detach(struct shmc *c, uint64_t client_id, const char *region,
    uint32_t index, Shmbroker__ServerMessage **reply);

#endif
