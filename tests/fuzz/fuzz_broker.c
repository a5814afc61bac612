/* SPDX-License-Identifier: ISC */
/*
 * fuzz_broker: the daemon run in-process for the fuzzers (fuzz_broker.h).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "fuzz_broker.h"
#include "ivshmem_int.h"

#define FUZZ_FILES 4
#define RUN_MAX_PASSES 100000
#define DRAIN_MAX_MS 5000
#define DRAIN_STEP_MS 10

const char fuzz_broker_conf[] =
    "[broker]\n"
    "hugepages = never\n"
    "max_region_size = 64M\n"
    "max_regions = 48\n"
    "max_clients = 96\n"
    "max_connections = 12\n"
    "local_region_fds = 4096\n"
    "default_tenant = guests\n"
    "admin_group = 4000\n"
    "\n"
    "[region shared]\n"
    "size = 64K\n"
    "mode = 0666\n"
    "\n"
    "[region secret]\n"
    "size = 4K\n"
    "mode = 0660\n"
    "group = 2000\n"
    "\n"
    "[tenant acme]\n"
    "uid = 1001\n"
    "prefix = acme/\n"
    "deny = ipc-secret*\n"
    "allow = sensor-*, ipc-*\n"
    "allow = shared\n"
    "allow = secret\n"
    "max_regions = 4\n"
    "max_clients = 8\n"
    "max_bytes = 1M\n"
    "mode = 0660\n"
    "group = 2000\n"
    "\n"
    "[tenant beta]\n"
    "gid = 1002\n"
    "prefix = beta/\n"
    "max_regions = 3\n"
    "\n"
    "[tenant guests]\n"
    "prefix = guests/\n"
    "max_regions = 6\n"
    "max_clients = 12\n";

/* Below LOG_ERR: nothing is printed. */
#define FUZZ_LOG_SILENT (-1)

const char *
fuzz_broker_file(int slot, const void *text, size_t len)
{
	static int fds[FUZZ_FILES] = { -1, -1, -1, -1 };
	static char paths[FUZZ_FILES][64];
	const char *p = text;

	if (fds[slot] < 0) {
		fds[slot] = memfd_create("shmbroker-fuzz.conf", MFD_CLOEXEC);
		if (fds[slot] < 0)
			abort();
		snprintf(paths[slot], sizeof(paths[slot]), "/proc/self/fd/%d",
		    fds[slot]);
	}
	if (ftruncate(fds[slot], 0) < 0)
		abort();
	for (size_t off = 0; off < len;) {
		ssize_t n = pwrite(fds[slot], p + off, len - off, (off_t)off);

		if (n <= 0)
			abort();
		off += (size_t)n;
	}
	return paths[slot];
}

/* An abstract address (nothing on the file system to clean up), new for
 * every listener of the process. */
static void
fuzz_addr(struct sockaddr_un *sun, socklen_t *len)
{
	static unsigned long serial;

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
	    (size_t)snprintf(sun->sun_path + 1, sizeof(sun->sun_path) - 1,
	    "shmbroker-fuzz.%d.%lu", (int)getpid(), serial++));
}

/* The listening sockets outlive each broker, so that an input does not
 * pay for two more (every system call counts at thousands of inputs a
 * second); fuzz_broker_stop takes them back before broker_fini. Each
 * input ends with its broker's loop run after its peers closed, so no
 * connection is left waiting in them for the next. */
static int fuzz_listeners[2] = { -1, -1 };

static void
fuzz_listeners_open(void)
{
	struct sockaddr_un sun;
	socklen_t len;

	for (int kind = 0; kind < 2; kind++) {
		int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);

		fuzz_addr(&sun, &len);
		if (fd < 0 || bind(fd, (struct sockaddr *)&sun, len) < 0 ||
		    listen(fd, 64) < 0)
			abort();
		fuzz_listeners[kind] = fd;
	}
}

/*
 * The broker's stock of state pages and eventfds (stock.c), kept from one
 * broker to the next instead of made and closed with each: 8 memfds
 * (created, sized, sealed) and 8 eventfds, and their closes, were a third
 * of an input of fuzz_fdname. What is in stock was never handed out, so
 * it is as fresh as a new one. Made once by the daemon's own stock_init,
 * so that every input, the first too, starts and ends holding it all.
 */
static struct stock fuzz_stock;

/* The same for the daemon's waker: letting its AIO context go waits for
 * an RCU grace period (32 ms here), which made every input that rang a
 * member take that long. Made once, lent to each input's broker. */
static struct wake *fuzz_waker;

