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
 * agree throughout, and nothing may leak. With fd_store on, a table of
 * members from the input (daemon/members.c: which indices a restart
 * keeps) is restored too, and the indices it keeps are never a client's.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fdname.h"
#include "fuzz_broker.h"
#include "members.h"
#include "fuzz_fdname.h"
#include "fuzz_input.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fn_row_spec {
	uint16_t row;
	uint8_t entry;
	enum fn_row how;
	uint16_t active;
};

struct fn_table_spec {
	enum fn_table shape;
	uint32_t used;
	size_t nrows;
	struct fn_row_spec rows[FN_TABLE_ROWS];
};

struct fn_entry {
	char name[FN_NAME_MAX + 1];
	enum fn_fd kind;
	uint32_t bytes;
	struct fn_table_spec table;	/* FN_FD_MEMBERS */
};

static const char fn_conf_store[] =
    "[broker]\ntenancy = open\nfd_store = yes\n";

/* FUZZ_TRACE=1: print what was restored and the attaches' answers. */
static bool fn_trace;
static const char *fn_conf_path;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_broker_process_init(*argc, *argv);
	fn_conf_path = fuzz_broker_file(0, fn_conf_store,
	    strlen(fn_conf_store));
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

static void
fn_table_read(struct fin *in, struct fn_table_spec *t)
{
	uint8_t shape = fin_u8(in);

	t->shape = shape == FN_FULL_BYTE ? FN_TABLE_FULL :
	    (enum fn_table)(shape % FN_TABLE_FULL);
	t->used = fin_u16(in) % FN_TABLE_USED;
	t->nrows = fin_u8(in) % (FN_TABLE_ROWS + 1);
	for (size_t i = 0; i < t->nrows; i++) {
		t->rows[i].row = fin_u16(in) % FN_TABLE_USED;
		t->rows[i].entry = fin_u8(in);
		t->rows[i].how = (enum fn_row)(fin_u8(in) % FN_ROW_COUNT);
		t->rows[i].active = fin_u16(in);
	}
}

/* Who held index i of every stored row: a peer of another uid than the
 * fuzzer's at odd indices, so that a want for one is refused, the
 * fuzzer's own (or anyone, MEMBERS_UID_ANY) at even ones. */
static uint32_t
fn_holder(unsigned i)
{
	return i % 2 == 1 ? (uint32_t)getuid() + 1 : i % 4 == 0 ?
	    (uint32_t)getuid() : MEMBERS_UID_ANY;
}

/* A row naming entries[r->entry]'s region, spoilt as r says. */
static void
fn_row_make(const struct fn_entry *entries, size_t n,
    const struct fn_row_spec *r, struct members_row *row)
{
	const char *raw = entries[r->entry % n].name;
	struct fdname_region fr;
	const char *name = r->how != FN_ROW_RAW &&
	    fdname_parse_region(raw, &fr) == 0 ? fr.name : raw;
	size_t len = strnlen(name, sizeof(row->name) - 1);

	memset(row, 0, sizeof(*row));
	memcpy(row->name, name, len);
	row->active = r->active;
	for (unsigned i = 0; i < REGION_MAX_CLIENTS; i++)
		row->uid[i] = fn_holder(i);
	if (r->how == FN_ROW_NO_NUL)
		memset(row->name + len, 'x', sizeof(row->name) - len);
	else if (r->how == FN_ROW_FREE_TAIL)
		row->name[0] = '\0';
}

