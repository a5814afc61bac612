/* SPDX-License-Identifier: ISC */
/*
 * testcheck: cmocka checks the tests share (see testcheck.h).
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testcheck.h"

int
check_count_own_fds(void)
{
	int n = harness_count_fds(getpid());

	if (n < 1)
		fail_msg("cannot read /proc/%d/fd", (int)getpid());
	return n - 1;	/* the directory's own fd */
}

void
check_write_file(const char *path, const char *text)
{
	char tmp[PATH_MAX];
	FILE *f;

	assert_true((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) <
	    sizeof(tmp));
	f = fopen(tmp, "we");
	if (f == NULL)
		fail_msg("cannot write %s: %s", tmp, strerror(errno));
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(tmp, path), 0);
}

int
check_raw_connect(const char *path)
{
	int fd = harness_connect_raw(path);

	if (fd < 0)
		fail_msg("connect %s: %s", path, strerror(-fd));
	return fd;
}

struct shmc *
check_connect(const char *path, const char *label)
{
	char err[256];
	struct shmc *c;

	if (shmc_connect(path, label, SHMC_DEFAULT_TIMEOUT_MS, &c, err,
	    sizeof(err)) < 0)
		fail_msg("connect to %s: %s", path, err);
	return c;
}

/* A reply for rc, the return of an admin call; transport errors fail. */
static Shmbroker__ServerMessage *
check_admin_reply(struct shmc *adm, int rc, Shmbroker__ServerMessage *m)
{
	if (rc < 0)
		fail_msg("admin call: %d %s", rc, shmc_error(adm));
	assert_non_null(m);
	return m;
}

Shmbroker__ServerMessage *
check_admin_call(struct shmc *adm, Shmbroker__ClientMessage *req)
{
	Shmbroker__ServerMessage *m = NULL;
	int rc = shmc_call(adm, req, &m);

	return check_admin_reply(adm, rc, m);
}

void
check_round_trip(struct shmc *c, uint64_t client_id)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__ReadStatus rs = SHMBROKER__READ_STATUS__INIT;
	Shmbroker__ServerMessage *m;

	rs.client_id = client_id;
	rs.keep_mask = 0xffff;
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_READ_STATUS;
	req.read_status = &rs;
	assert_int_equal(shmc_call(c, &req, &m), 0);
	assert_int_equal(m->error, SHMBROKER__ERROR__ERR_NONE);
	shmbroker__server_message__free_unpacked(m, NULL);
}

/*
 * Makes *req the request with id whose body (the oneof field bc) is body,
 * which must be that field's message type. Through the field's descriptor,
 * so that one function serves every kind of request.
 */
static void
check_request(Shmbroker__ClientMessage *req, uint64_t id,
    Shmbroker__ClientMessage__BodyCase bc, ProtobufCMessage *body)
{
	static const Shmbroker__ClientMessage init =
	    SHMBROKER__CLIENT_MESSAGE__INIT;
	const ProtobufCFieldDescriptor *fd =
	    protobuf_c_message_descriptor_get_field(
	    &shmbroker__client_message__descriptor, (unsigned)bc);

	if (fd == NULL || fd->descriptor != body->descriptor)
		fail_msg("request %d does not take a %s", (int)bc,
		    body->descriptor->name);
	*req = init;
	req->id = id;
	req->body_case = bc;
	memcpy((char *)req + fd->offset, &body, sizeof(body));
}

/* The admin request bc, whose body has no fields; the reply. */
static Shmbroker__ServerMessage *
check_admin_bare(struct shmc *adm, Shmbroker__ClientMessage__BodyCase bc)
{
	const ProtobufCFieldDescriptor *fd =
	    protobuf_c_message_descriptor_get_field(
	    &shmbroker__client_message__descriptor, (unsigned)bc);
	union {
		ProtobufCMessage base;
		max_align_t align;
		char room[128];
	} body;
	Shmbroker__ClientMessage req;

	if (fd == NULL || fd->type != PROTOBUF_C_TYPE_MESSAGE ||
	    ((const ProtobufCMessageDescriptor *)fd->descriptor)->n_fields !=
	    0)
		fail_msg("admin request %d has arguments", (int)bc);
	protobuf_c_message_init(fd->descriptor, &body);
	check_request(&req, 0, bc, &body.base);
	return check_admin_call(adm, &req);
}

