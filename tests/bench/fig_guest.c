/* SPDX-License-Identifier: ISC */
/*
 * fig_guest: the guest figures, measured by guests in shm-vm processes on a
 * real daemon, in each placement (place.c) next to floors taken in the same
 * run and placement:
 * - guest_notify: guest A writes `notify`, guest B, asleep in hlt, takes
 *   the interrupt and notifies back; half of A's round trip. Floor: the
 *   same guests on QEMU's ivshmem doorbell path (guest write -> in-kernel
 *   ioeventfd -> the peer's irqfd, no VMM exit; shmbench-vm), which does
 *   all the guest-side work the figure does (A's exit, B's wake from hlt
 *   by an irqfd, the same handler and loop), plus what an exit to the VMM
 *   costs over one the kernel handles: a bare MMIO exit to shm-vm (guest
 *   bench_mmio, an address nobody claims) less a write to an ioeventfd
 *   (bench_mmio_db), p50 by p50. What the figure adds above it is the
 *   VMM's own work. The note also gives the wake of a halted guest running
 *   the same handler by an irqfd, host-timed (bench_pong_db against this
 *   process: half the round trip from an eventfd write to its doorbell).
 * - guest_create_usable: the guest's `size` write of a fresh 2 MiB region
 *   until it returns with the region mapped. Floor: MMIO exit + the
 *   SOCK_SEQPACKET request/reply with an fd + memfd setup of 2 MiB
 *   (hugetlb when the pool has room, as the region) + mmap, memory slot
 *   and irqfd in a VM of the same size (kvm_floor.c).
 * - guest_copy_64M: fig_copy.c.
 * The client side is guest A's VMM (or this process), the server side
 * guest B's VMM (or the floor's server) and the daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "guest.h"
#include "pingpong.h"

#define NOTIFY_ROUNDS	1000	/* the guests' ITERS */
#define WARM_ROUNDS	50	/* the guests' BENCH_WARMUP */
#define CREATE_FLOOR_ITERS 200
#define NOTIFY_TARGET	1.2
#define CREATE_TARGET	1.5
#define FLOOR_ALARM_S	30	/* a host-timed floor that hangs fails */
#define GUEST_MEM	"8M"
#define GUEST_MEM_BYTES	(8ull << 20)
#define REGION_BYTES	(2ull << 20)

#define NOTIFY_FLOOR	"ivshmem+vmm_exit"
#define CREATE_FLOOR	"mmio+rtt+memfd+map+slot+irqfd"
#define CREATE_TURNS	3	/* runs of the figure's guest, and the control's */

/* The guest TSC ticks at the host's rate; count host ticks over 200 ms. */
static double
tsc_ns_per_tick(void)
{
	uint64_t t0 = bench_now_ns(), c0 = __rdtsc(), t1, c1;
	struct timespec ts = { 0, 200000000 };

	nanosleep(&ts, NULL);
	t1 = bench_now_ns();
	c1 = __rdtsc();
	return c1 > c0 ? (double)(t1 - t0) / (double)(c1 - c0) : NAN;
}

/* sum[i] = the sum over parts of part[i], cycling the shorter ones: the
 * floor of a path made of those steps. */
