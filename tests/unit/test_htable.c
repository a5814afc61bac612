/* SPDX-License-Identifier: ISC */
/*
 * test_htable: the intrusive hash table under load: 100,000 entries with
 * spread, identical and bucket-colliding hashes, growth, and removal from
 * every position of a chain; names hashed by SipHash-2-4 under a key.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "htable.h"

#define N 100000

struct entry {
	struct hnode node;
	uint64_t key;
	bool in;
};

struct fixture {
	struct htable t;
	struct entry *e;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || htable_init(&f->t) != 0 ||
	    (f->e = calloc(N, sizeof(*f->e))) == NULL) {
		free(f);
		return -1;
	}
	for (size_t i = 0; i < N; i++)
		f->e[i].key = i;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	htable_free(&f->t);
	free(f->e);
	free(f);
	return 0;
}

/* The entry with key under hash h, the way the registry looks things up. */
static struct entry *
lookup(const struct htable *t, uint64_t h, uint64_t key)
{
	for (struct hnode *n = htable_bucket(t, h); n != NULL; n = n->next) {
		struct entry *e = container_of(n, struct entry, node);

		if (n->hash == h && e->key == key)
			return e;
	}
	return NULL;
}

/* Walks every bucket: each node sits in the bucket of its hash, appears
 * once, and the nodes are exactly the entries marked in. */
static void
check_table(const struct fixture *f)
{
	size_t seen = 0, in = 0;

	assert_int_equal(f->t.nbuckets & (f->t.nbuckets - 1), 0);
	for (size_t b = 0; b < f->t.nbuckets; b++) {
		for (struct hnode *n = f->t.buckets[b]; n != NULL;
		    n = n->next) {
			struct entry *e = container_of(n, struct entry, node);

			assert_int_equal(n->hash & (f->t.nbuckets - 1), b);
			assert_true(e >= f->e && e < f->e + N);
			assert_true(e->in);
			seen++;
			assert_true(seen <= f->t.count);
		}
	}
	for (size_t i = 0; i < N; i++)
		in += f->e[i].in;
	assert_int_equal(seen, f->t.count);
	assert_int_equal(in, f->t.count);
}

typedef uint64_t hash_fn(uint64_t key);

static uint64_t
spread(uint64_t key)
{
	return hash_u64(key + 1);
}

/* Groups of 8 keys share one full hash. */
static uint64_t
identical(uint64_t key)
{
	return hash_u64(key / 8);
}

/* Distinct hashes that all land in the same bucket at any size the
 * table reaches here. */
static uint64_t
same_bucket(uint64_t key)
{
	return (key + 1) << 32;
}

static void
run(struct fixture *f, hash_fn *hash, size_t n)
{
	size_t nbuckets = f->t.nbuckets;

	for (size_t i = 0; i < n; i++) {
		htable_insert(&f->t, &f->e[i].node, hash(i));
		f->e[i].in = true;
		if (f->t.nbuckets != nbuckets) {
			/* Growth keeps everything inserted so far. */
			assert_int_equal(f->t.nbuckets, nbuckets * 2);
			nbuckets = f->t.nbuckets;
			check_table(f);
		}
	}
	assert_int_equal(f->t.count, n);
	assert_true(f->t.nbuckets >= n / 2);
	check_table(f);
	for (size_t i = 0; i < n; i++)
		assert_ptr_equal(lookup(&f->t, hash(i), i), &f->e[i]);
	assert_null(lookup(&f->t, hash(n), n));

	/* Remove every third, check the rest, put them back. */
	for (size_t i = 0; i < n; i += 3) {
		htable_remove(&f->t, &f->e[i].node);
		assert_null(f->e[i].node.next);
		f->e[i].in = false;
	}
	check_table(f);
	for (size_t i = 0; i < n; i++)
		if (i % 3 == 0)
			assert_null(lookup(&f->t, hash(i), i));
		else
			assert_ptr_equal(lookup(&f->t, hash(i), i), &f->e[i]);
	for (size_t i = 0; i < n; i += 3) {
		htable_insert(&f->t, &f->e[i].node, hash(i));
		f->e[i].in = true;
	}
	assert_int_equal(f->t.count, n);
	for (size_t i = 0; i < n; i++)
		assert_ptr_equal(lookup(&f->t, hash(i), i), &f->e[i]);

	/* Remove all, in reverse. */
	for (size_t i = n; i-- > 0;) {
		htable_remove(&f->t, &f->e[i].node);
		f->e[i].in = false;
	}
	assert_int_equal(f->t.count, 0);
	check_table(f);
	for (size_t b = 0; b < f->t.nbuckets; b++)
		assert_null(f->t.buckets[b]);
}

