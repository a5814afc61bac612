/* SPDX-License-Identifier: ISC */
/*
 * fdname: fd store names, both ways (see fdname.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdname.h"
#include "ivshmem_proto.h"

static void
fdname_hex(const char *s, char *out, size_t cap)
{
	size_t n = 0;

	for (; *s != '\0' && n + 3 <= cap; s++, n += 2)
		snprintf(out + n, 3, "%02x", (unsigned char)*s);
	out[n] = '\0';
}

/* One hex digit's value, or -1. */
static int
fdname_xdigit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int
fdname_unhex(const char *hex, char *out, size_t cap)
{
	size_t len = strlen(hex);

	if (len % 2 != 0 || len / 2 >= cap)
		return -EINVAL;
	for (size_t i = 0; i < len / 2; i++) {
		int hi = fdname_xdigit(hex[2 * i]);
		int lo = fdname_xdigit(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (char)(hi << 4 | lo);
	}
	out[len / 2] = '\0';
	return 0;
}

/* A number of digits of base (8 or 10) alone, at most max: sscanf took
 * "-1" for 4294967295 and "1junk" for 1, and a name that came back from
 * the store is untrusted. */
static int
fdname_number(const char *s, int base, unsigned long max, unsigned *out)
{
	unsigned long v = 0;

	if (*s == '\0' || strlen(s) > 11)
		return -EINVAL;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s >= '0' + base)
			return -EINVAL;
		v = v * (unsigned long)base + (unsigned long)(*s - '0');
	}
	if (v > max)
		return -EINVAL;
	*out = (unsigned)v;
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
	unsigned pages, mode, uid, group, origin;
	int n = 0;

	snprintf(copy, sizeof(copy), "%s", s);
	for (p = strtok_r(copy, ".", &save); p != NULL && n < 8;
	    p = strtok_r(NULL, ".", &save))
		f[n++] = p;
	if (n != 8 || p != NULL || strcmp(f[0], "r") != 0 ||
	    fdname_number(f[1], 10, UINT32_MAX, &pages) < 0 ||
	    fdname_number(f[2], 10, ORIGIN_CONFIG, &origin) < 0 ||
	    fdname_number(f[3], 8, 0777, &mode) < 0 ||
	    fdname_number(f[4], 10, UINT32_MAX - 1, &uid) < 0 ||
	    (strcmp(f[5], "-") != 0 &&
	    fdname_number(f[5], 10, UINT32_MAX - 1, &group) < 0) ||
	    fdname_unhex(f[6], out->name, sizeof(out->name)) < 0 ||
	    registry_check_key(out->name) != GSS_OK || pages == 0)
		return -EINVAL;
	out->size_pages = pages;
	out->origin = (enum region_origin)origin;
	out->mode = (uint16_t)mode;
	out->owner = uid;
	out->has_group = strcmp(f[5], "-") != 0;
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

int
fdname_export(const char *key, const char *path, unsigned vectors,
    char out[FDNAME_MAX])
{
	char name[2 * REGION_KEY_MAX + 1], esc[3 * 108 + 1];
	size_t n = 0;

	fdname_hex(key, name, sizeof(name));
	for (const unsigned char *c = (const unsigned char *)path;
	    *c != '\0' && n + 4 <= sizeof(esc); c++) {
		if (*c < 0x21 || *c > 0x7e || *c == '%' || *c == ':')
			n += (size_t)snprintf(esc + n, sizeof(esc) - n,
			    "%%%02x", *c);
		else
			esc[n++] = (char)*c;
	}
	esc[n] = '\0';
	if (snprintf(out, FDNAME_MAX, "x.%u.%s.%s", vectors, name, esc) >=
	    FDNAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/* PATH of an export's name back to bytes. */
static int
fdname_unescape(const char *s, char *out, size_t cap)
{
	size_t n = 0;

	for (; *s != '\0'; n++) {
		unsigned v;

		if (n + 1 >= cap)
			return -EINVAL;
		if (*s != '%') {
			out[n] = *s++;
			continue;
		}
		if (!isxdigit((unsigned char)s[1]) ||
		    !isxdigit((unsigned char)s[2]) ||
		    sscanf(s + 1, "%2x", &v) != 1 || v == 0)
			return -EINVAL;
		out[n] = (char)v;
		s += 3;
	}
	out[n] = '\0';
	return 0;
}

int
fdname_parse_export(const char *s, struct fdname_export *out)
{
	char copy[FDNAME_MAX], *vec, *hex, *path, *end;
	const char *why;
	unsigned long v;

	if (strncmp(s, "x.", 2) != 0 || strlen(s) >= sizeof(copy))
		return -EINVAL;
	snprintf(copy, sizeof(copy), "%s", s + 2);
	vec = copy;
	if ((hex = strchr(vec, '.')) == NULL)
		return -EINVAL;
	*hex++ = '\0';
	if ((path = strchr(hex, '.')) == NULL)
		return -EINVAL;
	*path++ = '\0';
	errno = 0;
	v = strtoul(vec, &end, 10);
	if (errno != 0 || end == vec || *end != '\0' ||
	    ivshmem_check_vectors(v > UINT32_MAX ? 0 : (uint32_t)v, &why) < 0 ||
	    fdname_unhex(hex, out->name, sizeof(out->name)) < 0 ||
	    registry_check_key(out->name) != GSS_OK ||
	    fdname_unescape(path, out->path, sizeof(out->path)) < 0 ||
	    ivshmem_check_path(out->path, &why) < 0)
		return -EINVAL;
	out->vectors = (unsigned)v;
	return 0;
}