Shmbroker__ServerMessage *
check_admin_ok(struct shmc *adm, Shmbroker__ClientMessage__BodyCase body)
{
	Shmbroker__ServerMessage *m = check_admin_bare(adm, body);

	assert_int_equal(m->error, SHMBROKER__ERROR__ERR_NONE);
	/* An admin reply has its request's field number. */
	assert_int_equal(m->body_case, body);
	return m;
}

uint64_t
check_admin_stat(struct shmc *adm, size_t offset)
{
	Shmbroker__ServerMessage *m = check_admin_ok(adm,
	    SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_STATS);
	uint64_t v;

	memcpy(&v, (const char *)m->admin_stats + offset, sizeof(v));
	shmbroker__server_message__free_unpacked(m, NULL);
	return v;
}

int
check_admin_reload(struct shmc *adm, char *msg, size_t msglen)
{
	Shmbroker__ServerMessage *m = check_admin_bare(adm,
	    SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_RELOAD);
	int err = (int)m->error;

	if (err == SHMBROKER__ERROR__ERR_NONE)
		assert_int_equal(m->body_case,
		    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_RELOAD);
	snprintf(msg, msglen, "%s", m->message);
	shmbroker__server_message__free_unpacked(m, NULL);
	return err;
}

struct check_region
check_admin_show(struct shmc *adm, const char *name)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminShow as = SHMBROKER__ADMIN_SHOW__INIT;
	Shmbroker__ServerMessage *m;
	struct check_region v;

	memset(&v, 0, sizeof(v));
	as.name = (char *)name;
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_SHOW;
	req.admin_show = &as;
	m = check_admin_call(adm, &req);
	v.error = (int)m->error;
	if (m->error == SHMBROKER__ERROR__ERR_NONE) {
		const Shmbroker__RegionInfo *ri;

		assert_int_equal(m->body_case,
		    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_SHOW);
		ri = m->admin_show->region;
		assert_string_equal(ri->name, name);
		snprintf(v.tenant, sizeof(v.tenant), "%s", ri->tenant);
		v.region_id = ri->region_id;
		v.backing_bytes = ri->backing_bytes;
		v.mode = ri->mode;
		v.owner_uid = ri->owner_uid;
		v.clients = ri->clients;
		v.size_pages = ri->size_pages;
		v.n_clients = m->admin_show->n_clients;
		v.origin = (int)ri->origin;
		v.backing = (int)ri->backing;
	}
	shmbroker__server_message__free_unpacked(m, NULL);
	return v;
}

int
check_admin_clients(struct shmc *adm, const char *name)
{
	struct check_region v = check_admin_show(adm, name);

	if (v.error == SHMBROKER__ERROR__ERR_NOT_FOUND)
		return -1;
	assert_int_equal(v.error, 0);
	assert_int_equal(v.clients, v.n_clients);
	return (int)v.n_clients;
}

int
check_admin_wait_clients(struct shmc *adm, const char *name, int want)
{
	int64_t deadline = harness_now_ms() + 5000;
	int n;

	while ((n = check_admin_clients(adm, name)) != want &&
	    harness_now_ms() < deadline)
		harness_sleep_ms(10);
	return n;
}

void
check_admin_counts(struct shmc *adm, uint32_t *regions, uint32_t *clients)
{
	Shmbroker__ServerMessage *m = check_admin_ok(adm,
	    SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_STATUS);

	*regions = m->admin_status->regions;
	*clients = m->admin_status->clients;
	shmbroker__server_message__free_unpacked(m, NULL);
}

