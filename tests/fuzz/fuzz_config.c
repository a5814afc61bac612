/* SPDX-License-Identifier: ISC */
/*
 * fuzz_config: the configuration file, whole, as the daemon reads it at
 * start and at a reload. The input is the file. It is loaded as
 * `shmbrokerd --config FILE` would load it (config_load), and what loads
 * must keep the promises README makes of a loaded file: tenancy = open or
 * some tenants, a default_tenant that names one of them, regions with
 * valid names and sizes within max_region_size. Then a running broker
 * (the real one, in-process: fuzz_broker.h, with a VMM attached under
 * the base configuration) reloads from the file: a refused reload must
 * leave the running configuration exactly as it was, a reload that
 * succeeds must run exactly what config_load made of the file and have
 * made every configured region, and either way the broker's books must
 * agree, with the VMM still attached, and nothing may leak.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fuzz_broker.h"

#define PRINT_MAX 65536

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { FILE_BASE, FILE_INPUT };

static const char *fg_paths[2];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_broker_process_init(*argc, *argv);
	fg_paths[FILE_BASE] = fuzz_broker_file(FILE_BASE, fuzz_broker_conf,
	    strlen(fuzz_broker_conf));
	fg_paths[FILE_INPUT] = fuzz_broker_file(FILE_INPUT, "", 0);
	return 0;
}

/* Everything of a configuration that a reload applies, as text. */
static void
fg_print(const struct broker_config *c, char *out, size_t cap)
{
	size_t n = 0;

#define P(...) (n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, \
    __VA_ARGS__))
	P("hp %d fds %d pages %u regions %u clients %u conns %u local %u "
	    "open %d default %s admin %d/%u\n", (int)c->hugepages,
	    (int)c->fd_store, c->max_region_pages, c->max_regions,
	    c->max_clients, c->max_connections, c->local_region_fds,
	    (int)c->open_tenancy, c->default_tenant ? c->default_tenant : "-",
	    (int)c->has_admin_group, (unsigned)c->admin_group);
	for (size_t i = 0; i < c->nregions; i++) {
		const struct config_region *r = &c->regions[i];

		P("region %s %u %o %d/%u %d\n", r->name, r->size_pages,
		    (unsigned)r->mode, (int)r->has_group, (unsigned)r->group,
		    r->hugepages);
	}
	for (size_t i = 0; i < c->ntenants; i++) {
		const struct tenant *t = &c->tenants[i];

		P("tenant %s %d:%u %d:%u %s %u %u %llu %llu %o %d/%u:",
		    t->name, (int)t->match_uid, (unsigned)t->uid,
		    (int)t->match_gid, (unsigned)t->gid, t->prefix,
		    t->max_regions, t->max_clients,
		    (unsigned long long)t->max_bytes,
		    (unsigned long long)t->max_hugepages, (unsigned)t->mode,
		    (int)t->has_group, (unsigned)t->group);
		for (size_t k = 0; k < t->nrules; k++)
			P(" %c%s", t->rules[k].allow ? '+' : '-',
			    t->rules[k].pattern);
		P("\n");
	}
#undef P
	if (n >= cap)
		abort();	/* PRINT_MAX is too small for a loaded file */
}

static void __attribute__((noreturn))
fg_broken(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_config: %s\n%s\n", what, detail);
	abort();
}

/* What README promises of a file that loads. */
static void
fg_check_loaded(const struct broker_config *c)
{
	bool found = c->default_tenant == NULL;

	if (!c->open_tenancy && c->ntenants == 0)
		fg_broken("loaded: no tenancy = open and no tenant", "");
	for (size_t i = 0; i < c->ntenants && !found; i++)
		found = strcmp(c->tenants[i].name, c->default_tenant) == 0;
	if (!found)
		fg_broken("loaded: default_tenant names no tenant",
		    c->default_tenant);
	for (size_t i = 0; i < c->nregions; i++)
		if (registry_check_key(c->regions[i].name) != GSS_OK ||
		    c->regions[i].size_pages == 0 ||
		    c->regions[i].size_pages > c->max_region_pages)
			fg_broken("loaded: a region no daemon could make",
			    c->regions[i].name);
}

