/* SPDX-License-Identifier: ISC */
/*
 * test_guest_e2e: guests that share memory end to end. Real guests
 * (tests/guests/e2e_*.c, on shmguest.h) run in two or more shm-vm
 * processes at once against a real shmbrokerd; the test checks their exit
 * statuses and exact console output, takes part with its own libshmclient
 * client (reads the guests' bytes, notifies them, is notified), detaches
 * a guest's client with shmctl as an admin would, and checks what the
 * daemon shows through shmctl and the admin API. Each test starts
 * its own daemon; teardown kills every shm-vm still running and stops the
 * daemon, so a failed assertion leaves nothing behind. Skipped where
 * /dev/kvm cannot be opened (tests/qemu-kvm/run-in-vm.sh runs it in a VM
 * that has one).
 *
 * Waits have limits only so that a hung guest fails the test instead of
 * hanging it: every outcome is decided by what the guests print, and the
 * guests order their steps by handshakes, never by time.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e.h"
#include "fixture.h"
#include "loglimit.h"
#include "testcheck.h"
#include "vmproc.h"

#define NVM		3
#define LIST_MAX	16384

struct e2e {
	struct fixture fx;	/* first: fixture_teardown frees it whole */
	struct vmproc vm[NVM];
	struct shmc *c;		/* the test's own VMM-side connection */
};

/* ---- the daemon's view ---- */

/* shmctl cmd [arg], which must succeed, its output in out. */
static void
shmctl_arg(const struct e2e *f, const char *cmd, const char *arg, char *out,
    size_t len)
{
	char *argv[] = {
		(char *)SHMCTL_PATH, (char *)"--admin-socket",
		(char *)f->fx.d.admin_socket, (char *)cmd, (char *)arg, NULL,
	};

	assert_int_equal(harness_run(argv, out, len), 0);
}

static void
shmctl(const struct e2e *f, const char *cmd, char *out, size_t len)
{
	shmctl_arg(f, cmd, NULL, out, len);
}

/* Lines of text that contain both a and b (b may be NULL). */
static int
count_lines(const char *text, const char *a, const char *b)
{
	int n = 0;

	for (const char *l = text; *l != '\0';) {
		const char *nl = strchr(l, '\n');
		size_t len = nl != NULL ? (size_t)(nl - l) : strlen(l);
		char line[512];

		snprintf(line, sizeof(line), "%.*s", (int)len, l);
		if (strstr(line, a) != NULL &&
		    (b == NULL || strstr(line, b) != NULL))
			n++;
		l += len + (nl != NULL);
	}
	return n;
}

/* Splits line (up to its \n) into at most max whitespace-separated
 * words in buf; returns how many. */
static int
split_line(const char *line, char *buf, size_t len, char **word, int max)
{
	const char *nl = strchr(line, '\n');
	int n = 0;
	char *save = NULL;

	snprintf(buf, len, "%.*s", (int)(nl != NULL ? nl - line :
	    (ptrdiff_t)strlen(line)), line);
	for (char *w = strtok_r(buf, " ", &save); w != NULL && n < max;
	    w = strtok_r(NULL, " ", &save))
		word[n++] = w;
	return n;
}

/* `shmctl list` has a row for name with that many clients and that
 * active mask (clients < 0: no row at all). The columns are ID, NAME,
 * SIZE (two words), BACKING, ORIGIN, CLIENTS, ACTIVE. */
static void
expect_listed(const struct e2e *f, const char *name, int clients,
    unsigned active)
{
	char list[LIST_MAX], buf[512], want[16], *w[12];
	int found = 0, n;

	shmctl(f, "list", list, sizeof(list));
	snprintf(want, sizeof(want), "0x%04x", active);
	for (const char *l = list; l != NULL && *l != '\0';
	    l = strchr(l, '\n'), l = l != NULL ? l + 1 : NULL) {
		n = split_line(l, buf, sizeof(buf), w, 12);
		if (n < 4 || strcmp(w[1], name) != 0)
			continue;
		found++;
		if (clients < 0 || atoi(w[n - 2]) != clients ||
		    strcmp(w[n - 1], want) != 0)
			fail_msg("shmctl list: %s has %s clients, active %s; "
			    "want %d, %s\n%s", name, w[n - 2], w[n - 1],
			    clients, want, list);
	}
	if (found != (clients < 0 ? 0 : 1))
		fail_msg("shmctl list: %d rows for %s\n%s", found, name, list);
}

