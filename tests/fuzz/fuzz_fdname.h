/* SPDX-License-Identifier: ISC */
/*
 * fuzz_fdname's input format, shared with the seed generator: what
 * systemd's fd store hands a restarting daemon. u8 the number of entries
 * (modulo FN_MAX_ENTRIES), each: u8 the kind of fd (FN_FD_*), u32 its
 * size in bytes (modulo FN_MAX_BYTES), bytes(FN_NAME_MAX) its name; then
 * VMMs coming back until the input ends: u8 an entry (modulo), u32 the
 * want_index of the attach (1..16 re-claims index - 1).
 */
#ifndef FUZZ_FDNAME_H
#define FUZZ_FDNAME_H

#define FN_MAX_ENTRIES 16
#define FN_MAX_BYTES (8u << 20)
#define FN_NAME_MAX 300

enum fn_fd {
	FN_FD_SEALED,		/* a memfd as the daemon stores it */
	FN_FD_UNSEALED,
	FN_FD_EVENTFD,
	FN_FD_PIPE,
	FN_FD_COUNT
};

#endif
