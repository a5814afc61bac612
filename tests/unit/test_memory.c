/* SPDX-License-Identifier: ISC */
/*
 * test_memory: region memory as the daemon creates it: sealed shmem memfds,
 * and hugetlb memfds whose pages are reserved from the kernel's pool at
 * creation.
 *
 * The hugetlb cases change the host-wide pool (/proc/sys/vm/nr_hugepages)
 * and read its counters, so this program must not run at the same time as
 * anything else that changes or uses the pool (CMake gives unit.test_memory
 * a resource lock for that). They need root and skip without it; the
 * original pool size is restored in the group teardown, which cmocka runs
 * even when an assertion fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "memory.h"
#include "testcheck.h"

#define SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

/* The group's state: the pool size to restore, -1 when untouched. */
struct pool {
	long original;
	uint64_t hugepage_size;
};

/*
 * Grows or shrinks the pool so that exactly n pages are free and
 * unreserved. Pages others hold are left alone, so this never takes a
 * page from a concurrent user, it only sizes the spare part.
 */
static void
pool_set_available(long n)
{
	long got = harness_hugepages_make_free(n);

	assert_true(got >= 0);
	if (got != n)
		skip();	/* the kernel could not find enough free memory */
}

static int
group_setup(void **state)
{
	struct pool *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return -1;
	p->original = -1;
	p->hugepage_size = memory_hugepage_size();
	*state = p;
	return 0;
}

static int
group_teardown(void **state)
{
	struct pool *p = *state;
	int rc = harness_hugepages_restore(p->original, "test_memory");

	free(p);
	return rc;
}

/* Saves the pool size once, or skips when the pool cannot be changed. */
static struct pool *
need_pool(void **state)
{
	struct pool *p = *state;
	int fd;

	if (geteuid() != 0) {
		print_message("skipped: changing %s needs root\n",
		    HARNESS_NR_HUGEPAGES);
		skip();
	}
	if (p->hugepage_size == 0) {
		print_message("skipped: the kernel has no hugepages\n");
		skip();
	}
	if ((fd = open(HARNESS_NR_HUGEPAGES, O_WRONLY | O_CLOEXEC)) < 0) {
		print_message("skipped: %s is not writable: %s\n",
		    HARNESS_NR_HUGEPAGES, strerror(errno));
		skip();
	}
	close(fd);
	if (p->original < 0) {
		p->original = harness_hugepages_save();
		assert_true(p->original >= 0);
	}
	return p;
}

static void
assert_sealed(int fd, uint64_t bytes)
{
	struct stat st;
	int seals = fcntl(fd, F_GET_SEALS);

	assert_true(seals >= 0);
	assert_int_equal(seals & SEALS, SEALS);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal((uint64_t)st.st_size, bytes);
	errno = 0;
	assert_int_equal(ftruncate(fd, 0), -1);
	assert_int_equal(errno, EPERM);
	errno = 0;
	assert_int_equal(ftruncate(fd, (off_t)bytes * 2), -1);
	assert_int_equal(errno, EPERM);
	/* No seal can be added or removed any more. */
	errno = 0;
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), -1);
	assert_int_equal(errno, EPERM);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal((uint64_t)st.st_size, bytes);
}