int
check_admin_create(struct shmc *adm, const char *name, uint32_t pages)
{
	Shmbroker__ServerMessage *m = NULL;
	int rc = shmc_admin_create(adm, name, pages, &m), err;

	m = check_admin_reply(adm, rc, m);
	err = m->error;
	if (err == SHMBROKER__ERROR__ERR_NONE) {
		assert_int_equal(m->body_case,
		    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_CREATE);
		assert_string_equal(m->admin_create->region->name, name);
		assert_int_equal(m->admin_create->region->size_pages, pages);
		assert_int_equal(m->admin_create->region->origin,
		    SHMBROKER__ORIGIN__ORIGIN_ADMIN);
	}
	shmbroker__server_message__free_unpacked(m, NULL);
	return err;
}

int
check_admin_destroy(struct shmc *adm, const char *name, bool force,
    uint32_t *detached)
{
	Shmbroker__ServerMessage *m = NULL;
	int rc = shmc_admin_destroy(adm, name, force, &m), err;

	m = check_admin_reply(adm, rc, m);
	err = m->error;
	if (err == SHMBROKER__ERROR__ERR_NONE && detached != NULL)
		*detached = m->admin_destroy->detached;
	shmbroker__server_message__free_unpacked(m, NULL);
	return err;
}

void
check_send(int s, Shmbroker__ClientMessage *m)
{
	int rc = wire_send_client(s, m, NULL, 0);

	if (rc < 0)
		fail_msg("sending request %llu: %s", (unsigned long long)m->id,
		    strerror(-rc));
}

/* Sends the request with id and body (the oneof field bc) on s. */
static void
check_send_body(int s, uint64_t id, Shmbroker__ClientMessage__BodyCase bc,
    ProtobufCMessage *body)
{
	Shmbroker__ClientMessage m;

	check_request(&m, id, bc, body);
	check_send(s, &m);
}

void
check_send_hello(int s, uint64_t id, uint32_t version, const char *label)
{
	Shmbroker__Hello h = SHMBROKER__HELLO__INIT;

	h.version = version;
	h.label = (char *)label;
	check_send_body(s, id, SHMBROKER__CLIENT_MESSAGE__BODY_HELLO, &h.base);
}

void
check_send_attach(int s, uint64_t id, const void *name, size_t len,
    uint32_t pages, bool create)
{
	Shmbroker__Attach a = SHMBROKER__ATTACH__INIT;

	a.name.data = (uint8_t *)name;
	a.name.len = len;
	a.size_pages = pages;
	a.create = create;
	check_send_body(s, id, SHMBROKER__CLIENT_MESSAGE__BODY_ATTACH, &a.base);
}

void
check_send_client_op(int s, uint64_t id,
    Shmbroker__ClientMessage__BodyCase kind, uint64_t client_id)
{
	Shmbroker__Notify n = SHMBROKER__NOTIFY__INIT;
	Shmbroker__ReadStatus rs = SHMBROKER__READ_STATUS__INIT;
	Shmbroker__Detach d = SHMBROKER__DETACH__INIT;

	n.client_id = rs.client_id = d.client_id = client_id;
	n.mask = 0xffffffff;
	check_send_body(s, id, kind,
	    kind == SHMBROKER__CLIENT_MESSAGE__BODY_NOTIFY ? &n.base :
	    kind == SHMBROKER__CLIENT_MESSAGE__BODY_READ_STATUS ? &rs.base :
	    &d.base);
}

void
check_send_admin_create(int s, uint64_t id, const char *name, uint32_t pages)
{
	Shmbroker__AdminCreate c = SHMBROKER__ADMIN_CREATE__INIT;

	c.name = (char *)name;
	c.size_pages = pages;
	check_send_body(s, id, SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_CREATE,
	    &c.base);
}

void
check_send_admin_destroy(int s, uint64_t id, const char *name, bool force)
{
	Shmbroker__AdminDestroy d = SHMBROKER__ADMIN_DESTROY__INIT;

	d.name = (char *)name;
	d.force = force;
	check_send_body(s, id, SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_DESTROY,
	    &d.base);
}

