/* SPDX-License-Identifier: ISC */
/*
 * shmctl_region: the commands on regions (list, show, create, destroy) and
 * the local checks of their NAME and SIZE operands, made before the daemon
 * is asked so that a typo gets a usage error that says what is wrong.
 */
#include <stdint.h>
#include <string.h>
#include <sysexits.h>

#include "shmctl.h"
#include "shmctl_print.h"
#include "units.h"

/* Admin names: a tenant's prefix and a guest's name of up to 31, as the
 * daemon's registry_check_key allows. */
#define CTL_NAME_MAX 63			/* characters, without the NUL */

int
ctl_region_check_name(const char *name)
{
	size_t len = strlen(name);

	if (len == 0) {
		ctl_warn("a region name cannot be empty");
		return EX_USAGE;
	}
	if (len > CTL_NAME_MAX) {
		ctl_warn("region name '%.*s...' is too long: %zu characters, "
		    "at most %d", 16, name, len, CTL_NAME_MAX);
		return EX_USAGE;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];

		if (ch < 0x21 || ch > 0x7e) {
			ctl_warn("region name has an invalid character "
			    "(0x%02x) at position %zu: use printable ASCII "
			    "without spaces", ch, i + 1);
			return EX_USAGE;
		}
	}
	return EX_OK;
}

/* create's SIZE operand, in pages. */
static int
ctl_region_check_size(const char *s, uint32_t *pages)
{
	uint64_t bytes;
	int64_t p;

	if (units_parse_size(s, &bytes) < 0) {
		ctl_warn("create: SIZE '%.40s' is not a size (a number of "
		    "bytes with an optional K, M, G or T suffix, e.g. 65536 "
		    "or 64M)", s);
		return EX_USAGE;
	}
	if (bytes == 0) {
		ctl_warn("create: SIZE '%.40s' is too small: a region needs "
		    "at least one byte", s);
		return EX_USAGE;
	}
	if ((p = units_bytes_to_pages(bytes)) < 0) {
		ctl_warn("create: SIZE '%.40s' is too large: at most %u "
		    "pages of 4 KiB", s, UINT32_MAX);
		return EX_USAGE;
	}
	*pages = (uint32_t)p;
	return EX_OK;
}

/* The rows of an AdminListReply. */
static int
ctl_region_list_rows(struct table *t, struct jw *w,
    const Shmbroker__ServerMessage *m, uint64_t *next, bool *last)
{
	const Shmbroker__AdminListReply *r = m->admin_list;

	for (size_t i = 0; i < r->n_regions; i++)
		if (print_region_row(t, w, r->regions[i]) < 0)
			return EX_OSERR;
	*next = r->next_after_id;
	*last = r->done;
	return EX_OK;
}

int
ctl_region_list(struct ctl *ctl, char **argv)
{
	static const struct ctl_listing regions = {
		.what = "region",
		.empty = "no regions",
		.bc = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_LIST,
		.table = print_list_table,
		.rows = ctl_region_list_rows,
	};

	(void)argv;
	return ctl_paged_run(ctl, &regions);
}

int
ctl_region_show(struct ctl *ctl, char **argv)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminShow body = SHMBROKER__ADMIN_SHOW__INIT;
	Shmbroker__ServerMessage *m;
	int ex;

	if ((ex = ctl_region_check_name(argv[0])) != EX_OK ||
	    (ex = ctl_conn_open(ctl)) != EX_OK)
		return ex;
	body.name = argv[0];
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_SHOW;
	req.admin_show = &body;
	if ((ex = ctl_conn_call(ctl, &req,
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_SHOW, &m)) != EX_OK)
		return ex;
	if (m->admin_show->region == NULL) {
		ctl_warn("shmbrokerd's reply to show lacks the region");
		ex = EX_SOFTWARE;
	} else {
		ex = print_show(m->admin_show, ctl->json);
	}
	shmbroker__server_message__free_unpacked(m, NULL);
	return ex;
}

int
ctl_region_create(struct ctl *ctl, char **argv)
{
	Shmbroker__ServerMessage *m = NULL;
	uint32_t pages;
	int ex, rc;

	if ((ex = ctl_region_check_name(argv[0])) != EX_OK ||
	    (ex = ctl_region_check_size(argv[1], &pages)) != EX_OK ||
	    (ex = ctl_conn_open(ctl)) != EX_OK)
		return ex;
	rc = shmc_admin_create(ctl->c, argv[0], pages, &m);
	if ((ex = ctl_conn_reply(ctl, rc, m,
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_CREATE, &m)) != EX_OK)
		return ex;
	if (m->admin_create->region == NULL) {
		ctl_warn("shmbrokerd's reply to create lacks the region");
		ex = EX_SOFTWARE;
	} else {
		print_created(m->admin_create->region, ctl->json);
	}
	shmbroker__server_message__free_unpacked(m, NULL);
	return ex;
}

int
ctl_region_destroy(struct ctl *ctl, char **argv)
{
	Shmbroker__ServerMessage *m = NULL;
	int ex, rc;

	if ((ex = ctl_region_check_name(argv[0])) != EX_OK ||
	    (ex = ctl_conn_open(ctl)) != EX_OK)
		return ex;
	rc = shmc_admin_destroy(ctl->c, argv[0], ctl->force, &m);
	if ((ex = ctl_conn_reply(ctl, rc, m,
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_DESTROY, &m)) != EX_OK)
		return ex;
	print_destroyed(argv[0], m->admin_destroy->detached, ctl->json);
	shmbroker__server_message__free_unpacked(m, NULL);
	return EX_OK;
}
