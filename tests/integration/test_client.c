/* SPDX-License-Identifier: ISC */
/*
 * test_client: libshmclient against a fake shmbrokerd that the test runs
 * itself: a forked child on a listening SOCK_SEQPACKET socket in a temporary
 * directory, which speaks the real envelope (wire.h, shmbroker.pb-c.h) but
 * follows a script, so that the test decides exactly what the library sees
 * and when. Covered: a call's timeout holds while events keep arriving,
 * events keep their order across a call made from a dispatch callback, and
 * an attach reply that comes after its call timed out neither leaks its fd
 * nor leaves a client attached in the daemon, and one without the state
 * page and eventfds fails without leaking any, nor does one that lies
 * about its status or sizes or sends fds that could be shrunk. The fake
 * reports every
 * request it gets on a pipe; the test's assertions all stay here.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/time.h>

#include <cmocka.h>

#include "testcheck.h"
#include "shmbroker.pb-c.h"
#include "shmclient.h"
#include "shmclient_admin.h"
#include "wire.h"

#define WAIT_MS 5000
#define CALL_TIMEOUT_MS 1000
#define CALL_TIMEOUT_BOUND_MS 1600	/* generous: the timeout plus 60% */
#define EVENT_PERIOD_MS 300
#define EVENT_GAP_MS 1500	/* after the third event: see the script */
#define FAKE_EVENTS 40
#define LATE_TIMEOUT_MS 300
#define LATE_CLIENT_ID 777
#define MAX_SEEN 64

/* ---- the fake daemon (runs in the child) ---- */

struct fk {
	int s;		/* the client's connection */
	int ctl;	/* socketpair with the test: one byte each way */
	int rec;	/* pipe to the test: a struct rec per request */
};

/* What the fake received, as the test reads it. */
struct rec {
	int body_case;
	uint64_t id;
	uint64_t client_id;	/* of a Detach, ReadStatus or Notify */
};

typedef int (*fk_script)(struct fk *);

