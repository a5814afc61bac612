/* SPDX-License-Identifier: ISC */
/*
 * test_ivshmem: stock QEMU processes (Debian's qemu-system-x86_64, the
 * ivshmem-doorbell device, driven over qtest: no guest OS, no KVM) join
 * broker regions through `shmctl export` and the configuration file, next
 * to libshmclient clients. Bytes and doorbells in every direction, each
 * doorbell on its vector only and naming its sender; tenancy decided by the
 * QEMU's own uid, and a QEMU that may only read refused; the 16-client
 * limit across kinds; a QEMU that dies, is detached by an admin, or an
 * export that closes lets its peers know; a region that QEMU cannot map is
 * refused with the reason. Skipped (77) where QEMU is not installed.
 */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e.h"
#include "fakestore.h"
#include "fixture.h"
#include "ivsclient.h"
#include "qtest.h"
#include "testcheck.h"
#include "vmproc.h"

#define NQEMU		17
#define RING_TRIES	100	/* a QEMU takes its peers in its own time */

struct ivs {
	struct fixture fx;	/* first: fixture_teardown frees it whole */
	struct qtest q[NQEMU];
	struct vmproc vm;
	struct vmproc vms[2];	/* guests that hold a client */
	struct fakestore fs;
	char sockdir[96];
	char path[108];		/* the export of the test */
};

/* ---- set-up ---- */

static int
ivs_setup(void **state)
{
	struct ivs *f;

	if ((f = fixture_new(state, sizeof(*f))) == NULL)
		return -1;
	f->fs.nsock = -1;
	/* QEMUs of other uids must reach the sockets. */
	snprintf(f->sockdir, sizeof(f->sockdir), "%s/ivs", f->fx.dir);
	snprintf(f->path, sizeof(f->path), "%s/r.sock", f->sockdir);
	if (chmod(f->fx.dir, 0711) < 0 || mkdir(f->sockdir, 0755) < 0)
		return fixture_failed(state);
	return 0;
}

static int
ivs_teardown(void **state)
{
	struct ivs *f = *state;

	for (int i = 0; i < NQEMU; i++)
		qtest_kill(&f->q[i]);
	vmproc_kill(&f->vm);
	for (int i = 0; i < 2; i++)
		vmproc_kill(&f->vms[i]);
	fakestore_close(&f->fs);
	return fixture_teardown(state);
}

static void
ivs_start(struct ivs *f, const char *conf)
{
	static const char *const extra[] = { "--hugepages", "never", NULL };

	assert_int_equal(fixture_start(&f->fx, conf, extra), 0);
}

