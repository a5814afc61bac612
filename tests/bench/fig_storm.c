/* SPDX-License-Identifier: ISC */
/*
 * fig_storm: boot_storm, a host booting many VMs at once. STORM_CONNS VMM
 * connections, started together, each attach to STORM_ATTACHES regions one
 * after the other as fast as the replies come (a booting guest's creates
 * and finds). Names are shared by STORM_SHARE connections, so creates and
 * finds of the same region mix. One driver (this process, on the client's
 * CPU) keeps every connection's request in flight at once through epoll,
 * so the daemon sees STORM_CONNS requests outstanding. Its floor is the
 * same driver against a bare server on the server's CPU: one process,
 * epoll over as many SOCK_SEQPACKET connections, answering each request
 * with one reply carrying an fd (a memfd made once), as seqpacket_fd_rtt
 * does. Two figures: boot_storm, the total time (ms) against the floor's
 * total; boot_storm_p99, each attach's request-to-reply time, p99 against
 * the floor's p99. Rounds alternate figure and floor. Each note also gives
 * the same driver against replay.c's server, which makes the daemon's
 * system calls of a storm with none of its code: what the kernel's part
 * of the miss is.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "replay.h"
#include "wire.h"

#define STORM_CONNS	1000
#define STORM_ATTACHES	4
#define STORM_SHARE	REPLAY_STORM_SHARE	/* connections per name */
#define STORM_ROUNDS	3
#define STORM_ROUNDS_QUICK 1
#define STORM_TARGET	2.0
#define STORM_WAIT_MS	10000	/* no reply for this long: failed */
#define STORM_REQ_BYTES	24

/* One connection of the driver. */
struct storm_conn {
	int sock;
	uint32_t done;		/* attaches answered */
	uint64_t sent_ns;
};

struct storm {
	struct bench *b;
	struct test_daemon d;
	struct storm_conn *c;
	size_t n;
	uint32_t round;		/* names differ from round to round */
	struct samples att[PLACE_N], flo[PLACE_N];
	struct samples tot[PLACE_N], ftot[PLACE_N];	/* ns per round */
	struct samples rep[PLACE_N], rtot[PLACE_N];	/* replay.c's server */
	/* The server's CPU over the storms, per attach: the daemon's [0],
	 * the replay server's [1]. */
	struct bench_cpu cpu[PLACE_N][2];
	uint8_t buf[WIRE_MAX_MESSAGE];
	char err[320];
};

/* ---- the driver ---- */

/* What a request looks like, and whether a datagram is its reply (1),
 * something to skip (0, a peer event), or a failure (-1). */
struct storm_ops {
	int (*send)(struct storm *s, size_t i);
	int (*reply)(struct storm *s, size_t i, const uint8_t *buf,
	    size_t len, size_t nfds);
};

static int
storm_send_attach(struct storm *s, size_t i)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__Attach a = SHMBROKER__ATTACH__INIT;
	char name[32];

	snprintf(name, sizeof(name), "storm%u-%zu-%u", s->round,
	    i / STORM_SHARE, s->c[i].done);
	a.name.data = (uint8_t *)name;
	a.name.len = strlen(name) + 1;
	a.size_pages = 1;
	a.create = true;
	req.id = s->c[i].done + 1;
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ATTACH;
	req.attach = &a;
	return wire_send_client(s->c[i].sock, &req, NULL, 0);
}

static int
storm_attach_reply(struct storm *s, size_t i, const uint8_t *buf, size_t len,
    size_t nfds)
{
	Shmbroker__ServerMessage *m;
	int rc;

	(void)nfds;
	/* as libshmclient reads a reply */
	if ((m = wire_unpack_server(buf, len)) == NULL) {
		snprintf(s->err, sizeof(s->err), "a reply that does not "
		    "unpack");
		return -1;
	}
	if (m->id == 0)
		rc = 0;		/* a peer joined one of our regions */
	else if (m->id != s->c[i].done + 1 ||
	    m->body_case != SHMBROKER__SERVER_MESSAGE__BODY_ATTACH ||
	    m->attach->status != SHMBROKER__GUEST_STATUS__GSS_OK) {
		snprintf(s->err, sizeof(s->err), "attach %u of connection %zu "
		    "failed: %s", s->c[i].done, i, m->message[0] ? m->message :
		    "unexpected reply");
		rc = -1;
	} else
		rc = 1;
	wire_free_server(m);
	return rc;
}

