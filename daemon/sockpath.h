/* SPDX-License-Identifier: ISC */
/*
 * sockpath: the filesystem side of the daemon's listening sockets (VMM,
 * admin, ivshmem exports). Owns the rule for what may be replaced at a
 * socket's path: a socket file that nobody serves any more, nothing else.
 */
#ifndef SHMBROKER_SOCKPATH_H
#define SHMBROKER_SOCKPATH_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Binds and listens on a Unix socket of type (SOCK_SEQPACKET or
 * SOCK_STREAM) at path, mode applied to the file, non-blocking and
 * close-on-exec. A socket file left by a process that is gone is
 * replaced; a file that is not a socket, or a socket that any process
 * still serves (of whatever type), is not. Returns the fd, or -errno with
 * err saying what failed and what to do (-EEXIST: not a socket;
 * -EADDRINUSE: served; -ENAMETOOLONG; others: the failing call's).
 */
int sockpath_listen(const char *path, int type, mode_t mode, int backlog,
    char *err, size_t errlen);

#endif
