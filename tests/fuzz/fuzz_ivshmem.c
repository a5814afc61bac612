/* SPDX-License-Identifier: ISC */
/*
 * fuzz_ivshmem: the daemon's side of QEMU's ivshmem server protocol
 * (daemon/ivshmem*.c), as stock QEMUs and the VMMs that share regions
 * with them reach it. Each input starts a real broker in-process
 * (fuzz_broker.h) whose configuration exports two regions on ivshmem
 * sockets; QEMUs connect to them as several uids, read what they are sent
 * or leave it unread, ring the doorbells they were given with any value,
 * send what a QEMU never sends (bytes, fds), hang up and close, in the
 * order the input says (fuzz_ivshmem.h), while VMMs attach to, notify in
 * and detach from the same regions and an admin exports, unexports and
 * destroys them. Beyond the sanitizers it checks what each QEMU reads
 * against the protocol (version 0, its index, the region's memfd of a
 * power-of-two size, then each index's vectors once, and no peer told
 * after one was said to leave), that the broker's books agree after
 * every run of its loop, that once every peer is gone nothing of theirs
 * is left, and that no descriptor outlives the broker.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_broker.h"
#include "fuzz_input.h"
#include "fuzz_ivshmem.h"
#include "ivshmem_int.h"

#define MAX_QEMUS 12
#define MAX_VMMS 8
#define MAX_IDS 32
#define QEMU_EFDS 48		/* doorbells a QEMU keeps to ring */
#define RUN_PASSES 1000
/* What the loop may watch: every export's socket, every QEMU's, each
 * one's relays and each exported region's doorbells. */
#define MAX_POLLS (FI_PATH_COUNT + MAX_QEMUS * (1 + REGION_MAX_CLIENTS * \
	IVSHMEM_MAX_VECTORS) + FI_NAME_COUNT * REGION_MAX_CLIENTS * \
	IVSHMEM_MAX_VECTORS)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct { uid_t uid; gid_t gid; } fi_ids[FI_IDENTITIES] = {
	{ 0, 0 }, { 1001, 1001 }, { 1500, 1002 }, { 65534, 65534 },
};

static const char *const fi_names[FI_NAME_COUNT] = {
	"shared", "private", "vm-a", "vm-b",
};

static const char *const fi_files[FI_PATH_COUNT] = {
	"run/shared.sock", "run/private.sock", "run/a.sock", "run/b.sock",
	"outside.sock",
};

/* A QEMU as the protocol sees it: what it has read so far. */
struct fi_qemu {
	int fd;
	uint8_t rx[8];		/* a message read in part */
	size_t have;
	int rx_fd;		/* the fd that came with it */
	unsigned msgs;		/* messages read whole */
	unsigned want_vectors;	/* the export's, when it connected */
	uint64_t want_bytes;	/* its region's */
	int self;		/* its index, once told */
	uint16_t told;		/* indices whose vectors came */
	uint16_t gone;		/* ... and that were said to leave */
	int last;		/* the index of the last vector */
	uint8_t vectors[REGION_MAX_CLIENTS];
	bool refused;		/* it was sent an errno for a version */
	int efd[QEMU_EFDS];
	uint8_t efd_of[QEMU_EFDS], efd_vector[QEMU_EFDS];
	size_t nefd;
};

struct fi_vmm {
	int fd;
	uint64_t next_id;
};

struct fi_run {
	struct broker *b;
	struct fi_qemu q[MAX_QEMUS];
	size_t nq;
	struct fi_vmm v[MAX_VMMS];
	size_t nv;
	struct fi_vmm admin;
	uint64_t ids[MAX_IDS];
	size_t nids;
};

static char fi_paths[FI_PATH_COUNT][IVSHMEM_PATH_MAX];
static char fi_dir[64], fi_rundir[80];
static const char *fi_conf_path;
/* FUZZ_TRACE=1: print what the QEMUs read and the daemon answers. */
static bool fi_trace;

