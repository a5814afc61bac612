/* SPDX-License-Identifier: ISC */
/*
 * fdname: fd store names, both ways (see fdname.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fdname.h"

static void
fdname_hex(const char *s, char *out, size_t cap)
{
	size_t n = 0;

	for (; *s != '\0' && n + 3 <= cap; s++, n += 2)
		snprintf(out + n, 3, "%02x", (unsigned char)*s);
	out[n] = '\0';
}

static int
fdname_unhex(const char *hex, char *out, size_t cap)
{
	size_t len = strlen(hex);

	if (len % 2 != 0 || len / 2 >= cap)
		return -EINVAL;
	for (size_t i = 0; i < len / 2; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		out[i] = (char)v;
	}
	out[len / 2] = '\0';
	return 0;
}

void
fdname_region(const struct region *g, char out[FDNAME_MAX])
{
	char name[2 * REGION_KEY_MAX + 1], tenant[2 * TENANT_NAME_MAX + 1];
	char group[16];

	fdname_hex(g->name, name, sizeof(name));
	if (g->usage != NULL)
		fdname_hex(g->usage->name, tenant, sizeof(tenant));
	else
		snprintf(tenant, sizeof(tenant), "-");
	if (g->has_group)
		snprintf(group, sizeof(group), "%u", (unsigned)g->group);
	else
		snprintf(group, sizeof(group), "-");
	snprintf(out, FDNAME_MAX, "r.%u.%d.%o.%u.%s.%s.%s", g->size_pages,
	    (int)g->origin, (unsigned)g->mode, (unsigned)g->owner_uid, group,
	    name, tenant);
}

void
fdname_state(const struct region *g, char out[FDNAME_MAX])
{
	char name[2 * REGION_KEY_MAX + 1];

	fdname_hex(g->name, name, sizeof(name));
	snprintf(out, FDNAME_MAX, "s.%s", name);
}

int
fdname_parse_region(const char *s, struct fdname_region *out)
{
	char copy[FDNAME_MAX], *f[8], *save = NULL, *p;
	unsigned pages, mode, uid, group;
	int n = 0, origin;

	snprintf(copy, sizeof(copy), "%s", s);
	for (p = strtok_r(copy, ".", &save); p != NULL && n < 8;
	    p = strtok_r(NULL, ".", &save))
		f[n++] = p;
	if (n != 8 || p != NULL || strcmp(f[0], "r") != 0 ||
	    sscanf(f[1], "%u", &pages) != 1 ||
	    sscanf(f[2], "%d", &origin) != 1 ||
	    sscanf(f[3], "%o", &mode) != 1 || sscanf(f[4], "%u", &uid) != 1 ||
	    fdname_unhex(f[6], out->name, sizeof(out->name)) < 0 ||
	    registry_check_key(out->name) != GSS_OK || pages == 0 ||
	    origin < ORIGIN_GUEST || origin > ORIGIN_CONFIG)
		return -EINVAL;
	out->size_pages = pages;
	out->origin = (enum region_origin)origin;
	out->mode = (uint16_t)(mode & 0777);
	out->owner = uid;
	out->has_group = sscanf(f[5], "%u", &group) == 1;
	out->group = out->has_group ? group : 0;
	out->tenant[0] = '\0';
	return strcmp(f[7], "-") == 0 ? 0 :
	    fdname_unhex(f[7], out->tenant, sizeof(out->tenant));
}

int
fdname_parse_state(const char *s, char key[REGION_KEY_MAX])
{
	if (strncmp(s, "s.", 2) != 0 ||
	    fdname_unhex(s + 2, key, REGION_KEY_MAX) < 0)
		return -EINVAL;
	return registry_check_key(key) == GSS_OK ? 0 : -1;
}
