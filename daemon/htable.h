/* SPDX-License-Identifier: ISC */
/*
 * htable: an intrusive chained hash table keyed by a 64-bit hash. Callers
 * embed a struct hnode in their objects and compare keys themselves while
 * walking a bucket, so one table type serves names and numeric ids. It grows
 * by doubling to keep chains short at 100,000 regions.
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

uint64_t hash_string(const char *s);
uint64_t hash_u64(uint64_t v);

#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#endif
