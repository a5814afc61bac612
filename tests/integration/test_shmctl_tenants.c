/* SPDX-License-Identifier: ISC */
/*
 * test_shmctl_tenants: tenants through shmctl and its Prometheus metrics.
 * `shmctl tenants` shows each tenant's rules, usage and quotas, in human
 * and --json form, as the VMM connections of the test use them up; and
 * `shmctl metrics` prints the text exposition format, read here by a
 * strict parser (every family with HELP and TYPE before its samples,
 * labels escaped), with the figures the daemon's state implies.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
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

/* Attaches VMM i (connected on first use) to region; returns the guest
 * status and keeps the fd of a success for the teardown. */
static int
vmm_attach(struct ctl *f, int i, const char *region, uint32_t pages,
    bool create)
{
	struct shmc_region r;

	if (f->vmm[i] == NULL)
		f->vmm[i] = fixture_connect(&f->fx, f->fx.d.socket,
		    "tenant vm");
	return fixture_attach(&f->fx, f->vmm[i], region, pages, create, &r);
}

static const struct jv *
tenant_json(struct ctl *f, const char *name)
{
	const struct jv *t;

	CTL_JSON(f, "tenants");
	t = jv_find(&f->json, "name", name);
	if (t == NULL)
		fail_msg("no tenant %s in: %s", name, f->out);
	return t;
}

static void
test_tenants_default(void **state)
{
	struct ctl *f = *state;
	const struct jv *t, *g;
	int64_t conns;

	t = tenant_json(f, "default");
	assert_int_equal(f->json.n, 1);
	assert_true(jv_bool(t, "is_default"));
	assert_false(jv_bool(t, "match_uid"));
	assert_false(jv_bool(t, "match_gid"));
	assert_string_equal(jv_str(t, "prefix"), "");
	assert_int_equal(jv_int(t, "mode"), 0666);
	assert_int_equal(jv_int(t, "regions"), 0);
	assert_int_equal(jv_int(t, "clients"), 0);
	/* Admin connections (this test's and shmctl's) may count: the VMMs'
	 * are measured against this. */
	conns = jv_int(t, "connections");
	assert_true(conns >= 0 && conns <= 2);
	assert_int_equal(jv_int(t, "max_regions"), 0);
	assert_int_equal(jv_int(t, "max_clients"), 0);
	assert_int_equal(jv_int(t, "max_bytes"), 0);
	assert_int_equal(jv_int(t, "max_hugepages"), 0);

	/* Two VMMs: a guest region of 2 pages that both attach, and an
	 * admin region, which no tenant pays for, that one attaches. */
	ctl_admin_create(f, "adm", 4);
	assert_int_equal(vmm_attach(f, 0, "g1", 2, true), SHMC_GSS_OK);
	assert_int_equal(vmm_attach(f, 1, "g1", 0, false), SHMC_GSS_OK);
	assert_int_equal(vmm_attach(f, 0, "adm", 0, false), SHMC_GSS_OK);
	assert_int_equal(vmm_attach(f, 1, "none", 0, false),
	    SHMC_GSS_DOES_NOT_EXIST);

	t = tenant_json(f, "default");
	assert_int_equal(jv_int(t, "regions"), 1);
	assert_int_equal(jv_int(t, "clients"), 3);
	assert_int_equal(jv_int(t, "bytes"), 8192);
	assert_int_equal(jv_int(t, "hugepages"), 0);
	assert_int_equal(jv_int(t, "connections"), conns + 2);
	assert_int_equal(jv_int(t, "denials"), 0);

	CTL_JSON(f, "show", "g1");
	assert_string_equal(jv_str(&f->json, "origin"), "guest");
	assert_string_equal(jv_str(&f->json, "tenant"), "default");
	assert_int_equal(jv_int(&f->json, "owner_uid"), getuid());
	assert_int_equal(jv_int(&f->json, "mode"), 0666);
	CTL_JSON(f, "list");
	g = jv_find(&f->json, "name", "g1");
	assert_non_null(g);
	assert_string_equal(jv_str(g, "tenant"), "default");
	g = jv_find(&f->json, "name", "adm");
	assert_non_null(g);
	assert_string_equal(jv_str(g, "tenant"), "");

	assert_int_equal(CTL(f, "tenants"), 0);
	assert_memory_equal(f->out, "TENANT", 6);
	assert_non_null(strstr(f->out, "MATCH"));
	assert_non_null(strstr(f->out, "CONNECTIONS"));
	assert_non_null(ctl_find_row(f->out, "default"));
	assert_non_null(ctl_find_row(f->out, "1/-"));
	assert_non_null(ctl_find_row(f->out, "3/-"));
	assert_non_null(strstr(f->out, "8 KiB/-"));
	assert_non_null(ctl_find_row(f->out, "0666"));
	ctl_assert_table_aligned(f->out, 0x3f0);
	assert_int_equal(CTL(f, "show", "g1"), 0);
	assert_non_null(strstr(f->out, "tenant:         default\n"));
	assert_non_null(strstr(f->out, "origin:         guest\n"));
}