static int
clients_of_pid(const struct e2e *f, pid_t pid, const char *region)
{
	char list[LIST_MAX], label[64];

	shmctl(f, "clients", list, sizeof(list));
	snprintf(label, sizeof(label), "shm-vm pid %d", (int)pid);
	return count_lines(list, label, region);
}

static void
expect_no_regions(const struct e2e *f)
{
	uint32_t regions, clients;

	check_admin_counts(f->fx.adm, &regions, &clients);
	assert_int_equal(regions, 0);
	assert_int_equal(clients, 0);
}

/* ---- the test's own client ---- */

static void
ignore_event(const struct shmc_event *ev, void *arg)
{
	(void)ev;
	(void)arg;
}

/* Waits until the client has been notified by each index in want; returns
 * every pending bit it read meanwhile. */
static uint32_t
wait_notified(struct shmc *c, uint64_t client_id, uint32_t want)
{
	int64_t end = harness_now_ms() + VMPROC_WAIT_MS;
	uint32_t seen = 0, st;
	struct pollfd p = { .fd = shmc_event_fd(c), .events = POLLIN };

	for (;;) {
		assert_int_equal(shmc_read_status(c, client_id, &st), 0);
		seen |= st & 0xffff;
		if ((seen & want) == want)
			return seen;
		if (harness_now_ms() > end)
			fail_msg("client %llu: pending 0x%x, never 0x%x",
			    (unsigned long long)client_id, seen, want);
		if (poll(&p, 1, 200) > 0)
			assert_true(shmc_dispatch(c, ignore_event, NULL) >= 0);
	}
}

/* ---- fixtures ---- */

/* Everything a test may have left running: shm-vm children, the test's
 * connection, then the fixture's daemon and files. Returns -1 when the
 * daemon did not exit cleanly (a crash, a sanitizer report). */
static int
teardown(void **state)
{
	struct e2e *f = *state;

	if (f == NULL)
		return 0;
	for (int i = 0; i < NVM; i++)
		vmproc_kill(&f->vm[i]);
	shmc_close(f->c);
	return fixture_teardown(state);
}

/* The daemon on config (NULL: none) and the test's connection. Without
 * KVM the tests skip, and no daemon is started for them. */
static int
start(void **state, const char *config, const char *const *extra)
{
	struct e2e *f = fixture_new(state, sizeof(*f));

	if (f == NULL)
		return -1;
	if (!harness_kvm_opens())
		return 0;
	if (fixture_start(&f->fx, config, extra) < 0 ||
	    shmc_connect(f->fx.d.socket, "test_guest_e2e", 5000, &f->c, NULL,
	    0) < 0) {
		teardown(state);
		return -1;
	}
	return 0;
}

static int
setup(void **state)
{
	return start(state, NULL, NULL);
}

static int
setup_errors(void **state)
{
	return start(state, E2E_ERRORS_CONFIG, NULL);
}

/* Each try's region as big as asked, not rounded up to hugepages by a
 * host's pool: messages that all differ. */
static int
setup_flood(void **state)
{
	static const char *const never[] = { "--hugepages", "never", NULL };

	return start(state, NULL, never);
}

static int
setup_ro(void **state)
{
	return start(state, E2E_RO_CONFIG, NULL);
}

/* ---- tests ---- */

