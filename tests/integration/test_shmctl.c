/* SPDX-License-Identifier: ISC */
/*
 * test_shmctl: the admin CLI against a real shmbrokerd, on regions. Runs
 * the built shmctl as a child, in human and --json form, and checks what
 * it prints and its exit status: create/list/show/destroy, regions with
 * attached clients, --force, detaching one client, every class of error,
 * --help, and listings
 * longer than one page. JSON output goes through a strict parser (jv.h),
 * so invalid JSON fails the test. Who may use shmctl, the watch stream
 * and reloads are test_shmctl_daemon's; tenants and the metrics
 * test_shmctl_tenants'.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctl.h"
#include "shmclient.h"
#include "testcheck.h"

#define PAGING_REGIONS 450
#define PAGING_CLIENTS 250

static void
test_human_lifecycle(void **state)
{
	struct ctl *f = *state;
	const char *row, *head;

	assert_int_equal(CTL(f, "list"), 0);
	assert_string_equal(f->out, "no regions\n");
	assert_int_equal(CTL(f, "create", "a", "10000"), 0);
	assert_non_null(strstr(f->out, "created region a: 12 KiB (3 pages), "
	    "shmem"));
	assert_int_equal(CTL(f, "create", "big", "64M"), 0);

	assert_int_equal(CTL(f, "list"), 0);
	head = f->out;
	assert_memory_equal(head, "ID  NAME", 8);
	row = ctl_find_row(f->out, "a");
	assert_non_null(row);
	row = (const char *)memrchr(head, '\n', (size_t)(row - head)) + 1;
	/* Columns line up: each value sits under its heading. */
	assert_int_equal(strstr(row, "shmem") - row,
	    strstr(head, "BACKING") - head);
	assert_int_equal(strstr(row, "admin") - row,
	    strstr(head, "ORIGIN") - head);
	assert_int_equal(strstr(row, "0x0000") - row,
	    strstr(head, "ACTIVE") - head);
	/* SIZE is right-aligned: "12 KiB" ends where "SIZE" ends. */
	assert_int_equal(strstr(row, "12 KiB") + 6 - row,
	    strstr(head, "SIZE") + 4 - head);
	assert_non_null(strstr(f->out, "64 MiB"));

	assert_int_equal(CTL(f, "show", "a"), 0);
	assert_non_null(strstr(f->out, "name:           a\n"));
	assert_non_null(strstr(f->out, "size:           12 KiB (3 pages)\n"));
	assert_non_null(strstr(f->out, "backing:        shmem, 12 KiB\n"));
	assert_non_null(strstr(f->out, "origin:         admin\n"));
	assert_non_null(strstr(f->out, "mode:           0666\n"));
	assert_non_null(strstr(f->out, "owner uid:      0\n"));
	assert_non_null(strstr(f->out, "tenant:         -\n"));
	assert_non_null(strstr(f->out, "active:         0x0000\n"));
	assert_non_null(strstr(f->out, "clients:        0\n"));

	assert_int_equal(CTL(f, "destroy", "a"), 0);
	assert_string_equal(f->out, "destroyed region a\n");
	assert_int_equal(CTL(f, "list"), 0);
	assert_null(ctl_find_row(f->out, "a"));
	assert_non_null(ctl_find_row(f->out, "big"));
	assert_int_equal(CTL(f, "status"), 0);
	assert_non_null(strstr(f->out, "regions:        1\n"));
	assert_int_equal(CTL(f, "stats"), 0);
	ctl_assert_kv(f->out, "creates:", "2");
	ctl_assert_kv(f->out, "destroyed:", "1");
}

/* A block of stats at p: its heading, then lines of an indented name
 * (starting with start) and a count in the column of out's first line.
 * Returns where it ends. */
static const char *
stats_named_block(const char *out, const char *p, const char *heading,
    const char *start)
{
	size_t hlen = strlen(heading);

	assert_memory_equal(p, heading, hlen);
	for (p += hlen; *p != '\0' && *p != '\n'; p = strchr(p, '\n') + 1) {
		const char *nl = strchr(p, '\n'), *v = nl;

		assert_non_null(nl);
		assert_memory_equal(p, start, strlen(start));
		while (v[-1] != ' ')
			v--;
		assert_int_equal(v - p, ctl_value_column(out));
	}
	return p;
}

