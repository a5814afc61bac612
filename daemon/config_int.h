/* SPDX-License-Identifier: ISC */
/*
 * config_int: what the configuration's files share: config.c (the command
 * line, the file and [broker]), config_sections.c ([region] and [tenant]
 * sections, and the checks that need the whole file) and config_values.c
 * (value parsers, key tables, warnings), which the other two call. Not for
 * other modules: they see config.h.
 */
#ifndef SHMBROKER_CONFIG_INT_H
#define SHMBROKER_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define CONFIG_MAX_TENANTS 1024

enum config_section { SECTION_NONE, SECTION_BROKER, SECTION_REGION,
    SECTION_TENANT };

/* The state of one file's parse. */
struct config_parse {
	struct broker_config *cfg;
	const char *path;
	enum config_section section;
	size_t cur;			/* the region or tenant being read */
	uint32_t seen;			/* its keys so far, one bit each */
	int broker_line;		/* of [broker], or 0 */
	int tenancy_line;		/* of "tenancy =", or 0 */
};

/* Value parsers: 0, or -EINVAL when v is not one. */
int config_parse_u32(const char *v, uint32_t *dst);
int config_parse_id(const char *v, bool group, unsigned *out);
int config_parse_mode(const char *v, uint16_t *mode);
int config_parse_pages(const char *v, uint32_t *pages);

/* The index of key in a NULL-terminated table, or -EINVAL after writing
 * "unknown SECTION setting 'key' (use a, b, ...)" into why. */
int config_key_index(const char *const *table, const char *section,
    const char *key, char *why, size_t whylen);

/* The index in table of a key of the section being read (label: what
 * messages call it, "tenant acme"; kind: its kind, "tenant"), refused when
 * it is unknown or comes a second time and is not in the repeatable mask.
 * -EINVAL with the reason in why. */
int config_section_key(struct config_parse *p, const char *const *table,
    const char *kind, const char *label, uint32_t repeatable,
    const char *key, char *why, size_t whylen);
/* "[label] key = value: reason" in why; returns -EINVAL. */
int config_bad_value(char *why, size_t whylen, const char *label,
    const char *key, const char *v, const char *reason);

/* "[region NAME]" and "[tenant NAME]" headers and keys: 0, or -errno with
 * the reason in why. */
int config_region_begin(struct config_parse *p, const char *name, int line,
    char *why, size_t whylen);
int config_region_key(struct config_parse *p, const char *key,
    const char *v, int line, char *why, size_t whylen);
int config_tenant_begin(struct config_parse *p, const char *name, int line,
    char *why, size_t whylen);
int config_tenant_key(struct config_parse *p, const char *key,
    const char *v, int line, char *why, size_t whylen);

/* After the whole file: what a section at a time cannot see. 0, or -errno
 * with "FILE:LINE: reason" (or "FILE: reason") in err; warnings go to
 * cfg. */
int config_check_regions(struct config_parse *p, char *err, size_t errlen);
int config_check_tenants(struct config_parse *p, char *err, size_t errlen);

/* After the command line too: a tenant's max_connections that does not
 * keep it from filling the daemon's (a warning). 0 or -ENOMEM. */
int config_warn_tenant_limits(struct broker_config *cfg);

/* Adds a "FILE:LINE: ..." warning to cfg; -ENOMEM without memory. */
int config_warn(struct broker_config *cfg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
