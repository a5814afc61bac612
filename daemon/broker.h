/* SPDX-License-Identifier: ISC */
/*
 * broker: the daemon's context. Everything shmbrokerd keeps between events
 * lives in one struct broker; modules get a pointer to it. This header also
 * names the handlers that connect the modules: conn.c moves datagrams,
 * rpc.c decodes requests, vmm.c and admin.c carry them out.
 */
#ifndef SHMBROKER_BROKER_H
#define SHMBROKER_BROKER_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "fdstash.h"
#include "reaper.h"
#include "ivshmem_proto.h"
#include "log.h"
#include "memory.h"
#include "tenant.h"
#include "registry.h"
#include "wake.h"
#include "wire.h"

struct config_region {
	char name[REGION_KEY_MAX];
	uint32_t size_pages;
	uint16_t mode;
	bool has_group;
	gid_t group;
	int hugepages;			/* a policy, or -1: the broker's */
	int line;			/* of its [region] header */
	char *ivshmem;			/* socket path to export it on, or NULL */
	int ivshmem_line;		/* of its "ivshmem =" */
	unsigned ivshmem_vectors;
};

struct broker_config {
	char *socket_path;
	char *admin_socket_path;
	char *config_file;
	bool foreground;
	bool check_only;	/* --check: load, say, exit */
	int log_level;
	enum hugepage_policy hugepages;
	uint32_t max_region_pages;	/* largest region anyone may create */
	uint32_t max_regions;
	uint32_t max_clients;		/* over all regions */
	uint32_t max_connections;
	uint32_t max_clients_per_connection;
	uint32_t max_queued_messages;	/* replies and events, per connection */
	uint32_t local_region_fds;	/* memfds held in-process; 0: auto */
	bool fd_store;			/* keep memfds in systemd's fd store */
	uint32_t fd_store_max;		/* entries systemd keeps: fdstore.c */
	struct config_region *regions;	/* created at start */
	size_t nregions, regions_cap;
	struct tenant *tenants;
	size_t ntenants, tenants_cap;
	bool open_tenancy;		/* no tenants: everyone is served */
	char *default_tenant;		/* for connections no tenant matches */
	bool has_admin_group;		/* may use the admin socket, with root */
	gid_t admin_group;
	char **warnings;		/* "FILE:LINE: ..." found while loading */
	size_t nwarnings;
};

/* The limits a peer can run into at a request, each with a refusal
 * counter (docs/DESIGN.md, "Limits"). */
enum broker_limit {
	LIMIT_MAX_CONNECTIONS,		/* [broker] max_connections */
	LIMIT_MAX_REGIONS,		/* a tenant's quota or the daemon's */
	LIMIT_MAX_CLIENTS,		/* a tenant's quota or the daemon's */
	LIMIT_MAX_BYTES,		/* a tenant's max_bytes */
	LIMIT_CLIENTS_PER_CONNECTION,	/* [broker] max_clients_per_connection */
	LIMIT_TENANT_CONNECTIONS,	/* a tenant's max_connections */
	LIMIT_MAX_HUGEPAGES,		/* a tenant's max_hugepages */
	LIMIT_MAX_REGION_SIZE,		/* [broker] max_region_size */
	LIMIT_FD_STORE_MAX,		/* [broker] fd_store_max: no room */
	LIMIT_COUNT
};

struct broker_stats {
	uint64_t connections_total;
	uint64_t attaches;
	uint64_t creates;
	uint64_t detaches;
	uint64_t notifications;
	uint64_t bad_requests;
	uint64_t status_counts[GSS_COUNT];
	uint64_t regions_destroyed;
	uint64_t slow_connections_dropped;
	uint64_t denials;
	uint64_t refused_connections;
	uint64_t ivshmem_joins;		/* QEMUs that became members */
	uint64_t ivshmem_refused;	/* QEMUs let go before the memfd */
	uint64_t ivshmem_relayed;	/* QEMU doorbells passed to members */
	uint64_t datagrams_oversized;	/* over WIRE_MAX_MESSAGE: refused */
	uint64_t datagrams_with_fds;	/* requests carry none: refused */
	uint64_t reads_paused;		/* requests in flight: see conn.c */
	uint64_t refused[LIMIT_COUNT];	/* requests refused at a limit */
	uint64_t ivshmem_dropped;	/* QEMUs let go for not reading */
	uint64_t inflight_waits;	/* fds waited for a peer to read */
	uint64_t kept_indices_given;	/* kept for a client not back yet */
};