/* A tenant for root (the test's uid) with quotas and a rule, and one
 * whose name needs escaping in JSON and in Prometheus labels. */
static const char tenants_cfg[] =
    "[tenant ops]\n"
    "uid = 0\n"
    "prefix = ops/\n"
    "max_regions = 2\n"
    "max_clients = 3\n"
    "max_bytes = 64K\n"
    "max_connections = 4\n"
    "mode = 0640\n"
    "deny = secret*\n"
    "\n"
    "[tenant q\"b\\s]\n"
    "gid = 4242\n";
#define ODD_TENANT "q\"b\\s"
#define ODD_TENANT_PROM "tenant=\"q\\\"b\\\\s\""

static int
setup_tenants(void **state)
{
	return ctl_setup_config(state, tenants_cfg);
}

/* Runs `shmctl metrics` into f->out and parses it into m. */
struct sample {
	char name[64];
	char labels[128];	/* as written between the braces */
	double value;
};

struct metrics {
	struct sample s[256];
	size_t n;
};

static const double *metric(const struct metrics *m, const char *name,
    const char *lbl);
static void assert_metric(const struct metrics *m, const char *name,
    const char *lbl, double want);

static void
use_tenant_quotas(struct ctl *f)
{
	/* 2 + 1 pages, 3 clients: every quota but bytes is reached. */
	assert_int_equal(vmm_attach(f, 0, "r1", 2, true), SHMC_GSS_OK);
	assert_int_equal(vmm_attach(f, 0, "secret1", 1, true),
	    SHMC_GSS_NO_PERMISSION);
	assert_int_equal(vmm_attach(f, 1, "r1", 0, false), SHMC_GSS_OK);
	assert_int_equal(vmm_attach(f, 0, "r2", 1, true), SHMC_GSS_OK);
	assert_int_equal(vmm_attach(f, 1, "r3", 1, true), SHMC_GSS_NOMEM);
}

static void check_metrics(struct ctl *f, struct metrics *m);