static void
fi_cleanup(void)
{
	for (size_t i = 0; i < FI_PATH_COUNT; i++)
		unlink(fi_paths[i]);
	rmdir(fi_rundir);
	rmdir(fi_dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char conf[1024];

	fuzz_broker_process_init(*argc, *argv);
	/* In tmpfs where there is one: every input binds its sockets
	 * anew, which on a disk's file system costs a new inode each. */
	snprintf(fi_dir, sizeof(fi_dir), "/dev/shm/shmbroker-fuzz-ivshmem."
	    "XXXXXX");
	if (mkdtemp(fi_dir) == NULL)
		snprintf(fi_dir, sizeof(fi_dir), "/tmp/shmbroker-fuzz-ivshmem."
		    "XXXXXX");
	/* Other uids connect to the sockets in it. As systemd would, the
	 * daemon is given a runtime directory for its sockets: exports
	 * elsewhere are refused. */
	if ((fi_dir[1] == 't' && mkdtemp(fi_dir) == NULL) ||
	    chmod(fi_dir, 0755) < 0)
		abort();
	snprintf(fi_rundir, sizeof(fi_rundir), "%s/run", fi_dir);
	if (mkdir(fi_rundir, 0755) < 0 ||
	    setenv("RUNTIME_DIRECTORY", fi_rundir, 1) < 0)
		abort();
	for (size_t i = 0; i < FI_PATH_COUNT; i++)
		snprintf(fi_paths[i], sizeof(fi_paths[i]), "%s/%s", fi_dir,
		    fi_files[i]);
	atexit(fi_cleanup);
	snprintf(conf, sizeof(conf),
	    "[broker]\nhugepages = never\ntenancy = open\n"
	    "max_region_size = 1M\nmax_connections = 32\n\n"
	    "[region shared]\nsize = 64K\nmode = 0666\n"
	    "ivshmem = %s\nivshmem_vectors = 2\n\n"
	    "[region private]\nsize = 4K\nmode = 0600\nivshmem = %s\n",
	    fi_paths[FI_PATH_SHARED], fi_paths[FI_PATH_PRIVATE]);
	fi_conf_path = fuzz_broker_file(0, conf, strlen(conf));
	fi_trace = getenv("FUZZ_TRACE") != NULL;
	return 0;
}

static void __attribute__((noreturn))
fi_broken(const struct fi_qemu *q, const char *what, long long v)
{
	fprintf(stderr, "fuzz_ivshmem: QEMU (message %u): %s (%lld)\n",
	    q->msgs, what, v);
	abort();
}

/* ---- the broker's loop, with the QEMUs' sockets and doorbells ---- */

struct fi_polls {
	struct pollfd p[MAX_POLLS];
	const char *what[MAX_POLLS];
	nfds_t n;
	bool busy;		/* no need to poll: there is work */
	const char *why;	/* ... and what it is */
};

static void
fi_watch(struct fi_polls *w, int fd, const struct event *ev, short events,
    const char *what)
{
	if (ev == NULL ||
	    !event_pending(ev, events == POLLOUT ? EV_WRITE : EV_READ, NULL))
		return;
	if (w->n == MAX_POLLS)
		abort();	/* MAX_POLLS is wrong */
	w->what[w->n] = what;
	w->p[w->n++] = (struct pollfd){ fd, events, 0 };
}

/* A doorbell source past its burst sleeps out a 10 ms window
 * (ivshmem_throttle.c): its wake comes now, as fuzz_broker.c's retry
 * tick does for the RPC's queues. */
static void
fi_wake(struct fi_polls *w, const struct ivsh_throttle *t)
{
	if (t->paused) {
		event_active(t->resume, EV_TIMEOUT, 1);
		w->busy = true;
		w->why = "a doorbell source paused";
	}
}

static void
fi_watch_peer(struct fi_polls *w, const struct ivsh_peer *pe)
{
	/* Dropped, or told to leave and through with it: closed by a timer
	 * of no length (ivsh_peer_close_later). */
	if (pe->dropped || (pe->closing && STAILQ_EMPTY(&pe->outq))) {
		w->busy = true;
		w->why = pe->dropped ? "a QEMU dropped" : "a QEMU told to leave";
	}
	fi_wake(w, &pe->throttle);
	fi_watch(w, pe->fd, pe->ev_read, POLLIN, "a QEMU's socket");
	fi_watch(w, pe->fd, pe->ev_write, POLLOUT, "a QEMU's queue");
	for (int i = 0; i < REGION_MAX_CLIENTS; i++)
		for (int v = 0; v < IVSHMEM_MAX_VECTORS; v++)
			if (pe->relay[i][v].ev != NULL)
				fi_watch(w, pe->relay[i][v].efd,
				    pe->relay[i][v].ev, POLLIN, "a relay");
}

/* Is there ivshmem work: a QEMU to accept, one that sent or went, a
 * queue it now takes, a doorbell rung, an event made active? Only what
 * the daemon listens for counts: a socket it does not read now is no
 * work. */
static bool
fi_busy(const struct broker *b, bool say)
{
	static struct fi_polls w;
	const struct ivsh_export *e;
	const struct ivsh_peer *pe;
	const struct ivsh_slots *s;
	int ready;

	if (event_base_get_num_events(b->base, EVENT_BASE_COUNT_ACTIVE) > 0) {
		if (say)
			fprintf(stderr, "fuzz_ivshmem: events active\n");
		return true;
	}
	w.n = 0;
	w.busy = false;
	LIST_FOREACH(e, &b->ivshmem->exports, entry) {
		fi_watch(&w, e->fd, e->ev, POLLIN, "an export");
		LIST_FOREACH(pe, &e->peers, entry)
			fi_watch_peer(&w, pe);
	}
	LIST_FOREACH(pe, &b->ivshmem->orphans, entry)
		fi_watch_peer(&w, pe);
	LIST_FOREACH(s, &b->ivshmem->slots, entry) {
		fi_wake(&w, &s->throttle);
		for (int i = 0; i < REGION_MAX_CLIENTS; i++)
			for (int v = 0; v < IVSHMEM_MAX_VECTORS; v++)
				if (s->ring[i][v].watched)
					fi_watch(&w, s->ring[i][v].efd,
					    s->ring[i][v].ev, POLLIN,
					    "a watched doorbell");
	}
	if (w.busy) {
		if (say)
			fprintf(stderr, "fuzz_ivshmem: %s\n", w.why);
		return true;
	}
	do
		ready = w.n > 0 ? poll(w.p, w.n, 0) : 0;
	while (ready < 0 && errno == EINTR);
	for (nfds_t i = 0; say && i < w.n; i++)
		if (w.p[i].revents != 0)
			fprintf(stderr, "fuzz_ivshmem: %s (fd %d) is ready "
			    "(%#x)\n", w.what[i], w.p[i].fd,
			    (unsigned)w.p[i].revents);
	return ready > 0;
}

/* The loop until nothing is left to do. What the peers did is finite:
 * a loop that never settles is the daemon's fault (a spin). */
static void
fi_run(struct fi_run *r)
{
	for (int i = 0; i < RUN_PASSES; i++) {
		fuzz_broker_run(r->b);
		if (!fi_busy(r->b, false)) {
			fuzz_broker_check(r->b);
			return;
		}
		event_base_loop(r->b->base, EVLOOP_NONBLOCK);
	}
	fprintf(stderr, "fuzz_ivshmem: the daemon's loop still has work "
	    "after %d passes:\n", RUN_PASSES);
	fi_busy(r->b, true);
	abort();
}

/* ---- QEMUs ---- */

static void
fi_qemu_keep(struct fi_qemu *q, int fd, unsigned index, unsigned vector)
{
	if (q->nefd == QEMU_EFDS) {
		close(fd);
		return;
	}
	q->efd[q->nefd] = fd;
	q->efd_vector[q->nefd] = (uint8_t)vector;
	q->efd_of[q->nefd++] = (uint8_t)index;
}

/* One whole message, checked against what the daemon promises. */
static void
fi_qemu_message(struct fi_qemu *q, int64_t v, int fd)
{
	struct stat st;
	unsigned n = q->msgs++;

	if (fi_trace)
		fprintf(stderr, "qemu %d: message %u: %lld%s\n", q->fd, n,
		    (long long)v, fd >= 0 ? " with an fd" : "");
	/* A refusal is a negative errno for a version, which stock QEMU
	 * prints ("server sent version -13"), and the end. */
	if (q->refused)
		fi_broken(q, "a message after a refusal", v);
	if (n == 0 && v < 0 && v >= -4095 && fd < 0) {
		q->refused = true;
		return;
	}
	if (n == 0 && (v != IVSHMEM_PROTOCOL_VERSION || fd >= 0))
		fi_broken(q, "the first message is not the version", v);
	if (n == 1 && (v < 0 || v >= REGION_MAX_CLIENTS || fd >= 0))
		fi_broken(q, "the second message is not an index", v);
	if (n == 1)
		q->self = (int)v;
	if (n == 2) {
		if (v != IVSHMEM_MSG_SHMEM || fd < 0 || fstat(fd, &st) < 0 ||
		    (uint64_t)st.st_size != q->want_bytes ||
		    (st.st_size & (st.st_size - 1)) != 0)
			fi_broken(q, "the third message is not the region's "
			    "memfd", v);
		close(fd);
	}
	if (n < 3)
		return;
	if (v < 0 || v >= REGION_MAX_CLIENTS)
		fi_broken(q, "a peer message names no index", v);
	if (fd < 0) {
		/* As it leaves, each index it was told of, once. */
		if (!(q->told >> v & 1) || (q->gone >> v & 1))
			fi_broken(q, "a peer said to leave that it was not "
			    "told of, or twice", v);
		q->gone |= (uint16_t)(1u << v);
		return;
	}
	if (q->gone != 0)
		fi_broken(q, "a peer's vector after one was said to leave", v);
	if (v != q->last && v != q->self && (q->told >> v & 1))
		fi_broken(q, "an index told a second time", v);
	if (++q->vectors[v] > q->want_vectors)
		fi_broken(q, "more vectors than the export has", v);
	if (v != q->self)
		q->told |= (uint16_t)(1u << v);
	q->last = (int)v;
	fi_qemu_keep(q, fd, (unsigned)v, q->vectors[v] - 1u);
}

/* Reads up to one message's rest; false when nothing more comes now. */
static bool
fi_qemu_recv(struct fi_qemu *q)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { q->rx + q->have, sizeof(q->rx) - q->have };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
	ssize_t n = recvmsg(q->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

	if (n <= 0)
		return false;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL;
	    c = CMSG_NXTHDR(&mh, c)) {
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int fds[8];

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		memcpy(fds, CMSG_DATA(c), k * sizeof(int));
		for (size_t i = 0; i < k; i++) {
			if (q->rx_fd >= 0)
				fi_broken(q, "two fds with one message", fds[i]);
			q->rx_fd = fds[i];
		}
	}
	q->have += (size_t)n;
	if (q->have == sizeof(q->rx)) {
		fi_qemu_message(q, ivshmem_decode(q->rx), q->rx_fd);
		q->have = 0;
		q->rx_fd = -1;
	}
	return true;
}

