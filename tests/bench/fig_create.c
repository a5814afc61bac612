/* SPDX-License-Identifier: ISC */
/*
 * fig_create: create_{hugetlb,shmem}_{2M,64M}, the daemon's time to create
 * a region of that size (its memory and registry entry, as the daemon
 * measures it and returns in AdminCreateReply.create_ns), against the floor
 * memfd_{hugetlb,shmem}_SIZE: the same memfd work done bare (memfd_create,
 * ftruncate, F_ADD_SEALS, and for hugetlb an mmap MAP_SHARED and munmap,
 * which is what reserves the pool's pages), timed in a server process that
 * a request wakes, as the daemon is (memfd_server). The request/reply
 * round trip around it is attach_rtt's subject; its p50 here goes in the
 * note. hugetlb figures run on a daemon with --hugepages require and need
 * the pool that pool.c prepares; shmem ones on a daemon with --hugepages
 * never.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "shmclient_admin.h"
#include "wire.h"

#define CREATE_ITERS 3000
#define CREATE_ITERS_QUICK 200
#define CREATE_CHUNK 100
#define CREATE_TARGET 1.2
#define PAGE 4096u
#define MIB (1024u * 1024u)

struct create_case {
	const char *name;
	const char *floor;
	uint64_t bytes;
	bool huge;
};

static const struct create_case cases[] = {
	{ "create_hugetlb_2M", "memfd_hugetlb_2M", 2 * MIB, true },
	{ "create_hugetlb_64M", "memfd_hugetlb_64M", 64 * MIB, true },
	{ "create_shmem_2M", "memfd_shmem_2M", 2 * MIB, false },
	{ "create_shmem_64M", "memfd_shmem_64M", 64 * MIB, false },
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* What the pool must hold free: the largest region plus the smallest. */
#define POOL_NEED (64 * MIB + 2 * MIB)

struct create_run {
	struct shmc *adm;
	const struct create_case *cc;	/* the figure being measured */
	uint32_t seq;
	struct samples fig, flo, rpc;
	int floor_sock;		/* the floor's server (memfd_server) */
	char err[320];
};

/* The memory work of a create, timed; the memfd, or -errno. */
static int
memfd_make(uint64_t bytes, bool huge, uint64_t *ns)
{
	unsigned int flags = MFD_CLOEXEC | MFD_ALLOW_SEALING |
	    (huge ? MFD_HUGETLB : 0);
	uint64_t t0 = bench_now_ns();
	int fd = memfd_create("shmbench-floor", flags), err = 0;
	void *p;

	if (fd < 0)
		return -errno;
	/* Only hugetlb needs the mapping (it reserves the pool's pages, as
	 * the daemon's does); a shmem create has none to do, and a floor
	 * that did one would flatter the figure (it made the ratio 0.54). */
	if (ftruncate(fd, (off_t)bytes) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
	    F_SEAL_SEAL) < 0)
		err = -errno;
	else if (huge && (p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
	    MAP_SHARED, fd, 0)) == MAP_FAILED)
		err = -errno;
	else if (huge)
		munmap(p, bytes);
	*ns = bench_now_ns() - t0;
	if (err < 0) {
		close(fd);
		return err;
	}
	return fd;
}

/*
 * The floor's server. The daemon times its create between a request that
 * woke it and its reply, and frees the region at the next request (the
 * destroy): a loop of creates in this process, back to back with nothing
 * between, ran with every cache and TLB warm, which a daemon woken by a
 * request never has (the same calls took 14 us there and 21 us in the
 * daemon). So the floor's memory work runs the same way: in a process
 * pinned as the daemon, woken by a request, timing the same calls, and
 * closing the memfd at the next request. guest_create_usable's floor
 * takes its memfd part from the same server.
 */
struct memfd_req {
	uint64_t bytes;
	uint8_t huge;		/* or BENCH_MEMFD_CLOSE: the close alone */
};

static void __attribute__((noreturn))
memfd_server(int sock)
{
	struct memfd_req q;
	int64_t reply;
	uint64_t ns = 0;
	int fd = -1;

	while (recv(sock, &q, sizeof(q), 0) == (ssize_t)sizeof(q)) {
		if (fd >= 0)
			close(fd);
		fd = -1;
		reply = 0;
		if (q.huge != BENCH_MEMFD_CLOSE) {
			fd = memfd_make(q.bytes, q.huge != 0, &ns);
			reply = fd >= 0 ? (int64_t)ns : fd;	/* or -errno */
		}
		if (send(sock, &reply, sizeof(reply), MSG_NOSIGNAL) !=
		    (ssize_t)sizeof(reply))
			_exit(1);
	}
	_exit(0);
}