/* shmctl with the fixture's admin socket; its exit status, output in out. */
static int
ivs_ctl(struct ivs *f, char *out, size_t len, ...)
{
	char *argv[16] = { (char *)SHMCTL_PATH, (char *)"--admin-socket",
	    (char *)f->fx.d.admin_socket };
	char sink[4096];
	va_list ap;
	int n = 3;

	va_start(ap, len);
	while (n < 15 && (argv[n] = va_arg(ap, char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	return harness_run(argv, out != NULL ? out : sink,
	    out != NULL ? len : sizeof(sink));
}

static void
ivs_export(struct ivs *f, const char *name, const char *vectors)
{
	assert_int_equal(ivs_ctl(f, NULL, 0, "export", name, "--ivshmem",
	    f->path, "--vectors", vectors, NULL), 0);
}

/* QEMU k on the test's export as uid and gid ((uid_t)-1: as this
 * process), set up; returns its IVPosition. */
static int
ivs_qemu_as(struct ivs *f, int k, unsigned vectors, uid_t uid, gid_t gid)
{
	char why[512];
	int64_t pos = -1;

	qtest_kill(&f->q[k]);
	assert_int_equal(qtest_start(&f->q[k], f->path, vectors, uid, gid,
	    f->fx.dir), 0);
	if (qtest_setup(&f->q[k]) < 0 || (pos = qtest_ivposition(&f->q[k])) < 0)
		fail_msg("QEMU %d did not come up: %s", k,
		    qtest_stderr(&f->q[k], why, sizeof(why)));
	return (int)pos;
}

/* The same as this process. */
static int
ivs_qemu(struct ivs *f, int k, unsigned vectors)
{
	return ivs_qemu_as(f, k, vectors, (uid_t)-1, 0);
}

/* Rings until the doorbell shows at to's vector: a QEMU learns of its
 * peers from the daemon's messages, which it reads in its own time. */
static void
ivs_ring_qemu(struct qtest *from, unsigned peer, struct qtest *to,
    unsigned vector)
{
	char why[512];

	for (int i = 0; i < RING_TRIES; i++) {
		if (qtest_doorbell(from, peer, vector) < 0)
			fail_msg("QEMU is gone: %s", qtest_stderr(from, why,
			    sizeof(why)));
		if (qtest_msi_wait(to, vector, 50))
			return;
	}
	fail_msg("the doorbell to index %u vector %u never arrived", peer,
	    vector);
}

/* ---- tests ---- */

/* Two QEMUs share bytes and ring each other, each vector on its own. */
static void
test_two_qemus(void **state)
{
	struct ivs *f = *state;
	char buf[32] = "", out[4096];

	ivs_start(f, NULL);
	assert_int_equal(check_admin_create(f->fx.adm, "qq", 512), 0);
	ivs_export(f, "qq", "2");
	assert_int_equal(ivs_qemu(f, 0, 2), 0);
	assert_int_equal(ivs_qemu(f, 1, 2), 1);
	assert_int_equal(qtest_mem_write(&f->q[0], 0x1000, "from QEMU 0", 12),
	    0);
	assert_int_equal(qtest_mem_read(&f->q[1], 0x1000, buf, 12), 0);
	assert_string_equal(buf, "from QEMU 0");

	ivs_ring_qemu(&f->q[0], 1, &f->q[1], 1);
	assert_false(qtest_msi_take(&f->q[1], 0));	/* vector 1 only */
	ivs_ring_qemu(&f->q[1], 0, &f->q[0], 0);
	assert_false(qtest_msi_take(&f->q[0], 1));
	ivs_ring_qemu(&f->q[0], 1, &f->q[1], 0);
	assert_false(qtest_msi_take(&f->q[1], 1));
	/* Rings of no one (an index nobody holds) go nowhere. */
	assert_int_equal(qtest_doorbell(&f->q[0], 7, 0), 0);
	assert_false(qtest_msi_wait(&f->q[1], 0, 100));

	assert_int_equal(ivs_ctl(f, out, sizeof(out), "show", "qq", NULL), 0);
	assert_non_null(strstr(out, "(2 vectors, 2 QEMUs)"));
	assert_int_equal(check_admin_clients(f->fx.adm, "qq"), 2);

	/* QEMU 1 dies; QEMU 0 is told (else the next index 1 would be the
	 * dead one's eventfds and its vectors one too many), and a new
	 * QEMU at index 1 gets its doorbells on both vectors. */
	qtest_kill(&f->q[1]);
	assert_int_equal(check_admin_wait_clients(f->fx.adm, "qq", 1), 1);
	assert_int_equal(ivs_qemu(f, 2, 2), 1);
	ivs_ring_qemu(&f->q[0], 1, &f->q[2], 1);
	ivs_ring_qemu(&f->q[0], 1, &f->q[2], 0);
	ivs_ring_qemu(&f->q[2], 0, &f->q[0], 1);
	assert_false(qtest_msi_take(&f->q[0], 0));
}

/* Pending bits of a libshmclient client, waiting up to 5 s for its
 * eventfd first. */
static uint32_t
ivs_client_wait(struct fixture *fx, struct shmc *c, uint64_t id)
{
	struct pollfd p = { .fd = shmc_attachment_eventfd(c, id),
	    .events = POLLIN };
	uint32_t st = 0;
	uint64_t n;

	(void)fx;
	assert_true(p.fd >= 0);
	if (poll(&p, 1, 5000) != 1)
		return 0;
	assert_int_equal(read(p.fd, &n, sizeof(n)), (ssize_t)sizeof(n));
	assert_int_equal(shmc_status_direct(c, id, 0, &st), 0);
	return st & 0xffff;
}

static void
ivs_ignore_event(const struct shmc_event *ev, void *arg)
{
	(void)ev;
	(void)arg;
}

/* Waits until c's view of the region's members is want (events). */
static void
ivs_client_members(struct shmc *c, uint64_t id, uint32_t want)
{
	int64_t end = harness_now_ms() + 5000;
	uint32_t st;

	do {
		struct pollfd p = { .fd = shmc_event_fd(c), .events = POLLIN };

		/* keep every pending bit: only the members are read */
		assert_int_equal(shmc_status_direct(c, id, 0xffff, &st), 0);
		if (st >> 16 == want)
			return;
		if (poll(&p, 1, 50) == 1)
			assert_true(shmc_dispatch(c, ivs_ignore_event, NULL) >=
			    0);
	} while (harness_now_ms() < end);
	fail_msg("the client's members are 0x%x, not 0x%x", st >> 16, want);
}

/* Region name (16 pages) exported with one vector, QEMU 0 on it at index
 * 0 and a libshmclient client at index 1, which *c and *r describe. */
static void
ivs_qemu_and_client(struct ivs *f, const char *name, struct shmc **c,
    struct shmc_region *r)
{
	ivs_start(f, NULL);
	assert_int_equal(check_admin_create(f->fx.adm, name, 16), 0);
	ivs_export(f, name, "1");
	assert_int_equal(ivs_qemu(f, 0, 1), 0);
	*c = fixture_connect(&f->fx, f->fx.d.socket, "client");
	assert_int_equal(fixture_attach(&f->fx, *c, name, 16, false, r),
	    SHMC_GSS_OK);
	assert_int_equal(r->index, 1);
}

/* A QEMU and a libshmclient client: bytes, doorbells both ways with the
 * sender named, and the QEMU's death seen by the client. */
static void
test_qemu_and_client(void **state)
{
	struct ivs *f = *state;
	struct shmc_region r;
	struct shmc *c;
	uint8_t *mem;
	char buf[16] = "";
	uint32_t pending = 0;

	ivs_qemu_and_client(f, "qc", &c, &r);
	assert_int_equal(r.active_mask, 0x3);
	mem = fixture_map(&f->fx, &r);
	memcpy(mem + 0x100, "client", 7);
	assert_int_equal(qtest_mem_read(&f->q[0], 0x100, buf, 7), 0);
	assert_string_equal(buf, "client");

	/* client -> QEMU: straight to the QEMU's vector 0 */
	assert_int_equal(shmc_notify_direct(c, r.client_id, 1u << 0), 0);
	assert_true(qtest_msi_wait(&f->q[0], 0, 5000));
	/* QEMU -> client: the client's word names the QEMU */
	for (int i = 0; i < RING_TRIES && pending == 0; i++) {
		assert_int_equal(qtest_doorbell(&f->q[0], 1, 0), 0);
		pending = ivs_client_wait(&f->fx, c, r.client_id);
	}
	assert_int_equal(pending, 1u << 0);

	qtest_kill(&f->q[0]);
	ivs_client_members(c, r.client_id, 0x2);
	assert_int_equal(check_admin_wait_clients(f->fx.adm, "qc", 1), 1);
	/* The index is free again: the next QEMU takes it. */
	assert_int_equal(ivs_qemu(f, 1, 1), 0);
	ivs_client_members(c, r.client_id, 0x3);
}

/* Runs shmbrokerd on conf (it must refuse to start) and returns what it
 * said on stderr, in out. */
static int
ivs_daemon_refuses(struct ivs *f, const char *conf, char *out, size_t len)
{
	char cf[160], sock[160], adm[160], logf[160];
	pid_t pid;
	int ws, fd;
	FILE *lf;
	size_t n;

	snprintf(cf, sizeof(cf), "%s/refused.conf", f->fx.dir);
	snprintf(sock, sizeof(sock), "%s/refused.sock", f->fx.dir);
	snprintf(adm, sizeof(adm), "%s/refused-admin.sock", f->fx.dir);
	snprintf(logf, sizeof(logf), "%s/refused.log", f->fx.dir);
	check_write_file(cf, conf);
	if ((pid = fork()) == 0) {
		if ((fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0 ||
		    dup2(fd, 2) < 0)
			_exit(126);
		execl(SHMBROKERD_PATH, SHMBROKERD_PATH, "--config", cf,
		    "--socket", sock, "--admin-socket", adm, (char *)NULL);
		_exit(127);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_non_null(lf = fopen(logf, "re"));
	n = fread(out, 1, len - 1, lf);
	out[n] = '\0';
	fclose(lf);
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

/* Rounds of index 1 of region name (exported on the test's path) taken in
 * turn by a libshmclient client and by a QEMU (the first one when
 * qemu_first), while QEMU 0 at index 0 stays and rings it. */
static void
ivs_reuse_rounds(struct ivs *f, struct shmc *c, const char *name,
    bool qemu_first)
{
	struct shmc_region r;
	uint32_t pending;

	assert_int_equal(check_admin_create(f->fx.adm, name, 16), 0);
	ivs_export(f, name, "2");
	assert_int_equal(ivs_qemu(f, 0, 2), 0);
	for (int round = 0; round < 6; round++) {
		if ((round % 2 == 0) != qemu_first) {
			assert_int_equal(shmc_attach(c, name, 16, false, &r),
			    SHMC_GSS_OK);
			close(r.fd);
			assert_int_equal(r.index, 1);
			pending = 0;
			for (int i = 0; i < RING_TRIES && pending == 0; i++) {
				assert_int_equal(qtest_doorbell(&f->q[0], 1,
				    (unsigned)i % 2), 0);
				pending = ivs_client_wait(&f->fx, c,
				    r.client_id);
			}
			assert_int_equal(pending, 1u << 0);
			assert_int_equal(shmc_notify_direct(c, r.client_id,
			    1u << 0), 0);
			assert_true(qtest_msi_wait(&f->q[0], 0, 5000));
			assert_int_equal(shmc_detach(c, r.client_id), 0);
		} else {
			assert_int_equal(ivs_qemu(f, 1, 2), 1);
			ivs_ring_qemu(&f->q[0], 1, &f->q[1], 1);
			assert_false(qtest_msi_take(&f->q[1], 0));
			ivs_ring_qemu(&f->q[1], 0, &f->q[0], 1);
			qtest_kill(&f->q[1]);
		}
		assert_int_equal(check_admin_wait_clients(f->fx.adm, name, 1),
		    1);
	}
	assert_int_equal(qtest_ivposition(&f->q[0]), 0);	/* alive */
	assert_int_equal(ivs_ctl(f, NULL, 0, "unexport", name, NULL), 0);
	qtest_kill(&f->q[0]);
}

/*
 * One index taken in turn by QEMUs and by a libshmclient client while a
 * first QEMU stays: stock QEMU cannot be told an index again once told it
 * left, so the first QEMU learns index 1 once (from a client, or from a
 * QEMU) and its doorbells must still reach each new holder, of either
 * kind, on the right vector or with the right sender in the pending word.
 */
static void
test_index_reuse(void **state)
{
	struct ivs *f = *state;
	struct shmc *c;

	ivs_start(f, NULL);
	c = fixture_connect(&f->fx, f->fx.d.socket, "client");
	ivs_reuse_rounds(f, c, "reuse-a", false);
	ivs_reuse_rounds(f, c, "reuse-b", true);
}

/* The daemon's count of relayed QEMU doorbells. */
static unsigned long long
ivs_relayed(struct ivs *f)
{
	char out[4096], *p;

	assert_int_equal(ivs_ctl(f, out, sizeof(out), "stats", "--json",
	    NULL), 0);
	assert_non_null(p = strstr(out, "\"ivshmem_relayed\":"));
	return strtoull(p + strlen("\"ivshmem_relayed\":"), NULL, 10);
}

/*
 * A QEMU whose guest rings a member flat out (here a peer speaking QEMU's
 * protocol, ringing as fast as eventfd writes go) cannot keep the daemon
 * busy: the daemon passes at most a burst of rings per window on, and the
 * member still hears of the QEMU, with its bit in the pending word.
 */
static void
test_ring_flood(void **state)
{
	struct ivs *f = *state;
	struct shmc_region r;
	struct shmc *c;
	struct ivc q;
	unsigned long long before, after;
	uint32_t pending;
	pid_t pid;
	int ws;

	ivs_start(f, NULL);
	assert_int_equal(check_admin_create(f->fx.adm, "flood", 16), 0);
	ivs_export(f, "flood", "1");
	assert_int_equal(ivc_open(&q, f->path), 0);
	assert_int_equal(q.index, 0);
	c = fixture_connect(&f->fx, f->fx.d.socket, "client");
	assert_int_equal(fixture_attach(&f->fx, c, "flood", 16, false, &r),
	    SHMC_GSS_OK);
	assert_int_equal(ivc_until(&q, 1), 0);
	before = ivs_relayed(f);
	if ((pid = fork()) == 0) {
		int64_t end = harness_now_ms() + 500;
		uint64_t one = 1;

		while (harness_now_ms() < end)
			if (write(q.peer[1], &one, sizeof(one)) < 0)
				_exit(1);
		_exit(0);
	}
	assert_true(pid > 0);
	/* The daemon serves others all along. */
	for (int i = 0; i < 5; i++) {
		uint32_t regions, clients;

		check_admin_counts(f->fx.adm, &regions, &clients);
		assert_int_equal(clients, 2);
	}
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	harness_sleep_ms(50);
	after = ivs_relayed(f);
	/* 500 ms is 50 windows of 100 rings, plus the windows around */
	print_message("relayed %llu doorbells of a 500 ms flood\n",
	    after - before);
	assert_true(after - before >= 1);
	assert_true(after - before <= 53 * 100);
	pending = ivs_client_wait(&f->fx, c, r.client_id);
	assert_int_equal(pending, 1u << 0);
	ivc_close(&q);
}

/* QEMU aborts on a BAR that is not a power of two: refused up front, from
 * shmctl and from the configuration file, with the reason. */
static void
test_size_refused(void **state)
{
	struct ivs *f = *state;
	char out[2048], conf[512];

	ivs_start(f, NULL);
	assert_int_equal(check_admin_create(f->fx.adm, "odd", 768), 0);
	assert_int_equal(ivs_ctl(f, out, sizeof(out), "export", "odd",
	    "--ivshmem", f->path, NULL), 65);	/* EX_DATAERR */
	assert_int_equal(access(f->path, F_OK), -1);

	snprintf(conf, sizeof(conf), "[broker]\ntenancy = open\n"
	    "[region odd]\nsize = 3M\nivshmem = %s\n", f->path);
	assert_int_not_equal(ivs_daemon_refuses(f, conf, out, sizeof(out)),
	    0);
	assert_non_null(strstr(out, "refused.conf:3: [region odd] cannot be "
	    "exported to QEMU: its size is not a power of two"));
	assert_int_equal(access(f->path, F_OK), -1);
}

/* QEMU k, as uid:uid, is refused: it gives up while it sets up the
 * device, told EACCES. */
static void
ivs_qemu_refused(struct ivs *f, int k, uid_t uid)
{
	char why[512];
	int ws;

	assert_int_equal(qtest_start(&f->q[k], f->path, 1, uid, (gid_t)uid,
	    f->fx.dir), 0);
	ws = qtest_wait_exit(&f->q[k], 20000);
	assert_true(ws != -1 && !(WIFEXITED(ws) && WEXITSTATUS(ws) == 0));
	assert_non_null(strstr(qtest_stderr(&f->q[k], why, sizeof(why)),
	    "server sent version -13, expecting 0"));	/* EACCES */
}

/* A configured export; a QEMU of a tenant that may not use the region is
 * let go before it gets the memory, and counted. */
static void
test_tenant_denied(void **state)
{
	struct ivs *f = *state;
	char conf[1024], out[8192];

	snprintf(conf, sizeof(conf), "[broker]\n"
	    "[tenant acme]\nuid = 4301\nprefix = acme/\n"
	    "[tenant lab]\nuid = 4302\nprefix = lab/\n"
	    "[tenant root]\nuid = 0\n"
	    "[region acme/data]\nsize = 64K\nmode = 0666\nivshmem = %s\n"
	    "ivshmem_vectors = 1\n", f->path);
	ivs_start(f, conf);
	/* lab's QEMU: refused */
	ivs_qemu_refused(f, 0, 4302);
	assert_int_equal(check_admin_clients(f->fx.adm, "acme/data"), 0);
	/* acme's QEMU joins */
	assert_int_equal(ivs_qemu_as(f, 1, 1, 4301, 4301), 0);
	assert_int_equal(check_admin_clients(f->fx.adm, "acme/data"), 1);
	assert_int_equal(ivs_ctl(f, out, sizeof(out), "stats", "--json",
	    NULL), 0);
	assert_non_null(strstr(out, "\"ivshmem_refused\":1"));
	assert_non_null(strstr(out, "\"ivshmem_joins\":1"));
	assert_int_equal(ivs_ctl(f, out, sizeof(out), "show", "acme/data",
	    NULL), 0);
	assert_non_null(strstr(out, "configured"));
	assert_non_null(strstr(out, "4301"));
}

/*
 * A reload frees the tenants it replaces: a QEMU that joined before it
 * must not be charged through its old tenant when it is sent fds after
 * (the daemon read the freed tenant to find its share of fds in flight:
 * a reviewer's find, which AddressSanitizer shows). Its tenant's usage,
 * which outlives reloads, is what it keeps.
 */
static void
test_reload_then_join(void **state)
{
	struct ivs *f = *state;
	char conf[1024], msg[512];

	snprintf(conf, sizeof(conf), "[broker]\n"
	    "[tenant acme]\nuid = 4301\nprefix = acme/\n"
	    "[tenant root]\nuid = 0\n"
	    "[region acme/data]\nsize = 64K\nmode = 0666\nivshmem = %s\n"
	    "ivshmem_vectors = 2\n", f->path);
	ivs_start(f, conf);
	assert_int_equal(ivs_qemu_as(f, 0, 2, 4301, 4301), 0);
	/* A tenant more: the tenants are made anew. */
	strncat(conf, "[tenant lab]\nuid = 4302\n",
	    sizeof(conf) - strlen(conf) - 1);
	check_write_file(f->fx.conf, conf);
	assert_int_equal(check_admin_reload(f->fx.adm, msg, sizeof(msg)),
	    SHMBROKER__ERROR__ERR_NONE);
	/* The second QEMU's join sends its vectors to the first. */
	assert_int_equal(ivs_qemu_as(f, 1, 2, 4301, 4301), 1);
	assert_int_equal(check_admin_clients(f->fx.adm, "acme/data"), 2);
}

/* Lines of the daemon's log that contain what. */
static int
ivs_log_count(const struct ivs *f, const char *what)
{
	char line[1024];
	FILE *fp = fopen(f->fx.d.log, "re");
	int n = 0;

	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL)
		n += strstr(line, what) != NULL;
	fclose(fp);
	return n;
}

/* A QEMU of a tenant that may only read the region (an allow_ro rule, or
 * mode bits with read alone) would map the memfd for writing: it is
 * refused, with the reason in the log (once: anybody may knock, so
 * refusals are said at most once in LOG_REPEAT_MS, all counted), and the
 * region's owner joins. */
static void
test_read_only_refused(void **state)
{
	struct ivs *f = *state;
	char conf[1024], out[8192];

	snprintf(conf, sizeof(conf), "[broker]\n"
	    "[tenant reader]\nuid = 4303\nallow_ro = data\n"
	    "[tenant viewer]\nuid = 4304\n"
	    "[tenant root]\nuid = 0\n"
	    "[region data]\nsize = 64K\nmode = 0644\nivshmem = %s\n"
	    "ivshmem_vectors = 1\n", f->path);
	ivs_start(f, conf);
	ivs_qemu_refused(f, 0, 4303);
	ivs_qemu_refused(f, 1, 4304);
	assert_int_equal(check_admin_clients(f->fx.adm, "data"), 0);
	/* The second within LOG_REPEAT_MS is counted, not logged. */
	assert_int_equal(ivs_log_count(f, "the tenant may only read this "
	    "region"), 1);
	assert_int_equal(ivs_qemu(f, 2, 1), 0);
	assert_int_equal(check_admin_clients(f->fx.adm, "data"), 1);
	assert_int_equal(ivs_ctl(f, out, sizeof(out), "stats", "--json",
	    NULL), 0);
	assert_non_null(strstr(out, "\"ivshmem_refused\":2"));
	assert_non_null(strstr(out, "\"ivshmem_joins\":1"));
}

/* shmctl detach of a QEMU's client: the QEMU is let go as by unexport
 * (told its peers left, so its doorbell reaches no one), the client sees
 * it leave, and the export serves the next QEMU at the freed index. */
static void
test_detach_qemu(void **state)
{
	struct ivs *f = *state;
	struct shmc_region r;
	struct shmc *c;
	char out[4096];

	ivs_qemu_and_client(f, "dq", &c, &r);
	assert_int_equal(ivs_ctl(f, out, sizeof(out), "detach", "dq:0",
	    NULL), 0);
	assert_non_null(strstr(out, "detached client "));
	ivs_client_members(c, r.client_id, 0x2);
	assert_int_equal(check_admin_clients(f->fx.adm, "dq"), 1);
	assert_int_equal(qtest_doorbell(&f->q[0], 1, 0), 0);
	assert_int_equal(ivs_client_wait(&f->fx, c, r.client_id), 0);
	assert_int_equal(ivs_qemu(f, 1, 1), 0);
	ivs_client_members(c, r.client_id, 0x3);
}

/* The daemon's CPU time so far, in clock ticks (utime + stime). */
static long
ivs_cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* After the name: state, then fields 4 to 13, then utime, stime. */
	if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 2, "%*c %*d %*d "
	    "%*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (long)(ut + st);
}

/* Out of descriptors, a QEMU knocking at an export does not make the
 * daemon spin on accept: every listener rests a moment at a time, and
 * the QEMU joins once descriptors are free. */
static void
test_out_of_fds(void **state)
{
	static const struct harness_restart low = { .nofile = 64 };
	struct ivs *f = *state;
	int raw[80], n = 0;
	int64_t version = -1;
	long ticks;
	struct ivc q;

	f->fx.start_how = &low;
	ivs_start(f, NULL);
	assert_int_equal(check_admin_create(f->fx.adm, "nofd", 16), 0);
	ivs_export(f, "nofd", "1");
	while (n < 80 && fixture_log_lines(&f->fx, "out of file descriptors",
	    NULL) == 0) {
		assert_true((raw[n] = fixture_raw(&f->fx,
		    f->fx.d.socket)) >= 0);
		n++;
		usleep(n > 40 ? 20000 : 0);
	}
	assert_true(fixture_log_lines(&f->fx, "out of file descriptors",
	    NULL) > 0);
	/* A QEMU's connection waits in the export's backlog. */
	assert_int_equal(ivc_connect_only(&q, f->path), 0);
	ticks = ivs_cpu_ticks(f->fx.d.pid);
	sleep(1);
	ticks = ivs_cpu_ticks(f->fx.d.pid) - ticks;
	print_message("daemon CPU while out of fds: %ld ticks in 1 s\n",
	    ticks);
	assert_true(ticks >= 0 && ticks < sysconf(_SC_CLK_TCK) / 4);
	/* Paused every 100 ms, said once (LOG_REPEAT_MS). */
	assert_int_equal(fixture_log_lines(&f->fx, "out of file descriptors",
	    NULL), 1);
	while (n > 0)
		fixture_raw_close(&f->fx, raw[--n]);
	/* Then it is answered: welcomed, or, when the daemon took it in at
	 * a moment an fd was free but had none for its messages, told so
	 * with a version it cannot take; never left waiting. */
	assert_int_equal(setsockopt(q.sock, SOL_SOCKET, SO_RCVTIMEO,
	    &(struct timeval){ 5, 0 }, sizeof(struct timeval)), 0);
	assert_int_equal(recv(q.sock, &version, sizeof(version), MSG_PEEK |
	    MSG_WAITALL), sizeof(version));
	if (version == 0)
		assert_int_equal(ivc_welcome(&q), 0);
	else
		print_message("refused with version %lld\n",
		    (long long)version);
	ivc_close(&q);
}

/* A QEMU let go during its set-up (here: its 16 vectors are more fds
 * than the send queues may hold at a descriptor limit of 64; the daemon
 * runs as root, whose fds in flight the kernel does not cap, so that the
 * join is not refused earlier for its share) is told so
 * with a version it cannot take, and exits saying it; before, the daemon
 * closed the socket and stock QEMU waited on the end of the stream. */
static void
test_setup_refused(void **state)
{
	static const struct harness_restart low = { .nofile = 64 };
	struct ivs *f = *state;
	char why[512];
	int ws;

	f->fx.start_how = &low;
	ivs_start(f, NULL);
	assert_int_equal(check_admin_create(f->fx.adm, "many", 16), 0);
	ivs_export(f, "many", "16");
	assert_int_equal(qtest_start(&f->q[0], f->path, 16, (uid_t)-1,
	    (gid_t)-1, f->fx.dir), 0);
	ws = qtest_wait_exit(&f->q[0], 20000);
	qtest_stderr(&f->q[0], why, sizeof(why));
	if (ws == -1)
		fail_msg("QEMU did not exit: %s", why);
	assert_non_null(strstr(why, "server sent version -105"));  /* ENOBUFS */
	assert_int_equal(ivs_log_count(f, "send queues hold"), 1);
}

/* A peer that sends bytes (a QEMU never does) is let go, its index
 * freed, instead of being read as fast as it writes. */
static void
test_peer_sends(void **state)
{
	struct ivs *f = *state;
	struct ivc q, again;
	char buf[64];
	ssize_t n;

	ivs_start(f, NULL);
	assert_int_equal(check_admin_create(f->fx.adm, "talk", 16), 0);
	ivs_export(f, "talk", "1");
	assert_int_equal(ivc_open(&q, f->path), 0);
	assert_int_equal(setsockopt(q.sock, SOL_SOCKET, SO_RCVTIMEO,
	    &(struct timeval){ 5, 0 }, sizeof(struct timeval)), 0);
	assert_int_equal(write(q.sock, "hello", 5), 5);
	while ((n = read(q.sock, buf, sizeof(buf))) > 0)
		continue;
	assert_int_equal(n, 0);		/* closed, not timed out */
	ivc_close(&q);
	assert_int_equal(ivc_open(&again, f->path), 0);
	assert_int_equal(again.index, 0);
	ivc_close(&again);
	assert_int_equal(fixture_log_lines(&f->fx, "sent bytes", NULL), 1);
}

#define REGION_PEERS 16		/* a region's clients */
#define UNREAD_UID 4306		/* the peer that never reads */
#define UNREAD_ROUNDS 300

/* In a child as UNREAD_UID: UNREAD_ROUNDS joins, each of which takes
 * only the first message (the version: the fds come after it) and shuts
 * its writing side, which the daemon takes for the QEMU going; the
 * sockets stay open, their fds unread. Reports joins << 16 | refusals
 * on out, then waits to be killed. */
static void
unread_peer(const char *path, int out)
{
	uint32_t joins = 0, refused = 0, rep;
	int64_t version;

	/* Gone with the test, and after a minute in any case. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	alarm(60);
	if (setgroups(0, NULL) < 0 || setgid(UNREAD_UID) < 0 ||
	    setuid(UNREAD_UID) < 0)
		_exit(90);
	for (int i = 0; i < UNREAD_ROUNDS; i++) {
		struct ivc q;

		if (ivc_connect_only(&q, path) < 0)
			_exit(91);
		if (recv(q.sock, &version, sizeof(version), MSG_WAITALL) !=
		    (ssize_t)sizeof(version))
			_exit(92);
		if (version < 0) {
			refused++;
			close(q.sock);
			continue;
		}
		joins++;
		shutdown(q.sock, SHUT_WR);	/* q.sock stays open */
		usleep(200);
	}
	rep = joins << 16 | refused;
	if (write(out, &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
		_exit(93);
	pause();
	_exit(0);
}

/*
 * The kernel counts every fd the daemon has sent and its peer not yet
 * read against the daemon's descriptor limit (under the unit, which
 * gives it no CAP_SYS_RESOURCE), and past it every fd the daemon sends
 * fails. QEMUs that go without reading theirs, again and again, used to
 * reach it (a reviewer's find): another uid's VMM attaches then failed.
 * The sockets of such QEMUs are now kept and counted to their uid, whose
 * later QEMUs are refused past its share; the other uid attaches.
 */
/* The daemon as under its unit (a uid of its own, no capabilities: the
 * kernel caps its fds in flight at its limit of nofile), region name
 * made and exported with vectors. */
static void
ivs_start_unit_like(struct ivs *f, const struct harness_restart *how,
    const char *name, const char *vectors)
{
	assert_int_equal(chown(f->sockdir, how->uid, how->uid), 0);
	f->fx.start_how = how;
	ivs_start(f, "[broker]\ntenancy = open\n");
	assert_int_equal(check_admin_create(f->fx.adm, name, 16), 0);
	ivs_export(f, name, vectors);
}

static void
test_unread_fds(void **state)
{
	static const struct harness_restart unit_like = { .nofile = 512,
	    .no_caps = true, .uid = 2003 };
	struct ivs *f = *state;
	struct shmc_region r;
	struct shmc *c;
	uint32_t rep = 0;
	int sv[2], st = -1;
	pid_t pid;

	ivs_start_unit_like(f, &unit_like, "unread", "1");
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	if ((pid = fork()) == 0) {
		close(sv[0]);
		unread_peer(f->path, sv[1]);
	}
	close(sv[1]);
	assert_true(pid > 0);
	/* While its sockets stay open: nothing asserted until it is gone. */
	if (read(sv[0], &rep, sizeof(rep)) == (ssize_t)sizeof(rep) &&
	    (c = fixture_connect(&f->fx, f->fx.d.socket, "other uid")) != NULL)
		st = fixture_attach(&f->fx, c, "other", 1, true, &r);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(sv[0]);
	print_message("the peer that never reads: %u joins, %u refused; "
	    "another uid's attach: %d\n", rep >> 16, rep & 0xffff, st);
	/* Its share is 1/8 of 512 fds, 2 a join: about 32. */
	assert_true((rep >> 16) < 64 && (rep & 0xffff) > 0);
	assert_int_equal(st, SHMC_GSS_OK);
}

/*
 * QEMUs that read everything they are sent do not keep their fds in the
 * books that VMM connections send by: a region full of them, as under
 * the unit (its own uid, no caps; 1024 fds: 128 a uid), and then a VMM of
 * the same uid attaches. Counted as sent and let go only when a QEMU
 * joined, they once made every VMM reply with fds wait for good.
 */
/* Reads all q's socket holds now, as a QEMU does, closing the fds. */
static void
ivs_read_all(int sock)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} u;
	int64_t v;

	for (;;) {
		struct iovec iov = { &v, sizeof(v) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
		    .msg_control = u.b, .msg_controllen = sizeof(u.b) };
		struct cmsghdr *c;

		if (recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) <= 0)
			return;
		for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c))
			for (size_t i = 0; c->cmsg_type == SCM_RIGHTS &&
			    i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int),
				    sizeof(fd));
				close(fd);
			}
	}
}

