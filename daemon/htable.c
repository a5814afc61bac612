/* SPDX-License-Identifier: ISC */
/*
 * htable: intrusive chained hash table, and the hashes it is used with:
 * SipHash-2-4 under a secret key for names peers choose, a mixer for ids
 * the daemon makes (see htable.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

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

void
hash_key_random(struct hash_key *key)
{
	struct timespec ts;

	if (getrandom(key, sizeof(*key), GRND_NONBLOCK) == (ssize_t)sizeof(*key))
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	key->k0 = hash_u64((uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 32);
	key->k1 = hash_u64((uint64_t)getpid() ^ key->k0);
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void
sip_round(uint64_t v[4])
{
	v[0] += v[1]; v[1] = ROTL(v[1], 13); v[1] ^= v[0];
	v[0] = ROTL(v[0], 32);
	v[2] += v[3]; v[3] = ROTL(v[3], 16); v[3] ^= v[2];
	v[0] += v[3]; v[3] = ROTL(v[3], 21); v[3] ^= v[0];
	v[2] += v[1]; v[1] = ROTL(v[1], 17); v[1] ^= v[2];
	v[2] = ROTL(v[2], 32);
}

static void
sip_compress(uint64_t v[4], uint64_t m)
{
	v[3] ^= m;
	sip_round(v);
	sip_round(v);
	v[0] ^= m;
}

/* Little-endian n (< 8: the tail) bytes at p. */
static uint64_t
sip_load(const unsigned char *p, size_t n)
{
	uint64_t m = 0;

	for (size_t i = 0; i < n; i++)
		m |= (uint64_t)p[i] << (8 * i);
	return m;
}

uint64_t
hash_bytes(const struct hash_key *key, const void *p, size_t len)
{
	const unsigned char *s = p;
	uint64_t v[4] = { key->k0 ^ 0x736f6d6570736575ULL,
	    key->k1 ^ 0x646f72616e646f6dULL, key->k0 ^ 0x6c7967656e657261ULL,
	    key->k1 ^ 0x7465646279746573ULL };
	size_t i;

	for (i = 0; i + 8 <= len; i += 8)
		sip_compress(v, sip_load(s + i, 8));
	sip_compress(v, sip_load(s + i, len - i) | (uint64_t)len << 56);
	v[2] ^= 0xff;
	for (int r = 0; r < 4; r++)
		sip_round(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

uint64_t
hash_string(const struct hash_key *key, const char *s)
{
	return hash_bytes(key, s, strlen(s));
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
