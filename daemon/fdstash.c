/* SPDX-License-Identifier: ISC */
/*
 * fdstash: keeper processes that hold region memfds (see fdstash.h).
 *
 * The daemon talks to a keeper over a socketpair that the keeper sees as
 * fd 3, in 8-byte commands { op, slot }. KEEP carries one fd, which the
 * keeper moves to descriptor number `slot`; DROP closes `slot`; SYNC is
 * answered with a 4-byte reply once everything before it is done. The
 * daemon picks the slots itself (from KEEPER_FIRST_SLOT up, below the
 * keeper's limit), so KEEP needs no reply and parking costs one sendmsg;
 * a received fd always lands below KEEPER_FIRST_SLOT because the keeper
 * handles one message at a time. Handles are keeper index << 32 | slot.
 *
 * The ordering rule that makes this safe: a slot may be dropped and given
 * to a new fd before the keeper has done either, so what sits in a slot is
 * only known once the keeper has handled the last command about it. Every
 * command gets a sequence number and each slot remembers the last one that
 * touched it; SYNC carries the newest number and the keeper echoes it.
 * fdstash_get reads a slot at once when the keeper has confirmed that
 * slot's last command, and otherwise waits for a SYNC at most
 * KEEPER_SYNC_MS: a keeper that is slow (stopped, swapped out) then fails
 * only that request, never the event loop, and keeps its fds. A keeper
 * whose socket fails is not used again; fdstash_check reaps it once its
 * pidfd says it ended.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdstash.h"
#include "helper.h"
#include "wire.h"

#define KEEPER_FIRST_SLOT 64
#define MAX_KEEPERS 256
#define KEEPER_SYNC_MS 200

enum { CMD_KEEP = 1, CMD_DROP = 2, CMD_SYNC = 3 };

struct keeper {
	struct helper h;	/* the process and its socket */
	uint32_t next_slot;	/* slots below it have been handed out */
	uint32_t end_slot;	/* the keeper's descriptor limit */
	uint32_t *free_slots;	/* dropped slots, reused first */
	size_t nfree;
	size_t free_cap;
	uint64_t seq;		/* commands sent */
	uint64_t synced;	/* the newest command the keeper confirmed */
	uint64_t sync_sent;	/* the newest a SYNC has asked about */
	uint64_t *slot_seq;	/* per slot: the last command about it */
	bool failed;		/* died: no longer used */
	bool told;		/* its end was passed to fdstash_check's caller */
	size_t held;		/* fds parked in it and not dropped */
};

struct fdstash {
	struct keeper keepers[MAX_KEEPERS];
	size_t nkeepers;
	size_t count;
};

static void
keeper_handle(const int32_t cmd[2], struct wire_fds *fds)
{
	if (cmd[0] == CMD_KEEP && fds->n == 1 && cmd[1] >= KEEPER_FIRST_SLOT) {
		if (fds->fd[0] != cmd[1]) {
			dup3(fds->fd[0], cmd[1], O_CLOEXEC);
			close(fds->fd[0]);
		}
		fds->n = 0;
	} else if (cmd[0] == CMD_DROP && cmd[1] >= KEEPER_FIRST_SLOT) {
		close(cmd[1]);
	} else if (cmd[0] == CMD_SYNC) {
		if (wire_send(HELPER_SOCK, &cmd[1], sizeof(cmd[1]), NULL, 0) < 0)
			_exit(0);
	}
	wire_fds_close(fds);
}

int
fdstash_keeper_main(void)
{
	struct wire_fds fds;
	int32_t cmd[2];

	helper_child_init();
	for (;;) {
		ssize_t n = wire_recv(HELPER_SOCK, cmd, sizeof(cmd), &fds);

		if (n == 0 || (n < 0 && n != -EMSGSIZE && n != -ENOMSG &&
		    n != -EPROTO && n != -ETOOMANYREFS))
			_exit(0);
		if (n == (ssize_t)sizeof(cmd))
			keeper_handle(cmd, &fds);
		else
			wire_fds_close(&fds);
	}
}

