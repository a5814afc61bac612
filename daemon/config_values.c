/* SPDX-License-Identifier: ISC */
/*
 * config_values: the value parsers and helpers that the configuration's
 * sections share (config.c for [broker] and the command line,
 * config_sections.c for [region] and [tenant]): numbers, ids, modes,
 * sizes, the table of a section's keys, and the warnings a load collects.
 * Calls nothing of the daemon's.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "inifile.h"
#include "units.h"

int
config_warn(struct broker_config *cfg, const char *fmt, ...)
{
	char **w = realloc(cfg->warnings, (cfg->nwarnings + 1) * sizeof(*w));
	va_list ap;
	int n;

	if (w == NULL)
		return -ENOMEM;
	cfg->warnings = w;
	va_start(ap, fmt);
	n = vasprintf(&w[cfg->nwarnings], fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	cfg->nwarnings++;
	return 0;
}

int
config_parse_u32(const char *v, uint32_t *dst)
{
	char *end;
	unsigned long long n;

	errno = 0;
	n = strtoull(v, &end, 10);
	if (*v < '0' || *v > '9' || errno != 0 || *end != '\0' || n == 0 ||
	    n > UINT32_MAX)
		return -EINVAL;
	*dst = (uint32_t)n;
	return 0;
}

int
config_parse_id(const char *v, bool group, unsigned *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (*v >= '0' && *v <= '9' && *end == '\0' && errno == 0 &&
	    n < UINT32_MAX) {
		*out = (unsigned)n;
		return 0;
	}
	if (group) {
		struct group *gr = getgrnam(v);

		if (gr != NULL) {
			*out = gr->gr_gid;
			return 0;
		}
	} else {
		struct passwd *pw = getpwnam(v);

		if (pw != NULL) {
			*out = pw->pw_uid;
			return 0;
		}
	}
	return -EINVAL;
}

int
config_parse_mode(const char *v, uint16_t *mode)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 8);
	if (*v < '0' || *v > '7' || *end != '\0' || errno != 0 || n > 0777)
		return -EINVAL;
	*mode = (uint16_t)n;
	return 0;
}

int
config_parse_pages(const char *v, uint32_t *pages)
{
	uint64_t bytes;

	if (units_parse_size(v, &bytes) < 0 || bytes == 0 ||
	    units_bytes_to_pages(bytes) < 0)
		return -EINVAL;
	*pages = (uint32_t)units_bytes_to_pages(bytes);
	return 0;
}

int
config_key_index(const char *const *table, const char *section,
    const char *key, char *why, size_t whylen)
{
	char esc[96];
	size_t n;

	for (int i = 0; table[i] != NULL; i++)
		if (strcmp(table[i], key) == 0)
			return i;
	n = (size_t)snprintf(why, whylen, "unknown %s setting '%s' (use",
	    section, inifile_escape(esc, sizeof(esc), key));
	for (int i = 0; table[i] != NULL && n < whylen; i++)
		n += (size_t)snprintf(why + n, whylen - n, "%s %s",
		    i == 0 ? "" : ",", table[i]);
	if (n < whylen)
		snprintf(why + n, whylen - n, ")");
	return -EINVAL;
}

int
config_section_key(struct config_parse *p, const char *const *table,
    const char *kind, const char *label, uint32_t repeatable,
    const char *key, char *why, size_t whylen)
{
	int k;

	if ((k = config_key_index(table, kind, key, why, whylen)) < 0)
		return k;
	if ((p->seen & (1u << k)) && !(repeatable & (1u << k))) {
		snprintf(why, whylen, "[%s] sets %s twice", label, key);
		return -EINVAL;
	}
	p->seen |= 1u << k;
	return k;
}

int
config_bad_value(char *why, size_t whylen, const char *label,
    const char *key, const char *v, const char *reason)
{
	char esc[128];

	snprintf(why, whylen, "[%s] %s = %s: %s", label, key,
	    inifile_escape(esc, sizeof(esc), v), reason);
	return -EINVAL;
}
