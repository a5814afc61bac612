/* SPDX-License-Identifier: ISC */
/*
 * fuzz_client: libshmclient against a daemon that lies. The harness plays
 * shmbrokerd on a real socket: a thread accepts libshmclient's
 * connections and sends each the datagrams the input says (replies with
 * any ids and fields, events, errors, raw bytes; with fds that are right,
 * missing, too many, or of the wrong kind, size or seals), while the main
 * thread makes the calls a VMM makes (attach, claim, notify, status
 * reads, detach, dispatch, eventfds, admin calls), with reconnects and
 * with the socket out of the event fd's set during calls (an event
 * thread's mode) when the input asks. What is checked: no crash or
 * sanitizer report, every result within what shmclient.h promises, a
 * region that comes back from an attach mapped and touched at both ends
 * as a VMM would, every event readable, and no descriptor left once the
 * connection is closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fuzz_client.h"
#include "fuzz_fds.h"
#include "fuzz_input.h"
#include "shmclient_admin.h"
#include "wire.h"

#define MAX_IDS 32
#define QUIET_WAIT_MS 2000
#define CALL_TIMEOUT_MS 100

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
static void fc_daemon_start(void);

struct fc_dgram {
	uint64_t id;
	uint8_t *buf;
	size_t len;
	int fds[FC_MAX_FDS];
	ino_t inos[FC_MAX_FDS];	/* which file each fd is, to tell if the
				 * library closed one it does not own */
	size_t nfds;
};

struct fc_conn {
	struct fc_dgram d[FC_MAX_DGRAMS];
	size_t n;
};

/* The connection being served. */
struct fc_serving {
	int sock;
	struct fc_conn *conn;
	size_t next;		/* the next datagram to queue */
	uint64_t asked;		/* the highest request id read */
	bool hang_up;		/* a request that no datagram answers */
	bool hung_up;
};

/* The fake daemon: its script, its socket, and how far it got. Under
 * lock while an input runs: the thread serves when the client waits in
 * a call, the main thread settles it itself before each call. */
struct fc_daemon {
	struct fc_conn conns[FC_MAX_CONNS];
	size_t nconns;
	int listener;
	int poke[2];		/* wakes the thread to poll anew: the
				 * main thread changed what it polls */
	pthread_mutex_t lock;
	bool serving;		/* between an input's start and end */
	struct fc_serving sv;
	size_t k;		/* the next of conns to accept */
};

/* FUZZ_TRACE=1: print each call and what it returned (to look at a
 * seed). */
static bool fc_trace;
static char fc_dir[64];
static char fc_path[128];
static uint8_t fc_arena[FC_MAX_CONNS * FC_MAX_DGRAMS * (FC_RAW_MAX + 512)];
static size_t fc_arena_used;

static void
fc_cleanup(void)
{
	unlink(fc_path);
	rmdir(fc_dir);
}

/* The two threads hand over at every call: on one CPU that is a few
 * microseconds, across two (on this project's hosts) ten times more. */
static void
fc_same_cpu(void)
{
	cpu_set_t set;
	int cpu = sched_getcpu();

	CPU_ZERO(&set);
	CPU_SET(cpu >= 0 ? cpu : 0, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(fc_dir, sizeof(fc_dir), "/tmp/shmbroker-fuzz-client.XXXXXX");
	if (mkdtemp(fc_dir) == NULL)
		abort();
	snprintf(fc_path, sizeof(fc_path), "%s/vmm.sock", fc_dir);
	atexit(fc_cleanup);
	fc_same_cpu();
	fc_trace = getenv("FUZZ_TRACE") != NULL;
	signal(SIGPIPE, SIG_IGN);
	fc_daemon_start();
	return 0;
}

/* ---- the fake daemon's datagrams ---- */

static int
fc_memfd(size_t size, bool seal)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)size) < 0 || (seal && fcntl(fd, F_ADD_SEALS,
	    F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
fc_make_fd(enum fc_fd kind, uint32_t region_pages)
{
	int p[2], fd;

	switch (kind) {
	case FC_FD_REGION:
		return fc_memfd((size_t)(region_pages ? region_pages : 1) * 4096,
		    true);
	case FC_FD_STATE:
		return fc_memfd(4096, true);
	case FC_FD_EVENTFD:
		return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	case FC_FD_EMPTY_MEMFD:
		return fc_memfd(0, false);
	case FC_FD_UNSEALED_PAGE:
		return fc_memfd(4096, false);
	case FC_FD_DEVNULL:
		return open("/dev/null", O_RDWR | O_CLOEXEC);
	case FC_FD_PIPE:
		if (pipe2(p, O_CLOEXEC) < 0)
			return -1;
		close(p[1]);
		return p[0];
	default:
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p) < 0)
			return -1;
		close(p[1]);
		fd = p[0];
		return fd;
	}
}