static void
fk_record(struct fk *k, const Shmbroker__ClientMessage *q)
{
	struct rec r = { .body_case = (int)q->body_case, .id = q->id };

	if (q->body_case == SHMBROKER__CLIENT_MESSAGE__BODY_DETACH)
		r.client_id = q->detach->client_id;
	else if (q->body_case == SHMBROKER__CLIENT_MESSAGE__BODY_READ_STATUS)
		r.client_id = q->read_status->client_id;
	else if (q->body_case == SHMBROKER__CLIENT_MESSAGE__BODY_NOTIFY)
		r.client_id = q->notify->client_id;
	if (write(k->rec, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(90);
}

/* One request within timeout_ms: 1 with *out, 0 on timeout, -1 when the
 * client went away. Any fds are closed (requests carry none). */
static int
fk_recv(struct fk *k, int timeout_ms, Shmbroker__ClientMessage **out)
{
	static uint8_t buf[WIRE_MAX_MESSAGE];
	struct pollfd p = { .fd = k->s, .events = POLLIN };
	struct wire_fds fds;
	ssize_t n;

	if (poll(&p, 1, timeout_ms < 0 ? 0 : timeout_ms) == 0)
		return 0;
	n = wire_recv(k->s, buf, sizeof(buf), &fds);
	if (n <= 0)
		return -1;
	wire_fds_close(&fds);
	if ((*out = shmbroker__client_message__unpack(NULL, (size_t)n,
	    buf)) == NULL)
		_exit(91);
	fk_record(k, *out);
	return 1;
}

static void
fk_send(struct fk *k, const Shmbroker__ServerMessage *m, int fd)
{
	/* A client that went away is seen by the next fk_recv. */
	(void)wire_send_server(k->s, m, &fd, fd >= 0 ? 1 : 0);
}

/* The plain answer a daemon would give to q. */
static void
fk_answer(struct fk *k, const Shmbroker__ClientMessage *q)
{
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__HelloReply h = SHMBROKER__HELLO_REPLY__INIT;
	Shmbroker__ReadStatusReply rs = SHMBROKER__READ_STATUS_REPLY__INIT;
	Shmbroker__DetachReply d = SHMBROKER__DETACH_REPLY__INIT;
	Shmbroker__NotifyReply n = SHMBROKER__NOTIFY_REPLY__INIT;
	Shmbroker__AttachReply a = SHMBROKER__ATTACH_REPLY__INIT;

	m.id = q->id;
	switch (q->body_case) {
	case SHMBROKER__CLIENT_MESSAGE__BODY_HELLO:
		h.version = WIRE_PROTOCOL_VERSION;
		h.server = (char *)"fake shmbrokerd";
		h.max_message = WIRE_MAX_MESSAGE;
		m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_HELLO;
		m.hello = &h;
		break;
	case SHMBROKER__CLIENT_MESSAGE__BODY_READ_STATUS:
		rs.status = 1u << 16;
		m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_READ_STATUS;
		m.read_status = &rs;
		break;
	case SHMBROKER__CLIENT_MESSAGE__BODY_DETACH:
		m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_DETACH;
		m.detach = &d;
		break;
	case SHMBROKER__CLIENT_MESSAGE__BODY_NOTIFY:
		m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_NOTIFY;
		m.notify = &n;
		break;
	case SHMBROKER__CLIENT_MESSAGE__BODY_ATTACH:
		a.status = SHMBROKER__GUEST_STATUS__GSS_DOES_NOT_EXIST;
		m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_ATTACH;
		m.attach = &a;
		break;
	default:
		m.error = SHMBROKER__ERROR__ERR_BAD_REQUEST;
		m.message = (char *)"the fake does not do that";
		break;
	}
	fk_send(k, &m, -1);
}

/* Answers everything until the client goes (or a long while passed). */
static int
fk_serve(struct fk *k)
{
	Shmbroker__ClientMessage *q;
	int rc;

	while ((rc = fk_recv(k, 30000, &q)) > 0) {
		fk_answer(k, q);
		shmbroker__client_message__free_unpacked(q, NULL);
	}
	return rc < 0 ? 0 : 92;
}

/* Receives and answers the hello. */
static int
fk_hello(struct fk *k)
{
	Shmbroker__ClientMessage *q;

	if (fk_recv(k, WAIT_MS, &q) != 1)
		return -1;
	if (q->body_case != SHMBROKER__CLIENT_MESSAGE__BODY_HELLO) {
		shmbroker__client_message__free_unpacked(q, NULL);
		return -1;
	}
	fk_answer(k, q);
	shmbroker__client_message__free_unpacked(q, NULL);
	return 0;
}

static void
fk_peer_event_to(struct fk *k, uint64_t client_id, uint32_t index,
    bool attached, uint32_t mask, int fd)
{
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__PeerChanged pc = SHMBROKER__PEER_CHANGED__INIT;

	pc.client_id = client_id;
	pc.index = index;
	pc.attached = attached;
	pc.active_mask = mask;
	m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_PEER_CHANGED;
	m.peer_changed = &pc;
	fk_send(k, &m, fd);
}

static void
fk_peer_event(struct fk *k, uint32_t index, bool attached, uint32_t mask)
{
	fk_peer_event_to(k, 42, index, attached, mask, -1);
}

static void
fk_notification(struct fk *k, uint32_t from_index)
{
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__Notification n = SHMBROKER__NOTIFICATION__INIT;

	n.client_id = 42;
	n.from_index = from_index;
	n.pending = 1;
	m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_NOTIFICATION;
	m.notification = &n;
	fk_send(k, &m, -1);
}

/* One byte to the test, and one from it (0 when none came in time). */
static void
fk_tell(struct fk *k)
{
	if (write(k->ctl, "x", 1) != 1)
		_exit(93);
}

static int
fk_hear(struct fk *k)
{
	struct pollfd p = { .fd = k->ctl, .events = POLLIN };
	char c;

	return poll(&p, 1, WAIT_MS) == 1 && read(k->ctl, &c, 1) == 1;
}

/* ---- the fake's scripts ---- */

/*
 * Answers hello, never the next request, and sends a notification every
 * EVENT_PERIOD_MS meanwhile, with from_index counting 1, 2, ... After the
 * third (just before a CALL_TIMEOUT_MS timeout runs out), a gap of
 * EVENT_GAP_MS: a library that waits a whole timeout again after each
 * event, instead of only until the call's deadline, overruns it by most of
 * a timeout there.
 */
static int
script_events_during_call(struct fk *k)
{
	Shmbroker__ClientMessage *q;
	int64_t next;
	uint32_t sent = 0;
	int rc;

	if (fk_hello(k) < 0 || fk_recv(k, WAIT_MS, &q) != 1)
		return 10;
	shmbroker__client_message__free_unpacked(q, NULL);
	next = harness_now_ms() + EVENT_PERIOD_MS;
	while (sent < FAKE_EVENTS) {
		int64_t left = next - harness_now_ms();

		if (left <= 0) {
			fk_notification(k, ++sent);
			next += EVENT_PERIOD_MS + (sent == 3 ? EVENT_GAP_MS : 0);
			continue;
		}
		if ((rc = fk_recv(k, (int)left, &q)) < 0)
			return 0;
		if (rc > 0) {
			fk_answer(k, q);
			shmbroker__client_message__free_unpacked(q, NULL);
		}
	}
	return fk_serve(k);
}

/* E1; then, for the first request: E2, its answer, E3, and a byte to the
 * test once all three are out. */
static int
script_event_order(struct fk *k)
{
	Shmbroker__ClientMessage *q;

	if (fk_hello(k) < 0)
		return 10;
	fk_peer_event(k, 1, true, 0x3);
	if (fk_recv(k, WAIT_MS, &q) != 1)
		return 11;
	fk_peer_event(k, 1, false, 0x1);
	fk_answer(k, q);
	shmbroker__client_message__free_unpacked(q, NULL);
	fk_peer_event(k, 2, true, 0x5);
	fk_tell(k);
	return fk_serve(k);
}

/* Once the test has run out of descriptors: a notification that carries
 * an fd, which cannot be received whole, then one without. */
static int
script_fds_do_not_fit(struct fk *k)
{
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__Notification n = SHMBROKER__NOTIFICATION__INIT;
	int fd = eventfd(0, EFD_CLOEXEC);

	if (fk_hello(k) < 0 || fd < 0 || !fk_hear(k))
		return 10;
	n.client_id = 42;
	n.from_index = 1;
	n.pending = 1;
	m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_NOTIFICATION;
	m.notification = &n;
	fk_send(k, &m, fd);
	close(fd);
	fk_notification(k, 2);
	fk_tell(k);
	return fk_serve(k);
}

/* Leaves the attach unanswered until the test says its call timed out,
 * then answers it with GSS_OK and a memfd, and tells the test. */
static int
script_late_attach(struct fk *k)
{
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__AttachReply a = SHMBROKER__ATTACH_REPLY__INIT;
	Shmbroker__ClientMessage *q;
	int fd;

	if (fk_hello(k) < 0 || fk_recv(k, WAIT_MS, &q) != 1)
		return 10;
	if (q->body_case != SHMBROKER__CLIENT_MESSAGE__BODY_ATTACH)
		return 11;
	if (!fk_hear(k))
		return 12;
	if ((fd = memfd_create("fake region", MFD_CLOEXEC)) < 0 ||
	    ftruncate(fd, 4096) < 0)
		return 13;
	a.status = SHMBROKER__GUEST_STATUS__GSS_OK;
	a.client_id = LATE_CLIENT_ID;
	a.region_id = 9;
	a.index = 0;
	a.size_pages = 1;
	a.backing_bytes = 4096;
	a.active_mask = 1;
	a.created = true;
	m.id = q->id;
	m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_ATTACH;
	m.attach = &a;
	fk_send(k, &m, fd);
	close(fd);
	shmbroker__client_message__free_unpacked(q, NULL);
	fk_tell(k);
	return fk_serve(k);
}

/* Answers three attaches with GSS_OK but the wrong fds (a daemon before
 * the state page: the memfd alone; then the three fds with an active mask
 * that promises a peer's eventfd too) or an index out of range, then
 * sends a PeerChanged that carries an fd for a client the library does
 * not know. */
static int
script_short_attach(struct fk *k)
{
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__AttachReply a = SHMBROKER__ATTACH_REPLY__INIT;
	Shmbroker__PeerChanged pc = SHMBROKER__PEER_CHANGED__INIT;
	Shmbroker__ClientMessage *q;
	int fds[3];

	if (fk_hello(k) < 0)
		return 20;
	for (int i = 0; i < 3; i++)
		if ((fds[i] = memfd_create("fake", MFD_CLOEXEC)) < 0 ||
		    ftruncate(fds[i], 4096) < 0)
			return 21;
	a.status = SHMBROKER__GUEST_STATUS__GSS_OK;
	a.client_id = 7;
	a.size_pages = 1;
	a.backing_bytes = 4096;
	m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_ATTACH;
	m.attach = &a;
	for (int round = 0; round < 3; round++) {
		if (fk_recv(k, WAIT_MS, &q) != 1)
			return 22;
		/* The library detaches a client it could not use. */
		if (q->body_case == SHMBROKER__CLIENT_MESSAGE__BODY_DETACH &&
		    q->detach->client_id == 7) {
			fk_answer(k, q);
			shmbroker__client_message__free_unpacked(q, NULL);
			round--;
			continue;
		}
		if (q->body_case != SHMBROKER__CLIENT_MESSAGE__BODY_ATTACH)
			return 22;
		m.id = q->id;
		/* The third: an index past the 16 slots, which the library
		 * once shifted by before it checked it. */
		a.index = round == 2 ? 61 : 0;
		a.active_mask = round == 0 ? 0x1 : round == 1 ? 0x3 :
		    0xffffffff;
		(void)wire_send_server(k->s, &m, fds, round == 0 ? 1 : 3);
		shmbroker__client_message__free_unpacked(q, NULL);
	}
	m = (Shmbroker__ServerMessage)SHMBROKER__SERVER_MESSAGE__INIT;
	pc.client_id = 99;
	pc.index = 1;
	pc.attached = true;
	pc.active_mask = 0x3;
	m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_PEER_CHANGED;
	m.peer_changed = &pc;
	(void)wire_send_server(k->s, &m, fds, 1);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	return fk_serve(k);
}

/* How script_lying_attach answers the attach of each round. */
enum lie {
	LIE_STATUS_HIGH,	/* a status no guest knows */
	LIE_STATUS_ERRNO,	/* a negative one, which would pass for -ENOMEM */
	LIE_NO_PAGES,		/* GSS_OK for a region of 0 pages */
	LIE_SHORT_REGION,	/* 16 pages said, a memfd of 1 */
	LIE_UNSEALED_REGION,	/* a memfd the daemon could shrink later */
	LIE_EMPTY_STATE,	/* a state page of 0 bytes */
	LIE_BIG_BACKING,	/* 2 MiB of backing said, a memfd of 4 KiB */
	LIE_FALSE_HUGETLB,	/* huge pages said, a shmem memfd */
	LIE_NONE,		/* all as the daemon sends it */
	LIE_COUNT
};

static int
fk_memfd(off_t size, bool seal)
{
	int fd = memfd_create("fake", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0 || ftruncate(fd, size) < 0 || (seal && fcntl(fd,
	    F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0))
		_exit(95);
	return fd;
}

/* The reply to attach request id that lie says, client id 5 at index 0. */
static void
fk_attach_reply(struct fk *k, uint64_t id, int lie)
{
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__AttachReply a = SHMBROKER__ATTACH_REPLY__INIT;
	int fds[3];

	a.status = lie == LIE_STATUS_HIGH ? 24576 :
	    lie == LIE_STATUS_ERRNO ? -ENOMEM : 0;
	a.client_id = 5;
	a.index = 0;
	a.active_mask = 1;
	a.size_pages = lie == LIE_NO_PAGES ? 0 :
	    lie == LIE_SHORT_REGION ? 16 : 1;
	a.backing_bytes = lie == LIE_BIG_BACKING ? 2u << 20 :
	    (uint64_t)a.size_pages * 4096;
	a.backing = lie == LIE_FALSE_HUGETLB ?
	    SHMBROKER__BACKING__BACKING_HUGETLB :
	    SHMBROKER__BACKING__BACKING_SHMEM;
	m.id = id;
	m.body_case = SHMBROKER__SERVER_MESSAGE__BODY_ATTACH;
	m.attach = &a;
	fds[0] = fk_memfd(4096, lie != LIE_UNSEALED_REGION);
	fds[1] = fk_memfd(lie == LIE_EMPTY_STATE ? 0 : 4096,
	    lie != LIE_EMPTY_STATE);
	fds[2] = eventfd(0, EFD_CLOEXEC);
	(void)wire_send_server(k->s, &m, fds, a.status == 0 ? 3 : 0);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
}

/* Answers each attach with lie (the next one each time when lies moves
 * on, LIE_NONE for ever when not), client id 5, and every other request
 * as a daemon would. */
static int
fk_attach_replies(struct fk *k, int lie, bool lies)
{
	Shmbroker__ClientMessage *q;

	if (fk_hello(k) < 0)
		return 20;
	while (fk_recv(k, 30000, &q) == 1) {
		if (q->body_case != SHMBROKER__CLIENT_MESSAGE__BODY_ATTACH ||
		    lie == LIE_COUNT) {
			fk_answer(k, q);
		} else {
			fk_attach_reply(k, q->id, lie);
			lie += lies;
		}
		shmbroker__client_message__free_unpacked(q, NULL);
	}
	return 0;
}

static int
script_lying_attach(struct fk *k)
{
	return fk_attach_replies(k, 0, true);
}

static int
script_honest_attach(struct fk *k)
{
	return fk_attach_replies(k, LIE_NONE, false);
}

/* Answers one attach (client 5, index 0), then says that a peer joined
 * at index 1 with eventfd e, and again (as after a coalesced detach) that
 * another did, its fd lost; once the test has notified index 1, fails
 * (30) if e was woken. */
static int
script_join_without_fd(struct fk *k)
{
	Shmbroker__ClientMessage *q;
	int e = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	uint64_t v;

	if (fk_hello(k) < 0 || e < 0 || fk_recv(k, WAIT_MS, &q) != 1 ||
	    q->body_case != SHMBROKER__CLIENT_MESSAGE__BODY_ATTACH)
		return 20;
	fk_attach_reply(k, q->id, LIE_NONE);
	shmbroker__client_message__free_unpacked(q, NULL);
	fk_peer_event_to(k, 5, 1, true, 0x3, e);
	fk_peer_event_to(k, 5, 1, true, 0x3, -1);
	fk_tell(k);
	if (!fk_hear(k))
		return 21;
	if (read(e, &v, sizeof(v)) == (ssize_t)sizeof(v))
		return 30;
	return fk_serve(k);
}

/* Says hello, then reads requests and answers none. */
static int
script_silent(struct fk *k)
{
	Shmbroker__ClientMessage *q;

	if (fk_hello(k) < 0)
		return 20;
	/* until the test's teardown kills it */
	while (fk_recv(k, 60000, &q) == 1)
		shmbroker__client_message__free_unpacked(q, NULL);
	return 0;
}

/* ---- the fixture: the fake and the library's connection to it ---- */

struct fixture {
	char dir[64];
	char path[108];
	pid_t pid;		/* the fake */
	int ctl;		/* our end of its control socketpair */
	int rec;		/* its request records */
	struct shmc *c;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->ctl = f->rec = -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/shmc-fake.XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/fake.sock", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	shmc_close(f->c);
	if (f->pid > 0) {
		kill(f->pid, SIGKILL);
		waitpid(f->pid, NULL, 0);
	}
	if (f->ctl >= 0)
		close(f->ctl);
	if (f->rec >= 0)
		close(f->rec);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void __attribute__((noreturn))
fake_main(int lfd, int ctl, int rec, fk_script script)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	struct fk k = { .ctl = ctl, .rec = rec };

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (poll(&p, 1, WAIT_MS) != 1 ||
	    (k.s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
		_exit(94);
	close(lfd);
	_exit(script(&k));
}

/* Starts the fake on f->path and connects the library to it. */
static void
fake_start(struct fixture *f, fk_script script)
{
	int lfd, sv[2], pfd[2];
	char err[256];

	lfd = harness_listen_raw(f->path, 1);
	assert_true(lfd >= 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
	    sv), 0);
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0) {
		close(sv[0]);
		close(pfd[0]);
		fake_main(lfd, sv[1], pfd[1], script);
	}
	close(lfd);
	close(sv[1]);
	close(pfd[1]);
	f->ctl = sv[0];
	f->rec = pfd[0];
	if (shmc_connect(f->path, "test_client", WAIT_MS, &f->c, err,
	    sizeof(err)) < 0)
		fail_msg("connect to the fake: %s", err);
}

/* One byte to the fake; and waiting for one from it. */
static void
fake_tell(struct fixture *f)
{
	assert_int_equal(write(f->ctl, "x", 1), 1);
}

static void
fake_hear(struct fixture *f)
{
	struct pollfd p = { .fd = f->ctl, .events = POLLIN };
	char c;

	if (poll(&p, 1, WAIT_MS) != 1)
		fail_msg("the fake did not get there in %d ms", WAIT_MS);
	assert_int_equal(read(f->ctl, &c, 1), 1);
}

/* Closes the library's connection and collects what the fake received
 * until then; returns how many records. The fake exits 0 on the close. */
static int
fake_finish(struct fixture *f, struct rec *recs, int max)
{
	struct pollfd p = { .fd = f->rec, .events = POLLIN };
	int n = 0, status;
	struct rec r;

	shmc_close(f->c);
	f->c = NULL;
	for (;;) {
		ssize_t got;

		if (poll(&p, 1, WAIT_MS) != 1)
			fail_msg("the fake did not finish");
		if ((got = read(f->rec, &r, sizeof(r))) == 0)
			break;
		assert_int_equal(got, sizeof(r));
		if (n < max)
			recs[n++] = r;
	}
	assert_int_equal(waitpid(f->pid, &status, 0), f->pid);
	f->pid = 0;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	return n;
}

/* ---- events as the library delivers them ---- */

struct seen {
	int n;
	struct shmc_event ev[MAX_SEEN];
	/* For test_event_order: the call made from inside the callback. */
	struct fixture *f;
	int inner_rc;
};

static void
record(const struct shmc_event *ev, void *arg)
{
	struct seen *s = arg;

	if (s->n < MAX_SEEN)
		s->ev[s->n] = *ev;
	s->n++;
}

/* Dispatches until want events were seen or WAIT_MS passed. */
static void
dispatch_until(struct shmc *c, shmc_event_cb cb, struct seen *s, int want)
{
	struct pollfd p = { .fd = shmc_event_fd(c), .events = POLLIN };
	int64_t deadline = harness_now_ms() + WAIT_MS;
	int rc;

	while (s->n < want && harness_now_ms() < deadline) {
		poll(&p, 1, 100);
		if ((rc = shmc_dispatch(c, cb, s)) < 0)
			fail_msg("dispatch: %d %s", rc, shmc_error(c));
	}
}

/* ---- the tests ---- */

/* Events that keep arriving during a call do not stretch its timeout, and
 * are dispatched afterwards, all of them, in order. */
static void
test_timeout_with_events(void **state)
{
	struct fixture *f = *state;
	struct seen s = { 0 };
	uint32_t status;
	int64_t t0, took;
	int rc;

	fake_start(f, script_events_during_call);
	shmc_set_timeout(f->c, CALL_TIMEOUT_MS);
	t0 = harness_now_ms();
	rc = shmc_read_status(f->c, 42, &status);
	took = harness_now_ms() - t0;
	assert_int_equal(rc, -ETIMEDOUT);
	if (took >= CALL_TIMEOUT_BOUND_MS)
		fail_msg("a %d ms call timed out after %lld ms",
		    CALL_TIMEOUT_MS, (long long)took);

	dispatch_until(f->c, record, &s, 4);
	assert_true(s.n >= 4);
	for (int i = 0; i < s.n && i < MAX_SEEN; i++) {
		assert_int_equal(s.ev[i].kind, SHMC_EVENT_NOTIFICATION);
		assert_int_equal(s.ev[i].client_id, 42);
		assert_int_equal(s.ev[i].index, i + 1);
	}
}

static void
record_and_call(const struct shmc_event *ev, void *arg)
{
	struct seen *s = arg;
	uint32_t status;

	record(ev, arg);
	if (s->n == 1) {
		s->inner_rc = shmc_read_status(s->f->c, 42, &status);
		/* E3 is on its way after the reply: wait until it is sent,
		 * so that it is there when dispatch goes on. */
		fake_hear(s->f);
	}
}

/* E1 is dispatched, its callback makes a call during which E2 arrives,
 * and E3 arrives after that call's reply: they come out E1, E2, E3. */
static void
test_event_order_across_call(void **state)
{
	struct fixture *f = *state;
	struct seen s = { .f = f, .inner_rc = 1 };

	fake_start(f, script_event_order);
	dispatch_until(f->c, record_and_call, &s, 3);
	assert_int_equal(s.inner_rc, 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.ev[0].kind, SHMC_EVENT_PEER_ATTACHED);
	assert_int_equal(s.ev[0].index, 1);
	assert_int_equal(s.ev[0].active_mask, 0x3);
	assert_int_equal(s.ev[1].kind, SHMC_EVENT_PEER_DETACHED);
	assert_int_equal(s.ev[1].index, 1);
	assert_int_equal(s.ev[1].active_mask, 0x1);
	assert_int_equal(s.ev[2].kind, SHMC_EVENT_PEER_ATTACHED);
	assert_int_equal(s.ev[2].index, 2);
	assert_int_equal(s.ev[2].active_mask, 0x5);
	/* Nothing else was there. */
	assert_int_equal(shmc_dispatch(f->c, record, &s), 0);
	assert_int_equal(s.n, 3);
}

/*
 * An attach that timed out, answered afterwards with GSS_OK and the
 * region's fd: the library closes the fd and detaches the client the
 * daemon made, during its next interaction with the daemon (the next call
 * or dispatch), so that neither the fd nor the daemon's client leaks.
 */
static void
test_late_attach_reply(void **state)
{
	struct fixture *f = *state;
	struct seen s = { 0 };
	struct shmc_region r;
	struct rec recs[16];
	uint32_t status;
	int before, n, detach_at = -1, second_rs = -1, nrs = 0;

	fake_start(f, script_late_attach);
	shmc_set_timeout(f->c, LATE_TIMEOUT_MS);
	before = check_count_own_fds();
	assert_int_equal(shmc_attach(f->c, "late", 1, true, &r), -ETIMEDOUT);
	fake_tell(f);
	fake_hear(f);		/* the late reply is in our socket now */

	shmc_set_timeout(f->c, WAIT_MS);
	assert_int_equal(shmc_read_status(f->c, 1, &status), 0);
	assert_int_equal(status, 1u << 16);
	assert_true(shmc_dispatch(f->c, record, &s) >= 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(check_count_own_fds(), before);
	/* The library still works, and the fake saw its requests up to
	 * this one in order. */
	assert_int_equal(shmc_read_status(f->c, 2, &status), 0);

	n = fake_finish(f, recs, 16);
	for (int i = 0; i < n; i++) {
		if (recs[i].body_case ==
		    SHMBROKER__CLIENT_MESSAGE__BODY_DETACH &&
		    recs[i].client_id == LATE_CLIENT_ID && detach_at < 0)
			detach_at = i;
		if (recs[i].body_case ==
		    SHMBROKER__CLIENT_MESSAGE__BODY_READ_STATUS && ++nrs == 2)
			second_rs = i;
	}
	assert_true(n >= 4);
	assert_int_equal(recs[0].body_case,
	    SHMBROKER__CLIENT_MESSAGE__BODY_HELLO);
	assert_int_equal(recs[1].body_case,
	    SHMBROKER__CLIENT_MESSAGE__BODY_ATTACH);
	if (detach_at < 0)
		fail_msg("the library never detached client %d, whose attach "
		    "reply came late", LATE_CLIENT_ID);
	assert_true(second_rs >= 0);
	assert_true(detach_at < second_rs);
}

/*
 * An attach reply without the state page and eventfds the library needs
 * (a daemon before them, or one that miscounts) fails the attach with
 * -EPROTO and leaks none of its fds; an fd on an event about a client the
 * library does not know is closed too.
 */
static void
test_short_attach_reply(void **state)
{
	struct fixture *f = *state;
	struct seen s = { 0 };
	struct shmc_region r;
	int before;

	fake_start(f, script_short_attach);
	before = check_count_own_fds();
	assert_int_equal(shmc_attach(f->c, "old", 1, true, &r), -EPROTO);
	assert_non_null(strstr(shmc_error(f->c), "state page"));
	assert_int_equal(check_count_own_fds(), before);
	assert_int_equal(shmc_attach(f->c, "short", 1, true, &r), -EPROTO);
	assert_int_equal(check_count_own_fds(), before);
	assert_int_equal(shmc_attach(f->c, "index61", 1, true, &r), -EPROTO);
	assert_int_equal(check_count_own_fds(), before);
	dispatch_until(f->c, record, &s, 1);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.ev[0].kind, SHMC_EVENT_PEER_ATTACHED);
	assert_int_equal(check_count_own_fds(), before);
}

/*
 * A daemon that lies in an attach reply (found by tests/fuzz/fuzz_client)
 * gets -EPROTO, and no fd leaks: a status that is no guest status (it was
 * returned as it came: 24576, or -12 that a caller took for -ENOMEM), a
 * region of no pages, or a region memfd or state page that is shorter
 * than said or not sealed against shrinking, which the library handed to
 * the VMM to map (the state page it maps itself): the first access past
 * the file's end killed the VMM with SIGBUS (a status read of an empty
 * state page did). The reply as the daemon sends it still attaches, and
 * its state page works.
 */
static void
test_lying_attach_reply(void **state)
{
	struct fixture *f = *state;
	struct shmc_region r;
	struct rec recs[64];
	uint32_t status;
	int before, n, detached = 0;

	fake_start(f, script_lying_attach);
	before = check_count_own_fds();
	for (int lie = 0; lie < LIE_NONE; lie++) {
		int rc = shmc_attach(f->c, "lie", 1, true, &r);

		if (rc != -EPROTO)
			fail_msg("lie %d: attach returned %d, not -EPROTO (%s)",
			    lie, rc, shmc_error(f->c));
		assert_int_equal(check_count_own_fds(), before);
	}
	assert_int_equal(shmc_attach(f->c, "true", 1, true, &r), SHMC_GSS_OK);
	assert_int_equal(shmc_status_direct(f->c, r.client_id, 0, &status), 0);
	assert_int_equal(status, 1u << 16);
	close(r.fd);
	assert_int_equal(shmc_detach(f->c, r.client_id), 0);
	assert_int_equal(check_count_own_fds(), before);
	/* Each lie with a status of OK attached all the same: detached,
	 * and the true one by the test. */
	n = fake_finish(f, recs, 64);
	for (int i = 0; i < n; i++)
		detached += recs[i].body_case ==
		    SHMBROKER__CLIENT_MESSAGE__BODY_DETACH &&
		    recs[i].client_id == 5;
	assert_int_equal(detached, LIE_NONE - LIE_NO_PAGES + 1);
}

/* This process's descriptor limit at its lowest free fd, so that no fd
 * it receives fits; the limit as it was into *saved, to put back. */
static void
no_more_fds(struct rlimit *saved)
{
	struct rlimit low;
	int lowest;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, saved), 0);
	assert_true((lowest = dup(0)) >= 0);
	close(lowest);
	low = (struct rlimit){ (rlim_t)lowest, saved->rlim_max };
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
}

/*
 * A message whose fds do not fit under the client's descriptor limit
 * loses those fds, not itself nor the connection: shmc_dispatch once
 * returned the receive's -ETOOMANYREFS, and a VMM's event thread that
 * took that for the end stopped applying events, an admin's revocation
 * among them (a reviewer's find). Both notifications are delivered.
 */
static void
test_fds_do_not_fit(void **state)
{
	struct fixture *f = *state;
	struct seen s = { 0 };
	struct rlimit saved;

	fake_start(f, script_fds_do_not_fit);
	no_more_fds(&saved);
	fake_tell(f);
	fake_hear(f);
	dispatch_until(f->c, record, &s, 2);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.ev[0].kind, SHMC_EVENT_NOTIFICATION);
	assert_int_equal(s.ev[0].index, 1);
	assert_int_equal(s.ev[1].index, 2);
	assert_non_null(strstr(shmc_error(f->c), "did not all fit"));
}

