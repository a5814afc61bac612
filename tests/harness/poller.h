/* SPDX-License-Identifier: ISC */
/*
 * poller: a thread that waits on an fd the way a VMM's event thread waits
 * on libshmclient's or libshmvdev's event fd (poll, no reading), and
 * counts how often the kernel woke it, for tests that check what does
 * and does not wake such a thread. Plain C, in testutil.
 */
#ifndef SHMB_POLLER_H
#define SHMB_POLLER_H

struct harness_poller;

/* Starts watching fd. Returns 0, or -errno. */
int harness_poller_start(int fd, struct harness_poller **out);
/*
 * Stops and frees p. *wakes gets the times the thread was woken while it
 * watched (its voluntary context switches: a wake counts even when poll
 * found the fd no longer readable and slept on), *ready how many of
 * those found it readable (it then yields until the fd is not). Either
 * may be NULL.
 */
void harness_poller_stop(struct harness_poller *p, long *wakes, long *ready);

#endif