static struct fi_qemu *
fi_qemu_pick(struct fi_run *r, struct fin *in)
{
	uint8_t k = fin_u8(in);

	return r->nq == 0 ? NULL : &r->q[k % r->nq];
}

/* The export on path now: what a QEMU that connects there is owed. */
static const struct ivsh_export *
fi_export_at(const struct broker *b, const char *path)
{
	const struct ivsh_export *e;

	LIST_FOREACH(e, &b->ivshmem->exports, entry)
		if (strcmp(e->path, path) == 0)
			return e;
	return NULL;
}

static void
fi_qconnect(struct fi_run *r, struct fin *in)
{
	unsigned path = fin_u8(in) % FI_PATH_COUNT;
	unsigned who = fin_u8(in) % FI_IDENTITIES;
	const struct ivsh_export *e = fi_export_at(r->b, fi_paths[path]);
	int fd;

	if (r->nq == MAX_QEMUS || e == NULL)
		return;
	fd = fuzz_connect_path(fi_paths[path], fi_ids[who].uid,
	    fi_ids[who].gid);
	if (fd >= 0)
		r->q[r->nq++] = (struct fi_qemu){ .fd = fd, .rx_fd = -1,
		    .self = -1, .last = -1, .want_vectors = e->vectors,
		    .want_bytes = e->region->mem.bytes };
}

