/* SPDX-License-Identifier: ISC */
/*
 * test_registry: the registry's bookkeeping on its own: name checks,
 * lookups, index allocation, lifetimes, paged listings,
 * byte accounting and teardown without leaks.
 */
#include <malloc.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "registry.h"
#include "testcheck.h"

static int
setup(void **state)
{
	struct registry *r = calloc(1, sizeof(*r));

	if (r == NULL || registry_init(r) != 0) {
		free(r);
		return -1;
	}
	*state = r;
	return 0;
}

static int
teardown(void **state)
{
	struct registry *r = *state;

	registry_free(r);
	free(r);
	return 0;
}

static struct region *
add(struct registry *r, const char *name, enum region_origin origin,
    enum region_backing backing, uint64_t bytes, int fd)
{
	struct region_mem mem = { .fd = fd, .bytes = bytes,
	    .backing = backing };
	struct region *g;

	assert_null(registry_find(r, name));
	g = registry_add_region(r, name, (uint32_t)(bytes / REGION_PAGE_SIZE),
	    &mem, origin, 1234);
	assert_non_null(g);
	return g;
}

static struct region *
add_guest(struct registry *r, const char *name)
{
	return add(r, name, ORIGIN_GUEST, BACKING_SHMEM, 4096, -1);
}

static struct client *
attach(struct registry *r, struct region *g)
{
	struct client *c = NULL;

	assert_int_equal(registry_attach(r, g, NULL, NULL, &c), GSS_OK);
	assert_non_null(c);
	return c;
}

static enum guest_shm_status
check(const void *bytes, size_t len)
{
	char out[REGION_NAME_MAX];

	return registry_check_name(bytes, len, out);
}

static void
test_check_name_valid(void **state)
{
	char name[REGION_NAME_MAX], out[REGION_NAME_MAX];
	uint8_t all[0x7e - 0x21 + 1];

	(void)state;
	memset(out, 'Z', sizeof(out));
	assert_int_equal(registry_check_name((const uint8_t *)"a", 2, out),
	    GSS_OK);
	assert_string_equal(out, "a");

	/* 31 characters and the terminator: the longest name. */
	memset(name, 'x', 31);
	name[31] = '\0';
	assert_int_equal(registry_check_name((uint8_t *)name, 32, out), GSS_OK);
	assert_memory_equal(out, name, 32);

	/* Every printable character but space is allowed. */
	for (size_t i = 0; i < sizeof(all); i += 31) {
		size_t n = sizeof(all) - i < 31 ? sizeof(all) - i : 31;

		for (size_t j = 0; j < n; j++)
			name[j] = (char)(0x21 + i + j);
		name[n] = '\0';
		assert_int_equal(registry_check_name((uint8_t *)name, n + 1,
		    out), GSS_OK);
		assert_string_equal(out, name);
	}
}

static void
test_check_name_illegal(void **state)
{
	uint8_t b[64];

	(void)state;
	/* protobuf-c gives an absent bytes field as NULL, 0 */
	assert_int_equal(check(NULL, 0), GSS_ILLEGAL_NAME);
	assert_int_equal(check("", 1), GSS_ILLEGAL_NAME);
	/* 32 bytes without a NUL, and 32 characters plus the NUL */
	memset(b, 'x', sizeof(b));
	assert_int_equal(check(b, 32), GSS_ILLEGAL_NAME);
	b[32] = '\0';
	assert_int_equal(check(b, 33), GSS_ILLEGAL_NAME);
	/* no terminator at all */
	assert_int_equal(check("abc", 3), GSS_ILLEGAL_NAME);
	/* the terminator is not the last byte */
	assert_int_equal(check("a\0b\0", 4), GSS_ILLEGAL_NAME);
	assert_int_equal(check("ab\0\0", 4), GSS_ILLEGAL_NAME);
	assert_int_equal(check("a b", 4), GSS_ILLEGAL_NAME);
	assert_int_equal(check(" ab", 4), GSS_ILLEGAL_NAME);
	assert_int_equal(check("a\x7f", 3), GSS_ILLEGAL_NAME);
	assert_int_equal(check("a\x80", 3), GSS_ILLEGAL_NAME);
	assert_int_equal(check("a\xff", 3), GSS_ILLEGAL_NAME);
	assert_int_equal(check("a\x1f", 3), GSS_ILLEGAL_NAME);
	assert_int_equal(check("a\n", 3), GSS_ILLEGAL_NAME);
}