static void
test_tenants_quotas(void **state)
{
	struct ctl *f = *state;
	const struct jv *t, *g;
	struct metrics *m;

	if (geteuid() != 0) {
		print_message("tenant for uid 0: needs to run as root\n");
		skip();
	}
	use_tenant_quotas(f);

	t = tenant_json(f, "ops");
	assert_int_equal(f->json.n, 2);
	assert_true(jv_bool(t, "match_uid"));
	assert_int_equal(jv_int(t, "uid"), 0);
	assert_false(jv_bool(t, "match_gid"));
	assert_false(jv_bool(t, "is_default"));
	assert_string_equal(jv_str(t, "prefix"), "ops/");
	assert_int_equal(jv_int(t, "mode"), 0640);
	assert_int_equal(jv_int(t, "regions"), 2);
	assert_int_equal(jv_int(t, "max_regions"), 2);
	assert_int_equal(jv_int(t, "clients"), 3);
	assert_int_equal(jv_int(t, "max_clients"), 3);
	assert_int_equal(jv_int(t, "bytes"), 12288);
	assert_int_equal(jv_int(t, "max_bytes"), 65536);
	assert_int_equal(jv_int(t, "max_hugepages"), 0);
	assert_int_equal(jv_int(t, "denials"), 1);
	assert_int_equal(jv_int(t, "connections"), 2);
	assert_int_equal(jv_int(t, "max_connections"), 4);
	t = jv_find(&f->json, "name", ODD_TENANT);
	assert_non_null(t);
	assert_true(jv_bool(t, "match_gid"));
	assert_int_equal(jv_int(t, "gid"), 4242);
	assert_int_equal(jv_int(t, "regions"), 0);
	assert_int_equal(jv_int(t, "connections"), 0);
	assert_int_equal(jv_int(t, "max_connections"), 0);
	assert_int_equal(jv_int(t, "mode"), 0600);

	/* Guest names live under the tenant's prefix. */
	CTL_JSON(f, "list");
	assert_int_equal(f->json.n, 2);
	g = jv_find(&f->json, "name", "ops/r1");
	assert_non_null(g);
	assert_string_equal(jv_str(g, "tenant"), "ops");
	assert_int_equal(jv_int(g, "mode"), 0640);
	assert_int_equal(jv_int(g, "owner_uid"), 0);
	assert_int_equal(jv_int(g, "clients"), 2);
	assert_int_equal(CTL(f, "show", "ops/r1"), 0);
	assert_non_null(strstr(f->out, "mode:           0640\n"));
	assert_non_null(strstr(f->out, "owner uid:      0\n"));
	assert_non_null(strstr(f->out, "tenant:         ops\n"));

	assert_int_equal(CTL(f, "tenants"), 0);
	assert_non_null(ctl_find_row(f->out, "ops"));
	assert_non_null(ctl_find_row(f->out, "uid=0"));
	assert_non_null(ctl_find_row(f->out, "ops/"));
	assert_non_null(ctl_find_row(f->out, "0640"));
	assert_non_null(ctl_find_row(f->out, "2/2"));
	assert_non_null(ctl_find_row(f->out, "3/3"));
	assert_non_null(ctl_find_row(f->out, "2/4"));	/* connections */
	assert_non_null(strstr(f->out, "12 KiB/64 KiB"));
	assert_non_null(ctl_find_row(f->out, "gid=4242"));
	ctl_assert_table_aligned(f->out, 0x3f0);

	m = f->metrics = calloc(1, sizeof(*m));
	assert_non_null(m);
	check_metrics(f, m);
	assert_metric(m, "shmbroker_tenant_regions", "tenant=\"ops\"", 2);
	assert_metric(m, "shmbroker_tenant_clients", "tenant=\"ops\"", 3);
	assert_metric(m, "shmbroker_tenant_bytes", "tenant=\"ops\"", 12288);
	assert_metric(m, "shmbroker_tenant_denials_total", "tenant=\"ops\"",
	    1);
	assert_metric(m, "shmbroker_tenant_regions_limit", "tenant=\"ops\"",
	    2);
	assert_metric(m, "shmbroker_tenant_connections", "tenant=\"ops\"", 2);
	assert_metric(m, "shmbroker_tenant_connections_limit",
	    "tenant=\"ops\"", 4);
	assert_null(metric(m, "shmbroker_tenant_connections_limit",
	    ODD_TENANT_PROM));
	assert_metric(m, "shmbroker_tenant_regions", ODD_TENANT_PROM, 0);
	/* No limit: no series, rather than a limit of 0. */
	assert_null(metric(m, "shmbroker_tenant_regions_limit",
	    ODD_TENANT_PROM));
	assert_metric(m, "shmbroker_denials_total", NULL, 1);
	/* r3 found the tenant's clients used up before its regions. */
	assert_metric(m, "shmbroker_limit_refusals_total",
	    "limit=\"max_clients\"", 1);
	assert_metric(m, "shmbroker_limit_refusals_total",
	    "limit=\"max_regions\"", 0);
	assert_metric(m, "shmbroker_attach_results_total",
	    "status=\"GSS_NO_PERMISSION\"", 1);
	assert_metric(m, "shmbroker_attach_results_total",
	    "status=\"GSS_NOMEM\"", 1);
}