enum conn_kind { CONN_VMM, CONN_ADMIN };

/*
 * The longest text the daemon builds for a reply or its log: a
 * configuration file's path and the RuntimeDirectory= it names (PATH_MAX
 * each), two region names, two socket paths and the words around them.
 * Every buffer such a text passes through holds this much, so that a
 * reply carries it whole; an error reply adds its own words around one
 * (conn_reply_error).
 */
#define BROKER_MESSAGE_MAX (2 * PATH_MAX + 2 * REGION_KEY_MAX + \
	2 * IVSHMEM_PATH_MAX + 1024)
_Static_assert(LOG_LINE_MAX >= BROKER_MESSAGE_MAX + 1024,
    "a log line must hold the longest message and its context");

#define IVSHMEM_MAX_EXPORTS 8		/* ivshmem sockets per region */
/* The fds that all send queues (conn.c's, ivshmem_peer.c's) may hold:
 * 1/OUTQ_FDS_SHARE of the daemon's limit, so that slow readers cannot
 * take the descriptors the daemon needs (b->outq_fds counts them). */
#define OUTQ_FDS_SHARE 8

struct outmsg;
struct conn_drain;
struct inflight_uid;
struct restored_state;
struct members;
struct reload_job;

struct conn {
	TAILQ_ENTRY(conn) entry;
	struct broker *b;
	uint64_t id;
	enum conn_kind kind;
	int fd;
	struct event *ev_read;
	struct event *ev_write;		/* armed while outq is not empty */
	struct ucred cred;
	char label[64];
	struct tenant *tenant;		/* VMM connections: see policy.c */
	/* The usage whose connections count it (policy.c): while it is
	 * served, and again while it is a drain (conn_inflight.c); NULL
	 * for admin connections and those refused. */
	struct tenant_usage *conn_usage;
	const char *refusal;		/* why it may not be served, or NULL */
	bool watching;			/* on the broker's watchers list */
	LIST_ENTRY(conn) watch_entry;
	bool dead;			/* closed at the next reap */
	bool keeps_place;		/* dead with fds unread: counted until
					 * reaped, for the drain it may leave
					 * (b->ndying) */
	bool reads_paused;		/* its queue is long: see conn.c */
	size_t inflight_fds;		/* sent, maybe unread: conn_inflight.c */
	struct inflight_uid *inflight_owner;	/* its uid's, while any */
	struct tenant_usage *inflight_pool;	/* its tenant's, while any */
	bool inflight_waiting;		/* on b->inflight_waiting */
	uint32_t inflight_backoff_ms;	/* 0: not waiting since it last sent */
	int inflight_unread_seen;	/* SIOCOUTQ at the last look (0 before
					 * any, -1 when it failed) */
	bool inflight_progress;		/* it fell since the last wait */
	bool inflight_for_others;	/* waits for its uid's or tenant's */
	struct inflight_uid *inflight_queued;	/* its uid's, counted there
					 * while it waits for others */
	struct tenant_usage *inflight_queued_pool;	/* counted in its
					 * waiters while it waits for its
					 * tenant's share */
	bool inflight_turn;		/* the timer sends its queue: it goes
					 * before those that wait behind it */
	uint64_t inflight_retry_ms;	/* monotonic */
	TAILQ_ENTRY(conn) wait_entry;
	struct client_list clients;
	STAILQ_HEAD(, outmsg) outq;
	size_t outq_count;
	size_t outq_bytes;
	size_t outq_fds;
};

TAILQ_HEAD(conn_list, conn);

struct listener {
	int fd;
	enum conn_kind kind;
	struct event *ev;
	struct broker *b;
};

