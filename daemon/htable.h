/* SPDX-License-Identifier: ISC */
/*
 * htable: an intrusive chained hash table keyed by a 64-bit hash. Callers
 * embed a struct hnode in their objects and compare keys themselves while
 * walking a bucket, so one table type serves names and numeric ids. It grows
 * by doubling to keep chains short at 100,000 regions. Names hash under a
 * secret key (SipHash), since peers choose them.
 */
#ifndef SHMBROKER_HTABLE_H
#define SHMBROKER_HTABLE_H

#include <stddef.h>
#include <stdint.h>

struct hnode {
	struct hnode *next;
	uint64_t hash;
};

struct htable {
	struct hnode **buckets;
	size_t nbuckets;	/* a power of two */
	size_t count;
};

int htable_init(struct htable *t);
void htable_free(struct htable *t);
/* Inserts n with hash h. Growing is best effort: without memory the
 * table keeps working with longer chains. */
void htable_insert(struct htable *t, struct hnode *n, uint64_t h);
void htable_remove(struct htable *t, struct hnode *n);
/* First node of the chain that may hold h; walk with ->next, check ->hash. */
struct hnode *htable_bucket(const struct htable *t, uint64_t h);

/* A secret key for hashes of names that peers choose: without it a peer
 * could pick names that all fall in one bucket, and make every lookup walk
 * them all. */
struct hash_key {
	uint64_t k0, k1;
};

/* A key from getrandom(2); early in boot, before the kernel has entropy,
 * one from the clock and the pid (it must not wait for entropy). */
void hash_key_random(struct hash_key *key);
/* SipHash-2-4 of len bytes at p under key; hash_string of a string. */
uint64_t hash_bytes(const struct hash_key *key, const void *p, size_t len);
uint64_t hash_string(const struct hash_key *key, const char *s);
/* For ids the daemon makes itself: no key needed. */
uint64_t hash_u64(uint64_t v);

#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#endif
