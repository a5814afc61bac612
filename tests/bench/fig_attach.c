/* SPDX-License-Identifier: ISC */
/*
 * fig_attach: attach_rtt, the round trip of a create-attach of a fresh
 * 1-page guest region through libshmclient, against its floor
 * seqpacket_fd_rtt+memfd: a bare SOCK_SEQPACKET request/reply with a child
 * process whose reply carries a sealed memfd it made for the request; and
 * attach_existing_rtt, an attach to a region that exists, against
 * seqpacket_fd_rtt, the same with one memfd made at start. All run from
 * the same process, with the same message direction and fd passing,
 * interleaved in chunks so that drift of the machine hits them alike, in
 * each placement.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "replay.h"
#include "shmclient_admin.h"

#define ATTACH_ITERS 20000
#define ATTACH_ITERS_QUICK 2000
#define ATTACH_CHUNK 500	/* at most ECHO_KEEP_MAX */
#define ATTACH_TARGET 1.5
#define FLOOR_NAME "seqpacket_fd_rtt"
#define FLOOR_CREATE_NAME "seqpacket_fd_rtt+memfd"
/* About the sizes of a packed Attach request and AttachReply. */
#define FLOOR_REQ_BYTES 24
#define FLOOR_REPLY_BYTES 48
#define ECHO_KEEP_MAX 1024	/* ATTACH_CHUNK fresh memfds, and more */

int
bench_attach_once(struct shmc *c, uint32_t seq, uint64_t *ns, char *err,
    size_t errlen)
{
	struct shmc_region r;
	char name[32];
	uint64_t t0, t1;
	int rc;

	snprintf(name, sizeof(name), "bench-a%u", seq);
	t0 = bench_now_ns();
	rc = shmc_attach(c, name, 1, true, &r);
	t1 = bench_now_ns();
	if (rc != SHMC_GSS_OK) {
		snprintf(err, errlen, "attach of %s failed: %s%s%s", name,
		    rc < 0 ? strerror(-rc) : "", rc < 0 ? ": " : "",
		    shmc_error(c));
		return -1;
	}
	close(r.fd);
	if (!r.created) {
		snprintf(err, errlen, "region %s existed already", name);
		shmc_detach(c, r.client_id);
		return -1;
	}
	if ((rc = shmc_detach(c, r.client_id)) < 0) {
		snprintf(err, errlen, "detach of %s failed: %s", name,
		    shmc_error(c));
		return -1;
	}
	*ns = t1 - t0;
	return 0;
}

static int
send_with_fd(int sock, const void *buf, size_t len, int fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cm.buf, .msg_controllen = sizeof(cm.buf),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

	memset(&cm, 0, sizeof(cm));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -errno;
}

/* A sealed 1-page memfd, as a created region's. */
static int
echo_memfd(void)
{
	return bench_replay_memfd("shmbench-floor", 4096, REPLAY_MEM_SHMEM, 0);
}

/* The floor's server: answers each request with one reply and an fd: the
 * memfd made at start, or (ECHO_FRESH) one made for this request, as a
 * create makes its region's. Those it keeps, as the daemon keeps a
 * region's memfd, until an ECHO_FLUSH (the caller's, untimed) closes
 * them, so that no close of one lies in the way of the next request. */
static void
echo_main(int sock)
{
	char buf[256] = { 0 };
	int memfd = echo_memfd(), kept[ECHO_KEEP_MAX], nkept = 0, fd;
	ssize_t n;

	while ((n = recv(sock, buf, sizeof(buf), 0)) > 0) {
		if (buf[0] == ECHO_FLUSH)
			while (nkept > 0)
				close(kept[--nkept]);
		fd = buf[0] == ECHO_FRESH && nkept < ECHO_KEEP_MAX ?
		    echo_memfd() : memfd;
		if (send_with_fd(sock, buf, FLOOR_REPLY_BYTES, fd) < 0)
			_exit(1);
		if (fd != memfd)
			kept[nkept++] = fd;
	}
	_exit(n == 0 ? 0 : 1);
}

int
bench_echo_start(struct bench *b, struct bench_echo *e)
{
	return bench_fork_server(b, echo_main, &e->sock, &e->pid);
}

void
bench_echo_stop(struct bench_echo *e)
{
	if (e->sock >= 0)
		close(e->sock);
	e->sock = -1;
	bench_reap(e->pid, 2000);
	e->pid = 0;
}

/* One timed request/reply of the floor; the received fd is closed after. */
int
bench_echo_once(int sock, uint64_t *ns)
{
	return bench_echo_kind_once(sock, ECHO_SAME, ns);
}

