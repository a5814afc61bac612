/* SPDX-License-Identifier: ISC */
/*
 * htable: intrusive chained hash table (see htable.h).
 */
#include <errno.h>
#include <stdlib.h>

#include "htable.h"

#define HTABLE_INITIAL 64

int
htable_init(struct htable *t)
{
	t->buckets = calloc(HTABLE_INITIAL, sizeof(*t->buckets));
	if (t->buckets == NULL)
		return -ENOMEM;
	t->nbuckets = HTABLE_INITIAL;
	t->count = 0;
	return 0;
}

void
htable_free(struct htable *t)
{
	free(t->buckets);
	t->buckets = NULL;
	t->nbuckets = t->count = 0;
}

/* Rehashes into twice the buckets; on allocation failure keeps the old
 * table, which stays correct, only slower. */
static void
htable_grow(struct htable *t)
{
	size_t n = t->nbuckets * 2;
	struct hnode **b = calloc(n, sizeof(*b));

	if (b == NULL)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct hnode *e = t->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

void
htable_insert(struct htable *t, struct hnode *n, uint64_t h)
{
	struct hnode **slot;

	if (t->count >= t->nbuckets)
		htable_grow(t);
	slot = &t->buckets[h & (t->nbuckets - 1)];
	n->hash = h;
	n->next = *slot;
	*slot = n;
	t->count++;
}

void
htable_remove(struct htable *t, struct hnode *n)
{
	struct hnode **p = &t->buckets[n->hash & (t->nbuckets - 1)];

	for (; *p != NULL; p = &(*p)->next) {
		if (*p == n) {
			*p = n->next;
			n->next = NULL;
			t->count--;
			return;
		}
	}
}

struct hnode *
htable_bucket(const struct htable *t, uint64_t h)
{
	return t->buckets[h & (t->nbuckets - 1)];
}

uint64_t
hash_string(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a */

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return hash_u64(h);
}

uint64_t
hash_u64(uint64_t v)
{
	/* splitmix64 finaliser: sequential ids spread over all buckets. */
	v ^= v >> 30;
	v *= 0xbf58476d1ce4e5b9ULL;
	v ^= v >> 27;
	v *= 0x94d049bb133111ebULL;
	v ^= v >> 31;
	return v;
}