static void
fi_qread(struct fi_run *r, struct fin *in)
{
	struct fi_qemu *q = fi_qemu_pick(r, in);
	uint64_t count;

	if (q == NULL)
		return;
	while (fi_qemu_recv(q))
		;
	/* Its own vectors' doorbells, as its irqfds would take them. */
	for (size_t i = 0; i < q->nefd; i++)
		if (q->efd_of[i] == q->self &&
		    read(q->efd[i], &count, sizeof(count)) < 0 &&
		    errno != EAGAIN)
			fi_broken(q, "a doorbell that cannot be read", errno);
}

static void
fi_qring(struct fi_run *r, struct fin *in, bool all)
{
	struct fi_qemu *q = fi_qemu_pick(r, in);
	unsigned index = all ? 0 : fin_u8(in) % REGION_MAX_CLIENTS;
	unsigned vector = all ? 0 : fin_u8(in) % IVSHMEM_MAX_VECTORS;
	uint64_t v = all ? 1 : fin_u64(in);

	/* Any value: the eventfds are non-blocking, a full one refuses. */
	for (size_t i = 0; q != NULL && i < q->nefd; i++)
		if (all || (q->efd_of[i] == index &&
		    q->efd_vector[i] == vector))
			(void)!write(q->efd[i], &v, sizeof(v));
}

