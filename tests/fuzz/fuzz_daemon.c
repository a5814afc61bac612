/* SPDX-License-Identifier: ISC */
/*
 * fuzz_daemon: the daemon's request path, as untrusted peers reach it.
 * Each input starts a real broker in-process (fuzz_broker.h: the daemon's
 * own modules, its registry, regions with real memfds, its event loop),
 * opens VMM and admin connections to it as several uids and gids, sends
 * requests on them (well-formed ones packed with protobuf-c, and raw
 * datagrams with and without fds), lets the daemon's event loop take them
 * through conn.c, rpc.c, vmm.c and admin.c, reads the replies and events,
 * and closes connections, all in the order the input says (fuzz_daemon.h).
 * Beyond the sanitizers it checks that every reply unpacks, that attach
 * replies and peer events carry the fds their fields promise, that the
 * broker's books agree after every step, that once every peer is gone
 * nothing of theirs is left, and that no descriptor outlives the broker.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_broker.h"
#include "fuzz_daemon.h"
#include "fuzz_input.h"

#define MAX_PEERS 16
#define MAX_IDS 64

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct { uid_t uid; gid_t gid; } fd_ids[FD_IDENTITIES] = {
	{ 0, 0 }, { 1001, 1001 }, { 1500, 1002 }, { 1600, 2000 },
	{ 1700, 4000 }, { 1001, 2000 }, { 1800, 1800 }, { 0, 0 },
};

static const char *fd_conf_path;

struct peer {
	int fd;
	uint64_t next_id;
};

struct fd_run {
	struct broker *b;
	struct peer peers[MAX_PEERS];
	size_t npeers;
	uint64_t ids[MAX_IDS];
	size_t nids;
};

/* FUZZ_TRACE=1: print what the daemon answers (to look at a seed). */
static bool fd_trace;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_broker_process_init(*argc, *argv);
	fd_conf_path = fuzz_broker_file(0, fuzz_broker_conf,
	    strlen(fuzz_broker_conf));
	fd_trace = getenv("FUZZ_TRACE") != NULL;
	return 0;
}

static struct peer *
fd_peer(struct fd_run *r, struct fin *in)
{
	uint8_t k = fin_u8(in);

	return r->npeers == 0 ? NULL : &r->peers[k % r->npeers];
}

static uint64_t
fd_client(struct fd_run *r, struct fin *in)
{
	uint8_t k = fin_u8(in);

	if (k < 0x80 && r->nids > 0)
		return r->ids[k % r->nids];
	return (uint64_t)(k >= 0x80 ? k - 0x80 : k);
}

/* Sends m on p; a full socket gets one turn of the daemon's loop. */
static void
fd_send(struct fd_run *r, struct peer *p, Shmbroker__ClientMessage *m)
{
	m->id = ++p->next_id;
	if (wire_send_client(p->fd, m, NULL, 0) == -EAGAIN) {
		fuzz_broker_run(r->b);
		wire_send_client(p->fd, m, NULL, 0);
	}
}

struct fd_reading {
	struct fd_run *r;
	size_t peer;
};

/* Learns the client ids of attach replies; FUZZ_TRACE prints them all. */
static void
fd_reply(const Shmbroker__ServerMessage *m, size_t nfds, void *arg)
{
	const struct fd_reading *rd = arg;
	struct fd_run *r = rd->r;

	if (fd_trace)
		fprintf(stderr, "peer %zu: id %llu body %d error %d status %d "
		    "fds %zu: %s\n", rd->peer, (unsigned long long)m->id,
		    (int)m->body_case, (int)m->error, m->body_case ==
		    SHMBROKER__SERVER_MESSAGE__BODY_ATTACH ?
		    (int)m->attach->status : -1, nfds, m->message);
	if (m->body_case == SHMBROKER__SERVER_MESSAGE__BODY_ATTACH &&
	    m->attach->status == SHMBROKER__GUEST_STATUS__GSS_OK &&
	    r->nids < MAX_IDS)
		r->ids[r->nids++] = m->attach->client_id;
}

static void
fd_read(struct fd_run *r, struct peer *p)
{
	struct fd_reading rd = { r, (size_t)(p - r->peers) };

	fuzz_broker_read(p->fd, fd_reply, &rd);
}

static void
fd_connect(struct fd_run *r, struct fin *in)
{
	uint8_t how = fin_u8(in);
	unsigned who = (how >> 1) % FD_IDENTITIES;
	int fd;

	if (r->npeers == MAX_PEERS)
		return;
	fd = fuzz_broker_connect(r->b, how & 1, fd_ids[who].uid,
	    fd_ids[who].gid);
	if (fd >= 0)
		r->peers[r->npeers++] = (struct peer){ fd, 0 };
}