/*
 * An attach reply whose fds do not fit under the client's descriptor
 * limit ends the call at once (its bytes came whole), and the client it
 * made is detached: the call once waited out its whole timeout, the VMM's
 * lock held, and the client kept its index and quota (a reviewer's find).
 */
static void
test_attach_fds_do_not_fit(void **state)
{
	struct fixture *f = *state;
	struct rec recs[16];
	struct shmc_region r;
	struct rlimit saved;
	int64_t t0, took;
	int rc, n, detached = 0;

	fake_start(f, script_honest_attach);
	no_more_fds(&saved);
	t0 = harness_now_ms();
	rc = shmc_attach(f->c, "tight", 1, true, &r);
	took = harness_now_ms() - t0;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
	if (rc != -EPROTO)
		fail_msg("attach: %d (%s), not -EPROTO", rc, shmc_error(f->c));
	assert_non_null(strstr(shmc_error(f->c), "did not fit"));
	if (took >= WAIT_MS / 2)
		fail_msg("the attach took %lld ms", (long long)took);
	n = fake_finish(f, recs, 16);
	for (int i = 0; i < n; i++)
		detached += recs[i].body_case ==
		    SHMBROKER__CLIENT_MESSAGE__BODY_DETACH &&
		    recs[i].client_id == 5;
	assert_int_equal(detached, 1);
}