static void
test_read_fds_let_go(void **state)
{
	static const struct harness_restart unit_like = { .nofile = 1024,
	    .no_caps = true, .uid = 2003 };
	struct ivs *f = *state;
	struct ivc q[REGION_PEERS];
	struct shmc_region r;
	struct shmc *c;
	int n;

	/* 6 vectors: the last to join is sent 97 fds and the others 90,
	 * past the uid's share of 128. */
	ivs_start_unit_like(f, &unit_like, "full", "6");
	for (n = 0; n < REGION_PEERS; n++) {
		if (ivc_open(&q[n], f->path) < 0)
			break;
		usleep(20000);	/* what the daemon sends the others */
		for (int k = 0; k <= n; k++)
			ivs_read_all(q[k].sock);
	}
	print_message("%d QEMUs joined and read all\n", n);
	assert_int_equal(n, REGION_PEERS);
	c = fixture_connect(&f->fx, f->fx.d.socket, "same uid");
	assert_non_null(c);
	shmc_set_timeout(c, 2000);
	for (int i = 0; i < 8; i++) {
		char name[16];

		snprintf(name, sizeof(name), "vmm%d", i);
		assert_int_equal(fixture_attach(&f->fx, c, name, 1, true, &r),
		    SHMC_GSS_OK);
	}
	while (n > 0)
		ivc_close(&q[--n]);
}