static const char share_a_out[] =
    "A: create status=0 size=16 idx=0 active=0x1\n"
    "A: pattern written\n"
    "A: B's two clients attached (interrupt)\n"
    "A: notified: pending=0x2 active=0xf (interrupt)\n"
    "A: pending after the read=0x0\n"
    "A: notified every other client\n"
    "A: alone again: active=0x1 (interrupt)\n"
    "A: detached: status=0x0 idx=0x0 old data=0x0\n";

static const char share_b_out[] =
    "B: create status=0 size=16 idx=1 active=0x3\n"
    "B: pattern ok\n"
    "B: find status=0 size=16 idx=2 active=0x7\n"
    "B: both mappings are the same memory\n"
    "B: client 1 pending=0x4 then 0x0\n"
    "B: holding\n"
    "B: client 1 notified by the test: active=0xf (interrupt)\n"
    "B: notified A\n"
    "B: A's broadcast reached both: client 1 saw 0x9, client 2 saw 0x1\n"
    "B: client 2 detached: status=0x0 idx=0x0 old data=0x0\n"
    "B: client 1 detached: status=0x0 idx=0x0 old data=0x0\n";

/* The host sees what the guests wrote, through its own mapping. */
static void
check_host_bytes(const struct shmc_region *r)
{
	/* the memfd's whole size: a hugetlb one maps only in huge pages */
	size_t len = (size_t)r->backing_bytes;
	const uint32_t *w;
	uint8_t *p;

	p = mmap(NULL, len, PROT_READ, MAP_SHARED, r->fd, 0);
	assert_true(p != MAP_FAILED);
	w = (const uint32_t *)(const void *)p;
	for (uint32_t i = 0; i < E2E_PATTERN_BYTES / 4; i++)
		if (w[i] != e2e_pattern(i)) {
			munmap(p, len);
			fail_msg("word %u: 0x%x, want 0x%x", i, w[i],
			    e2e_pattern(i));
		}
	assert_memory_equal(p + E2E_GREETING, E2E_GREETING_TEXT,
	    sizeof(E2E_GREETING_TEXT));
	assert_int_equal(w[E2E_SCRATCH / 4], 0xfeedf00d);
	munmap(p, len);
}

/*
 * A creates and writes, B attaches with size and with find and reads the
 * same bytes, the test joins as index 3: pending bits, active masks,
 * notifications guest to guest, host to guest and guest to all, with an
 * interrupt for each, and detach.
 */
static void
test_share(void **state)
{
	struct e2e *f = *state;
	struct vmproc *a = &f->vm[0], *b = &f->vm[1];
	struct shmc_region r;
	uint32_t delivered = 0;

	check_need_kvm();
	vmproc_start(a, f->fx.d.socket, "e2e_share_a", NULL);
	vmproc_wait_for(a, "A: pattern written\n");
	vmproc_start(b, f->fx.d.socket, "e2e_share_b", NULL);
	vmproc_wait_for(b, "B: holding\n");

	assert_int_equal(shmc_attach(f->c, E2E_SHARE_NAME, 1, false, &r),
	    SHMC_GSS_OK);
	assert_int_equal(r.index, 3);
	assert_int_equal(r.size_pages, E2E_SHARE_PAGES);
	assert_true(r.backing_bytes >= E2E_SHARE_PAGES * 4096ull);
	assert_int_equal(r.active_mask, 0xf);
	assert_false(r.created);
	check_host_bytes(&r);
	close(r.fd);

	expect_listed(f, E2E_SHARE_NAME, 4, 0xf);
	assert_int_equal(clients_of_pid(f, a->pid, E2E_SHARE_NAME), 1);
	assert_int_equal(clients_of_pid(f, b->pid, E2E_SHARE_NAME), 2);

	assert_int_equal(shmc_notify(f->c, r.client_id, 1u << 1, &delivered),
	    0);
	assert_int_equal(wait_notified(f->c, r.client_id, 0x1), 0x1);
	vmproc_expect(b, 0, share_b_out, true);
	assert_int_equal(shmc_detach(f->c, r.client_id), 0);
	vmproc_expect(a, 0, share_a_out, true);
	expect_listed(f, E2E_SHARE_NAME, -1, 0);
	expect_no_regions(f);
}

