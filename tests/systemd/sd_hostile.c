/* SPDX-License-Identifier: ISC */
/*
 * sd-hostile: a hostile VMM or QEMU of the systemd tests, run as a real
 * uid under setpriv. It speaks the wire itself, as an attacker would,
 * not through libshmclient.
 *
 *   sd-hostile linger SOCKET DIR
 * Passes the daemon, with one message, a loopback TCP socket whose last
 * close would wait an hour: SO_LINGER of 3600 s and a send queue its
 * receiving end never reads (the loopback device must be up). On a
 * SOCK_SEQPACKET socket (the VMM socket) the message is a Hello; on a
 * stream socket (an ivshmem export, where the daemon speaks QEMU's
 * protocol) one byte. The sender's copy is closed at once, so that the
 * daemon's is the last; when the sender's close waits instead (the
 * daemon closed its copy first), that try is cut short and another made,
 * up to LINGER_TRIES. Prints "refused" when the kernel would not pass
 * the socket (EPERM: the listener refuses fds) or "passed", writes
 * DIR/ready and keeps the connections and receiving ends (so the linger
 * holds) until DIR/done appears.
 *
 *   sd-hostile append SOCKET NAME DIR
 * Finds the region NAME (the name's NUL is added) and sets O_APPEND on
 * the state page the daemon gave it, the daemon's own open file. Prints
 * "appended INDEX", writes DIR/ready and stays attached until DIR/done.
 *
 *   sd-hostile hoard SOCKET TAG CONNS DIR
 * Holds the descriptors the daemon sends without reading them: CONNS
 * connections each say Hello, then ask for HOARD_ATTACHES attaches
 * (creates of two regions TAG-cC-rR, 16 clients each, so that replies
 * and the events to the members on the same connection carry many fds)
 * and read nothing more. The kernel counts what they hold against the
 * daemon's uid. Prints "hoarding CONNS", writes DIR/ready and keeps all
 * of it until DIR/done.
 *
 * Exit status 0 when it did what it says, 1 with a message if not, 2 for
 * a wrong command line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "wire.h"

#define STEP_WAIT_S 120
#define LINGER_S 3600
/* A close of the sender's copy that takes this long waited on the linger:
 * it was the last. */
#define LOST_RACE_US 300000
#define LINGER_TRIES 10
#define HOARD_ATTACHES 32
#define HOARD_MAX_CONNS 64

static int
die(const char *what)
{
	fprintf(stderr, "sd-hostile: %s: %s\n", what, strerror(errno));
	return 1;
}

static int
connect_unix(const char *path, int type)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int s;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sun.sun_path, path);
	s = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	if (connect(s, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;

		close(s);
		errno = e;
		return -1;
	}
	return s;
}

/* Waits for DIR/NAME to appear; 0, or -1 after STEP_WAIT_S. */
static int
await_file(const char *dir, const char *name)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	for (int i = 0; i < STEP_WAIT_S * 10; i++) {
		if (stat(path, &st) == 0)
			return 0;
		usleep(100 * 1000);
	}
	errno = ETIMEDOUT;
	return -1;
}

/* Writes DIR/ready with the line (whole: a reader never sees it empty),
 * then waits for DIR/done. */
static int
ready_then_wait(const char *dir, const char *line)
{
	char path[4096], tmp[4096];
	FILE *f;

	printf("%s\n", line);
	fflush(stdout);
	snprintf(path, sizeof(path), "%s/ready", dir);
	snprintf(tmp, sizeof(tmp), "%s/.ready", dir);
	f = fopen(tmp, "w");
	if (f == NULL || fprintf(f, "%s\n", line) < 0 || fclose(f) != 0 ||
	    rename(tmp, path) < 0)
		return die(path);
	if (await_file(dir, "done") < 0)
		return die("waiting for done");
	return 0;
}

/*
 * A loopback TCP connection whose client end (returned) has SO_LINGER set
 * and a full send queue; *sink is the server end, which never reads.
 */