/* Every line of status, show and stats has its value in its block's
 * column, the longest key's too. */
static void
test_human_blocks(void **state)
{
	struct ctl *f = *state;
	struct shmc_region r;
	const char *p;

	ctl_admin_create(f, "kv", 1);
	ctl_attach_vmm(f, 0, "kv vm", "kv", &r);
	assert_int_equal(CTL(f, "status"), 0);
	assert_string_equal(ctl_assert_kv_block(f->out), "");
	assert_int_equal(CTL(f, "show", "kv"), 0);
	p = ctl_assert_kv_block(f->out);
	assert_memory_equal(p, "\nINDEX", 6);
	ctl_assert_table_aligned(p + 1, 0x1b);

	assert_int_equal(CTL(f, "stats"), 0);
	p = ctl_assert_kv_block(f->out);
	ctl_assert_kv(f->out, "refused connections:", "0");
	/* The refusals by limit, then the attach results: a name, then its
	 * count in the same column as the counters'. */
	p = stats_named_block(f->out, p, "\nrefused at a limit:\n", "  ");
	p = stats_named_block(f->out, p, "\nattach results:\n", "  GSS_");
	assert_string_equal(p, "");
	ctl_assert_kv(f->out, "  max_clients_per_connection", "0");
	ctl_assert_kv(f->out, "  max_connections of a tenant", "0");
	ctl_assert_kv(f->out, "  max_hugepages", "0");
	ctl_assert_kv(f->out, "  max_region_size", "0");
	ctl_assert_kv(f->out, "  fd_store_max", "0");
	ctl_assert_kv(f->out, "  GSS_OK", "1");
}

static void
test_json_lifecycle(void **state)
{
	struct ctl *f = *state;
	const struct jv *a;
	int64_t id;

	CTL_JSON(f, "list");
	assert_int_equal(f->json.t, J_ARR);
	assert_int_equal(f->json.n, 0);

	CTL_JSON(f, "create", "a", "10000");
	assert_int_equal(f->json.t, J_OBJ);
	assert_string_equal(jv_str(&f->json, "name"), "a");
	assert_int_equal(jv_int(&f->json, "size"), 12288);
	id = jv_int(&f->json, "id");
	assert_true(id > 0);

	CTL_JSON(f, "list");
	assert_int_equal(f->json.n, 1);
	a = jv_find(&f->json, "name", "a");
	assert_non_null(a);
	assert_int_equal(jv_int(a, "id"), id);
	assert_int_equal(jv_int(a, "size"), 12288);
	assert_int_equal(jv_int(a, "size_pages"), 3);
	assert_int_equal(jv_int(a, "backing_bytes"), 12288);
	assert_int_equal(jv_int(a, "clients"), 0);
	assert_int_equal(jv_int(a, "active_mask"), 0);
	assert_string_equal(jv_str(a, "backing"), "shmem");
	assert_string_equal(jv_str(a, "origin"), "admin");
	/* Admin regions: anyone may attach, and no tenant pays for them. */
	assert_int_equal(jv_int(a, "mode"), 0666);
	assert_int_equal(jv_int(a, "owner_uid"), 0);
	assert_string_equal(jv_str(a, "tenant"), "");

	/* Options may also follow the command. */
	jv_free(&f->json);
	assert_int_equal(CTL(f, "show", "a", "--json"), 0);
	assert_true(jv_parse(f->out, &f->json));
	assert_string_equal(jv_str(&f->json, "name"), "a");
	assert_int_equal(jv_int(&f->json, "size"), 12288);
	assert_int_equal(jv_int(&f->json, "size_pages"), 3);
	assert_string_equal(jv_str(&f->json, "backing"), "shmem");
	assert_string_equal(jv_str(&f->json, "origin"), "admin");
	assert_int_equal(jv_int(&f->json, "mode"), 0666);
	assert_int_equal(jv_int(&f->json, "owner_uid"), 0);
	assert_string_equal(jv_str(&f->json, "tenant"), "");
	assert_non_null(jv_get(&f->json, "clients"));
	assert_int_equal(jv_get(&f->json, "clients")->t, J_ARR);
	assert_int_equal(jv_get(&f->json, "clients")->n, 0);

	CTL_JSON(f, "status");
	assert_int_equal(jv_int(&f->json, "regions"), 1);
	assert_int_equal(jv_int(&f->json, "bytes_shmem"), 12288);
	assert_string_equal(jv_str(&f->json, "hugepage_policy"), "never");
	CTL_JSON(f, "stats");
	assert_int_equal(jv_int(&f->json, "creates"), 1);
	CTL_JSON(f, "clients");
	assert_int_equal(f->json.t, J_ARR);
	assert_int_equal(f->json.n, 0);

	CTL_JSON(f, "destroy", "a");
	assert_string_equal(jv_str(&f->json, "name"), "a");
	assert_int_equal(jv_int(&f->json, "detached"), 0);
	CTL_JSON(f, "list");
	assert_int_equal(f->json.n, 0);
}