static const char errors_out[] =
    "E: empty name: status=4 size=1\n"
    "E: 32 bytes, no NUL: status=4 size=2\n"
    "E: find of a missing name: status=6 size=2\n"
    "E: over max_region_size: status=2 size=512\n"
    "E: size 0: status=2 size=0\n"
    "E: denied name: status=5 size=1\n"
    "E: 16 clients on one factory page: active=0xffff last idx=15\n"
    "E: 17th client: status=3 size=1\n"
    "E: 17th client by create: status=3 size=1\n"
    "E: after a detach, find gets idx=5\n"
    "E: holding 15 clients\n"
    "E: notified: pending=0x20 active=0xffff\n"
    "E: every client got it\n";

/* Every error status a guest can get, the 16-client limit from one
 * factory page, and the host meeting the same limits. */
static void
test_errors(void **state)
{
	struct e2e *f = *state;
	struct vmproc *e = &f->vm[0];
	struct shmc_region r, r2;

	check_need_kvm();
	vmproc_start(e, f->fx.d.socket, "e2e_errors", NULL);
	vmproc_wait_for(e, "E: holding 15 clients\n");
	/* failed creates left nothing behind */
	expect_listed(f, E2E_BIG_NAME, -1, 0);
	expect_listed(f, E2E_DENIED_NAME, -1, 0);
	expect_listed(f, E2E_MISSING_NAME, -1, 0);
	expect_listed(f, E2E_MAX_NAME, 15, 0xffff & ~(1u << E2E_REUSED_INDEX));
	assert_int_equal(clients_of_pid(f, e->pid, E2E_MAX_NAME), 15);

	assert_int_equal(shmc_attach(f->c, E2E_BIG_NAME, E2E_BIG_PAGES, true,
	    &r2), SHMC_GSS_NOMEM);
	assert_int_equal(shmc_attach(f->c, E2E_MAX_NAME, 1, true, &r),
	    SHMC_GSS_OK);
	close(r.fd);
	assert_int_equal(r.index, E2E_REUSED_INDEX);
	assert_int_equal(r.active_mask, 0xffff);
	assert_int_equal(shmc_attach(f->c, E2E_MAX_NAME, 1, false, &r2),
	    SHMC_GSS_CLIENT_MAX);
	assert_int_equal(shmc_notify(f->c, r.client_id, 0xffffffffu,
	    NULL), 0);
	vmproc_expect(e, 0, errors_out, false);
	/* what shm-vm says about the guest's failures is the vdev's notes
	 * for the operator, never a fault */
	assert_int_equal(count_lines(e->errbuf, "", NULL),
	    count_lines(e->errbuf, "shm-vm: shmem vdev: ", NULL));
	assert_int_equal(shmc_detach(f->c, r.client_id), 0);
	expect_no_regions(f);
}

/* A guest whose shm-vm is SIGKILLed mid-session: the daemon detaches it,
 * the survivor is told (active mask, interrupt) and its index is free. */
static void
test_killed_guest(void **state)
{
	struct e2e *f = *state;
	struct vmproc *s = &f->vm[0], *v = &f->vm[1];
	pid_t vpid;
	int ws;

	check_need_kvm();
	vmproc_start(s, f->fx.d.socket, "e2e_kill_s", NULL);
	vmproc_wait_for(s, "S: created, waiting for a peer: active=0x1\n");
	vmproc_start(v, f->fx.d.socket, "e2e_kill_v", NULL);
	vmproc_wait_for(v, "V: attached: idx=1, active=0x3\n");
	vmproc_wait_for(s, "S: peer attached (interrupt): active=0x3\n");
	assert_int_equal(clients_of_pid(f, v->pid, E2E_KILL_NAME), 1);
	expect_listed(f, E2E_KILL_NAME, 2, 0x3);

	vpid = v->pid;
	assert_int_equal(kill(vpid, SIGKILL), 0);
	assert_int_equal(vmproc_reap(v, &ws), vpid);
	assert_true(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);

	vmproc_wait_for(s, "S: peer gone (interrupt): active=0x1\n");
	assert_int_equal(clients_of_pid(f, vpid, NULL), 0);
	vmproc_expect(s, 0,
	    "S: created, waiting for a peer: active=0x1\n"
	    "S: peer attached (interrupt): active=0x3\n"
	    "S: peer gone (interrupt): active=0x1\n"
	    "S: attached again: idx=1\n", true);
	expect_no_regions(f);
}

