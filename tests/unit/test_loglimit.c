/* SPDX-License-Identifier: ISC */
/*
 * test_loglimit: a message an untrusted party repeats at will is said at
 * most once an interval, and the line that is said counts the others; the
 * rule the daemon's log and shm-vm's stderr share (proto/loglimit.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include "loglimit.h"

#define IVL 10000

static void
test_first_is_said(void **state)
{
	struct log_limit l = { 0, 0 };
	uint64_t unsaid = 99;

	(void)state;
	assert_true(log_limit_pass(&l, 5000, IVL, &unsaid));
	assert_int_equal(unsaid, 0);
}

/* A flood inside one interval is one line; the next, an interval after
 * the last said, counts what was not said. */
static void
test_flood_is_counted(void **state)
{
	struct log_limit l = { 0, 0 };
	uint64_t unsaid = 0;

	(void)state;
	assert_true(log_limit_pass(&l, 1000, IVL, &unsaid));
	for (uint64_t t = 1001; t < 1000 + IVL; t += 7)
		assert_false(log_limit_pass(&l, t, IVL, &unsaid));
	assert_true(log_limit_pass(&l, 1000 + IVL, IVL, &unsaid));
	assert_int_equal(unsaid, (IVL - 1 + 6) / 7);
	/* the count starts again from the line just said */
	assert_false(log_limit_pass(&l, 1000 + IVL + 1, IVL, &unsaid));
	assert_true(log_limit_pass(&l, 1000 + 3 * IVL, IVL, &unsaid));
	assert_int_equal(unsaid, 1);
}

/* A monotonic clock may read 0 at the first call (a fresh boot's, or a
 * test's): that call is still remembered as said. */
static void
test_said_at_zero(void **state)
{
	struct log_limit l = { 0, 0 };
	uint64_t unsaid = 0;

	(void)state;
	assert_true(log_limit_pass(&l, 0, IVL, &unsaid));
	assert_false(log_limit_pass(&l, 1, IVL, &unsaid));
	assert_false(log_limit_pass(&l, IVL - 1, IVL, &unsaid));
	assert_true(log_limit_pass(&l, IVL + 1, IVL, &unsaid));
	assert_int_equal(unsaid, 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_is_said),
		cmocka_unit_test(test_flood_is_counted),
		cmocka_unit_test(test_said_at_zero),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
