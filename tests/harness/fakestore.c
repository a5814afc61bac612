/* SPDX-License-Identifier: ISC */
/*
 * fakestore: systemd's fd store for tests (see fakestore.h): the notify
 * messages, the entries they add and remove, and the restart that hands
 * them over.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "fakestore.h"

int
fakestore_open(struct fakestore *s, const char *dir)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	s->nst = 0;
	snprintf(s->notify, sizeof(s->notify), "%s/notify", dir);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", s->notify);
	s->nsock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (s->nsock < 0 ||
	    bind(s->nsock, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		perror(s->notify);
		return -1;
	}
	/* Every daemon of the test, a restarted one too, notifies there. */
	setenv("NOTIFY_SOCKET", s->notify, 1);
	return 0;
}

void
fakestore_close(struct fakestore *s)
{
	for (int i = 0; i < s->nst; i++)
		close(s->st[i].fd);
	s->nst = 0;
	if (s->nsock >= 0)
		close(s->nsock);
	s->nsock = -1;
	unsetenv("NOTIFY_SOCKET");
}

/* The value of KEY= in a notify message, or NULL. */
static const char *
fakestore_field(char *msg, const char *key, char *out, size_t cap)
{
	size_t klen = strlen(key);

	for (char *l = msg; l != NULL && *l != '\0';) {
		char *nl = strchr(l, '\n');
		size_t len = nl != NULL ? (size_t)(nl - l) : strlen(l);

		if (len > klen && strncmp(l, key, klen) == 0 && l[klen] == '=') {
			snprintf(out, cap, "%.*s", (int)(len - klen - 1),
			    l + klen + 1);
			return out;
		}
		l = nl != NULL ? nl + 1 : NULL;
	}
	return NULL;
}

static void
fakestore_forget(struct fakestore *s, const char *name)
{
	for (int i = 0; i < s->nst;) {
		if (strcmp(s->st[i].name, name) == 0) {
			close(s->st[i].fd);
			s->st[i] = s->st[--s->nst];
		} else {
			i++;
		}
	}
}

void
fakestore_collect(struct fakestore *s)
{
	char buf[4096], name[256];
	union {
		char b[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} ctl;

	for (;;) {
		struct iovec iov = { buf, sizeof(buf) - 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
		    .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b) };
		struct cmsghdr *c;
		ssize_t n = recvmsg(s->nsock, &mh, MSG_CMSG_CLOEXEC);
		int fd = -1;

		if (n < 0)
			break;
		buf[n] = '\0';
		for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_type == SCM_RIGHTS)
				memcpy(&fd, CMSG_DATA(c), sizeof(fd));
		if (strstr(buf, "FDSTOREREMOVE=1") != NULL &&
		    fakestore_field(buf, "FDNAME", name, sizeof(name)) != NULL)
			fakestore_forget(s, name);
		if (strstr(buf, "FDSTORE=1") != NULL && fd >= 0 &&
		    fakestore_field(buf, "FDNAME", name, sizeof(name)) != NULL) {
			assert_true(s->nst < FAKESTORE_MAX);
			snprintf(s->st[s->nst].name, sizeof(name), "%s", name);
			s->st[s->nst++].fd = fd;
		} else if (fd >= 0) {
			close(fd);
		}
	}
}

int
fakestore_count(const struct fakestore *s, const char *prefix)
{
	int n = 0;

	for (int i = 0; i < s->nst; i++)
		n += strncmp(s->st[i].name, prefix, strlen(prefix)) == 0;
	return n;
}

void
fakestore_stop(struct fakestore *s, struct fixture *fx)
{
	assert_int_equal(harness_end_daemon(&fx->d, SIGTERM), 0);
	fakestore_collect(s);
}

void
fakestore_restart(struct fakestore *s, struct fixture *fx)
{
	fakestore_stop(s, fx);
	fakestore_start(s, fx);
}

void
fakestore_start(struct fakestore *s, struct fixture *fx)
{
	const char *names[FAKESTORE_MAX];
	int fds[FAKESTORE_MAX];
	struct harness_restart how = { .fds = fds, .fdnames = names };

	for (int i = 0; i < s->nst; i++) {
		fds[i] = s->st[i].fd;
		names[i] = s->st[i].name;
	}
	how.nfds = s->nst;
	assert_int_equal(fixture_restart(fx, &how), 0);
}