static void
fd_hello(struct fd_run *r, struct fin *in)
{
	Shmbroker__ClientMessage m = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__Hello h = SHMBROKER__HELLO__INIT;
	struct peer *p = fd_peer(r, in);
	char label[FD_LABEL_MAX + 1];
	const uint8_t *s;
	size_t len;

	h.version = fin_u32(in);
	s = fin_bytes(in, FD_LABEL_MAX, &len);
	memcpy(label, s, len);
	label[len] = '\0';
	h.label = label;
	m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_HELLO;
	m.hello = &h;
	if (p != NULL)
		fd_send(r, p, &m);
}

static void
fd_attach(struct fd_run *r, struct fin *in)
{
	Shmbroker__ClientMessage m = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__Attach a = SHMBROKER__ATTACH__INIT;
	struct peer *p = fd_peer(r, in);
	size_t len;

	a.name.data = (uint8_t *)fin_bytes(in, FD_NAME_MAX, &len);
	a.name.len = len;
	a.create = fin_u8(in) & 1;
	a.size_pages = fin_u32(in);
	a.want_index = fin_u32(in);
	m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ATTACH;
	m.attach = &a;
	if (p != NULL)
		fd_send(r, p, &m);
}

static void
fd_client_op(struct fd_run *r, struct fin *in, enum fd_op op)
{
	Shmbroker__ClientMessage m = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__Notify n = SHMBROKER__NOTIFY__INIT;
	Shmbroker__ReadStatus s = SHMBROKER__READ_STATUS__INIT;
	Shmbroker__Detach d = SHMBROKER__DETACH__INIT;
	struct peer *p = fd_peer(r, in);
	uint64_t id = fd_client(r, in);

	switch (op) {
	case FD_OP_NOTIFY:
		n.client_id = id;
		n.mask = fin_u32(in);
		m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_NOTIFY;
		m.notify = &n;
		break;
	case FD_OP_STATUS:
		s.client_id = id;
		s.keep_mask = fin_u32(in);
		m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_READ_STATUS;
		m.read_status = &s;
		break;
	default:
		d.client_id = id;
		m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_DETACH;
		m.detach = &d;
		break;
	}
	if (p != NULL)
		fd_send(r, p, &m);
}

/* Every admin request, each with the fields it has. */
static void
fd_admin(struct fd_run *r, struct fin *in)
{
	Shmbroker__ClientMessage m = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminStatus st = SHMBROKER__ADMIN_STATUS__INIT;
	Shmbroker__AdminList li = SHMBROKER__ADMIN_LIST__INIT;
	Shmbroker__AdminShow sh = SHMBROKER__ADMIN_SHOW__INIT;
	Shmbroker__AdminCreate cr = SHMBROKER__ADMIN_CREATE__INIT;
	Shmbroker__AdminDestroy de = SHMBROKER__ADMIN_DESTROY__INIT;
	Shmbroker__AdminClients cl = SHMBROKER__ADMIN_CLIENTS__INIT;
	Shmbroker__AdminStats sa = SHMBROKER__ADMIN_STATS__INIT;
	Shmbroker__AdminWatch wa = SHMBROKER__ADMIN_WATCH__INIT;
	Shmbroker__AdminTenants te = SHMBROKER__ADMIN_TENANTS__INIT;
	Shmbroker__AdminReload re = SHMBROKER__ADMIN_RELOAD__INIT;
	struct peer *p = fd_peer(r, in);
	unsigned which = fin_u8(in) % FD_ADMIN_COUNT;
	char name[FD_ADMIN_NAME_MAX + 1];
	size_t len;
	const uint8_t *s = fin_bytes(in, FD_ADMIN_NAME_MAX, &len);
	uint32_t size = fin_u32(in);
	bool force = fin_u8(in) & 1;
	uint64_t after = fin_u64(in);

	memcpy(name, s, len);
	name[len] = '\0';
	switch (which) {
	case FD_ADMIN_STATUS:
		m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_STATUS;
		m.admin_status = &st;
		break;
	case FD_ADMIN_LIST:
		li.after_id = after;
		m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_LIST;
		m.admin_list = &li;
		break;
	case FD_ADMIN_SHOW:
		sh.name = name;
		m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_SHOW;
		m.admin_show = &sh;
		break;
	case FD_ADMIN_CREATE:
		cr.name = name;
		cr.size_pages = size;
		m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_CREATE;
		m.admin_create = &cr;
		break;
	case FD_ADMIN_DESTROY:
		de.name = name;
		de.force = force;
		m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_DESTROY;
		m.admin_destroy = &de;
		break;
	case FD_ADMIN_CLIENTS:
		cl.after_id = after;
		m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_CLIENTS;
		m.admin_clients = &cl;
		break;
	case FD_ADMIN_STATS:
		m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_STATS;
		m.admin_stats = &sa;
		break;
	case FD_ADMIN_WATCH:
		m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_WATCH;
		m.admin_watch = &wa;
		break;
	case FD_ADMIN_TENANTS:
		m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_TENANTS;
		m.admin_tenants = &te;
		break;
	default:
		m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_RELOAD;
		m.admin_reload = &re;
		break;
	}
	if (p != NULL)
		fd_send(r, p, &m);
}