/* The kinds: as the daemon sends them (region, state page, eventfds) for
 * profile 0, the others mixed by the profile bits and the position. */
static enum fc_fd
fc_fd_kind(unsigned profile, size_t i)
{
	if (profile == 0)
		return i == 0 ? FC_FD_REGION : i == 1 ? FC_FD_STATE :
		    FC_FD_EVENTFD;
	return (enum fc_fd)((profile * 5 + i * 3 + (i == 1)) % FC_FD_COUNT);
}

static void
fc_text(struct fin *in, char *buf)
{
	size_t len;
	const uint8_t *p = fin_bytes(in, FC_TEXT_MAX, &len);

	memcpy(buf, p, len);
	buf[len] = '\0';
}

/* Fills m with a datagram of the kind; returns how many fds an attach
 * reply promises (0 for anything else). */
static size_t
fc_message(struct fin *in, enum fc_dgram_kind kind, Shmbroker__ServerMessage *m,
    void *body, char *t1, char *t2, uint32_t *pages)
{
	Shmbroker__AttachReply *a = body;
	Shmbroker__PeerChanged *pc = body;
	Shmbroker__Notification *no = body;
	Shmbroker__AdminEvent *ae = body;

	switch (kind) {
	case FC_DG_HELLO:
		shmbroker__hello_reply__init(body);
		((Shmbroker__HelloReply *)body)->version = fin_u32(in);
		m->body_case = SHMBROKER__SERVER_MESSAGE__BODY_HELLO;
		m->hello = body;
		return 0;
	case FC_DG_ATTACH:
		shmbroker__attach_reply__init(a);
		a->status = (Shmbroker__GuestStatus)(int32_t)fin_u32(in);
		a->client_id = fin_u64(in);
		a->region_id = fin_u64(in);
		a->index = fin_u32(in);
		a->size_pages = fin_u32(in);
		a->backing_bytes = fin_u64(in);
		a->backing = (Shmbroker__Backing)(fin_u8(in) & 1);
		a->active_mask = fin_u32(in);
		a->created = fin_u8(in) & 1;
		*pages = a->size_pages;
		m->body_case = SHMBROKER__SERVER_MESSAGE__BODY_ATTACH;
		m->attach = a;
		return a->index < 32 ? 3 + (size_t)__builtin_popcount(
		    a->active_mask & 0xffff & ~(1u << a->index)) : 3;
	case FC_DG_NOTIFY:
		shmbroker__notify_reply__init(body);
		((Shmbroker__NotifyReply *)body)->delivered = fin_u32(in);
		m->body_case = SHMBROKER__SERVER_MESSAGE__BODY_NOTIFY;
		m->notify = body;
		return 0;
	case FC_DG_STATUS:
		shmbroker__read_status_reply__init(body);
		((Shmbroker__ReadStatusReply *)body)->status = fin_u32(in);
		m->body_case = SHMBROKER__SERVER_MESSAGE__BODY_READ_STATUS;
		m->read_status = body;
		return 0;
	case FC_DG_DETACH:
		shmbroker__detach_reply__init(body);
		m->body_case = SHMBROKER__SERVER_MESSAGE__BODY_DETACH;
		m->detach = body;
		return 0;
	case FC_DG_ERROR:
		m->error = (Shmbroker__Error)(int32_t)fin_u32(in);
		fc_text(in, t1);
		m->message = t1;
		return 0;
	case FC_DG_PEER:
		shmbroker__peer_changed__init(pc);
		pc->client_id = fin_u64(in);
		pc->index = fin_u32(in);
		pc->attached = fin_u8(in) & 1;
		pc->active_mask = fin_u32(in);
		m->body_case = SHMBROKER__SERVER_MESSAGE__BODY_PEER_CHANGED;
		m->peer_changed = pc;
		return 0;
	case FC_DG_NOTIFICATION:
		shmbroker__notification__init(no);
		no->client_id = fin_u64(in);
		no->from_index = fin_u32(in);
		no->pending = fin_u32(in);
		m->body_case = SHMBROKER__SERVER_MESSAGE__BODY_NOTIFICATION;
		m->notification = no;
		return 0;
	case FC_DG_REVOKED:
		shmbroker__client_revoked__init(body);
		((Shmbroker__ClientRevoked *)body)->client_id = fin_u64(in);
		m->body_case = SHMBROKER__SERVER_MESSAGE__BODY_CLIENT_REVOKED;
		m->client_revoked = body;
		return 0;
	case FC_DG_ADMIN_EVENT:
		shmbroker__admin_event__init(ae);
		fc_text(in, t1);
		fc_text(in, t2);
		ae->kind = t1;
		ae->region = t2;
		ae->index = (int32_t)fin_u32(in);
		ae->active_mask = fin_u32(in);
		ae->connection_id = fin_u64(in);
		ae->time_ms = fin_u64(in);
		m->body_case = SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_EVENT;
		m->admin_event = ae;
		return 0;
	default:
		/* An admin reply without fields: the body case alone. */
		shmbroker__admin_watch_reply__init(body);
		m->body_case = (Shmbroker__ServerMessage__BodyCase)
		    (SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_STATUS +
		    fin_u8(in) % 12);
		m->admin_watch = body;
		return 0;
	}
}

