/* SPDX-License-Identifier: ISC */
/*
 * fuzz_ivshmem's input format, shared with the seed generator. An input
 * is a sequence of operations, each an opcode byte (modulo FI_OP_COUNT)
 * and its arguments, against a broker whose configuration (fuzz_ivshmem.c)
 * exports two regions on ivshmem sockets, FI_PATH_SHARED and
 * FI_PATH_PRIVATE, and names more paths an admin may export on (one of
 * them outside the daemon's runtime directory, which it refuses):
 *
 *   QCONNECT  u8 path (FI_PATH_*, modulo), u8 identity (modulo
 *             FI_IDENTITIES): a QEMU connects to that socket as that
 *             uid/gid
 *   QREAD     u8 qemu: it reads every message it was sent (and drains
 *             the doorbells of its own vectors)
 *   QRING     u8 qemu, u8 index, u8 vector, u64 the value written to
 *             the doorbell it was given for that index and vector (if
 *             any)
 *   QRINGALL  u8 qemu: it rings every doorbell it was given, once
 *   QSEND     u8 qemu, u8 fds (bits 0-1: how many, 2-7: of which kinds),
 *             bytes(FI_SEND_MAX): what a QEMU never sends
 *   QCLOSE    u8 qemu
 *   QHANGUP   u8 qemu: shut for writing, keep reading
 *   SQUEEZE   the daemon's end of every QEMU socket gets the smallest
 *             send buffer, so that its queues fill
 *   GRACE     the grace a QEMU told to leave has to read it ends now
 *   VCONNECT  u8 identity: a VMM on the RPC socket
 *   VATTACH   u8 vmm, u8 name (FI_NAME_*, modulo), u8 create,
 *             u32 size_pages, u32 want_index
 *   VNOTIFY   u8 vmm, u8 client, u32 mask
 *   VDETACH   u8 vmm, u8 client
 *   VREAD     u8 vmm: it reads what the daemon sent (client ids learnt)
 *   VCLOSE    u8 vmm
 *   EXPORT    u8 name, u8 path, u8 vectors (modulo 18: 0 is the
 *             default, 17 one too many): an admin's AdminExport
 *   UNEXPORT  u8 name, u8 path (FI_PATH_COUNT and above: every path)
 *   DESTROY   u8 name, u8 force
 *   DETACH    u8 client: an admin's AdminDetach (a QEMU's client too)
 *   RUN       the daemon's event loop until it has nothing to do
 *
 * The admin's requests run the loop and read the reply themselves. qemu
 * and vmm pick one of the open connections (modulo). client picks one of
 * the client ids learnt so far (from attach replies) when below 0x80 and
 * some are known; else it is the id client & 0x7f as it is: QEMUs' and
 * lost clients' ids are small numbers.
 */
#ifndef FUZZ_IVSHMEM_H
#define FUZZ_IVSHMEM_H

enum fi_op {
	FI_OP_QCONNECT, FI_OP_QREAD, FI_OP_QRING, FI_OP_QRINGALL,
	FI_OP_QSEND, FI_OP_QCLOSE, FI_OP_QHANGUP, FI_OP_SQUEEZE,
	FI_OP_GRACE, FI_OP_VCONNECT, FI_OP_VATTACH, FI_OP_VNOTIFY,
	FI_OP_VDETACH, FI_OP_VREAD, FI_OP_VCLOSE, FI_OP_EXPORT,
	FI_OP_UNEXPORT, FI_OP_DESTROY, FI_OP_DETACH, FI_OP_RUN,
	FI_OP_COUNT
};

/* The sockets: the two the configuration exports, two for admins, and
 * one outside the runtime directory. */
enum fi_path {
	FI_PATH_SHARED, FI_PATH_PRIVATE, FI_PATH_ADMIN_A, FI_PATH_ADMIN_B,
	FI_PATH_OUTSIDE,
	FI_PATH_COUNT
};

/* The regions: the configuration's two (64 KiB mode 0666 on 2 vectors,
 * 4 KiB mode 0600 on 1), and two that VMMs create. */
enum fi_name {
	FI_NAME_SHARED, FI_NAME_PRIVATE, FI_NAME_VM_A, FI_NAME_VM_B,
	FI_NAME_COUNT
};

/* root, a user, a user in another group, nobody. */
#define FI_IDENTITIES 4
#define FI_SEND_MAX 256

#endif