/* ---- metrics ---- */

static bool
metric_name(const char **p, char *out, size_t len)
{
	size_t n = 0;

	if (!isalpha((unsigned char)**p) && **p != '_' && **p != ':')
		return false;
	while (isalnum((unsigned char)**p) || **p == '_' || **p == ':') {
		if (n + 1 >= len)
			return false;
		out[n++] = *(*p)++;
	}
	out[n] = '\0';
	return true;
}

/* name="value",... up to the closing brace, escapes checked. */
static bool
metric_labels(const char **p, char *out, size_t len)
{
	const char *start = *p;
	char name[64];

	for (;;) {
		if (!metric_name(p, name, sizeof(name)) || *(*p)++ != '=' ||
		    *(*p)++ != '"')
			return false;
		while (**p != '"') {
			if (**p == '\0' || **p == '\n')
				return false;
			if (**p == '\\' && strchr("\\\"n", (*p)[1]) == NULL)
				return false;
			*p += **p == '\\' ? 2 : 1;
		}
		(*p)++;
		if (**p == '}')
			break;
		if (*(*p)++ != ',')
			return false;
	}
	if ((size_t)(*p - start) >= len)
		return false;
	memcpy(out, start, (size_t)(*p - start));
	out[*p - start] = '\0';
	(*p)++;
	return true;
}

struct family {
	char name[64];
	bool help, type, counter, done;
};

/* The family of name, made when new; NULL when the table is full. */
static struct family *
family_of(struct family *fam, size_t *nfam, size_t max, const char *name)
{
	for (size_t i = 0; i < *nfam; i++)
		if (strcmp(fam[i].name, name) == 0)
			return &fam[i];
	if (*nfam == max)
		return NULL;
	snprintf(fam[*nfam].name, sizeof(fam[*nfam].name), "%s", name);
	return &fam[(*nfam)++];
}

/* A "# HELP name text" or "# TYPE name type" line. */
static void
metric_comment(const char *line, struct family *fam, size_t *nfam,
    size_t max)
{
	char name[64], type[16];
	const char *p = line + 7;
	struct family *fm;

	if (strncmp(line, "# HELP ", 7) != 0 &&
	    strncmp(line, "# TYPE ", 7) != 0)
		return;		/* other comments are allowed */
	if (!metric_name(&p, name, sizeof(name)) || *p++ != ' ')
		fail_msg("bad comment line: %s", line);
	fm = family_of(fam, nfam, max, name);
	assert_non_null(fm);
	if (line[2] == 'H') {
		assert_false(fm->help);
		assert_false(fm->type);	/* HELP comes first */
		assert_true(strlen(p) > 0);
		fm->help = true;
		return;
	}
	assert_false(fm->type);
	assert_int_equal(sscanf(p, "%15s", type), 1);
	assert_true(strcmp(type, "counter") == 0 ||
	    strcmp(type, "gauge") == 0);
	fm->type = true;
	fm->counter = type[0] == 'c';
}

/* One sample line into m; its family must be announced and its samples
 * together. */
static void
metric_sample(const char *line, struct metrics *m, struct family *fam,
    size_t nfam, struct family **cur)
{
	struct sample *s = &m->s[m->n];
	const char *p = line;
	struct family *fm = NULL;
	char *end;

	assert_true(m->n < sizeof(m->s) / sizeof(m->s[0]));
	if (!metric_name(&p, s->name, sizeof(s->name)))
		fail_msg("bad metric name: %s", line);
	if (*p == '{') {
		p++;
		if (!metric_labels(&p, s->labels, sizeof(s->labels)))
			fail_msg("bad labels: %s", line);
	}
	if (*p++ != ' ')
		fail_msg("no value: %s", line);
	errno = 0;
	s->value = strtod(p, &end);
	if (end == p || *end != '\0' || errno != 0 || !isfinite(s->value))
		fail_msg("value is not a number: %s", line);
	assert_memory_equal(s->name, "shmbroker_", 10);
	for (size_t i = 0; i < nfam; i++)
		if (strcmp(fam[i].name, s->name) == 0)
			fm = &fam[i];
	if (fm == NULL || !fm->help || !fm->type)
		fail_msg("no HELP and TYPE before %s", line);
	if (fm->done)
		fail_msg("samples of %s are not together", s->name);
	if (*cur != NULL && *cur != fm)
		(*cur)->done = true;
	*cur = fm;
	if (fm->counter) {
		assert_true(strlen(s->name) > 6);
		assert_string_equal(s->name + strlen(s->name) - 6, "_total");
		assert_true(s->value >= 0);
	}
	m->n++;
}