/* A join whose eventfd did not come (our descriptor limit, the daemon's
 * coalescing) replaces what the index held: a notify to it once woke the
 * gone peer's eventfd instead of nobody (a reviewer's find). */
static void
test_join_without_fd(void **state)
{
	struct fixture *f = *state;
	struct seen s = { 0 };
	struct shmc_region r;
	struct rec recs[16];

	fake_start(f, script_join_without_fd);
	assert_int_equal(shmc_attach(f->c, "j", 1, true, &r), SHMC_GSS_OK);
	close(r.fd);
	fake_hear(f);
	dispatch_until(f->c, record, &s, 2);
	assert_int_equal(s.n, 2);
	assert_int_equal(shmc_notify_direct(f->c, r.client_id, 1u << 1), 0);
	fake_tell(f);
	(void)fake_finish(f, recs, 16);	/* the fake exits 0: e not woken */
}

static void
on_tick(int sig)
{
	(void)sig;
}

/*
 * A caller with a signal tick (a VMM's vCPU timer, no SA_RESTART) must
 * still see its call time out: each EINTR once restarted the whole
 * receive timeout, so a silent daemon held the call for ever.
 */
static void
test_timeout_with_signals(void **state)
{
	struct fixture *f = *state;
	struct itimerval it = { { 0, 50000 }, { 0, 50000 } }, off;
	struct sigaction sa, old;
	struct shmc_region r;
	int64_t t0, took;
	int rc;

	fake_start(f, script_silent);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_tick;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
	memset(&off, 0, sizeof(off));
	assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
	shmc_set_timeout(f->c, CALL_TIMEOUT_MS);
	t0 = harness_now_ms();
	rc = shmc_attach(f->c, "silent", 1, true, &r);
	took = harness_now_ms() - t0;
	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &old, NULL);
	assert_int_equal(rc, -ETIMEDOUT);
	/* the bug was a call that never returned: any bound shows it */
	if (took >= 10 * CALL_TIMEOUT_MS)
		fail_msg("a %d ms call took %lld ms under a 50 ms tick",
		    CALL_TIMEOUT_MS, (long long)took);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_timeout_with_events,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_order_across_call,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_attach_reply,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_late_attach_reply,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_lying_attach_reply,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_with_signals,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_fds_do_not_fit,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_fds_do_not_fit,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_join_without_fd,
		    setup, teardown),
	};

	/* A fake that is gone must not kill us with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
