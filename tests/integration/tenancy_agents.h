/* SPDX-License-Identifier: ISC */
/*
 * tenancy_agents: what the tenancy tests share. "Agents" are children that
 * drop to a uid and gid (setgroups, setgid, setuid) and then drive
 * libshmclient on the parent's orders, answering over a socketpair, so
 * that VMM clients really are other users while every assertion stays in
 * the parent. The fixture is a configuration file, the daemon started on
 * it and the agents, all gone after teardown; the views read what the
 * daemon says through its admin socket and its log. Everything here fails
 * the running cmocka test rather than return an error.
 */
#ifndef SHMBROKER_TENANCY_AGENTS_H
#define SHMBROKER_TENANCY_AGENTS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "harness.h"
#include "shmclient.h"
#include "testcheck.h"

#define MAX_AGENTS 8
#define AGENT_SLOTS 4
#define AGENT_HEAD 32		/* bytes of a region an attach reads back */
#define WAIT_MS 5000

/* ---- agents: a client process running as another user ---- */

enum agent_op {
	OP_CONNECT,		/* path, label: shmc_connect into slot */
	OP_ATTACH,		/* name, pages, create; then map, write, read */
	OP_NOTIFY,		/* client_id: notify every other client */
	OP_DETACH,		/* client_id */
	OP_CLOSE,		/* the slot's connection */
	OP_ADMIN_STATUS,	/* AdminStatus on the slot */
};

struct agent_req {
	int op;
	int slot;
	char path[108];
	char name[80];		/* longer than any legal name, to try those */
	uint32_t pages;
	bool create;
	/* OP_ATTACH: after a successful attach, map the region, write text
	 * (when not empty, and the client may write) at its start and read
	 * its first bytes back. */
	bool map;
	char text[AGENT_HEAD];
	uint64_t client_id;
};

struct agent_rep {
	int rc;			/* a guest status or daemon error, or -errno */
	uint64_t client_id;
	uint64_t region_id;
	bool created;
	unsigned char head[AGENT_HEAD];	/* the region's first bytes (map) */
	char msg[256];
	/* OP_ATTACH of a read-only client: what its VMM would try, and the
	 * errno each got (0: it worked): a writable shared mapping, opening
	 * the fd again for writing through /proc/self/fd, and making the
	 * memfd writable for everyone. */
	bool read_only;
	int map_rw_err, reopen_rw_err, chmod_err;
};

struct agent {
	pid_t pid;
	int fd;
};

/* ---- the fixture: a configuration file, a daemon, agents ---- */

struct tstate {
	struct test_daemon d;
	char confdir[64];
	char conf[128];
	struct agent agents[MAX_AGENTS];
	int nagents;
	struct shmc *adm;
	long saved_pool;	/* nr_hugepages to restore, or -1 */
	bool journal;		/* the daemon logs priorities ("<4>...") */
	pid_t child;		/* a process of the test's, killed at the end */
};

/* cmocka setup and teardown of a struct tstate. */
int tenancy_setup(void **state);
int tenancy_teardown(void **state);
#define TENANCY_TEST(fn) \
	cmocka_unit_test_setup_teardown(fn, tenancy_setup, tenancy_teardown)

/* Tenancy tests run clients as other users: they skip unless root. */
void tenancy_need_root(void);
#define NEED_ROOT() tenancy_need_root()

/* Writes conf to st->conf and starts the daemon on it, with an admin
 * connection in st->adm and the VMM socket reachable by other users;
 * with st->journal its log lines start with their priority ("<4>"). */
void tenancy_start(struct tstate *st, const char *conf);
/* The daemon on conf and an agent as uid:uid, its first slots
 * connected. */
struct agent *start_agent(struct tstate *st, const char *conf, uid_t uid,
    int slots);

/* A new agent as uid:gid, not yet connected. */
struct agent *agent_start(struct tstate *st, uid_t uid, gid_t gid);
void agent_kill(struct agent *a);
/* One order and its answer. */
void agent_call(struct agent *a, struct agent_req *q, struct agent_rep *r);
/* OP_CONNECT of the slot to path: 0, or the error with msg (may be NULL)
 * saying why. */
int agent_connect(struct agent *a, int slot, const char *path, char *msg,
    size_t msglen);
/* Connects the agent's slot to the VMM socket, which must take it. */
void agent_vmm(struct tstate *st, struct agent *a, int slot);
/* A connection of the agent's slot to path must be refused with a
 * message that says why. */
void agent_refused(struct agent *a, int slot, const char *path,
    const char *why);
/* OP_ATTACH: returns the guest status (or a negative error); out (may be
 * NULL) gets the whole reply. */
int agent_attach(struct agent *a, int slot, const char *name,
    uint32_t pages, bool create, struct agent_rep *out);
/* The same, and then the region's first bytes into out->head, after
 * text (NULL: nothing) was written at its start. */
int agent_attach_rw(struct agent *a, int slot, const char *name,
    uint32_t pages, bool create, const char *text, struct agent_rep *out);
/* An order of op that takes at most a client id; returns its rc. */
int agent_simple(struct agent *a, int slot, enum agent_op op,
    uint64_t client_id);

/* ---- what the daemon says, through the admin socket and its log ---- */

struct tenant_view {
	bool found;
	bool is_default;
	char prefix[64];
	uint32_t mode;
	uint32_t regions, max_regions, clients, max_clients, connections;
	uint32_t max_connections;
	uint64_t bytes, max_bytes, hugepages, max_hugepages, denials;
};

/* The tenant as AdminTenants shows it (found false when absent). */
struct tenant_view tenant_info(struct tstate *st, const char *name);
/* Waits until the tenant's usage is as given: the daemon learns that a
 * client died from its socket, asynchronously. */
struct tenant_view tenant_wait(struct tstate *st, const char *name,
    uint32_t regions, uint32_t clients, uint32_t connections);
/* AdminShow of name. */
struct check_region region_info(struct tstate *st, const char *name);
/* AdminStats denials; *no_permission (may be NULL) gets the count of
 * GSS_NO_PERMISSION replies. */
uint64_t stats_denials(struct tstate *st, uint64_t *no_permission);
/* AdminStats refused_connections: connections closed at accept. */
uint64_t stats_refused(struct tstate *st);
/* How many lines of the daemon's log contain what. */
int log_count(struct tstate *st, const char *what);
/* Lines of the daemon's log (st->journal) at warning or worse. */
int log_warnings(struct tstate *st);
/* Takes n free hugepages for the test (given back in teardown); skips
 * the test when the kernel has none to give. */
void need_hugepages(struct tstate *st, long n);

#define GSS(expected, got, rep) do {					\
	int got_ = (got);						\
	if (got_ != (expected))						\
		fail_msg("%s: expected status %d, got %d (%s)", #got,	\
		    (expected), got_, (rep).msg);			\
} while (0)

#endif