int
bench_memfd_server_start(struct bench *b, int *sock, pid_t *pid)
{
	return bench_fork_server(b, memfd_server, sock, pid);
}

int
bench_memfd_server_call(int sock, uint64_t bytes, int huge, uint64_t *ns)
{
	struct memfd_req q = { .bytes = bytes, .huge = (uint8_t)huge };
	int64_t reply;

	if (send(sock, &q, sizeof(q), MSG_NOSIGNAL) != (ssize_t)sizeof(q))
		return -errno;
	if (recv(sock, &reply, sizeof(reply), 0) != (ssize_t)sizeof(reply))
		return -EPROTO;
	if (reply < 0)
		return (int)reply;
	*ns = (uint64_t)reply;
	return 0;
}

/* The outcome of an admin call that returned rc: the reply must be want. */
static int
admin_reply(struct create_run *r, int rc, int want,
    Shmbroker__ServerMessage **reply)
{
	if (rc < 0) {
		snprintf(r->err, sizeof(r->err), "%s", shmc_error(r->adm));
		return rc;
	}
	if ((*reply)->error != SHMBROKER__ERROR__ERR_NONE ||
	    (int)(*reply)->body_case != want) {
		snprintf(r->err, sizeof(r->err), "%s: %s",
		    wire_error_name((int)(*reply)->error), (*reply)->message);
		shmbroker__server_message__free_unpacked(*reply, NULL);
		*reply = NULL;
		return -EPROTO;
	}
	return 0;
}

static int
admin_destroy(struct create_run *r, const char *name)
{
	Shmbroker__ServerMessage *m = NULL;
	int rc = shmc_admin_destroy(r->adm, name, false, &m);

	rc = admin_reply(r, rc, SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_DESTROY,
	    &m);
	if (rc == 0)
		shmbroker__server_message__free_unpacked(m, NULL);
	return rc;
}

static int
create_once(struct create_run *r, const struct create_case *cc, uint64_t *ns,
    uint64_t *rpc_ns)
{
	Shmbroker__ServerMessage *m = NULL;
	Shmbroker__Backing want = cc->huge ?
	    SHMBROKER__BACKING__BACKING_HUGETLB :
	    SHMBROKER__BACKING__BACKING_SHMEM;
	char name[32];
	uint64_t t0, t1;
	int rc;

	snprintf(name, sizeof(name), "bench-c%u", r->seq++);
	t0 = bench_now_ns();
	rc = shmc_admin_create(r->adm, name, (uint32_t)(cc->bytes / PAGE), &m);
	t1 = bench_now_ns();
	if ((rc = admin_reply(r, rc,
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_CREATE, &m)) < 0)
		return rc;
	if (m->admin_create->region == NULL ||
	    m->admin_create->region->backing != want) {
		snprintf(r->err, sizeof(r->err), "region %s was not created "
		    "with %s backing", name, cc->huge ? "hugetlb" : "shmem");
		rc = -EPROTO;
	}
	*ns = m->admin_create->create_ns;
	shmbroker__server_message__free_unpacked(m, NULL);
	if (rc == 0)
		rc = admin_destroy(r, name);
	*rpc_ns = t1 - t0;
	return rc;
}

