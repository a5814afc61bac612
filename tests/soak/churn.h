/* SPDX-License-Identifier: ISC */
/*
 * churn: what the parts of the churn soak (soak-churn) share. The parent
 * process (churn_run.c) keeps --workers VMM processes alive (64), each a
 * forked worker (churn_worker.c) with its own libshmclient connection to a
 * real shmbrokerd, doing random attach / notify / status / detach
 * operations on a few dozen regions until the run's operations are used
 * up. Each worker process lives for a random number of operations and is
 * then replaced; a tenth of them are SIGKILLed at a random moment of
 * their life instead. Optionally the daemon itself is SIGKILLed part-way
 * (under systemd, whose fd store keeps the regions) and the workers ride
 * it out with shmc_set_reconnect. At the end the live workers hold what
 * they hold and the parent compares that with what the daemon says
 * (churn_check.c), then lets them go and checks the daemon is back where
 * it started.
 *
 * Workers and parent share one anonymous MAP_SHARED block (struct
 * churn_shared): the operation budget, each worker's progress (for kills
 * at a random moment), counters, per-region attach counters (to tell why a
 * re-claimed index moved) and the first failures. Everything else goes
 * over a SOCK_SEQPACKET pair per worker.
 */
#ifndef SHMBROKER_CHURN_H
#define SHMBROKER_CHURN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shmclient.h"

#define CHURN_MAX_WORKERS	256
#define CHURN_MAX_REGIONS	64
#define CHURN_HOLD		4	/* attachments a worker holds at most */
#define CHURN_FAILS		8	/* failure messages kept */
#define CHURN_FAIL_LEN		240
#define CHURN_PAGE		4096u
/* How long a restarted daemon keeps restored guest regions for their
 * clients (RESTORE_GRACE_S of daemon/restore.c). */
#define CHURN_GRACE_MS		60000
/* The first 8 bytes of a region's first page once its pattern is in
 * ("soakhurn" in memory). */
#define CHURN_MAGIC		UINT64_C(0x6e7275686b616f73)

struct churn_opts {
	const char *socket;		/* NULL: the parent starts a daemon */
	const char *admin_socket;
	const char *pid_cmd;		/* prints the daemon's pid (external) */
	unsigned workers;
	uint64_t ops;
	unsigned kill_pct;		/* of worker lives, SIGKILLed */
	unsigned admin_regions, guest_regions;
	unsigned life_min, life_max;	/* operations per worker life */
	unsigned kill_daemon_pct;	/* 0: never; else at this % of ops */
	int reconnect_ms;		/* 0: off */
	uint64_t seed;
	long rss_slack_kib;
	bool wait_grace;	/* after a daemon kill: for the exact end */
	bool quiet;
};

/* What the workers count, all together (killed ones' counts included). */
enum churn_counter {
	CC_ATTACH_OK,
	CC_CREATED,
	CC_CLAIMED,		/* shmc_attach_claim: the VMM's irqfd way */
	CC_CLIENT_MAX,
	CC_NOT_FOUND,
	CC_DETACH,
	CC_NOTIFY,
	CC_STATUS,
	CC_EV_PEER,		/* PeerChanged events */
	CC_EV_NOTIFY,		/* notification events and eventfd reads */
	CC_EV_EVENTFD,		/* EVENTFD_CHANGED after a reconnect */
	CC_DATA_CHECKED,	/* attaches that found the region's pattern */
	CC_RECONNECTS,
	CC_KEPT_INDEX,		/* re-claimed at the index held before */
	CC_MOVED_INDEX,		/* another client had taken it meanwhile */
	CC_LOST_FULL,		/* attaches meanwhile had filled the region */
	CC_COUNTERS
};

struct churn_shared {
	_Atomic uint64_t ops;			/* operations taken */
	_Atomic uint64_t life_ops[CHURN_MAX_WORKERS];
	_Atomic uint64_t count[CC_COUNTERS];
	/* Attaches (not re-claims) to each region begun and ended: a
	 * re-claim may lose its old index only to an attach that was not
	 * over before the daemon was killed. */
	_Atomic uint64_t attach_begun[CHURN_MAX_REGIONS];
	_Atomic uint64_t attach_ended[CHURN_MAX_REGIONS];
	uint64_t ended_at_kill[CHURN_MAX_REGIONS];
	/* The daemon's kill: the worker that draws operation kill_op (0:
	 * none) SIGKILLs daemon_pid, so it lands mid-churn whatever the
	 * scheduler does with the parent. */
	uint64_t kill_op;
	_Atomic int kill_claimed;		/* by the worker that kills */
	pid_t daemon_pid;
	_Atomic int64_t kill_ms;		/* harness_now_ms() then */
	_Atomic int daemon_killed;		/* set after ended_at_kill */
	_Atomic unsigned nfail;
	char fail[CHURN_FAILS][CHURN_FAIL_LEN];
};

