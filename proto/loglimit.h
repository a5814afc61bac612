/* SPDX-License-Identifier: ISC */
/*
 * loglimit: a message that an untrusted party (a peer of the daemon, a
 * guest of shm-vm) can cause as often as it likes is said at most once an
 * interval, and the next line says how many were not. Owned here because
 * the daemon's log and shm-vm's stderr both need it; the caller passes the
 * clock, so the rule is tested apart from any clock (test_loglimit).
 */
#ifndef SHMBROKER_LOGLIMIT_H
#define SHMBROKER_LOGLIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define LOG_REPEAT_MS 10000	/* the interval every user gives */

struct log_limit {
	uint64_t said_ms;	/* when last said (monotonic), 0: never */
	uint64_t unsaid;	/* times since, not said */
};

/* True when the message is to be said now; *unsaid then gets how many
 * times it was not since it last was. */
bool log_limit_pass(struct log_limit *l, uint64_t now_ms,
    uint64_t interval_ms, uint64_t *unsaid);

#endif
