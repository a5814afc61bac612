/* SPDX-License-Identifier: ISC */
/*
 * seeds_ivshmem: valid inputs for fuzz_ivshmem (format in fuzz_ivshmem.h):
 * what stock QEMUs and the VMMs beside them do with exported regions.
 */
#include <stdlib.h>

#include "fuzz_ivshmem.h"
#include "fuzz_seeds.h"

enum { ROOT, USER, OTHER, NOBODY };

static void
op(struct fout *o, enum fi_op code)
{
	fout_u8(o, (uint8_t)code);
}

static void
qconnect(struct fout *o, enum fi_path path, unsigned who)
{
	op(o, FI_OP_QCONNECT);
	fout_u8(o, (uint8_t)path);
	fout_u8(o, (uint8_t)who);
}

static void
on(struct fout *o, enum fi_op code, uint8_t which)
{
	op(o, code);
	fout_u8(o, which);
}

static void
vattach(struct fout *o, uint8_t vmm, enum fi_name name, bool create,
    uint32_t pages, uint32_t want)
{
	op(o, FI_OP_VATTACH);
	fout_u8(o, vmm);
	fout_u8(o, (uint8_t)name);
	fout_u8(o, create);
	fout_u32(o, pages);
	fout_u32(o, want);
}

static void
qring(struct fout *o, uint8_t qemu, uint8_t index, uint8_t vector,
    uint64_t v)
{
	op(o, FI_OP_QRING);
	fout_u8(o, qemu);
	fout_u8(o, index);
	fout_u8(o, vector);
	fout_u64(o, v);
}

static void
vclient(struct fout *o, enum fi_op code, uint8_t vmm, uint8_t client,
    uint32_t mask)
{
	op(o, code);
	fout_u8(o, vmm);
	fout_u8(o, client);
	if (code == FI_OP_VNOTIFY)
		fout_u32(o, mask);
}

static void
admin(struct fout *o, enum fi_op code, enum fi_name name, uint8_t arg,
    uint8_t vectors)
{
	op(o, code);
	fout_u8(o, (uint8_t)name);
	fout_u8(o, arg);
	if (code == FI_OP_EXPORT)
		fout_u8(o, vectors);
}

/* A QEMU and a VMM share the exported region and ring each other. */
static void
seed_qemu_and_vmm(struct fout *o, const char *dir)
{
	qconnect(o, FI_PATH_SHARED, ROOT);
	op(o, FI_OP_RUN);
	on(o, FI_OP_QREAD, 0);
	on(o, FI_OP_VCONNECT, USER);
	vattach(o, 0, FI_NAME_SHARED, false, 0, 0);
	op(o, FI_OP_RUN);
	on(o, FI_OP_VREAD, 0);
	on(o, FI_OP_QREAD, 0);
	qring(o, 0, 1, 0, 1);	/* the VMM at index 1, vector 0 */
	op(o, FI_OP_RUN);
	on(o, FI_OP_VREAD, 0);
	vclient(o, FI_OP_VNOTIFY, 0, 0, 0x1);
	op(o, FI_OP_RUN);
	on(o, FI_OP_QREAD, 0);
	vclient(o, FI_OP_VDETACH, 0, 0, 0);
	op(o, FI_OP_RUN);
	on(o, FI_OP_QREAD, 0);
	on(o, FI_OP_QCLOSE, 0);
	op(o, FI_OP_RUN);
	fout_save(o, dir, "qemu-and-vmm");
}

/* Two QEMUs ring each other in the kernel; one leaves, another comes. */
static void
seed_two_qemus(struct fout *o, const char *dir)
{
	qconnect(o, FI_PATH_SHARED, USER);
	qconnect(o, FI_PATH_SHARED, OTHER);
	op(o, FI_OP_RUN);
	on(o, FI_OP_QREAD, 0);
	on(o, FI_OP_QREAD, 1);
	qring(o, 0, 1, 0, 1);
	qring(o, 1, 0, 1, 3);
	on(o, FI_OP_QREAD, 0);
	on(o, FI_OP_QREAD, 1);
	on(o, FI_OP_QCLOSE, 0);
	op(o, FI_OP_RUN);
	qconnect(o, FI_PATH_SHARED, NOBODY);
	op(o, FI_OP_RUN);
	on(o, FI_OP_QREAD, 1);
	on(o, FI_OP_QREAD, 0);
	fout_save(o, dir, "two-qemus");
}

