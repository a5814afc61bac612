/* SPDX-License-Identifier: ISC */
/*
 * shmctl_region: the commands on regions (list, show, create, destroy) and
 * on one client of a region (detach), and the local checks of their NAME,
 * SIZE and CLIENT operands, made before the daemon is asked so that a typo
 * gets a usage error that says what is wrong.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
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

/* detach's CLIENT operand: a client id (digits), or REGION:INDEX. */
struct ctl_client_ref {
	uint64_t id;
	char region[CTL_NAME_MAX + 1];	/* "": by id */
	uint32_t index;
};

/* s is a whole decimal number no larger than max. */
static bool
ctl_region_parse_num(const char *s, uint64_t max, uint64_t *out)
{
	char *end;

	if (s[0] < '0' || s[0] > '9' || strlen(s) > 20)
		return false;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0' && *out <= max;
}

static int
ctl_region_check_client(const char *s, struct ctl_client_ref *ref)
{
	const char *colon = strrchr(s, ':');
	uint64_t index;
	int ex;

	memset(ref, 0, sizeof(*ref));
	if (colon == NULL) {
		if (ctl_region_parse_num(s, UINT64_MAX, &ref->id))
			return EX_OK;
		ctl_warn("detach: CLIENT '%.40s' is neither a client id (as "
		    "shmctl clients lists it) nor REGION:INDEX", s);
		return EX_USAGE;
	}
	if ((size_t)(colon - s) > CTL_NAME_MAX) {
		ctl_warn("detach: the region name in '%.40s...' is too long",
		    s);
		return EX_USAGE;
	}
	memcpy(ref->region, s, (size_t)(colon - s));
	if ((ex = ctl_region_check_name(ref->region)) != EX_OK)
		return ex;
	if (!ctl_region_parse_num(colon + 1, 15, &index)) {
		ctl_warn("detach: INDEX '%.40s' is not a client index (0 to "
		    "15)", colon + 1);
		return EX_USAGE;
	}
	ref->index = (uint32_t)index;
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

int
ctl_region_detach(struct ctl *ctl, char **argv)
{
	Shmbroker__ServerMessage *m = NULL;
	struct ctl_client_ref ref;
	int ex, rc;

	if ((ex = ctl_region_check_client(argv[0], &ref)) != EX_OK ||
	    (ex = ctl_conn_open(ctl)) != EX_OK)
		return ex;
	rc = shmc_admin_detach(ctl->c, ref.id, ref.region[0] != '\0' ?
	    ref.region : NULL, ref.index, &m);
	if ((ex = ctl_conn_reply(ctl, rc, m,
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_DETACH, &m)) != EX_OK)
		return ex;
	if (m->admin_detach->client == NULL) {
		ctl_warn("shmbrokerd's reply to detach lacks the client");
		ex = EX_SOFTWARE;
	} else {
		ex = print_detached(m->admin_detach->client, ctl->json);
	}
	shmbroker__server_message__free_unpacked(m, NULL);
	return ex;
}