struct fg_reload {
	bool done;
	enum reload_result rc;
};

static void
fg_reload_done(struct broker *b, uint64_t conn_id, uint64_t req_id,
    enum reload_result rc, const char *err)
{
	struct fg_reload *r = (struct fg_reload *)(uintptr_t)conn_id;

	(void)b;
	(void)req_id;
	(void)err;
	r->done = true;
	r->rc = rc;
}

/* A VMM of tenant acme attached to a region of its own, for the reload
 * to find. */
static int
fg_attach_vmm(struct broker *b)
{
	Shmbroker__ClientMessage m = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__Attach a = SHMBROKER__ATTACH__INIT;
	int fd = fuzz_broker_connect(b, false, 1001, 1001);

	if (fd < 0)
		abort();
	a.name.data = (uint8_t *)"sensor-1";
	a.name.len = sizeof("sensor-1");
	a.create = true;
	a.size_pages = 4;
	m.id = 1;
	m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ATTACH;
	m.attach = &a;
	if (wire_send_client(fd, &m, NULL, 0) < 0)
		abort();
	fuzz_broker_run(b);
	return fd;
}

static void
fg_reload(const char *input_path)
{
	static char before[PRINT_MAX], after[PRINT_MAX], want[PRINT_MAX];
	char *argv[] = { (char *)"shmbrokerd", (char *)"--log-level",
	    (char *)"error", (char *)"--config", (char *)fg_paths[FILE_BASE],
	    NULL };
	struct broker_config fresh;
	struct fg_reload r = { false, RELOAD_REFUSED };
	char err[512];
	struct broker *b = fuzz_broker_start(5, argv, err, sizeof(err));
	int vmm;

	if (b == NULL)
		fg_broken("the base configuration does not load", err);
	vmm = fg_attach_vmm(b);
	fg_print(&b->cfg, before, sizeof(before));
	/* The reload reads the file the command line names: the input's. */
	argv[4] = (char *)input_path;
	service_reload(b, fg_reload_done, (uint64_t)(uintptr_t)&r, 0);
	fuzz_broker_run(b);
	if (!r.done)
		fg_broken("the reload never ended", "");
	fg_print(&b->cfg, after, sizeof(after));
	if (r.rc == RELOAD_REFUSED && strcmp(before, after) != 0)
		fg_broken("a refused reload changed the configuration", after);
	if (r.rc != RELOAD_REFUSED) {
		if (config_load(&fresh, 5, argv, err, sizeof(err)) != 0)
			fg_broken("a reload applied a file that does not load",
			    err);
		if (fresh.local_region_fds == 0)	/* kept by a reload */
			fresh.local_region_fds = b->cfg.local_region_fds;
		fg_print(&fresh, want, sizeof(want));
		config_free(&fresh);
		if (strcmp(want, after) != 0)
			fg_broken("the reload runs something else than the "
			    "file", after);
		for (size_t i = 0; r.rc == RELOAD_DONE && i < b->cfg.nregions;
		    i++)
			if (registry_find(&b->reg, b->cfg.regions[i].name) ==
			    NULL)
				fg_broken("a reload said done without a "
				    "configured region", b->cfg.regions[i].name);
	}
	fuzz_broker_check(b);
	if (b->reg.clients_by_id.count != 1)
		fg_broken("the reload lost the VMM's client", "");
	close(vmm);
	fuzz_broker_drain(b);
	fuzz_broker_check_empty(b);
	fuzz_broker_stop(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path;
	char *argv[] = { (char *)"shmbrokerd", (char *)"--config", NULL,
	    NULL };
	struct broker_config cfg;
	char err[512];

	fuzz_fds_mark();
	path = fuzz_broker_file(FILE_INPUT, data, size);
	argv[2] = (char *)path;
	if (config_load(&cfg, 3, argv, err, sizeof(err)) == 0)
		fg_check_loaded(&cfg);
	config_free(&cfg);
	fg_reload(path);
	fuzz_fds_check("fuzz_config");
	return 0;
}
