/* SPDX-License-Identifier: ISC */
/*
 * seeds_fdname: valid inputs for fuzz_fdname (format in fuzz_fdname.h):
 * fd stores as a daemon leaves them, the names made by fdname.c itself,
 * each memfd of its region's size, and the VMMs coming back.
 */
#include <assert.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "fdname.h"
#include "fuzz_fdname.h"
#include "fuzz_seeds.h"

struct stored {
	const char *name;
	uint32_t pages;
	enum region_origin origin;
	uint16_t mode;
	uid_t owner;
	int group;		/* -1: none */
	const char *tenant;	/* NULL: none */
	bool state;		/* its state page is stored too */
};

static void
entry(struct fout *o, enum fn_fd kind, uint32_t bytes, const char *name)
{
	fout_u8(o, (uint8_t)kind);
	fout_u32(o, bytes);
	fout_str(o, FN_NAME_MAX, name);
}

/* The store's entries for s: its memfd and maybe its state page. */
static size_t
stored_entries(struct fout *o, const struct stored *s, bool count_only)
{
	struct tenant_usage u;
	struct region g;
	char name[FDNAME_MAX];

	if (count_only)
		return s->state ? 2 : 1;
	memset(&g, 0, sizeof(g));
	memset(&u, 0, sizeof(u));
	snprintf(g.name, sizeof(g.name), "%s", s->name);
	g.size_pages = s->pages;
	g.origin = s->origin;
	g.mode = s->mode;
	g.owner_uid = s->owner;
	g.has_group = s->group >= 0;
	g.group = s->group >= 0 ? (gid_t)s->group : 0;
	if (s->tenant != NULL) {
		snprintf(u.name, sizeof(u.name), "%s", s->tenant);
		g.usage = &u;
	}
	fdname_region(&g, name);
	entry(o, FN_FD_SEALED, s->pages * 4096u, name);
	if (s->state) {
		fdname_state(&g, name);
		entry(o, FN_FD_SEALED, 4096, name);
	}
	return 0;
}

/* The table of members a daemon with fd_store on leaves: a row for each
 * of s's regions, keeping the indices in held[]. */
static void
members_entry(struct fout *o, const struct stored *s, size_t n,
    const uint16_t *held)
{
	size_t entry = 0;

	fout_u8(o, FN_FD_MEMBERS);
	fout_u32(o, 0);
	fout_u8(o, FN_TABLE_GOOD);
	fout_u16(o, (uint16_t)n);
	fout_u8(o, (uint8_t)n);
	for (size_t i = 0; i < n; i++) {
		fout_u16(o, (uint16_t)i);
		fout_u8(o, (uint8_t)entry);
		fout_u8(o, FN_ROW_NAME);
		fout_u16(o, held[i]);
		entry += stored_entries(o, &s[i], true);
	}
}

static void
seed_store(struct fout *o, const char *dir, const char *file,
    const struct stored *s, size_t n, const uint32_t *wants, size_t nwants,
    const uint16_t *held)
{
	size_t entries = held != NULL ? 1 : 0;

	for (size_t i = 0; i < n; i++)
		entries += stored_entries(o, &s[i], true);
	assert(entries < FN_MAX_ENTRIES);
	fout_u8(o, (uint8_t)(entries | (held != NULL ? FN_FD_STORE : 0)));
	for (size_t i = 0; i < n; i++)
		stored_entries(o, &s[i], false);
	if (held != NULL)
		members_entry(o, s, n, held);
	for (size_t i = 0; i < nwants; i++) {
		fout_u8(o, 0);		/* the first entry's region */
		fout_u32(o, wants[i]);
	}
	fout_save(o, dir, file);
}

void
seeds_fdname(const char *dir)
{
	static const struct stored guests[] = {
		{ "demo", 512, ORIGIN_GUEST, 0666, 0, -1, NULL, true },
		{ "acme/sensor-1", 16, ORIGIN_GUEST, 0660, 1001, 2000, "acme",
		    true },
	};
	static const struct stored kept[] = {
		{ "telemetry", 256, ORIGIN_ADMIN, 0666, 0, -1, NULL, false },
		{ "secret", 1, ORIGIN_CONFIG, 0660, 0, 2000, NULL, true },
	};
	static const uint32_t back[] = { 1, 2, 0 };
	/* demo's indices 0 and 2 were held, acme/sensor-1's 0: a new
	 * attach (want 0) comes before demo's clients come back. */
	static const uint16_t held[] = { 0x5, 0x1 };
	static const uint32_t back_late[] = { 0, 3, 1, 0 };
	struct fout o = { 0 };

	seed_store(&o, dir, "guest-regions", guests, 2, back, 3, NULL);
	seed_store(&o, dir, "admin-config-regions", kept, 2, back, 1, NULL);
	seed_store(&o, dir, "members-kept", guests, 2, back_late, 4, held);
	free(o.buf);
}
