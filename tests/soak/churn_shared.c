/* SPDX-License-Identifier: ISC */
/*
 * churn_shared: what the churn's parent and workers agree on without
 * talking: the regions (names, sizes, which are the admin's), the pattern
 * each region's first page carries, and the failures kept in the shared
 * block.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "churn.h"

#define ADMIN_PAGES	4

bool
churn_region_is_admin(const struct churn_opts *o, uint32_t i)
{
	return i < o->admin_regions;
}

void
churn_region_name(const struct churn_opts *o, uint32_t i, char *buf,
    size_t len)
{
	if (churn_region_is_admin(o, i))
		snprintf(buf, len, "adm-%02u", i);
	else
		snprintf(buf, len, "vm-%02u", i - o->admin_regions);
}

uint32_t
churn_region_pages(const struct churn_opts *o, uint32_t i)
{
	return churn_region_is_admin(o, i) ? ADMIN_PAGES : 1 + i % 4;
}

static uint8_t
churn_pattern_byte(uint32_t region, size_t i)
{
	return (uint8_t)(region * 37u + i * 11u + (i >> 8));
}

/* The pattern first, then the magic that says it is complete: a reader
 * that sees the magic sees the whole pattern. */
void
churn_pattern_fill(uint8_t *page, uint32_t region)
{
	for (size_t i = sizeof(uint64_t); i < CHURN_PAGE; i++)
		page[i] = churn_pattern_byte(region, i);
	atomic_store_explicit((_Atomic uint64_t *)(void *)page, CHURN_MAGIC,
	    memory_order_release);
}

int
churn_pattern_check(const uint8_t *page, uint32_t region)
{
	uint64_t magic = atomic_load_explicit(
	    (const _Atomic uint64_t *)(const void *)page,
	    memory_order_acquire);

	if (magic == 0)
		return 0;
	if (magic != CHURN_MAGIC)
		return -1;
	for (size_t i = sizeof(uint64_t); i < CHURN_PAGE; i++)
		if (page[i] != churn_pattern_byte(region, i))
			return -1;
	return 1;
}

uint64_t
churn_rand(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * UINT64_C(2685821657736338717);
}

void
churn_fail(struct churn_shared *sh, const char *fmt, ...)
{
	unsigned n = atomic_fetch_add(&sh->nfail, 1);
	va_list ap;

	if (n >= CHURN_FAILS)
		return;
	va_start(ap, fmt);
	vsnprintf(sh->fail[n], CHURN_FAIL_LEN, fmt, ap);
	va_end(ap);
}