/* Every QEMU the daemon holds, on an export or orphaned. */
#define FI_FOREACH_PEER(b, e, pe, body) do {				\
	LIST_FOREACH(e, &(b)->ivshmem->exports, entry)			\
		LIST_FOREACH(pe, &e->peers, entry) body			\
	LIST_FOREACH(pe, &(b)->ivshmem->orphans, entry) body		\
} while (0)

/* The daemon's end of every QEMU's socket gets the smallest send buffer
 * the kernel allows: a few messages, then its queue and write path. */
static void
fi_squeeze(struct fi_run *r)
{
	const struct ivsh_export *e;
	const struct ivsh_peer *pe;
	int one = 1;

	FI_FOREACH_PEER(r->b, e, pe, {
		setsockopt(pe->fd, SOL_SOCKET, SO_SNDBUF, &one, sizeof(one));
	});
}

/* The 5 s a QEMU told to leave has to read it end now. */
static void
fi_grace(struct fi_run *r)
{
	const struct ivsh_export *e;
	const struct ivsh_peer *pe;

	FI_FOREACH_PEER(r->b, e, pe, {
		if (pe->closing && event_pending(pe->ev_close, EV_TIMEOUT,
		    NULL))
			event_active(pe->ev_close, EV_TIMEOUT, 1);
	});
}

/* A descriptor of one of the kinds a QEMU might pass, or -1. */
static int
fi_some_fd(unsigned kind)
{
	switch (kind) {
	case 0:
		return eventfd(0, EFD_CLOEXEC);
	case 1:
		return memfd_create("fuzz", MFD_CLOEXEC);
	default:
		return open("/dev/null", O_RDWR | O_CLOEXEC);
	}
}

static void
fi_qsend(struct fi_run *r, struct fin *in)
{
	struct fi_qemu *q = fi_qemu_pick(r, in);
	uint8_t spec = fin_u8(in);
	size_t len, nfds = spec & 3, k;
	const uint8_t *data = fin_bytes(in, FI_SEND_MAX, &len);
	int fds[3];

	if (q == NULL)
		return;
	for (k = 0; k < nfds; k++)
		if ((fds[k] = fi_some_fd((spec >> (2 + 2 * k)) & 3)) < 0)
			break;
	/* The daemon reads with read(2): the kernel drops the fds. */
	wire_send(q->fd, data, len, fds, k);
	while (k > 0)
		close(fds[--k]);
}

static void
fi_qemu_close(struct fi_qemu *q)
{
	close(q->fd);
	if (q->rx_fd >= 0)
		close(q->rx_fd);
	for (size_t i = 0; i < q->nefd; i++)
		close(q->efd[i]);
}

static void
fi_qclose(struct fi_run *r, struct fin *in, bool hangup)
{
	struct fi_qemu *q = fi_qemu_pick(r, in);

	if (q == NULL)
		return;
	if (hangup) {
		shutdown(q->fd, SHUT_WR);
		return;
	}
	fi_qemu_close(q);
	*q = r->q[--r->nq];
}

/* ---- VMMs and the admin ---- */

static void
fi_send(struct fi_run *r, struct fi_vmm *v, Shmbroker__ClientMessage *m)
{
	m->id = ++v->next_id;
	if (wire_send_client(v->fd, m, NULL, 0) == -EAGAIN) {
		fi_run(r);
		wire_send_client(v->fd, m, NULL, 0);
	}
}