/* The table e describes, in a memfd. */
static int
fn_table_fd(const struct fn_entry *entries, size_t n,
    const struct fn_entry *e)
{
	const struct fn_table_spec *t = &e->table;
	/* The table's head: magic, version, slots, used. */
	uint32_t head[4] = {
		MEMBERS_MAGIC, MEMBERS_VERSION, MEMBERS_SLOTS, t->used,
	};
	size_t size = sizeof(struct members_table);
	int fd = memfd_create("fuzz-members", MFD_CLOEXEC);

	_Static_assert(sizeof(head) == offsetof(struct members_table, rows),
	    "the head of a table of members is four words");
	switch (t->shape) {
	case FN_TABLE_FULL: head[3] = MEMBERS_SLOTS; break;
	case FN_TABLE_MAGIC: head[0]++; break;
	case FN_TABLE_VERSION: head[1]++; break;
	case FN_TABLE_SLOTS: head[2]--; break;
	case FN_TABLE_OVERUSED: head[3] += MEMBERS_SLOTS + 1; break;
	default: break;
	}
	if (t->shape == FN_TABLE_SIZE)
		size = size + e->bytes % FN_SIZE_SPAN - FN_SIZE_SPAN / 2;
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
		goto fail;
	/* Only the pages written are allocated here; the rest reads as
	 * zeros, free rows. */
	if (size < sizeof(head))
		return fd;
	if (pwrite(fd, head, sizeof(head), 0) < 0)
		goto fail;
	for (size_t i = 0; i < t->nrows; i++) {
		struct members_row row;
		off_t at = (off_t)offsetof(struct members_table, rows) +
		    (off_t)t->rows[i].row * (off_t)sizeof(row);

		fn_row_make(entries, n, &t->rows[i], &row);
		if ((size_t)at + sizeof(row) <= size &&
		    pwrite(fd, &row, sizeof(row), at) < 0)
			goto fail;
	}
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

static int
fn_make_fd(const struct fn_entry *entries, size_t n,
    const struct fn_entry *e)
{
	int fd, p[2];

	switch (e->kind) {
	case FN_FD_MEMBERS:
		return fn_table_fd(entries, n, e);
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

/* An index kept for a client still to come back went to another while
 * one that nobody holds or keeps was free (registry_pick_index). */
static void
fn_check_kept(const char *name, uint16_t active, uint16_t kept,
    uint32_t want, uint32_t index)
{
	uint16_t open = (uint16_t)(~active & ~kept);

	if (index < REGION_MAX_CLIENTS && (kept >> index & 1) &&
	    (want != index + 1 || fn_holder(index) == (uint32_t)getuid() + 1) &&
	    open != 0)
		fn_broken("an index kept for a returning client was given to "
		    "another, with others free", name);
}

/* A VMM coming back to a restored region for its old index. */
static void
fn_attach(struct broker *b, int vmm, const char *name, uint32_t want)
{
	Shmbroker__ClientMessage m = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__Attach a = SHMBROKER__ATTACH__INIT;
	const struct region *g = registry_find(&b->reg, name);
	/* What the region held and kept before: g may go with the attach
	 * (a failed one) */
	uint16_t active = g != NULL ? g->active : 0;
	uint16_t kept = g != NULL ? g->reserved : 0;
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
		Shmbroker__ServerMessage *r =
		    shmbroker__server_message__unpack(NULL, (size_t)n, buf);

		if (r != NULL && r->body_case ==
		    SHMBROKER__SERVER_MESSAGE__BODY_ATTACH && fn_trace)
			fprintf(stderr, "attach %s want %u: status %d index "
			    "%u\n", name, want, (int)r->attach->status,
			    r->attach->index);
		if (r != NULL && r->body_case ==
		    SHMBROKER__SERVER_MESSAGE__BODY_ATTACH &&
		    r->attach->status == SHMBROKER__GUEST_STATUS__GSS_OK)
			fn_check_kept(name, active, kept, want,
			    r->attach->index);
		if (r != NULL)
			shmbroker__server_message__free_unpacked(r, NULL);
		wire_fds_close(&fds);
	}
}

static void
fn_trace_restored(const struct broker *b)
{
	const struct region *g;

	fprintf(stderr, "restored %llu regions\n",
	    (unsigned long long)b->restored);
	TAILQ_FOREACH(g, &b->reg.regions, entry)
		fprintf(stderr, "region %s: indices kept %#x\n", g->name,
		    (unsigned)g->reserved);
}

static void
fn_entry_read(struct fin *in, struct fn_entry *e)
{
	const uint8_t *p;
	size_t len;

	e->kind = (enum fn_fd)(fin_u8(in) % FN_FD_COUNT);
	e->bytes = fin_u32(in) % FN_MAX_BYTES;
	if (e->kind == FN_FD_MEMBERS) {
		fn_table_read(in, &e->table);
		snprintf(e->name, sizeof(e->name), "%s", FDNAME_MEMBERS);
		return;
	}
	p = fin_bytes(in, FN_NAME_MAX, &len);
	memcpy(e->name, p, len);
	e->name[len] = '\0';
	fn_round_trip(e->name);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fn_entry entries[FN_MAX_ENTRIES];
	char *argv[] = { (char *)"shmbrokerd", (char *)"--log-level",
	    (char *)"error", NULL, (char *)fn_conf_path, NULL };
	struct fin in = { data, size };
	uint8_t head = fin_u8(&in);
	size_t n = head % FN_MAX_ENTRIES;
	struct broker *b;
	char err[512];
	int vmm;

	fuzz_fds_mark();
	for (size_t i = 0; i < n; i++)
		fn_entry_read(&in, &entries[i]);
	argv[3] = head & FN_FD_STORE ? (char *)"--config" : NULL;
	if ((b = fuzz_broker_start(argv[3] ? 5 : 3, argv, err,
	    sizeof(err))) == NULL)
		fn_broken("the broker does not start", err);
	for (size_t i = 0; i < n; i++) {
		int fd = fn_make_fd(entries, n, &entries[i]);

		if (fd >= 0 && !restore_take_fd(b, fd, entries[i].name))
			close(fd);
	}
	if (restore_finish(b) < 0 || members_start(b) < 0)
		abort();
	if (fn_trace)
		fn_trace_restored(b);
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
