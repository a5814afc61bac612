/* SPDX-License-Identifier: ISC */
/*
 * fuzz_vdev_regs: the register decoder (vmm-adapter/vdev_regs.c) under
 * sequences of guest accesses of every length at any offset, to the
 * factory page and to the control pages it hands out, with the harness
 * as the VMM behind them: it answers creates and finds with whatever
 * status, size and index the input says, holds each client's pending
 * word and takes from it what a status read clears, as libshmvdev does.
 * Every read, action and argument is checked against a model written
 * from the byte tables of docs/DESIGN.md ("Guest-visible interface"):
 * each page an image of bytes with the ranges a guest may write.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "fuzz_vdev_regs.h"
#include "vdev_regs.h"

#define PAGE 4096u
#define MAX_CONTROLS 8

/* docs/DESIGN.md's offsets, not the header's. */
enum {
	FAC_SHMEM = 0x08, FAC_VECTOR = 0x10, FAC_STATUS = 0x14,
	FAC_SIZE = 0x18, FAC_NAME = 0x1c, FAC_FIND = 0x3c, FAC_END = 0x40,
	CTL_STATUS = 0x0, CTL_IDX = 0x4, CTL_NOTIFY = 0x8, CTL_DETACH = 0xc,
	CTL_END = 0x10
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct control {
	struct shmvdev_control dec;
	uint32_t idx;
	bool detached;
	uint16_t pending;	/* the client's word, as the VMM holds it */
};

struct fv_run {
	struct shmvdev_factory fac;
	uint8_t image[PAGE];	/* the factory page as the guest reads it */
	struct control ctl[MAX_CONTROLS];
	size_t nctl;
	uint16_t active;	/* indices of the controls not detached */
};

static void __attribute__((noreturn))
fv_wrong(const char *what, uint32_t off, unsigned len, uint64_t got,
    uint64_t want)
{
	fprintf(stderr, "vdev_regs: %s at offset %#x length %u: %#llx, the "
	    "model says %#llx\n", what, off, len, (unsigned long long)got,
	    (unsigned long long)want);
	abort();
}

static bool
fv_len_ok(unsigned len)
{
	return len >= 1 && len <= 8;
}

/* The little-endian value of the bytes of image at off..off+len, those
 * past the page reading 0. */
static uint64_t
fv_image_read(const uint8_t *image, uint32_t off, unsigned len)
{
	uint64_t v = 0;

	for (unsigned i = 0; fv_len_ok(len) && i < len; i++)
		if ((uint64_t)off + i < PAGE)
			v |= (uint64_t)image[(uint64_t)off + i] << (8 * i);
	return v;
}

/* Little-endian, as the guest sees a field (libshmvdev's own helper:
 * bytes in, bytes out, nothing of the decoder's logic). */
static void
fv_image_put(uint8_t *image, uint32_t at, uint64_t v, unsigned bytes)
{
	shmvdev_store_le(image + at, bytes, v);
}

static void
fv_factory_read(struct fv_run *r, uint32_t off, unsigned len)
{
	uint64_t got = shmvdev_factory_read(&r->fac, off, len);
	uint64_t want = fv_image_read(r->image, off, len);

	if (got != want)
		fv_wrong("factory read", off, len, got, want);
}

/* The fake VMM's answer to a create or find, applied to both. */
static void
fv_answer(struct fv_run *r, struct fin *in)
{
	uint32_t st = fin_u8(in) % 9, actual = fin_u32(in);
	uint8_t idx = fin_u8(in) % 16;
	uint64_t shmem = 0x80000000ull + (uint64_t)r->nctl * 0x200000ull;

	shmvdev_factory_result(&r->fac, st, shmem, actual);
	if (st == GSS_OK) {
		fv_image_put(r->image, FAC_SHMEM, shmem, 8);
		fv_image_put(r->image, FAC_SIZE, actual, 4);
	}
	fv_image_put(r->image, FAC_STATUS, st <= GSS_DOES_NOT_EXIST ? st :
	    GSS_UNKNOWN_FAILURE, 4);
	if (st != GSS_OK || r->nctl == MAX_CONTROLS ||
	    (r->active & (1u << idx)))
		return;
	shmvdev_control_init(&r->ctl[r->nctl].dec, idx);
	r->ctl[r->nctl].idx = idx;
	r->ctl[r->nctl].detached = false;
	r->ctl[r->nctl].pending = 0;
	r->nctl++;
	r->active |= (uint16_t)(1u << idx);
}

static void
fv_factory_write(struct fv_run *r, struct fin *in, uint32_t off,
    unsigned len, uint64_t data)
{
	unsigned want = SHMVDEV_NONE;
	uint32_t arg = 0xdeadbeef, want_arg = 0, find = 0;
	enum shmvdev_action act;

	for (unsigned i = 0; fv_len_ok(len) && i < len; i++) {
		uint64_t o = (uint64_t)off + i;
		uint8_t b = (uint8_t)(data >> (8 * i));

		if (o >= FAC_SIZE && o < FAC_FIND)
			r->image[o] = b;
		if (o >= FAC_SIZE && o < FAC_NAME)
			want |= SHMVDEV_CREATE;
		if (o >= FAC_FIND && o < FAC_END) {
			want |= SHMVDEV_FIND;
			find |= (uint32_t)b << (8 * (o - FAC_FIND));
		}
	}
	if (want == SHMVDEV_CREATE)
		want_arg = (uint32_t)fv_image_read(r->image, FAC_SIZE, 4);
	else if (want == SHMVDEV_FIND)
		want_arg = find;
	act = shmvdev_factory_write(&r->fac, off, len, data, &arg);
	if (act != want || arg != want_arg)
		fv_wrong("factory write action|arg", off, len,
		    (uint64_t)act << 32 | arg, (uint64_t)want << 32 | want_arg);
	if (act != SHMVDEV_NONE)
		fv_answer(r, in);
}

/* The NUL-terminated name's wire length, or 0 without a NUL. */
static void
fv_check_name(const struct fv_run *r)
{
	const uint8_t *name = r->image + FAC_NAME;
	unsigned want = 0;

	for (unsigned i = 0; i < FAC_FIND - FAC_NAME && want == 0; i++)
		if (name[i] == 0)
			want = i + 1;
	if (shmvdev_factory_name_len(&r->fac) != want)
		fv_wrong("name length", FAC_NAME, 0,
		    shmvdev_factory_name_len(&r->fac), want);
}

/* A status read takes the pending bits of the bytes it covers: those the
 * VMM clears and returns. */
static void
fv_control_read(struct fv_run *r, struct control *c, uint32_t off,
    unsigned len)
{
	static uint8_t page[PAGE];
	uint32_t mask = 0, word;
	uint64_t got, want;

	for (unsigned i = 0; !c->detached && fv_len_ok(len) && i < len; i++)
		if ((uint64_t)off + i < CTL_STATUS + 2)
			mask |= 0xffu << (8 * ((uint64_t)off + i));
	if (shmvdev_control_take_mask(&c->dec, off, len) != mask)
		fv_wrong("take mask", off, len,
		    shmvdev_control_take_mask(&c->dec, off, len), mask);
	word = (c->pending & mask) | (uint32_t)r->active << 16;
	c->pending &= (uint16_t)~mask;
	got = shmvdev_control_read(&c->dec, off, len, word);
	/* Only status and idx are ever non-zero: written and wiped here. */
	fv_image_put(page, CTL_STATUS, c->detached ? 0 : word, 4);
	fv_image_put(page, CTL_IDX, c->detached ? 0 : c->idx, 4);
	want = fv_image_read(page, off, len);
	if (got != want)
		fv_wrong("control read", off, len, got, want);
}

/* Notify sets the sender's bit in each target's word (what the direct
 * path does); detach ends the client. */
static void
fv_control_write(struct fv_run *r, struct control *c, uint32_t off,
    unsigned len, uint64_t data)
{
	unsigned want = SHMVDEV_NONE, act;
	uint32_t notify = 0, arg = 0xdeadbeef;

	for (unsigned i = 0; !c->detached && fv_len_ok(len) && i < len; i++) {
		uint64_t o = (uint64_t)off + i;

		if (o >= CTL_NOTIFY && o < CTL_DETACH) {
			want |= SHMVDEV_NOTIFY;
			notify |= (uint32_t)(uint8_t)(data >> (8 * i)) <<
			    (8 * (o - CTL_NOTIFY));
		} else if (o >= CTL_DETACH && o < CTL_END) {
			want |= SHMVDEV_DETACH;
		}
	}
	act = shmvdev_control_write(&c->dec, off, len, data, &arg);
	if (act != want || arg != notify)
		fv_wrong("control write action|arg", off, len,
		    (uint64_t)act << 32 | arg, (uint64_t)want << 32 | notify);
	if (act & SHMVDEV_NOTIFY)
		for (size_t k = 0; k < r->nctl; k++)
			if (&r->ctl[k] != c && !r->ctl[k].detached &&
			    (notify & (1u << r->ctl[k].idx)))
				r->ctl[k].pending |= (uint16_t)(1u << c->idx);
	if (act & SHMVDEV_DETACH) {
		c->detached = true;
		r->active &= (uint16_t)~(1u << c->idx);
	}
}

static void
fv_step(struct fv_run *r, struct fin *in)
{
	static const unsigned lens[FV_NLENS] = FV_LENS;
	uint8_t how = fin_u8(in);
	uint16_t o16 = fin_u16(in);
	bool write = how & 1;
	unsigned len = lens[(how >> 1) % FV_NLENS], page = how >> 5;
	uint32_t off = o16 & FV_HIGH_OFFSET ?
	    0xffffffffu - (o16 & (FV_HIGH_OFFSET - 1)) : o16 & 0x1fffu;
	uint64_t data = write ? fin_u64(in) : 0;
	struct control *c = page == 0 || r->nctl == 0 ? NULL :
	    &r->ctl[(page - 1) % r->nctl];

	if (c == NULL && write)
		fv_factory_write(r, in, off, len, data);
	else if (c == NULL)
		fv_factory_read(r, off, len);
	else if (write)
		fv_control_write(r, c, off, len, data);
	else
		fv_control_read(r, c, off, len);
	fv_check_name(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fin in = { data, size };
	struct fv_run r;
	uint32_t vector = fin_u32(&in);

	memset(&r, 0, sizeof(r));
	shmvdev_factory_init(&r.fac, vector);
	fv_image_put(r.image, 0, GUEST_SHM_SIGNATURE, 8);
	fv_image_put(r.image, FAC_VECTOR, vector, 4);
	fv_image_put(r.image, FAC_STATUS, GSS_OK, 4);
	while (!fin_done(&in))
		fv_step(&r, &in);
	return 0;
}
