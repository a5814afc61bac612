/* SPDX-License-Identifier: ISC */
/*
 * test_vdev_regs: the factory and control page decoders against an
 * independent byte-level model of the pages written from docs/DESIGN.md's
 * tables (literal offsets, one byte array per page), over every offset of
 * the structures and past them, every access length 0..9 (and 16), and
 * several data patterns; plus the scenarios guests produce: names copied
 * byte by byte, in halves of 16-byte stores or by unaligned 8-byte
 * stores, create/find results, read-and-clear of pending bits, partial
 * notify writes and accesses after detach.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "vdev_regs.h"

#define PAGE 4096u

/* Offsets straight from docs/DESIGN.md, deliberately not from the header. */
enum {
	M_SIG = 0x00, M_SHMEM = 0x08, M_VEC = 0x10, M_STAT = 0x14,
	M_SIZE = 0x18, M_NAME = 0x1C, M_FIND = 0x3C, M_END = 0x40,
	MC_STAT = 0x0, MC_IDX = 0x4, MC_NTF = 0x8, MC_DET = 0xC, MC_END = 0x10
};

static const uint8_t sig_bytes[8] = { 'Q', 'V', 'M', 'G', '2', 'G', 'S', 'M' };

/* Offsets probed: all of the structures and beyond, the page's end and
 * offsets whose access would wrap 32 bits. */
static const uint32_t far_offsets[] = {
	0x40, 0x41, 0x47, 0x48, 0x80, 0x7ff, 0xff0, 0xff8, 0xff9, 0xffc,
	0xfff, 0x1000, 0x1001, 0x2000, 0xfffffff8u, 0xfffffffcu, 0xffffffffu
};

#define NUM_LENS 11
static const unsigned lens[NUM_LENS] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 16 };

static const uint64_t patterns[] = {
	0x0000000000000000ULL, 0xffffffffffffffffULL, 0x8877665544332211ULL,
	0x0123456789abcdefULL
};

/* Every offset 0..0x4f, then the far ones; returns how many. */
#define MAX_OFFSETS 128
static size_t
probe_offsets(uint32_t out[MAX_OFFSETS])
{
	size_t n = 0;

	for (uint32_t o = 0; o < 0x50; o++)
		out[n++] = o;
	for (size_t k = 0; k < sizeof(far_offsets) / sizeof(far_offsets[0]);
	    k++)
		out[n++] = far_offsets[k];
	return n;
}