/*
 * An admin detaches one guest's client with shmctl while the region lives
 * on: that guest's VMM unmaps it and its control page reads detached,
 * with an interrupt; its stores no longer reach the region. The other
 * guest sees it leave and keeps its data, which the test reads too.
 */
static void
test_detached_guest(void **state)
{
	struct e2e *f = *state;
	struct vmproc *k = &f->vm[0], *d = &f->vm[1];
	char out[LIST_MAX], want[256], arg[64];
	struct shmc_region r;
	const volatile uint32_t *w;
	uint8_t *p;

	check_need_kvm();
	vmproc_start(k, f->fx.d.socket, "e2e_detach_k", NULL);
	vmproc_wait_for(k, "K: created, word written: active=0x1\n");
	vmproc_start(d, f->fx.d.socket, "e2e_detach_d", NULL);
	vmproc_wait_for(d, "D: attached: idx=0x1 active=0x3 word=0xd37ac4ed\n");
	vmproc_wait_for(k, "K: peer attached (interrupt): active=0x3\n");
	assert_int_equal(clients_of_pid(f, d->pid, E2E_DETACH_NAME), 1);

	snprintf(arg, sizeof(arg), "%s:1", E2E_DETACH_NAME);
	shmctl_arg(f, "detach", arg, out, sizeof(out));
	snprintf(want, sizeof(want), "from region %s (index 1, rw, pid %d, uid "
	    "%u, shm-vm pid %d)\n", E2E_DETACH_NAME, (int)d->pid,
	    (unsigned)getuid(), (int)d->pid);
	if (strstr(out, want) == NULL)
		fail_msg("shmctl detach printed: %s", out);
	vmproc_expect(d, 0,
	    "D: attached: idx=0x1 active=0x3 word=0xd37ac4ed\n"
	    "D: detached by the admin (interrupt): status=0x0 idx=0x0 "
	    "word=0x0\n", true);
	vmproc_wait_for(k, "K: peer gone (interrupt): active=0x1\n");
	expect_listed(f, E2E_DETACH_NAME, 1, 0x1);

	/* D's stores after the detach went nowhere. */
	assert_int_equal(shmc_attach(f->c, E2E_DETACH_NAME, 1, false, &r),
	    SHMC_GSS_OK);
	assert_int_equal(r.index, 1);
	p = mmap(NULL, (size_t)r.backing_bytes, PROT_READ, MAP_SHARED, r.fd, 0);
	close(r.fd);
	assert_true(p != MAP_FAILED);
	w = (const volatile uint32_t *)(const void *)p;
	assert_int_equal(w[0], E2E_DETACH_WORD);
	assert_int_equal(w[E2E_DETACH_PROBE / 4], 0);
	munmap(p, (size_t)r.backing_bytes);
	assert_int_equal(shmc_notify(f->c, r.client_id, 1u << 0, NULL), 0);
	vmproc_expect(k, 0,
	    "K: created, word written: active=0x1\n"
	    "K: peer attached (interrupt): active=0x3\n"
	    "K: peer gone (interrupt): active=0x1\n"
	    "K: notified by the test; word=0xd37ac4ed probe=0x0\n", true);
	assert_int_equal(shmc_detach(f->c, r.client_id), 0);
	expect_no_regions(f);
}