/* Zero-filled, writable, and shared between two mappings of the fd. */
static void
assert_mappable(int fd, uint64_t bytes)
{
	uint8_t *a, *b;

	a = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(a != MAP_FAILED);
	b = mmap(NULL, bytes, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(b != MAP_FAILED);
	for (uint64_t i = 0; i < bytes; i += 512)
		assert_int_equal(a[i], 0);
	assert_int_equal(a[bytes - 1], 0);
	a[0] = 0x5a;
	a[bytes - 1] = 0xa5;
	assert_int_equal(b[0], 0x5a);
	assert_int_equal(b[bytes - 1], 0xa5);
	munmap(a, bytes);
	munmap(b, bytes);
}

static void
assert_label(int fd, const char *label)
{
	char path[64], target[256], want[256];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	snprintf(want, sizeof(want), "/memfd:%s (deleted)", label);
	assert_string_equal(target, want);
}

static void
test_policy_names(void **state)
{
	(void)state;
	assert_int_equal(memory_parse_policy("never"), HUGEPAGES_NEVER);
	assert_int_equal(memory_parse_policy("prefer"), HUGEPAGES_PREFER);
	assert_int_equal(memory_parse_policy("require"), HUGEPAGES_REQUIRE);
	assert_int_equal(memory_parse_policy(""), -EINVAL);
	assert_int_equal(memory_parse_policy("Never"), -EINVAL);
	assert_int_equal(memory_parse_policy("always"), -EINVAL);
	assert_int_equal(memory_parse_policy("prefer "), -EINVAL);
	assert_int_equal(memory_parse_policy("requir"), -EINVAL);
	for (int p = HUGEPAGES_NEVER; p <= HUGEPAGES_REQUIRE; p++)
		assert_int_equal(memory_parse_policy(memory_policy_name(
		    (enum hugepage_policy)p)), p);
	assert_string_equal(memory_policy_name((enum hugepage_policy)42), "?");
}

static void
test_hugepage_size(void **state)
{
	long kb = harness_meminfo("Hugepagesize");

	(void)state;
	if (kb < 0)
		assert_int_equal(memory_hugepage_size(), 0);
	else
		assert_int_equal(memory_hugepage_size(), (uint64_t)kb * 1024);
}

static void
test_shmem_never(void **state)
{
	struct pool *p = *state;
	static const uint32_t sizes[] = { 1, 3, 512, 1024 };
	int base = check_count_own_fds();

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct region_mem m = { .fd = -1 };
		const char *why = NULL;

		assert_int_equal(memory_create("never-region", sizes[i],
		    HUGEPAGES_NEVER, p->hugepage_size, &m, &why), 0);
		assert_true(m.fd >= 0);
		assert_int_equal(m.backing, BACKING_SHMEM);
		assert_int_equal(m.bytes, (uint64_t)sizes[i] * 4096);
		assert_sealed(m.fd, m.bytes);
		assert_mappable(m.fd, m.bytes);
		assert_label(m.fd, "never-region");
		/* Growing by writing past the end is refused too. */
		errno = 0;
		assert_int_equal(pwrite(m.fd, "x", 1, (off_t)m.bytes), -1);
		assert_int_equal(errno, EPERM);
		close(m.fd);
	}
	assert_int_equal(check_count_own_fds(), base);
}

/* Below one hugepage, prefer means shmem whatever the pool holds. */
static void
test_prefer_small_is_shmem(void **state)
{
	struct pool *p = *state;
	struct region_mem m = { .fd = -1 };
	const char *why = NULL;
	uint32_t pages = p->hugepage_size ?
	    (uint32_t)(p->hugepage_size / 4096) - 1 : 511;

	assert_int_equal(memory_create("small", pages, HUGEPAGES_PREFER,
	    p->hugepage_size, &m, &why), 0);
	assert_int_equal(m.backing, BACKING_SHMEM);
	assert_int_equal(m.bytes, (uint64_t)pages * 4096);
	assert_sealed(m.fd, m.bytes);
	close(m.fd);
}

/* A kernel without hugepages: require fails, prefer still works. */
static void
test_no_hugepages_kernel(void **state)
{
	struct region_mem m = { .fd = -1 };
	const char *why = NULL;
	int base = check_count_own_fds();

	(void)state;
	assert_int_equal(memory_create("nohuge", 1024, HUGEPAGES_REQUIRE, 0,
	    &m, &why), -ENOMEM);
	assert_non_null(why);
	assert_non_null(strstr(why, "hugepages"));
	assert_int_equal(check_count_own_fds(), base);
	assert_int_equal(memory_create("nohuge", 1024, HUGEPAGES_PREFER, 0,
	    &m, &why), 0);
	assert_int_equal(m.backing, BACKING_SHMEM);
	assert_int_equal(m.bytes, 1024 * 4096);
	close(m.fd);
}

