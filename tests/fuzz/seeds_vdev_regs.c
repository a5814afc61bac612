/* SPDX-License-Identifier: ISC */
/*
 * seeds_vdev_regs: valid inputs for fuzz_vdev_regs (format in
 * fuzz_vdev_regs.h): what guests do with the factory and control pages.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_seeds.h"
#include "fuzz_vdev_regs.h"
#include "qvm/guest_shm.h"

/* The code of a length in FV_LENS. */
static uint8_t
len_code(unsigned len)
{
	static const unsigned lens[FV_NLENS] = FV_LENS;

	for (uint8_t i = 0; i < FV_NLENS; i++)
		if (lens[i] == len)
			return i;
	abort();
}

static void
rd(struct fout *o, unsigned page, uint16_t off, unsigned len)
{
	fout_u8(o, (uint8_t)(page << 5 | len_code(len) << 1));
	fout_u16(o, off);
}

static void
wr(struct fout *o, unsigned page, uint16_t off, unsigned len, uint64_t v)
{
	fout_u8(o, (uint8_t)(page << 5 | len_code(len) << 1 | 1));
	fout_u16(o, off);
	fout_u64(o, v);
}

static void
answer(struct fout *o, uint8_t status, uint32_t size, uint8_t idx)
{
	fout_u8(o, status);
	fout_u32(o, size);
	fout_u8(o, idx);
}

/* guest_shm_create_named: the name in 8-byte stores, then size. */
static void
create_named(struct fout *o, const char *name, uint32_t size, uint8_t st,
    uint8_t idx)
{
	uint8_t buf[32] = { 0 };
	uint64_t v;

	memcpy(buf, name, strlen(name));
	for (int i = 0; i < 32; i += 8) {
		memcpy(&v, buf + i, 8);
		wr(o, 0, (uint16_t)(0x1c + i), 8, v);
	}
	wr(o, 0, 0x18, 4, size);
	answer(o, st, size, idx);
	rd(o, 0, 0x14, 4);		/* status */
	rd(o, 0, 0x08, 8);		/* shmem */
	rd(o, 0, 0x18, 4);		/* size */
}

static void
seed_create_notify_detach(struct fout *o, const char *dir)
{
	fout_u32(o, 5);
	rd(o, 0, 0x00, 8);		/* signature */
	rd(o, 0, 0x10, 4);		/* vector */
	create_named(o, "demo", 512, GSS_OK, 0);
	create_named(o, "demo", 512, GSS_OK, 1);
	rd(o, 1, 0x4, 4);		/* idx */
	wr(o, 1, 0x8, 4, 1u << 1);	/* notify index 1 */
	rd(o, 2, 0x0, 4);		/* status: pending | active */
	rd(o, 2, 0x0, 1);
	wr(o, 2, 0x8, 4, GUEST_SHM_NOTIFY_ALL);
	rd(o, 1, 0x1, 1);
	wr(o, 1, 0xc, 4, 0);		/* detach */
	rd(o, 1, 0x0, 4);
	wr(o, 1, 0x8, 8, 0xffffffffffffffffull);
	fout_save(o, dir, "create-notify-detach");
}

static void
seed_find_failures(struct fout *o, const char *dir)
{
	fout_u32(o, 0x20);
	create_named(o, "nope", 1, GSS_DOES_NOT_EXIST, 0);
	create_named(o, "", 1, GSS_ILLEGAL_NAME, 0);
	wr(o, 0, 0x3c, 4, 3);		/* find 3 */
	answer(o, GSS_CLIENT_MAX, 0, 0);
	wr(o, 0, 0x3e, 1, 0xff);	/* one byte of find */
	answer(o, 8, 0, 0);		/* no status of the ABI */
	rd(o, 0, 0x14, 4);
	fout_save(o, dir, "find-failures");
}

/* Accesses a guest has no business making: across fields, across the
 * end of the page, too long, at the top of the address range. */
static void
seed_odd_accesses(struct fout *o, const char *dir)
{
	fout_u32(o, 9);
	wr(o, 0, 0x16, 8, 0x0102030405060708ull);	/* status..size */
	answer(o, GSS_OK, 2, 3);
	wr(o, 0, 0x38, 8, 0x1122334455667788ull);	/* name..find */
	answer(o, GSS_NOMEM, 0, 0);
	rd(o, 0, 0xffd, 7);
	rd(o, 0, 0xfff, 3);
	wr(o, 0, 0x18, 16, 1);
	rd(o, 0, 0x0, 16);
	rd(o, 0, FV_HIGH_OFFSET | 3, 8);
	wr(o, 0, FV_HIGH_OFFSET | 0, 2, 0xffff);
	rd(o, 1, 0x2, 4);
	wr(o, 1, 0xa, 5, 0xffffffffffull);
	rd(o, 1, 0x0, 0);
	fout_save(o, dir, "odd-accesses");
}

void
seeds_vdev_regs(const char *dir)
{
	struct fout o = { 0 };

	seed_create_notify_detach(&o, dir);
	seed_find_failures(&o, dir);
	seed_odd_accesses(&o, dir);
	free(o.buf);
}
