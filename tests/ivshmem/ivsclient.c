/* SPDX-License-Identifier: ISC */
/*
 * ivsclient: the ivshmem protocol's client side (see ivsclient.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ivsclient.h"

/* One message, and its fd (or -1). 0, or -1. */
static int
ivc_recv(int sock, int64_t *v, int *fd)
{
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { v, sizeof(*v) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = u.b, .msg_controllen = sizeof(u.b) };
	struct cmsghdr *c;

	*fd = -1;
	if (recvmsg(sock, &mh, MSG_WAITALL | MSG_CMSG_CLOEXEC) !=
	    (ssize_t)sizeof(*v))
		return -1;
	if ((c = CMSG_FIRSTHDR(&mh)) != NULL && c->cmsg_type == SCM_RIGHTS)
		memcpy(fd, CMSG_DATA(c), sizeof(*fd));
	return 0;
}

void
ivc_close(struct ivc *p)
{
	for (int i = 0; i < 16; i++)
		if (p->peer[i] >= 0)
			close(p->peer[i]);
	if (p->own >= 0)
		close(p->own);
	if (p->memfd >= 0)
		close(p->memfd);
	if (p->sock >= 0)
		close(p->sock);
}

/* Reads messages until the peer at index `want` is known (want < 0: until
 * its own vector came, the end of the welcome). 0, or -1. */
int
ivc_until(struct ivc *p, int want)
{
	int64_t v;
	int fd;

	while (want < 0 ? p->own < 0 : p->peer[want] < 0) {
		if (ivc_recv(p->sock, &v, &fd) < 0)
			return -1;
		if (v == -1 && p->memfd < 0)
			p->memfd = fd;
		else if (v == p->index && fd >= 0 && p->own < 0)
			p->own = fd;
		else if (v >= 0 && v < 16 && fd >= 0 && p->peer[v] < 0)
			p->peer[v] = fd;
		else if (fd >= 0)
			close(fd);
	}
	return 0;
}

/* Connects as a QEMU does and takes its welcome. 0, or -1. */
int
ivc_connect_only(struct ivc *p, const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	memset(p, -1, sizeof(*p));
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if ((p->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(p->sock, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		ivc_close(p);
		return -1;
	}
	return 0;
}

int
ivc_welcome(struct ivc *p)
{
	int64_t v;
	int fd;

	if (ivc_recv(p->sock, &v, &fd) < 0 || v != 0 ||
	    ivc_recv(p->sock, &v, &fd) < 0 || v < 0 || v > 15 ||
	    (p->index = (int)v, ivc_until(p, -1)) < 0) {
		ivc_close(p);
		return -1;
	}
	return 0;
}

int
ivc_open(struct ivc *p, const char *path)
{
	return ivc_connect_only(p, path) < 0 ? -1 : ivc_welcome(p);
}