static void
fc_dgram_read(struct fin *in, struct fc_dgram *d)
{
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	union {
		Shmbroker__AttachReply a;
		Shmbroker__PeerChanged p;
		Shmbroker__Notification n;
		Shmbroker__AdminEvent e;
		Shmbroker__HelloReply h;
		Shmbroker__AdminWatchReply w;
	} body;
	char t1[FC_TEXT_MAX + 1], t2[FC_TEXT_MAX + 1];
	enum fc_dgram_kind kind = (enum fc_dgram_kind)(fin_u8(in) % FC_DG_COUNT);
	uint8_t id = fin_u8(in), fds = fin_u8(in);
	uint32_t pages = 1;
	size_t promised = 0, len;
	const uint8_t *raw;

	m.id = id == FC_ID_U64 ? fin_u64(in) : id;
	d->id = m.id;		/* a raw datagram's own, below */
	d->buf = fc_arena + fc_arena_used;
	if (kind == FC_DG_RAW) {
		Shmbroker__ServerMessage *um;

		raw = fin_bytes(in, FC_RAW_MAX, &len);
		memcpy(d->buf, raw, len);
		d->len = len;
		/* What it answers is what the client will read in it. */
		um = shmbroker__server_message__unpack(NULL, len, raw);
		d->id = um != NULL ? um->id : 0;
		if (um != NULL)
			shmbroker__server_message__free_unpacked(um, NULL);
	} else {
		promised = fc_message(in, kind, &m, &body, t1, t2, &pages);
		d->len = protobuf_c_message_pack(&m.base, d->buf);
	}
	fc_arena_used += d->len;
	d->nfds = fds & FC_FDS_AS_PROMISED ? promised : fds & 0x1f;
	if (d->nfds > FC_MAX_FDS)
		d->nfds = FC_MAX_FDS;
	for (size_t i = 0; i < d->nfds; i++) {
		struct stat st;

		d->fds[i] = fc_make_fd(fc_fd_kind(fds >> 6, i), pages);
		d->inos[i] = d->fds[i] >= 0 && fstat(d->fds[i], &st) == 0 ?
		    st.st_ino : 0;
	}
}

static void
fc_script_read(struct fc_daemon *dm, struct fin *in)
{
	dm->nconns = fin_u8(in) % FC_MAX_CONNS + 1;
	fc_arena_used = 0;
	for (size_t k = 0; k < dm->nconns; k++) {
		struct fc_conn *c = &dm->conns[k];

		c->n = fin_u8(in) % FC_MAX_DGRAMS;
		for (size_t i = 0; i < c->n; i++)
			fc_dgram_read(in, &c->d[i]);
	}
}

/* Closes the fake daemon's fds, which must all still be the files it
 * made: libshmclient closing one of them would be a double close, which
 * in a VMM closes whatever the number holds by then. */