/*
 * A start that fails on the file (an export in a missing directory, exit
 * 78) used to take the exports it had already served again from the fd
 * store out of it, and unlink their sockets: an admin's export was gone
 * for good once the file was fixed (a reviewer's find). Now what came
 * back from the store stays there, as at a shutdown.
 */
static void
test_failed_start_keeps_exports(void **state)
{
	struct ivs *f = *state;
	const char *names[FAKESTORE_MAX];
	int fds[FAKESTORE_MAX];
	struct harness_restart how = { .fds = fds, .fdnames = names };
	char conf[256], bad[768];
	struct stat st;

	assert_int_equal(fakestore_open(&f->fs, f->fx.dir), 0);
	snprintf(conf, sizeof(conf), "[broker]\ntenancy = open\n"
	    "fd_store = yes\n");
	ivs_start(f, conf);
	assert_int_equal(check_admin_create(f->fx.adm, "made", 16), 0);
	ivs_export(f, "made", "1");
	fakestore_stop(&f->fs, &f->fx);
	assert_int_equal(fakestore_count(&f->fs, "x."), 1);

	snprintf(bad, sizeof(bad), "%s[region bad]\nsize = 64K\n"
	    "ivshmem = %s/missing/x.sock\n", conf, f->fx.dir);
	check_write_file(f->fx.conf, bad);
	for (int i = 0; i < f->fs.nst; i++) {
		fds[i] = f->fs.st[i].fd;
		names[i] = f->fs.st[i].name;
	}
	how.nfds = f->fs.nst;
	assert_int_equal(fixture_restart(&f->fx, &how), -1);
	/* It may have listened before it read [region bad], so that the
	 * harness did not see it go: it exits 78 by itself, unless a
	 * SIGTERM of the next start catches it on its way out. */
	if (f->fx.d.pid > 0)
		assert_int_equal(harness_end_daemon(&f->fx.d, 0), 78);
	fakestore_collect(&f->fs);
	assert_int_equal(fakestore_count(&f->fs, "x."), 1);
	assert_int_equal(stat(f->path, &st), 0);

	/* The file fixed: the admin's export is served again. */
	check_write_file(f->fx.conf, conf);
	fakestore_start(&f->fs, &f->fx);
	assert_int_equal(ivs_qemu(f, 0, 1), 0);
}

