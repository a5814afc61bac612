/* SPDX-License-Identifier: ISC */
/*
 * test_statepage: a region's state page on its own: the layout of
 * proto/shmstate.h, the pending-word operations that the daemon and
 * libshmclient share (targets, post, take with a keep mask, peek, clear),
 * the daemon's sealed memfd (made, adopted after a restart, refused when
 * it is not one), and the daemon's own post, take, clear and peek, which
 * keep no mapping unless the ivshmem relay made one. Waking through
 * eventfds is test_wake's.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "statepage.h"

static int
setup(void **state)
{
	struct statepage *sp = calloc(1, sizeof(*sp));

	if (sp == NULL || statepage_create(sp) < 0) {
		free(sp);
		return -1;
	}
	assert_null(sp->page);		/* mapped on first use only */
	if (statepage_map_kept(sp) == NULL) {
		statepage_free(sp);
		free(sp);
		return -1;
	}
	*state = sp;
	return 0;
}

static int
teardown(void **state)
{
	struct statepage *sp = *state;

	statepage_free(sp);
	free(sp);
	return 0;
}

static void
test_layout(void **state)
{
	static struct shm_state_page p;

	(void)state;
	assert_int_equal(sizeof(p), 4096);
	for (int i = 0; i < SHM_STATE_SLOTS; i++)
		assert_int_equal((char *)&p.slot[i].pending - (char *)&p,
		    64 * i);
}

static void
test_memfd(void **state)
{
	struct statepage *sp = *state;
	struct stat st;
	int seals = fcntl(sp->fd, F_GET_SEALS);

	assert_int_equal(fstat(sp->fd, &st), 0);
	assert_int_equal(st.st_size, 4096);
	assert_true(seals & F_SEAL_SHRINK);
	assert_true(seals & F_SEAL_GROW);
	assert_true(seals & F_SEAL_SEAL);
	assert_int_equal(ftruncate(sp->fd, 0), -1);
	for (int i = 0; i < SHM_STATE_SLOTS; i++)
		assert_int_equal(shm_state_peek(sp->page, (unsigned)i), 0);
	/* The fd closes on exec: it must not leak into children. */
	assert_true(fcntl(sp->fd, F_GETFD) & FD_CLOEXEC);
}

static void
test_targets(void **state)
{
	(void)state;
	/* Only attached targets; 2 is gone, 5 never was. */
	assert_int_equal(shm_state_targets(0xb, 0, 0x26), 0x2);
	/* Everyone but the sender. */
	assert_int_equal(shm_state_targets(0xb, 1, SHM_STATE_ALL_OTHERS), 0x9);
	/* Never the sender, even when asked. */
	assert_int_equal(shm_state_targets(0xb, 0, 0x1), 0);
	assert_int_equal(shm_state_targets(0xb, 0, 0xfffffffeu), 0xa);
	/* Bits 16-31 are ignored, even when only they are set. */
	assert_int_equal(shm_state_targets(0xb, 3, 0xffff0000u), 0);
	assert_int_equal(shm_state_targets(0xb, 3, 0xffff0001u), 0x1);
	assert_int_equal(shm_state_targets(0x1, 0, SHM_STATE_ALL_OTHERS), 0);
	assert_int_equal(shm_state_targets(0xffff, 15, SHM_STATE_ALL_OTHERS),
	    0x7fff);
}

