/* SPDX-License-Identifier: ISC */
/*
 * test_statepage: a region's state page on its own: the layout of
 * proto/shmstate.h, the pending-word operations that the daemon and
 * libshmclient share (targets, post, take with a keep mask, peek, clear),
 * the daemon's sealed memfd (made, adopted after a restart, refused when
 * it is not one). Waking through eventfds is test_wake's.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
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
	if (statepage_map(sp) == NULL) {
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
	assert_non_null(statepage_map(&other));
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