static void
test_add_find(void **state)
{
	struct registry *r = *state;
	struct region *g[200];
	char name[REGION_NAME_MAX];

	assert_null(registry_find(r, "nope"));
	assert_null(registry_find_id(r, 1));
	assert_null(registry_region_after(r, 0));
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "region-%d", i);
		g[i] = add(r, name, ORIGIN_ADMIN, BACKING_SHMEM, 8192, -1);
		assert_int_equal(g[i]->id, (uint64_t)i + 1);
		assert_string_equal(g[i]->name, name);
		assert_int_equal(g[i]->size_pages, 2);
		assert_int_equal(g[i]->origin, ORIGIN_ADMIN);
		assert_int_equal(g[i]->created_ms, 1234);
		assert_int_equal(g[i]->nclients, 0);
		assert_int_equal(g[i]->active, 0);
	}
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "region-%d", i);
		assert_ptr_equal(registry_find(r, name), g[i]);
		assert_ptr_equal(registry_find_id(r, g[i]->id), g[i]);
	}
	assert_null(registry_find(r, "region-200"));
	assert_null(registry_find(r, "region-"));
	assert_null(registry_find_id(r, 201));
	assert_null(registry_find_id(r, 0));

	registry_remove_region(r, g[17]);
	assert_null(registry_find(r, "region-17"));
	assert_null(registry_find_id(r, 18));
	assert_ptr_equal(registry_find(r, "region-16"), g[16]);
	assert_ptr_equal(registry_find(r, "region-18"), g[18]);

	/* A removed name can be reused; ids are never reused. */
	g[17] = add(r, "region-17", ORIGIN_GUEST, BACKING_SHMEM, 4096, -1);
	assert_int_equal(g[17]->id, 201);
	assert_ptr_equal(registry_find(r, "region-17"), g[17]);
	assert_null(registry_find_id(r, 18));
}

static void
test_attach_indices(void **state)
{
	struct registry *r = *state;
	struct region *g = add_guest(r, "g");
	struct client *c[REGION_MAX_CLIENTS], *extra = NULL, *x;
	struct client_list owner = LIST_HEAD_INITIALIZER(owner);
	int owned = 0;
	int token;

	for (int i = 0; i < REGION_MAX_CLIENTS; i++) {
		assert_int_equal(registry_attach(r, g, &token, &owner, &c[i]),
		    GSS_OK);
		assert_int_equal(c[i]->index, i);
		assert_ptr_equal(c[i]->region, g);
		assert_ptr_equal(c[i]->owner, &token);
		assert_int_equal(c[i]->efd, -1);
		assert_ptr_equal(g->clients[i], c[i]);
		assert_ptr_equal(registry_client(r, c[i]->id), c[i]);
		assert_int_equal(g->nclients, i + 1);
		assert_int_equal(g->active, (1u << (i + 1)) - 1);
	}
	LIST_FOREACH(x, &owner, owner_entry)
		owned++;
	assert_int_equal(owned, REGION_MAX_CLIENTS);

	assert_int_equal(registry_attach(r, g, NULL, NULL, &extra),
	    GSS_CLIENT_MAX);
	assert_null(extra);
	assert_int_equal(g->nclients, REGION_MAX_CLIENTS);
	assert_int_equal(g->active, 0xffff);

	/* Freed indices come back lowest first. */
	uint64_t id9 = c[9]->id;

	assert_false(registry_detach(r, c[9]));
	assert_false(registry_detach(r, c[3]));
	assert_null(registry_client(r, id9));
	assert_int_equal(g->active, 0xffff & ~(1u << 9) & ~(1u << 3));
	assert_int_equal(g->nclients, REGION_MAX_CLIENTS - 2);
	owned = 0;
	LIST_FOREACH(x, &owner, owner_entry)
		owned++;
	assert_int_equal(owned, REGION_MAX_CLIENTS - 2);

	c[3] = attach(r, g);
	assert_int_equal(c[3]->index, 3);
	c[9] = attach(r, g);
	assert_int_equal(c[9]->index, 9);
	assert_true(c[9]->id > id9);
	assert_int_equal(g->active, 0xffff);
	assert_int_equal(registry_attach(r, g, NULL, NULL, &extra),
	    GSS_CLIENT_MAX);

	/* A region is full at 16 clients, others are not affected. */
	struct region *h = add_guest(r, "h");

	assert_int_equal(attach(r, h)->index, 0);
}

/* Indices a restart keeps (g->reserved) go to their own clients (want),
 * to others only when nothing else is free, and leave the set when
 * taken. */
