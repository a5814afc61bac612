/* SPDX-License-Identifier: ISC */
/*
 * test_ivshmem_proto: the pure side of the ivshmem server protocol: the
 * 8-byte little-endian messages (negative ones too: -1 carries the memory,
 * a refusal is a negative errno), and the checks every export passes
 * before a socket exists: an absolute path that fits a socket address, in
 * systemd's RuntimeDirectory= when there is one, 1 to 16 vectors, a
 * power-of-two size.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ivshmem_proto.h"

static void
test_encoding(void **state)
{
	static const int64_t values[] = { 0, 1, 15, 65535, -1, -13,
	    INT64_MAX, INT64_MIN };
	uint8_t b[8];

	(void)state;
	ivshmem_encode(0x0102030405060708, b);
	assert_memory_equal(b, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
	ivshmem_encode(IVSHMEM_MSG_SHMEM, b);
	assert_memory_equal(b, "\xff\xff\xff\xff\xff\xff\xff\xff", 8);
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		ivshmem_encode(values[i], b);
		assert_true(ivshmem_decode(b) == values[i]);
	}
}

static void
test_path(void **state)
{
	char path[120];
	const char *why = NULL;

	(void)state;
	assert_int_equal(ivshmem_check_path("/run/shmbroker/ivshmem/a.sock",
	    &why), 0);
	assert_int_equal(ivshmem_check_path("a.sock", &why), -EINVAL);
	assert_non_null(strstr(why, "absolute"));
	assert_int_equal(ivshmem_check_path("", &why), -EINVAL);
	memset(path, 'p', sizeof(path));
	path[0] = '/';
	path[107] = '\0';		/* 107 bytes: the most that fits */
	assert_int_equal(ivshmem_check_path(path, &why), 0);
	path[107] = 'p';
	path[108] = '\0';
	assert_int_equal(ivshmem_check_path(path, &why), -EINVAL);
	assert_non_null(strstr(why, "107"));
}

/* Under systemd's RuntimeDirectory= ($RUNTIME_DIRECTORY, one directory
 * or several with colons) a socket goes directly in one of them. */
static void
test_dir(void **state)
{
	static const char *const ok[] = { "/run/shmbroker/ivshmem/a.sock",
	    "/run/b/x", "/run/c/y.sock" };
	static const char *const refused[] = { "/tmp/x.sock", "/run/x.sock",
	    "/run/shmbroker/x.sock", "/run/shmbroker/ivshmem/",
	    "/run/shmbroker/ivshmem/sub/a.sock", "/run/shmbroker/ivshmemx/a",
	    "/run/shmbroker/ivshmem", "/run/bb/x", "a.sock" };
	const char *dirs = "/run/shmbroker/ivshmem:/run/b:/run/c/";
	const char *why = NULL;

	(void)state;
	assert_int_equal(ivshmem_check_dir("/tmp/x.sock", NULL, &why), 0);
	assert_int_equal(ivshmem_check_dir("/tmp/x.sock", "", &why), 0);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_int_equal(ivshmem_check_dir(ok[i], dirs, &why), 0);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		why = NULL;
		assert_int_equal(ivshmem_check_dir(refused[i], dirs, &why),
		    -EINVAL);
		assert_non_null(strstr(why, "PrivateTmp="));
	}
}

static void
test_vectors_and_size(void **state)
{
	const char *why = NULL;

	(void)state;
	assert_int_equal(ivshmem_check_vectors(0, &why), -EINVAL);
	assert_int_equal(ivshmem_check_vectors(1, &why), 0);
	assert_int_equal(ivshmem_check_vectors(16, &why), 0);
	assert_int_equal(ivshmem_check_vectors(17, &why), -EINVAL);
	assert_int_equal(ivshmem_check_vectors(UINT32_MAX, &why), -EINVAL);
	assert_int_equal(ivshmem_check_size(4096, &why), 0);
	assert_int_equal(ivshmem_check_size(2u << 20, &why), 0);
	assert_int_equal(ivshmem_check_size(UINT64_C(1) << 40, &why), 0);
	assert_int_equal(ivshmem_check_size(0, &why), -EINVAL);
	assert_int_equal(ivshmem_check_size(3u << 20, &why), -EINVAL);
	assert_non_null(strstr(why, "power of two"));
	assert_int_equal(ivshmem_check_size(12288, &why), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encoding),
		cmocka_unit_test(test_path),
		cmocka_unit_test(test_dir),
		cmocka_unit_test(test_vectors_and_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
