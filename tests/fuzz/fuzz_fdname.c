/* SPDX-License-Identifier: ISC */
/*
 * fuzz_fdname: the fd store names (daemon/fdname.c) that rebuild regions
 * after a restart, and the restore that takes them (daemon/restore.c).
 * Each name is parsed as a region's and as a state page's; a name that
 * parses must come back the same through fdname_region/fdname_state (what
 * the daemon stores is what it reads). Then a broker (the real one,
 * in-process: fuzz_broker.h) restores every entry as main.c does at
 * start, with an fd of the kind and size the input says, and VMMs attach
 * to the restored regions, re-claiming indices; the broker's books must
 * agree throughout, and nothing may leak.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fdname.h"
#include "fuzz_broker.h"
#include "fuzz_fdname.h"
#include "fuzz_input.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fn_entry {
	char name[FN_NAME_MAX + 1];
	enum fn_fd kind;
	uint32_t bytes;
};

/* FUZZ_TRACE=1: print what was restored and the attaches' answers. */
static bool fn_trace;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_broker_process_init(*argc, *argv);
	fn_trace = getenv("FUZZ_TRACE") != NULL;
	return 0;
}

static void __attribute__((noreturn))
fn_broken(const char *what, const char *name)
{
	fprintf(stderr, "fuzz_fdname: %s: '%s'\n", what, name);
	abort();
}

static bool
fn_same(const struct fdname_region *a, const struct fdname_region *b)
{
	return strcmp(a->name, b->name) == 0 && a->size_pages == b->size_pages &&
	    a->origin == b->origin && a->mode == b->mode &&
	    a->owner == b->owner && a->has_group == b->has_group &&
	    (!a->has_group || a->group == b->group) &&
	    strcmp(a->tenant, b->tenant) == 0;
}

/* What parses is what the daemon would store for it, and back. */
static void
fn_round_trip(const char *s)
{
	struct fdname_region fr, again;
	struct tenant_usage u;
	struct region g;
	char out[FDNAME_MAX], key[REGION_KEY_MAX];

	if (fdname_parse_region(s, &fr) == 0) {
		memset(&g, 0, sizeof(g));
		memset(&u, 0, sizeof(u));
		snprintf(g.name, sizeof(g.name), "%s", fr.name);
		g.size_pages = fr.size_pages;
		g.origin = fr.origin;
		g.mode = fr.mode;
		g.owner_uid = fr.owner;
		g.has_group = fr.has_group;
		g.group = fr.group;
		snprintf(u.name, sizeof(u.name), "%s", fr.tenant);
		g.usage = fr.tenant[0] != '\0' ? &u : NULL;
		fdname_region(&g, out);
		if (fdname_parse_region(out, &again) != 0 ||
		    !fn_same(&fr, &again))
			fn_broken("a region's name does not come back as it "
			    "was stored", out);
		fdname_state(&g, out);
		if (fdname_parse_state(out, key) != 0 ||
		    strcmp(key, fr.name) != 0)
			fn_broken("a state page's name does not come back",
			    out);
	}
	if (fdname_parse_state(s, key) == 0 &&
	    registry_check_key(key) != GSS_OK)
		fn_broken("a state page name parsed to no region name", s);
}

static int
fn_make_fd(const struct fn_entry *e)
{
	int fd, p[2];

	switch (e->kind) {
	case FN_FD_SEALED:
	case FN_FD_UNSEALED:
		fd = memfd_create("fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fd >= 0 && (ftruncate(fd, e->bytes) < 0 ||
		    (e->kind == FN_FD_SEALED && fcntl(fd, F_ADD_SEALS,
		    F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0))) {
			close(fd);
			return -1;
		}
		return fd;
	case FN_FD_EVENTFD:
		return eventfd(0, EFD_CLOEXEC);
	default:
		if (pipe2(p, O_CLOEXEC) < 0)
			return -1;
		close(p[1]);
		return p[0];
	}
}

/* A VMM coming back to a restored region for its old index. */
static void
fn_attach(struct broker *b, int vmm, const char *name, uint32_t want)
{
	Shmbroker__ClientMessage m = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__Attach a = SHMBROKER__ATTACH__INIT;
	struct wire_fds fds;
	uint8_t buf[4096];
	ssize_t n;

	a.name.data = (uint8_t *)name;
	a.name.len = strlen(name) + 1;
	a.want_index = want;
	m.id = 1;
	m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ATTACH;
	m.attach = &a;
	if (wire_send_client(vmm, &m, NULL, 0) < 0)
		return;
	fuzz_broker_run(b);
	fuzz_broker_check(b);
	while ((n = wire_recv_flags(vmm, buf, sizeof(buf), &fds,
	    MSG_DONTWAIT)) > 0) {
		Shmbroker__ServerMessage *r = fn_trace ?
		    shmbroker__server_message__unpack(NULL, (size_t)n, buf) :
		    NULL;

		if (r != NULL && r->body_case ==
		    SHMBROKER__SERVER_MESSAGE__BODY_ATTACH)
			fprintf(stderr, "attach %s want %u: status %d index "
			    "%u\n", name, want, (int)r->attach->status,
			    r->attach->index);
		if (r != NULL)
			shmbroker__server_message__free_unpacked(r, NULL);
		wire_fds_close(&fds);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fn_entry entries[FN_MAX_ENTRIES];
	char *argv[] = { (char *)"shmbrokerd", (char *)"--log-level",
	    (char *)"error", NULL };
	struct fin in = { data, size };
	size_t n = fin_u8(&in) % FN_MAX_ENTRIES;
	struct broker *b;
	char err[512];
	int vmm;

	fuzz_fds_mark();
	for (size_t i = 0; i < n; i++) {
		size_t len;
		const uint8_t *p;

		entries[i].kind = (enum fn_fd)(fin_u8(&in) % FN_FD_COUNT);
		entries[i].bytes = fin_u32(&in) % FN_MAX_BYTES;
		p = fin_bytes(&in, FN_NAME_MAX, &len);
		memcpy(entries[i].name, p, len);
		entries[i].name[len] = '\0';
		fn_round_trip(entries[i].name);
	}
	if ((b = fuzz_broker_start(3, argv, err, sizeof(err))) == NULL)
		fn_broken("the broker does not start", err);
	for (size_t i = 0; i < n; i++) {
		int fd = fn_make_fd(&entries[i]);

		if (fd >= 0 && !restore_take_fd(b, fd, entries[i].name))
			close(fd);
	}
	if (restore_finish(b) < 0 || members_start(b) < 0)
		abort();
	if (fn_trace)
		fprintf(stderr, "restored %llu regions\n",
		    (unsigned long long)b->restored);
	fuzz_broker_check(b);
	if ((vmm = fuzz_broker_connect(b, false, 0, 0)) < 0)
		abort();
	while (!fin_done(&in) && n > 0) {
		const struct fn_entry *e = &entries[fin_u8(&in) % n];
		struct fdname_region fr;

		if (fdname_parse_region(e->name, &fr) == 0)
			fn_attach(b, vmm, fr.name, fin_u32(&in));
	}
	close(vmm);
	fuzz_broker_drain(b);
	fuzz_broker_check(b);
	fuzz_broker_stop(b);
	fuzz_fds_check("fuzz_fdname");
	return 0;
}
