/* SPDX-License-Identifier: ISC */
/*
 * e2e: what the end-to-end guests (e2e_*.c) and their test
 * (tests/integration/test_guest_e2e.c) agree on: region names, sizes, the
 * layout of the shared data and the pattern written into it. Plain C with
 * <stdint.h> only, so both a freestanding guest and the host test use it.
 */
#ifndef SHM_VM_E2E_H
#define SHM_VM_E2E_H

#include <stdint.h>

/* e2e_share: guest A creates, guest B attaches twice, the test once. */
#define E2E_SHARE_NAME		"e2e/share"
#define E2E_SHARE_PAGES		16u	/* what A creates */
#define E2E_SHARE_B_PAGES	4u	/* what B asks for: A's size wins */
#define E2E_PATTERN_BYTES	0x8000u	/* data[0..]: A's pattern words */
#define E2E_A_READY		0x8000u	/* u32: A waits for B's notify */
#define E2E_SCRATCH		0x8008u	/* u32: B's same-memory probe */
#define E2E_GREETING		0x8100u	/* B's message for the host */
#define E2E_GREETING_TEXT	"hello from guest B"

/* The word at data + 4 * i; never 0, so an unmapped page shows. */
static inline uint32_t
e2e_pattern(uint32_t i)
{
	return (i + 1) * 0x9e3779b1u;
}

/* e2e_errors: every status a guest can get, run with E2E_ERRORS_CONFIG. */
#define E2E_MAX_NAME		"e2e/max"
#define E2E_MISSING_NAME	"e2e/missing"
#define E2E_BIG_NAME		"e2e/big"
#define E2E_DENIED_NAME		"e2e/denied"
#define E2E_BIG_PAGES		512u	/* 2 MiB, over max_region_size */
#define E2E_REUSED_INDEX	5u	/* detached, attached again */
#define E2E_ERRORS_CONFIG						\
	"[broker]\nmax_region_size = 1M\n"				\
	"[tenant root]\nuid = 0\ndeny = " E2E_DENIED_NAME "\n"

/* e2e_flood: two regions of the daemon's default max_region_size leave
 * shm-vm's window less than another; then E2E_FLOOD_TRIES creates of one
 * more, each a page smaller than the last, find no room. */
#define E2E_FLOOD_HELD		"e2e/flood-held-0"	/* and -1 */
#define E2E_FLOOD_NAME		"e2e/flood"
#define E2E_FLOOD_PAGES		262144u	/* 1 GiB */
#define E2E_FLOOD_TRIES		200u

/* e2e_kill: survivor S and victim V, which the test kills. */
#define E2E_KILL_NAME		"e2e/kill"

/* e2e_qemu: a guest and a stock QEMU on an ivshmem export (the QEMU is
 * index 0, the guest 1). */
#define E2E_QEMU_NAME		"e2e/qemu"
#define E2E_QEMU_PAGES		512u	/* 2 MiB: a power of two */
#define E2E_QEMU_FROM_GUEST	0x100u	/* the guest's text for the QEMU */
#define E2E_QEMU_FROM_QEMU	0x200u	/* and the QEMU's for the guest */
#define E2E_QEMU_GUEST_TEXT	"written by the guest"
#define E2E_QEMU_QEMU_TEXT	"written by QEMU"

/* e2e_detach: keeper K and D, whose client the test detaches. */
#define E2E_DETACH_NAME		"e2e/detach"
#define E2E_DETACH_WORD		0xd37ac4edu	/* data[0], by K */
#define E2E_DETACH_PROBE	0x100u	/* u32 D stores to once detached */

/* e2e_readonly: a guest that may only read stores into the region. */
#define E2E_RO_NAME		"e2e/ro"
#define E2E_RO_PAGES		4u
#define E2E_RO_PATTERN_BYTES	0x1000u	/* data[0..]: the test's pattern */
#define E2E_RO_LOOP_STORES	32u	/* 8-byte stores at data + 0x100 */
#define E2E_RO_REP_QWORDS	8u	/* rep stosq at data + 0x200 */
#define E2E_RO_STORES		(4u + E2E_RO_LOOP_STORES + E2E_RO_REP_QWORDS)
/* Root's VMMs (the tests run as root) may read e2e/ro and nothing else;
 * the test writes through the admin socket, which no rule binds. */
#define E2E_RO_CONFIG							\
	"[tenant root]\nuid = 0\nallow_ro = " E2E_RO_NAME "\n"

#endif
