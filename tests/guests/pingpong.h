/* SPDX-License-Identifier: ISC */
/*
 * pingpong: the shared data of a notification round trip, one layout for
 * the guests (bench_ping.c) and for shmbench, which plays ping itself
 * against bench_pong_db in the host-timed irqfd floor
 * (tests/bench/fig_guest.c). It sits at the start of the region's data.
 */
#ifndef SHMBENCH_PINGPONG_H
#define SHMBENCH_PINGPONG_H

#include <stdint.h>

struct pingpong {
	volatile uint64_t round;	/* written by ping */
	volatile uint64_t echoed;	/* written by pong */
	volatile uint64_t done;		/* ping is through: pong may go */
	volatile uint64_t ready;	/* doorbell builds: pong is there */
};

#endif