static const struct storm_ops storm_attach_ops = {
	storm_send_attach, storm_attach_reply,
};

static int
storm_send_bare(struct storm *s, size_t i)
{
	uint8_t req[STORM_REQ_BYTES] = { 1 };

	return wire_send(s->c[i].sock, req, sizeof(req), NULL, 0);
}

static int
storm_bare_reply(struct storm *s, size_t i, const uint8_t *buf, size_t len,
    size_t nfds)
{
	(void)buf;
	(void)len;
	if (nfds == 1)
		return 1;
	snprintf(s->err, sizeof(s->err), "the floor's server answered "
	    "connection %zu without its fd", i);
	return -1;
}

static const struct storm_ops storm_bare_ops = {
	storm_send_bare, storm_bare_reply,
};

static int
storm_replay_reply(struct storm *s, size_t i, const uint8_t *buf,
    size_t len, size_t nfds)
{
	if (len > 0 && buf[0] == REPLAY_STORM_PEER && nfds == 1)
		return 0;
	if (len > 0 && buf[0] == REPLAY_STORM_REPLY && nfds >= 3)
		return 1;
	snprintf(s->err, sizeof(s->err), "the replay server sent connection "
	    "%zu what it should not", i);
	return -1;
}

static const struct storm_ops storm_replay_ops = {
	storm_send_bare, storm_replay_reply,
};

/* Everything connection i has to read now; a reply times its attach and
 * sends the next one. */
static int
storm_read(struct storm *s, const struct storm_ops *ops, size_t i,
    struct samples *lat, size_t *left)
{
	struct storm_conn *c = &s->c[i];
	struct wire_fds fds = { .n = 0 };
	ssize_t len;
	int rc;

	while ((len = wire_recv_flags(c->sock, s->buf, sizeof(s->buf), &fds,
	    MSG_DONTWAIT)) > 0) {
		size_t nfds = fds.n;

		wire_fds_close(&fds);
		if ((rc = ops->reply(s, i, s->buf, (size_t)len, nfds)) < 0)
			return -1;
		if (rc == 0)
			continue;
		samples_add(lat, bench_now_ns() - c->sent_ns);
		if (++c->done == STORM_ATTACHES) {
			(*left)--;
			continue;
		}
		c->sent_ns = bench_now_ns();
		if (ops->send(s, i) < 0) {
			snprintf(s->err, sizeof(s->err), "send: %s",
			    strerror(errno));
			return -1;
		}
	}
	if (len == 0 || (len < 0 && len != -EAGAIN)) {
		snprintf(s->err, sizeof(s->err), "connection %zu: %s", i,
		    len == 0 ? "closed" : strerror((int)-len));
		return -1;
	}
	return 0;
}

/* Every connection's first request at once, then each next one as its
 * reply comes; the total time into tot, and when cpu is not NULL the CPU
 * time of the server process server into it. */
static int
storm_drive(struct storm *s, const struct storm_ops *ops, struct samples *lat,
    struct samples *tot, pid_t server, struct bench_cpu *cpu)
{
	struct epoll_event ev[64];
	size_t left = s->n;
	uint64_t t0, cpu0 = cpu != NULL ? bench_cpu_ns(server) :
	    BENCH_CPU_UNKNOWN;
	int ep = epoll_create1(EPOLL_CLOEXEC), rc = -1, got;

	if (ep < 0)
		return -1;
	for (size_t i = 0; i < s->n; i++) {
		struct epoll_event e = { .events = EPOLLIN, .data.u64 = i };

		s->c[i].done = 0;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, s->c[i].sock, &e) < 0)
			goto out;
	}
	t0 = bench_now_ns();
	for (size_t i = 0; i < s->n; i++) {
		s->c[i].sent_ns = bench_now_ns();
		if (ops->send(s, i) < 0)
			goto out;
	}
	while (left > 0) {
		if ((got = epoll_wait(ep, ev, 64, STORM_WAIT_MS)) <= 0) {
			snprintf(s->err, sizeof(s->err), "%zu connections "
			    "still waiting after %d ms", left, STORM_WAIT_MS);
			goto out;
		}
		for (int k = 0; k < got; k++)
			if (storm_read(s, ops, ev[k].data.u64, lat, &left) < 0)
				goto out;
	}
	samples_add(tot, bench_now_ns() - t0);
	if (cpu != NULL)
		bench_cpu_add(cpu, cpu0, bench_cpu_ns(server),
		    s->n * STORM_ATTACHES);
	rc = 0;