/* The `shmctl clients` row of label says access. */
static void
expect_access(const struct e2e *f, const char *label, const char *access)
{
	char list[LIST_MAX], word[16];

	shmctl(f, "clients", list, sizeof(list));
	snprintf(word, sizeof(word), " %s ", access);
	if (count_lines(list, label, word) != 1)
		fail_msg("shmctl clients: no row of %s with %s:\n%s", label,
		    access, list);
}

/* A region as another client sees it: the pattern, and zeros where the
 * guest's rep stosq went. */
static void
expect_pattern(const uint32_t *w)
{
	for (uint32_t i = 0; i < E2E_RO_PATTERN_BYTES / 4; i++)
		if (w[i] != e2e_pattern(i))
			fail_msg("word %u: 0x%x, want 0x%x", i, w[i],
			    e2e_pattern(i));
}

/*
 * A guest that may only read (E2E_RO_CONFIG's allow_ro) stores into its
 * region with every width: shm-vm mapped it read-only, the stores are
 * dropped and counted, and the bytes other clients see never change. A
 * VMM of the same tenant gets the memfd read-only from libshmclient: the
 * kernel refuses it a writable shared mapping. shmctl says ro and rw.
 */
static void
test_read_only_guest(void **state)
{
	struct e2e *f = *state;
	struct vmproc *g = &f->vm[0];
	struct shmc_region w, r;
	char label[64], want[128];
	uint32_t *p;
	void *q;
	size_t len;

	check_need_kvm();
	/* The writer: the admin socket, which no tenant rule binds. */
	assert_int_equal(shmc_attach(f->fx.adm, E2E_RO_NAME, E2E_RO_PAGES, true,
	    &w), SHMC_GSS_OK);
	assert_false(w.read_only);
	len = (size_t)w.backing_bytes;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, w.fd, 0);
	close(w.fd);
	assert_true(p != MAP_FAILED);
	for (uint32_t i = 0; i < E2E_RO_PATTERN_BYTES / 4; i++)
		p[i] = e2e_pattern(i);

	/* The tenant's create is a find; its fd cannot be mapped for
	 * writing, whatever it asks. */
	assert_int_equal(shmc_attach(f->c, E2E_RO_NAME, 1, true, &r),
	    SHMC_GSS_OK);
	assert_true(r.read_only);
	assert_false(r.created);
	errno = 0;
	assert_true(mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, r.fd,
	    0) == MAP_FAILED);
	assert_int_equal(errno, EACCES);
	q = mmap(NULL, len, PROT_READ, MAP_SHARED, r.fd, 0);
	close(r.fd);
	assert_true(q != MAP_FAILED);
	assert_int_equal(mprotect(q, len, PROT_READ | PROT_WRITE), -1);
	assert_int_equal(errno, EACCES);
	expect_pattern(q);

	vmproc_start(g, f->fx.d.socket, "e2e_readonly", NULL);
	vmproc_wait_for(g, "R: stored everywhere, the pattern is unchanged\n");
	expect_pattern(p);
	expect_pattern(q);
	snprintf(label, sizeof(label), "shm-vm pid %d", (int)g->pid);
	expect_access(f, label, "ro");
	expect_access(f, "test_guest_e2e", "ro");
	expect_access(f, "test admin", "rw");

	assert_int_equal(shmc_notify(f->fx.adm, w.client_id, 1u << 2, NULL), 0);
	vmproc_expect(g, 0,
	    "R: attached: idx=0x2 active=0x7\n"
	    "R: pattern read\n"
	    "R: stored everywhere, the pattern is unchanged\n"
	    "R: notified back; detaching\n", false);
	snprintf(want, sizeof(want), "shm-vm: dropped %u guest stores to "
	    "read-only shared memory\n", E2E_RO_STORES);
	assert_string_equal(g->errbuf, want);
	munmap(q, len);
	munmap(p, len);
	assert_int_equal(shmc_detach(f->c, r.client_id), 0);
	assert_int_equal(shmc_detach(f->fx.adm, w.client_id), 0);
	expect_no_regions(f);
}