/* State pages and eventfds made ahead of the attaches (stock.c). */
#define STOCK_MAX 8
struct stock {
	struct statepage page[STOCK_MAX];
	size_t npages;
	int efd[STOCK_MAX];
	size_t nefds;
	struct event *ev;	/* makes again what attaches took */
	bool refill_due;	/* ev is active: an attach takes two things */
};

struct broker {
	struct event_base *base;
	struct logger log;
	struct broker_config cfg;
	struct registry reg;
	struct listener listeners[2];
	struct event *ev_sigint;
	struct event *ev_sigterm;
	struct event *ev_sighup;	/* reload */
	struct event *ev_watchdog;	/* sd_notify WATCHDOG=1 */
	struct event *ev_status;	/* sd_notify STATUS= */
	struct event *ev_keepers;	/* looks for fd keepers that ended */
	struct event *ev_reload;	/* the next batch of a reload */
	struct reload_job *reload;	/* the reload under way, or NULL */
	bool reload_again;		/* a SIGHUP came during that reload */
	int argc;			/* the command line, for reloads */
	char **argv;
	const struct conn_upcalls *up;	/* the services above conn.c */
	const struct region_upcalls *region_up;	/* and above region.c */
	struct ivshmem *ivshmem;	/* QEMU exports: ivshmem.c */
	struct wire_scratch *scratch;	/* the request rpc.c handles */
	struct event *ev_reap;		/* closes dead connections */
	struct event *ev_accept_retry;	/* after EMFILE */
	struct conn_list conns;
	struct conn_list dead;
	LIST_HEAD(, conn) watchers;		/* admin event subscribers */
	uint32_t nconns;
	uint32_t ndying;		/* of dead, those that keep their place */
	uint32_t nqemus;		/* on ivshmem exports (ivshmem_peer.c) */
	uint64_t next_conn_id;
	bool activated;			/* sockets came from systemd */
	bool stopping;			/* shutting down: keep the fd store */
	uint64_t hugepage_size;
	uint64_t fd_limit;
	uint64_t local_fds;		/* region memfds held in-process */
	struct fdstash *stash;		/* the rest, in keeper processes */
	struct reaper *reaper;		/* closes what peers could make wait */
	struct wake *wake;		/* members' eventfds woken */
	uint64_t park_cursor;		/* regions up to this id are parked */
	struct log_limit park_said;	/* "cannot park" */
	struct log_limit pause_said;	/* "out of file descriptors" */
	struct log_limit refused_said;	/* "refused QEMU" */
	struct log_limit want_refused_said;	/* "index ... is kept" */
	uint64_t restored;		/* regions rebuilt from the fd store */
	uint32_t stored_exports;	/* export sockets in the fd store */
	struct restored_state *states;	/* state pages from the fd store, */
	size_t nstates;			/* matched to regions at the end */
	struct restored_state *dropped;	/* names removed from the store */
	size_t ndropped;		/* while restoring (fd -1) */
	size_t outq_fds;		/* fds held in all send queues */
	size_t inflight_fds;		/* sent, maybe unread: conn_inflight.c */
	struct conn_list inflight_waiting;	/* by wait_entry */
	uint64_t inflight_ticks;
	struct htable inflight_uids;	/* what each peer uid holds unread */
	bool inflight_capped;		/* the kernel caps it: budgets apply */
	LIST_HEAD(, conn_drain) drains;	/* closed, their fds unread */
	size_t ndrains;
	struct event *ev_inflight;
	uint64_t inflight_next_sweep_ns;	/* monotonic */
	uint64_t drains_swept_ms;	/* monotonic */
	struct event *ev_grace;		/* end of the wait for their clients */
	int members_fd;			/* members.c's table from the store, */
	bool members_reput;		/* (a second was: put it back) */
	struct members *members;	/* and the one in use, or NULL */
	struct stock stock;
	uint64_t start_ms;
	struct broker_stats stats;
	struct tenant open_tenant;	/* everyone, when none is configured */
	struct tenant_usage_list usages;
	uint8_t rxbuf[WIRE_MAX_MESSAGE];
	uint8_t txbuf[WIRE_MAX_MESSAGE];
};