out:
	close(ep);
	return rc;
}

static void
storm_close(struct storm *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->c[i].sock >= 0)
			close(s->c[i].sock);
	s->n = 0;
}

/* ---- the figure: the daemon's connections ---- */

static int
storm_hello(struct storm *s, size_t i)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__Hello h = SHMBROKER__HELLO__INIT;
	struct wire_fds fds = { .n = 0 };
	ssize_t len;

	h.version = WIRE_PROTOCOL_VERSION;
	h.label = "shmbench storm";
	req.id = 1;
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_HELLO;
	req.hello = &h;
	if (wire_send_client(s->c[i].sock, &req, NULL, 0) < 0)
		return -1;
	len = wire_recv(s->c[i].sock, s->buf, sizeof(s->buf), &fds);
	wire_fds_close(&fds);
	return len > 0 ? 0 : -1;
}

/* STORM_CONNS connections, each greeted (so the daemon has accepted it
 * before the storm), not timed. */
static int
storm_connect(struct storm *s)
{
	struct timeval tv = { STORM_WAIT_MS / 1000, 0 };

	for (s->n = 0; s->n < STORM_CONNS; s->n++) {
		int sock = harness_connect_raw(s->d.socket);

		s->c[s->n].sock = sock;
		if (sock < 0 || setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv,
		    sizeof(tv)) < 0 || storm_hello(s, s->n) < 0) {
			snprintf(s->err, sizeof(s->err), "connection %zu to "
			    "shmbrokerd failed: %s", s->n, strerror(sock < 0 ?
			    -sock : errno));
			if (sock >= 0)
				s->n++;
			return -1;
		}
	}
	return 0;
}

static int
storm_figure(struct storm *s, enum place p)
{
	int rc;

	place_pin_tree(s->d.pid, place_cpu(s->b, p, ROLE_SERVER));
	if (storm_connect(s) < 0) {
		storm_close(s);
		return -1;
	}
	rc = storm_drive(s, &storm_attach_ops, &s->att[p], &s->tot[p],
	    s->d.pid, &s->cpu[p][0]);
	/* Closing the connections detaches every client: the regions go. */
	storm_close(s);
	s->round++;
	return rc;
}

/* ---- the floor: a bare server ---- */