static void
fc_script_free(struct fc_daemon *dm)
{
	for (size_t k = 0; k < dm->nconns; k++)
		for (size_t i = 0; i < dm->conns[k].n; i++) {
			struct fc_dgram *d = &dm->conns[k].d[i];

			for (size_t j = 0; j < d->nfds; j++) {
				struct stat st;

				if (d->fds[j] < 0)
					continue;
				if (fstat(d->fds[j], &st) < 0 ||
				    st.st_ino != d->inos[j]) {
					fprintf(stderr, "fuzz_client: fd %d of "
					    "the fake daemon was closed by "
					    "someone else\n", d->fds[j]);
					abort();
				}
				close(d->fds[j]);
			}
		}
}

/* ---- the fake daemon's thread ----
 *
 * It serves one connection at a time: accepts the next when the client
 * makes one (dropping the last) and sends its datagrams in order, each
 * reply (a datagram with an id) once the client has sent the request of
 * that id or a later one, as a daemon answers; events flow in between.
 * A request that the datagrams sendable before the next such reply do not
 * answer gets the connection shut for writing once they are, as a daemon
 * that hangs up: the client reads end-of-file instead of waiting out its
 * timeout. With every connection served, the listener
 * closes, so a reconnect fails at once. Before each call the main thread
 * does the same itself, under the lock (fc_wait_quiet): everything the
 * client sent is read and everything that can be is queued, so what the
 * client reads then does not depend on which thread ran first. (It used
 * to kick the thread and wait for it: two more handovers per call.)
 */

/* Will the reply to request id come: is it among the datagrams that
 * can be sent before one that waits for a later request? */
static bool
fc_answered(const struct fc_serving *sv, uint64_t id)
{
	for (size_t i = sv->next; i < sv->conn->n; i++) {
		if (sv->conn->d[i].id == id)
			return true;
		if (sv->conn->d[i].id > id)
			return false;
	}
	return false;
}

static void
fc_close_serving(struct fc_serving *sv)
{
	if (sv->sock >= 0)
		close(sv->sock);
	sv->sock = -1;
	sv->conn = NULL;
}

/* Reads the client's requests; the connection closes at its end. */
static void
fc_read_requests(struct fc_serving *sv)
{
	static _Thread_local uint8_t buf[WIRE_MAX_MESSAGE];
	struct wire_fds fds;
	ssize_t n;

	while (sv->sock >= 0 && (n = wire_recv_flags(sv->sock, buf,
	    sizeof(buf), &fds, MSG_DONTWAIT)) != -EAGAIN) {
		Shmbroker__ClientMessage *m = NULL;

		wire_fds_close(&fds);
		if (n == 0 || (n < 0 && n != -EMSGSIZE && n != -ENOMSG &&
		    n != -EPROTO && n != -ETOOMANYREFS)) {
			fc_close_serving(sv);
			return;
		}
		if (n > 0)
			m = shmbroker__client_message__unpack(NULL, (size_t)n,
			    buf);
		if (m == NULL || !fc_answered(sv, m->id))
			sv->hang_up = true;
		if (fc_trace)
			fprintf(stderr, "daemon: request %lld%s\n", m ?
			    (long long)m->id : -1LL, sv->hang_up ?
			    ", hanging up" : "");
		if (m != NULL && m->id > sv->asked)
			sv->asked = m->id;
		if (m != NULL)
			shmbroker__client_message__free_unpacked(m, NULL);
	}
}

/* wire_send, without its limit on fds: a daemon may send more than
 * WIRE_MAX_FDS, which the client must refuse. */
static int
fc_send(int sock, const struct fc_dgram *d)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * FC_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = d->buf, .iov_len = d->len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (d->nfds > 0) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * d->nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * d->nfds);
		memcpy(CMSG_DATA(c), d->fds, sizeof(int) * d->nfds);
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 ? -errno :
	    0;
}

/* Queues what the socket takes of the datagrams up to the next reply to
 * a request not made yet; hangs up after them when asked to. */
static void
fc_queue(struct fc_serving *sv)
{
	while (sv->sock >= 0 && !sv->hung_up && sv->next < sv->conn->n) {
		struct fc_dgram *d = &sv->conn->d[sv->next];
		int err;

		if (d->id > sv->asked)
			break;
		if ((err = fc_send(sv->sock, d)) == -EAGAIN)
			return;
		if (fc_trace)
			fprintf(stderr, "daemon: sent %zu (id %llu, %zu fds): "
			    "%d\n", sv->next, (unsigned long long)d->id,
			    d->nfds, err);
		sv->next++;
		if (err < 0)
			return;		/* the client went away */
	}
	if (sv->sock >= 0 && sv->hang_up && !sv->hung_up) {
		shutdown(sv->sock, SHUT_WR);
		sv->hung_up = true;
	}
}

