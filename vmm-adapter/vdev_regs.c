/* SPDX-License-Identifier: ISC */
/*
 * vdev_regs: decoding of factory and control page accesses. Every access
 * is taken apart into bytes, each byte read from or stored into the field
 * it falls on: one rule covers every width, alignment and field-spanning
 * access, and a byte loop of at most 8 costs nothing next to an MMIO exit.
 */
#include <stddef.h>
#include <string.h>

#include "vdev_regs.h"

#define F_SIG	offsetof(struct guest_shm_factory, signature)
#define F_SHMEM	offsetof(struct guest_shm_factory, shmem)
#define F_VEC	offsetof(struct guest_shm_factory, vector)
#define F_STAT	offsetof(struct guest_shm_factory, status)
#define F_SIZE	offsetof(struct guest_shm_factory, size)
#define F_NAME	offsetof(struct guest_shm_factory, name)
#define F_FIND	offsetof(struct guest_shm_factory, find)
#define F_END	sizeof(struct guest_shm_factory)

#define C_STAT	offsetof(struct guest_shm_control, status)
#define C_IDX	offsetof(struct guest_shm_control, idx)
#define C_NTF	offsetof(struct guest_shm_control, notify)
#define C_DET	offsetof(struct guest_shm_control, detach)
#define C_END	sizeof(struct guest_shm_control)

/* The byte decoders below rely on the fields being contiguous in order. */
_Static_assert(F_SIG == 0 && F_SHMEM == 8 && F_VEC == 16 && F_STAT == 20 &&
    F_SIZE == 24 && F_NAME == 28 && F_FIND == F_NAME + GUEST_SHM_MAX_NAME &&
    F_END == F_FIND + 4, "factory fields contiguous");
_Static_assert(C_STAT == 0 && C_IDX == 4 && C_NTF == 8 && C_DET == 12 &&
    C_END == 16, "control fields contiguous");
/* No access can fire both create and find (shmvdev_factory_write). */
_Static_assert(F_FIND - (F_SIZE + 4) >= SHMVDEV_MAX_ACCESS,
    "size and find are further apart than one access");

static int
len_ok(unsigned len)
{
	return len >= 1 && len <= SHMVDEV_MAX_ACCESS;
}

static uint8_t
byte_of(uint64_t v, uint64_t i)
{
	return (uint8_t)(v >> (8 * i));
}

/* Replaces byte i of a little-endian 32-bit field. */
static void
put_byte32(uint32_t *v, uint64_t i, uint8_t b)
{
	uint32_t shift = (uint32_t)(8 * i);

	*v = (*v & ~(UINT32_C(0xff) << shift)) | ((uint32_t)b << shift);
}

uint64_t
shmvdev_load_le(const uint8_t *bytes, unsigned len)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < len && i < SHMVDEV_MAX_ACCESS; i++)
		v |= (uint64_t)bytes[i] << (8 * i);
	return v;
}

void
shmvdev_store_le(uint8_t *bytes, unsigned len, uint64_t value)
{
	for (unsigned i = 0; i < len && i < SHMVDEV_MAX_ACCESS; i++)
		bytes[i] = byte_of(value, i);
}

void
shmvdev_factory_init(struct shmvdev_factory *f, uint32_t vector)
{
	memset(f, 0, sizeof(*f));
	f->vector = vector;
}

static uint8_t
factory_byte(const struct shmvdev_factory *f, uint64_t o)
{
	if (o < F_SHMEM)
		return byte_of(GUEST_SHM_SIGNATURE, o - F_SIG);
	if (o < F_VEC)
		return byte_of(f->shmem, o - F_SHMEM);
	if (o < F_STAT)
		return byte_of(f->vector, o - F_VEC);
	if (o < F_SIZE)
		return byte_of(f->status, o - F_STAT);
	if (o < F_NAME)
		return byte_of(f->size, o - F_SIZE);
	if (o < F_FIND)
		return f->name[o - F_NAME];
	return 0;	/* find is write-only; the rest of the page is empty */
}

uint64_t
shmvdev_factory_read(const struct shmvdev_factory *f, uint32_t off,
    unsigned len)
{
	uint64_t v = 0;

	if (!len_ok(len))
		return 0;
	for (unsigned i = 0; i < len; i++)
		v |= (uint64_t)factory_byte(f, (uint64_t)off + i) << (8 * i);
	return v;
}