/*
 * Two fd-store entries of one export: systemd removes every entry of a
 * name at once, so dropping the second took the served one's entry, and
 * the export was gone after the next restart (a reviewer's find). It is
 * now put back; a QEMU joins after two restarts.
 */
static void
test_export_entry_twice(void **state)
{
	struct ivs *f = *state;
	int n;

	assert_int_equal(fakestore_open(&f->fs, f->fx.dir), 0);
	ivs_start(f, "[broker]\ntenancy = open\nfd_store = yes\n");
	assert_int_equal(check_admin_create(f->fx.adm, "made", 16), 0);
	ivs_export(f, "made", "1");
	fakestore_stop(&f->fs, &f->fx);
	assert_int_equal(fakestore_count(&f->fs, "x."), 1);
	for (n = 0; strncmp(f->fs.st[n].name, "x.", 2) != 0; n++)
		;
	assert_true(f->fs.nst < FAKESTORE_MAX);
	f->fs.st[f->fs.nst] = f->fs.st[n];
	assert_true((f->fs.st[f->fs.nst++].fd = dup(f->fs.st[n].fd)) >= 0);
	fakestore_start(&f->fs, &f->fx);
	fakestore_collect(&f->fs);
	assert_int_equal(fakestore_count(&f->fs, "x."), 1);
	fakestore_restart(&f->fs, &f->fx);
	assert_int_equal(ivs_qemu(f, 0, 1), 0);
}