static const char *const labels[NVMM] = {
	"vm one",
	/* quotes, C0, UTF-8, C1 (UTF-8 and a raw CSI), invalid UTF-8 */
	"vm \"two\"\\\t\x01\x1b[31m caf\xc3\xa9 \xc2\x9b" "2J\x9b" "1m\xe0\x80\xaf",
};
/* As JSON gives them back: invalid UTF-8 is U+FFFD, the rest as it was. */
static const char *const json_labels[NVMM] = {
	"vm one",
	"vm \"two\"\\\t\x01\x1b[31m caf\xc3\xa9 \xc2\x9b" "2J\xef\xbf\xbd"
	    "1m\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
};

static void
check_shown_clients(struct ctl *f, const struct shmc_region *r)
{
	const struct jv *cl;
	bool seen[NVMM] = { false, false };

	CTL_JSON(f, "show", "b");
	assert_int_equal(jv_int(&f->json, "active_mask"), 0x3);
	cl = jv_get(&f->json, "clients");
	assert_non_null(cl);
	assert_int_equal(cl->t, J_ARR);
	assert_int_equal(cl->n, NVMM);
	for (size_t k = 0; k < cl->n; k++) {
		const struct jv *c = &cl->items[k];
		int64_t idx = jv_int(c, "index");

		assert_true(idx >= 0 && idx < NVMM);
		assert_false(seen[idx]);
		seen[idx] = true;
		assert_int_equal(jv_int(c, "client_id"), r[idx].client_id);
		assert_int_equal(jv_int(c, "pid"), getpid());
		assert_int_equal(jv_int(c, "uid"), getuid());
		assert_int_equal(jv_int(c, "pending"), 0);
		assert_string_equal(jv_str(c, "label"), json_labels[idx]);
	}
}