/* Stores one byte if it falls on a writable field; says which trigger. */
static enum shmvdev_action
factory_put(struct shmvdev_factory *f, uint64_t o, uint8_t b, uint32_t *find)
{
	if (o >= F_SIZE && o < F_NAME) {
		put_byte32(&f->size, o - F_SIZE, b);
		return SHMVDEV_CREATE;
	}
	if (o >= F_NAME && o < F_FIND) {
		f->name[o - F_NAME] = b;
		return SHMVDEV_NONE;
	}
	if (o >= F_FIND && o < F_END) {
		put_byte32(find, o - F_FIND, b);
		return SHMVDEV_FIND;
	}
	return SHMVDEV_NONE;
}

enum shmvdev_action
shmvdev_factory_write(struct shmvdev_factory *f, uint32_t off, unsigned len,
    uint64_t data, uint32_t *arg)
{
	unsigned act = SHMVDEV_NONE;
	uint32_t find = 0, out = 0;

	if (len_ok(len))
		for (unsigned i = 0; i < len; i++)
			act |= factory_put(f, (uint64_t)off + i,
			    byte_of(data, i), &find);
	if (act & SHMVDEV_CREATE) {
		act = SHMVDEV_CREATE;
		out = f->size;
	} else if (act & SHMVDEV_FIND)
		out = find;
	if (arg != NULL)
		*arg = out;
	return (enum shmvdev_action)act;
}

void
shmvdev_factory_result(struct shmvdev_factory *f, uint32_t st, uint64_t shmem,
    uint32_t actual_size)
{
	if (st == GSS_OK) {
		f->shmem = shmem;
		f->size = actual_size;
	} else if (st > GSS_DOES_NOT_EXIST)
		st = GSS_UNKNOWN_FAILURE;
	f->status = st;
}

unsigned
shmvdev_factory_name_len(const struct shmvdev_factory *f)
{
	const uint8_t *nul = memchr(f->name, '\0', sizeof(f->name));

	return nul == NULL ? 0 : (unsigned)(nul - f->name) + 1;
}

void
shmvdev_control_init(struct shmvdev_control *c, uint32_t idx)
{
	c->idx = idx;
	c->detached = false;
}

uint32_t
shmvdev_control_take_mask(const struct shmvdev_control *c, uint32_t off,
    unsigned len)
{
	uint32_t mask = 0;

	if (c->detached || !len_ok(len))
		return 0;
	for (unsigned i = 0; i < len; i++) {
		uint64_t o = (uint64_t)off + i;

		if (o < C_STAT + 2)
			mask |= UINT32_C(0xff) << (8 * o);
	}
	return mask;
}

static uint8_t
control_byte(const struct shmvdev_control *c, uint64_t o, uint32_t status_word)
{
	if (o < C_IDX)
		return byte_of(status_word, o - C_STAT);
	if (o < C_NTF)
		return byte_of(c->idx, o - C_IDX);
	return 0;	/* notify and detach are write-only */
}

uint64_t
shmvdev_control_read(const struct shmvdev_control *c, uint32_t off,
    unsigned len, uint32_t status_word)
{
	uint64_t v = 0;

	if (c->detached || !len_ok(len))
		return 0;
	for (unsigned i = 0; i < len; i++)
		v |= (uint64_t)control_byte(c, (uint64_t)off + i,
		    status_word) << (8 * i);
	return v;
}

unsigned
shmvdev_control_write(struct shmvdev_control *c, uint32_t off, unsigned len,
    uint64_t data, uint32_t *arg)
{
	unsigned act = SHMVDEV_NONE;
	uint32_t notify = 0;

	if (!c->detached && len_ok(len))
		for (unsigned i = 0; i < len; i++) {
			uint64_t o = (uint64_t)off + i;

			if (o >= C_NTF && o < C_DET) {
				put_byte32(&notify, o - C_NTF,
				    byte_of(data, i));
				act |= SHMVDEV_NOTIFY;
			} else if (o >= C_DET && o < C_END)
				act |= SHMVDEV_DETACH;
		}
	if (act & SHMVDEV_DETACH)
		c->detached = true;
	if (arg != NULL)
		*arg = notify;
	return act;
}