/* One attachment a worker holds, as it reports it. */
struct churn_held {
	uint32_t region;	/* number of the region (churn_region_name) */
	uint32_t index;		/* shmc_attachment_info's */
	uint32_t active;	/* the library's active mask (after a sync) */
	bool same_memory;
	bool marked;		/* its mapping holds the region's pattern */
};

struct churn_report {
	pid_t pid;
	uint32_t n;
	struct churn_held held[CHURN_HOLD];
};

/* Commands of the parent to a worker that ran out of operations. */
enum churn_cmd { CHURN_SYNC = 1, CHURN_EXIT };

/* One worker life, as the parent starts it. */
struct churn_life {
	unsigned slot;
	uint64_t ops;		/* operations it does unless the run ends */
	uint64_t seed;
};

/* Run-wide figures the parent gathers for the report. */
struct churn_figures {
	uint64_t lives, kills, clean_ends;
	int64_t elapsed_ms, daemon_down_ms;
	int fds_before, fds_peak, fds_after;
	long rss_before, rss_peak, rss_after;
	unsigned end_workers, end_clients, end_regions;
	unsigned lingering;	/* restored guest regions found at the end */
	int64_t grace_waited_ms;	/* from the restart until they went */
	unsigned marked;	/* regions with the pattern, at the end */
	unsigned state_kept;	/* state pages kept for a restart's grace */
	uint64_t kept_given;	/* kept indices the daemon gave away */
	pid_t daemon_pid_before, daemon_pid_after;
};

/* The run as the parent sees it. */
struct churn {
	const struct churn_opts *o;
	struct churn_shared *sh;
	const char *socket, *admin_socket;
	pid_t daemon_pid;		/* own daemon; else from pid_cmd */
	struct shmc *adm;
	struct churn_figures fig;
	/* the parent's errors (the workers' are in sh->fail) */
	unsigned nerr;
};

/* Region number i's name: adm-NN for the admin's, vm-NN for guests'. */
void churn_region_name(const struct churn_opts *o, uint32_t i, char *buf,
    size_t len);
/* Its size in pages as its creator gives it. */
uint32_t churn_region_pages(const struct churn_opts *o, uint32_t i);
bool churn_region_is_admin(const struct churn_opts *o, uint32_t i);
/* The pattern of region i: written after the magic by its creator. */
void churn_pattern_fill(uint8_t *page, uint32_t region);
/* 1: the page holds region's pattern; 0: none yet; -1: a wrong one. */
int churn_pattern_check(const uint8_t *page, uint32_t region);

/* The next number of a xorshift64* sequence in *state (never 0): cheap,
 * and each life and the parent have their own. */
uint64_t churn_rand(uint64_t *state);

/* A failure, kept in sh (first CHURN_FAILS) and counted. */
void churn_fail(struct churn_shared *sh, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The worker process for life (never returns). ctl is its end of the
 * command socket. */
void churn_worker_main(const struct churn_opts *o, struct churn_shared *sh,
    const struct churn_life *life, const char *socket, int ctl)
    __attribute__((noreturn));

/* The whole run: lives, kills, the daemon's kill, the end checks. 0 when
 * everything held, -1 otherwise (the failures printed). */
int churn_run(struct churn *ch);

/* The daemon's pid now: the own one, or pid_cmd's answer (0: none). */
pid_t churn_daemon_pid(struct churn *ch);

/* The end checks (churn_check.c), with the live workers' reports. */
struct churn_worker_end {
	pid_t pid;
	int ctl;
	struct churn_report rep;
};
int churn_check_holdings(struct churn *ch, struct churn_worker_end *w,
    size_t n);
/* After the workers are gone: clients, regions, data, fds, memory. */
struct procfds;
int churn_check_after(struct churn *ch, const struct procfds *fds_before,
    long rss_before);
/* A failure of the parent: printed, counted in ch->nerr. */
void churn_err(struct churn *ch, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