struct fdstash *
fdstash_new(void)
{
	return calloc(1, sizeof(struct fdstash));
}

/* Starts a keeper: shmbrokerd again (helper.h). */
static int
fdstash_spawn(struct fdstash *s, struct keeper **out)
{
	struct keeper *k = &s->keepers[s->nkeepers];
	struct rlimit rl;
	int err;

	if (s->nkeepers == MAX_KEEPERS)
		return -EMFILE;
	if ((err = helper_spawn("shmbroker-keeper", FDSTASH_KEEPER_ARG,
	    &k->h)) < 0)
		return err;
	getrlimit(RLIMIT_NOFILE, &rl);
	k->next_slot = KEEPER_FIRST_SLOT;
	k->end_slot = rl.rlim_cur > (1u << 20) ? (1u << 20) :
	    (uint32_t)rl.rlim_cur;
	k->seq = k->synced = k->sync_sent = 0;
	k->failed = k->told = false;
	k->held = 0;
	if ((k->slot_seq = calloc(k->end_slot, sizeof(*k->slot_seq))) == NULL) {
		helper_end(&k->h, true, true);
		return -ENOMEM;
	}
	s->nkeepers++;
	*out = k;
	return 0;
}

/* A keeper with a free slot, and the slot. */
static int
fdstash_slot(struct fdstash *s, struct keeper **kp, uint32_t *slot)
{
	struct keeper *k = NULL;
	int err;

	for (size_t i = 0; i < s->nkeepers && k == NULL; i++)
		if (!s->keepers[i].failed && (s->keepers[i].nfree > 0 ||
		    s->keepers[i].next_slot < s->keepers[i].end_slot))
			k = &s->keepers[i];
	if (k == NULL && (err = fdstash_spawn(s, &k)) < 0)
		return err;
	*slot = k->nfree > 0 ? k->free_slots[--k->nfree] : k->next_slot++;
	*kp = k;
	return 0;
}

/* A keeper whose socket failed is used no more. fdstash_check reaps it
 * once its pidfd says it ended, and so still learns how it ended. */
static void
fdstash_lost(struct keeper *k)
{
	k->failed = true;
}

/* What the daemon holds for an ended keeper, let go: its entry stays,
 * as the handles of its regions name it, and says only that it failed. */
static void
fdstash_release(struct keeper *k)
{
	helper_end(&k->h, false, false);
	free(k->free_slots);
	free(k->slot_seq);
	k->free_slots = NULL;
	k->slot_seq = NULL;
	k->nfree = k->free_cap = 0;
}

void
fdstash_check(struct fdstash *s, fdstash_gone_cb *gone, void *arg)
{
	for (size_t i = 0; i < s->nkeepers; i++) {
		struct keeper *k = &s->keepers[i];

		/* Only the pidfd says it ended: a failed send may not mean
		 * that, and its socket closes before it can be waited for. */
		if (k->told || !helper_ended(&k->h))
			continue;
		k->failed = k->told = true;
		gone(arg, k->h.pid, helper_reap(&k->h), k->held);
		fdstash_release(k);
	}
}

/* Sends one command; -EAGAIN when the keeper is behind, which costs only
 * this command. */
static int
fdstash_command(struct keeper *k, int32_t op, uint32_t arg, const int *fd)
{
	int32_t cmd[2] = { op, (int32_t)arg };
	int err = wire_send(k->h.sock, cmd, sizeof(cmd), fd, fd ? 1 : 0);

	if (err < 0 && err != -EAGAIN)
		fdstash_lost(k);
	return err;
}