/* Runs `shmctl metrics` and checks every line of it into m. */
static void
check_metrics(struct ctl *f, struct metrics *m)
{
	struct family fam[64];
	struct family *cur = NULL;
	size_t nfam = 0;
	char *line, *save = NULL;

	memset(fam, 0, sizeof(fam));
	m->n = 0;
	assert_int_equal(CTL(f, "metrics"), 0);
	assert_true(strlen(f->out) > 0);
	assert_int_equal(f->out[strlen(f->out) - 1], '\n');
	for (line = strtok_r(f->out, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			metric_comment(line, fam, &nfam, 64);
		else
			metric_sample(line, m, fam, nfam, &cur);
	}
}

/* The value of name{labels} (labels NULL: none), or NULL. */
static const double *
metric(const struct metrics *m, const char *name, const char *lbl)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->s[i].name, name) == 0 &&
		    strcmp(m->s[i].labels, lbl != NULL ? lbl : "") == 0)
			return &m->s[i].value;
	return NULL;
}

/* The value of name{labels}, which must be there. */
static double
metric_value(const struct metrics *m, const char *name, const char *lbl)
{
	const double *v = metric(m, name, lbl);

	if (v == NULL)
		fail_msg("no sample %s{%s}", name, lbl ? lbl : "");
	return *v;
}

/* name{labels} must be there and have value want. */
static void
assert_metric(const struct metrics *m, const char *name, const char *lbl,
    double want)
{
	const double *v = metric(m, name, lbl);

	if (v == NULL)
		fail_msg("no sample %s{%s}", name, lbl ? lbl : "");
	if (*v != want)
		fail_msg("%s{%s} is %g, wanted %g", name, lbl ? lbl : "",
		    *v, want);
}

