/* SPDX-License-Identifier: ISC */
/*
 * testcheck: checks that cmocka tests share. Each one fails the running
 * test (a cmocka assertion) rather than return an error, so a test reads as
 * its assertions: admin requests through libshmclient, raw requests and
 * replies on a plain socket, files a daemon reads. Needs the caller to run
 * under cmocka; links testutil and libshmclient, never a daemon of its
 * own.
 */
#ifndef SHMBROKER_TESTCHECK_H
#define SHMBROKER_TESTCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shmclient.h"
#include "shmclient_admin.h"
#include "testutil.h"
#include "wire.h"

/* Skips the running test, saying why, where /dev/kvm cannot be opened
 * (tests that run shm-vm guests). */
void check_need_kvm(void);

/* This process's open descriptors, not counting the one used to count. */
int check_count_own_fds(void);

/* Replaces the file path with text in one step (a temporary file renamed
 * over it), so that a daemon reloading it never reads half of it. */
void check_write_file(const char *path, const char *text);

/* A raw SOCK_SEQPACKET connection to path. */
int check_raw_connect(const char *path);
/* A libshmclient connection to path, labelled label. */
struct shmc *check_connect(const char *path, const char *label);

/* shmc_call on adm, which must not fail in transport; the caller frees
 * the reply. */
Shmbroker__ServerMessage *check_admin_call(struct shmc *adm,
    Shmbroker__ClientMessage *req);
/*
 * A round trip on c's connection, a ReadStatus of client_id that keeps
 * every bit: the daemon answers in order and sends an event before the
 * replies to later requests, so when it returns the daemon has served
 * all that was sent before, on any connection whose request went out
 * first, and c has read the events that came ahead of the reply.
 */
void check_round_trip(struct shmc *c, uint64_t client_id);
/*
 * An admin request without arguments (body: ..._BODY_ADMIN_STATUS, _STATS
 * or _TENANTS) that must succeed with the matching reply; the caller frees
 * it.
 */
Shmbroker__ServerMessage *check_admin_ok(struct shmc *adm,
    Shmbroker__ClientMessage__BodyCase body);
/* One counter of AdminStats on adm, by its field's offset: use
 * CHECK_STAT(adm, field). */
uint64_t check_admin_stat(struct shmc *adm, size_t offset);
#define CHECK_STAT(adm, field) check_admin_stat((adm), \
	offsetof(Shmbroker__AdminStatsReply, field))
/* AdminReload on adm: returns the daemon's error (0 on success, and then
 * the reply must be a reload's), its message in msg. */
int check_admin_reload(struct shmc *adm, char *msg, size_t msglen);

/* A region as AdminShow describes it. */
struct check_region {
	int error;		/* the daemon's; all else is 0 unless ERR_NONE */
	char tenant[64];
	uint64_t region_id, backing_bytes;
	uint32_t mode, owner_uid, clients, size_pages;
	size_t n_clients;	/* the client entries of the reply */
	int origin, backing;
};

/* AdminShow of name on adm; a region found must carry that name. */
struct check_region check_admin_show(struct shmc *adm, const char *name);
/* The clients of region name by AdminShow on adm (its count and its
 * list must agree), or -1 when it does not exist. */
int check_admin_clients(struct shmc *adm, const char *name);
/* Waits up to 5 s until region name has want clients (-1: until it is
 * gone), as the daemon learns of a closed connection asynchronously;
 * returns the last count seen. */
int check_admin_wait_clients(struct shmc *adm, const char *name, int want);
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

/* A raw connection to path made by a forked process of uid (and gid uid):
 * the daemon knows a peer by the credentials of its connect. */
int check_raw_as(const char *path, uid_t uid);

/*
 * Requests sent as they are on a raw connection s, for tests that read
 * the replies themselves (check_recv) or pipeline them. Each fails the
 * test when the request cannot be sent.
 */
void check_send(int s, Shmbroker__ClientMessage *m);
/* Hello with a protocol version (WIRE_PROTOCOL_VERSION, or one to be
 * refused) and a label. */
void check_send_hello(int s, uint64_t id, uint32_t version,
    const char *label);
/* Attach by the name's raw bytes, len of them (a valid name ends in NUL):
 * a find when create is false. */
void check_send_attach(int s, uint64_t id, const void *name, size_t len,
    uint32_t pages, bool create);
/* kind: ..._BODY_NOTIFY (every bit), _READ_STATUS or _DETACH of
 * client_id. */
void check_send_client_op(int s, uint64_t id,
    Shmbroker__ClientMessage__BodyCase kind, uint64_t client_id);
void check_send_admin_create(int s, uint64_t id, const char *name,
    uint32_t pages);
void check_send_admin_destroy(int s, uint64_t id, const char *name,
    bool force);
/*
 * The next datagram on s, received before deadline (harness_now_ms) and
 * decoded; fds gets the descriptors that came with it (the caller closes
 * them). Fails the test when none comes in time, the daemon closes s or
 * the datagram does not decode. The caller frees the message.
 */
Shmbroker__ServerMessage *check_recv(int s, int64_t deadline,
    struct wire_fds *fds);
/* The next datagram on s that is not an event (id 0 without an error),
 * within CHECK_REPLY_WAIT_MS; *nfds (unless NULL) gets how many fds came
 * with it, which are closed. The caller frees it. */
#define CHECK_REPLY_WAIT_MS 5000
Shmbroker__ServerMessage *check_recv_reply(int s, size_t *nfds);
/* The same, with the reply's fds left to the caller in fds. */
Shmbroker__ServerMessage *check_recv_reply_fds(int s, struct wire_fds *fds);
/* Whether the daemon closes s within ms; what it sends before is read
 * and dropped (with any fds). No cmocka check: a forked child may call
 * it. */
bool check_sees_eof(int s, int ms);

/* A TCP socket whose last close waits out SO_LINGER (an hour) for as
 * long as its peer (*sink, which never reads) keeps it from sending: what
 * an unprivileged peer can make of the daemon's close of any fd. */
int check_lingering_socket(int *sink);
/* Turns fd's linger off, so that its close does not wait. */
void check_unlinger(int fd);

#endif