static void
test_spread(void **state)
{
	run(*state, spread, N);
}

static void
test_identical_hashes(void **state)
{
	run(*state, identical, N);
}

/* Chains as long as the table: quadratic lookups, so fewer entries. */
static void
test_same_bucket(void **state)
{
	struct fixture *f = *state;

	run(f, same_bucket, 3000);
	assert_true(f->t.nbuckets >= 2048);
}

static void
test_chain_positions(void **state)
{
	struct fixture *f = *state;
	struct hnode *n;

	for (size_t i = 0; i < 5; i++) {
		htable_insert(&f->t, &f->e[i].node, same_bucket(i));
		f->e[i].in = true;
	}
	/* head (last inserted), middle, tail (first inserted) */
	static const size_t order[] = { 4, 2, 0 };

	for (size_t k = 0; k < 3; k++) {
		size_t i = order[k];

		htable_remove(&f->t, &f->e[i].node);
		f->e[i].in = false;
		check_table(f);
		assert_null(lookup(&f->t, same_bucket(i), i));
	}
	assert_int_equal(f->t.count, 2);
	n = htable_bucket(&f->t, same_bucket(0));
	assert_ptr_equal(n, &f->e[3].node);
	assert_ptr_equal(n->next, &f->e[1].node);
	assert_null(n->next->next);
	/* A node that is not in the table leaves it alone. */
	htable_remove(&f->t, &f->e[0].node);
	assert_int_equal(f->t.count, 2);
	assert_ptr_equal(lookup(&f->t, same_bucket(1), 1), &f->e[1]);
	assert_ptr_equal(lookup(&f->t, same_bucket(3), 3), &f->e[3]);
}

static void
test_empty(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(f->t.count, 0);
	assert_true(f->t.nbuckets > 0);
	for (uint64_t h = 0; h < 1000; h++)
		assert_null(htable_bucket(&f->t, hash_u64(h)));
}

/* Sequential ids, as the registry hands them out, spread evenly. */
static void
test_hash_spread(void **state)
{
	enum { NB = 1 << 16 };
	uint16_t *chain = calloc(NB, sizeof(*chain));
	uint16_t longest = 0;

	(void)state;
	assert_non_null(chain);
	for (uint64_t id = 1; id <= NB; id++)
		chain[hash_u64(id) & (NB - 1)]++;
	for (size_t b = 0; b < NB; b++)
		if (chain[b] > longest)
			longest = chain[b];
	free(chain);
	assert_true(longest <= 12);

}

/* SipHash-2-4 as its paper gives it (appendix A): key 00..0f, message
 * 00..0e. */
static void
test_siphash_vector(void **state)
{
	struct hash_key k = { 0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL };
	unsigned char m[15];

	(void)state;
	for (size_t i = 0; i < sizeof(m); i++)
		m[i] = (unsigned char)i;
	assert_true(hash_bytes(&k, m, sizeof(m)) == 0xa129ca6149be45e5ULL);
	assert_true(hash_string(&k, "region") == hash_bytes(&k, "region", 6));
	assert_int_not_equal(hash_string(&k, "ab"), hash_string(&k, "ba"));
	assert_int_not_equal(hash_string(&k, ""), hash_string(&k, "a"));
}

/*
 * Names a peer chose to share a bucket under one key do not under
 * another: with keys it cannot see, no peer can make every lookup walk
 * its names. 64 names that collide in 1024 buckets under key a spread
 * under key b (and under a fresh random key).
 */
static void
test_keyed_names(void **state)
{
	struct hash_key a = { 1, 2 }, b = { 3, 4 }, r;
	uint64_t want = 0;
	char name[32];
	int found = 0, same_b = 0, same_r = 0;

	(void)state;
	hash_key_random(&r);
	for (unsigned i = 0; found < 64; i++) {
		snprintf(name, sizeof(name), "n%u", i);
		if (found == 0)
			want = hash_string(&a, name) & 1023;
		if ((hash_string(&a, name) & 1023) != want)
			continue;
		found++;
		same_b += (hash_string(&b, name) & 1023) ==
		    (hash_string(&b, "n0") & 1023);
		same_r += (hash_string(&r, name) & 1023) ==
		    (hash_string(&r, "n0") & 1023);
	}
	assert_true(same_b <= 4);
	assert_true(same_r <= 4);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_empty),
		T(test_spread),
		T(test_identical_hashes),
		T(test_same_bucket),
		T(test_chain_positions),
		cmocka_unit_test(test_hash_spread),
		cmocka_unit_test(test_siphash_vector),
		cmocka_unit_test(test_keyed_names),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