int
fdstash_put(struct fdstash *s, int fd, uint64_t *handle)
{
	struct keeper *k;
	uint32_t slot;
	int err;

	if ((err = fdstash_slot(s, &k, &slot)) < 0)
		return err;
	if ((err = fdstash_command(k, CMD_KEEP, slot, &fd)) < 0) {
		/* Give the slot back where it came from. */
		if (slot + 1 == k->next_slot)
			k->next_slot--;
		else
			k->free_slots[k->nfree++] = slot;
		return err;
	}
	close(fd);
	k->slot_seq[slot] = ++k->seq;
	k->held++;
	s->count++;
	*handle = (uint64_t)(k - s->keepers) << 32 | slot;
	return 0;
}

/* Takes in whatever SYNC replies have come. */
static void
fdstash_read_syncs(struct keeper *k)
{
	int32_t seq;
	ssize_t n;

	while ((n = recv(k->h.sock, &seq, sizeof(seq), MSG_DONTWAIT)) ==
	    (ssize_t)sizeof(seq)) {
		uint64_t done = fdstash_echo_seq(k->sync_sent, (uint32_t)seq);

		if (done > k->synced)
			k->synced = done;
	}
	if (n == 0 || (n < 0 && errno != EAGAIN))
		fdstash_lost(k);
}

/* Waits at most KEEPER_SYNC_MS for the keeper to confirm command want. */
static int
fdstash_wait_for(struct keeper *k, uint64_t want)
{
	struct pollfd p = { .fd = k->h.sock, .events = POLLIN };
	int err;

	fdstash_read_syncs(k);
	if (k->sync_sent < want) {
		if ((err = fdstash_command(k, CMD_SYNC, (uint32_t)k->seq,
		    NULL)) < 0)
			return err;
		k->sync_sent = k->seq;
	}
	while (!k->failed && k->synced < want) {
		int n = poll(&p, 1, KEEPER_SYNC_MS);

		if (n == 0)
			return -EAGAIN;
		if (n < 0 && errno != EINTR)
			return -errno;
		fdstash_read_syncs(k);
	}
	return k->failed ? -EPIPE : 0;
}

int
fdstash_get(struct fdstash *s, uint64_t handle)
{
	size_t ki = (size_t)(handle >> 32);
	uint32_t slot = (uint32_t)handle;
	struct keeper *k;
	int err, fd;

	if (ki >= s->nkeepers)
		return -EBADF;
	k = &s->keepers[ki];
	if (k->failed)
		return -ESRCH;	/* its keeper is gone */
	if (slot >= k->end_slot)
		return -EBADF;
	if (k->slot_seq[slot] > k->synced &&
	    (err = fdstash_wait_for(k, k->slot_seq[slot])) < 0)
		return err;
	fd = pidfd_getfd(k->h.pidfd, (int)slot, 0);
	return fd < 0 ? -errno : fd;
}

void
fdstash_drop(struct fdstash *s, uint64_t handle)
{
	size_t ki = (size_t)(handle >> 32);
	struct keeper *k;

	if (ki >= s->nkeepers)
		return;
	k = &s->keepers[ki];
	k->held--;
	if (k->failed) {
		s->count--;
		return;
	}
	if (k->nfree == k->free_cap) {
		size_t cap = k->free_cap ? k->free_cap * 2 : 256;
		uint32_t *p = realloc(k->free_slots, cap * sizeof(*p));

		if (p == NULL)	/* the slot is lost; the keeper still closes */
			goto send;
		k->free_slots = p;
		k->free_cap = cap;
	}
	/* Commands run in order: the slot's next KEEP comes after this. */
	k->free_slots[k->nfree++] = (uint32_t)handle;
send:
	/* A DROP the keeper cannot take now leaves the old fd in the slot
	 * until the slot's next KEEP replaces it (dup3 closes it then). */
	fdstash_command(k, CMD_DROP, (uint32_t)handle, NULL);
	k->slot_seq[(uint32_t)handle] = ++k->seq;
	s->count--;
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
		/* The keeper exits on EOF. */
		helper_end(&s->keepers[i].h, false, true);
		free(s->keepers[i].free_slots);
		free(s->keepers[i].slot_seq);
	}
	free(s);
}