static void
test_attach_reserved(void **state)
{
	struct registry *r = *state;
	struct region *g = add_guest(r, "kept");
	struct client *c[REGION_MAX_CLIENTS], *back;
	int n = 0;

	g->reserved = 0x8005;	/* 0, 2 and 15 */
	assert_int_equal(registry_attach(r, g, NULL, NULL, &c[n]), GSS_OK);
	assert_int_equal(c[n++]->index, 1);
	assert_int_equal(registry_attach_at(r, g, NULL, NULL, 2, &back),
	    GSS_OK);
	assert_int_equal(back->index, 2);
	assert_int_equal(g->reserved, 0x8001);
	/* A want that is taken is no claim on a kept index. */
	assert_int_equal(registry_attach_at(r, g, NULL, NULL, 1, &c[n]),
	    GSS_OK);
	assert_int_equal(c[n++]->index, 3);
	while (n < REGION_MAX_CLIENTS - 3) {
		assert_int_equal(registry_attach(r, g, NULL, NULL, &c[n]),
		    GSS_OK);
		assert_int_equal(c[n]->index, n + 2);
		n++;
	}
	assert_int_equal(g->reserved, 0x8001);
	/* Only kept ones are left: the lowest goes. */
	assert_int_equal(registry_attach(r, g, NULL, NULL, &c[n]), GSS_OK);
	assert_int_equal(c[n]->index, 0);
	assert_int_equal(g->reserved, 0x8000);
	assert_int_equal(registry_attach(r, g, NULL, NULL, &c[++n]), GSS_OK);
	assert_int_equal(c[n]->index, 15);
	assert_int_equal(g->reserved, 0);
	assert_int_equal(g->active, 0xffff);
}

static void
test_detach_lifetime(void **state)
{
	struct registry *r = *state;
	struct region *guest = add_guest(r, "guest");
	struct region *admin = add(r, "admin", ORIGIN_ADMIN, BACKING_SHMEM,
	    4096, -1);
	struct region *conf = add(r, "conf", ORIGIN_CONFIG, BACKING_SHMEM,
	    4096, -1);
	struct client *a = attach(r, guest), *b = attach(r, guest);

	assert_false(registry_detach(r, a));
	assert_true(registry_detach(r, b));
	assert_int_equal(guest->nclients, 0);
	assert_int_equal(guest->active, 0);
	registry_remove_region(r, guest);
	assert_null(registry_find(r, "guest"));

	a = attach(r, admin);
	b = attach(r, admin);
	assert_false(registry_detach(r, b));
	assert_false(registry_detach(r, a));
	assert_ptr_equal(registry_find(r, "admin"), admin);

	a = attach(r, conf);
	assert_false(registry_detach(r, a));
	assert_ptr_equal(registry_find(r, "conf"), conf);
	assert_null(registry_client_after(r, 0));
}

static void
test_region_paging(void **state)
{
	struct registry *r = *state;
	char name[REGION_NAME_MAX];
	uint64_t seen[32];
	size_t nseen = 0;
	struct region *g;
	uint64_t cursor = 0;

	for (int i = 1; i <= 10; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		add(r, name, ORIGIN_ADMIN, BACKING_SHMEM, 4096, -1);
	}
	/* Pages of one region, changing the registry between pages. */
	while ((g = registry_region_after(r, cursor)) != NULL) {
		assert_true(nseen < 32);
		seen[nseen++] = g->id;
		cursor = g->id;
		if (g->id == 3) {
			/* the cursor itself goes */
			registry_remove_region(r, g);
		} else if (g->id == 5) {
			/* the cursor and the next one go */
			registry_remove_region(r, registry_find_id(r, 6));
			registry_remove_region(r, g);
		} else if (g->id == 7) {
			/* one already listed goes, a new one arrives */
			registry_remove_region(r, registry_find_id(r, 1));
			add(r, "late", ORIGIN_ADMIN, BACKING_SHMEM, 4096, -1);
		}
	}
	static const uint64_t want[] = { 1, 2, 3, 4, 5, 7, 8, 9, 10, 11 };

	assert_int_equal(nseen, sizeof(want) / sizeof(want[0]));
	assert_memory_equal(seen, want, sizeof(want));
	/* The last one gone, a cursor past the end: both end the listing. */
	registry_remove_region(r, registry_find_id(r, 11));
	assert_null(registry_region_after(r, 11));
	assert_null(registry_region_after(r, 10));
	assert_null(registry_region_after(r, 1000));
	assert_int_equal(registry_region_after(r, 0)->id, 2);
	assert_int_equal(registry_region_after(r, 1)->id, 2);
}