/* A VMM makes a region, an admin exports it, a QEMU joins, the admin
 * takes the export away and destroys the region under them. */
static void
seed_admin_export(struct fout *o, const char *dir)
{
	on(o, FI_OP_VCONNECT, ROOT);
	vattach(o, 0, FI_NAME_VM_A, true, 16, 0);
	op(o, FI_OP_RUN);
	on(o, FI_OP_VREAD, 0);
	admin(o, FI_OP_EXPORT, FI_NAME_VM_A, FI_PATH_ADMIN_A, 4);
	qconnect(o, FI_PATH_ADMIN_A, ROOT);
	op(o, FI_OP_RUN);
	on(o, FI_OP_QREAD, 0);
	admin(o, FI_OP_UNEXPORT, FI_NAME_VM_A, FI_PATH_ADMIN_A, 0);
	admin(o, FI_OP_DESTROY, FI_NAME_VM_A, 1, 0);
	op(o, FI_OP_RUN);
	on(o, FI_OP_QREAD, 0);
	on(o, FI_OP_VREAD, 0);
	fout_save(o, dir, "admin-export");
}

/* A QEMU that reads nothing while VMMs come and go; one the region's
 * mode refuses; one that talks. */
static void
seed_rude_qemus(struct fout *o, const char *dir)
{
	qconnect(o, FI_PATH_SHARED, ROOT);
	qconnect(o, FI_PATH_PRIVATE, NOBODY);
	on(o, FI_OP_VCONNECT, ROOT);
	for (int i = 0; i < 6; i++) {
		vattach(o, 0, FI_NAME_SHARED, false, 0, 0);
		op(o, FI_OP_RUN);
		on(o, FI_OP_VREAD, 0);
		vclient(o, FI_OP_VDETACH, 0, (uint8_t)i, 0);
		op(o, FI_OP_RUN);
	}
	op(o, FI_OP_QSEND);
	fout_u8(o, 0);
	fout_u8(o, 1 | 0 << 2);		/* an eventfd with it */
	fout_str(o, FI_SEND_MAX, "hello?");
	on(o, FI_OP_QHANGUP, 1);
	op(o, FI_OP_RUN);
	on(o, FI_OP_QREAD, 1);
	on(o, FI_OP_QREAD, 0);
	fout_save(o, dir, "rude-qemus");
}

/* The daemon's queue for a QEMU fills (its socket squeezed) while VMMs
 * join; an admin detaches the QEMU, whose grace to read its leave ends;
 * another QEMU rings every doorbell it holds. */
static void
seed_squeezed(struct fout *o, const char *dir)
{
	qconnect(o, FI_PATH_SHARED, ROOT);
	qconnect(o, FI_PATH_SHARED, USER);
	op(o, FI_OP_RUN);
	op(o, FI_OP_SQUEEZE);
	on(o, FI_OP_VCONNECT, ROOT);
	for (int i = 0; i < 8; i++)
		vattach(o, 0, FI_NAME_SHARED, false, 0, 0);
	op(o, FI_OP_RUN);
	on(o, FI_OP_VREAD, 0);
	on(o, FI_OP_QRINGALL, 1);
	op(o, FI_OP_RUN);
	on(o, FI_OP_DETACH, 0x80 + 1);	/* the first QEMU's client */
	op(o, FI_OP_GRACE);
	op(o, FI_OP_RUN);
	on(o, FI_OP_QREAD, 0);
	on(o, FI_OP_QREAD, 1);
	on(o, FI_OP_VREAD, 0);
	fout_save(o, dir, "squeezed");
}

void
seeds_ivshmem(const char *dir)
{
	struct fout o = { 0 };

	seed_qemu_and_vmm(&o, dir);
	seed_two_qemus(&o, dir);
	seed_admin_export(&o, dir);
	seed_rude_qemus(&o, dir);
	seed_squeezed(&o, dir);
	free(o.buf);
}