static int
lingering_socket(int *sink)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct linger lg = { .l_onoff = 1, .l_linger = LINGER_S };
	socklen_t len = sizeof(sin);
	int lfd, fd, small = 4096, e;
	char junk[4096] = { 0 };

	*sink = fd = -1;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &len) < 0 ||
	    (fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    (*sink = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
		goto fail;
	setsockopt(*sink, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	close(lfd);
	while (send(fd, junk, sizeof(junk), MSG_DONTWAIT) > 0)
		;
	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0)
		return fd;
	lfd = -1;
fail:
	e = errno;
	if (lfd >= 0)
		close(lfd);
	if (fd >= 0)
		close(fd);	/* no linger set yet, or it failed */
	if (*sink >= 0)
		close(*sink);
	*sink = -1;
	errno = e;
	return -1;
}

/* A Hello's bytes into buf; their length. */
static size_t
hello_bytes(uint8_t *buf)
{
	ssize_t n;
	Shmbroker__ClientMessage m = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__Hello h = SHMBROKER__HELLO__INIT;

	h.version = WIRE_PROTOCOL_VERSION;
	h.label = "sd-hostile";
	m.id = 1;
	m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_HELLO;
	m.hello = &h;
	n = wire_pack(&m.base, buf);
	return n > 0 ? (size_t)n : 0;
}

/* A SIGALRM that cuts a lingering close short: nothing to do. */
static void
on_alarm(int sig)
{
	(void)sig;
}

/*
 * Closes the sender's copy of a socket it passed: true when that was
 * quick, so not the last close (which would wait out the linger, here
 * until the timer cuts it short): the receiver's will be.
 */
static bool
close_not_last(int fd)
{
	struct itimerval it = { .it_value.tv_usec = LOST_RACE_US };
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	setitimer(ITIMER_REAL, &it, NULL);
	close(fd);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	it.it_value.tv_usec = 0;
	setitimer(ITIMER_REAL, &it, NULL);
	return (t1.tv_sec - t0.tv_sec) * 1000000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000 < LOST_RACE_US / 2;
}

/*
 * One try: connects, passes a lingering socket and closes the copy. 1
 * when the daemon holds it last, 0 when the sender's close came last
 * (the daemon closed its copy first: try again), -EPERM when the kernel
 * refused it, else -errno. The connections and sinks stay open in *keep
 * so that no linger ends before DIR/done.
 */
static int
linger_try(const char *path, int *keep)
{
	static uint8_t buf[WIRE_MAX_MESSAGE];
	struct linger off = { 0 };
	int fd, rc;
	size_t len = 1;

	keep[0] = connect_unix(path, SOCK_SEQPACKET);
	if (keep[0] < 0 && errno == EPROTOTYPE) {
		keep[0] = connect_unix(path, SOCK_STREAM);
		buf[0] = 'x';
	} else if (keep[0] >= 0) {
		len = hello_bytes(buf);
	}
	if (keep[0] < 0)
		return -errno;
	fd = lingering_socket(&keep[1]);
	if (fd < 0)
		return -errno;
	rc = wire_send_fds(keep[0], buf, len, &fd, 1, 0);
	if (rc < 0) {
		/* this close is the last: it must not wait */
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &off, sizeof(off));
		close(fd);
		return rc;
	}
	return close_not_last(fd) ? 1 : 0;
}

static int
run_linger(const char *path, const char *dir)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	int keep[2 * LINGER_TRIES], rc = 0, i, tries = 0;

	sigaction(SIGALRM, &sa, NULL);
	for (i = 0; i < 2 * LINGER_TRIES; i++)
		keep[i] = -1;
	while (tries < LINGER_TRIES && rc == 0)
		rc = linger_try(path, &keep[2 * tries++]);
	if (rc < 0 && rc != -EPERM) {
		errno = -rc;
		return die("passing a lingering loopback TCP socket");
	}
	if (rc == 0) {
		fprintf(stderr, "sd-hostile: the daemon closed its copy "
		    "before this one, %d times\n", tries);
		return 1;
	}
	fprintf(stderr, "sd-hostile: %s after %d tries\n",
	    rc < 0 ? "refused" : "passed", tries);
	rc = ready_then_wait(dir, rc < 0 ? "refused" : "passed");
	for (i = 0; i < 2 * LINGER_TRIES; i++)
		if (keep[i] >= 0)
			close(keep[i]);
	return rc;
}

/* Sends one request; reads replies until the one with its id. */
static Shmbroker__ServerMessage *
call(int s, Shmbroker__ClientMessage *m, struct wire_fds *fds)
{
	static uint8_t buf[WIRE_MAX_MESSAGE];
	Shmbroker__ServerMessage *r;
	int rc = wire_send_client(s, m, NULL, 0);

	if (rc < 0) {
		errno = -rc;
		return NULL;
	}
	for (;;) {
		ssize_t n = wire_recv(s, buf, sizeof(buf), fds);

		if (n <= 0) {
			errno = n == 0 ? ECONNRESET : (int)-n;
			return NULL;
		}
		r = wire_unpack_server(buf, (size_t)n);
		if (r == NULL) {
			wire_fds_close(fds);
			errno = EBADMSG;
			return NULL;
		}
		if (r->id == m->id)
			return r;
		wire_fds_close(fds);	/* an event */
		wire_free_server(r);
	}
}