static void
test_hugetlb_reserved(void **state)
{
	struct pool *p = need_pool(state);
	uint32_t per_huge = (uint32_t)(p->hugepage_size / 4096);
	struct region_mem a = { .fd = -1 }, b = { .fd = -1 };
	const char *why = NULL;
	long rsvd, free_pages;

	pool_set_available(4);
	rsvd = harness_meminfo("HugePages_Rsvd");
	free_pages = harness_meminfo("HugePages_Free");
	assert_int_equal(memory_hugepages_available(), 4);

	/* One hugepage exactly: 512 pages of 4 KiB with 2 MiB pages. */
	assert_int_equal(memory_create("huge-a", per_huge, HUGEPAGES_REQUIRE,
	    p->hugepage_size, &a, &why), 0);
	assert_int_equal(a.backing, BACKING_HUGETLB);
	assert_int_equal(a.bytes, p->hugepage_size);
	/* Reserved at creation, before anyone faults a page in. */
	assert_int_equal(harness_meminfo("HugePages_Rsvd"), rsvd + 1);
	assert_int_equal(harness_meminfo("HugePages_Free"), free_pages);
	assert_int_equal(memory_hugepages_available(), 3);
	assert_sealed(a.fd, a.bytes);
	assert_label(a.fd, "huge-a");

	/* One 4 KiB page over: rounded up to two hugepages. */
	assert_int_equal(memory_create("huge-b", per_huge + 1,
	    HUGEPAGES_REQUIRE, p->hugepage_size, &b, &why), 0);
	assert_int_equal(b.backing, BACKING_HUGETLB);
	assert_int_equal(b.bytes, 2 * p->hugepage_size);
	assert_int_equal(harness_meminfo("HugePages_Rsvd"), rsvd + 3);
	assert_int_equal(memory_hugepages_available(), 1);

	/* Touching the pages uses the reservation, not more of the pool. */
	assert_mappable(a.fd, a.bytes);
	assert_int_equal(memory_hugepages_available(), 1);

	/* Two more do not fit in the one left. */
	struct region_mem c = { .fd = -1 };
	int base = check_count_own_fds();

	assert_int_equal(memory_create("huge-c", 2 * per_huge,
	    HUGEPAGES_REQUIRE, p->hugepage_size, &c, &why), -ENOMEM);
	assert_non_null(strstr(why, "nr_hugepages"));
	assert_int_equal(check_count_own_fds(), base);
	assert_int_equal(memory_hugepages_available(), 1);

	close(a.fd);
	close(b.fd);
	assert_int_equal(memory_hugepages_available(), 4);
	assert_int_equal(harness_meminfo("HugePages_Rsvd"), rsvd);
}

static void
test_hugetlb_prefer(void **state)
{
	struct pool *p = need_pool(state);
	uint32_t per_huge = (uint32_t)(p->hugepage_size / 4096);
	struct region_mem m = { .fd = -1 };
	const char *why = NULL;

	pool_set_available(4);
	assert_int_equal(memory_create("prefer-huge", 3 * per_huge,
	    HUGEPAGES_PREFER, p->hugepage_size, &m, &why), 0);
	assert_int_equal(m.backing, BACKING_HUGETLB);
	assert_int_equal(m.bytes, 3 * p->hugepage_size);
	assert_int_equal(memory_hugepages_available(), 1);
	assert_sealed(m.fd, m.bytes);
	close(m.fd);
	assert_int_equal(memory_hugepages_available(), 4);
}

static void
test_hugetlb_empty_pool(void **state)
{
	struct pool *p = need_pool(state);
	uint32_t per_huge = (uint32_t)(p->hugepage_size / 4096);
	struct region_mem m = { .fd = -1 };
	const char *why = NULL;
	int base;

	pool_set_available(0);
	base = check_count_own_fds();
	assert_int_equal(memory_create("require-none", per_huge,
	    HUGEPAGES_REQUIRE, p->hugepage_size, &m, &why), -ENOMEM);
	assert_non_null(why);
	assert_non_null(strstr(why, "nr_hugepages"));
	assert_int_equal(m.fd, -1);
	assert_int_equal(check_count_own_fds(), base);

	/* prefer falls back to shmem, at the size asked, not rounded. */
	why = NULL;
	assert_int_equal(memory_create("prefer-none", per_huge + 1,
	    HUGEPAGES_PREFER, p->hugepage_size, &m, &why), 0);
	assert_int_equal(m.backing, BACKING_SHMEM);
	assert_int_equal(m.bytes, (uint64_t)(per_huge + 1) * 4096);
	assert_sealed(m.fd, m.bytes);
	assert_mappable(m.fd, m.bytes);
	close(m.fd);
	assert_int_equal(check_count_own_fds(), base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_names),
		cmocka_unit_test(test_hugepage_size),
		cmocka_unit_test(test_shmem_never),
		cmocka_unit_test(test_prefer_small_is_shmem),
		cmocka_unit_test(test_no_hugepages_kernel),
		cmocka_unit_test(test_hugetlb_reserved),
		cmocka_unit_test(test_hugetlb_prefer),
		cmocka_unit_test(test_hugetlb_empty_pool),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
