/* SPDX-License-Identifier: ISC */
/*
 * vdev_regs: the register files of the shmem vdev as pure functions: one
 * VM's factory page and one client's control page. libshmvdev hands every
 * trapped access (page offset, length, data) to these functions and acts
 * on the returned action (create, find, notify, detach) by asking the
 * daemon; nothing here talks to KVM or the daemon, allocates or blocks.
 * Internal to libshmvdev (neither installed nor exported): a VMM needs
 * only shmvdev.h.
 *
 * Accesses. len may be 1..8: KVM hands 1, 2, 4 or 8 bytes, and 3, 5, 6 or
 * 7 for the part of an access that crosses into or out of the page, so
 * every length up to 8 is handled byte by byte. len 0 or above 8 reads 0
 * and writes nothing. Byte i of an access is at page offset off + i and
 * is bits 8i..8i+7 of data (little-endian, as in kvm_run.mmio.data, see
 * shmvdev_load_le / shmvdev_store_le); data bits above 8 * len are ignored and
 * read results have them 0. Bytes at offsets of 4096 and above (including
 * off + i overflowing 32 bits) read 0 and are ignored.
 *
 * Not thread-safe: the VMM serialises the accesses to one page.
 */
#ifndef VDEV_REGS_H
#define VDEV_REGS_H

#include <stdbool.h>
#include <stdint.h>

#include "qvm/guest_shm.h"
/* shmvdev_load_le and shmvdev_store_le: kvm_run.mmio.data <-> the data
 * word of these functions. They are implemented in vdev_regs.c, with the
 * byte order they convert, and exported by libshmvdev, whose header
 * declares them: the rest of this file is internal to it. */
#include "shmvdev.h"

#define SHMVDEV_PAGE_SIZE		GUEST_SHM_PAGE_SIZE
#define SHMVDEV_MAX_ACCESS		8u	/* bytes: one MMIO exit at most */

/* What a write asks the VMM to do; control writes may return two. */
enum shmvdev_action {
	SHMVDEV_NONE = 0,
	SHMVDEV_CREATE = 1u << 0,	/* factory size written; arg = size */
	SHMVDEV_FIND = 1u << 1,	/* factory find written; arg = find */
	SHMVDEV_NOTIFY = 1u << 2,	/* control notify written; arg = mask */
	SHMVDEV_DETACH = 1u << 3	/* control detach written */
};

/*
 * One VM's factory page. signature is a constant; find is write-only and
 * holds no state. Zeroed by shmvdev_factory_init: status reads GSS_OK, shmem
 * 0 and size 0 until the first create or find.
 */
struct shmvdev_factory {
	uint64_t shmem;
	uint32_t vector;
	uint32_t status;
	uint32_t size;
	uint8_t name[GUEST_SHM_MAX_NAME];
};

/* Power-on and VM-reset state. */
void shmvdev_factory_init(struct shmvdev_factory *, uint32_t vector);

/*
 * The page image: signature, shmem, vector, status, size and name read
 * their values, find and everything past 0x40 read 0. Reads spanning
 * fields combine their bytes.
 */
uint64_t shmvdev_factory_read(const struct shmvdev_factory *, uint32_t off,
    unsigned len);

/*
 * Stores the bytes that fall on size and name; bytes on signature, shmem,
 * vector, status, find and past 0x40 are dropped. All bytes land before
 * the action is returned, so an unaligned store covering the end of size
 * and the start of name creates with the new name bytes in place.
 * Returns SHMVDEV_CREATE if any byte of size was written (*arg = the whole
 * size after the write, unwritten bytes keeping their value), SHMVDEV_FIND if
 * any byte of find was (*arg = the find value with unwritten bytes 0),
 * else SHMVDEV_NONE (*arg = 0). size ends at 0x1C and find starts at 0x3C,
 * 32 bytes apart, so no access of at most 8 bytes touches both (asserted
 * in vdev_regs.c). arg may be NULL.
 */
enum shmvdev_action shmvdev_factory_write(struct shmvdev_factory *,
    uint32_t off, unsigned len, uint64_t data, uint32_t *arg);

/*
 * The outcome of a create or find. GSS_OK: status = GSS_OK, shmem = the
 * new control page's guest-physical address, size = the region's actual
 * size in pages. Any other status: status = st, shmem and size untouched
 * (size keeps what the guest wrote). A status outside enum
 * guest_shm_status is stored as GSS_UNKNOWN_FAILURE, so the guest only
 * ever reads a value its header names.
 */
void shmvdev_factory_result(struct shmvdev_factory *, uint32_t st,
    uint64_t shmem, uint32_t actual_size);

/*
 * The number of name bytes to send to the daemon: up to and including the
 * first NUL (1..32), or 0 when the 32 bytes hold no NUL, which the VMM
 * answers with GSS_ILLEGAL_NAME itself. The characters are not judged
 * here: the daemon owns the naming rule (registry_check_name), so an
 * empty or unprintable name goes to it and comes back GSS_ILLEGAL_NAME.
 */
unsigned shmvdev_factory_name_len(const struct shmvdev_factory *);

/* One client's control page. */
struct shmvdev_control {
	uint32_t idx;
	bool detached;
};

/* A newly attached client (also when a later attach reuses the page). */
void shmvdev_control_init(struct shmvdev_control *, uint32_t idx);

/*
 * Pending bits a read at (off, len) returns and therefore clears: 0xff for
 * byte 0 of status, 0xff00 for byte 1, 0xffff for both, 0 for a read that
 * does not cover them (bytes 2-3 alone, idx, ...) or a detached page. The
 * VMM takes exactly these bits (one atomic fetch-and-clear of the mask on
 * its pending word) so no bit is cleared without being returned, then
 * passes the word to shmvdev_control_read.
 */
uint32_t shmvdev_control_take_mask(const struct shmvdev_control *, uint32_t off,
    unsigned len);

/*
 * The page image: status reads status_word (pending | active << 16, as
 * taken by the caller; only the bytes covered are returned), idx reads
 * the index, notify, detach and everything past 0x10 read 0. A detached
 * page reads 0 everywhere.
 */
uint64_t shmvdev_control_read(const struct shmvdev_control *, uint32_t off,
    unsigned len, uint32_t status_word);

/*
 * Returns a set of shmvdev_action bits: SHMVDEV_NOTIFY if any byte of
 * notify was written (*arg = the notify value with unwritten bytes 0: a
 * byte store of 0xff to offset 0x9 notifies indices 8..15, and only a
 * store of all four bytes can form GUEST_SHM_NOTIFY_ALL), SHMVDEV_DETACH
 * if any byte of detach was written (any value). An 8-byte store at 0x8
 * returns both: the VMM notifies first, then detaches, in address order.
 * A detach marks the page detached here; from then on it reads 0 and
 * writes return SHMVDEV_NONE, so a second detach does nothing. Writes to
 * status, idx and past 0x10 are ignored. *arg = 0 unless SHMVDEV_NOTIFY;
 * arg may be NULL.
 */
unsigned shmvdev_control_write(struct shmvdev_control *, uint32_t off,
    unsigned len, uint64_t data, uint32_t *arg);

#endif /* VDEV_REGS_H */