/* Learns the client ids of attach replies, the last MAX_IDS. */
static void
fi_reply(const Shmbroker__ServerMessage *m, size_t nfds, void *arg)
{
	struct fi_run *r = arg;

	if (fi_trace)
		fprintf(stderr, "vmm: id %llu body %d error %d fds %zu: %s\n",
		    (unsigned long long)m->id, (int)m->body_case,
		    (int)m->error, nfds, m->message);
	if (m->body_case == SHMBROKER__SERVER_MESSAGE__BODY_ATTACH &&
	    m->attach->status == SHMBROKER__GUEST_STATUS__GSS_OK)
		r->ids[r->nids++ % MAX_IDS] = m->attach->client_id;
}

static void
fi_vread(struct fi_run *r, struct fi_vmm *v)
{
	fuzz_broker_read(v->fd, fi_reply, r);
}

static struct fi_vmm *
fi_vmm_pick(struct fi_run *r, struct fin *in)
{
	uint8_t k = fin_u8(in);

	return r->nv == 0 ? NULL : &r->v[k % r->nv];
}

static uint64_t
fi_client(struct fi_run *r, struct fin *in)
{
	uint8_t k = fin_u8(in);

	size_t known = r->nids < MAX_IDS ? r->nids : MAX_IDS;

	if (k < 0x80 && known > 0)
		return r->ids[k % known];
	return (uint64_t)(k & 0x7f);
}

static void
fi_vconnect(struct fi_run *r, struct fin *in)
{
	unsigned who = fin_u8(in) % FI_IDENTITIES;
	int fd;

	if (r->nv == MAX_VMMS)
		return;
	fd = fuzz_broker_connect(r->b, false, fi_ids[who].uid,
	    fi_ids[who].gid);
	if (fd >= 0)
		r->v[r->nv++] = (struct fi_vmm){ fd, 0 };
}

static void
fi_vattach(struct fi_run *r, struct fin *in)
{
	Shmbroker__ClientMessage m = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__Attach a = SHMBROKER__ATTACH__INIT;
	struct fi_vmm *v = fi_vmm_pick(r, in);
	const char *name = fi_names[fin_u8(in) % FI_NAME_COUNT];

	a.name.data = (uint8_t *)name;
	a.name.len = strlen(name) + 1;
	a.create = fin_u8(in) & 1;
	a.size_pages = fin_u32(in);
	a.want_index = fin_u32(in);
	m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ATTACH;
	m.attach = &a;
	if (v != NULL)
		fi_send(r, v, &m);
}

static void
fi_vclient_op(struct fi_run *r, struct fin *in, bool notify)
{
	Shmbroker__ClientMessage m = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__Notify n = SHMBROKER__NOTIFY__INIT;
	Shmbroker__Detach d = SHMBROKER__DETACH__INIT;
	struct fi_vmm *v = fi_vmm_pick(r, in);
	uint64_t id = fi_client(r, in);

	if (notify) {
		n.client_id = id;
		n.mask = fin_u32(in);
		m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_NOTIFY;
		m.notify = &n;
	} else {
		d.client_id = id;
		m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_DETACH;
		m.detach = &d;
	}
	if (v != NULL)
		fi_send(r, v, &m);
}

static void
fi_vclose(struct fi_run *r, struct fin *in)
{
	struct fi_vmm *v = fi_vmm_pick(r, in);

	if (v == NULL)
		return;
	close(v->fd);
	*v = r->v[--r->nv];
}

static void
fi_admin_send(struct fi_run *r, Shmbroker__ClientMessage *m)
{
	fi_send(r, &r->admin, m);
	fi_run(r);
	fi_vread(r, &r->admin);
}