/* b's stock into fuzz_stock (b keeps none), full: what an attach took
 * and the loop did not make again yet is made now, by the daemon's own
 * refill. */
static void
fuzz_stock_take(struct broker *b)
{
	struct stock *s = &b->stock;

	if ((s->npages < STOCK_MAX || s->nefds < STOCK_MAX) && s->ev != NULL) {
		event_active(s->ev, EV_TIMEOUT, 0);
		event_base_loop(b->base, EVLOOP_NONBLOCK);
	}
	memcpy(fuzz_stock.page, s->page, sizeof(s->page));
	memcpy(fuzz_stock.efd, s->efd, sizeof(s->efd));
	fuzz_stock.npages = s->npages;
	fuzz_stock.nefds = s->nefds;
	s->npages = 0;
	s->nefds = 0;
}

static void
fuzz_stock_make(void)
{
	struct broker tmp;

	memset(&tmp, 0, sizeof(tmp));
	if ((tmp.base = event_base_new()) == NULL || stock_init(&tmp) < 0)
		abort();
	fuzz_stock_take(&tmp);
	stock_free(&tmp);
	event_base_free(tmp.base);
}

/* fuzz_stock into b's, before broker_init: stock_init then finds it full
 * (or makes what is missing). */
static void
fuzz_stock_give(struct broker *b)
{
	b->stock = fuzz_stock;
	b->stock.ev = NULL;
	fuzz_stock.npages = 0;
	fuzz_stock.nefds = 0;
}

void
fuzz_broker_process_init(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], FDSTASH_KEEPER_ARG) == 0)
		fdstash_keeper_main();
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDNAMES");
	signal(SIGPIPE, SIG_IGN);
	/* Fds that peers send are an input too: the listeners take them, as
	 * before Linux 6.16 (daemon/reaper.h). */
	setenv("SHMBROKER_TEST_NO_PASSRIGHTS", "1", 1);
	fuzz_listeners_open();
	fuzz_stock_make();
	if (wake_open(&fuzz_waker) < 0)
		abort();
}

struct broker *
fuzz_broker_start(int argc, char **argv, char *err, size_t errlen)
{
	/* One at a time: its 128 KiB of buffers are not mapped anew for
	 * every input. */
	static struct broker storage;
	struct broker *b = &storage;
	size_t next = 0;
	unsigned failed = 0;

	memset(b, 0, sizeof(*b));
	b->argc = argc;
	b->argv = argv;
	if (config_load(&b->cfg, argc, argv, err, errlen) != 0) {
		config_free(&b->cfg);
		return NULL;
	}
	b->log.level = FUZZ_LOG_SILENT;
	fuzz_stock_give(b);
	b->wake = fuzz_waker;
	if (broker_init(b) < 0)
		abort();
	/* No reaper process: one spawned for every input cut the fuzzers'
	 * pace twentyfold, and its closes, in another process, came after
	 * the books were checked. Inline closes are what it guards against,
	 * which in-process fuzzing cannot use anyway. */
	reaper_free(b->reaper);
	b->reaper = NULL;
	b->hugepage_size = 0;
	if (conn_listen(b, &b->listeners[CONN_VMM], fuzz_listeners[CONN_VMM],
	    CONN_VMM) < 0 || conn_listen(b, &b->listeners[CONN_ADMIN],
	    fuzz_listeners[CONN_ADMIN], CONN_ADMIN) < 0 || service_start(b) < 0)
		abort();
	/* As main.c does after its sockets; a region that cannot be made
	 * stops a starting daemon, here it is only missing. */
	region_create_configured(b, &next, SIZE_MAX, &failed, err, errlen);
	return b;
}

/* Is there work for the event loop: a connection to accept, a request to
 * read, a queue the peer now takes, a reload still creating regions? */
static bool
fuzz_broker_busy(const struct broker *b)
{
	struct pollfd p[64];
	const struct conn *c;
	nfds_t n = 0;

	if (b->reload != NULL || !TAILQ_EMPTY(&b->dead))
		return true;
	for (int k = 0; k < 2; k++)
		if (b->listeners[k].ev != NULL)
			p[n++] = (struct pollfd){ b->listeners[k].fd, POLLIN, 0 };
	/* A queue waiting for its peer to read the fds it holds
	 * (conn_inflight.c) has its write event off until the retry timer:
	 * its socket's POLLOUT is no work, and looking at it would spin
	 * the loop until the timer came (fuzz_broker_tick instead). */
	TAILQ_FOREACH(c, &b->conns, entry) {
		short ev = (short)((c->reads_paused ? 0 : POLLIN) |
		    (c->outq_count > 0 && !c->inflight_waiting ? POLLOUT : 0));

		if (ev == 0)
			continue;
		if (n == sizeof(p) / sizeof(p[0]))
			return true;	/* many: let the loop look */
		p[n++] = (struct pollfd){ c->fd, ev, 0 };
	}
	/* libFuzzer's SIGALRM (its -timeout clock) interrupts a poll as
	 * often as once a second: that is no answer. */
	for (;;) {
		int ready = n > 0 ? poll(p, n, 0) : 0;

		if (ready >= 0 || errno != EINTR)
			return ready > 0;
	}
}