/*
 * A VMM's guest region that takes the name of a configured region (one
 * an admin destroyed, or a [region] a reload adds) is not the configured
 * one: a reload used to export it on the configured socket, where QEMUs
 * joined the guest's region under its VMM's access rules instead of the
 * file's (a reviewer's find). Now it is not exported, and the daemon
 * says why.
 */
static void
test_configured_name_taken(void **state)
{
	struct ivs *f = *state;
	struct shmc_region r;
	struct shmc *c;
	char conf[512], msg[512];
	struct stat st;

	ivs_start(f, "[broker]\ntenancy = open\n");
	c = fixture_connect(&f->fx, f->fx.d.socket, "squatter");
	assert_non_null(c);
	assert_int_equal(fixture_attach(&f->fx, c, "telemetry", 1, true, &r),
	    SHMC_GSS_OK);
	snprintf(conf, sizeof(conf), "[broker]\ntenancy = open\n"
	    "[region telemetry]\nsize = 64K\nivshmem = %s\n", f->path);
	check_write_file(f->fx.conf, conf);
	assert_int_equal(check_admin_reload(f->fx.adm, msg, sizeof(msg)),
	    SHMBROKER__ERROR__ERR_NONE);
	assert_int_equal(stat(f->path, &st), -1);
	assert_int_equal(fixture_log_lines(&f->fx, "region telemetry of the "
	    "configuration is a guest region", NULL), 1);
}

/* 16 clients of every kind (QEMUs, libshmclient clients and, with KVM,
 * shm-vm guests); the 17th QEMU or client is refused. */