/* The failures shm-vm's lines account for: one for each line said, plus
 * those each says it held back ("and N other"), and at the exit the held
 * back ones of which it is the last ("the last of N"). */
static uint64_t
flood_accounted(const char *err)
{
	uint64_t sum = 0;

	for (const char *l = err; *l != '\0';) {
		const char *nl = strchr(l, '\n'), *p = strchr(l, '(');
		unsigned long long n;

		if (p != NULL && (nl == NULL || p < nl) &&
		    sscanf(p, "(and %llu other", &n) == 1)
			sum += 1 + n;
		else if (p != NULL && (nl == NULL || p < nl) &&
		    sscanf(p, "(the last of %llu", &n) == 1)
			sum += n;
		else
			sum += 1;
		l = nl != NULL ? nl + 1 : l + strlen(l);
	}
	return sum;
}

/* A guest that makes each of its failures a message shm-vm has not said
 * yet (e2e_flood): shm-vm's stderr is the VMM operator's journal, and how
 * much goes there must not be the guest's to choose. Its 200 failures are
 * a line at most every LOG_REPEAT_MS, each counting those held back, and
 * at the exit the last one held back, counting the rest. */
static void
test_message_flood(void **state)
{
	struct e2e *f = *state;
	struct vmproc *x = &f->vm[0];
	int64_t t0 = harness_now_ms(), secs;
	char want[64];
	int said, last;

	check_need_kvm();
	vmproc_start(x, f->fx.d.socket, "e2e_flood", NULL);
	assert_int_equal(vmproc_finish(x), 0);
	secs = (harness_now_ms() - t0) / 1000;
	snprintf(want, sizeof(want), "F: %u creates found no room\n",
	    E2E_FLOOD_TRIES);
	assert_string_equal(x->outbuf, want);
	said = count_lines(x->errbuf, "shm-vm: shmem vdev: no room for ",
	    NULL);
	last = count_lines(x->errbuf, " (the last of ", " messages not said "
	    "since the last line, said at most every 10 s)");
	assert_int_equal(count_lines(x->errbuf, "", NULL), said);
	assert_true(said - last >= 1);
	assert_true(said - last <= 1 + secs / (LOG_REPEAT_MS / 1000));
	assert_true(last <= 1);
	assert_int_equal(flood_accounted(x->errbuf), E2E_FLOOD_TRIES);
	expect_no_regions(f);
}

/* shmguest's exception handlers: the vector on the console and an exit
 * status of its own, with and without an error code. */
static void
test_exceptions(void **state)
{
	struct e2e *f = *state;
	struct vmproc *x = &f->vm[0];

	check_need_kvm();
	vmproc_start(x, f->fx.d.socket, "e2e_exc_ud", NULL);
	assert_int_equal(vmproc_finish(x), 0x86);
	assert_true(strncmp(x->outbuf, "X: ud2\nEXCEPTION vector=0x6 rip=0x10",
	    36) == 0);
	assert_non_null(strstr(x->outbuf, " error=0x0\n"));
	assert_string_equal(x->errbuf, "");

	vmproc_start(x, f->fx.d.socket, "e2e_exc_gp", NULL);
	assert_int_equal(vmproc_finish(x), 0x8d);
	assert_true(strncmp(x->outbuf,
	    "X: non-canonical load\nEXCEPTION vector=0xd rip=0x10", 51) == 0);
	assert_non_null(strstr(x->outbuf, " error=0x0\n"));
	assert_null(strstr(x->outbuf, "still running"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_share, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup_errors,
		    teardown),
		cmocka_unit_test_setup_teardown(test_killed_guest, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_detached_guest, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_read_only_guest, setup_ro,
		    teardown),
		cmocka_unit_test_setup_teardown(test_exceptions, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_message_flood, setup_flood,
		    teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
