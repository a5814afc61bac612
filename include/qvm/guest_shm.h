/* SPDX-License-Identifier: ISC */
/*
 * qvm/guest_shm.h: the guest's view of the shmem vdev (factory page and
 * control pages), source-compatible with the QNX hypervisor header of the
 * same name: guest code written for QNX compiles and runs unchanged.
 *
 * This file is included by guest programs (freestanding, any bitness) and
 * by the host-side emulation (vmm-adapter/vdev_regs.c), so it needs only
 * <stdint.h> and <stddef.h>, uses fixed-width types in every structure and
 * pins the layout with static assertions: the layout is the ABI.
 *
 * Outcomes the vdev defines (see also vmm-adapter/vdev_regs.h):
 * - Any access of 1, 2, 4 or 8 bytes at any offset is valid. Reads of
 *   write-only fields (find, notify, detach) and of everything past the
 *   structures return 0; writes to read-only fields and past the
 *   structures are ignored; signature always reads GUEST_SHM_SIGNATURE.
 * - A write touching any byte of size creates or attaches the region named
 *   in name; a write touching any byte of find attaches, never creates.
 *   The name must hold a NUL within its 32 bytes, otherwise status becomes
 *   GSS_ILLEGAL_NAME.
 * - On success status is GSS_OK, shmem holds the new control page's
 *   guest-physical address (data starts GUEST_SHM_PAGE_SIZE later) and size
 *   reads the region's actual size in pages. On failure status holds the
 *   error, shmem keeps its previous value and size reads what was written.
 * - Every successful create or find makes a new client with its own index.
 * - Control status: bits 0-15 pending notifications, bits 16-31 attached
 *   clients. Reading a byte of bits 0-15 returns and clears the bits of that
 *   byte; reading bytes 2-3 alone clears nothing.
 * - After a write to detach, the control page reads 0 and ignores writes.
 */
#ifndef QVM_GUEST_SHM_H
#define QVM_GUEST_SHM_H

#include <stddef.h>
#include <stdint.h>

/* The PCI identity of the vdev (factory page in BAR0); QNX's names. */
#define PCI_VID_BlackBerry_QNX	0x1C05
#define PCI_DID_QNX_GUEST_SHM	0x0001

#define GUEST_SHM_MAX_CLIENTS	16
#define GUEST_SHM_MAX_NAME	32		/* bytes, with the NUL */
#define GUEST_SHM_SIGNATURE	0x4d534732474d5651ULL	/* "QVMG2GSM" */

/* Additions to the QNX names. */
#define GUEST_SHM_PAGE_SIZE	0x1000u		/* factory, control, size unit */
#define GUEST_SHM_NOTIFY_ALL	0xffffffffu	/* notify: every other client */
#define GUEST_SHM_PENDING(status)	((uint32_t)(status) & 0xffffu)
#define GUEST_SHM_ACTIVE(status)	((uint32_t)(status) >> 16)

/* Result of the last create or find, in the factory's status field. */
enum guest_shm_status {
	GSS_OK = 0,
	GSS_UNKNOWN_FAILURE = 1,
	GSS_NOMEM = 2,
	GSS_CLIENT_MAX = 3,
	GSS_ILLEGAL_NAME = 4,
	GSS_NO_PERMISSION = 5,
	GSS_DOES_NOT_EXIST = 6
};

/* The factory page: one per VM, little-endian, naturally aligned. */
struct guest_shm_factory {
	uint64_t signature;	/* R: GUEST_SHM_SIGNATURE */
	uint64_t shmem;		/* R: control page of the last create/find */
	uint32_t vector;	/* R: the interrupt the vdev raises */
	uint32_t status;	/* R: enum guest_shm_status */
	uint32_t size;		/* RW: write = create or attach, in pages */
	char name[GUEST_SHM_MAX_NAME];	/* RW: NUL-terminated */
	uint32_t find;		/* W: write = attach only; reads 0 */
};

/* A control page: one per attached client, just before the region data. */
struct guest_shm_control {
	uint32_t status;	/* R: pending (0-15, read clears), active */
	uint32_t idx;		/* R: this client's index, 0..15 */
	uint32_t notify;	/* W: bitset of indices, or NOTIFY_ALL */
	uint32_t detach;	/* W: any value detaches */
};