static void
storm_server_main(int *socks, size_t n, int ready)
{
	int ep = epoll_create1(EPOLL_CLOEXEC), memfd;
	struct epoll_event ev[64];
	uint8_t buf[256];
	size_t open_ = n;

	memfd = memfd_create("shmbench-storm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (ep < 0 || memfd < 0 || ftruncate(memfd, 4096) < 0)
		_exit(1);
	for (size_t i = 0; i < n; i++) {
		struct epoll_event e = { .events = EPOLLIN, .data.fd = socks[i] };

		if (epoll_ctl(ep, EPOLL_CTL_ADD, socks[i], &e) < 0)
			_exit(1);
	}
	bench_server_ready(ready);
	while (open_ > 0) {
		int got = epoll_wait(ep, ev, 64, -1);

		for (int k = 0; k < got; k++) {
			ssize_t len = recv(ev[k].data.fd, buf, sizeof(buf),
			    MSG_DONTWAIT);

			/* a reply the size of an attach reply */
			if (len > 0 && wire_send(ev[k].data.fd, buf, 48,
			    &memfd, 1) == 0)
				continue;
			if (len < 0 && errno == EAGAIN)
				continue;
			close(ev[k].data.fd);
			open_--;
		}
	}
	_exit(0);
}

static void
storm_server_replay(int *socks, size_t n, int ready)
{
	bench_replay_storm_main(socks, n, STORM_ATTACHES, ready);
}

/* The driver against a forked server serve(), on the server's CPU, once
 * the server is set up (as the daemon's connections are greeted before
 * its storm); the server's CPU time into cpu unless that is NULL. */
static int
storm_bare(struct storm *s, enum place p,
    void (*serve)(int *, size_t, int), const struct storm_ops *ops,
    struct samples *lat, struct samples *tot, struct bench_cpu *cpu)
{
	int *theirs = calloc(STORM_CONNS, sizeof(int)), rc = -1, sv[2];
	int ready[2] = { -1, -1 };
	size_t made = 0;
	pid_t pid = -1;

	if (theirs == NULL || pipe2(ready, O_CLOEXEC) < 0) {
		free(theirs);
		snprintf(s->err, sizeof(s->err), "the storm's server: %s",
		    strerror(errno));
		return -1;
	}
	for (s->n = 0; s->n < STORM_CONNS; s->n++, made++) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
		    sv) < 0)
			break;
		s->c[s->n].sock = sv[0];
		theirs[s->n] = sv[1];
	}
	if (s->n == STORM_CONNS && (pid = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pool_close_in_child(s->b);
		storm_close(s);
		place_pin_role(s->b, 0, p, ROLE_SERVER);
		close(ready[0]);
		serve(theirs, STORM_CONNS, ready[1]);
		_exit(0);
	}
	close(ready[1]);
	for (size_t i = 0; i < made; i++)
		close(theirs[i]);
	if (pid > 0 && bench_wait_ready(ready[0]) == 0)
		rc = storm_drive(s, ops, lat, tot, pid, cpu);
	else
		snprintf(s->err, sizeof(s->err), "the storm's server: %s",
		    pid > 0 ? "not set up in time" : strerror(errno));
	close(ready[0]);
	storm_close(s);
	bench_reap(pid, 5000);
	free(theirs);
	return rc;
}

/* ---- the figures ---- */

/* On one CPU the storm's total is the server's CPU and the driver's (whose
 * work differs too: the figure's packs and unpacks with proto/'s codec,
 * as libshmclient does): the daemon's against the replay server's, per
 * attach, says how much of the figure's excess over its control is the
 * daemon's (across CPUs a virtualised host charges a task its vCPU's
 * wake-ups too). */
static void
storm_cpu_note(struct figure *f, const struct bench_cpu cpu[2])
{
	double fig = bench_cpu_us_per_op(&cpu[0]);
	double ctl = bench_cpu_us_per_op(&cpu[1]);
	size_t used = strlen(f->extra);

	if (fig < 0 || ctl < 0)
		return;
	figure_note(f, "server CPU per attach: shmbrokerd %.2f us against the "
	    "replay server's %.2f", fig, ctl);
	snprintf(f->extra + used, sizeof(f->extra) - used,
	    ",\"server_cpu_us\":%.3f,\"control_server_cpu_us\":%.3f", fig,
	    ctl);
}

static void
storm_report_total(struct storm *s, enum place p, int rc)
{
	struct figure *f = figure_new_placed(s->b, "boot_storm", "ms", p);
	double tot, ftot;

	if (rc < 0 || s->tot[p].n == 0 || s->ftot[p].n == 0) {
		figure_skip(f, "bare_storm", STORM_TARGET, true, "failed: %s",
		    s->err);
		report_figure(s->b, f);
		return;
	}
	tot = samples_us(&s->tot[p], 0.5) / 1000.0;
	ftot = samples_us(&s->ftot[p], 0.5) / 1000.0;
	figure_value(f, tot, ftot, STORM_TARGET, true);
	f->floor = "bare_storm";
	f->floor_p50 = ftot;
	figure_note(f, "%d connections started together, %d attaches each (a "
	    "name per %d connections: creates and finds mix), all in flight "
	    "at once; total time, median of %zu rounds; floor: as many bare "
	    "request/replies with an fd at the same concurrency", STORM_CONNS,
	    STORM_ATTACHES, STORM_SHARE, s->tot[p].n);
	figure_control(f, "the same system calls from a server with none of "
	    "the broker (replay), total", samples_us(&s->rtot[p], 0.5) /
	    1000.0, ftot, tot);
	if (p == PLACE_SAME)
		storm_cpu_note(f, s->cpu[p]);
	report_figure(s->b, f);
}

