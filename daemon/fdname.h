/* SPDX-License-Identifier: ISC */
/*
 * fdname: the names under which region memfds and state pages sit in
 * systemd's file descriptor store. The name is the only record of a
 * region across a restart (there is no state file to fall out of step), so
 * it carries everything a restarted daemon needs to rebuild the region:
 *
 *   r.PAGES.ORIGIN.MODE.UID.GROUP.NAMEHEX.TENANTHEX   a region's memfd
 *   s.NAMEHEX                                         its state page
 *   x.VECTORS.NAMEHEX.PATH                            an ivshmem export's
 *                                                     listening socket
 *   m.members                                         who held which
 *                                                     index (members.c)
 *
 * (PATH with ':', '%' and bytes outside '!'..'~' as %XX; it may hold
 * dots: it is the rest of the name.)
 * (GROUP "-" for none, TENANTHEX "-" for none): printable, no ':', under
 * 255 bytes. Names come back from systemd and are parsed as untrusted
 * input. Pure: no I/O, tested on its own.
 */
#ifndef SHMBROKER_FDNAME_H
#define SHMBROKER_FDNAME_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "registry.h"
#include "tenant.h"

#define FDNAME_MAX 256
/* The table of which indices each region's clients held (members.c). */
#define FDNAME_MEMBERS "m.members"

/* What a region's name says. */
struct fdname_region {
	char name[REGION_KEY_MAX];
	uint32_t size_pages;
	enum region_origin origin;
	uint16_t mode;
	uid_t owner;
	bool has_group;
	gid_t group;
	char tenant[TENANT_NAME_MAX];	/* "" for none */
};

/* What an export's name says. */
struct fdname_export {
	char name[REGION_KEY_MAX];
	char path[108];
	unsigned vectors;
};

void fdname_region(const struct region *g, char out[FDNAME_MAX]);
/* 0, or -ENAMETOOLONG when the name would not fit the store's limit. */
int fdname_export(const char *key, const char *path, unsigned vectors,
    char out[FDNAME_MAX]);
/* 0 with the fields, or -EINVAL. */
int fdname_parse_export(const char *s, struct fdname_export *out);
void fdname_state(const struct region *g, char out[FDNAME_MAX]);

/* 0 with the fields, or -EINVAL when s is not a well-formed region name. */
int fdname_parse_region(const char *s, struct fdname_region *out);
/* 0 with the region's name in key, or -EINVAL when s is not a state
 * name. */
int fdname_parse_state(const char *s, char key[REGION_KEY_MAX]);

#endif
