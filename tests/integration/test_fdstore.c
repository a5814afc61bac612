/* SPDX-License-Identifier: ISC */
/*
 * test_fdstore: pending notifications survive a daemon restart with
 * `fd_store = yes`, without systemd. The test plays systemd's part
 * (harness/fakestore.c): it keeps what the daemon stores and hands it to
 * the next daemon. A region's state page is stored next to its memfd, so
 * a bit set before the restart is still pending for the client that
 * re-claims its index afterwards, on the same memory.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "fakestore.h"
#include "fixture.h"
#include "testcheck.h"

#define RECONNECT_MS 5000

static const char conf_text[] = "[broker]\ntenancy = open\nfd_store = yes\n";

struct store {
	struct fixture fx;	/* first: the teardown frees it whole */
	struct fakestore fs;
};

static int
teardown(void **state)
{
	struct store *f = *state;

	if (f == NULL)
		return 0;
	fakestore_close(&f->fs);
	return fixture_teardown(state);
}

static int
setup(void **state)
{
	static const char *const never[] = { "--hugepages", "never", NULL };
	struct store *f = fixture_new(state, sizeof(*f));

	if (f == NULL)
		return -1;
	f->fs.nsock = -1;
	if (fakestore_open(&f->fs, f->fx.dir) < 0 ||
	    fixture_start(&f->fx, conf_text, never) < 0) {
		teardown(state);
		return -1;
	}
	return 0;
}

static void
test_pending_survives_restart(void **state)
{
	struct store *f = *state;
	struct shmc *c[2];
	struct shmc_region ra, rb;
	uint32_t st = 0, idx;
	bool same;

	for (int i = 0; i < 2; i++) {
		c[i] = fixture_connect(&f->fx, f->fx.d.socket, "fdstore");
		shmc_set_reconnect(c[i], RECONNECT_MS);
	}
	assert_int_equal(shmc_attach(c[0], "kept", 1, true, &ra),
	    SHMC_GSS_OK);
	assert_int_equal(shmc_attach(c[1], "kept", 1, true, &rb),
	    SHMC_GSS_OK);
	close(ra.fd);
	close(rb.fd);
	/* a notifies b, which does not read it before the restart. */
	assert_int_equal(shmc_notify(c[0], ra.client_id, 1u << rb.index,
	    NULL), 0);
	fakestore_collect(&f->fs);
	assert_int_equal(fakestore_count(&f->fs, "r."), 1);
	assert_int_equal(fakestore_count(&f->fs, "s."), 1);

	fakestore_restart(&f->fs, &f->fx);
	/* b's read reconnects, re-claims its index, and finds a's bit. */
	assert_int_equal(shmc_read_status(c[1], rb.client_id, &st), 0);
	assert_int_equal(shmc_reconnects(c[1]), 1);
	assert_int_equal(shmc_attachment_info(c[1], rb.client_id, &idx,
	    &same), 0);
	assert_int_equal(idx, rb.index);
	assert_true(same);
	assert_int_equal(st & 0xffff, 1u << ra.index);
	assert_int_equal(st >> 16, 1u << rb.index);
	/* Read once, like any pending bit. */
	assert_int_equal(shmc_read_status(c[1], rb.client_id, &st), 0);
	assert_int_equal(st & 0xffff, 0);

	/* a comes back too: its own word was empty and stays so, and the
	 * two notify each other again. */
	assert_int_equal(shmc_read_status(c[0], ra.client_id, &st), 0);
	assert_int_equal(st, 0x3u << 16);
	assert_int_equal(shmc_notify(c[1], rb.client_id, 0xffffffffu,
	    NULL), 0);
	assert_int_equal(shmc_read_status(c[0], ra.client_id, &st), 0);
	assert_int_equal(st, 0x3u << 16 | 1u << rb.index);

	/* The last client's detach takes the state page out of the store
	 * (told before the detach's reply), and the guest region with it. */
	assert_int_equal(shmc_detach(c[0], ra.client_id), 0);
	fakestore_collect(&f->fs);
	assert_int_equal(fakestore_count(&f->fs, "s."), 1);
	assert_int_equal(shmc_detach(c[1], rb.client_id), 0);
	fakestore_collect(&f->fs);
	assert_int_equal(fakestore_count(&f->fs, "s."), 0);
	assert_int_equal(fakestore_count(&f->fs, "r."), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pending_survives_restart,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