static void
test_attached_clients(void **state)
{
	struct ctl *f = *state;
	struct shmc_region r[NVMM];
	const struct jv *b;

	assert_int_equal(CTL(f, "create", "b", "8K"), 0);
	for (int i = 0; i < NVMM; i++) {
		ctl_attach_vmm(f, i, labels[i], "b", &r[i]);
		assert_int_equal(r[i].index, (uint32_t)i);
	}

	CTL_JSON(f, "list");
	b = jv_find(&f->json, "name", "b");
	assert_non_null(b);
	assert_int_equal(jv_int(b, "clients"), 2);
	assert_int_equal(jv_int(b, "active_mask"), 0x3);
	assert_int_equal(jv_int(b, "size"), 8192);
	check_shown_clients(f, r);

	CTL_JSON(f, "clients");
	assert_int_equal(f->json.n, NVMM);
	for (size_t k = 0; k < f->json.n; k++) {
		assert_string_equal(jv_str(&f->json.items[k], "region"), "b");
		assert_int_equal(jv_int(&f->json.items[k], "index"), (int64_t)k);
	}

	/* People's output never carries a label's control characters. */
	assert_int_equal(CTL(f, "show", "b"), 0);
	assert_non_null(strstr(f->out, "clients:        2\n"));
	assert_non_null(strstr(f->out, "vm one\n"));
	assert_non_null(strstr(f->out, "vm \"two\"\\\?\?\?[31m caf\xc3\xa9 "
	    "\?2J\?1m\?\?\?\n"));
	assert_null(strchr(f->out, '\x1b'));
	assert_null(strchr(f->out, '\x9b'));
	assert_int_equal(CTL(f, "clients"), 0);
	assert_non_null(strstr(f->out, "vm one\n"));
	assert_int_equal(CTL(f, "list"), 0);
	assert_non_null(strstr(f->out, "0x0003"));

	/* Busy: refused without --force, and the region stays. */
	assert_int_equal(CTL_ERR(f, "destroy", "b"), EX_DATAERR);
	assert_non_null(strstr(f->out, "shmctl: "));
	assert_non_null(strstr(f->out, "--force"));
	CTL_JSON(f, "list");
	assert_non_null(jv_find(&f->json, "name", "b"));
	check_shown_clients(f, r);

	assert_int_equal(CTL(f, "destroy", "b", "--force"), 0);
	assert_string_equal(f->out, "destroyed region b, detached 2 clients\n");
	CTL_JSON(f, "list");
	assert_int_equal(f->json.n, 0);
	CTL_JSON(f, "clients");
	assert_int_equal(f->json.n, 0);
}

/*
 * detach CLIENT by id and by REGION:INDEX, for people and with --json;
 * the other client stays. A CLIENT that is neither is a usage error, one
 * the daemon does not know a refusal, each saying why.
 */
static void
test_detach_client(void **state)
{
	struct ctl *f = *state;
	struct shmc_region r[NVMM];
	const struct jv *c;
	char id[24], want[160];

	ctl_admin_create(f, "dt", 1);
	for (int i = 0; i < NVMM; i++)
		ctl_attach_vmm(f, i, labels[i], "dt", &r[i]);
	snprintf(id, sizeof(id), "%llu", (unsigned long long)r[0].client_id);
	assert_int_equal(CTL(f, "detach", id), 0);
	snprintf(want, sizeof(want), "detached client %s from region dt "
	    "(index 0, rw, pid %d, uid %u, vm one)\n", id, (int)getpid(),
	    (unsigned)getuid());
	assert_string_equal(f->out, want);
	CTL_JSON(f, "clients");
	assert_int_equal(f->json.n, 1);
	assert_int_equal(jv_int(&f->json.items[0], "client_id"),
	    r[1].client_id);
	assert_int_equal(CTL_ERR(f, "detach", id), EX_DATAERR);
	assert_non_null(strstr(f->out, "no client"));

	CTL_JSON(f, "detach", "dt:1");
	assert_int_equal(jv_int(&f->json, "client_id"), r[1].client_id);
	assert_string_equal(jv_str(&f->json, "region"), "dt");
	assert_int_equal(jv_int(&f->json, "index"), 1);
	assert_string_equal(jv_str(&f->json, "label"), json_labels[1]);
	CTL_JSON(f, "show", "dt");
	c = jv_get(&f->json, "clients");
	assert_non_null(c);
	assert_int_equal(c->n, 0);
	assert_int_equal(CTL_ERR(f, "detach", "dt:1"), EX_DATAERR);
	assert_non_null(strstr(f->out, "no client at index 1"));
	assert_int_equal(CTL_ERR(f, "detach", "nope:0"), EX_DATAERR);
	assert_non_null(strstr(f->out, "no region named 'nope'"));

	static const char *const bad[] = { "x", "dt:16", "dt:", ":1", "-1",
	    "dt:-1", "dt:1x", "18446744073709551616" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(CTL_ERR(f, "detach", bad[i]), EX_USAGE);
		assert_non_null(strstr(f->out, "shmctl: "));
		assert_null(strstr(f->out, "unknown option"));
	}
	assert_int_equal(CTL_ERR(f, "detach"), EX_USAGE);
	assert_int_equal(CTL_ERR(f, "detach", "1", "--force"), EX_USAGE);
}

