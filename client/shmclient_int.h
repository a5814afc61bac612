/* SPDX-License-Identifier: ISC */
/*
 * libshmclient's private header (not installed): struct shmc and what
 * shmclient.c (the connection), call.c (the synchronous calls), attach.c
 * (the calls on attachments), admin.c (the admin calls), events.c (the
 * event queue), reconnect.c (attachments, id translation, reconnect) and
 * signals.c (the direct path) call of each other. Hidden, so the shared
 * library exports only the public API.
 */
#ifndef SHMCLIENT_INT_H
#define SHMCLIENT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "shmclient.h"
#include "shmclient_admin.h"
#include "shmstate.h"
#include "wake.h"
#include "wire.h"

struct queued_event;	/* events.c */

/* What an attach reply brings for the direct notification path. */
struct att_fds {
	int state_fd;		/* the region's state page */
	int own_efd;		/* this client's eventfd */
	int peer_efd[SHM_STATE_SLOTS];	/* by index, open where in peers */
	uint16_t peers;
	uint16_t active;
	dev_t dev;		/* the region memfd's identity, which a */
	ino_t ino;		/* reconnect compares */
};

/* An attachment's direct notification path (signals.c). */
struct att_signals {
	int state_fd;		/* the state page until mapped, or -1 */
	struct shm_state_page *state;	/* mapped on first use, or NULL */
	int own_efd;		/* -1: none */
	int old_efd;		/* the claimed one before a re-claim, open
				 * until EVENTFD_CHANGED was dispatched */
	bool claimed;		/* handed out: not in the epoll set */
	bool change_queued;	/* an EVENTFD_CHANGED waits in the queue */
	uint16_t active;	/* indices attached, as last heard */
	uint16_t peers;		/* bit i: peer_efd[i] is open */
	int peer_efd[SHM_STATE_SLOTS];
};

/* What it takes to attach again after a restart, and the ids on both sides
 * of the translation (reconnect.c), and the direct path (signals.c). */
struct attachment {
	uint64_t user_id;	/* what the caller got and keeps using */
	uint64_t cur_id;	/* the daemon's, on the current connection */
	uint8_t *name;		/* the name bytes as sent */
	size_t name_len;
	uint32_t size_pages;
	uint32_t index;		/* now; asked back after a restart */
	dev_t dev;		/* the memfd first handed out */
	ino_t ino;
	bool same_memory;	/* every re-claim found that memfd again */
	bool revoked;		/* an admin destroyed the region */
	int lost;		/* 0, or why a re-claim failed: a guest status,
				 * or -ENOENT when it had been revoked */
	struct att_signals sig;
};

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
	bool unreachable;	/* the last reconnect's whole wait was in vain */
	int64_t away_since;	/* shmc_now_ms when dispatch found the daemon
				 * gone; 0 while connected */
	int retry_tfd;		/* in epfd: dispatch's next attempt, or -1 */
	bool fds_lost;		/* the last message read came without all
				 * its fds (descriptor limit) */
	bool event_thread;	/* shmc_set_event_thread */
	unsigned reconnects;
	bool watching;		/* shmc_admin_watch, renewed at a reconnect */
	struct attachment *att;
	size_t natt, catt;
	uint64_t next_local_id;
	char err[SHMC_ERROR_MAX];
	struct wire_scratch *scratch;	/* a read message being handled */
	struct wake *wake;	/* peers woken directly; at the first need */
	uint8_t buf[WIRE_MAX_MESSAGE];
};

#pragma GCC visibility push(hidden)

