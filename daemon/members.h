/* SPDX-License-Identifier: ISC */
/*
 * members: the layout of the table of members that members.c keeps in
 * systemd's fd store (FDNAME_MEMBERS): which indices each stored region's
 * clients held. A memfd of exactly sizeof(struct members_table), mapped
 * by the daemon; a row per stored region, "" for a free row. What comes
 * back from the store is checked against all of this before use.
 */
#ifndef SHMBROKER_MEMBERS_H
#define SHMBROKER_MEMBERS_H

#include <stdint.h>

#include "registry.h"

#define MEMBERS_MAGIC 0x53424d4du	/* "MMBS" */
#define MEMBERS_VERSION 2
#define MEMBERS_SLOTS 131072		/* the default max_regions */
/* A kept index whose holder's uid is not known: anyone may take it back.
 * Rows are written with it before their first members_set, so that an
 * index kept without a row (none was stored) is not refused to its
 * holder. */
#define MEMBERS_UID_ANY UINT32_MAX

struct members_row {
	char name[REGION_KEY_MAX];	/* "" for a free row */
	uint16_t active;		/* bit i: index i is kept */
	uint16_t unused[3];
	/* uid[i]: the peer uid that held index i, which alone may take it
	 * back by want_index while it is kept. */
	uint32_t uid[REGION_MAX_CLIENTS];
};

struct members_table {
	uint32_t magic;
	uint32_t version;
	uint32_t slots;
	uint32_t used;			/* rows below this may be in use */
	struct members_row rows[MEMBERS_SLOTS];
};

#endif
