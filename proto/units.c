/* SPDX-License-Identifier: ISC */
/*
 * units: size parsing and formatting (see units.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "units.h"

int
units_parse_size(const char *s, uint64_t *bytes)
{
	static const char suffixes[] = "KMGT";
	unsigned long long v;
	const char *p;
	char *end;
	int shift = 0;

	if (s == NULL || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -EINVAL;
	if (*end != '\0') {
		p = strchr(suffixes, toupper((unsigned char)*end));
		if (p == NULL)
			return -EINVAL;
		shift = 10 * (int)(p - suffixes + 1);
		end++;
		if (strcasecmp(end, "ib") != 0 && strcasecmp(end, "b") != 0 &&
		    *end != '\0')
			return -EINVAL;
	}
	if (shift > 0 && v > (UINT64_MAX >> shift))
		return -EINVAL;
	*bytes = (uint64_t)v << shift;
	return 0;
}

int64_t
units_bytes_to_pages(uint64_t bytes)
{
	uint64_t pages = bytes / 4096 + (bytes % 4096 != 0);

	return pages > UINT32_MAX ? -ERANGE : (int64_t)pages;
}

void
units_format_size(uint64_t bytes, char out[16])
{
	static const char *const names[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int i = 0;
	uint64_t unit = 1;

	while (i < 4 && bytes >= unit * 1024)
		unit *= 1024, i++;
	/* Below 2^64 the whole part stays under 2^24: an unsigned fits. */
	if (bytes % unit == 0)
		snprintf(out, 16, "%u %s", (unsigned)(bytes / unit), names[i]);
	else
		snprintf(out, 16, "%u.%u %s", (unsigned)(bytes / unit),
		    (unsigned)(bytes % unit * 10 / unit), names[i]);
}
