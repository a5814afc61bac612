/* SPDX-License-Identifier: ISC */
/*
 * ctl: what the shmctl tests share. The fixture is the daemon's (fixture.h)
 * with two VMM connections made on first use, a running `shmctl watch`,
 * and what shmctl printed, as text and parsed; ctl_run runs the built
 * shmctl as a child against the daemon's admin socket. The checks read
 * shmctl's human output: its rows, "key: value" blocks and aligned
 * tables. Everything here fails the running cmocka test rather than
 * return an error, but for the setup.
 */
#ifndef SHMBROKER_CTL_H
#define SHMBROKER_CTL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fixture.h"
#include "jv.h"
#include "shmclient.h"

#define OUT_SIZE (1u << 20)	/* what a run of shmctl may print */
#define NVMM 2

struct metrics;			/* test_shmctl_tenants' */

struct ctl {
	struct fixture fx;	/* first: fixture_teardown frees it whole */
	struct shmc *vmm[NVMM];	/* connected on first use */
	pid_t watch_pid;
	int watch_fd;
	char *out;
	struct jv json;
	struct metrics *metrics;	/* parsed `shmctl metrics` */
};

/* cmocka setup: a daemon with --hugepages never and, when config is not
 * NULL, a --config file that holds it. */
int ctl_setup_config(void **state, const char *config);
/* The same without a configuration file. */
int ctl_setup(void **state);
int ctl_teardown(void **state);
#define CTL_TEST(fn) cmocka_unit_test_setup_teardown(fn, ctl_setup, \
    ctl_teardown)

/*
 * Runs shmctl (with --admin-socket DAEMON when use_socket) args... with
 * its stdout in f->out, or its stderr there instead when want_stderr
 * (stdout then dropped). Returns the exit status.
 */
int ctl_run(struct ctl *f, bool use_socket, bool want_stderr,
    const char *const *args);
#define CTL(f, ...) ctl_run((f), true, false, \
    (const char *const[]){ __VA_ARGS__, NULL })
#define CTL_ERR(f, ...) ctl_run((f), true, true, \
    (const char *const[]){ __VA_ARGS__, NULL })

/* Runs shmctl --json args... and parses its output into f->json. */
#define CTL_JSON(f, ...) do {						\
	jv_free(&(f)->json);						\
	assert_int_equal(CTL((f), "--json", __VA_ARGS__), 0);		\
	if (!jv_parse((f)->out, &(f)->json))				\
		fail_msg("shmctl printed invalid JSON: %s", (f)->out);	\
} while (0)

/* The line of out that contains word as a whole column, or NULL. */
const char *ctl_find_row(const char *out, const char *word);
/* Where the value of a "key: value" line starts, or -1 when the line is
 * not one (no colon, or no space after it). */
long ctl_value_column(const char *line);
/* The "key: value" lines of block, up to an empty line or the end: a
 * space after each key, every value in the same column. Returns where
 * the block ends. */
const char *ctl_assert_kv_block(const char *block);
/* key's line in a block of out: the key at the start of a line, spaces,
 * and value. */
void ctl_assert_kv(const char *out, const char *key, const char *value);
/* A table as shmctl lays it out, headings first: every cell under its
 * heading; bit i of right: column i is right-aligned. */
void ctl_assert_table_aligned(const char *out, unsigned right);

/* VMM connection i (connected as label on first use) attaches to the
 * existing region; the fd is the fixture's. */
void ctl_attach_vmm(struct ctl *f, int i, const char *label,
    const char *region, struct shmc_region *r);
/* AdminCreate through the fixture's admin connection, which must
 * succeed. */
void ctl_admin_create(struct ctl *f, const char *name, uint32_t pages);

#endif