/* broker.c: the daemon's state without its sockets and signals */
/* Makes a broker of the configuration loaded into b->cfg: 0 or -errno. */
int broker_init(struct broker *b);
/* Closes every connection and frees all that broker_init and the event
 * loop made, the configuration and the listeners included. */
void broker_fini(struct broker *b);

/* conn.c */
/* The connections [broker] max_connections bounds: VMM and admin ones
 * (those killed with fds unread until reaped), QEMUs on ivshmem exports,
 * and closed ones kept while their peers hold fds unread
 * (conn_inflight.c). */
uint32_t conn_count(const struct broker *b);
/* Room for nfds more fds in all send queues, made if need be by letting
 * go the VMM connection whose queue holds the most, so that one that
 * never reads pays rather than whoever queues next; false when that
 * would not make the room (the QEMUs' queues hold the share). */
bool conn_outq_room(struct broker *b, size_t nfds);
int conn_listen(struct broker *b, struct listener *l, int fd,
    enum conn_kind kind);
/* Out of descriptors (accept said EMFILE or ENFILE): every listening
 * socket, the ivshmem exports' too, rests for 100 ms instead of waking
 * the loop again at once for a connection it cannot take. */
void conn_pause_accept(struct broker *b);
/* Sends msg (with fds, which stay the caller's) now or queues it: 0. A
 * connection that cannot take it is marked dead: -errno then. */
int conn_send(struct conn *c, const Shmbroker__ServerMessage *msg,
    const int *fds, size_t nfds);
/* The same for an event: a queued event with the same coalesce_key
 * (EVENT_KEY) is replaced by this one instead of queueing another, unless
 * either carries fds (an fd is never dropped on its way). */
int conn_send_event(struct conn *c, const Shmbroker__ServerMessage *msg,
    const int *fds, size_t nfds, uint64_t coalesce_key);
#define EVENT_KEY(client_id, kind) ((client_id) << 2 | (kind))
enum { EVENT_PEER = 2 };
void conn_kill(struct conn *c, const char *why);
void conn_close_all(struct broker *b);
/* Sends what c's queue holds that can go now (conn_inflight.c's timer). */
void conn_flush(struct conn *c);
/* The fds of the message at the head of c's queue (0: none). */
size_t conn_head_fds(const struct conn *c);
/* conn_inflight.c: fds sent that peers have not read yet. c sent a
 * request. */
void inflight_request(struct conn *c);
/* May c send a message with nfds fds now? */
bool inflight_admit(struct conn *c, size_t nfds);
/* It sent one. */
void inflight_sent(struct conn *c, size_t nfds);
/* Its next message, of nfds fds, waits until its peer reads (counted),
 * or others do. */
void inflight_wait(struct conn *c, size_t nfds);
void inflight_unwait(struct conn *c);
/* c is being freed: true when its socket was kept (its peer holds fds
 * unread), else the caller closes it. */
bool inflight_keep(struct conn *c);
/* The same books for a peer that is not a connection (an ivshmem QEMU):
 * what it was sent, charged to its uid and tenant until it has read it
 * all. */
struct inflight_count {
	struct inflight_uid *owner;
	struct tenant_usage *pool;	/* its tenant's */
	size_t fds;
};
void inflight_count_sent(struct broker *b, struct inflight_count *ic,
    uid_t uid, struct tenant_usage *pool, size_t nfds);
/* Let go when fd's peer has read everything (one SIOCOUTQ). */
void inflight_count_refresh(struct broker *b, struct inflight_count *ic,
    int fd);
/* The peer is gone: fd is closed, or kept as a drain of its uid's (and
 * tenant's) while its peer holds some unread, counted in usage's
 * connections as the peer was. */
void inflight_count_let_go(struct broker *b, struct inflight_count *ic,
    int fd, struct tenant_usage *usage);
/* May a new such peer of uid, of the tenant whose usage is pool, be sent
 * nfds fds, within its uid's share and its tenant's (other peers' reads
 * looked at first, within the sweep's bound: at most every 50 ms)? */