static void
fc_accept(struct fc_daemon *dm)
{
	int sock = accept4(dm->listener, NULL, NULL, SOCK_NONBLOCK |
	    SOCK_CLOEXEC);

	if (sock < 0)
		return;
	fc_close_serving(&dm->sv);
	dm->sv = (struct fc_serving){ .sock = sock,
	    .conn = &dm->conns[dm->k++] };
	fc_queue(&dm->sv);
	if (dm->k == dm->nconns) {
		close(dm->listener);
		dm->listener = -1;
		unlink(fc_path);
	}
}

/* Does all there is to do now, without waiting; under dm->lock. True
 * when what the thread polls changed. */
static bool
fc_settle(struct fc_daemon *dm)
{
	struct pollfd p = { dm->listener, POLLIN, 0 };
	int sock = dm->sv.sock, listener = dm->listener;

	if (!dm->serving)
		return false;
	while (dm->listener >= 0 && poll(&p, 1, 0) > 0)
		fc_accept(dm);
	fc_read_requests(&dm->sv);
	fc_queue(&dm->sv);
	return dm->sv.sock != sock || dm->listener != listener;
}

static void
fc_poke(struct fc_daemon *dm)
{
	if (write(dm->poke[1], "p", 1) != 1)
		abort();
}

/* The thread lives as long as the process: made for every input, it
 * and its pipes were a third of what an input without calls costs. It
 * polls what dm says under the lock; whoever changes that pokes it, so
 * that a descriptor closed (or its number reused) under its poll costs
 * nothing but a spurious wakeup. */
static void *
fc_daemon_main(void *arg)
{
	struct fc_daemon *dm = arg;
	char b[64];

	for (;;) {
		const struct fc_serving *sv = &dm->sv;
		struct pollfd p[3] = { { dm->poke[0], POLLIN, 0 } };

		pthread_mutex_lock(&dm->lock);
		if (dm->serving) {
			p[1] = (struct pollfd){ dm->listener, POLLIN, 0 };
			p[2] = (struct pollfd){ sv->sock, (short)(POLLIN |
			    (sv->conn != NULL && sv->next < sv->conn->n &&
			    !sv->hung_up && sv->conn->d[sv->next].id <=
			    sv->asked ? POLLOUT : 0)), 0 };
		} else {
			p[1].fd = p[2].fd = -1;
		}
		pthread_mutex_unlock(&dm->lock);
		if (poll(p, 3, -1) < 0 && errno != EINTR)
			abort();
		if (p[0].revents && read(dm->poke[0], b, sizeof(b)) < 0)
			abort();
		pthread_mutex_lock(&dm->lock);
		fc_settle(dm);
		pthread_mutex_unlock(&dm->lock);
	}
	return NULL;
}

/* Before each call: every request read and what could be queued
 * queued, as the thread would, without waiting for it to run. */
static void
fc_wait_quiet(struct fc_daemon *dm)
{
	bool changed;

	pthread_mutex_lock(&dm->lock);
	changed = fc_settle(dm);
	pthread_mutex_unlock(&dm->lock);
	if (changed)
		fc_poke(dm);
}

/* ---- the VMM's calls ---- */

struct fc_vmm {
	struct shmc *c;
	uint64_t ids[MAX_IDS];
	size_t nids;
};

static uint64_t
fc_client(struct fc_vmm *v, struct fin *in)
{
	uint8_t k = fin_u8(in);

	if (k < 0x80 && v->nids > 0)
		return v->ids[k % v->nids];
	return (uint64_t)(k & 0x7f);
}

static void __attribute__((noreturn))
fc_broken(const char *what, long long a, long long b)
{
	fprintf(stderr, "fuzz_client: %s (%lld, %lld)\n", what, a, b);
	abort();
}

/* What a VMM does with an attachment: map the region (here its first
 * and last page: it may be larger than this process can map) and touch
 * them. A file shorter than the size said would fault (SIGBUS). */
static void
fc_touch(int fd, uint64_t page)
{
	volatile uint8_t *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_SHARED, fd, (off_t)(page * 4096));

	if (p == MAP_FAILED)
		fc_broken("the region fd does not map", fd, errno);
	p[0] = p[0];
	p[4095] = p[4095];
	munmap((void *)p, 4096);
}