static void
storm_report_p99(struct storm *s, enum place p, int rc)
{
	struct figure *f = figure_new_placed(s->b, "boot_storm_p99", "us", p);

	if (rc < 0 || s->att[p].n == 0 || s->flo[p].n == 0) {
		figure_skip(f, "bare_storm_p99", STORM_TARGET, true,
		    "failed: %s", s->err);
		report_figure(s->b, f);
		return;
	}
	figure_times(f, &s->att[p], "bare_storm_p99", &s->flo[p],
	    STORM_TARGET);
	f->ratio = f->p99 / samples_us(&s->flo[p], 0.99);
	figure_note(f, "each attach of the storm, request to reply; ratio is "
	    "p99 / the floor's p99 (%.1f us; floor_p50 is its p50)",
	    samples_us(&s->flo[p], 0.99));
	figure_control(f, "the same system calls from a server with none of "
	    "the broker (replay), p99", samples_us(&s->rep[p], 0.99),
	    samples_us(&s->flo[p], 0.99), f->p99);
	report_figure(s->b, f);
}

static int
storm_init(struct storm *s, size_t rounds)
{
	size_t lat = (size_t)rounds * STORM_CONNS * STORM_ATTACHES;

	s->c = calloc(STORM_CONNS, sizeof(*s->c));
	if (s->c == NULL)
		return -1;
	for (int p = 0; p < PLACE_N; p++)
		if (samples_init(&s->att[p], lat) < 0 ||
		    samples_init(&s->flo[p], lat) < 0 ||
		    samples_init(&s->tot[p], rounds) < 0 ||
		    samples_init(&s->ftot[p], rounds) < 0 ||
		    samples_init(&s->rep[p], lat) < 0 ||
		    samples_init(&s->rtot[p], rounds) < 0)
			return -1;
	return 0;
}

static void
storm_free(struct storm *s)
{
	for (int p = 0; p < PLACE_N; p++) {
		samples_free(&s->att[p]);
		samples_free(&s->flo[p]);
		samples_free(&s->tot[p]);
		samples_free(&s->ftot[p]);
		samples_free(&s->rep[p]);
		samples_free(&s->rtot[p]);
	}
	free(s->c);
	free(s);
}

int
fig_storm(struct bench *b)
{
	static const char *const extra[] = { "--hugepages", "never", NULL };
	size_t rounds = b->quick ? STORM_ROUNDS_QUICK : STORM_ROUNDS;
	struct storm *s = calloc(1, sizeof(*s));
	int rc = -1;

	if (s == NULL)
		return -1;
	s->b = b;
	snprintf(s->err, sizeof(s->err), "out of memory");
	if (storm_init(s, rounds) < 0)
		goto out;
	snprintf(s->err, sizeof(s->err), "shmbrokerd did not start");
	if (bench_start_daemon(b, &s->d, extra) < 0)
		goto out;
	s->err[0] = '\0';
	rc = 0;
	for (size_t r = 0; r < rounds && rc == 0; r++)
		for (int p = 0; p < PLACE_N && rc == 0; p++) {
			if (!place_possible(b, (enum place)p))
				continue;
			place_pin_role(b, 0, (enum place)p, ROLE_CLIENT);
			if (storm_bare(s, (enum place)p, storm_server_main,
			    &storm_bare_ops, &s->flo[p], &s->ftot[p],
			    NULL) < 0 ||
			    storm_bare(s, (enum place)p, storm_server_replay,
			    &storm_replay_ops, &s->rep[p], &s->rtot[p],
			    &s->cpu[p][1]) < 0 ||
			    storm_figure(s, (enum place)p) < 0 ||
			    bench_stopped(b))
				rc = -1;
		}
out:
	if (rc < 0)
		bench_error(b, "boot_storm", "%s", s->err[0] ? s->err :
		    "interrupted");
	for (int p = 0; p < PLACE_N; p++) {
		if (!place_possible(b, (enum place)p))
			continue;
		if (bench_wants(b, "boot_storm"))
			storm_report_total(s, (enum place)p, rc);
		if (bench_wants(b, "boot_storm_p99"))
			storm_report_p99(s, (enum place)p, rc);
	}
	place_release(b);
	bench_stop_daemon(&s->d);
	storm_free(s);
	return rc;
}
