/* SPDX-License-Identifier: ISC */
/*
 * fuzz_vdev_regs's input format, shared with the seed generator: a u32
 * interrupt vector, then guest accesses, each
 *
 *   u8   bit 0: write; bits 1-4: the length (FV_LENS[n % FV_NLENS]);
 *        bits 5-7: the page: 0 the factory page, k the (k-1)th control
 *        page made so far (modulo; the factory page while there is none)
 *   u16  offset: bit 15 set: 0xffffffff - (bits 0-14), at the top of the
 *        32-bit range; else bits 0-12 (the page and the next one)
 *   u64  data (writes only)
 *
 * and, after a write that asks for a create or find, the fake VMM's
 * answer: u8 status (0-8: 7 and 8 are no status of the ABI), u32 the
 * actual size in pages, u8 the new client's index.
 */
#ifndef FUZZ_VDEV_REGS_H
#define FUZZ_VDEV_REGS_H

/* 1, 2, 4, 8 and 16 as guests use them, 3, 5, 6, 7 as KVM hands the
 * part of an access that crosses a page, and 0 and 9 out of range. */
#define FV_LENS { 1, 2, 4, 8, 16, 3, 5, 6, 7, 0, 9, 1, 2, 4, 8, 16 }
#define FV_NLENS 16
#define FV_HIGH_OFFSET 0x8000u

#endif