bool inflight_room(struct broker *b, uid_t uid, struct tenant_usage *pool,
    size_t nfds);
/* Its state, once, before the first connection; -ENOMEM. */
int inflight_init(struct broker *b);
/* The daemon stops: every kept socket is closed. */
void inflight_close_all(struct broker *b);
/* An error reply to request id, with the reason, logged at debug. */
void conn_reply_error(struct conn *c, uint64_t id, Shmbroker__Error err,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* What conn.c hands up, through b->up, so that the transport calls no
 * module above it: each request, a connection marked dead (it must get
 * nothing more) and a dead connection about to be freed (its clients go). */
struct conn_upcalls {
	/* nfds: how many fds came with it (already closed: none may). */
	void (*dispatch)(struct conn *c, const uint8_t *buf, size_t len,
	    size_t nfds);
	void (*killed)(struct conn *c);
	void (*reaped)(struct conn *c);
};

/* rpc.c: the services' entry, set as b->up by main.c */
extern const struct conn_upcalls rpc_upcalls;

/* vmm.c: the VMM service, over region.c */
void vmm_hello(struct conn *c, uint64_t id, const Shmbroker__Hello *req);
void vmm_attach(struct conn *c, uint64_t id, const Shmbroker__Attach *req);
void vmm_notify(struct conn *c, uint64_t id, const Shmbroker__Notify *req);
void vmm_read_status(struct conn *c, uint64_t id,
    const Shmbroker__ReadStatus *req);
void vmm_detach(struct conn *c, uint64_t id, const Shmbroker__Detach *req);

/* stock.c: state pages and eventfds made ahead. The takes return 0 or
 * the eventfd, or -errno; an empty stock makes one on the spot. */
int stock_init(struct broker *b);
void stock_free(struct broker *b);
int stock_take_page(struct broker *b, struct statepage *sp);
int stock_take_eventfd(struct broker *b);

/* region.c: the lifecycle of regions and clients */
/* Who holds a client, for listings and events. */
struct member_ident {
	uint64_t conn_id;
	struct ucred cred;
	const char *label;
};
/*
 * A client whose owner does not speak the RPC (a QEMU on an ivshmem
 * socket: ivshmem.c) hears of its peers and of its revocation through
 * these, called from the lifecycle as it happens. They must not call back
 * into region.c: the region is mid-change.
 */
struct member_ops {
	void (*peer_changed)(struct broker *b, struct client *self, int index,
	    bool attached);
	void (*revoked)(struct broker *b, struct client *self);
	struct member_ident (*ident)(const struct client *self);
	/* The eventfd that notifies it, once its index is known (NULL: a
	 * new one); -errno. */
	int (*eventfd)(struct broker *b, struct client *self);
};
/* How a client comes to be: its owner, the owner's list of clients, the
 * index it wants (-1: the lowest free), the tenant it is charged to (may
 * be NULL), and whether its region was just created for it. */
struct region_join {
	void *owner;
	struct client_list *list;
	const struct member_ops *ops;	/* NULL: owner is a struct conn */
	uint64_t conn_id;
	int want;		/* the index to take back, or -1 */
	uid_t uid;		/* the peer's */
	struct tenant *tenant;
	bool created;
};
/* What region.c tells the services above it. */
struct region_upcalls {
	/* g is about to be freed: nothing may keep a pointer to it. */
	void (*removed)(struct broker *b, struct region *g);
	/* index of g was just taken (attached) or let go, before any member
	 * hears of it. */
	void (*changed)(struct broker *b, struct region *g, int index,
	    bool attached);
};
/* Who may attach to a new region, who pays for it, and its backing. */
struct region_acl {
	uid_t owner_uid;
	uint16_t mode;
	bool has_group;
	gid_t group;
	struct tenant *tenant;		/* charged, or NULL (admin, config) */
	int hugepages;			/* a policy, or -1: the broker's */
};
struct fdname_region;

/* Creates the memory and registry entry of a new region. GSS status. */
enum guest_shm_status region_create(struct broker *b, const char *name,
    uint32_t size_pages, enum region_origin origin,
    const struct region_acl *acl, struct region **out, const char **why);
/* A region rebuilt around a memfd from the fd store; NULL without memory
 * (the caller keeps mem->fd then). */
struct region *region_adopt(struct broker *b, const struct fdname_region *fr,
    const struct region_mem *mem);
/* 0 when one more client fits the daemon and tenant t (NULL: none), else
 * -ENOSPC or -EDQUOT with the reason in *why. */
int region_client_room(struct broker *b, const struct tenant *t,
    const char **why);
/*
 * Makes a client of g as j says and tells the members. *fd is the memfd to
 * send, to be closed after sending when *borrowed. When it fails, a region
 * made for this attach (j->created) is removed. GSS status.
 */
enum guest_shm_status region_attach(struct broker *b, struct region *g,
    const struct region_join *j, struct client **out, int *fd,
    bool *borrowed, const char **why);
/* Who holds cl. */
struct member_ident region_client_owner(const struct client *cl);
/* Detaches a client and tells its peers; removes a guest region left
 * empty. */
void region_detach_client(struct broker *b, struct client *cl);
/* Uncharges and frees a client (closing its eventfd) without telling
 * anyone, and the state page with the last client; true when its guest
 * region is left empty (see registry_detach). */
bool region_unlink_client(struct broker *b, struct client *cl);
/* Revokes one client for an admin (connection by, which is logged): it
 * gets ClientRevoked (force_detached), then it is detached as by
 * region_detach_client (its peers told, a guest region left empty gone). */
void region_revoke_client(struct broker *b, struct client *cl,
    const struct conn *by);
/* Revokes every client of g (each gets ClientRevoked) and removes it;
 * returns how many were revoked. conn_id: who asked, for the events. */
unsigned region_destroy(struct broker *b, struct region *g, uint64_t conn_id);
/* Removes a region that has no clients, wherever its memfd is held. */
void region_remove(struct broker *b, struct region *g, uint64_t conn_id);
/* Drops the state page of a region without clients. */
void region_free_state(struct broker *b, struct region *g);
/* The memfd to send: the region's own, or a copy from its keeper that
 * the caller closes (*borrowed). -errno when none can be had. */
int region_memfd(struct broker *b, const struct region *g, bool *borrowed);
/* Parks the oldest memfds while the daemon holds more than its budget. */
void region_park_memfds(struct broker *b);
/* Makes the timer that, from the first park on, looks every second for
 * keepers that ended and logs what went with each (fdstash_check). 0 or
 * -ENOMEM. */
int region_watch_keepers(struct broker *b);
/* Creates the configured regions that do not exist yet, from *next on
 * and at most max of them: 1 when some remain, 0 when all were tried.
 * Each that cannot be made is logged and counted in *failed, the first
 * one's reason (file:line) in err. */
int region_create_configured(struct broker *b, size_t *next, size_t max,
    unsigned *failed, char *err, size_t errlen);

/* fdstore.c: region memfds and state pages in systemd's fd store */
/* 0 when a new region could be kept in the store too (or fd_store is
 * off), else -ENOSPC with why. */
int fdstore_room(const struct broker *b, const char **why);
/* Warns when max_regions could fill the store. */
void fdstore_check_config(struct broker *b);
/* Every region and state page not in the store yet, into it: fd_store
 * was turned on by a reload. */
void fdstore_put_all(struct broker *b);
void fdstore_put_region(struct broker *b, struct region *g);
void fdstore_drop_region(struct broker *b, const struct region *g);
void fdstore_put_state(struct broker *b, struct region *g);
void fdstore_drop_state(struct broker *b, struct region *g);
/* Removes the entry called name from the store. */
void fdstore_drop(const char *name);
/* fd into the store as name: true when systemd took it (else logged). */
bool fdstore_put_fd(struct broker *b, const char *name, int fd);
/* An export's listening socket: true when the store took it. */
bool fdstore_put_export(struct broker *b, const char *key, const char *path,
    unsigned vectors, int fd);
void fdstore_drop_export(struct broker *b, const char *key, const char *path,
    unsigned vectors);
/* An export's socket found in the store at start (kept), or such a one
 * removed from it again (not kept). */
void fdstore_count_export(struct broker *b, bool kept);

/* clock.c */
uint64_t broker_now_ms(void);		/* wall clock */
uint64_t broker_mono_ns(void);		/* monotonic */
uint64_t broker_cpu_ns(void);		/* this thread's CPU time */

/* policy.c */
int policy_init(struct broker *b);
void policy_classify(struct broker *b, struct conn *c);
/* Every tenant of cfg finds its usage, made on first use; -ENOMEM. Done
 * before cfg runs, so that a tenant without one never does: its quota
 * and connection checks read it. */
int policy_attach_usages(struct broker *b, struct broker_config *cfg);
/* Once the reloaded configuration runs: every connection's tenant again. */
void policy_reload(struct broker *b);
void policy_deny(struct broker *b, struct tenant *t);
/* tenant_quota_check for tenant t (NULL: none, no quotas), with a
 * refusal counted by the quota it hits. */
int policy_quota(struct broker *b, const struct tenant *t, uint32_t regions,
    uint32_t clients, uint64_t bytes, uint64_t hugepages, const char **why);
/*
 * A new VMM connection c, classified and to be served: 0 when its
 * tenant's max_connections has room, and c counts in its tenant's
 * connections until policy_connection_gone; else -EDQUOT, counted as a
 * refusal (c is not counted). Admin connections are never counted.
 */
int policy_connection_admit(struct broker *b, struct conn *c);
/* c is killed, or reaped when it held fds unread (it may leave a drain,
 * which takes its place over): it no longer counts (a drain counts again
 * while it is kept, through c->conn_usage: conn_inflight.c). */
void policy_connection_gone(struct conn *c);
/* The usage kept under a tenant's name (made on first use), or NULL. */
struct tenant_usage *policy_usage(struct broker *b, const char *tenant);
/* The tenant a peer with these credentials is, or NULL: none. */
struct tenant *policy_tenant_for(struct broker *b, const struct ucred *cred);
/*
 * The one decision on what a peer of tenant t with these credentials may
 * do with region g, for VMMs (vmm.c) and QEMUs (ivshmem.c) alike: the
 * name t's guests reach g by (in *name when name is not NULL; NULL when
 * none), then the least of what t's rules grant that name and g's mode
 * grants the credentials. TENANT_ACCESS_NONE with the reason in *why;
 * not counted as a denial (the caller decides whether it is one).
 */
enum tenant_access policy_join_access(struct broker *b, const struct tenant *t,
    const struct ucred *cred, const struct region *g, const char **name,
    const char **why);
/* Whether a peer of tenant t may attach region g for writing, as an
 * ivshmem device maps it. GSS_OK, or GSS_NO_PERMISSION with the reason
 * (counted as a denial). */
enum guest_shm_status policy_may_join(struct broker *b, struct tenant *t,
    const struct ucred *cred, const struct region *g, const char **why);
/* The tenant whose prefix the region name lies in, or NULL. */
struct tenant *policy_name_owner(struct broker *b, const char *key);
/* Tenants decide by peer credentials: refuses (-1, reason in err) a
 * configuration with tenants or admin_group when this process cannot see
 * them as they are. */
int policy_check_credentials(const struct broker_config *cfg, char *err,
    size_t errlen);

/* restore.c: regions rebuilt from the fd store at start */
bool restore_take_fd(struct broker *b, int fd, const char *fdname);
int restore_finish(struct broker *b);

/*
 * members.c: the indices each stored region's clients held, kept in the
 * fd store so that they are re-claimed after a restart. members_take_fd
 * takes the stored table (restore.c); members_start, once the regions
 * are restored, reserves their indices (region->reserved) or makes a new
 * table. A region in the store has a row (members_add) until it leaves
 * (members_drop); members_set after each change of its members.
 */
bool members_take_fd(struct broker *b, int fd);
int members_start(struct broker *b);
void members_add(struct broker *b, struct region *g);
void members_set(struct broker *b, const struct region *g);
/* Whether a peer of uid may take index of g by want_index: any index not
 * kept for a client still to come back, and a kept one only when uid
 * held it (or no holder is known). */
bool members_may_take(const struct broker *b, const struct region *g,
    int index, uid_t uid);
void members_drop(struct broker *b, struct region *g);
void members_close(struct broker *b);

/* service.c */
int service_start(struct broker *b);
/* How a reload ended; err says why when it did not succeed. */
enum reload_result {
	RELOAD_DONE,
	RELOAD_REFUSED,		/* the file did not load: the running
				 * configuration stays */
	RELOAD_PARTIAL,		/* applied, but a configured region could
				 * not be created */
};
typedef void service_reload_cb(struct broker *b, uint64_t conn_id,
    uint64_t req_id, enum reload_result rc, const char *err);
/* Re-reads the configuration and creates the regions it adds, in batches
 * between other events; done (if not NULL) is called with conn_id and
 * req_id at the end, which may come before this returns. */
void service_reload(struct broker *b, service_reload_cb *done,
    uint64_t conn_id, uint64_t req_id);
void service_stopping(struct broker *b);
void service_stop(struct broker *b);

/* admin.c */
void admin_dispatch(struct conn *c, const Shmbroker__ClientMessage *m);
/* admin_export.c */
void admin_export(struct conn *c, uint64_t id,
    const Shmbroker__AdminExport *req);
void admin_unexport(struct conn *c, uint64_t id,
    const Shmbroker__AdminUnexport *req);
/* g's exports for a show reply: how many were filled in. */
size_t admin_export_infos(struct broker *b, const struct region *g,
    Shmbroker__ExportInfo infos[IVSHMEM_MAX_EXPORTS],
    Shmbroker__ExportInfo *ptrs[IVSHMEM_MAX_EXPORTS]);

/* ivshmem.c: regions served to stock QEMU's ivshmem-doorbell device */
struct ivshmem_export_info {
	const char *path;
	unsigned vectors;
	unsigned peers;			/* QEMUs connected */
	bool configured;
};
int ivshmem_init(struct broker *b);
/* Lets every QEMU go and removes every socket (the daemon stops). */
void ivshmem_close(struct broker *b);
/* Stops (on false) or resumes accepting QEMUs on every export. */
void ivshmem_accepting(struct broker *b, bool on);
/* Serves region g on a new UNIX socket at path, to QEMUs with vectors
 * interrupt vectors. 0, or -errno with the reason in err. */
int ivshmem_export(struct broker *b, struct region *g, const char *path,
    unsigned vectors, bool configured, char *err, size_t errlen);
/* Closes g's export at path (NULL: all of g's); connected QEMUs are told
 * every peer left and let go. How many closed. */
unsigned ivshmem_unexport(struct broker *b, const struct region *g,
    const char *path);
/* How many exports serve g. */
size_t ivshmem_export_count(struct broker *b, const struct region *g);
/* g's exports into out, at most max of them; how many. */
size_t ivshmem_exports(struct broker *b, const struct region *g,
    struct ivshmem_export_info *out, size_t max);
/* Exports what the configuration asks for and is not served yet: 0, or
 * -EINVAL with the reason in err. */
int ivshmem_export_configured(struct broker *b, char *err, size_t errlen);
/* Every export's socket not in the fd store yet, into it (fdstore.c). */
void ivshmem_store_exports(struct broker *b);
/* An export's socket from the fd store (a name "x."...): taken, kept until
 * ivshmem_restore_finish, which serves it again once the regions exist. */
void ivshmem_restore_take(struct broker *b, int fd, const char *fdname);
void ivshmem_restore_finish(struct broker *b);
/* Set as b->region_up by main.c: exports end with their region. */
extern const struct region_upcalls ivshmem_region_upcalls;

/* watch.c */
void watch_add(struct conn *c);
void watch_remove(struct conn *c);
/* Tells every watching admin connection what happened to g (index -1:
 * to the region itself). */
void watch_event(struct broker *b, const char *kind, const struct region *g,
    int index, uint64_t conn_id);

#endif