static int
floor_sum(struct samples *out, struct samples *const *parts, size_t nparts)
{
	size_t n = 0;

	for (size_t k = 0; k < nparts; k++) {
		if (parts[k]->n == 0)
			return -1;
		if (parts[k]->n > n)
			n = parts[k]->n;
	}
	if (samples_init(out, n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		uint64_t ns = 0;

		for (size_t k = 0; k < nparts; k++)
			ns += parts[k]->ns[i % parts[k]->n];
		samples_add(out, ns);
	}
	return 0;
}

static int
guest_fail(struct guest_run *r, const char *what)
{
	snprintf(r->err, sizeof(r->err), "%s: %s", what, strerror(errno));
	return -1;
}

/* The daemon on the server side's CPU. */
static void
guest_place_daemon(struct guest_run *r, enum place p)
{
	place_pin_tree(r->d.pid, place_cpu(r->b, p, ROLE_SERVER));
}

/* The MMIO exit floor both figures use: a bare exit to shm-vm, one
 * process on the client's CPU, measured in each placement's turn so that
 * a slow moment of the machine is not carried into every floor. */
static int
floor_mmio(struct guest_run *r, enum place p, struct samples *mmio)
{
	struct guest_out o = { .s = mmio };
	struct vm_spec v;

	mmio->n = 0;
	vm_spec_shm_vm(r, &v, "bench_mmio.elf", GUEST_MEM,
	    place_cpu(r->b, p, ROLE_CLIENT));
	return vm_run_one(r, &v, &o);
}

/* ---- guest_notify ---- */

static void
on_alarm(int sig)
{
	(void)sig;
}

/* Shared data for a doorbell pair: a memfd of one page, mapped here. */
struct doorbell {
	int mem, irq, bell;
	struct pingpong *pp;
};

static int
doorbell_open(struct guest_run *r, struct doorbell *db)
{
	db->pp = MAP_FAILED;
	db->mem = memfd_create("shmbench-doorbell", MFD_CLOEXEC);
	db->irq = eventfd(0, EFD_CLOEXEC);
	db->bell = eventfd(0, EFD_CLOEXEC);
	if (db->mem < 0 || db->irq < 0 || db->bell < 0 ||
	    ftruncate(db->mem, 4096) < 0)
		return guest_fail(r, "doorbell memfd or eventfds");
	db->pp = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED,
	    db->mem, 0);
	return db->pp == MAP_FAILED ? guest_fail(r, "mmap") : 0;
}

static void
doorbell_close(struct doorbell *db)
{
	if (db->pp != MAP_FAILED)
		munmap(db->pp, 4096);
	if (db->mem >= 0)
		close(db->mem);
	if (db->irq >= 0)
		close(db->irq);
	if (db->bell >= 0)
		close(db->bell);
}

/* This process as ping: each round an eventfd write that is the guest's
 * irqfd, then a blocking read of its doorbell. */
static int
irqfd_rounds(struct guest_run *r, struct doorbell *db, struct samples *out)
{
	uint64_t one = 1, v;

	if (read(db->bell, &v, sizeof(v)) != sizeof(v))
		return guest_fail(r, "bench_pong_db never rang");
	for (uint64_t i = 1; i <= WARM_ROUNDS + NOTIFY_ROUNDS; i++) {
		uint64_t t0, t1;

		db->pp->round = i;
		t0 = bench_now_ns();
		if (write(db->irq, &one, sizeof(one)) != sizeof(one) ||
		    read(db->bell, &v, sizeof(v)) != sizeof(v))
			return guest_fail(r, "the irqfd floor's round");
		t1 = bench_now_ns();
		if (db->pp->echoed != i) {
			snprintf(r->err, sizeof(r->err), "bench_pong_db "
			    "echoed round %llu in round %llu",
			    (unsigned long long)db->pp->echoed,
			    (unsigned long long)i);
			return -1;
		}
		if (i > WARM_ROUNDS)
			samples_add(out, (t1 - t0) / 2);
	}
	return 0;
}

/* irqfd_wake: half the round trip between this process and a halted
 * guest running bench_pong's handler and loop, through its irqfd and its
 * ioeventfd doorbell; no VMM exit on either way. */
