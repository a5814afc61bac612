/* SPDX-License-Identifier: ISC */
/*
 * fuzz_fdname's input format, shared with the seed generator: what
 * systemd's fd store hands a restarting daemon. u8 the number of entries
 * (modulo FN_MAX_ENTRIES; bit FN_FD_STORE: the daemon runs with
 * fd_store = yes), each: u8 the kind of fd (FN_FD_*), u32 its size in
 * bytes (modulo FN_MAX_BYTES), then for FN_FD_MEMBERS a table of members
 * (below) under FDNAME_MEMBERS, for any other kind bytes(FN_NAME_MAX) its
 * name; then VMMs coming back until the input ends: u8 an entry (modulo),
 * u32 the want_index of the attach (1..16 re-claims index - 1).
 *
 * A table of members (daemon/members.h): u8 its shape (FN_TABLE_FULL
 * only for FN_FULL_BYTE, else the byte modulo the other shapes), u16 the
 * rows in use (modulo FN_TABLE_USED), u8 the rows written (modulo
 * FN_TABLE_ROWS + 1), each: u16 its row (modulo FN_TABLE_USED), u8 the
 * entry whose region it names (modulo the entries), u8 how the name is
 * spoilt (FN_ROW_*), u16 the indices it keeps. For FN_TABLE_SIZE the
 * entry's u32 gives the size: the table's, give or take FN_SIZE_SPAN / 2.
 */
#ifndef FUZZ_FDNAME_H
#define FUZZ_FDNAME_H

#define FN_MAX_ENTRIES 16
#define FN_MAX_BYTES (8u << 20)
#define FN_NAME_MAX 300
#define FN_FD_STORE 0x80
/* Rows in use within the table's first pages, so that the pages an
 * input makes the daemon read stay few (the table is 9 MiB); more rows
 * than a restore holds regions, to have rows that name none. */
#define FN_TABLE_USED 512
#define FN_TABLE_ROWS 16	/* as many as the entries */
/* A table with every row in use is read whole (2,304 pages, each
 * allocated and zeroed by the read: about ten inputs' time), so one
 * shape byte in 256 asks for it. */
#define FN_FULL_BYTE 0xff
#define FN_SIZE_SPAN 8192

enum fn_fd {
	FN_FD_SEALED,		/* a memfd as the daemon stores it */
	FN_FD_UNSEALED,
	FN_FD_EVENTFD,
	FN_FD_PIPE,
	FN_FD_MEMBERS,		/* the table of members, as the input says */
	FN_FD_COUNT
};

enum fn_table {
	FN_TABLE_GOOD,		/* as members.c writes it */
	FN_TABLE_SIZE,		/* the table's size, give or take */
	FN_TABLE_MAGIC,		/* another magic, version, slot count */
	FN_TABLE_VERSION,
	FN_TABLE_SLOTS,
	FN_TABLE_OVERUSED,	/* more rows in use than it has */
	FN_TABLE_FULL,		/* every row in use: FN_FULL_BYTE only */
	FN_TABLE_COUNT
};

enum fn_row {
	FN_ROW_NAME,		/* the region's name */
	FN_ROW_RAW,		/* the entry's name as it is */
	FN_ROW_NO_NUL,		/* the name without its NUL */
	FN_ROW_FREE_TAIL,	/* a free row with bytes after its NUL */
	FN_ROW_COUNT
};

#endif