/* Up to n iterations of the floor and of the figure of r->cc. */
static int
create_chunk(void *ctx, size_t n, bool keep)
{
	struct create_run *r = ctx;
	uint64_t ns = 0, rpc_ns = 0;
	int err;

	for (size_t i = 0; i < n; i++) {
		err = bench_memfd_server_call(r->floor_sock, r->cc->bytes,
		    r->cc->huge, &ns);
		if (err == 0 && keep)
			samples_add(&r->flo, ns);
		/* The close, untimed, as the figure's destroy. */
		if (err == 0)
			err = bench_memfd_server_call(r->floor_sock, 0,
			    BENCH_MEMFD_CLOSE, &ns);
		if (err < 0) {
			snprintf(r->err, sizeof(r->err), "the floor's memfd "
			    "failed: %s", strerror(-err));
			return -1;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (create_once(r, r->cc, &ns, &rpc_ns) < 0)
			return -1;
		if (keep) {
			samples_add(&r->fig, ns);
			samples_add(&r->rpc, rpc_ns);
		}
	}
	return 0;
}

static int
create_measure(struct bench *b, struct create_run *r,
    const struct create_case *cc, size_t iters)
{
	r->cc = cc;
	r->fig.n = r->flo.n = r->rpc.n = 0;
	return bench_measure(b, create_chunk, r, &r->fig, iters,
	    iters / 20 + 1, CREATE_CHUNK, r->err, sizeof(r->err));
}

static bool
kind_wanted(const struct bench *b, bool huge)
{
	for (size_t i = 0; i < NCASES; i++)
		if (cases[i].huge == huge && bench_wants(b, cases[i].name))
			return true;
	return false;
}

static void
skip_kind(struct bench *b, bool huge, const char *why)
{
	for (size_t i = 0; i < NCASES; i++) {
		struct figure *f;

		if (cases[i].huge != huge || !bench_wants(b, cases[i].name))
			continue;
		f = figure_new_placed(b, cases[i].name, "us", PLACE_SAME);
		figure_skip(f, cases[i].floor, CREATE_TARGET, true, "%s", why);
		report_figure(b, f);
	}
}

/* Every wanted figure of one backing, on one daemon. */
static int
create_kind(struct bench *b, bool huge, size_t iters)
{
	static const char *const never[] = { "--hugepages", "never", NULL };
	static const char *const require[] = { "--hugepages", "require", NULL };
	struct create_run r = { .floor_sock = -1 };
	struct test_daemon d;
	pid_t floor_pid = 0;
	int rc = 0;

	memset(&d, 0, sizeof(d));
	if (samples_init(&r.fig, iters) < 0 ||
	    samples_init(&r.flo, iters) < 0 ||
	    samples_init(&r.rpc, iters) < 0 ||
	    bench_start_daemon(b, &d, huge ? require : never) < 0 ||
	    bench_connect(d.admin_socket, true, &r.adm) < 0 ||
	    bench_memfd_server_start(b, &r.floor_sock, &floor_pid) < 0) {
		skip_kind(b, huge, "failed: shmbrokerd did not start or "
		    "answer");
		rc = -1;
		goto out;
	}
	/* Timed inside the daemon and in the floor's server, each woken by
	 * this process: all on one CPU, as the other figures' same_cpu. */
	place_pin_role(b, 0, PLACE_SAME, ROLE_CLIENT);
	place_pin_tree(d.pid, place_cpu(b, PLACE_SAME, ROLE_SERVER));
	place_pin_tree(floor_pid, place_cpu(b, PLACE_SAME, ROLE_SERVER));
	for (size_t i = 0; i < NCASES && !bench_stopped(b); i++) {
		const struct create_case *cc = &cases[i];
		struct figure *f;

		if (cc->huge != huge || !bench_wants(b, cc->name))
			continue;
		f = figure_new_placed(b, cc->name, "us", PLACE_SAME);
		if (create_measure(b, &r, cc, iters) == 0) {
			figure_times(f, &r.fig, cc->floor, &r.flo,
			    CREATE_TARGET);
			figure_note(f, "measured in the daemon; the admin "
			    "request/reply around it: p50 %.2f us",
			    samples_us(&r.rpc, 0.5));
			if (huge && b->pool.raised_to > 0)
				figure_note(f, "nr_hugepages raised from %ld "
				    "to %ld for this figure", b->pool.saved,
				    b->pool.raised_to);
		} else {
			bench_error(b, cc->name, "%s", r.err);
			figure_skip(f, cc->floor, CREATE_TARGET, true,
			    "failed: %s", r.err);
			rc = -1;
		}
		report_figure(b, f);
	}
out:
	place_release(b);
	shmc_close(r.adm);
	if (r.floor_sock >= 0)
		close(r.floor_sock);
	if (floor_pid > 0)
		bench_reap(floor_pid, 2000);
	bench_stop_daemon(&d);
	samples_free(&r.fig);
	samples_free(&r.flo);
	samples_free(&r.rpc);
	return rc;
}

int
fig_create(struct bench *b)
{
	size_t iters = b->quick ? CREATE_ITERS_QUICK : CREATE_ITERS;
	int rc = 0;

	if (kind_wanted(b, true)) {
		if (pool_prepare(b, POOL_NEED) < 0)
			skip_kind(b, true, b->pool.why);
		else
			rc |= create_kind(b, true, iters);
		/* The pool goes back as soon as it is no longer needed. */
		pool_restore(b);
	}
	if (kind_wanted(b, false) && !bench_stopped(b))
		rc |= create_kind(b, false, iters);
	return rc < 0 ? -1 : 0;
}