static void
test_metrics(void **state)
{
	struct ctl *f = *state;
	struct metrics *m = f->metrics = calloc(1, sizeof(*m));
	static const char *const statuses[] = {
		"GSS_OK", "GSS_UNKNOWN_FAILURE", "GSS_NOMEM", "GSS_CLIENT_MAX",
		"GSS_ILLEGAL_NAME", "GSS_NO_PERMISSION", "GSS_DOES_NOT_EXIST",
	};
	char want[64];
	double conns;

	assert_non_null(m);
	check_metrics(f, m);
	assert_metric(m, "shmbroker_regions", NULL, 0);
	conns = metric_value(m, "shmbroker_tenant_connections",
	    "tenant=\"default\"");
	assert_metric(m, "shmbroker_attaches_total", NULL, 0);
	for (size_t i = 0; i < 7; i++) {
		snprintf(want, sizeof(want), "status=\"%s\"", statuses[i]);
		assert_metric(m, "shmbroker_attach_results_total", want, 0);
	}

	/* An admin region, a guest region, a failed find, a notify. */
	ctl_admin_create(f, "m1", 1);
	assert_int_equal(vmm_attach(f, 0, "m1", 0, false), SHMC_GSS_OK);
	assert_int_equal(vmm_attach(f, 0, "nope", 0, false),
	    SHMC_GSS_DOES_NOT_EXIST);
	assert_int_equal(vmm_attach(f, 1, "g", 1, true), SHMC_GSS_OK);
	assert_int_equal(vmm_attach(f, 1, "bad name", 1, true),
	    SHMC_GSS_ILLEGAL_NAME);

	check_metrics(f, m);
	assert_metric(m, "shmbroker_regions", NULL, 2);
	assert_metric(m, "shmbroker_clients", NULL, 2);
	assert_true(metric_value(m, "shmbroker_connections", NULL) >= 3);
	assert_metric(m, "shmbroker_region_bytes", "backing=\"shmem\"", 8192);
	assert_metric(m, "shmbroker_region_bytes", "backing=\"hugetlb\"", 0);
	assert_metric(m, "shmbroker_attaches_total", NULL, 2);
	assert_metric(m, "shmbroker_creates_total", NULL, 2);
	assert_metric(m, "shmbroker_detaches_total", NULL, 0);
	assert_metric(m, "shmbroker_notifications_total", NULL, 0);
	assert_metric(m, "shmbroker_denials_total", NULL, 0);
	assert_metric(m, "shmbroker_bad_requests_total", NULL, 0);
	assert_metric(m, "shmbroker_regions_destroyed_total", NULL, 0);
	assert_metric(m, "shmbroker_datagrams_oversized_total", NULL, 0);
	assert_metric(m, "shmbroker_datagrams_with_fds_total", NULL, 0);
	assert_metric(m, "shmbroker_reads_paused_total", NULL, 0);
	assert_metric(m, "shmbroker_ivshmem_dropped_total", NULL, 0);
	assert_metric(m, "shmbroker_limit_refusals_total",
	    "limit=\"max_connections\"", 0);
	assert_metric(m, "shmbroker_limit_refusals_total",
	    "limit=\"max_clients_per_connection\"", 0);
	assert_metric(m, "shmbroker_limit_refusals_total",
	    "limit=\"tenant_max_connections\"", 0);
	assert_metric(m, "shmbroker_attach_results_total",
	    "status=\"GSS_OK\"", 2);
	assert_metric(m, "shmbroker_attach_results_total",
	    "status=\"GSS_DOES_NOT_EXIST\"", 1);
	assert_metric(m, "shmbroker_attach_results_total",
	    "status=\"GSS_ILLEGAL_NAME\"", 1);
	assert_metric(m, "shmbroker_tenant_regions", "tenant=\"default\"", 1);
	assert_metric(m, "shmbroker_tenant_clients", "tenant=\"default\"", 2);
	assert_metric(m, "shmbroker_tenant_bytes", "tenant=\"default\"", 4096);
	assert_metric(m, "shmbroker_tenant_hugepages", "tenant=\"default\"",
	    0);
	assert_metric(m, "shmbroker_tenant_connections", "tenant=\"default\"",
	    conns + 2);
	assert_metric(m, "shmbroker_tenant_denials_total",
	    "tenant=\"default\"", 0);
	assert_true(metric_value(m, "shmbroker_uptime_seconds", NULL) >= 0);
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->s[i].name, "shmbroker_info") == 0)
			want[0] = strncmp(m->s[i].labels, "server=\"shmbrokerd ",
			    19) == 0 && strstr(m->s[i].labels,
			    ",hugepage_policy=\"never\"") != NULL ? 'y' : 'n';
	assert_int_equal(want[0], 'y');

	/* The counters agree with stats --json. */
	CTL_JSON(f, "stats");
	assert_int_equal(jv_int(&f->json, "attaches"), 2);
	assert_int_equal(jv_int(&f->json, "denials"), 0);
	assert_int_equal(CTL(f, "stats"), 0);
	ctl_assert_kv(f->out, "denials:", "0");

	/* No JSON form: a usage error that says where to look. */
	assert_int_equal(CTL_ERR(f, "--json", "metrics"), EX_USAGE);
	assert_non_null(strstr(f->out, "tenants"));
	assert_int_equal(CTL(f, "metrics", "--help"), 0);
	assert_non_null(strstr(f->out, "Prometheus"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		CTL_TEST(test_tenants_default),
		cmocka_unit_test_setup_teardown(test_tenants_quotas,
		    setup_tenants, ctl_teardown),
		CTL_TEST(test_metrics),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