/* The message of a SIZE that is not one. */
static void
assert_not_a_size(struct ctl *f, const char *size)
{
	char want[64];

	snprintf(want, sizeof(want), "create: SIZE '%s' is not a size (",
	    size);
	if (strstr(f->out, want) == NULL)
		fail_msg("wanted '%s' in: %s", want, f->out);
	assert_non_null(strstr(f->out, "K, M, G or T"));
	assert_null(strstr(f->out, "unknown option"));
}

/* A negative number is an operand for its command to judge, not an
 * option nobody knows; options still go anywhere, "--" still ends them. */
static void
check_negative_operands(struct ctl *f)
{
	static const char *const sizes[] = { "-1", "-5", "-1K", "-0", "-12" };
	char bad[160];

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		assert_int_equal(CTL_ERR(f, "create", "z", sizes[i]),
		    EX_USAGE);
		assert_not_a_size(f, sizes[i]);
	}
	assert_int_equal(CTL_ERR(f, "create", "--json", "z", "-1"), EX_USAGE);
	assert_not_a_size(f, "-1");
	assert_int_equal(CTL_ERR(f, "create", "z", "-1", "--json"), EX_USAGE);
	assert_not_a_size(f, "-1");
	assert_int_equal(CTL_ERR(f, "create", "z", "--", "-1"), EX_USAGE);
	assert_not_a_size(f, "-1");
	assert_int_equal(CTL_ERR(f, "create", "--", "z", "-1"), EX_USAGE);
	assert_not_a_size(f, "-1");
	assert_int_equal(CTL_ERR(f, "create", "z", "-1", "2"), EX_USAGE);
	assert_non_null(strstr(f->out, "too many arguments"));
	assert_int_equal(CTL_ERR(f, "create", "z", "-x"), EX_USAGE);
	assert_non_null(strstr(f->out, "unknown option '-x'"));
	/* Names too: the daemon has no region -7, and says so. */
	assert_int_equal(CTL_ERR(f, "show", "-7"), EX_DATAERR);
	assert_non_null(strstr(f->out, "-7"));
	assert_int_equal(CTL(f, "destroy", "-7", "--force"), EX_DATAERR);
	assert_int_equal(CTL(f, "destroy", "--force", "--", "-7"),
	    EX_DATAERR);
	/* An option's own argument keeps its dash. */
	assert_int_equal(CTL_ERR(f, "list", "--admin-socket", "-9"),
	    EX_UNAVAILABLE);
	assert_non_null(strstr(f->out, "at -9:"));
	snprintf(bad, sizeof(bad), "-s%s", f->fx.d.admin_socket);
	assert_int_equal(ctl_run(f, false, false, (const char *const[]){
	    "list", bad, NULL }), 0);
}

