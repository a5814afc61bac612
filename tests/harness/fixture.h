/* SPDX-License-Identifier: ISC */
/*
 * fixture: the daemon a cmocka integration test runs against, and what
 * the test holds of it. A struct fixture is a real shmbrokerd (harness),
 * an admin connection to it, a temporary directory for its configuration
 * file, and what the test process holds of it through the fixture:
 * connections, raw sockets, region fds and mappings. The teardown lets
 * them all go and stops the daemon, which must exit cleanly, so that a
 * test that fails half-way leaves nothing behind.
 *
 * A test that needs nothing more uses fixture_setup and fixture_teardown
 * as its cmocka setup and teardown, per test or for the group. A test
 * file that keeps more state puts a struct fixture first in its own
 * struct, allocates that with fixture_begin (or fixture_new, to start
 * the daemon later) and ends its teardown with fixture_teardown. The
 * tenancy tests have their own fixture on top of the harness
 * (integration/tenancy_agents.h).
 */
#ifndef SHMBROKER_FIXTURE_H
#define SHMBROKER_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness.h"
#include "shmclient.h"

#define FIXTURE_CONNS	16	/* libshmclient connections it holds */
#define FIXTURE_RAW	256	/* raw sockets it holds */
#define FIXTURE_FDS	512	/* region fds it holds */
#define FIXTURE_MAPS	64	/* region mappings it holds */
#define FIXTURE_ARGS	16	/* the daemon's extra arguments */

struct fixture_map {
	void *addr;
	size_t len;
};

struct fixture {
	struct test_daemon d;
	struct shmc *adm;	/* while the daemon runs; else NULL */
	char dir[64];		/* the test's own files */
	char conf[128];		/* dir/shmbroker.conf */
	/* What fixture_start gave the daemon, for fixture_restart. */
	const char *args[FIXTURE_ARGS];
	/* How fixture_start starts it (limits, capabilities), or NULL. */
	const struct harness_restart *start_how;
	uint64_t next_id;	/* the next request id on a raw socket */
	int baseline_fds;	/* the daemon's fds, where a setup counted */
	struct shmc *conns[FIXTURE_CONNS];	/* NULL: a free slot */
	int raw[FIXTURE_RAW];			/* -1: a free slot */
	int fds[FIXTURE_FDS];
	size_t nfds;
	struct fixture_map maps[FIXTURE_MAPS];
	size_t nmaps;
};

/*
 * Allocates size bytes (at least a struct fixture, which is put at their
 * start) into *state and makes the fixture's directory; no daemon runs
 * yet. Returns the memory, or NULL (and *state NULL) when it cannot.
 */
void *fixture_new(void **state, size_t size);
/*
 * Starts the daemon: with --config fx->conf holding conf unless conf is
 * NULL, then the NULL-terminated extra arguments (may be NULL), which
 * must outlive the fixture (literals, or fields of the test's state);
 * then the admin connection fx->adm. Returns 0, or -1 with the reason
 * on stderr: a setup returns fixture_failed, a test asserts 0.
 */
int fixture_start(struct fixture *fx, const char *conf,
    const char *const *extra);
/*
 * The same daemon again on the same sockets (harness_restart_daemon with
 * the same arguments and how, which may be NULL), and a new admin
 * connection, unless how delays the new daemon: fx->adm is NULL then.
 * Returns 0 or -1.
 */
int fixture_restart(struct fixture *fx, const struct harness_restart *how);
/*
 * Lets go of what the test holds through the fixture and the admin
 * connection, and stops the daemon, which must exit with 0 (its log is
 * printed otherwise). Returns its exit status, -1 when it was killed.
 */
int fixture_stop(struct fixture *fx);
/* Undoes a setup that failed after fixture_new (cmocka runs no teardown
 * for it): everything goes, *state is NULL. Returns -1. */
int fixture_failed(void **state);

/*
 * A setup's fixture_new and fixture_start in one: size bytes with the
 * fixture at their start, and the daemon on conf with extra. Returns 0,
 * or -1 after undoing what was done.
 */
int fixture_begin(void **state, size_t size, const char *conf,
    const char *const *extra);
/* cmocka setup: a daemon with --hugepages never and its admin
 * connection. */
int fixture_setup(void **state);
/* cmocka teardown: fixture_stop, and the directory and the memory go.
 * Returns -1 when the daemon did not exit cleanly. */
int fixture_teardown(void **state);
/* A test run with both. */
#define FIXTURE_TEST(fn) \
	cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)

/* A libshmclient connection to path (a socket of fx's daemon), closed
 * at teardown unless fixture_close closes it first. */
struct shmc *fixture_connect(struct fixture *fx, const char *path,
    const char *label);
void fixture_close(struct fixture *fx, struct shmc *c);
/* A raw SOCK_SEQPACKET connection to path, closed at teardown unless
 * fixture_raw_close closes it first. */
int fixture_raw(struct fixture *fx, const char *path);
void fixture_raw_close(struct fixture *fx, int fd);
/* shmc_attach on c, which must not fail in transport; returns the guest
 * status. The region fd of a success is closed at teardown. */
int fixture_attach(struct fixture *fx, struct shmc *c, const char *name,
    uint32_t pages, bool create, struct shmc_region *out);
/* r's whole memfd mapped shared, read-write; unmapped at teardown. */
uint8_t *fixture_map(struct fixture *fx, const struct shmc_region *r);
/* How many lines of the daemon's log contain a, and b too unless it is
 * NULL. */
int fixture_log_lines(const struct fixture *fx, const char *a,
    const char *b);

#endif