static void
fc_use_region(const struct shmc_region *r)
{
	if (r->fd < 0 || fcntl(r->fd, F_GETFD) < 0)
		fc_broken("attach gave no fd", r->fd, 0);
	if (r->index >= 16 || !(r->active_mask & (1u << r->index)))
		fc_broken("attach gave index and mask", r->index,
		    r->active_mask);
	if (r->size_pages == 0)
		fc_broken("attach gave a region of no pages", 0, 0);
	fc_touch(r->fd, 0);
	fc_touch(r->fd, r->size_pages - 1);
}

static void
fc_attach(struct fc_vmm *v, struct fin *in, bool claim)
{
	struct shmc_region r;
	size_t len;
	const uint8_t *name = fin_bytes(in, 40, &len);
	uint32_t pages = fin_u32(in);
	bool create = fin_u8(in) & 1;
	int rc, efd = -1;

	memset(&r, 0, sizeof(r));
	r.fd = -1;
	rc = claim ? shmc_attach_claim(v->c, name, len, pages, create, &r,
	    &efd) : shmc_attach_raw(v->c, name, len, pages, create, &r);
	if (fc_trace)
		fprintf(stderr, "attach: %d client %llu index %u: %s\n", rc,
		    (unsigned long long)r.client_id, r.index,
		    shmc_error(v->c));
	if (rc < 0)
		return;
	if (rc > SHMC_GSS_DOES_NOT_EXIST)
		fc_broken("attach returned no status of the ABI", rc, 0);
	if (rc != SHMC_GSS_OK)
		return;
	fc_use_region(&r);
	close(r.fd);
	if (claim && (efd < 0 || fcntl(efd, F_GETFD) < 0))
		fc_broken("claim gave no eventfd", efd, 0);
	if (v->nids < MAX_IDS)
		v->ids[v->nids++] = r.client_id;
}

/* Every event the library hands out is one of its kinds, its strings
 * readable and its fds open. */
static void
fc_event_cb(const struct shmc_event *ev, void *arg)
{
	size_t *n = arg;

	if ((unsigned)ev->kind > SHMC_EVENT_EVENTFD_CHANGED)
		fc_broken("event of no kind", ev->kind, 0);
	if (ev->kind == SHMC_EVENT_ADMIN &&
	    (ev->admin_kind == NULL || ev->region == NULL))
		fc_broken("admin event without its strings", 0, 0);
	if (ev->kind == SHMC_EVENT_ADMIN)
		*n += strlen(ev->admin_kind) + strlen(ev->region);
	if (ev->kind == SHMC_EVENT_EVENTFD_CHANGED &&
	    (fcntl(ev->eventfd, F_GETFD) < 0 ||
	    fcntl(ev->old_eventfd, F_GETFD) < 0))
		fc_broken("EVENTFD_CHANGED with a closed fd", ev->eventfd,
		    ev->old_eventfd);
}

static void
fc_admin(struct fc_vmm *v, struct fin *in, enum fc_op op)
{
	Shmbroker__ServerMessage *reply = NULL;
	char name[FC_TEXT_MAX + 1];
	uint32_t pages = 0;
	bool force = false;
	int rc;

	if (op != FC_OP_WATCH) {
		fc_text(in, name);
		pages = fin_u32(in);
		force = pages & 1;
	}
	if (op == FC_OP_WATCH)
		rc = shmc_admin_watch(v->c);
	else if (op == FC_OP_CREATE)
		rc = shmc_admin_create(v->c, name, pages, &reply);
	else
		rc = shmc_admin_destroy(v->c, name, force, &reply);
	if (rc == 0 && reply != NULL)
		shmbroker__server_message__free_unpacked(reply, NULL);
}