static void
test_sixteen(void **state)
{
	struct ivs *f = *state;
	const char *name = E2E_KILL_NAME;	/* e2e_kill_v holds a client */
	int nguests = harness_kvm_opens() ? 2 : 0, nqemu = 12 - nguests;
	struct shmc_region r[5];
	struct shmc *c;
	char why[512], line[64];
	int ws;

	ivs_start(f, NULL);
	assert_int_equal(check_admin_create(f->fx.adm, name, 16), 0);
	ivs_export(f, name, "1");
	c = fixture_connect(&f->fx, f->fx.d.socket, "clients");
	for (int i = 0; i < nqemu; i++)
		assert_int_equal(ivs_qemu(f, i, 1), i);
	for (int i = 0; i < nguests; i++) {
		vmproc_start(&f->vms[i], f->fx.d.socket, "e2e_kill_v", NULL);
		snprintf(line, sizeof(line), "V: attached: idx=%d,",
		    nqemu + i);
		vmproc_wait_for(&f->vms[i], line);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(fixture_attach(&f->fx, c, name, 16, false,
		    &r[i]), SHMC_GSS_OK);
		assert_int_equal(r[i].index, 12 + i);
	}
	assert_int_equal(fixture_attach(&f->fx, c, name, 16, false, &r[4]),
	    SHMC_GSS_CLIENT_MAX);
	assert_int_equal(qtest_start(&f->q[12], f->path, 1, (uid_t)-1, 0,
	    f->fx.dir), 0);
	ws = qtest_wait_exit(&f->q[12], 20000);
	assert_true(ws != -1 && !(WIFEXITED(ws) && WEXITSTATUS(ws) == 0));
	assert_non_null(strstr(qtest_stderr(&f->q[12], why, sizeof(why)),
	    "server sent version -28, expecting 0"));	/* ENOSPC */
	/* A QEMU that goes frees its index for either kind. */
	qtest_kill(&f->q[5]);
	assert_int_equal(check_admin_wait_clients(f->fx.adm, name, 15), 15);
	assert_int_equal(fixture_attach(&f->fx, c, name, 16, false, &r[4]),
	    SHMC_GSS_OK);
	assert_int_equal(r[4].index, 5);
}

/* unexport: the socket goes, its QEMUs leave every member's view, and a
 * region with no export left is not served to QEMU. */
static void
test_unexport(void **state)
{
	struct ivs *f = *state;
	struct shmc_region r;
	struct shmc *c;
	char out[4096];

	ivs_qemu_and_client(f, "un", &c, &r);
	assert_int_equal(ivs_ctl(f, out, sizeof(out), "unexport", "un", NULL),
	    0);
	assert_non_null(strstr(out, "1 export closed"));
	assert_int_equal(access(f->path, F_OK), -1);
	ivs_client_members(c, r.client_id, 0x2);
	/* The QEMU was told the client left: its doorbell reaches no one. */
	assert_int_equal(qtest_doorbell(&f->q[0], 1, 0), 0);
	assert_int_equal(ivs_client_wait(&f->fx, c, r.client_id), 0);
	assert_int_equal(ivs_ctl(f, out, sizeof(out), "unexport", "un", NULL),
	    65);	/* EX_DATAERR: nothing to close */
	assert_int_equal(ivs_ctl(f, out, sizeof(out), "show", "un", NULL), 0);
	assert_null(strstr(out, "ivshmem:"));
}

/*
 * A QEMU's side of an export sends nothing; fds sent there were dropped
 * by the kernel inside the daemon's read(2), so their last close ran in
 * the daemon, where a lingering socket stopped it for everyone (a
 * reviewer's find, as on the VMM socket: test_robustness). The kernel
 * refuses them where it can; the reaper closes them where it cannot,
 * which the second round runs as on a kernel without SO_PASSRIGHTS.
 */
static void
test_qemu_side_fds(void **state)
{
	struct ivs *f = *state;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char byte = 0, out[4096];

	for (int round = 0; round < 2; round++) {
		int s, fd, sink, rc;

		if (round == 1) {
			assert_int_equal(fixture_stop(&f->fx), 0);
			setenv("SHMBROKER_TEST_NO_PASSRIGHTS", "1", 1);
		}
		ivs_start(f, NULL);
		unsetenv("SHMBROKER_TEST_NO_PASSRIGHTS");
		assert_int_equal(ivs_ctl(f, out, sizeof(out), "create", "qs",
		    "1M", NULL), 0);
		ivs_export(f, "qs", "1");
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f->path);
		s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_int_equal(connect(s, (struct sockaddr *)&sun,
		    sizeof(sun)), 0);
		fd = check_lingering_socket(&sink);
		/* Stopped until this copy is closed: the daemon's is last. */
		assert_int_equal(kill(f->fx.d.pid, SIGSTOP), 0);
		rc = wire_send(s, &byte, 1, &fd, 1);
		if (rc == -EPERM)
			check_unlinger(fd);
		close(fd);
		close(s);
		assert_int_equal(kill(f->fx.d.pid, SIGCONT), 0);
		assert_true(rc == 0 || (rc == -EPERM && round == 0));
		print_message("round %d: the kernel %s the fd\n", round,
		    rc == 0 ? "passed" : "refused");
		assert_int_equal(ivs_ctl(f, out, sizeof(out), "list", NULL), 0);
		close(sink);
	}
}

/*
 * An export is never served on a socket another process serves, whatever
 * its type: shmctl export on the daemon's own admin or VMM socket (both
 * SOCK_SEQPACKET, which a stream probe once took for stale) is refused,
 * and both sockets still answer.
 */
static void
test_export_on_live_socket(void **state)
{
	struct ivs *f = *state;
	const char *paths[] = { f->fx.d.admin_socket, f->fx.d.socket };
	char out[4096];

	ivs_start(f, NULL);
	assert_int_equal(ivs_ctl(f, out, sizeof(out), "create", "live", "1M",
	    NULL), 0);
	for (int i = 0; i < 2; i++) {
		int rc = ivs_ctl(f, out, sizeof(out), "export", "live",
		    "--ivshmem", paths[i], NULL);

		if (rc != 65)	/* EX_DATAERR: refused, with why on stderr */
			fail_msg("export on %s: status %d: %s", paths[i], rc,
			    out);
	}
	assert_int_equal(ivs_ctl(f, out, sizeof(out), "list", NULL), 0);
	assert_non_null(strstr(out, "live"));
	close(check_raw_connect(f->fx.d.socket));
}

/*
 * A daemon restart with the fd store: the region's memory stays, and so
 * does every QEMU's mapping of it, but a QEMU cannot connect again by
 * itself (its device reads the server once, while QEMU starts): it is no
 * longer a member. Every export stays served: its socket waits in the fd
 * store, where a QEMU that starts while no daemon runs waits in its
 * backlog, and joins when the daemon is back.
 */