static void
test_post_take(void **state)
{
	struct statepage *sp = *state;
	struct shm_state_page *p = sp->page;

	shm_state_post(p, 0, 1);
	shm_state_post(p, 3, 1);
	shm_state_post(p, 3, 1);	/* a bit, not a count */
	assert_int_equal(shm_state_peek(p, 1), 0x9);
	assert_int_equal(shm_state_peek(p, 1), 0x9);	/* peek keeps */
	assert_int_equal(shm_state_peek(p, 0), 0);
	/* A partial read clears only the bits it returned. */
	assert_int_equal(shm_state_take(p, 1, 0x8), 0x9);
	assert_int_equal(shm_state_peek(p, 1), 0x8);
	assert_int_equal(shm_state_take(p, 1, 0), 0x8);
	assert_int_equal(shm_state_take(p, 1, 0), 0);
	/* A fresh index starts with nothing pending. */
	shm_state_post(p, 15, 4);
	shm_state_clear(p, 4);
	assert_int_equal(shm_state_take(p, 4, 0), 0);
	/* All sixteen words are apart: every one notified by every other. */
	for (unsigned t = 0; t < SHM_STATE_SLOTS; t++)
		for (unsigned s = 0; s < SHM_STATE_SLOTS; s++)
			if (s != t)
				shm_state_post(p, s, t);
	for (unsigned t = 0; t < SHM_STATE_SLOTS; t++)
		assert_int_equal(shm_state_take(p, t, 0),
		    0xffffu & ~(1u << t));
}

/* Another mapping of the same memfd sees the same words (the members'). */
static void
test_shared_mapping(void **state)
{
	struct statepage *sp = *state;
	struct shm_state_page *q = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_SHARED, sp->fd, 0);

	assert_true(q != MAP_FAILED);
	shm_state_post(q, 2, 7);
	assert_int_equal(shm_state_peek(sp->page, 7), 0x4);
	assert_int_equal(shm_state_take(sp->page, 7, 0), 0x4);
	assert_int_equal(shm_state_peek(q, 7), 0);
	munmap(q, 4096);
}

/* This process's mappings: the lines of /proc/self/maps. */
static int
count_maps(void)
{
	char line[256];
	FILE *fp = fopen("/proc/self/maps", "r");
	int n = 0;

	assert_non_null(fp);
	/* A line longer than the buffer ends once, at its newline. */
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strchr(line, '\n') != NULL)
			n++;
	fclose(fp);
	return n;
}

#define UNMAPPED_PAGES 64	/* test_unmapped's */

/*
 * Without the kept mapping, post, take, clear and peek each map the page
 * for the call alone: a mapping kept per region would let one tenant with
 * many regions take the daemon past vm.max_map_count. What they do is
 * seen through a member's mapping.
 */
static void
test_unmapped(void **state)
{
	struct statepage sp[UNMAPPED_PAGES];
	struct shm_state_page *q;
	uint16_t pending;
	int before;

	(void)state;
	for (int i = 0; i < UNMAPPED_PAGES; i++)
		assert_int_equal(statepage_create(&sp[i]), 0);
	q = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, sp[0].fd, 0);
	assert_true(q != MAP_FAILED);

	before = count_maps();
	assert_int_equal(statepage_post(&sp[0], 3, 0x12), 0);
	assert_int_equal(shm_state_peek(q, 1), 0x8);
	assert_int_equal(shm_state_peek(q, 4), 0x8);
	assert_int_equal(shm_state_peek(q, 3), 0);
	assert_int_equal(statepage_post(&sp[0], 3, 0), 0);	/* no one */
	shm_state_post(q, 5, 1);
	assert_int_equal(statepage_take(&sp[0], 1, 0x20, &pending), 0);
	assert_int_equal(pending, 0x28);
	assert_int_equal(shm_state_peek(q, 1), 0x20);
	assert_int_equal(statepage_peek(&sp[0], 1), 0x20);

	/* A member's O_APPEND makes the fd refuse the clear's write. */
	assert_int_equal(fcntl(sp[0].fd, F_SETFL, O_APPEND), 0);
	assert_int_equal(statepage_clear(&sp[0], 1), 0);
	assert_int_equal(shm_state_peek(q, 1), 0);
	for (int i = 1; i < UNMAPPED_PAGES; i++) {
		assert_int_equal(fcntl(sp[i].fd, F_SETFL, O_APPEND), 0);
		assert_int_equal(statepage_post(&sp[i], 0, 0x2), 0);
		assert_int_equal(statepage_peek(&sp[i], 1), 0x1);
		assert_int_equal(statepage_clear(&sp[i], 1), 0);
		assert_int_equal(statepage_take(&sp[i], 1, 0, &pending), 0);
		assert_int_equal(pending, 0);
	}
	for (int i = 0; i < UNMAPPED_PAGES; i++)
		assert_null(sp[i].page);
	assert_true(count_maps() - before < UNMAPPED_PAGES / 4);

	/* No page: nothing to map, said so. */
	statepage_free(&sp[1]);
	assert_int_equal(statepage_post(&sp[1], 0, 0x2), -EBADF);
	assert_int_equal(statepage_take(&sp[1], 1, 0, &pending), -EBADF);
	assert_true(statepage_clear(&sp[1], 1) < 0);
	assert_int_equal(statepage_peek(&sp[1], 1), 0);
	munmap(q, 4096);
	for (int i = 0; i < UNMAPPED_PAGES; i++)
		statepage_free(&sp[i]);
}