/* Waits up to ms for one of the connections to have something to read
 * (its end-of-file, say); -1 when there is none to wait for. */
static int
fuzz_broker_wait(const struct broker *b, int ms)
{
	struct pollfd p[64];
	const struct conn *c;
	nfds_t n = 0;

	TAILQ_FOREACH(c, &b->conns, entry)
		if (!c->reads_paused && n < sizeof(p) / sizeof(p[0]))
			p[n++] = (struct pollfd){ c->fd, POLLIN, 0 };
	if (n == 0)
		return -1;
	poll(p, n, ms);
	return 0;
}

/* The retry timer of the queues that wait for their peers to read
 * (conn_inflight.c), fired now instead of after its back-off: an input
 * lasts milliseconds, the back-off 20 ms to a second, and waiting for it
 * would make every such input cost that much. The daemon's own callback
 * runs, as the timer would run it: each queue retries (and waits again,
 * twice as long, if its peer still has not read). False when no queue
 * waits. */
static bool
fuzz_broker_tick(struct broker *b)
{
	struct conn *c;

	if (TAILQ_EMPTY(&b->inflight_waiting) || b->ev_inflight == NULL ||
	    !evtimer_pending(b->ev_inflight, NULL))
		return false;
	TAILQ_FOREACH(c, &b->inflight_waiting, wait_entry)
		c->inflight_retry_ms = 0;
	event_active(b->ev_inflight, EV_TIMEOUT, 1);
	return true;
}

void
fuzz_broker_run(struct broker *b)
{
	bool ticked = false;

	/* Once per run the waiting queues' timer comes early: as often as
	 * the harness's peers read between runs. */
	for (int i = 0; i < RUN_MAX_PASSES; i++) {
		if (!fuzz_broker_busy(b) &&
		    (ticked || !(ticked = fuzz_broker_tick(b))))
			break;
		event_base_loop(b->base, EVLOOP_NONBLOCK);
	}
	/* A reload may have turned the log on. */
	b->log.level = FUZZ_LOG_SILENT;
}

void
fuzz_broker_drain(struct broker *b)
{
	for (int waited = 0; waited < DRAIN_MAX_MS; waited += DRAIN_STEP_MS) {
		fuzz_broker_run(b);
		if (b->nconns == 0 || fuzz_broker_wait(b, DRAIN_STEP_MS) < 0)
			return;
	}
}

void
fuzz_broker_stop(struct broker *b)
{
	for (int k = 0; k < 2; k++)
		b->listeners[k].fd = -1;	/* fuzz_listeners' */
	fuzz_stock_take(b);
	b->wake = NULL;		/* fuzz_waker */
	broker_fini(b);
}

/* Takes on an effective uid and gid for this thread alone: the raw
 * system calls, not glibc's, which would change every thread. */
static bool
fuzz_become(uid_t uid, gid_t gid)
{
	if (syscall(SYS_setresgid, -1, gid, -1) < 0)
		return false;
	if (syscall(SYS_setresuid, -1, uid, -1) < 0) {
		syscall(SYS_setresgid, -1, getgid(), -1);
		return false;
	}
	return true;
}

static void
fuzz_unbecome(void)
{
	if (syscall(SYS_setresuid, -1, getuid(), -1) < 0 ||
	    syscall(SYS_setresgid, -1, getgid(), -1) < 0)
		abort();
}

/* A non-blocking socket of type connected to sun as uid/gid (when root),
 * or -1. */
static int
fuzz_connect_as(const struct sockaddr_un *sun, socklen_t len, int type,
    uid_t uid, gid_t gid)
{
	int fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), rc;
	bool became;

	if (fd < 0)
		return -1;
	became = getuid() == 0 && fuzz_become(uid, gid);
	rc = connect(fd, (const struct sockaddr *)sun, len);
	if (became)
		fuzz_unbecome();
	if (rc < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int
fuzz_broker_connect(struct broker *b, bool admin, uid_t uid, gid_t gid)
{
	struct sockaddr_un sun;
	socklen_t len = sizeof(sun);

	/* The listener's own address: the broker's, whichever it is. */
	if (getsockname(b->listeners[admin ? CONN_ADMIN : CONN_VMM].fd,
	    (struct sockaddr *)&sun, &len) < 0)
		abort();
	return fuzz_connect_as(&sun, len, SOCK_SEQPACKET, uid, gid);
}

int
fuzz_connect_path(const char *path, uid_t uid, gid_t gid)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sun.sun_path))
		return -1;
	strcpy(sun.sun_path, path);
	return fuzz_connect_as(&sun, sizeof(sun), SOCK_STREAM, uid, gid);
}

