/* SPDX-License-Identifier: ISC */
/*
 * libshmclient's connection: the default socket paths, connecting (socket,
 * connect, hello) and closing, the message of the last failure
 * (shmc_error), and a socket taken down when the daemon has gone, with
 * what it sent last kept for the caller. Calls go through call.c; the
 * calls on attachments are attach.c's, the admin calls admin.c's.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "qvm/guest_shm.h"

#include "shmclient_int.h"

/* shmclient.h repeats the guest header's status codes so that VMMs need
 * only one header; the build fails when the copy drifts. */
#define SHMC_SAME_STATUS(s)						\
	_Static_assert((int)SHMC_##s == (int)s,				\
	    "SHMC_" #s " differs from qvm/guest_shm.h")
SHMC_SAME_STATUS(GSS_OK);
SHMC_SAME_STATUS(GSS_UNKNOWN_FAILURE);
SHMC_SAME_STATUS(GSS_NOMEM);
SHMC_SAME_STATUS(GSS_CLIENT_MAX);
SHMC_SAME_STATUS(GSS_ILLEGAL_NAME);
SHMC_SAME_STATUS(GSS_NO_PERMISSION);
SHMC_SAME_STATUS(GSS_DOES_NOT_EXIST);

const char *
shmc_default_socket(bool admin, char *buf, size_t len)
{
	const char *env = getenv(admin ? "SHMBROKER_ADMIN_SOCKET" :
	    "SHMBROKER_SOCKET");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	const char *file = admin ? "admin.sock" : "vmm.sock";

	if (env != NULL && *env != '\0')
		snprintf(buf, len, "%s", env);
	else if (geteuid() != 0 && xdg != NULL && *xdg != '\0')
		snprintf(buf, len, "%s/shmbroker/%s", xdg, file);
	else
		snprintf(buf, len, "/run/shmbroker/%s", file);
	return buf;
}

const char *
shmc_error(const struct shmc *c)
{
	return c->err;
}

int
shmc_fail(struct shmc *c, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return err;
}

int
shmc_hello(struct shmc *c, const char *label)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__Hello h = SHMBROKER__HELLO__INIT;
	Shmbroker__ServerMessage *r;
	int rc;

	h.version = WIRE_PROTOCOL_VERSION;
	h.label = (char *)(label != NULL ? label : program_invocation_short_name);
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_HELLO;
	req.hello = &h;
	rc = shmc_call_expect(c, &req, SHMBROKER__SERVER_MESSAGE__BODY_HELLO,
	    &r);
	if (rc == 0)
		wire_done_server(c->scratch, r);
	return rc;
}

int
shmc_open_socket(struct shmc *c, const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN };

	if (strlen(path) >= sizeof(sun.sun_path))
		return shmc_fail(c, -ENAMETOOLONG, "%s: socket path too long",
		    path);
	strcpy(sun.sun_path, path);
	c->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->sock < 0)
		return shmc_fail(c, -errno, "socket: %s", strerror(errno));
	if (connect(c->sock, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		return shmc_fail(c, -errno, "cannot connect to %s: %s (is "
		    "shmbrokerd running?)", path, strerror(errno));
	if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->sock, &ev) < 0)
		return shmc_fail(c, -errno, "epoll: %s", strerror(errno));
	return shmc_apply_timeout(c);
}

/* Closes a socket that is done with; what the daemon sent on it before it
 * went (up to a bound: it may still be sending) is queued for the caller. */
void
shmc_drop_socket(struct shmc *c)
{
	Shmbroker__ServerMessage *m;
	struct wire_fds fds;

	if (c->sock < 0)
		return;
	for (int i = 0; i < 256 &&
	    shmc_read_one(c, &m, &fds, MSG_DONTWAIT) > 0; i++) {
		wire_fds_close(&fds);
		if (m->id == 0 && m->error == SHMBROKER__ERROR__ERR_NONE)
			shmc_queue_event(c, m);
		else
			wire_done_server(c->scratch, m);
	}
	epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->sock, NULL);
	close(c->sock);
	c->sock = -1;
}

int
shmc_connect(const char *path, const char *label, int timeout_ms,
    struct shmc **out, char *errbuf, size_t errlen)
{
	char def[256];
	struct shmc *c = calloc(1, sizeof(*c));
	int rc;

	*out = NULL;
	if (c == NULL)
		return -ENOMEM;
	c->sock = c->epfd = c->evfd = c->retry_tfd = -1;
	c->next_id = 1;
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : SHMC_DEFAULT_TIMEOUT_MS;
	STAILQ_INIT(&c->queue);
	if (path == NULL)
		path = shmc_default_socket(false, def, sizeof(def));
	if ((c->path = strdup(path)) == NULL ||
	    (label != NULL && (c->label = strdup(label)) == NULL) ||
	    (c->scratch = wire_scratch_new()) == NULL)
		rc = shmc_fail(c, -ENOMEM, "out of memory");
	else
		rc = shmc_open_events(c);
	if (rc == 0)
		rc = shmc_open_socket(c, path);
	if (rc == 0)
		rc = shmc_hello(c, label);
	if (rc < 0) {
		if (errbuf != NULL)
			snprintf(errbuf, errlen, "%s", c->err);
		shmc_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

void
shmc_close(struct shmc *c)
{
	if (c == NULL)
		return;
	shmc_queue_free(c);
	shmc_att_free_all(c);
	if (c->sock >= 0)
		close(c->sock);
	if (c->epfd >= 0)
		close(c->epfd);
	if (c->evfd >= 0)
		close(c->evfd);
	if (c->retry_tfd >= 0)
		close(c->retry_tfd);
	wire_scratch_free(c->scratch);
	wake_close(c->wake);
	free(c->path);
	free(c->label);
	free(c);
}