static void
test_client_paging(void **state)
{
	struct registry *r = *state;
	struct region *a = add_guest(r, "a"), *b = add_guest(r, "b");
	struct client *c[12], *x;
	uint64_t seen[32], cursor = 0;
	size_t nseen = 0;

	/* Ids interleave over two regions. */
	for (int i = 0; i < 12; i++) {
		c[i] = attach(r, i % 2 ? b : a);
		assert_int_equal(c[i]->id, (uint64_t)i + 1);
	}
	while ((x = registry_client_after(r, cursor)) != NULL) {
		assert_true(nseen < 32);
		seen[nseen++] = x->id;
		cursor = x->id;
		if (x->id == 2) {
			registry_detach(r, x);
		} else if (x->id == 4) {
			registry_detach(r, c[4]);	/* id 5 */
			registry_detach(r, x);
		} else if (x->id == 8) {
			registry_detach(r, c[0]);	/* id 1 */
			attach(r, a);			/* id 13 */
		}
	}
	static const uint64_t want[] = { 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12,
	    13 };

	assert_int_equal(nseen, sizeof(want) / sizeof(want[0]));
	assert_memory_equal(seen, want, sizeof(want));
	assert_null(registry_client_after(r, 13));
	assert_null(registry_client_after(r, 99));
	assert_int_equal(registry_client_after(r, 0)->id, 3);
	assert_int_equal(registry_client_after(r, 1)->id, 3);
}

static void
test_bytes_accounting(void **state)
{
	struct registry *r = *state;
	struct region *s1, *s2, *h;

	assert_int_equal(r->bytes[BACKING_SHMEM], 0);
	assert_int_equal(r->bytes[BACKING_HUGETLB], 0);
	s1 = add(r, "s1", ORIGIN_GUEST, BACKING_SHMEM, 10 * 4096, -1);
	s2 = add(r, "s2", ORIGIN_ADMIN, BACKING_SHMEM, 3 * 4096, -1);
	h = add(r, "h", ORIGIN_CONFIG, BACKING_HUGETLB, 4u << 20, -1);
	assert_int_equal(r->bytes[BACKING_SHMEM], 13 * 4096);
	assert_int_equal(r->bytes[BACKING_HUGETLB], 4u << 20);
	/* Clients do not count. */
	attach(r, h);
	assert_int_equal(r->bytes[BACKING_HUGETLB], 4u << 20);
	registry_remove_region(r, s1);
	assert_int_equal(r->bytes[BACKING_SHMEM], 3 * 4096);
	registry_remove_region(r, s2);
	assert_int_equal(r->bytes[BACKING_SHMEM], 0);
	assert_int_equal(r->bytes[BACKING_HUGETLB], 4u << 20);
	registry_detach(r, registry_client_after(r, 0));
	registry_remove_region(r, h);
	assert_int_equal(r->bytes[BACKING_HUGETLB], 0);
}

/*
 * registry_free with regions that still have clients: every fd is closed
 * and, with glibc's allocator, every byte given back (ASan builds check the
 * same through LeakSanitizer).
 */
static void
test_free_with_clients(void **state)
{
	struct registry r;
	struct client_list owner = LIST_HEAD_INITIALIZER(owner);
	const char *tunables = getenv("GLIBC_TUNABLES");
	int fds_before, token;
	size_t heap_before;
	char name[REGION_NAME_MAX];

	(void)state;
	fds_before = check_count_own_fds();
	heap_before = mallinfo2().uordblks;
	assert_int_equal(registry_init(&r), 0);
	for (int i = 0; i < 20; i++) {
		int fd = memfd_create("test_registry", MFD_CLOEXEC);
		struct region *g;
		struct client *c;

		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, 4096), 0);
		snprintf(name, sizeof(name), "free-%d", i);
		g = add(&r, name, (enum region_origin)(i % 3),
		    (enum region_backing)(i % 2), 4096, fd);
		for (int j = 0; j <= i % REGION_MAX_CLIENTS; j++)
			assert_int_equal(registry_attach(&r, g, &token,
			    j % 2 ? &owner : NULL, &c), GSS_OK);
	}
	/* A region without memory is freed too. */
	attach(&r, add(&r, "nofd", ORIGIN_GUEST, BACKING_SHMEM, 4096, -1));
	assert_int_equal(check_count_own_fds(), fds_before + 20);
	assert_false(LIST_EMPTY(&owner));
	registry_free(&r);
	assert_true(LIST_EMPTY(&owner));
	assert_int_equal(check_count_own_fds(), fds_before);
	/* Exact only without the tcache (see main). */
	if (tunables != NULL && strstr(tunables, "tcache_count=0") != NULL)
		assert_int_equal(mallinfo2().uordblks, heap_before);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_name_valid),
		cmocka_unit_test(test_check_name_illegal),
		cmocka_unit_test_setup_teardown(test_add_find, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_indices, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_attach_reserved, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_detach_lifetime, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_region_paging, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_client_paging, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bytes_accounting, setup,
		    teardown),
		cmocka_unit_test(test_free_with_clients),
	};

	(void)argc;
	/* Freed chunks parked in glibc's per-thread cache still count as in
	 * use in mallinfo2(): run without it so the leak check is exact. */
	if (getenv("GLIBC_TUNABLES") == NULL) {
		setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0", 1);
		execv("/proc/self/exe", argv);
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
