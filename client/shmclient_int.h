/*
 * libshmclient's private header (not installed): struct shmc and what
 * shmclient.c (connection and calls), events.c (the event queue) and
 * reconnect.c (attachments, id translation, reconnect) call of each other.
 * Hidden, so the shared library exports only the public API.
 */
#ifndef SHMCLIENT_INT_H
#define SHMCLIENT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "shmclient.h"
#include "shmclient_admin.h"
#include "wire.h"

struct queued_event;	/* events.c */
struct attachment;	/* reconnect.c */

struct shmc {
	int sock;		/* -1 after a reconnect that failed */
	int epfd;		/* sock + evfd, handed out as the event fd */
	int evfd;		/* readable while queue is not empty */
	uint64_t next_id;
	int timeout_ms;
	STAILQ_HEAD(, queued_event) queue;
	char *path;		/* to connect to again */
	char *label;		/* NULL: the program's name */
	int reconnect_ms;	/* 0: never reconnect */
	unsigned reconnects;
	bool watching;		/* shmc_admin_watch, renewed at a reconnect */
	struct attachment *att;
	size_t natt, catt;
	uint64_t next_local_id;
	char err[256];
	uint8_t buf[WIRE_MAX_MESSAGE];
};

#pragma GCC visibility push(hidden)

/* shmclient.c */
int shmc_fail(struct shmc *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int64_t shmc_now_ms(void);
int shmc_read_one(struct shmc *c, Shmbroker__ServerMessage **out,
    struct wire_fds *fds, int flags);
int shmc_connection_error(struct shmc *c, Shmbroker__ServerMessage *m);
void shmc_drop_late_reply(struct shmc *c, Shmbroker__ServerMessage *m);
int shmc_open_socket(struct shmc *c, const char *path);
int shmc_hello(struct shmc *c, const char *label);
void shmc_drop_socket(struct shmc *c);
int shmc_attach_once(struct shmc *c, const void *name, size_t len,
    uint32_t size_pages, bool create, uint32_t want_index,
    struct shmc_region *out);
int shmc_admin_watch_once(struct shmc *c);

/* events.c */
int shmc_open_events(struct shmc *c);
void shmc_queue_event(struct shmc *c, Shmbroker__ServerMessage *m);
void shmc_queue_free(struct shmc *c);

/* reconnect.c */
int shmc_att_add(struct shmc *c, const void *name, size_t len,
    uint32_t size_pages, struct shmc_region *r);
void shmc_att_forget_id(struct shmc *c, uint64_t user_id);
void shmc_att_free_all(struct shmc *c);
int shmc_resolve(struct shmc *c, uint64_t user_id, uint64_t *id);
void shmc_translate_event(struct shmc *c, Shmbroker__ServerMessage *m);
bool shmc_try_again(struct shmc *c, int *rc);

#pragma GCC visibility pop

#endif
