/* SPDX-License-Identifier: ISC */
/*
 * fuzz_daemon's input format, shared with the seed generator. An input is
 * a set-up byte (the configuration: FD_SETUP_*) then operations, each an
 * opcode byte (taken modulo FD_OP_COUNT) and its arguments:
 *
 *   CONNECT  u8 how: bit 0 the admin socket, bits 1-3 the identity
 *            (fuzz_daemon.c's table of uid/gid pairs)
 *   HELLO    u8 conn, u32 version, bytes(64) label
 *   ATTACH   u8 conn, bytes(40) name (as sent: a NUL is the guest's),
 *            u8 create, u32 size_pages, u32 want_index
 *   NOTIFY   u8 conn, u8 client, u32 mask
 *   STATUS   u8 conn, u8 client, u32 keep_mask
 *   DETACH   u8 conn, u8 client
 *   ADMIN    u8 conn, u8 request (FD_ADMIN_*), bytes(72) name,
 *            u32 size_pages, u8 force, u64 after_id
 *   RAW      u8 conn, u8 fds (bits 0-1: how many, 2-7: of which kinds),
 *            bytes(65535) datagram
 *   RUN      the daemon's event loop until it has nothing to do
 *   READ     u8 conn: read what the daemon sent it (client ids are
 *            learnt from attach replies here)
 *   CLOSE    u8 conn
 *   HANGUP   u8 conn: shut the connection for writing, keep reading
 *
 * conn picks one of the open connections (modulo); client picks one of
 * the client ids learnt so far when below 0x80 (modulo), else names the
 * id client - 0x80 as it is. Requests are packed with protobuf-c, except
 * RAW's bytes, which go as they are.
 */
#ifndef FUZZ_DAEMON_H
#define FUZZ_DAEMON_H

enum fd_setup {
	FD_SETUP_OPEN = 0,	/* no --config: everyone served */
	FD_SETUP_TENANTS = 1,	/* fuzz_daemon.c's configuration */
	FD_SETUP_COUNT
};

enum fd_op {
	FD_OP_CONNECT, FD_OP_HELLO, FD_OP_ATTACH, FD_OP_NOTIFY, FD_OP_STATUS,
	FD_OP_DETACH, FD_OP_ADMIN, FD_OP_RAW, FD_OP_RUN, FD_OP_READ,
	FD_OP_CLOSE, FD_OP_HANGUP,
	FD_OP_COUNT
};

enum fd_admin {
	FD_ADMIN_STATUS, FD_ADMIN_LIST, FD_ADMIN_SHOW, FD_ADMIN_CREATE,
	FD_ADMIN_DESTROY, FD_ADMIN_CLIENTS, FD_ADMIN_STATS, FD_ADMIN_WATCH,
	FD_ADMIN_TENANTS, FD_ADMIN_RELOAD,
	FD_ADMIN_COUNT
};

/* Identities (CONNECT bits 1-3): root, tenant acme's uid, beta's gid,
 * the default tenant in group 2000, admin_group, acme in group 2000,
 * nobody in particular, and root again. */
#define FD_IDENTITIES 8

#define FD_NAME_MAX 40
#define FD_LABEL_MAX 64
#define FD_ADMIN_NAME_MAX 72
#define FD_RAW_MAX 65535

#endif
