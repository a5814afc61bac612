/* SPDX-License-Identifier: ISC */
/*
 * fig_create: create_{hugetlb,shmem}_{2M,64M}, the daemon's time to create
 * a region of that size (its memory and registry entry, as the daemon
 * measures it and returns in AdminCreateReply.create_ns), against the floor
 * memfd_{hugetlb,shmem}_SIZE: the same memfd work done bare in this process
 * (memfd_create, ftruncate, F_ADD_SEALS, and for hugetlb an mmap MAP_SHARED
 * and munmap, which is what reserves the pool's pages). The request/reply round trip
 * around it is attach_rtt's subject; its p50 here goes in the note. hugetlb figures run on a daemon with --hugepages
 * require and need the pool that pool.c prepares; shmem ones on a daemon
 * with --hugepages never.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
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
	char err[320];
};

int
bench_memfd_once(uint64_t bytes, bool huge, uint64_t *ns)
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
	close(fd);
	return err;
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
		if ((err = bench_memfd_once(r->cc->bytes, r->cc->huge,
		    &ns)) < 0) {
			snprintf(r->err, sizeof(r->err), "the floor's memfd "
			    "failed: %s", strerror(-err));
			return -1;
		}
		if (keep)
			samples_add(&r->flo, ns);
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
	struct create_run r = { 0 };
	struct test_daemon d;
	int rc = 0;

	memset(&d, 0, sizeof(d));
	if (samples_init(&r.fig, iters) < 0 ||
	    samples_init(&r.flo, iters) < 0 ||
	    samples_init(&r.rpc, iters) < 0 ||
	    bench_start_daemon(b, &d, huge ? require : never) < 0 ||
	    bench_connect(d.admin_socket, true, &r.adm) < 0) {
		skip_kind(b, huge, "failed: shmbrokerd did not start or "
		    "answer");
		rc = -1;
		goto out;
	}
	/* Timed inside the daemon and bare in this process: both on one
	 * CPU, as the other figures' same_cpu. */
	place_pin_role(b, 0, PLACE_SAME, ROLE_CLIENT);
	place_pin_tree(d.pid, place_cpu(b, PLACE_SAME, ROLE_SERVER));
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
