/* SPDX-License-Identifier: ISC */
/*
 * wake: waking a member through its eventfd, and draining one's own,
 * without ever blocking, whatever the eventfd's other holders do to it.
 *
 * Owned here because the daemon and libshmclient both write eventfds that
 * others hold: a member's eventfd is held by the member, by each of its
 * peers (which wake it directly) and by the daemon, and a QEMU holds the
 * eventfds of its ivshmem vectors and relays. O_NONBLOCK is a flag of the
 * open file description, which all of them share, so any holder can clear
 * it; filling the counter to its maximum then makes a write(2) of 1 block
 * until someone reads, and emptying it under a reader that was told it is
 * readable makes a read(2) block until someone writes: the daemon's event
 * loop, or a VMM's vCPU thread, would wait for as long as that holder
 * liked. The kernel's own eventfd_signal never blocks (it saturates), and
 * Linux AIO calls it for a request's IOCB_FLAG_RESFD when the request
 * completes; so a wake is an empty write to /dev/null submitted with the
 * eventfd as resfd, which completes inside io_submit. A drain is a
 * preadv2 with RWF_NOWAIT, which an eventfd honours whatever its flags.
 */
#ifndef SHMBROKER_WAKE_H
#define SHMBROKER_WAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WAKE_BATCH 16		/* eventfds per wake_signal, at most */

struct wake;

/*
 * A waker for one thread's use (or callers that serialise). 0 with *out
 * set, or -ENOMEM. wake_close waits for an RCU grace period (the kernel
 * lets the AIO context go after one: 32 ms here): make one per process
 * or connection that needs it, at its first wake. Where Linux AIO is refused (a seccomp filter, the
 * host's aio-max-nr reached), the waker still works but writes with
 * write(2) after checking O_NONBLOCK, which a holder can race:
 * wake_is_guarded says which.
 */
int wake_open(struct wake **out);
void wake_close(struct wake *w);
bool wake_is_guarded(const struct wake *w);

/*
 * Adds 1 to each of the n (at most WAKE_BATCH) eventfds, in one system
 * call where it can. Never blocks. 0, or the first error: -EBADF or
 * -EINVAL for an fd that is not an open eventfd, -EWOULDBLOCK for one a
 * holder made blocking (unguarded only). The others are woken either way.
 */
int wake_signal(struct wake *w, const int *efd, size_t n);

/* Reads and clears an eventfd's counter without blocking: 1 with *count
 * set, 0 when it was empty, or -errno. */
int wake_drain(int efd, uint64_t *count);

#endif