#ifdef __cplusplus
#define GUEST_SHM_ASSERT(e, m) static_assert(e, m)
#else
#define GUEST_SHM_ASSERT(e, m) _Static_assert(e, m)
#endif
GUEST_SHM_ASSERT(offsetof(struct guest_shm_factory, signature) == 0x00, "sig");
GUEST_SHM_ASSERT(offsetof(struct guest_shm_factory, shmem) == 0x08, "shmem");
GUEST_SHM_ASSERT(offsetof(struct guest_shm_factory, vector) == 0x10, "vec");
GUEST_SHM_ASSERT(offsetof(struct guest_shm_factory, status) == 0x14, "st");
GUEST_SHM_ASSERT(offsetof(struct guest_shm_factory, size) == 0x18, "size");
GUEST_SHM_ASSERT(offsetof(struct guest_shm_factory, name) == 0x1C, "name");
GUEST_SHM_ASSERT(offsetof(struct guest_shm_factory, find) == 0x3C, "find");
GUEST_SHM_ASSERT(sizeof(struct guest_shm_factory) == 0x40, "factory size");
GUEST_SHM_ASSERT(offsetof(struct guest_shm_control, status) == 0x0, "cst");
GUEST_SHM_ASSERT(offsetof(struct guest_shm_control, idx) == 0x4, "idx");
GUEST_SHM_ASSERT(offsetof(struct guest_shm_control, notify) == 0x8, "ntf");
GUEST_SHM_ASSERT(offsetof(struct guest_shm_control, detach) == 0xC, "det");
GUEST_SHM_ASSERT(sizeof(struct guest_shm_control) == 0x10, "control size");

/*
 * Keeps the compiler from moving factory accesses across the trigger: the
 * name must be complete before the size or find store, and status must be
 * read after it. The vdev handles the store synchronously (the vCPU waits
 * in the exit), so no CPU fence is needed for the device itself.
 */
#define GUEST_SHM_BARRIER() __asm__ __volatile__("" ::: "memory")

/* QNX's helper: create or attach the region already named in name. */
static inline void
guest_shm_create(volatile struct guest_shm_factory *const factory,
    uint32_t const size)
{
	GUEST_SHM_BARRIER();
	factory->size = size;
	GUEST_SHM_BARRIER();
}

/* QNX's helper: attach the existing region named in name; the value is
 * ignored by this vdev. */
static inline void
guest_shm_find(volatile struct guest_shm_factory *const factory,
    uint32_t const find_num)
{
	GUEST_SHM_BARRIER();
	factory->find = find_num;
	GUEST_SHM_BARRIER();
}

/*
 * Copies name into the factory with one byte store per character (no libc;
 * the stores through a volatile pointer are neither merged nor elided), up
 * to and including its NUL. Returns 0 when name does not fit in
 * GUEST_SHM_MAX_NAME bytes with its NUL; the factory is then not touched,
 * so a too-long name is never silently truncated into another region's.
 */
static inline int
guest_shm_set_name(volatile struct guest_shm_factory *const factory,
    const char *const name)
{
	uint32_t n = 0;

	while (name[n] != '\0')
		if (++n >= GUEST_SHM_MAX_NAME)
			return 0;
	for (uint32_t i = 0; i <= n; i++)
		factory->name[i] = name[i];
	return 1;
}

/*
 * Names the region, creates or attaches it with size_pages pages and
 * returns the factory's status (enum guest_shm_status). A name that does
 * not fit returns GSS_ILLEGAL_NAME without touching the factory.
 */
static inline uint32_t
guest_shm_create_named(volatile struct guest_shm_factory *const factory,
    const char *const name, uint32_t const size_pages)
{
	if (!guest_shm_set_name(factory, name))
		return GSS_ILLEGAL_NAME;
	guest_shm_create(factory, size_pages);
	return factory->status;
}

/* As guest_shm_create_named, but only attaches an existing region. */
static inline uint32_t
guest_shm_find_named(volatile struct guest_shm_factory *const factory,
    const char *const name)
{
	if (!guest_shm_set_name(factory, name))
		return GSS_ILLEGAL_NAME;
	guest_shm_find(factory, 0);
	return factory->status;
}

#endif /* QVM_GUEST_SHM_H */