static void
test_daemon_restart(void **state)
{
	struct ivs *f = *state;
	struct shmc_region r;
	struct shmc *c;
	uint8_t *mem;
	char conf[512], buf[32] = "", out[4096], adm_path[128];
	uint32_t idx;
	bool same;

	assert_int_equal(fakestore_open(&f->fs, f->fx.dir), 0);
	snprintf(conf, sizeof(conf), "[broker]\ntenancy = open\n"
	    "fd_store = yes\n[region keep]\nsize = 2M\nivshmem = %s\n",
	    f->path);
	ivs_start(f, conf);
	snprintf(adm_path, sizeof(adm_path), "%s/admin-made.sock",
	    f->sockdir);
	assert_int_equal(check_admin_create(f->fx.adm, "made", 16), 0);
	assert_int_equal(ivs_ctl(f, NULL, 0, "export", "made", "--ivshmem",
	    adm_path, NULL), 0);
	assert_int_equal(ivs_qemu(f, 0, 1), 0);
	c = fixture_connect(&f->fx, f->fx.d.socket, "client");
	shmc_set_reconnect(c, 5000);
	assert_int_equal(fixture_attach(&f->fx, c, "keep", 512, false, &r),
	    SHMC_GSS_OK);
	assert_int_equal(r.index, 1);
	mem = fixture_map(&f->fx, &r);
	fakestore_collect(&f->fs);
	assert_int_equal(fakestore_count(&f->fs, "x."), 2);

	/* While no daemon runs, a QEMU starts on the admin's export. */
	fakestore_stop(&f->fs, &f->fx);
	assert_int_equal(qtest_start(&f->q[2], adm_path, 1, (uid_t)-1, 0,
	    f->fx.dir), 0);
	fakestore_start(&f->fs, &f->fx);
	assert_int_equal(qtest_setup(&f->q[2]), 0);
	assert_int_equal(qtest_ivposition(&f->q[2]), 0);
	assert_int_equal(check_admin_clients(f->fx.adm, "made"), 1);

	/* The client comes back as itself, on the same memory; the first
	 * QEMU is not a member any more, but it still runs on that memory. */
	ivs_client_members(c, r.client_id, 0x2);
	assert_int_equal(shmc_attachment_info(c, r.client_id, &idx, &same),
	    0);
	assert_int_equal(idx, 1);
	assert_true(same);
	assert_int_equal(qtest_mem_write(&f->q[0], 0x300, "after restart",
	    14), 0);
	assert_string_equal((const char *)mem + 0x300, "after restart");
	assert_int_equal(check_admin_clients(f->fx.adm, "keep"), 1);
	assert_int_equal(ivs_ctl(f, out, sizeof(out), "show", "keep", NULL),
	    0);
	assert_non_null(strstr(out, "configured"));

	/* The operator restarts that QEMU: it joins, on the same memory. */
	qtest_kill(&f->q[0]);
	assert_int_equal(ivs_qemu(f, 1, 1), 0);
	assert_int_equal(qtest_mem_read(&f->q[1], 0x300, buf, 14), 0);
	assert_string_equal(buf, "after restart");
	ivs_client_members(c, r.client_id, 0x3);

	/* unexport takes the socket out of the store for good. */
	assert_int_equal(ivs_ctl(f, NULL, 0, "unexport", "made", NULL), 0);
	fakestore_collect(&f->fs);
	assert_int_equal(fakestore_count(&f->fs, "x."), 1);
}

/*
 * A QNX-interface guest in shm-vm and a QEMU: bytes both ways, the guest's
 * notify reaches the QEMU's vector 0, the QEMU's doorbell reaches the guest
 * with the QEMU's bit in its status, and the guest sees the QEMU leave.
 */
static void
test_guest_and_qemu(void **state)
{
	struct ivs *f = *state;
	char buf[32] = "";
	bool rung = false;

	check_need_kvm();
	ivs_start(f, NULL);
	assert_int_equal(check_admin_create(f->fx.adm, E2E_QEMU_NAME,
	    E2E_QEMU_PAGES), 0);
	ivs_export(f, E2E_QEMU_NAME, "1");
	assert_int_equal(ivs_qemu(f, 0, 1), 0);
	vmproc_start(&f->vm, f->fx.d.socket, "e2e_qemu", NULL);
	vmproc_wait_for(&f->vm, "G: notified every other client\n");
	assert_true(qtest_msi_wait(&f->q[0], 0, 10000));
	assert_int_equal(qtest_mem_read(&f->q[0], E2E_QEMU_FROM_GUEST, buf,
	    sizeof(E2E_QEMU_GUEST_TEXT)), 0);
	assert_string_equal(buf, E2E_QEMU_GUEST_TEXT);
	assert_int_equal(qtest_mem_write(&f->q[0], E2E_QEMU_FROM_QEMU,
	    E2E_QEMU_QEMU_TEXT, sizeof(E2E_QEMU_QEMU_TEXT)), 0);
	/* Once rung, the guest prints; ring again only until it has. */
	for (int i = 0; i < RING_TRIES && !rung; i++) {
		assert_int_equal(qtest_doorbell(&f->q[0], 1, 0), 0);
		vmproc_pump(&f->vm, 100);
		rung = strstr(f->vm.outbuf, "G: doorbell:") != NULL;
	}
	vmproc_wait_for(&f->vm, "G: QEMU wrote: " E2E_QEMU_QEMU_TEXT "\n");
	qtest_kill(&f->q[0]);
	vmproc_expect(&f->vm, 0,
	    "G: attached: idx=1 active=0x3\n"
	    "G: notified every other client\n"
	    "G: doorbell: pending=0x1\n"
	    "G: QEMU wrote: " E2E_QEMU_QEMU_TEXT "\n"
	    "G: QEMU left: active=0x2\n", false);
	assert_int_equal(check_admin_wait_clients(f->fx.adm, E2E_QEMU_NAME,
	    0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_two_qemus, ivs_setup,
		    ivs_teardown),
		cmocka_unit_test_setup_teardown(test_qemu_and_client,
		    ivs_setup, ivs_teardown),
		cmocka_unit_test_setup_teardown(test_index_reuse, ivs_setup,
		    ivs_teardown),
		cmocka_unit_test_setup_teardown(test_ring_flood, ivs_setup,
		    ivs_teardown),
		cmocka_unit_test_setup_teardown(test_size_refused, ivs_setup,
		    ivs_teardown),
		cmocka_unit_test_setup_teardown(test_reload_then_join,
		    ivs_setup, ivs_teardown),
		cmocka_unit_test_setup_teardown(test_tenant_denied, ivs_setup,
		    ivs_teardown),
		cmocka_unit_test_setup_teardown(test_read_only_refused,
		    ivs_setup, ivs_teardown),
		cmocka_unit_test_setup_teardown(test_out_of_fds, ivs_setup,
		    ivs_teardown),
		cmocka_unit_test_setup_teardown(test_peer_sends, ivs_setup,
		    ivs_teardown),
		cmocka_unit_test_setup_teardown(test_setup_refused, ivs_setup,
		    ivs_teardown),
		cmocka_unit_test_setup_teardown(test_unread_fds, ivs_setup,
		    ivs_teardown),
		cmocka_unit_test_setup_teardown(test_read_fds_let_go, ivs_setup,
		    ivs_teardown),
		cmocka_unit_test_setup_teardown(test_sixteen, ivs_setup,
		    ivs_teardown),
		cmocka_unit_test_setup_teardown(test_configured_name_taken,
		    ivs_setup, ivs_teardown),
		cmocka_unit_test_setup_teardown(test_failed_start_keeps_exports,
		    ivs_setup, ivs_teardown),
		cmocka_unit_test_setup_teardown(test_export_entry_twice,
		    ivs_setup, ivs_teardown),
		cmocka_unit_test_setup_teardown(test_qemu_side_fds, ivs_setup,
		    ivs_teardown),
		cmocka_unit_test_setup_teardown(test_export_on_live_socket,
		    ivs_setup, ivs_teardown),
		cmocka_unit_test_setup_teardown(test_unexport, ivs_setup,
		    ivs_teardown),
		cmocka_unit_test_setup_teardown(test_detach_qemu, ivs_setup,
		    ivs_teardown),
		cmocka_unit_test_setup_teardown(test_daemon_restart,
		    ivs_setup, ivs_teardown),
		cmocka_unit_test_setup_teardown(test_guest_and_qemu,
		    ivs_setup, ivs_teardown),
	};

	if (!qtest_available()) {
		fprintf(stderr, "test_ivshmem: %s with ivshmem-doorbell is not "
		    "installed (apt-get install qemu-system-x86): skipped\n",
		    QTEST_QEMU);
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