Shmbroker__ServerMessage *
check_recv(int s, int64_t deadline, struct wire_fds *fds)
{
	uint8_t *buf = malloc(WIRE_MAX_MESSAGE);
	struct pollfd p = { .fd = s, .events = POLLIN };
	Shmbroker__ServerMessage *m;
	ssize_t n;

	assert_non_null(buf);
	do {
		int64_t left = deadline - harness_now_ms();

		if (left <= 0 || poll(&p, 1, (int)left) == 0) {
			free(buf);
			fail_msg("no reply from shmbrokerd in time");
		}
		n = wire_recv_flags(s, buf, WIRE_MAX_MESSAGE, fds,
		    MSG_DONTWAIT);
	} while (n == -EAGAIN);
	if (n <= 0) {
		free(buf);
		fail_msg("waiting for a reply: %s", n == 0 ?
		    "shmbrokerd closed the connection" : strerror((int)-n));
	}
	m = shmbroker__server_message__unpack(NULL, (size_t)n, buf);
	free(buf);
	if (m == NULL)
		wire_fds_close(fds);
	assert_non_null(m);
	return m;
}

Shmbroker__ServerMessage *
check_recv_reply_fds(int s, struct wire_fds *fds)
{
	int64_t deadline = harness_now_ms() + CHECK_REPLY_WAIT_MS;

	for (;;) {
		Shmbroker__ServerMessage *m = check_recv(s, deadline, fds);

		if (m->id != 0 || m->error != SHMBROKER__ERROR__ERR_NONE)
			return m;
		wire_fds_close(fds);
		shmbroker__server_message__free_unpacked(m, NULL);
	}
}

Shmbroker__ServerMessage *
check_recv_reply(int s, size_t *nfds)
{
	struct wire_fds fds;
	Shmbroker__ServerMessage *m = check_recv_reply_fds(s, &fds);

	if (nfds != NULL)
		*nfds = fds.n;
	wire_fds_close(&fds);
	return m;
}

bool
check_sees_eof(int s, int ms)
{
	int64_t deadline = harness_now_ms() + ms;
	struct pollfd p = { .fd = s, .events = POLLIN };
	char buf[WIRE_MAX_MESSAGE];

	for (;;) {
		int64_t left = deadline - harness_now_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) == 0)
			return false;
		/* recv drops any fds that come with what it reads. */
		n = recv(s, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return false;
	}
}

void
check_need_kvm(void)
{
	if (!harness_kvm_opens()) {
		print_message("skipped: /dev/kvm is missing or cannot be "
		    "opened (%s); shm-vm needs KVM to run guests "
		    "(tests/qemu-kvm/run-in-vm.sh runs this test in a VM "
		    "that has it)\n", strerror(errno));
		skip();
	}
}

/* The connection is made in a child, whose connect gives it its
 * credentials, and handed back. */
int
check_raw_as(const char *path, uid_t uid)
{
	struct wire_fds fds = { .n = 0 };
	int sv[2], s = -1, c;
	pid_t pid;
	char b;

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
	    sv), 0);
	assert_true((pid = fork()) >= 0);
	if (pid == 0) {
		close(sv[0]);
		if (setgroups(0, NULL) < 0 || setgid(uid) < 0 ||
		    setuid(uid) < 0 || (c = harness_connect_raw(path)) < 0 ||
		    wire_send(sv[1], "c", 1, &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(sv[1]);
	if (wire_recv(sv[0], &b, 1, &fds) == 1 && fds.n == 1)
		s = fds.fd[0];
	else
		wire_fds_close(&fds);
	close(sv[0]);
	waitpid(pid, NULL, 0);
	assert_true(s >= 0);
	return s;
}

int
check_lingering_socket(int *sink)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct linger lg = { .l_onoff = 1, .l_linger = 3600 };
	socklen_t len = sizeof(sin);
	int lfd, fd, small = 4096;
	char junk[4096] = { 0 };

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	assert_true((*sink = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0);
	setsockopt(*sink, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	close(lfd);
	while (send(fd, junk, sizeof(junk), MSG_DONTWAIT) > 0)
		;
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg,
	    sizeof(lg)), 0);
	return fd;
}

void
check_unlinger(int fd)
{
	struct linger off = { 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &off, sizeof(off));
}
