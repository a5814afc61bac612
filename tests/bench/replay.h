/* SPDX-License-Identifier: ISC */
/*
 * replay.h: the protocol of replay.c's servers, the controls that make
 * the broker's system calls with none of its code, for shmbench (the
 * attach figures, boot_storm) and for shmbench-vm's bare vdev
 * (benchvm_replay.c, guest_create_usable's control). A request is a
 * datagram of the size the broker's would have (strace's), starting with
 * a struct replay_req; the attach server answers an attach with three fds
 * (region, state page, eventfd) and a detach with none. The storm server
 * takes any datagram as an attach and answers as the daemon does in a
 * storm (replay.c).
 */
#ifndef SHMBENCH_REPLAY_H
#define SHMBENCH_REPLAY_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>

#define REPLAY_FIND	'F'	/* the region made at the server's start */
#define REPLAY_CREATE	'C'	/* a region made for this request */
#define REPLAY_DETACH	'D'	/* drop what the last attach handed out */

/* How a created region's memory is made, as the daemon's --hugepages. */
#define REPLAY_MEM_SHMEM	0	/* never */
#define REPLAY_MEM_PREFER	1	/* prefer: hugetlb first, else shmem */

struct replay_req {
	char kind;
	uint8_t mem;		/* REPLAY_MEM_* */
	uint8_t pad[2];
	uint32_t pages;		/* create: its size in 4 KiB pages */
	uint32_t huge_kib;	/* the kernel's huge page size, 0: none */
};

/* The sizes of the packed messages, as strace shows them. */
#define REPLAY_REQ_FIND_BYTES	24
#define REPLAY_REQ_CREATE_BYTES	22
#define REPLAY_REQ_DETACH_BYTES	8
#define REPLAY_REPLY_FIND_BYTES	17
#define REPLAY_REPLY_CREATE_BYTES 20
#define REPLAY_REPLY_DETACH_BYTES 5

/* The storm server: REPLAY_STORM_SHARE connections a name; the first byte
 * of what it sends says reply or PeerChanged. */
#define REPLAY_STORM_SHARE	4
#define REPLAY_STORM_REPLY	'R'
#define REPLAY_STORM_PEER	'P'
#define REPLAY_STORM_REPLY_BYTES 20
#define REPLAY_STORM_PEER_BYTES	30

/* libshmclient's check of a region memfd or a state page from the daemon
 * (client/attach.c): its seals, and its size in st. 0 or -errno. */
static inline int
replay_check(int fd, struct stat *st)
{
	return fcntl(fd, F_GET_SEALS) < 0 || fstat(fd, st) < 0 ? -errno : 0;
}

#endif
