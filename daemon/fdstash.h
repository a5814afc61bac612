/* SPDX-License-Identifier: ISC */
/*
 * fdstash: room for region memfds beyond the daemon's own descriptor limit.
 * Every region holds a memfd for as long as it lives, so a daemon with
 * 100,000 regions needs 100,000 descriptors; where RLIMIT_NOFILE cannot be
 * raised that far (no CAP_SYS_RESOURCE), the daemon parks the memfds of
 * idle regions in small keeper processes and takes a copy back with
 * pidfd_getfd(2) when a client attaches. A keeper is shmbrokerd itself,
 * re-executed with FDSTASH_KEEPER_ARG, so it starts small instead of
 * inheriting the daemon's heap; it holds descriptors and nothing else, and
 * dies with the daemon (PR_SET_PDEATHSIG) or when its socket closes.
 */
#ifndef SHMBROKER_FDSTASH_H
#define SHMBROKER_FDSTASH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FDSTASH_KEEPER_ARG "--fdstash-keeper"

struct fdstash;

/* An empty stash; keepers are started on demand. NULL without memory. */
struct fdstash *fdstash_new(void);
/* Ends every keeper and frees the stash. */
void fdstash_free(struct fdstash *s);

/*
 * Moves fd into a keeper without waiting for it. On success the local fd is
 * closed and *handle names the parked one. Returns 0 or -errno (fd is then
 * still the caller's).
 */
int fdstash_put(struct fdstash *s, int fd, uint64_t *handle);
/* A new local descriptor for the parked fd (the caller closes it), or
 * -errno. */
int fdstash_get(struct fdstash *s, uint64_t handle);
/* Closes the parked fd. */
void fdstash_drop(struct fdstash *s, uint64_t handle);

/*
 * Calls gone(arg, pid, status, parked) once for each keeper found ended
 * since the last call: status as waitpid(2) gives it (-1: not known),
 * parked the fds it held, whose regions' memory went with it unless a
 * client maps it. A keeper ignores every signal it can, so one that ends
 * was killed (SIGKILL, the OOM killer); without this the daemon learnt of
 * it only when an attach to one of those regions failed.
 */
typedef void fdstash_gone_cb(void *arg, pid_t pid, int status,
    size_t parked);
void fdstash_check(struct fdstash *s, fdstash_gone_cb *gone, void *arg);

/* Number of descriptors parked and of keeper processes, for status. */
size_t fdstash_count(const struct fdstash *s);
size_t fdstash_keepers(const struct fdstash *s);

/* The command a keeper's SYNC reply names: it echoes the low 32 bits,
 * and a keeper may live through more than 2^32 commands. The newest
 * number at most asked (the newest a SYNC asked about) with those bits;
 * 0 (nothing) for one past anything asked. Pure. */
static inline uint64_t
fdstash_echo_seq(uint64_t asked, uint32_t echo)
{
	uint64_t v = (asked & ~(uint64_t)UINT32_MAX) | echo;

	if (v <= asked)
		return v;
	return v > UINT32_MAX ? v - ((uint64_t)1 << 32) : 0;
}

/* The keeper's main, for main() to call when argv[1] is
 * FDSTASH_KEEPER_ARG; never returns. */
int fdstash_keeper_main(void) __attribute__((noreturn));

#endif
