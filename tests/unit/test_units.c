/* SPDX-License-Identifier: ISC */
/*
 * test_units: size parsing, byte-to-page rounding and size formatting, the
 * way the configuration file and shmctl read and print sizes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "units.h"

#define KiB 1024ULL
#define MiB (1024 * KiB)
#define GiB (1024 * MiB)
#define TiB (1024 * GiB)

static void
test_parse_good(void **state)
{
	static const struct {
		const char *s;
		uint64_t bytes;
	} cases[] = {
		{ "0", 0 },
		{ "4096", 4096 },
		{ "4K", 4 * KiB },
		{ "4k", 4 * KiB },
		{ "64M", 64 * MiB },
		{ "1G", GiB },
		{ "2GiB", 2 * GiB },
		{ "2gib", 2 * GiB },
		{ "3MB", 3 * MiB },
		{ "3mb", 3 * MiB },
		{ "1T", TiB },
		{ "0K", 0 },
		{ "007", 7 },
		{ "18446744073709551615", UINT64_MAX },
		{ "16777215T", 16777215 * TiB },
		{ "17179869183G", 17179869183ULL * GiB },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 12345;

		print_message("%s\n", cases[i].s);
		assert_int_equal(units_parse_size(cases[i].s, &v), 0);
		assert_int_equal(v, cases[i].bytes);
	}
}

static void
test_parse_bad(void **state)
{
	static const char *const cases[] = {
		"", "abc", "-1", "+1", "1X", "1KK", " 1", "1 ", "1 K", "1K ",
		"K", "1.5G", "0x10", "1iB", "1KiBB", "1Ki",
		"99999999999999999999",		/* over UINT64_MAX */
		"18446744073709551616",		/* UINT64_MAX + 1 */
		"17179869184T",			/* 2^34 TiB = 2^74 */
		"16777216T",			/* exactly 2^64 */
		"17179869184G",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 12345;

		print_message("'%s'\n", cases[i]);
		assert_int_equal(units_parse_size(cases[i], &v), -EINVAL);
	}
	assert_int_equal(units_parse_size(NULL, &(uint64_t){ 0 }), -EINVAL);
}

static void
test_bytes_to_pages(void **state)
{
	(void)state;
	assert_int_equal(units_bytes_to_pages(0), 0);
	assert_int_equal(units_bytes_to_pages(1), 1);
	assert_int_equal(units_bytes_to_pages(4095), 1);
	assert_int_equal(units_bytes_to_pages(4096), 1);
	assert_int_equal(units_bytes_to_pages(4097), 2);
	assert_int_equal(units_bytes_to_pages(64 * MiB), 16384);
	/* The largest page count a region can have, and one byte more. */
	assert_int_equal(units_bytes_to_pages((uint64_t)UINT32_MAX * 4096),
	    UINT32_MAX);
	assert_int_equal(units_bytes_to_pages((uint64_t)UINT32_MAX * 4096 + 1),
	    -ERANGE);
	assert_int_equal(units_bytes_to_pages(16 * TiB), -ERANGE);
	assert_int_equal(units_bytes_to_pages(UINT64_MAX), -ERANGE);
}

static void
test_format(void **state)
{
	static const struct {
		uint64_t bytes;
		const char *s;
	} cases[] = {
		{ 0, "0 B" },
		{ 1, "1 B" },
		{ 1023, "1023 B" },
		{ KiB, "1 KiB" },
		{ 1536, "1.5 KiB" },
		{ 4096, "4 KiB" },
		{ 64 * MiB, "64 MiB" },
		{ 3 * GiB / 2, "1.5 GiB" },
		{ 2 * GiB, "2 GiB" },
		{ TiB, "1 TiB" },
		{ 1024 * TiB, "1024 TiB" },
		/* Tenths are cut, not rounded: never more than there is. */
		{ KiB * KiB - 1, "1023.9 KiB" },
		{ 2 * GiB - 1, "1.9 GiB" },
		{ UINT64_MAX, "16777215.9 TiB" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[32];

		/* Nothing may be written past the 16 bytes promised. */
		memset(out, '#', sizeof(out));
		units_format_size(cases[i].bytes, out);
		assert_string_equal(out, cases[i].s);
		assert_true(strlen(out) < 16);
		for (size_t j = 16; j < sizeof(out); j++)
			assert_int_equal(out[j], '#');
	}
}

/* Whatever formats as a whole unit parses back to the same bytes. */
static void
test_format_parse_round_trip(void **state)
{
	static const uint64_t sizes[] = { 0, 4096, 64 * MiB, 3 * GiB, 5 * TiB };

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char out[16], compact[16];
		uint64_t v = 1;
		size_t k = 0;

		units_format_size(sizes[i], out);
		/* "64 MiB" -> "64MiB" */
		for (const char *s = out; *s != '\0'; s++)
			if (*s != ' ')
				compact[k++] = *s;
		compact[k] = '\0';
		if (strcmp(compact + k - 1, "B") == 0 &&
		    (k < 3 || compact[k - 2] != 'i'))
			compact[k - 1] = '\0';	/* plain bytes: no suffix */
		assert_int_equal(units_parse_size(compact, &v), 0);
		assert_int_equal(v, sizes[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_bytes_to_pages),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_format_parse_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