int
bench_echo_kind_once(int sock, char kind, uint64_t *ns)
{
	char req[FLOOR_REQ_BYTES] = { kind }, rep[256];
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} cm;
	struct iovec iov = { rep, sizeof(rep) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cm.buf, .msg_controllen = sizeof(cm.buf),
	};
	struct cmsghdr *c;
	uint64_t t0, t1;
	ssize_t n;
	int fd;

	t0 = bench_now_ns();
	if (send(sock, req, sizeof(req), MSG_NOSIGNAL) != sizeof(req))
		return -errno;
	n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	t1 = bench_now_ns();
	if (n <= 0)
		return n == 0 ? -ECONNRESET : -errno;
	c = CMSG_FIRSTHDR(&mh);
	if (c == NULL || c->cmsg_type != SCM_RIGHTS)
		return -EPROTO;
	memcpy(&fd, CMSG_DATA(c), sizeof(fd));
	close(fd);
	*ns = t1 - t0;
	return 0;
}

/* CPU time over the kept chunks of one placement, per side; its
 * operations are attaches, each with its detach. */
struct attach_cpu {
	struct bench_cpu server, client;
};

struct attach_run {
	struct bench *b;
	struct shmc *c;
	int sock;
	pid_t daemon, echo;
	struct bench_echo replay;	/* replay.c's server */
	int replay_ep;		/* its client's epoll set, as libshmclient's */
	uint32_t seq;
	struct samples fig[PLACE_N], find[PLACE_N], flo[PLACE_N];
	struct samples flo_fresh[PLACE_N];	/* a new memfd per reply */
	struct samples calls[PLACE_N], calls_fresh[PLACE_N];	/* replay.c */
	struct attach_cpu cpu[PLACE_N], calls_cpu[PLACE_N];
	char err[320];
};

#define EXISTING_REGION "bench-existing"

/* One timed find-attach of a region that exists (what every VM after the
 * first does), then a detach outside the timed part. */
static int
bench_find_once(struct attach_run *r, uint64_t *ns)
{
	struct shmc_region reg;
	uint64_t t0, t1;
	int rc;

	t0 = bench_now_ns();
	rc = shmc_attach(r->c, EXISTING_REGION, 1, false, &reg);
	t1 = bench_now_ns();
	if (rc != SHMC_GSS_OK) {
		snprintf(r->err, sizeof(r->err), "find of %s failed: %s",
		    EXISTING_REGION, shmc_error(r->c));
		return -1;
	}
	close(reg.fd);
	if (shmc_detach(r->c, reg.client_id) < 0) {
		snprintf(r->err, sizeof(r->err), "detach failed: %s",
		    shmc_error(r->c));
		return -1;
	}
	*ns = t1 - t0;
	return 0;
}

/* This process on the client's CPU, the daemon and the echo server on
 * the server's. */
static int
attach_place(struct attach_run *r, enum place p)
{
	int err;

	if ((err = place_pin_role(r->b, 0, p, ROLE_CLIENT)) < 0 ||
	    (err = place_pin_tree(r->daemon, place_cpu(r->b, p,
	    ROLE_SERVER))) < 0 ||
	    (err = place_pin_role(r->b, r->echo, p, ROLE_SERVER)) < 0 ||
	    (err = place_pin_role(r->b, r->replay.pid, p, ROLE_SERVER)) < 0) {
		snprintf(r->err, sizeof(r->err), "cannot pin for %s: %s",
		    place_name(p), strerror(-err));
		return -1;
	}
	return 0;
}

static void
attach_cpu_mark(pid_t server, uint64_t mark[2])
{
	mark[0] = bench_cpu_ns(server);
	mark[1] = bench_cpu_ns(0);
}

static void
attach_cpu_add(struct attach_cpu *c, pid_t server, const uint64_t mark[2],
    size_t pairs)
{
	bench_cpu_add(&c->server, mark[0], bench_cpu_ns(server), pairs);
	bench_cpu_add(&c->client, mark[1], bench_cpu_ns(0), pairs);
}