static void __attribute__((format(printf, 1, 2), noreturn))
fuzz_broken(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_broker: the broker's books disagree: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

static void
fuzz_check_region(const struct region *g)
{
	unsigned n = 0;

	for (int i = 0; i < REGION_MAX_CLIENTS; i++) {
		const struct client *cl = g->clients[i];
		bool bit = (g->active >> i) & 1u;

		if ((cl != NULL) != bit)
			fuzz_broken("region %s: index %d is %s but its active "
			    "bit is %d", g->name, i, cl ? "taken" : "free",
			    (int)bit);
		if (cl == NULL)
			continue;
		n++;
		if (cl->region != g || cl->index != i || cl->efd < 0)
			fuzz_broken("region %s: client %llu at index %d says "
			    "index %u", g->name, (unsigned long long)cl->id, i,
			    (unsigned)cl->index);
	}
	/* What a restart keeps for a client that comes back is never
	 * another's (registry.c hands it out by clearing its bit). */
	if (g->reserved & g->active)
		fuzz_broken("region %s: indices %#x are kept for returning "
		    "clients and taken (%#x)", g->name, (unsigned)g->reserved,
		    (unsigned)g->active);
	if (n != g->nclients)
		fuzz_broken("region %s: %u clients counted, %u recorded",
		    g->name, n, (unsigned)g->nclients);
	if (n > 0 && g->state.fd < 0)
		fuzz_broken("region %s has clients and no state page", g->name);
}

/* What the regions and clients charged to u add up to. */
static void
fuzz_check_usage(const struct broker *b, const struct tenant_usage *u)
{
	const struct region *g;
	const struct client *cl;
	uint32_t regions = 0, clients = 0;
	uint64_t bytes = 0;

	TAILQ_FOREACH(g, &b->reg.regions, entry)
		if (g->usage == u) {
			regions++;
			bytes += g->mem.bytes;
		}
	TAILQ_FOREACH(cl, &b->reg.clients, entry)
		if (cl->usage == u)
			clients++;
	if (regions != u->regions || clients != u->clients ||
	    bytes != u->bytes)
		fuzz_broken("tenant %s: charged %u regions, %u clients, %llu "
		    "bytes; holds %u, %u, %llu", u->name, u->regions,
		    u->clients, (unsigned long long)u->bytes, regions, clients,
		    (unsigned long long)bytes);
}

static size_t
fuzz_peer_queued_fds(const struct ivsh_peer *p)
{
	const struct ivsh_msg *m;
	size_t fds = 0;

	STAILQ_FOREACH(m, &p->outq, entry)
		fds += m->fd >= 0;
	return fds;
}

/* The QEMUs the daemon holds, on an export or orphaned; *fds: the fds
 * queued for them, which share the bound on all queues' fds (broker.h)
 * with the RPC's. */
static size_t
fuzz_ivshmem_peers(const struct broker *b, size_t *fds)
{
	const struct ivsh_export *e;
	const struct ivsh_peer *p;
	size_t n = 0;

	*fds = 0;
	if (b->ivshmem == NULL)
		return 0;
	LIST_FOREACH(e, &b->ivshmem->exports, entry)
		LIST_FOREACH(p, &e->peers, entry) {
			n++;
			*fds += fuzz_peer_queued_fds(p);
		}
	LIST_FOREACH(p, &b->ivshmem->orphans, entry) {
		n++;
		*fds += fuzz_peer_queued_fds(p);
	}
	return n;
}

static void
fuzz_check_conns(const struct broker *b)
{
	const struct conn *c;
	size_t live = 0, fds;

	fuzz_ivshmem_peers(b, &fds);

	TAILQ_FOREACH(c, &b->conns, entry) {
		live++;
		fds += c->outq_fds;
		if (c->dead)
			fuzz_broken("connection %llu is dead but listed live",
			    (unsigned long long)c->id);
	}
	TAILQ_FOREACH(c, &b->dead, entry)
		fds += c->outq_fds;
	if (live != b->nconns)
		fuzz_broken("%zu live connections, nconns %u", live, b->nconns);
	if (fds != b->outq_fds)
		fuzz_broken("queues hold %zu fds, the total says %zu", fds,
		    b->outq_fds);
}

void
fuzz_broker_check(const struct broker *b)
{
	const struct region *g;
	const struct client *cl;
	const struct tenant_usage *u;
	size_t regions = 0, clients = 0, attached = 0;

	TAILQ_FOREACH(g, &b->reg.regions, entry) {
		fuzz_check_region(g);
		regions++;
		attached += g->nclients;
	}
	TAILQ_FOREACH(cl, &b->reg.clients, entry)
		clients++;
	if (regions != b->reg.regions_by_name.count ||
	    regions != b->reg.regions_by_id.count)
		fuzz_broken("%zu regions listed, %zu by name, %zu by id",
		    regions, b->reg.regions_by_name.count,
		    b->reg.regions_by_id.count);
	if (clients != b->reg.clients_by_id.count || clients != attached)
		fuzz_broken("%zu clients listed, %zu by id, %zu attached",
		    clients, b->reg.clients_by_id.count, attached);
	LIST_FOREACH(u, &b->usages, entry)
		fuzz_check_usage(b, u);
	fuzz_check_conns(b);
}

void
fuzz_broker_check_empty(const struct broker *b)
{
	const struct region *g;
	size_t n, fds;

	fuzz_broker_check(b);
	if (b->nconns != 0 || !TAILQ_EMPTY(&b->dead)) {
		const struct conn *c = TAILQ_FIRST(&b->conns);

		fuzz_broken("%u connections left after every peer went "
		    "(the first: %llu, uid %u, reads paused %d, queued %zu)",
		    b->nconns, c ? (unsigned long long)c->id : 0ull,
		    c ? (unsigned)c->cred.uid : 0u, c ? (int)c->reads_paused : 0,
		    c ? c->outq_count : 0);
	}
	if (b->reg.clients_by_id.count != 0)
		fuzz_broken("%zu clients left after every peer went",
		    b->reg.clients_by_id.count);
	if ((n = fuzz_ivshmem_peers(b, &fds)) != 0)
		fuzz_broken("%zu QEMUs left after every peer went", n);
	TAILQ_FOREACH(g, &b->reg.regions, entry)
		if (g->origin == ORIGIN_GUEST || g->state.fd >= 0)
			fuzz_broken("region %s (origin %d) outlived its clients "
			    "%s", g->name, (int)g->origin, g->state.fd >= 0 ?
			    "with its state page" : "");
}

/* What an attach reply or a peer event promises, it carries. */
static void
fuzz_check_fds(const Shmbroker__ServerMessage *m, size_t nfds)
{
	size_t want = 0;

	if (m->body_case == SHMBROKER__SERVER_MESSAGE__BODY_ATTACH &&
	    m->attach->status == SHMBROKER__GUEST_STATUS__GSS_OK) {
		uint32_t idx = m->attach->index, act = m->attach->active_mask;

		if (idx >= REGION_MAX_CLIENTS || !(act & (1u << idx)) ||
		    act >> REGION_MAX_CLIENTS != 0) {
			fprintf(stderr, "fuzz_broker: attach reply: index %u, active %#x\n",
			    idx, act);
			abort();
		}
		want = 3 + (size_t)__builtin_popcount(act & ~(1u << idx));
	} else if (m->body_case ==
	    SHMBROKER__SERVER_MESSAGE__BODY_PEER_CHANGED) {
		want = m->peer_changed->attached ? 1 : 0;
	}
	if (nfds != want) {
		fprintf(stderr, "fuzz_broker: a reply of body %d carries %zu fds, not %zu\n",
		    (int)m->body_case, nfds, want);
		abort();
	}
}

void
fuzz_broker_read(int fd, fuzz_reply_fn *fn, void *arg)
{
	static uint8_t buf[WIRE_MAX_MESSAGE];
	struct wire_fds fds;
	ssize_t n;

	while ((n = wire_recv_flags(fd, buf, sizeof(buf), &fds,
	    MSG_DONTWAIT)) > 0) {
		Shmbroker__ServerMessage *m =
		    shmbroker__server_message__unpack(NULL, (size_t)n, buf);

		if (m == NULL) {
			fprintf(stderr, "fuzz_broker: the daemon sent %zd bytes "
			    "that are not a ServerMessage\n", n);
			abort();
		}
		fuzz_check_fds(m, fds.n);
		if (fn != NULL)
			fn(m, fds.n, arg);
		wire_fds_close(&fds);
		shmbroker__server_message__free_unpacked(m, NULL);
	}
}
