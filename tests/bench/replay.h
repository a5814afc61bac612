/* SPDX-License-Identifier: ISC */
/*
 * replay.h: the requests replay.c's server takes, from shmbench (the
 * attach figures) and from shmbench-vm's bare vdev (benchvm_replay.c, the
 * guest create's control). A request is a datagram of the size the broker's
 * would have (strace's), starting with a struct replay_req; the server
 * answers an attach with three fds (region, state page, eventfd) and a
 * detach with none.
 */
#ifndef SHMBENCH_REPLAY_H
#define SHMBENCH_REPLAY_H

#include <stdint.h>

#define REPLAY_FIND	'F'	/* the region made at the server's start */
#define REPLAY_CREATE	'C'	/* a region made for this request */
#define REPLAY_DETACH	'D'	/* drop what the last attach handed out */

struct replay_req {
	char kind;
	uint8_t huge;		/* create: MFD_HUGETLB, mapped once to reserve */
	uint8_t pad[2];
	uint32_t pages;		/* create: its size in 4 KiB pages */
};

/* The sizes of the packed messages, as strace shows them. */
#define REPLAY_REQ_FIND_BYTES	24
#define REPLAY_REQ_CREATE_BYTES	22
#define REPLAY_REQ_DETACH_BYTES	8
#define REPLAY_REPLY_FIND_BYTES	17
#define REPLAY_REPLY_CREATE_BYTES 20
#define REPLAY_REPLY_DETACH_BYTES 5

#endif