static void
fi_admin(struct fi_run *r, struct fin *in, enum fi_op op)
{
	Shmbroker__ClientMessage m = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminExport ex = SHMBROKER__ADMIN_EXPORT__INIT;
	Shmbroker__AdminUnexport un = SHMBROKER__ADMIN_UNEXPORT__INIT;
	Shmbroker__AdminDestroy de = SHMBROKER__ADMIN_DESTROY__INIT;
	char *name = (char *)fi_names[fin_u8(in) % FI_NAME_COUNT];
	uint8_t arg = fin_u8(in);

	switch (op) {
	case FI_OP_EXPORT:
		ex.name = name;
		ex.path = fi_paths[arg % FI_PATH_COUNT];
		ex.vectors = fin_u8(in) % (IVSHMEM_MAX_VECTORS + 2);
		m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_EXPORT;
		m.admin_export = &ex;
		break;
	case FI_OP_UNEXPORT:
		un.name = name;
		un.path = arg < FI_PATH_COUNT ? fi_paths[arg] : (char *)"";
		m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_UNEXPORT;
		m.admin_unexport = &un;
		break;
	default:
		de.name = name;
		de.force = arg & 1;
		m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_DESTROY;
		m.admin_destroy = &de;
		break;
	}
	fi_admin_send(r, &m);
}

/* An admin's force-detach of one client, a QEMU's as well as a VMM's. */
static void
fi_adetach(struct fi_run *r, struct fin *in)
{
	Shmbroker__ClientMessage m = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminDetach dt = SHMBROKER__ADMIN_DETACH__INIT;

	dt.client_id = fi_client(r, in);
	m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_DETACH;
	m.admin_detach = &dt;
	fi_admin_send(r, &m);
}

static void
fi_step(struct fi_run *r, struct fin *in)
{
	enum fi_op op = (enum fi_op)(fin_u8(in) % FI_OP_COUNT);
	struct fi_vmm *v;

	switch (op) {
	case FI_OP_QCONNECT: fi_qconnect(r, in); break;
	case FI_OP_QREAD: fi_qread(r, in); break;
	case FI_OP_QRING: fi_qring(r, in, false); break;
	case FI_OP_QRINGALL: fi_qring(r, in, true); break;
	case FI_OP_SQUEEZE: fi_squeeze(r); break;
	case FI_OP_GRACE: fi_grace(r); break;
	case FI_OP_DETACH: fi_adetach(r, in); break;
	case FI_OP_QSEND: fi_qsend(r, in); break;
	case FI_OP_QCLOSE: fi_qclose(r, in, false); break;
	case FI_OP_QHANGUP: fi_qclose(r, in, true); break;
	case FI_OP_VCONNECT: fi_vconnect(r, in); break;
	case FI_OP_VATTACH: fi_vattach(r, in); break;
	case FI_OP_VNOTIFY: fi_vclient_op(r, in, true); break;
	case FI_OP_VDETACH: fi_vclient_op(r, in, false); break;
	case FI_OP_VREAD:
		if ((v = fi_vmm_pick(r, in)) != NULL)
			fi_vread(r, v);
		break;
	case FI_OP_VCLOSE: fi_vclose(r, in); break;
	case FI_OP_EXPORT:
	case FI_OP_UNEXPORT:
	case FI_OP_DESTROY: fi_admin(r, in, op); break;
	default: fi_run(r); break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[] = { (char *)"shmbrokerd", (char *)"--log-level",
	    (char *)"error", (char *)"--config", (char *)fi_conf_path, NULL };
	struct fin in = { data, size };
	struct fi_run r = { 0 };
	char err[512];

	fuzz_fds_mark();
	if ((r.b = fuzz_broker_start(5, argv, err, sizeof(err))) == NULL ||
	    ivshmem_export_configured(r.b, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_ivshmem: %s\n", err);
		abort();
	}
	if ((r.admin.fd = fuzz_broker_connect(r.b, true, 0, 0)) < 0)
		abort();
	while (!fin_done(&in))
		fi_step(&r, &in);
	fi_run(&r);
	for (size_t i = 0; i < r.nq; i++) {
		while (fi_qemu_recv(&r.q[i]))
			;
		fi_qemu_close(&r.q[i]);
	}
	for (size_t i = 0; i < r.nv; i++) {
		fi_vread(&r, &r.v[i]);
		close(r.v[i].fd);
	}
	close(r.admin.fd);
	fi_run(&r);
	fuzz_broker_drain(r.b);
	fuzz_broker_check_empty(r.b);
	fuzz_broker_stop(r.b);
	fuzz_fds_check("fuzz_ivshmem");
	return 0;
}