static void
test_errors(void **state)
{
	struct ctl *f = *state;
	char name31[32], name63[64], name64[65], bad[160];

	memset(name31, 'n', 31);
	name31[31] = '\0';
	/* Admin names are as long as a tenant prefix plus a guest's name. */
	memset(name63, 'm', 63);
	memcpy(name63, "acme/", 5);
	name63[63] = '\0';
	memset(name64, 'm', 64);
	name64[64] = '\0';
	assert_int_equal(CTL(f, "create", "a", "1"), 0);
	assert_int_equal(CTL(f, "create", name31, "4K"), 0);
	assert_int_equal(CTL(f, "create", name63, "4K"), 0);
	assert_int_equal(CTL(f, "show", name63), 0);

	assert_int_equal(CTL_ERR(f, "create", "a", "1"), EX_DATAERR);
	assert_non_null(strstr(f->out, "shmctl: "));
	assert_non_null(strstr(f->out, "exists"));
	assert_int_equal(CTL_ERR(f, "create", "z", "0"), EX_USAGE);
	assert_non_null(strstr(f->out, "SIZE '0' is too small"));
	assert_int_equal(CTL_ERR(f, "create", "z", "abc"), EX_USAGE);
	assert_not_a_size(f, "abc");
	assert_int_equal(CTL_ERR(f, "create", "z", ""), EX_USAGE);
	assert_not_a_size(f, "");
	assert_int_equal(CTL_ERR(f, "create", "z", "99999T"), EX_USAGE);
	assert_non_null(strstr(f->out, "SIZE '99999T' is too large"));
	check_negative_operands(f);
	assert_int_equal(CTL_ERR(f, "create", "", "1"), EX_USAGE);
	assert_non_null(strstr(f->out, "empty"));
	assert_int_equal(CTL_ERR(f, "create", name64, "1"), EX_USAGE);
	assert_non_null(strstr(f->out, "too long"));
	assert_non_null(strstr(f->out, "63"));
	assert_int_equal(CTL_ERR(f, "show", name64), EX_USAGE);
	assert_non_null(strstr(f->out, "too long"));
	assert_int_equal(CTL_ERR(f, "destroy", ""), EX_USAGE);
	assert_non_null(strstr(f->out, "empty"));
	assert_int_equal(CTL(f, "create", "with space", "1"), EX_USAGE);
	assert_int_equal(CTL(f, "create", "z"), EX_USAGE);
	assert_int_equal(CTL(f, "create", "z", "1", "2"), EX_USAGE);
	assert_int_equal(CTL(f, "list", "extra"), EX_USAGE);
	assert_int_equal(CTL(f, "show"), EX_USAGE);
	assert_int_equal(CTL(f, "list", "--force"), EX_USAGE);
	assert_int_equal(CTL(f, "list", "--no-such-option"), EX_USAGE);
	assert_int_equal(CTL_ERR(f, "frobnicate"), EX_USAGE);
	assert_non_null(strstr(f->out, "frobnicate"));

	assert_int_equal(CTL_ERR(f, "show", "nope"), EX_DATAERR);
	assert_non_null(strstr(f->out, "shmctl: "));
	assert_non_null(strstr(f->out, "nope"));
	assert_int_equal(CTL(f, "destroy", "nope"), EX_DATAERR);
	assert_int_equal(CTL(f, "destroy", "nope", "--force"), EX_DATAERR);

	/* None of the failed creates left a region behind. */
	CTL_JSON(f, "list");
	assert_int_equal(f->json.n, 3);
	assert_non_null(jv_find(&f->json, "name", "a"));
	assert_non_null(jv_find(&f->json, "name", name31));
	assert_non_null(jv_find(&f->json, "name", name63));

	/* Unreachable daemon: the message names the socket. */
	snprintf(bad, sizeof(bad), "%s/absent.sock", f->fx.d.dir);
	assert_int_equal(ctl_run(f, false, true, (const char *const[]){
	    "--admin-socket", bad, "list", NULL }), EX_UNAVAILABLE);
	assert_non_null(strstr(f->out, bad));
	assert_non_null(strstr(f->out, "shmbrokerd"));

	/* Without --admin-socket, $SHMBROKER_ADMIN_SOCKET decides. */
	assert_int_equal(setenv("SHMBROKER_ADMIN_SOCKET", bad, 1), 0);
	assert_int_equal(ctl_run(f, false, false, (const char *const[]){
	    "status", NULL }), EX_UNAVAILABLE);
	assert_int_equal(setenv("SHMBROKER_ADMIN_SOCKET", f->fx.d.admin_socket,
	    1), 0);
	assert_int_equal(ctl_run(f, false, false, (const char *const[]){
	    "--json", "status", NULL }), 0);
	assert_non_null(strstr(f->out, "\"regions\":3"));
	unsetenv("SHMBROKER_ADMIN_SOCKET");

	/* The VMM socket refuses admin requests. */
	assert_int_equal(ctl_run(f, false, false, (const char *const[]){
	    "--admin-socket", f->fx.d.socket, "list", NULL }), EX_NOPERM);
}