static int
floor_irqfd(struct guest_run *r, enum place p, struct samples *out)
{
	struct sigaction sa, old;
	struct doorbell db;
	struct vm_spec v;
	struct guest_vm g;
	uint64_t one = 1;
	int rc = -1;

	if (doorbell_open(r, &db) < 0)
		goto out;
	vm_spec_doorbell(&v, "bench_pong_db.elf", db.mem, db.irq, db.bell,
	    place_cpu(r->b, p, ROLE_SERVER));
	place_pin_role(r->b, 0, p, ROLE_CLIENT);
	if (vm_start(r, &g, &v) < 0)
		goto out;
	/* A guest that dies leaves the reads blocked: the alarm ends them. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, &old);
	alarm(FLOOR_ALARM_S);
	rc = irqfd_rounds(r, &db, out);
	alarm(0);
	sigaction(SIGALRM, &old, NULL);
	db.pp->done = 1;
	if (write(db.irq, &one, sizeof(one)) != sizeof(one) || rc < 0)
		kill(g.pid, SIGKILL);
	if (rc < 0)
		vm_finish(r, &g, NULL);
	else
		rc = vm_finish(r, &g, NULL);
out:
	doorbell_close(&db);
	return rc;
}

/* The same guests on the ivshmem doorbell path: two shmbench-vm, each
 * guest's notify an ioeventfd on the other's irqfd. */
static int
notify_ivshmem(struct guest_run *r, enum place p, struct samples *out)
{
	struct guest_out o = { .s = out };
	struct doorbell db;
	struct vm_spec va, vb;
	int rc = -1;

	if (doorbell_open(r, &db) == 0) {
		/* ping's irqfd is pong's doorbell and the other way round */
		vm_spec_doorbell(&va, "bench_ping_db.elf", db.mem, db.irq,
		    db.bell, place_cpu(r->b, p, ROLE_CLIENT));
		vm_spec_doorbell(&vb, "bench_pong_db.elf", db.mem, db.bell,
		    db.irq, place_cpu(r->b, p, ROLE_SERVER));
		rc = vm_run_pair(r, &va, &vb, &o, NULL);
	}
	doorbell_close(&db);
	return rc;
}

struct notify_run {
	struct samples mmio[PLACE_N], mmio_kernel[PLACE_N];	/* exits */
	struct samples irq[PLACE_N], ivshmem[PLACE_N], fig[PLACE_N];
};

static void
notify_report(struct guest_run *r, struct notify_run *n, enum place p,
    int rc)
{
	struct figure *f = figure_new_placed(r->b, "guest_notify", "us", p);
	double iv50, iv99, user, kernel, irq;

	if (rc < 0 || n->fig[p].n == 0 || n->ivshmem[p].n == 0) {
		figure_skip(f, NOTIFY_FLOOR, NOTIFY_TARGET, true, "failed: %s",
		    r->err);
		report_figure(r->b, f);
		return;
	}
	iv50 = samples_us(&n->ivshmem[p], 0.50);
	iv99 = samples_us(&n->ivshmem[p], 0.99);
	user = samples_us(&n->mmio[p], 0.5);
	kernel = samples_us(&n->mmio_kernel[p], 0.5);
	irq = samples_us(&n->irq[p], 0.5);
	figure_times(f, &n->fig[p], NOTIFY_FLOOR, NULL, NOTIFY_TARGET);
	f->floor_p50 = iv50 + user - kernel;
	f->ratio = f->p50 / f->floor_p50;
	figure_note(f, "half of a guest ping-pong (notify exit, eventfd, "
	    "irqfd, interrupt, notify back); floor: the same guests on the "
	    "ivshmem doorbell path (guest write -> ioeventfd -> peer irqfd, no "
	    "VMM exit) p50 %.2f us (p99 %.2f; figure/ivshmem %.2f), plus an "
	    "MMIO exit to the VMM %.2f us less one to an ioeventfd %.2f us; "
	    "an irqfd wake of a halted guest running the same handler, "
	    "host-timed (half a host<->guest doorbell round trip): %.2f us",
	    iv50, iv99, f->p50 / iv50, user, kernel, irq);
	snprintf(f->extra, sizeof(f->extra), ",\"ivshmem_p50\":%.3f,"
	    "\"ivshmem_p99\":%.3f,\"ratio_to_ivshmem\":%.3f,"
	    "\"irqfd_wake_p50\":%.3f", iv50, iv99, f->p50 / iv50, irq);
	report_figure(r->b, f);
}

/* An exit the kernel handles: bench_mmio_db's writes to an ioeventfd. */
static int
floor_mmio_kernel(struct guest_run *r, enum place p, struct samples *out)
{
	struct guest_out o = { .s = out };
	struct doorbell db;
	struct vm_spec v;
	int rc = -1;

	if (doorbell_open(r, &db) == 0) {
		vm_spec_doorbell(&v, "bench_mmio_db.elf", db.mem, db.irq,
		    db.bell, place_cpu(r->b, p, ROLE_CLIENT));
		rc = vm_run_one(r, &v, &o);
	}
	doorbell_close(&db);
	return rc;
}

static int
notify_at(struct guest_run *r, struct notify_run *n, enum place p)
{
	struct guest_out o = { .s = &n->fig[p] };
	struct vm_spec va, vb;

	guest_place_daemon(r, p);
	if (floor_mmio(r, p, &n->mmio[p]) < 0 ||
	    floor_mmio_kernel(r, p, &n->mmio_kernel[p]) < 0 ||
	    floor_irqfd(r, p, &n->irq[p]) < 0 ||
	    notify_ivshmem(r, p, &n->ivshmem[p]) < 0)
		return -1;
	vm_spec_shm_vm(r, &va, "bench_ping.elf", GUEST_MEM,
	    place_cpu(r->b, p, ROLE_CLIENT));
	vm_spec_shm_vm(r, &vb, "bench_pong.elf", GUEST_MEM,
	    place_cpu(r->b, p, ROLE_SERVER));
	return vm_run_pair(r, &va, &vb, &o, NULL);
}

static void
fig_notify(struct guest_run *r)
{
	struct notify_run *n = calloc(1, sizeof(*n));
	int rc = 0;

	if (n == NULL)
		return;
	for (int p = 0; p < PLACE_N; p++) {
		if (!place_possible(r->b, (enum place)p))
			continue;
		if (samples_init(&n->mmio[p], NOTIFY_ROUNDS) < 0 ||
		    samples_init(&n->mmio_kernel[p], NOTIFY_ROUNDS) < 0 ||
		    samples_init(&n->irq[p], NOTIFY_ROUNDS) < 0 ||
		    samples_init(&n->ivshmem[p], NOTIFY_ROUNDS) < 0 ||
		    samples_init(&n->fig[p], NOTIFY_ROUNDS) < 0) {
			snprintf(r->err, sizeof(r->err), "out of memory");
			rc = -1;
		}
		if (rc == 0 && !bench_stopped(r->b))
			rc = notify_at(r, n, (enum place)p);
		if (rc < 0)
			bench_error(r->b, "guest_notify", "%s", r->err);
		notify_report(r, n, (enum place)p, rc);
		samples_free(&n->mmio[p]);
		samples_free(&n->mmio_kernel[p]);
		samples_free(&n->irq[p]);
		samples_free(&n->ivshmem[p]);
		samples_free(&n->fig[p]);
	}
	free(n);
}

/* ---- guest_create_usable ---- */

struct create_run {
	struct samples echo, memfd, usable[3];	/* map, slot, irqfd */
	struct vm vm;		/* the floor's VM */
	int fd;			/* the floor's region memfd */
};

static int
create_floor(struct guest_run *r, struct create_run *c, enum place p)
{
	struct bench_echo e = { 0, -1 };
	uint64_t ns, parts[3];
	int rc = 0, msock = -1;
	pid_t mpid = 0;

	if (bench_echo_start(r->b, &e) < 0) {
		snprintf(r->err, sizeof(r->err), "cannot start the echo "
		    "server");
		return -1;
	}
	if ((rc = bench_memfd_server_start(r->b, &msock, &mpid)) < 0)
		goto out;
	/* The region's memfd is the daemon's work: the server's side. */
	place_pin_role(r->b, e.pid, p, ROLE_SERVER);
	place_pin_role(r->b, mpid, p, ROLE_SERVER);
	place_pin_role(r->b, 0, p, ROLE_CLIENT);
	for (size_t i = 0; i < CREATE_FLOOR_ITERS && rc == 0; i++) {
		if ((rc = bench_echo_once(e.sock, &ns)) == 0)
			samples_add(&c->echo, ns);
		if (rc == 0 && (rc = bench_memfd_server_call(msock,
		    REGION_BYTES, r->huge, &ns)) == 0)
			samples_add(&c->memfd, ns);
		if (rc == 0)
			rc = bench_memfd_server_call(msock, 0,
			    BENCH_MEMFD_CLOSE, &ns);
		if (rc == 0 && (rc = kvm_floor_usable_once(&c->vm, c->fd,
		    REGION_BYTES, parts)) == 0)
			for (int k = 0; k < 3; k++)
				samples_add(&c->usable[k], parts[k]);
	}
out:
	bench_echo_stop(&e);
	if (msock >= 0)
		close(msock);
	if (mpid > 0)
		bench_reap(mpid, 2000);
	if (rc < 0)
		snprintf(r->err, sizeof(r->err), "the create floor failed: "
		    "%s", strerror(-rc));
	return rc;
}

/* The control: bench_create on shmbench-vm's bare vdev, whose requests go
 * to replay.c's server where the daemon would be. */
static int
create_replay(struct guest_run *r, struct samples *ctl, enum place p)
{
	struct bench_echo e = { 0, -1 };
	struct guest_out o = { .s = ctl };
	struct harness_hugepages hp = { .page_bytes = 0 };
	struct vm_spec v;
	int rc;

	harness_hugepages_read(&hp);
	if (bench_replay_start(r->b, &e) < 0) {
		snprintf(r->err, sizeof(r->err), "cannot start the replay "
		    "server");
		return -1;
	}
	place_pin_role(r->b, e.pid, p, ROLE_SERVER);
	vm_spec_replay(&v, "bench_create.elf", e.sock,
	    (uint32_t)(hp.page_bytes / 1024), place_cpu(r->b, p, ROLE_CLIENT));
	rc = vm_run_one(r, &v, &o);
	bench_echo_stop(&e);
	return rc;
}

static void
create_report(struct guest_run *r, struct create_run *c, struct samples *mmio,
    struct samples *s, struct samples *ctl, enum place p, int rc)
{
	struct figure *f = figure_new_placed(r->b, "guest_create_usable", "us",
	    p);
	struct samples *parts[6] = { mmio, &c->echo, &c->memfd,
	    &c->usable[0], &c->usable[1], &c->usable[2] };
	struct samples floor = { 0 };

	if (rc == 0 && floor_sum(&floor, parts, 6) < 0)
		rc = -1;
	if (rc < 0 || s->n == 0) {
		figure_skip(f, CREATE_FLOOR, CREATE_TARGET, true, "failed: %s",
		    r->err);
		report_figure(r->b, f);
		return;
	}
	figure_times(f, s, CREATE_FLOOR, &floor, CREATE_TARGET);
	figure_note(f, "a fresh 2 MiB region (%s) from the size write until "
	    "it returns mapped; floor parts p50: MMIO exit %.2f us, "
	    "request/reply with fd %.2f us, memfd %.2f us, mmap %.2f us, "
	    "memory slot %.2f us, irqfd %.2f us",
	    r->huge ? "hugetlb" : "shmem: no pool", samples_us(mmio, 0.5),
	    samples_us(&c->echo, 0.5), samples_us(&c->memfd, 0.5),
	    samples_us(&c->usable[0], 0.5), samples_us(&c->usable[1], 0.5),
	    samples_us(&c->usable[2], 0.5));
	if (ctl->n > 0)
		figure_control(f, "the same system calls without the broker "
		    "(replay: the same guest on shmbench-vm's bare vdev, its "
		    "requests to a server making the daemon's calls): p50",
		    samples_us(ctl, 0.5), f->floor_p50, f->p50);
	report_figure(r->b, f);
	samples_free(&floor);
}

static int
create_samples_init(struct create_run *c)
{
	c->echo.n = c->memfd.n = 0;
	for (int k = 0; k < 3; k++)
		c->usable[k].n = 0;
	if (c->echo.ns != NULL)
		return 0;
	if (samples_init(&c->echo, CREATE_FLOOR_ITERS) < 0 ||
	    samples_init(&c->memfd, CREATE_FLOOR_ITERS) < 0)
		return -1;
	for (int k = 0; k < 3; k++)
		if (samples_init(&c->usable[k], CREATE_FLOOR_ITERS) < 0)
			return -1;
	return 0;
}

static int
create_open(struct guest_run *r, struct create_run *c)
{
	c->fd = memfd_create("shmbench-region", MFD_CLOEXEC |
	    (r->huge ? MFD_HUGETLB : 0));
	if (c->fd < 0 || ftruncate(c->fd, REGION_BYTES) < 0)
		return guest_fail(r, "the floor's region memfd");
	if (kvm_floor_open(&c->vm, GUEST_MEM_BYTES) < 0) {
		snprintf(r->err, sizeof(r->err), "cannot make the floor's VM "
		    "(see above)");
		return -1;
	}
	return 0;
}

static void
fig_create_usable(struct guest_run *r)
{
	struct create_run *c = calloc(1, sizeof(*c));
	struct samples s = { 0 }, mmio = { 0 }, ctl = { 0 };
	int rc;

	if (c == NULL || samples_init(&s, 256 * CREATE_TURNS) < 0 ||
	    samples_init(&ctl, 256 * CREATE_TURNS) < 0 ||
	    samples_init(&mmio, NOTIFY_ROUNDS) < 0) {
		free(c);
		samples_free(&s);
		samples_free(&ctl);
		samples_free(&mmio);
		return;
	}
	vm_init(&c->vm);
	rc = create_open(r, c);
	for (int p = 0; p < PLACE_N; p++) {
		struct guest_out o = { .s = &s };
		struct vm_spec v;

		if (!place_possible(r->b, (enum place)p))
			continue;
		s.n = 0;
		guest_place_daemon(r, (enum place)p);
		if (rc == 0 && create_samples_init(c) < 0)
			rc = guest_fail(r, "samples");
		if (rc == 0)
			rc = floor_mmio(r, (enum place)p, &mmio);
		if (rc == 0)
			rc = create_floor(r, c, (enum place)p);
		vm_spec_shm_vm(r, &v, "bench_create.elf", GUEST_MEM,
		    place_cpu(r->b, (enum place)p, ROLE_CLIENT));
		/* Figure and control in turns: drift hits both alike. */
		ctl.n = 0;
		for (int t = 0; t < (r->b->quick ? 1 : CREATE_TURNS) && rc == 0 &&
		    !bench_stopped(r->b); t++)
			if ((rc = vm_run_one(r, &v, &o)) == 0)
				rc = create_replay(r, &ctl, (enum place)p);
		if (rc < 0)
			bench_error(r->b, "guest_create_usable", "%s", r->err);
		create_report(r, c, &mmio, &s, &ctl, (enum place)p, rc);
	}
	kvm_floor_close(&c->vm);
	if (c->fd >= 0)
		close(c->fd);
	samples_free(&c->echo);
	samples_free(&c->memfd);
	for (int k = 0; k < 3; k++)
		samples_free(&c->usable[k]);
	samples_free(&s);
	samples_free(&ctl);
	samples_free(&mmio);
	free(c);
}

/* ---- the group ---- */

static const char *const guest_figures[] = {
	"guest_notify", "guest_create_usable", "guest_copy_64M",
};

#define NGUEST (sizeof(guest_figures) / sizeof(guest_figures[0]))

static void
skip_all(struct bench *b, const char *why)
{
	static const char *const floors[] = {
		NOTIFY_FLOOR, CREATE_FLOOR, "host_copy_64M",
	};

	for (size_t i = 0; i < NGUEST; i++) {
		struct figure *f;

		if (!bench_wants(b, guest_figures[i]))
			continue;
		f = figure_new(b, guest_figures[i], i == 2 ? "GB/s" : "us");
		figure_skip(f, floors[i], i == 0 ? NOTIFY_TARGET : i == 1 ?
		    CREATE_TARGET : 0.9, i != 2, "%s", why);
		report_figure(b, f);
	}
}

static int
guest_figures_run(struct guest_run *r)
{
	struct bench *b = r->b;

	if (bench_wants(b, "guest_notify") && !bench_stopped(b))
		fig_notify(r);
	if (bench_wants(b, "guest_create_usable") && !bench_stopped(b))
		fig_create_usable(r);
	if (bench_wants(b, "guest_copy_64M") && !bench_stopped(b))
		fig_copy(r);
	return 0;
}

int
fig_guest(struct bench *b)
{
	static const char *const prefer[] = { "--hugepages", "prefer", NULL };
	struct guest_run r;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	r.b = b;
	if (!harness_kvm_opens()) {
		skip_all(b, "no usable /dev/kvm on this host: run shmbench "
		    "inside tests/qemu-kvm/run-in-vm.sh");
		return 0;
	}
	r.ns_per_tick = tsc_ns_per_tick();
	/* 64 MiB for the copy region, 2 MiB for a create, 2 MiB for the
	 * create floor's region. */
	r.huge = pool_prepare(b, 64 * MIB + 4 * MIB) == 0;
	if (!isfinite(r.ns_per_tick)) {
		skip_all(b, "failed: cannot measure the TSC rate");
		goto out;
	}
	if (bench_start_daemon(b, &r.d, prefer) < 0) {
		skip_all(b, "failed: shmbrokerd did not start");
		goto out;
	}
	if ((rc = guest_figures_run(&r)) < 0) {
		bench_error(b, "guest", "%s", r.err);
		skip_all(b, r.err);
	}
out:
	place_release(b);
	bench_stop_daemon(&r.d);
	pool_restore(b);
	return rc;
}
