/* SPDX-License-Identifier: ISC */
/*
 * reaper: closing what an untrusted peer could make a close wait on,
 * away from the event loop. A file's last close runs its release, and a
 * peer chooses what that is: a TCP socket with SO_LINGER and unsent data
 * waits out its linger time, a FUSE file waits for its server's answer to
 * the flush. fds a peer sends (requests carry none), and peer sockets
 * whose queues may still hold some, are therefore closed by a helper
 * process (helper.h), which may wait on them; a reaper that stops
 * reading is let go and another started. Where the kernel has
 * SO_PASSRIGHTS (Linux 6.16), the listening sockets refuse fds outright.
 */
#ifndef SHMBROKER_REAPER_H
#define SHMBROKER_REAPER_H

#include <stdbool.h>
#include <stddef.h>

#define REAPER_ARG "--fd-reaper"

struct reaper;

/* A reaper, started at its first use. NULL without memory. */
struct reaper *reaper_new(void);
/* Ends every reaper process (without waiting for a stuck one). */
void reaper_free(struct reaper *r);

/* Closes the n fds, off the event loop where it can; never waits. */
void reaper_close_all(struct reaper *r, const int *fds, size_t n);
/* The same for one fd (a peer's socket, a listener). */
void reaper_close(struct reaper *r, int fd);

/* Asks the kernel to refuse fds sent to the sockets that listen_fd
 * accepts (SO_PASSRIGHTS off), unless the tests ask to run as on a
 * kernel without it (SHMBROKER_TEST_NO_PASSRIGHTS=1). True when the
 * kernel does. */
bool reaper_refuse_fds(int listen_fd);

/* The reaper's main, for main() to call when argv[1] is REAPER_ARG. */
int reaper_main(void) __attribute__((noreturn));

#endif
