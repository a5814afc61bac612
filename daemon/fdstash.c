/*
 * fdstash: keeper processes that hold region memfds (see fdstash.h).
 *
 * Protocol on the socketpair, one datagram each way: the daemon sends a
 * 4-byte command, KEEP with one fd attached or DROP followed by the keeper's
 * fd number; the keeper answers KEEP with its fd number (or -errno) and
 * DROP with nothing. Handles are keeper index << 32 | keeper fd number.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdstash.h"
#include "wire.h"

#define KEEPER_SOCK 3
#define KEEPER_SPARE 16		/* descriptors a keeper keeps for itself */
#define MAX_KEEPERS 256

enum { CMD_KEEP = 1, CMD_DROP = 2 };

struct keeper {
	pid_t pid;
	int pidfd;
	int sock;
	size_t held;
	size_t capacity;
};

struct fdstash {
	struct keeper keepers[MAX_KEEPERS];
	size_t nkeepers;
	size_t count;
};

/* The keeper's whole life: hold what it is given until told to drop it. */
static void __attribute__((noreturn))
keeper_main(int sock)
{
	struct wire_fds fds;
	int32_t cmd[2];

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	prctl(PR_SET_NAME, "shmbroker-keep");
	/* The daemon's handlers write to its event loop, which is not ours. */
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	if (dup2(sock, KEEPER_SOCK) < 0)
		_exit(1);
	close_range(KEEPER_SOCK + 1, ~0u, 0);
	for (;;) {
		ssize_t n = wire_recv(KEEPER_SOCK, cmd, sizeof(cmd), &fds);
		int32_t reply;

		if (n == 0 || (n < 0 && n != -EMSGSIZE))
			_exit(0);
		if (n == (ssize_t)sizeof(int32_t) && cmd[0] == CMD_KEEP) {
			reply = fds.n == 1 ? fds.fd[0] : -EINVAL;
			if (fds.n != 1)
				wire_fds_close(&fds);
			if (wire_send(KEEPER_SOCK, &reply, sizeof(reply), NULL,
			    0) < 0)
				_exit(0);
		} else if (n == (ssize_t)sizeof(cmd) && cmd[0] == CMD_DROP &&
		    cmd[1] > STDERR_FILENO && cmd[1] != KEEPER_SOCK) {
			close(cmd[1]);
			wire_fds_close(&fds);
		} else {
			wire_fds_close(&fds);
		}
	}
}

struct fdstash *
fdstash_new(void)
{
	return calloc(1, sizeof(struct fdstash));
}

static int
fdstash_spawn(struct fdstash *s, struct keeper **out)
{
	struct keeper *k = &s->keepers[s->nkeepers];
	struct rlimit rl;
	int sv[2];

	if (s->nkeepers == MAX_KEEPERS)
		return -EMFILE;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	if ((k->pid = fork()) < 0) {
		int err = -errno;

		close(sv[0]);
		close(sv[1]);
		return err;
	}
	if (k->pid == 0)
		keeper_main(sv[1]);
	close(sv[1]);
	k->sock = sv[0];
	k->pidfd = pidfd_open(k->pid, 0);
	if (k->pidfd < 0) {
		int err = -errno;

		close(k->sock);
		kill(k->pid, SIGKILL);
		waitpid(k->pid, NULL, 0);
		return err;
	}
	fcntl(k->pidfd, F_SETFD, FD_CLOEXEC);
	getrlimit(RLIMIT_NOFILE, &rl);
	k->capacity = rl.rlim_cur > KEEPER_SPARE + KEEPER_SOCK ?
	    rl.rlim_cur - KEEPER_SPARE - KEEPER_SOCK : 0;
	k->held = 0;
	s->nkeepers++;
	*out = k;
	return 0;
}

static int
fdstash_keeper_with_room(struct fdstash *s, struct keeper **out)
{
	for (size_t i = 0; i < s->nkeepers; i++) {
		if (s->keepers[i].held < s->keepers[i].capacity) {
			*out = &s->keepers[i];
			return 0;
		}
	}
	return fdstash_spawn(s, out);
}

int
fdstash_put(struct fdstash *s, int fd, uint64_t *handle)
{
	int32_t cmd = CMD_KEEP, remote;
	struct keeper *k = NULL;
	ssize_t n;
	int err;

	if ((err = fdstash_keeper_with_room(s, &k)) < 0)
		return err;
	if ((err = wire_send(k->sock, &cmd, sizeof(cmd), &fd, 1)) < 0)
		return err;
	do
		n = recv(k->sock, &remote, sizeof(remote), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(remote))
		return -EPIPE;
	if (remote < 0)
		return remote;
	close(fd);
	k->held++;
	s->count++;
	*handle = (uint64_t)(k - s->keepers) << 32 | (uint32_t)remote;
	return 0;
}

int
fdstash_get(struct fdstash *s, uint64_t handle)
{
	size_t ki = (size_t)(handle >> 32);
	int fd;

	if (ki >= s->nkeepers)
		return -EBADF;
	fd = pidfd_getfd(s->keepers[ki].pidfd, (int)(uint32_t)handle, 0);
	return fd < 0 ? -errno : fd;
}

void
fdstash_drop(struct fdstash *s, uint64_t handle)
{
	size_t ki = (size_t)(handle >> 32);
	int32_t cmd[2] = { CMD_DROP, (int32_t)(uint32_t)handle };

	if (ki >= s->nkeepers)
		return;
	/* No reply: the keeper's fd number is not reused before it is
	 * closed, because the keeper handles commands in order. */
	if (wire_send(s->keepers[ki].sock, cmd, sizeof(cmd), NULL, 0) == 0) {
		s->keepers[ki].held--;
		s->count--;
	}
}

size_t
fdstash_count(const struct fdstash *s)
{
	return s->count;
}

size_t
fdstash_keepers(const struct fdstash *s)
{
	return s->nkeepers;
}

void
fdstash_free(struct fdstash *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nkeepers; i++) {
		close(s->keepers[i].sock);	/* the keeper exits on EOF */
		close(s->keepers[i].pidfd);
		waitpid(s->keepers[i].pid, NULL, 0);
	}
	free(s);
}