/* The ivshmem relay's kept mapping serves the other calls too. */
static void
test_kept(void **state)
{
	struct statepage *sp = *state;
	struct shm_state_page *kept = sp->page;
	uint16_t pending;

	assert_int_equal(statepage_post(sp, 2, 0x1), 0);
	assert_ptr_equal(sp->page, kept);
	assert_int_equal(shm_state_peek(kept, 0), 0x4);
	assert_int_equal(statepage_peek(sp, 0), 0x4);
	assert_int_equal(statepage_take(sp, 0, 0, &pending), 0);
	assert_int_equal(pending, 0x4);
	shm_state_post(kept, 2, 0);
	assert_int_equal(statepage_clear(sp, 0), 0);
	assert_int_equal(shm_state_peek(kept, 0), 0);
	assert_ptr_equal(statepage_map_kept(sp), kept);
}

static void
test_adopt(void **state)
{
	struct statepage *sp = *state, other;
	int fd = dup(sp->fd), plain;

	assert_true(fd >= 0);
	shm_state_post(sp->page, 1, 0);
	/* A restarted daemon gets the same words back. */
	assert_int_equal(statepage_adopt(&other, fd), 0);
	assert_null(other.page);
	/* Read and cleared through the fd, before any mapping. */
	assert_int_equal(statepage_peek(&other, 0), 0x2);
	assert_int_equal(statepage_clear(&other, 0), 0);
	assert_int_equal(shm_state_peek(sp->page, 0), 0);
	shm_state_post(sp->page, 1, 0);
	assert_non_null(statepage_map_kept(&other));
	assert_int_equal(statepage_peek(&other, 0), 0x2);
	assert_int_equal(shm_state_peek(other.page, 0), 0x2);
	statepage_free(&other);
	assert_int_equal(other.fd, -1);
	assert_null(other.page);

	/* Unsealed, or the wrong size: not a state page. */
	plain = memfd_create("not-state", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_true(plain >= 0);
	assert_int_equal(ftruncate(plain, 4096), 0);
	assert_int_equal(statepage_adopt(&other, plain), -EINVAL);
	assert_int_equal(fcntl(plain, F_ADD_SEALS, F_SEAL_SHRINK |
	    F_SEAL_GROW | F_SEAL_SEAL), 0);
	assert_int_equal(statepage_adopt(&other, plain), 0);
	assert_int_equal(statepage_peek(&other, 15), 0);
	statepage_free(&other);		/* closes plain */
	plain = memfd_create("not-state", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_int_equal(ftruncate(plain, 8192), 0);
	assert_int_equal(fcntl(plain, F_ADD_SEALS, F_SEAL_SHRINK |
	    F_SEAL_GROW | F_SEAL_SEAL), 0);
	assert_int_equal(statepage_adopt(&other, plain), -EINVAL);
	close(plain);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test_setup_teardown(test_memfd, setup, teardown),
		cmocka_unit_test(test_targets),
		cmocka_unit_test_setup_teardown(test_post_take, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_shared_mapping, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_adopt, setup, teardown),
		cmocka_unit_test(test_unmapped),
		cmocka_unit_test_setup_teardown(test_kept, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