/* A connection to the VMM socket at path that said Hello; -1 if not. */
static int
greeted(const char *path)
{
	Shmbroker__ClientMessage m = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__Hello h = SHMBROKER__HELLO__INIT;
	Shmbroker__ServerMessage *r;
	struct wire_fds fds = { .n = 0 };
	int s = connect_unix(path, SOCK_SEQPACKET);

	if (s < 0)
		return -1;
	h.version = WIRE_PROTOCOL_VERSION;
	h.label = "sd-hostile";
	m.id = 1;
	m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_HELLO;
	m.hello = &h;
	if ((r = call(s, &m, &fds)) == NULL) {
		close(s);
		return -1;
	}
	wire_fds_close(&fds);
	wire_free_server(r);
	return s;
}

/* An attach request of a 1-page region name (its NUL added) into m. */
static void
attach_request(Shmbroker__ClientMessage *m, Shmbroker__Attach *a,
    uint64_t id, const char *name, bool create)
{
	shmbroker__client_message__init(m);
	shmbroker__attach__init(a);
	a->name.data = (uint8_t *)name;
	a->name.len = strlen(name) + 1;
	a->size_pages = 1;
	a->create = create;
	m->id = id;
	m->body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ATTACH;
	m->attach = a;
}

/* Sends an attach request, reading nothing. */
static int
send_attach(int s, uint64_t id, const char *name, bool create)
{
	Shmbroker__ClientMessage m;
	Shmbroker__Attach a;

	attach_request(&m, &a, id, name, create);
	return wire_send_client(s, &m, NULL, 0);
}

static int
run_hoard(const char *path, const char *tag, const char *nconns,
    const char *dir)
{
	int s[HOARD_MAX_CONNS], n = atoi(nconns), rc = 0;
	char name[32], line[32];

	if (n < 1 || n > HOARD_MAX_CONNS) {
		fprintf(stderr, "sd-hostile: CONNS is 1 to %d\n",
		    HOARD_MAX_CONNS);
		return 2;
	}
	for (int i = 0; i < n; i++) {
		if ((s[i] = greeted(path)) < 0)
			return die(path);
		for (int k = 0; k < HOARD_ATTACHES && rc == 0; k++) {
			snprintf(name, sizeof(name), "%s-c%d-r%d", tag, i,
			    k / 16);
			rc = send_attach(s[i], 2 + (uint64_t)k, name, true);
		}
		if (rc < 0) {
			errno = -rc;
			return die("sending an attach");
		}
	}
	snprintf(line, sizeof(line), "hoarding %d", n);
	rc = ready_then_wait(dir, line);
	for (int i = 0; i < n; i++)
		close(s[i]);
	return rc;
}

static int
run_append(const char *path, const char *name, const char *dir)
{
	Shmbroker__ClientMessage m;
	Shmbroker__Attach a;
	Shmbroker__ServerMessage *r;
	struct wire_fds fds = { .n = 0 };
	char line[64];
	int s = greeted(path), rc;

	if (s < 0)
		return die(path);
	attach_request(&m, &a, 2, name, false);
	if ((r = call(s, &m, &fds)) == NULL)
		return die("attach");
	if (r->body_case != SHMBROKER__SERVER_MESSAGE__BODY_ATTACH ||
	    r->attach->status != SHMBROKER__GUEST_STATUS__GSS_OK ||
	    fds.n < 2) {
		fprintf(stderr, "sd-hostile: the attach to %s failed (error "
		    "%d, status %d, %zu fds)\n", name, (int)r->error,
		    r->body_case == SHMBROKER__SERVER_MESSAGE__BODY_ATTACH ?
		    (int)r->attach->status : -1, fds.n);
		return 1;
	}
	/* fds: the region, then the state page. */
	if (fcntl(fds.fd[1], F_SETFL, O_APPEND | O_NONBLOCK) < 0)
		return die("F_SETFL on the state page");
	snprintf(line, sizeof(line), "appended %u", r->attach->index);
	wire_free_server(r);
	rc = ready_then_wait(dir, line);
	wire_fds_close(&fds);
	close(s);
	return rc;
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "linger") == 0)
		return run_linger(argv[2], argv[3]);
	if (argc == 5 && strcmp(argv[1], "append") == 0)
		return run_append(argv[2], argv[3], argv[4]);
	if (argc == 6 && strcmp(argv[1], "hoard") == 0)
		return run_hoard(argv[2], argv[3], argv[4], argv[5]);
	fprintf(stderr, "usage: sd-hostile linger SOCKET DIR\n"
	    "       sd-hostile append SOCKET NAME DIR\n"
	    "       sd-hostile hoard SOCKET TAG CONNS DIR\n");
	return 2;
}