static void
fc_step(struct fc_vmm *v, struct fin *in)
{
	enum fc_op op = (enum fc_op)(fin_u8(in) % FC_OP_COUNT);
	uint32_t u = 0;
	uint64_t id;
	size_t strings = 0;
	bool same;
	int rc = 0;

	switch (op) {
	case FC_OP_ATTACH:
	case FC_OP_CLAIM:
		fc_attach(v, in, op == FC_OP_CLAIM);
		return;
	case FC_OP_WATCH:
	case FC_OP_CREATE:
	case FC_OP_DESTROY:
		fc_admin(v, in, op);
		return;
	case FC_OP_DISPATCH:
		rc = shmc_dispatch(v->c, fc_event_cb, &strings);
		if (fc_trace)
			fprintf(stderr, "dispatch: %d\n", rc);
		return;
	default:
		break;
	}
	id = fc_client(v, in);
	switch (op) {
	case FC_OP_NOTIFY:
		rc = shmc_notify(v->c, id, fin_u32(in), &u);
		break;
	case FC_OP_NOTIFY_DIRECT:
		rc = shmc_notify_direct(v->c, id, fin_u32(in));
		break;
	case FC_OP_STATUS:
		rc = shmc_read_status_keep(v->c, id, fin_u32(in), &u);
		break;
	case FC_OP_STATUS_DIRECT:
		rc = shmc_status_direct(v->c, id, fin_u32(in), &u);
		break;
	case FC_OP_DETACH:
		rc = shmc_detach(v->c, id);
		break;
	case FC_OP_EVENTFD:
		rc = shmc_attachment_eventfd(v->c, id);
		if (rc >= 0 && fcntl(rc, F_GETFD) < 0)
			fc_broken("attachment eventfd is not open", rc, 0);
		break;
	case FC_OP_RELEASE:
		shmc_attachment_eventfd_release(v->c, id);
		break;
	default:
		rc = shmc_attachment_info(v->c, id, &u, &same);
		if (rc == 0 && u >= 16)
			fc_broken("attachment index", u, 0);
		break;
	}
	if (fc_trace)
		fprintf(stderr, "call %d on %llu: %d (%#x) %s\n", (int)op,
		    (unsigned long long)id, rc, u, rc < 0 ?
		    shmc_error(v->c) : "");
}

static int
fc_listen(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", fc_path);
	unlink(fc_path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(fd, 128) < 0)
		abort();
	return fd;
}

/* The fake daemon, whose thread serves input after input. */
static struct fc_daemon fc_dm = { .listener = -1 };

static void
fc_daemon_start(void)
{
	pthread_t th;

	pthread_mutex_init(&fc_dm.lock, NULL);
	if (pipe2(fc_dm.poke, O_CLOEXEC) < 0 ||
	    pthread_create(&th, NULL, fc_daemon_main, &fc_dm) != 0 ||
	    pthread_detach(th) != 0)
		abort();
}

/* The script is the main thread's to write until the input starts. */
static void
fc_daemon_start_input(struct fc_daemon *dm)
{
	pthread_mutex_lock(&dm->lock);
	dm->listener = fc_listen();
	dm->sv = (struct fc_serving){ .sock = -1 };
	dm->k = 0;
	dm->serving = true;
	pthread_mutex_unlock(&dm->lock);
	fc_poke(dm);
}

/* The input's connections closed on both sides, the thread serving no
 * more: then the script's fds and the listener go. */
static void
fc_daemon_end_input(struct fc_daemon *dm)
{
	pthread_mutex_lock(&dm->lock);
	dm->serving = false;
	fc_close_serving(&dm->sv);
	if (dm->listener >= 0)
		close(dm->listener);
	dm->listener = -1;
	pthread_mutex_unlock(&dm->lock);
	fc_poke(dm);
	fc_script_free(dm);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fc_daemon *dm = &fc_dm;
	struct fin in = { data, size };
	struct fc_vmm v = { 0 };
	uint8_t flags;
	char err[256];

	fuzz_fds_mark();
	/* The thread serves nothing between inputs: the script is the
	 * main thread's to write until the input starts. */
	flags = fin_u8(&in);
	fc_script_read(dm, &in);
	fc_daemon_start_input(dm);
	/* Every reply the script holds comes at once: the timeout only runs
	 * out where the harness misjudged one, and then costs little. */
	if (shmc_connect(fc_path, "fuzz", CALL_TIMEOUT_MS, &v.c, err,
	    sizeof(err)) == 0) {
		/* 1 ms: one try, no 50 ms sleeps between tries. */
		if (flags & FC_FLAG_RECONNECT)
			shmc_set_reconnect(v.c, 1);
		shmc_set_event_thread(v.c, (flags & FC_FLAG_EVENT_THREAD) != 0);
		while (!fin_done(&in)) {
			fc_wait_quiet(dm);
			fc_step(&v, &in);
		}
		shmc_close(v.c);
	}
	fc_daemon_end_input(dm);
	fuzz_fds_check("fuzz_client");
	return 0;
}