static void
put_le(uint8_t *p, uint32_t at, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[at + i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
get_le(const uint8_t *p, uint32_t at, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[at + i] << (8 * i);
	return v;
}

static bool
valid_len(unsigned len)
{
	return len >= 1 && len <= 8;
}

/*
 * What a write fired (act) and handed back (got) must be want and arg. The
 * callers start got out as arg's complement, so that a write that leaves
 * it alone is caught.
 */
static void
write_was(const char *page, uint32_t off, unsigned len, unsigned act,
    uint32_t got, unsigned want, uint32_t arg)
{
	if (act != want || got != arg)
		fail_msg("%s write off 0x%x len %u: act %u arg 0x%x, want %u "
		    "0x%x", page, off, len, act, got, want, arg);
}

static void
factory_write_is(struct shmvdev_factory *v, uint32_t off, unsigned len,
    uint64_t data, unsigned want, uint32_t arg)
{
	uint32_t got = ~arg;
	unsigned act = shmvdev_factory_write(v, off, len, data, &got);

	write_was("factory", off, len, act, got, want, arg);
}

static void
control_write_is(struct shmvdev_control *c, uint32_t off, unsigned len,
    uint64_t data, unsigned want, uint32_t arg)
{
	uint32_t got = ~arg;
	unsigned act = shmvdev_control_write(c, off, len, data, &got);

	write_was("control", off, len, act, got, want, arg);
}

/* Calls check for every probed offset, length and data pattern; returns
 * how many writes that was. */
static unsigned
probe_writes(void (*check)(uint32_t off, unsigned len, uint64_t data))
{
	uint32_t offs[MAX_OFFSETS];
	size_t noff = probe_offsets(offs);
	unsigned n = 0;

	for (size_t k = 0; k < noff; k++)
		for (int l = 0; l < NUM_LENS; l++)
			for (size_t p = 0; p < sizeof(patterns) /
			    sizeof(patterns[0]); p++) {
				check(offs[k], lens[l], patterns[p]);
				n++;
			}
	return n;
}

/* ---- factory model ---- */

struct fmodel {
	uint8_t page[PAGE];		/* what reads return */
};

/* A vdev and its model in the same, distinctive state. */
static void
factory_pair(struct shmvdev_factory *v, struct fmodel *m)
{
	memset(m, 0, sizeof(*m));
	shmvdev_factory_init(v, 0x99aabbccu);
	v->shmem = 0x1122334455667788ULL;
	v->status = 0xddeeff01u;
	v->size = 0x0badcafeu;
	for (int i = 0; i < 32; i++)
		v->name[i] = (uint8_t)(0xa0 + i);
	memcpy(m->page + M_SIG, sig_bytes, 8);
	put_le(m->page, M_SHMEM, 0x1122334455667788ULL, 8);
	put_le(m->page, M_VEC, 0x99aabbccu, 4);
	put_le(m->page, M_STAT, 0xddeeff01u, 4);
	put_le(m->page, M_SIZE, 0x0badcafeu, 4);
	for (int i = 0; i < 32; i++)
		m->page[M_NAME + i] = (uint8_t)(0xa0 + i);
}

static uint64_t
model_read(const uint8_t *page, uint32_t off, unsigned len)
{
	uint64_t v = 0;

	if (!valid_len(len))
		return 0;
	for (unsigned i = 0; i < len; i++) {
		uint64_t o = (uint64_t)off + i;

		if (o < PAGE)
			v |= (uint64_t)page[o] << (8 * i);
	}
	return v;
}

struct fexpect {
	unsigned act;
	uint32_t arg;
};

static struct fexpect
fmodel_write(struct fmodel *m, uint32_t off, unsigned len, uint64_t data)
{
	struct fexpect e = { SHMVDEV_NONE, 0 };
	uint8_t find[4] = { 0, 0, 0, 0 };

	if (!valid_len(len))
		return e;
	for (unsigned i = 0; i < len; i++) {
		uint64_t o = (uint64_t)off + i;
		uint8_t b = (uint8_t)(data >> (8 * i));

		if (o >= M_SIZE && o < M_FIND)
			m->page[o] = b;
		if (o >= M_SIZE && o < M_NAME)
			e.act |= SHMVDEV_CREATE;
		if (o >= M_FIND && o < M_END) {
			e.act |= SHMVDEV_FIND;
			find[o - M_FIND] = b;
		}
	}
	if (e.act == SHMVDEV_CREATE)
		e.arg = (uint32_t)get_le(m->page, M_SIZE, 4);
	else if (e.act == SHMVDEV_FIND)
		e.arg = (uint32_t)get_le(find, 0, 4);
	return e;
}

/* The vdev's state equals the model's, through its fields and its reads. */
static void
assert_factory_is(const struct shmvdev_factory *v, const struct fmodel *m)
{
	assert_true(v->shmem == get_le(m->page, M_SHMEM, 8));
	assert_int_equal(v->vector, get_le(m->page, M_VEC, 4));
	assert_int_equal(v->status, get_le(m->page, M_STAT, 4));
	assert_int_equal(v->size, get_le(m->page, M_SIZE, 4));
	assert_memory_equal(v->name, m->page + M_NAME, 32);
	for (uint32_t o = 0; o < 0x48; o++)
		assert_int_equal(shmvdev_factory_read(v, o, 1), m->page[o]);
}

static void
test_factory_init(void **state)
{
	struct shmvdev_factory v;

	(void)state;
	memset(&v, 0x5a, sizeof(v));
	shmvdev_factory_init(&v, 42);
	assert_true(shmvdev_factory_read(&v, 0, 8) == GUEST_SHM_SIGNATURE);
	assert_true(shmvdev_factory_read(&v, 8, 8) == 0);
	assert_int_equal(shmvdev_factory_read(&v, 0x10, 4), 42);
	assert_int_equal(shmvdev_factory_read(&v, 0x14, 4), GSS_OK);
	assert_int_equal(shmvdev_factory_read(&v, 0x18, 4), 0);
	for (uint32_t o = 0x1C; o < PAGE; o += 8)
		assert_true(shmvdev_factory_read(&v, o, 8) == 0);
	assert_int_equal(shmvdev_factory_name_len(&v), 1);
}

static void
test_factory_read_exhaustive(void **state)
{
	uint32_t offs[MAX_OFFSETS];
	size_t noff = probe_offsets(offs);
	struct shmvdev_factory v;
	struct fmodel m;
	unsigned n = 0;

	(void)state;
	factory_pair(&v, &m);
	for (size_t k = 0; k < noff; k++) {
		uint32_t off = offs[k];

		for (int l = 0; l < NUM_LENS; l++) {
			uint64_t want = model_read(m.page, off, lens[l]);

			if (shmvdev_factory_read(&v, off, lens[l]) != want)
				fail_msg("read off 0x%x len %u", off, lens[l]);
			n++;
		}
	}
	assert_true(n > 700);
	/* Reads change nothing. */
	assert_factory_is(&v, &m);
}

static void
test_factory_read_examples(void **state)
{
	struct shmvdev_factory v;
	struct fmodel m;

	(void)state;
	factory_pair(&v, &m);
	/* status and size in one 8-byte read */
	assert_true(shmvdev_factory_read(&v, 0x14, 8) == 0x0badcafeddeeff01ULL);
	/* name[28..31] and find, which reads 0 */
	assert_true(shmvdev_factory_read(&v, 0x38, 8) == 0x00000000bfbebdbcULL);
	assert_true(shmvdev_factory_read(&v, 0x3C, 4) == 0);
	assert_true(shmvdev_factory_read(&v, 0x40, 8) == 0);
	/* bytes past the page read 0 */
	assert_true(shmvdev_factory_read(&v, 0xffc, 8) == 0);
	assert_true(shmvdev_factory_read(&v, 0x4, 8) == 0x55667788U * 0x100000000ULL +
	    0x4d534732ULL);
	/* invalid lengths read 0, even where the page has data */
	assert_true(shmvdev_factory_read(&v, 0, 0) == 0);
	assert_true(shmvdev_factory_read(&v, 0, 9) == 0);
	assert_true(shmvdev_factory_read(&v, 0, 16) == 0);
	/* the odd lengths of a page-crossing fragment are served */
	assert_true(shmvdev_factory_read(&v, 0, 3) == 0x4d5651);
}

static void
factory_write_one(uint32_t off, unsigned len, uint64_t data)
{
	struct shmvdev_factory v;
	struct fmodel m;
	struct fexpect e;
	uint32_t arg = 0xdeadbeef;
	unsigned act;

	factory_pair(&v, &m);
	e = fmodel_write(&m, off, len, data);
	act = shmvdev_factory_write(&v, off, len, data, &arg);
	if (act != e.act || arg != e.arg)
		fail_msg("write off 0x%x len %u: act %u arg 0x%x, want %u 0x%x",
		    off, len, act, arg, e.act, e.arg);
	assert_factory_is(&v, &m);
	/* create and find never fire together */
	assert_true(act != (SHMVDEV_CREATE | SHMVDEV_FIND));
}

static void
test_factory_write_exhaustive(void **state)
{
	(void)state;
	assert_true(probe_writes(factory_write_one) > 2800);
}

/* Writes every byte of the page with every width and a NULL arg. */
static void
test_factory_write_null_arg(void **state)
{
	struct shmvdev_factory v;

	(void)state;
	shmvdev_factory_init(&v, 1);
	assert_int_equal(shmvdev_factory_write(&v, 0x18, 4, 5, NULL), SHMVDEV_CREATE);
	assert_int_equal(shmvdev_factory_write(&v, 0x3C, 4, 5, NULL), SHMVDEV_FIND);
	assert_int_equal(shmvdev_factory_write(&v, 0x1C, 4, 5, NULL), SHMVDEV_NONE);
	assert_int_equal(v.size, 5);
}

static void
test_signature_is_read_only(void **state)
{
	struct shmvdev_factory v;

	(void)state;
	shmvdev_factory_init(&v, 7);
	for (uint32_t o = 0; o < 0x18; o++)
		for (unsigned len = 1; len <= 8; len++) {
			uint32_t arg = 1;

			assert_int_equal(shmvdev_factory_write(&v, o, len,
			    ~0ULL, &arg), o + len > 0x18 ? SHMVDEV_CREATE :
			    SHMVDEV_NONE);
			assert_true(shmvdev_factory_read(&v, 0, 8) ==
			    GUEST_SHM_SIGNATURE);
			assert_true(shmvdev_factory_read(&v, 8, 8) == 0);
			assert_int_equal(shmvdev_factory_read(&v, 0x10, 4), 7);
			assert_int_equal(shmvdev_factory_read(&v, 0x14, 4), 0);
		}
}

/* ---- names as guests write them ---- */

static void
make_name(uint8_t out[32], const char *s)
{
	memset(out, 0, 32);
	memcpy(out, s, strlen(s));
}

/*
 * Copies name (32 bytes) to 0x1C like a memcpy: a head of `head` bytes,
 * then stores of `chunk` bytes, then the tail. Returns the actions fired.
 */
static unsigned
copy_name(struct shmvdev_factory *v, const uint8_t name[32], unsigned head,
    unsigned chunk)
{
	unsigned act = SHMVDEV_NONE, at = 0;

	if (head > 0) {
		act |= shmvdev_factory_write(v, M_NAME, head,
		    get_le(name, 0, head), NULL);
		at = head;
	}
	while (at < 32) {
		unsigned n = 32 - at < chunk ? 32 - at : chunk;

		act |= shmvdev_factory_write(v, M_NAME + at, n,
		    get_le(name, at, n), NULL);
		at += n;
	}
	return act;
}

static void
test_name_every_split(void **state)
{
	uint8_t name[32];

	(void)state;
	for (int i = 0; i < 32; i++)
		name[i] = (uint8_t)('A' + i);
	name[31] = '\0';
	for (unsigned chunk = 1; chunk <= 8; chunk++)
		for (unsigned head = 0; head < chunk; head++) {
			struct shmvdev_factory v;

			shmvdev_factory_init(&v, 0);
			memset(v.name, 0xee, 32);
			assert_int_equal(copy_name(&v, name, head, chunk),
			    SHMVDEV_NONE);
			assert_memory_equal(v.name, name, 32);
			assert_int_equal(shmvdev_factory_name_len(&v), 32);
			assert_int_equal(v.size, 0);
		}
}

/* `rep movsb`, 2 at a time, and a 16-byte store split by KVM into two
 * 8-byte writes (the second half unaligned like the first). */
static void
test_name_guest_patterns(void **state)
{
	struct shmvdev_factory v;
	uint8_t name[32];

	(void)state;
	make_name(name, "shared-ring-of-guest-A");
	shmvdev_factory_init(&v, 0);
	for (unsigned i = 0; i < 32; i++)
		assert_int_equal(shmvdev_factory_write(&v, 0x1C + i, 1, name[i],
		    NULL), SHMVDEV_NONE);
	assert_memory_equal(v.name, name, 32);
	assert_int_equal(shmvdev_factory_name_len(&v), 23);

	make_name(name, "two-at-a-time");
	shmvdev_factory_init(&v, 0);
	for (unsigned i = 0; i < 32; i += 2)
		shmvdev_factory_write(&v, 0x1C + i, 2, get_le(name, i, 2), NULL);
	assert_memory_equal(v.name, name, 32);

	make_name(name, "sixteen-bytes!!");	/* 15 + NUL: one xmm store */
	shmvdev_factory_init(&v, 0);
	memset(v.name, 0x77, 32);
	shmvdev_factory_write(&v, 0x1C, 8, get_le(name, 0, 8), NULL);
	shmvdev_factory_write(&v, 0x24, 8, get_le(name, 8, 8), NULL);
	assert_memory_equal(v.name, name, 16);
	assert_int_equal(shmvdev_factory_name_len(&v), 16);
}

/* An unaligned 8-byte store at 0x1B covers size's last byte and name[0..6]:
 * the name bytes are in place when the create it fires is returned. */
static void
test_name_store_over_size(void **state)
{
	struct shmvdev_factory v;
	uint8_t name[32];
	uint32_t arg = 0;

	(void)state;
	make_name(name, "abcdefghijklmn");
	shmvdev_factory_init(&v, 0);
	v.size = 0x00112233;
	factory_write_is(&v, 0x1B, 8, 0x44 | (get_le(name, 0, 7) << 8),
	    SHMVDEV_CREATE, 0x44112233);
	assert_memory_equal(v.name, "abcdefg", 7);
	assert_int_equal(shmvdev_factory_write(&v, 0x23, 8, get_le(name, 7, 8),
	    &arg), SHMVDEV_NONE);
	assert_memory_equal(v.name, name, 15);
	assert_int_equal(shmvdev_factory_name_len(&v), 15);
	/* name[28..31] with find: the name lands, find fires */
	factory_write_is(&v, 0x38, 8, 0x0000000900575958ULL, SHMVDEV_FIND, 9);
	assert_memory_equal(v.name + 28, "XYW", 4);
}

static void
test_name_len(void **state)
{
	struct shmvdev_factory v;

	(void)state;
	shmvdev_factory_init(&v, 0);
	memset(v.name, 'x', 32);
	assert_int_equal(shmvdev_factory_name_len(&v), 0);
	for (unsigned i = 0; i < 32; i++) {
		memset(v.name, 'x', 32);
		v.name[i] = '\0';
		assert_int_equal(shmvdev_factory_name_len(&v), i + 1);
	}
	/* Characters are the daemon's to judge: control bytes, spaces and
	 * bytes above 0x7e still count, only the NUL ends the name. */
	memcpy(v.name, "a b\x01\xff", 6);
	assert_int_equal(shmvdev_factory_name_len(&v), 6);
}

/* ---- triggers ---- */

static void
test_triggers_carry_values(void **state)
{
	struct shmvdev_factory v;
	uint32_t arg = 0;

	(void)state;
	shmvdev_factory_init(&v, 0);
	/* aligned 8-byte store at 0x18: size and name[0..3] */
	factory_write_is(&v, 0x18, 8, 0x0064636200000010ULL, SHMVDEV_CREATE,
	    0x10);
	assert_string_equal((const char *)v.name, "bcd");
	/* 8-byte store at 0x14: status ignored, size written */
	factory_write_is(&v, 0x14, 8, 0x00000020ffffffffULL, SHMVDEV_CREATE,
	    0x20);
	assert_int_equal(shmvdev_factory_read(&v, 0x14, 4), 0);
	/* byte stores into size keep the other bytes: the full value */
	factory_write_is(&v, 0x19, 1, 0x01, SHMVDEV_CREATE, 0x120);
	factory_write_is(&v, 0x1A, 2, 0x0302, SHMVDEV_CREATE, 0x03020120);
	/* find: unwritten bytes 0, nothing stored */
	factory_write_is(&v, 0x3E, 2, 0xabcd, SHMVDEV_FIND, 0xabcd0000);
	assert_int_equal(shmvdev_factory_read(&v, 0x3C, 4), 0);
	factory_write_is(&v, 0x3C, 8, ~0ULL, SHMVDEV_FIND, 0xffffffff);
	/* no trigger leaves arg 0 */
	factory_write_is(&v, 0x1C, 4, 1, SHMVDEV_NONE, 0);
	/* a page-crossing fragment of 3 bytes at the page's end: ignored */
	assert_int_equal(shmvdev_factory_write(&v, 0xffd, 3, ~0ULL, &arg),
	    SHMVDEV_NONE);
}

/* ---- results ---- */

static void
test_result_success(void **state)
{
	struct shmvdev_factory v;
	uint32_t arg = 0;

	(void)state;
	shmvdev_factory_init(&v, 3);
	shmvdev_factory_write(&v, 0x1C, 4, 0x00636261, NULL);
	assert_int_equal(shmvdev_factory_write(&v, 0x18, 4, 100, &arg),
	    SHMVDEV_CREATE);
	shmvdev_factory_result(&v, GSS_OK, 0x40000000ULL, 64);
	assert_int_equal(shmvdev_factory_read(&v, 0x14, 4), GSS_OK);
	assert_true(shmvdev_factory_read(&v, 0x08, 8) == 0x40000000ULL);
	assert_int_equal(shmvdev_factory_read(&v, 0x18, 4), 64);
	assert_string_equal((const char *)v.name, "abc");
	assert_int_equal(shmvdev_factory_read(&v, 0x10, 4), 3);
}

static void
test_result_failure(void **state)
{
	struct shmvdev_factory v;

	(void)state;
	shmvdev_factory_init(&v, 3);
	shmvdev_factory_write(&v, 0x18, 4, 8, NULL);
	shmvdev_factory_result(&v, GSS_OK, 0x40000000ULL, 8);
	for (uint32_t st = GSS_UNKNOWN_FAILURE; st <= GSS_DOES_NOT_EXIST;
	    st++) {
		shmvdev_factory_write(&v, 0x18, 4, 1000 + st, NULL);
		shmvdev_factory_result(&v, st, 0x7777000ULL, 1);
		assert_int_equal(shmvdev_factory_read(&v, 0x14, 4), st);
		assert_true(shmvdev_factory_read(&v, 0x08, 8) == 0x40000000ULL);
		assert_int_equal(shmvdev_factory_read(&v, 0x18, 4), 1000 + st);
	}
	/* a failed find keeps the size the last create left */
	shmvdev_factory_write(&v, 0x3C, 4, 1, NULL);
	shmvdev_factory_result(&v, GSS_DOES_NOT_EXIST, 0, 0);
	assert_int_equal(shmvdev_factory_read(&v, 0x18, 4), 1006);
	/* a status the guest's header does not name */
	shmvdev_factory_result(&v, 7, 0, 0);
	assert_int_equal(shmvdev_factory_read(&v, 0x14, 4), GSS_UNKNOWN_FAILURE);
	shmvdev_factory_result(&v, 0xffffffffu, 0, 0);
	assert_int_equal(shmvdev_factory_read(&v, 0x14, 4), GSS_UNKNOWN_FAILURE);
	/* success after failures */
	shmvdev_factory_result(&v, GSS_OK, 0x50000000ULL, 2);
	assert_int_equal(shmvdev_factory_read(&v, 0x14, 4), GSS_OK);
	assert_true(shmvdev_factory_read(&v, 0x08, 8) == 0x50000000ULL);
	assert_int_equal(shmvdev_factory_read(&v, 0x18, 4), 2);
}

/* ---- control page model ---- */

#define STATUS_WORD 0x8421beefu
#define CTRL_IDX 0x0000000bu

static uint64_t
cmodel_read(bool detached, uint32_t off, unsigned len, uint32_t word)
{
	uint8_t page[PAGE];

	memset(page, 0, sizeof(page));
	if (detached)
		return 0;
	put_le(page, MC_STAT, word, 4);
	put_le(page, MC_IDX, CTRL_IDX, 4);
	return model_read(page, off, len);
}

static uint32_t
cmodel_mask(bool detached, uint32_t off, unsigned len)
{
	uint32_t mask = 0;

	if (detached || !valid_len(len))
		return 0;
	for (unsigned i = 0; i < len; i++) {
		uint64_t o = (uint64_t)off + i;

		if (o == 0)
			mask |= 0x00ff;
		if (o == 1)
			mask |= 0xff00;
	}
	return mask;
}

static void
test_control_read_exhaustive(void **state)
{
	uint32_t offs[MAX_OFFSETS];
	size_t noff = probe_offsets(offs);

	(void)state;
	for (int d = 0; d < 2; d++)
		for (size_t k = 0; k < noff; k++) {
			uint32_t off = offs[k];

			for (int l = 0; l < NUM_LENS; l++) {
				struct shmvdev_control c;
				unsigned len = lens[l];

				shmvdev_control_init(&c, CTRL_IDX);
				c.detached = d;
				if (shmvdev_control_take_mask(&c, off, len) !=
				    cmodel_mask(d, off, len))
					fail_msg("mask off 0x%x len %u", off,
					    len);
				if (shmvdev_control_read(&c, off, len,
				    STATUS_WORD) != cmodel_read(d, off, len,
				    STATUS_WORD))
					fail_msg("read off 0x%x len %u", off,
					    len);
			}
		}
}

/*
 * A VMM's read of control status: take the mask's bits from the pending
 * word, format the word. For every (offset, length) over 0..0x10: bits
 * returned are cleared, no other bit is, bytes 2-3 alone clear nothing.
 */
static void
test_control_read_clear(void **state)
{
	(void)state;
	for (uint32_t off = 0; off <= 0x10; off++)
		for (unsigned len = 1; len <= 8; len++) {
			struct shmvdev_control c;
			uint32_t pending = 0xbeef, active = 0x8421, mask, old;
			uint64_t v;
			uint32_t returned = 0;

			shmvdev_control_init(&c, CTRL_IDX);
			mask = shmvdev_control_take_mask(&c, off, len);
			old = pending;
			pending &= ~mask;
			v = shmvdev_control_read(&c, off, len,
			    old | active << 16);
			for (unsigned i = 0; i < len; i++)
				if (off + i < 2)
					returned |= (uint32_t)((v >> (8 * i)) &
					    0xff) << (8 * (off + i));
			/* returned pending bits == cleared bits */
			assert_int_equal(returned, old & ~pending);
			assert_int_equal(pending, old & ~mask);
			if (off >= 2)
				assert_int_equal(pending, 0xbeef);
			if (off == 0 && len >= 2)
				assert_int_equal(pending, 0);
		}
}

static void
test_control_read_examples(void **state)
{
	struct shmvdev_control c;

	(void)state;
	shmvdev_control_init(&c, 5);
	assert_true(shmvdev_control_read(&c, 0, 8, 0x00030001) ==
	    0x0000000500030001ULL);
	assert_int_equal(shmvdev_control_take_mask(&c, 0, 8), 0xffff);
	assert_int_equal(shmvdev_control_take_mask(&c, 0, 4), 0xffff);
	assert_int_equal(shmvdev_control_take_mask(&c, 0, 1), 0x00ff);
	assert_int_equal(shmvdev_control_take_mask(&c, 1, 1), 0xff00);
	assert_int_equal(shmvdev_control_take_mask(&c, 1, 2), 0xff00);
	assert_int_equal(shmvdev_control_take_mask(&c, 2, 2), 0);
	assert_int_equal(shmvdev_control_take_mask(&c, 4, 4), 0);
	assert_int_equal(shmvdev_control_read(&c, 2, 2, 0x00030001), 3);
	assert_int_equal(shmvdev_control_read(&c, 4, 4, 0xffffffff), 5);
	assert_true(shmvdev_control_read(&c, 8, 8, 0xffffffff) == 0);
	assert_true(shmvdev_control_read(&c, 0x10, 8, 0xffffffff) == 0);
	assert_true(shmvdev_control_read(&c, 0, 9, 0xffffffff) == 0);
	assert_int_equal(shmvdev_control_take_mask(&c, 0, 0), 0);
	assert_int_equal(shmvdev_control_take_mask(&c, 0xffffffffu, 8), 0);
}

static void
cmodel_write(uint32_t off, unsigned len, uint64_t data, unsigned *act,
    uint32_t *notify)
{
	uint8_t n[4] = { 0, 0, 0, 0 };

	*act = SHMVDEV_NONE;
	if (valid_len(len))
		for (unsigned i = 0; i < len; i++) {
			uint64_t o = (uint64_t)off + i;

			if (o >= MC_NTF && o < MC_DET) {
				*act |= SHMVDEV_NOTIFY;
				n[o - MC_NTF] = (uint8_t)(data >> (8 * i));
			}
			if (o >= MC_DET && o < MC_END)
				*act |= SHMVDEV_DETACH;
		}
	*notify = (uint32_t)get_le(n, 0, 4);
}

static void
control_write_one(uint32_t off, unsigned len, uint64_t data)
{
	struct shmvdev_control c;
	unsigned act, want;
	uint32_t arg = 0xdeadbeef, notify;

	shmvdev_control_init(&c, CTRL_IDX);
	cmodel_write(off, len, data, &want, &notify);
	act = shmvdev_control_write(&c, off, len, data, &arg);
	if (act != want || arg != notify)
		fail_msg("write off 0x%x len %u", off, len);
	assert_int_equal(c.detached, (want & SHMVDEV_DETACH) != 0);
	assert_int_equal(c.idx, CTRL_IDX);
}

static void
test_control_write_exhaustive(void **state)
{
	(void)state;
	probe_writes(control_write_one);
}

/* Notify masks formed from partial stores; unwritten bytes are 0. */
static void
test_notify_partial(void **state)
{
	struct shmvdev_control c;

	(void)state;
	shmvdev_control_init(&c, 0);
	control_write_is(&c, 0x8, 1, 0x02, SHMVDEV_NOTIFY, 0x2);
	control_write_is(&c, 0x9, 1, 0x80, SHMVDEV_NOTIFY, 0x8000);
	control_write_is(&c, 0xA, 2, 0xffff, SHMVDEV_NOTIFY, 0xffff0000);
	control_write_is(&c, 0x8, 4, GUEST_SHM_NOTIFY_ALL, SHMVDEV_NOTIFY,
	    GUEST_SHM_NOTIFY_ALL);
	/* an unaligned 4-byte store from idx into notify */
	control_write_is(&c, 0x6, 4, 0x03020100, SHMVDEV_NOTIFY, 0x00000302);
	assert_false(c.detached);
	/* status and idx are read-only */
	control_write_is(&c, 0x0, 8, ~0ULL, SHMVDEV_NONE, 0);
	assert_int_equal(shmvdev_control_read(&c, 4, 4, 0), 0);
	assert_false(c.detached);
	assert_int_equal(shmvdev_control_write(&c, 0x8, 4, 1, NULL), SHMVDEV_NOTIFY);
}

static void
test_detach(void **state)
{
	struct shmvdev_control c;

	(void)state;
	shmvdev_control_init(&c, 3);
	control_write_is(&c, 0xC, 4, 0, SHMVDEV_DETACH, 0);
	assert_true(c.detached);
	/* every access to the detached page: 0, nothing taken, ignored */
	for (uint32_t off = 0; off < 0x18; off++)
		for (unsigned len = 1; len <= 8; len++) {
			assert_true(shmvdev_control_read(&c, off, len, ~0u) == 0);
			assert_int_equal(shmvdev_control_take_mask(&c, off, len),
			    0);
			control_write_is(&c, off, len, ~0ULL, SHMVDEV_NONE, 0);
		}
	/* a later attach reuses the page */
	shmvdev_control_init(&c, 4);
	assert_int_equal(shmvdev_control_read(&c, 4, 4, 0), 4);
	/* one byte of detach is enough, any value */
	assert_int_equal(shmvdev_control_write(&c, 0xF, 1, 0x00, NULL),
	    SHMVDEV_DETACH);
	assert_true(c.detached);
}

/* An 8-byte store at 0x8 notifies and detaches: both are reported. */
static void
test_notify_and_detach(void **state)
{
	struct shmvdev_control c;

	(void)state;
	shmvdev_control_init(&c, 1);
	control_write_is(&c, 0x8, 8, 0x00000001fffffffeULL, SHMVDEV_NOTIFY |
	    SHMVDEV_DETACH, 0xfffffffe);
	assert_true(c.detached);
}

static void
test_le_helpers(void **state)
{
	uint8_t b[9];

	(void)state;
	memset(b, 0xcc, sizeof(b));
	shmvdev_store_le(b, 3, 0x0000000000a1b2c3ULL);
	assert_int_equal(b[0], 0xc3);
	assert_int_equal(b[1], 0xb2);
	assert_int_equal(b[2], 0xa1);
	assert_int_equal(b[3], 0xcc);
	assert_int_equal(shmvdev_load_le(b, 3), 0xa1b2c3);
	assert_int_equal(shmvdev_load_le(b, 0), 0);
	shmvdev_store_le(b, 9, 0x0807060504030201ULL);
	assert_int_equal(b[8], 0xcc);
	assert_true(shmvdev_load_le(b, 9) == 0x0807060504030201ULL);
	assert_true(shmvdev_load_le(b, 8) == 0x0807060504030201ULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_factory_init),
		cmocka_unit_test(test_factory_read_exhaustive),
		cmocka_unit_test(test_factory_read_examples),
		cmocka_unit_test(test_factory_write_exhaustive),
		cmocka_unit_test(test_factory_write_null_arg),
		cmocka_unit_test(test_signature_is_read_only),
		cmocka_unit_test(test_name_every_split),
		cmocka_unit_test(test_name_guest_patterns),
		cmocka_unit_test(test_name_store_over_size),
		cmocka_unit_test(test_name_len),
		cmocka_unit_test(test_triggers_carry_values),
		cmocka_unit_test(test_result_success),
		cmocka_unit_test(test_result_failure),
		cmocka_unit_test(test_control_read_exhaustive),
		cmocka_unit_test(test_control_read_clear),
		cmocka_unit_test(test_control_read_examples),
		cmocka_unit_test(test_control_write_exhaustive),
		cmocka_unit_test(test_notify_partial),
		cmocka_unit_test(test_detach),
		cmocka_unit_test(test_notify_and_detach),
		cmocka_unit_test(test_le_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
