/* SPDX-License-Identifier: ISC */
/*
 * test_fdstore: pending notifications survive a daemon restart with
 * `fd_store = yes`, without systemd. The test plays systemd's part: it
 * binds the NOTIFY_SOCKET, keeps what the daemon stores there (FDSTORE=1
 * with FDNAME, minus FDSTOREREMOVE) and hands it to the next daemon as
 * LISTEN_FDS with LISTEN_FDNAMES. A region's state page is stored next to
 * its memfd, so a bit set before the restart is still pending for the
 * client that re-claims its index afterwards, on the same memory.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "testcheck.h"

#define MAX_STORED 16
#define RECONNECT_MS 5000

static const char conf_text[] = "[broker]\ntenancy = open\nfd_store = yes\n";

struct stored {
	char name[256];
	int fd;
};

struct store {
	struct fixture fx;	/* first: the teardown frees it whole */
	char notify[108];	/* the NOTIFY_SOCKET the test binds */
	int nsock;
	struct stored st[MAX_STORED];
	int nst;
};

static int
teardown(void **state)
{
	struct store *f = *state;

	if (f == NULL)
		return 0;
	for (int i = 0; i < f->nst; i++)
		close(f->st[i].fd);
	if (f->nsock >= 0)
		close(f->nsock);
	unsetenv("NOTIFY_SOCKET");
	return fixture_teardown(state);
}

static int
setup(void **state)
{
	static const char *const never[] = { "--hugepages", "never", NULL };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct store *f = fixture_new(state, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->notify, sizeof(f->notify), "%s/notify", f->fx.dir);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f->notify);
	f->nsock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (f->nsock < 0 ||
	    bind(f->nsock, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		perror(f->notify);
		teardown(state);
		return -1;
	}
	/* Every daemon of the test, the restarted one too, notifies there. */
	setenv("NOTIFY_SOCKET", f->notify, 1);
	if (fixture_start(&f->fx, conf_text, never) < 0) {
		teardown(state);
		return -1;
	}
	return 0;
}

/* The value of KEY= in a notify message, or NULL. */
static const char *
field(char *msg, const char *key, char *out, size_t cap)
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
forget(struct store *f, const char *name)
{
	for (int i = 0; i < f->nst;) {
		if (strcmp(f->st[i].name, name) == 0) {
			close(f->st[i].fd);
			f->st[i] = f->st[--f->nst];
		} else {
			i++;
		}
	}
}

/* What systemd would do with the notify messages that wait. */
static void
collect(struct store *f)
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
		ssize_t n = recvmsg(f->nsock, &mh, MSG_CMSG_CLOEXEC);
		int fd = -1;

		if (n < 0)
			break;
		buf[n] = '\0';
		for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_type == SCM_RIGHTS)
				memcpy(&fd, CMSG_DATA(c), sizeof(fd));
		if (strstr(buf, "FDSTOREREMOVE=1") != NULL &&
		    field(buf, "FDNAME", name, sizeof(name)) != NULL)
			forget(f, name);
		if (strstr(buf, "FDSTORE=1") != NULL && fd >= 0 &&
		    field(buf, "FDNAME", name, sizeof(name)) != NULL) {
			assert_true(f->nst < MAX_STORED);
			snprintf(f->st[f->nst].name, sizeof(name), "%s", name);
			f->st[f->nst++].fd = fd;
		} else if (fd >= 0) {
			close(fd);
		}
	}
}

static int
count_prefix(const struct store *f, const char *prefix)
{
	int n = 0;

	for (int i = 0; i < f->nst; i++)
		n += strncmp(f->st[i].name, prefix, strlen(prefix)) == 0;
	return n;
}

/* SIGTERM, then a daemon that gets the stored fds as systemd passes
 * them: what the old one stored until it exited, from fd 3 on, named. */
static void
restart_with_store(struct store *f)
{
	const char *names[MAX_STORED];
	int fds[MAX_STORED];
	struct harness_restart how = { .fds = fds, .fdnames = names };

	assert_int_equal(harness_end_daemon(&f->fx.d, SIGTERM), 0);
	collect(f);
	for (int i = 0; i < f->nst; i++) {
		fds[i] = f->st[i].fd;
		names[i] = f->st[i].name;
	}
	how.nfds = f->nst;
	assert_int_equal(fixture_restart(&f->fx, &how), 0);
}

static void
test_pending_survives_restart(void **state)
{
	struct store *f = *state;
	struct shmc *c[2];
	struct shmc_region ra, rb;
	uint32_t st = 0, idx;
	bool same;

	for (int i = 0; i < 2; i++) {
		c[i] = fixture_connect(&f->fx, f->fx.d.socket, "fdstore");
		shmc_set_reconnect(c[i], RECONNECT_MS);
	}
	assert_int_equal(shmc_attach(c[0], "kept", 1, true, &ra),
	    SHMC_GSS_OK);
	assert_int_equal(shmc_attach(c[1], "kept", 1, true, &rb),
	    SHMC_GSS_OK);
	close(ra.fd);
	close(rb.fd);
	/* a notifies b, which does not read it before the restart. */
	assert_int_equal(shmc_notify(c[0], ra.client_id, 1u << rb.index,
	    NULL), 0);
	collect(f);
	assert_int_equal(count_prefix(f, "r."), 1);
	assert_int_equal(count_prefix(f, "s."), 1);

	restart_with_store(f);
	/* b's read reconnects, re-claims its index, and finds a's bit. */
	assert_int_equal(shmc_read_status(c[1], rb.client_id, &st), 0);
	assert_int_equal(shmc_reconnects(c[1]), 1);
	assert_int_equal(shmc_attachment_info(c[1], rb.client_id, &idx,
	    &same), 0);
	assert_int_equal(idx, rb.index);
	assert_true(same);
	assert_int_equal(st & 0xffff, 1u << ra.index);
	assert_int_equal(st >> 16, 1u << rb.index);
	/* Read once, like any pending bit. */
	assert_int_equal(shmc_read_status(c[1], rb.client_id, &st), 0);
	assert_int_equal(st & 0xffff, 0);

	/* a comes back too: its own word was empty and stays so, and the
	 * two notify each other again. */
	assert_int_equal(shmc_read_status(c[0], ra.client_id, &st), 0);
	assert_int_equal(st, 0x3u << 16);
	assert_int_equal(shmc_notify(c[1], rb.client_id, 0xffffffffu,
	    NULL), 0);
	assert_int_equal(shmc_read_status(c[0], ra.client_id, &st), 0);
	assert_int_equal(st, 0x3u << 16 | 1u << rb.index);

	/* The last client's detach takes the state page out of the store
	 * (told before the detach's reply), and the guest region with it. */
	assert_int_equal(shmc_detach(c[0], ra.client_id), 0);
	collect(f);
	assert_int_equal(count_prefix(f, "s."), 1);
	assert_int_equal(shmc_detach(c[1], rb.client_id), 0);
	collect(f);
	assert_int_equal(count_prefix(f, "s."), 0);
	assert_int_equal(count_prefix(f, "r."), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pending_survives_restart,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