/* A descriptor of one of the kinds a peer might pass, or -1. */
static int
fd_some_fd(unsigned kind)
{
	int fd, pfd[2];

	switch (kind) {
	case 0:
		return eventfd(0, EFD_CLOEXEC);
	case 1:
		fd = memfd_create("fuzz", MFD_CLOEXEC);
		if (fd >= 0 && ftruncate(fd, 4096) < 0) {
			close(fd);
			return -1;
		}
		return fd;
	case 2:
		if (pipe2(pfd, O_CLOEXEC) < 0)
			return -1;
		close(pfd[1]);
		return pfd[0];
	default:
		return open("/dev/null", O_RDWR | O_CLOEXEC);
	}
}

static void
fd_raw(struct fd_run *r, struct fin *in)
{
	struct peer *p = fd_peer(r, in);
	uint8_t spec = fin_u8(in);
	size_t len, nfds = spec & 3;
	const uint8_t *data = fin_bytes(in, FD_RAW_MAX, &len);
	int fds[3];
	size_t k;

	if (p == NULL)
		return;
	for (k = 0; k < nfds; k++)
		if ((fds[k] = fd_some_fd((spec >> (2 + 2 * k)) & 3)) < 0)
			break;
	if (wire_send(p->fd, data, len, fds, k) == -EAGAIN) {
		fuzz_broker_run(r->b);
		wire_send(p->fd, data, len, fds, k);
	}
	while (k > 0)
		close(fds[--k]);
}

static void
fd_close(struct fd_run *r, struct fin *in, bool hangup)
{
	uint8_t k = fin_u8(in);
	size_t i;

	if (r->npeers == 0)
		return;
	i = k % r->npeers;
	if (hangup) {
		shutdown(r->peers[i].fd, SHUT_WR);
		return;
	}
	close(r->peers[i].fd);
	r->peers[i] = r->peers[--r->npeers];
}

static void
fd_step(struct fd_run *r, struct fin *in)
{
	enum fd_op op = (enum fd_op)(fin_u8(in) % FD_OP_COUNT);

	switch (op) {
	case FD_OP_CONNECT:
		fd_connect(r, in);
		break;
	case FD_OP_HELLO:
		fd_hello(r, in);
		break;
	case FD_OP_ATTACH:
		fd_attach(r, in);
		break;
	case FD_OP_NOTIFY:
	case FD_OP_STATUS:
	case FD_OP_DETACH:
		fd_client_op(r, in, op);
		break;
	case FD_OP_ADMIN:
		fd_admin(r, in);
		break;
	case FD_OP_RAW:
		fd_raw(r, in);
		break;
	case FD_OP_RUN:
		fuzz_broker_run(r->b);
		fuzz_broker_check(r->b);
		break;
	case FD_OP_READ: {
		struct peer *p = fd_peer(r, in);

		if (p != NULL)
			fd_read(r, p);
		break;
	}
	case FD_OP_CLOSE:
	case FD_OP_HANGUP:
		fd_close(r, in, op == FD_OP_HANGUP);
		break;
	default:
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fin in = { data, size };
	/* Errors only, also after a reload (the command line wins). */
	char *argv[] = { (char *)"shmbrokerd", (char *)"--log-level",
	    (char *)"error", (char *)"--config", (char *)fd_conf_path, NULL };
	struct fd_run r = { 0 };
	char err[512];

	fuzz_fds_mark();
	r.b = fuzz_broker_start(fin_u8(&in) % FD_SETUP_COUNT ==
	    FD_SETUP_TENANTS ? 5 : 3, argv, err, sizeof(err));
	if (r.b == NULL) {
		fprintf(stderr, "fuzz_daemon: %s\n", err);
		abort();
	}
	while (!fin_done(&in))
		fd_step(&r, &in);
	fuzz_broker_run(r.b);
	fuzz_broker_check(r.b);
	for (size_t i = 0; i < r.npeers; i++) {
		fd_read(&r, &r.peers[i]);
		close(r.peers[i].fd);
	}
	fuzz_broker_drain(r.b);
	fuzz_broker_check_empty(r.b);
	fuzz_broker_stop(r.b);
	fuzz_fds_check("fuzz_daemon");
	return 0;
}