static void
test_help(void **state)
{
	struct ctl *f = *state;
	static const char *const cmds[] = {
		"status", "list", "show", "create", "destroy", "detach",
		"clients", "stats", "tenants", "reload", "metrics", "watch",
	};
	char want[64];

	assert_int_equal(CTL(f, "--help"), 0);
	assert_memory_equal(f->out, "usage: shmctl", 13);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		assert_non_null(strstr(f->out, cmds[i]));
	/* The longest usages keep their end and a gap before the summary
	 * (a 40-byte buffer cut them off). */
	assert_non_null(strstr(f->out, "[--vectors N]  serve "));
	assert_non_null(strstr(f->out, "[--ivshmem PATH]  stop "));
	assert_int_equal(CTL(f, "help"), 0);
	assert_memory_equal(f->out, "usage: shmctl", 13);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		snprintf(want, sizeof(want), "] %s", cmds[i]);
		assert_int_equal(CTL(f, cmds[i], "--help"), 0);
		assert_non_null(strstr(f->out, want));
		assert_int_equal(CTL(f, "help", cmds[i]), 0);
		assert_non_null(strstr(f->out, want));
	}
	assert_int_equal(CTL(f, "create", "--help"), 0);
	assert_non_null(strstr(f->out, "create NAME SIZE"));
	assert_int_equal(CTL(f, "destroy", "x", "--help"), 0);
	assert_non_null(strstr(f->out, "--force"));
	/* Help needs no daemon. */
	assert_int_equal(ctl_run(f, false, false, (const char *const[]){
	    "--admin-socket", "/nonexistent/admin.sock", "list", "--help",
	    NULL }), 0);
	assert_int_equal(CTL(f, "help", "bogus"), EX_USAGE);
	assert_int_equal(ctl_run(f, false, false, (const char *const[]){
	    NULL }), EX_USAGE);
}

static void
test_paging(void **state)
{
	struct ctl *f = *state;
	bool seen[PAGING_REGIONS];
	struct shmc_region r;
	char name[32];
	int64_t last = 0;
	unsigned k;
	int lines = 0;

	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < PAGING_REGIONS; i++) {
		snprintf(name, sizeof(name), "p%03d", i);
		ctl_admin_create(f, name, 1);
	}
	CTL_JSON(f, "list");
	assert_int_equal(f->json.n, PAGING_REGIONS);
	for (size_t i = 0; i < f->json.n; i++) {
		const struct jv *g = &f->json.items[i];

		assert_int_equal(sscanf(jv_str(g, "name"), "p%3u", &k), 1);
		assert_true(k < PAGING_REGIONS);
		assert_false(seen[k]);
		seen[k] = true;
		assert_true(jv_int(g, "id") > last);
		last = jv_int(g, "id");
	}
	assert_int_equal(CTL(f, "list"), 0);
	for (const char *p = f->out; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	assert_int_equal(lines, PAGING_REGIONS + 1);

	/* Clients page the same way. */
	for (int i = 0; i < PAGING_CLIENTS; i++) {
		snprintf(name, sizeof(name), "p%03d", i);
		ctl_attach_vmm(f, 0, "many", name, &r);
	}
	CTL_JSON(f, "clients");
	assert_int_equal(f->json.n, PAGING_CLIENTS);
	last = 0;
	for (size_t i = 0; i < f->json.n; i++) {
		const struct jv *c = &f->json.items[i];
		char want[32];

		assert_true(jv_int(c, "client_id") > last);
		last = jv_int(c, "client_id");
		snprintf(want, sizeof(want), "p%03zu", i);
		assert_string_equal(jv_str(c, "region"), want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		CTL_TEST(test_human_lifecycle),
		CTL_TEST(test_human_blocks),
		CTL_TEST(test_json_lifecycle),
		CTL_TEST(test_attached_clients),
		CTL_TEST(test_detach_client),
		CTL_TEST(test_errors),
		CTL_TEST(test_help),
		CTL_TEST(test_paging),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
