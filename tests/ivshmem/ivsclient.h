/* SPDX-License-Identifier: ISC */
/*
 * ivsclient: an ivshmem peer as a QEMU is one, for the tests and the
 * benchmark: it connects to an export, takes the welcome (version, index,
 * the region's memfd, the connect messages and its own vector 0) and the
 * connect messages that follow, and keeps the fds, which it rings and
 * waits on as QEMU's ioeventfds and irqfds would. It speaks exactly the
 * protocol stock QEMU does, without QEMU's emulation in the way.
 */
#ifndef SHMBROKER_IVSCLIENT_H
#define SHMBROKER_IVSCLIENT_H

/* The fds its server gave it. */
struct ivc {
	int sock;
	int index;
	int memfd;
	int own;		/* its vector 0 */
	int peer[16];		/* vector 0 of each peer, or -1 */
};

/* Connects as a QEMU does and takes its welcome. 0, or -1. */
int ivc_open(struct ivc *p, const char *path);
/* The same in two steps: the connection (which may wait in the server's
 * backlog), then the welcome. 0, or -1 (p closed). */
int ivc_connect_only(struct ivc *p, const char *path);
int ivc_welcome(struct ivc *p);
/* Reads messages until the peer at index want is known (want < 0: until
 * its own vector came). 0, or -1. */
int ivc_until(struct ivc *p, int want);
void ivc_close(struct ivc *p);

#endif
