/* SPDX-License-Identifier: ISC */
/*
 * test_fdstash_seq: the command number a keeper's SYNC reply names
 * (daemon/fdstash.h). The reply carries 32 bits of a 64-bit count; once
 * a keeper had run 2^32 commands the daemon took every reply for an old
 * one, and every parked region was out of reach (a reviewer's find).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fdstash.h"

#define B32 ((uint64_t)1 << 32)

static void
test_echo_seq(void **state)
{
	(void)state;
	/* Before the first wrap: the number itself. */
	assert_int_equal(fdstash_echo_seq(10, 10), 10);
	assert_int_equal(fdstash_echo_seq(10, 7), 7);
	/* Past a wrap, asked about and echoed. */
	assert_int_equal(fdstash_echo_seq(B32 + 5, 5), B32 + 5);
	assert_int_equal(fdstash_echo_seq(B32 + 5, 3), B32 + 3);
	/* An echo of a number asked before the wrap. */
	assert_int_equal(fdstash_echo_seq(B32 + 5, 0xfffffff0u),
	    B32 - 16);
	assert_int_equal(fdstash_echo_seq(3 * B32 + 1, 0xffffffffu),
	    3 * B32 - 1);
	/* Past anything asked before the first wrap: nothing. */
	assert_int_equal(fdstash_echo_seq(10, 11), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_echo_seq),
	};

	return cmocka_run_group_tests_name("unit.fdstash_seq", tests, NULL,
	    NULL);
}