/* Up to n iterations of each, in one placement. */
static int
attach_chunk_at(struct attach_run *r, enum place p, size_t n, bool keep)
{
	uint64_t ns, mark[2];
	int err;

	if (attach_place(r, p) < 0)
		return -1;
	for (size_t i = 0; i < 2 * n; i++) {
		bool fresh = i >= n;

		if ((err = bench_echo_kind_once(r->sock, fresh ? ECHO_FRESH :
		    ECHO_SAME, &ns)) < 0) {
			snprintf(r->err, sizeof(r->err), "the floor's echo "
			    "server failed: %s", strerror(-err));
			return -1;
		}
		if (keep)
			samples_add(fresh ? &r->flo_fresh[p] : &r->flo[p], ns);
	}
	if ((err = bench_echo_kind_once(r->sock, ECHO_FLUSH, &ns)) < 0) {
		snprintf(r->err, sizeof(r->err), "the floor's echo server "
		    "failed: %s", strerror(-err));
		return -1;
	}
	attach_cpu_mark(r->replay.pid, mark);
	for (size_t i = 0; i < 2 * n; i++) {
		bool fresh = i >= n;

		if ((err = bench_replay_once(r->replay.sock, r->replay_ep,
		    fresh, &ns)) < 0) {
			snprintf(r->err, sizeof(r->err), "the system calls' "
			    "replay failed: %s", strerror(-err));
			return -1;
		}
		if (keep)
			samples_add(fresh ? &r->calls_fresh[p] : &r->calls[p],
			    ns);
	}
	if (keep)
		attach_cpu_add(&r->calls_cpu[p], r->replay.pid, mark, 2 * n);
	attach_cpu_mark(r->daemon, mark);
	for (size_t i = 0; i < n; i++) {
		if (bench_attach_once(r->c, r->seq++, &ns, r->err,
		    sizeof(r->err)) < 0)
			return -1;
		if (keep)
			samples_add(&r->fig[p], ns);
	}
	for (size_t i = 0; i < n; i++) {
		if (bench_find_once(r, &ns) < 0)
			return -1;
		if (keep)
			samples_add(&r->find[p], ns);
	}
	if (keep)
		attach_cpu_add(&r->cpu[p], r->daemon, mark, 2 * n);
	return 0;
}

/* Every placement in turn, so that drift hits them alike too. */
static int
attach_chunk(void *ctx, size_t n, bool keep)
{
	struct attach_run *r = ctx;

	for (int p = 0; p < PLACE_N; p++)
		if (place_possible(r->b, (enum place)p) &&
		    attach_chunk_at(r, (enum place)p, n, keep) < 0)
			return -1;
	return 0;
}

static int
attach_setup(struct bench *b, struct attach_run *r, struct test_daemon *d,
    struct bench_echo *e, struct shmc **adm)
{
	static const char *const extra[] = { "--hugepages", "never", NULL };
	Shmbroker__ServerMessage *reply;
	bool made;