/* shmclient.c */
int shmc_fail(struct shmc *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int shmc_open_socket(struct shmc *c, const char *path);
int shmc_hello(struct shmc *c, const char *label);
void shmc_drop_socket(struct shmc *c);

/* call.c */
int64_t shmc_now_ms(void);
int shmc_apply_timeout(struct shmc *c);
int shmc_read_one(struct shmc *c, Shmbroker__ServerMessage **out,
    struct wire_fds *fds, int flags);
int shmc_connection_error(struct shmc *c, Shmbroker__ServerMessage *m);
void shmc_drop_late_reply(struct shmc *c, Shmbroker__ServerMessage *m);
/* Sends req and returns its reply (with its fds), no second try. */
int shmc_roundtrip(struct shmc *c, Shmbroker__ClientMessage *req,
    Shmbroker__ServerMessage **reply, struct wire_fds *fds);
int shmc_call_once(struct shmc *c, Shmbroker__ClientMessage *req,
    Shmbroker__ServerMessage **reply);
int shmc_call_expect(struct shmc *c, Shmbroker__ClientMessage *req, int want,
    Shmbroker__ServerMessage **reply);
/* A call about one attachment, tried again after a reconnect. */
int shmc_client_call(struct shmc *c, Shmbroker__ClientMessage *req,
    uint64_t *idp, uint64_t user_id, int want,
    Shmbroker__ServerMessage **reply);
/* Reads the events that wait in the socket into the queue (no call). */
void shmc_pump(struct shmc *c);

/* attach.c */
/* 0 when fd is a file sealed against shrinking (F_SEAL_SHRINK) of at
 * least bytes, else -EPROTO: only such a file can be mapped without the
 * daemon being able to make the mapping fault (SIGBUS) later. *st is
 * its fstat, for its identity. */
int shmc_memfd_ok(int fd, uint64_t bytes, struct stat *st);
int shmc_attach_once(struct shmc *c, const void *name, size_t len,
    uint32_t size_pages, bool create, uint32_t want_index,
    struct shmc_region *out, struct att_fds *af);

/* admin.c */
int shmc_admin_watch_once(struct shmc *c);

/* events.c */
int shmc_open_events(struct shmc *c);
void shmc_queue_event(struct shmc *c, Shmbroker__ServerMessage *m);
/* An event the library makes itself (EVENTFD_CHANGED). */
void shmc_queue_local(struct shmc *c, const struct shmc_event *ev);
/* Drops the queued local events about user_id (membership, loss), which
 * its detach makes stale: a later attachment may get its id. The
 * EVENTFD_CHANGED ones check for themselves (signals.c). */
void shmc_queue_forget(struct shmc *c, uint64_t user_id);
void shmc_queue_free(struct shmc *c);
/* The timer that makes the event fd readable in ms, for dispatch's next
 * reconnect attempt (made at the first need); 0 or -errno. Disarming and
 * draining it cannot fail. */
int shmc_retry_arm(struct shmc *c, int ms);
void shmc_retry_disarm(struct shmc *c);
void shmc_retry_drain(struct shmc *c);
/* Makes the event fd readable (evfd), so that its waiter dispatches. */
void shmc_wake_events(struct shmc *c);

/* reconnect.c */
int shmc_att_add(struct shmc *c, bool claim, const void *name, size_t len,
    uint32_t size_pages, struct shmc_region *r, struct att_fds *af);
void shmc_att_forget_id(struct shmc *c, uint64_t user_id);
void shmc_att_free_all(struct shmc *c);
int shmc_resolve(struct shmc *c, uint64_t user_id, uint64_t *id);
/* Gives the caller's id to an event that names the daemon's, and takes
 * the fd of a PeerChanged into its attachment. */
void shmc_translate_event(struct shmc *c, Shmbroker__ServerMessage *m,
    struct wire_fds *fds);
bool shmc_try_again(struct shmc *c, int *rc);
bool shmc_try_again_later(struct shmc *c, int *rc);
struct attachment *shmc_att_by_user(const struct shmc *c, uint64_t id);

/* signals.c */
void shmc_af_init(struct att_fds *af);
void shmc_af_close(struct att_fds *af);
/* Takes the fds of an attach reply (fds[1..]) into af; -EPROTO when
 * they do not match the reply. */
int shmc_af_take(struct att_fds *af, struct wire_fds *fds, uint32_t index,
    uint32_t active);
void shmc_sig_init(struct att_signals *s);
/* Installs af into a (its first attach, or a re-claim that replaces what
 * the old daemon gave); af is emptied either way. */
int shmc_sig_install(struct shmc *c, struct attachment *a,
    struct att_fds *af);
/* Closes and unmaps everything of a's direct path. */
void shmc_sig_release(struct shmc *c, struct attachment *a);
/* The attachment's state page, mapped on first use; NULL when it has
 * none (revoked, lost) or it cannot be mapped (errno). */
struct shm_state_page *shmc_sig_page(struct attachment *a);
/* After ClientRevoked: no peers, nothing to read. */
void shmc_sig_revoked(struct shmc *c, struct attachment *a);
/* A re-claim failed: the same, or all of it when not handed out. */
void shmc_sig_lost(struct shmc *c, struct attachment *a);
void shmc_sig_peer_changed(struct attachment *a,
    const Shmbroker__PeerChanged *pc, struct wire_fds *fds);
/* Reports the own eventfds that were signalled; the count, or -errno. */
int shmc_sig_dispatch(struct shmc *c, shmc_event_cb cb, void *arg);
/* An EVENTFD_CHANGED about to be dispatched gets its fds; false when it
 * has nothing to say any more. After its callback, the old fd goes. */
bool shmc_sig_change_fill(struct shmc *c, struct shmc_event *ev);
void shmc_sig_change_done(struct shmc *c, uint64_t user_id);

#pragma GCC visibility pop

#endif