	snprintf(r->err, sizeof(r->err), "shmbrokerd did not start");
	if (bench_start_daemon(b, d, extra) < 0)
		return -1;
	r->daemon = d->pid;
	snprintf(r->err, sizeof(r->err), "cannot connect to shmbrokerd");
	if (bench_connect(d->socket, false, &r->c) < 0)
		return -1;
	snprintf(r->err, sizeof(r->err), "cannot start the echo server");
	if (bench_echo_start(b, e) < 0)
		return -1;
	r->sock = e->sock;
	r->echo = e->pid;
	snprintf(r->err, sizeof(r->err), "cannot start the replay server");
	if (bench_replay_start(b, &r->replay) < 0 ||
	    (r->replay_ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    epoll_ctl(r->replay_ep, EPOLL_CTL_ADD, r->replay.sock,
	    &(struct epoll_event){ .events = EPOLLIN }) < 0)
		return -1;
	/* Made by an admin, it lives with no client, so the attaches being
	 * timed cause no peer events. */
	snprintf(r->err, sizeof(r->err), "cannot create %s", EXISTING_REGION);
	if (bench_connect(d->admin_socket, true, adm) < 0 ||
	    shmc_admin_create(*adm, EXISTING_REGION, 1, &reply) < 0)
		return -1;
	made = reply->error == SHMBROKER__ERROR__ERR_NONE;
	shmbroker__server_message__free_unpacked(reply, NULL);
	return made ? 0 : -1;
}

/* Where the figure's excess over its control lies: the CPU each side
 * spent per attach and its detach, creates and finds alike (the server's
 * process, and this thread, which runs libshmclient or the replay's
 * calls). Both attach figures share the loops, so only attach_rtt says,
 * and only on one CPU: across CPUs a virtualised host charges a task
 * the wait for its vCPU to wake too (this project's machines: 30 us). */
static void
attach_cpu_note(struct figure *f, const struct attach_cpu *fig,
    const struct attach_cpu *ctl)
{
	double fs = bench_cpu_us_per_op(&fig->server);
	double fc = bench_cpu_us_per_op(&fig->client);
	double cs = bench_cpu_us_per_op(&ctl->server);
	double cc = bench_cpu_us_per_op(&ctl->client);
	size_t used = strlen(f->extra);

	if (fs < 0 || fc < 0 || cs < 0 || cc < 0)
		return;
	figure_note(f, "CPU per attach and its detach (both attach figures): "
	    "shmbrokerd %.2f us against the replay server's %.2f, the client "
	    "thread %.2f us with libshmclient against %.2f with the replay's "
	    "calls", fs, cs, fc, cc);
	snprintf(f->extra + used, sizeof(f->extra) - used,
	    ",\"server_cpu_us\":%.3f,\"control_server_cpu_us\":%.3f,"
	    "\"client_cpu_us\":%.3f,\"control_client_cpu_us\":%.3f",
	    fs, cs, fc, cc);
}

static void
attach_report(struct bench *b, struct attach_run *r, int rc)
{
	for (int fig = 0; fig < 2; fig++) {
		for (int p = 0; p < PLACE_N; p++) {
			const char *name = fig == 0 ? "attach_rtt" :
			    "attach_existing_rtt";
			struct figure *f;

			if (!bench_wants(b, name) ||
			    !place_possible(b, (enum place)p))
				continue;
			f = figure_new_placed(b, name, "us", (enum place)p);
			if (rc < 0) {
				figure_skip(f, fig == 0 ? FLOOR_CREATE_NAME :
				    FLOOR_NAME, ATTACH_TARGET, true,
				    "failed: %s", r->err);
			} else if (fig == 0) {
				figure_times(f, &r->fig[p], FLOOR_CREATE_NAME,
				    &r->flo_fresh[p], ATTACH_TARGET);
				figure_note(f, "a create of a fresh 1-page "
				    "region; its floor's server makes a sealed "
				    "memfd for each reply (memfd_create, "
				    "ftruncate, F_ADD_SEALS), as a create must; "
				    "the bare request/reply: p50 %.2f us",
				    samples_us(&r->flo[p], 0.5));
			} else {
				figure_times(f, &r->find[p], FLOOR_NAME,
				    &r->flo[p], ATTACH_TARGET);
				figure_note(f, "an attach to a region that "
				    "exists: no memory work");
			}
			if (rc == 0)
				figure_control(f, "the same system calls "
				    "alone, both ends (replay): p50",
				    samples_us(fig == 0 ? &r->calls_fresh[p] :
				    &r->calls[p], 0.5), f->floor_p50, f->p50);
			if (rc == 0 && fig == 0 && p == PLACE_SAME)
				attach_cpu_note(f, &r->cpu[p],
				    &r->calls_cpu[p]);
			report_figure(b, f);
		}
	}
}

int
fig_attach(struct bench *b)
{
	size_t iters = b->quick ? ATTACH_ITERS_QUICK : ATTACH_ITERS;
	struct attach_run r = { .b = b, .sock = -1, .replay = { 0, -1 },
	    .replay_ep = -1 };
	struct bench_echo e = { 0, -1 };
	struct shmc *adm = NULL;
	struct test_daemon d;
	int rc = -1;

	memset(&d, 0, sizeof(d));
	snprintf(r.err, sizeof(r.err), "out of memory");
	for (int p = 0; p < PLACE_N; p++)
		if (samples_init(&r.fig[p], iters) < 0 ||
		    samples_init(&r.flo[p], iters) < 0 ||
		    samples_init(&r.flo_fresh[p], iters) < 0 ||
		    samples_init(&r.find[p], iters) < 0 ||
		    samples_init(&r.calls[p], iters) < 0 ||
		    samples_init(&r.calls_fresh[p], iters) < 0)
			goto out;
	if (attach_setup(b, &r, &d, &e, &adm) < 0)
		goto out;
	/* The samples of the first placement count the iterations. */
	if (bench_measure(b, attach_chunk, &r, &r.fig[PLACE_SAME], iters,
	    iters / 20, ATTACH_CHUNK, r.err, sizeof(r.err)) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		bench_error(b, "attach_rtt", "%s", r.err);
	attach_report(b, &r, rc);
	place_release(b);
	bench_echo_stop(&e);
	bench_echo_stop(&r.replay);
	if (r.replay_ep >= 0)
		close(r.replay_ep);
	shmc_close(r.c);
	shmc_close(adm);
	bench_stop_daemon(&d);
	for (int p = 0; p < PLACE_N; p++) {
		samples_free(&r.fig[p]);
		samples_free(&r.flo[p]);
		samples_free(&r.flo_fresh[p]);
		samples_free(&r.find[p]);
		samples_free(&r.calls[p]);
		samples_free(&r.calls_fresh[p]);
	}
	return rc;
}
