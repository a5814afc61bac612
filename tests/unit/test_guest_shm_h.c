/* SPDX-License-Identifier: ISC */
/*
 * test_guest_shm_h: the guest header qvm/guest_shm.h at run time: the ABI
 * layout against the literal offsets of docs/DESIGN.md, the QNX-compatible
 * helpers and the name-copying helpers against a plain memory factory,
 * and a guest's byte-at-a-time name copy replayed into the vdev decoder.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "qvm/guest_shm.h"
#include "vdev_regs.h"

static void
test_factory_layout(void **state)
{
	(void)state;
	assert_int_equal(offsetof(struct guest_shm_factory, signature), 0x00);
	assert_int_equal(offsetof(struct guest_shm_factory, shmem), 0x08);
	assert_int_equal(offsetof(struct guest_shm_factory, vector), 0x10);
	assert_int_equal(offsetof(struct guest_shm_factory, status), 0x14);
	assert_int_equal(offsetof(struct guest_shm_factory, size), 0x18);
	assert_int_equal(offsetof(struct guest_shm_factory, name), 0x1C);
	assert_int_equal(offsetof(struct guest_shm_factory, find), 0x3C);
	assert_int_equal(sizeof(struct guest_shm_factory), 0x40);
	assert_int_equal(sizeof(((struct guest_shm_factory *)0)->name), 32);
}

static void
test_control_layout(void **state)
{
	(void)state;
	assert_int_equal(offsetof(struct guest_shm_control, status), 0x0);
	assert_int_equal(offsetof(struct guest_shm_control, idx), 0x4);
	assert_int_equal(offsetof(struct guest_shm_control, notify), 0x8);
	assert_int_equal(offsetof(struct guest_shm_control, detach), 0xC);
	assert_int_equal(sizeof(struct guest_shm_control), 0x10);
}

static void
test_constants(void **state)
{
	uint64_t sig = GUEST_SHM_SIGNATURE;
	uint8_t bytes[8];

	(void)state;
	/* Little-endian in the page, the signature spells "QVMG2GSM". */
	for (int i = 0; i < 8; i++)
		bytes[i] = (uint8_t)(sig >> (8 * i));
	assert_memory_equal(bytes, "QVMG2GSM", 8);
	assert_true(sig == 0x4d534732474d5651ULL);
	assert_int_equal(GUEST_SHM_MAX_CLIENTS, 16);
	assert_int_equal(GUEST_SHM_MAX_NAME, 32);
	assert_int_equal(GUEST_SHM_PAGE_SIZE, 4096);
	assert_int_equal(PCI_VID_BlackBerry_QNX, 0x1C05);
	assert_int_equal(PCI_DID_QNX_GUEST_SHM, 0x0001);
	assert_int_equal(GSS_OK, 0);
	assert_int_equal(GSS_UNKNOWN_FAILURE, 1);
	assert_int_equal(GSS_NOMEM, 2);
	assert_int_equal(GSS_CLIENT_MAX, 3);
	assert_int_equal(GSS_ILLEGAL_NAME, 4);
	assert_int_equal(GSS_NO_PERMISSION, 5);
	assert_int_equal(GSS_DOES_NOT_EXIST, 6);
	assert_int_equal(GUEST_SHM_PENDING(0xabcd1234u), 0x1234);
	assert_int_equal(GUEST_SHM_ACTIVE(0xabcd1234u), 0xabcd);
	assert_int_equal(GUEST_SHM_NOTIFY_ALL, 0xffffffffu);
}

/* A factory in plain memory, filled with a sentinel. */
static void
fill(struct guest_shm_factory *f)
{
	memset(f, 0xAA, sizeof(*f));
}

static void
assert_untouched_from(const struct guest_shm_factory *f, size_t from)
{
	const uint8_t *p = (const uint8_t *)f;

	for (size_t i = from; i < sizeof(*f); i++)
		assert_int_equal(p[i], 0xAA);
}

static void
test_qnx_create_and_find(void **state)
{
	struct guest_shm_factory f;

	(void)state;
	fill(&f);
	guest_shm_create(&f, 0x12345678u);
	assert_int_equal(f.size, 0x12345678u);
	assert_int_equal(f.find, 0xAAAAAAAAu);
	guest_shm_find(&f, 7);
	assert_int_equal(f.find, 7);
	assert_int_equal(f.size, 0x12345678u);
	assert_int_equal(f.name[0], (char)0xAA);
}

static void
test_create_named(void **state)
{
	struct guest_shm_factory f;

	(void)state;
	fill(&f);
	f.status = GSS_NOMEM;
	assert_int_equal(guest_shm_create_named(&f, "ring0", 16), GSS_NOMEM);
	assert_int_equal(f.size, 16);
	assert_string_equal(f.name, "ring0");
	assert_int_equal(f.name[5], '\0');
	/* Only the name and its NUL are stored: fewer exits. */
	assert_int_equal((uint8_t)f.name[6], 0xAA);
	assert_int_equal(f.find, 0xAAAAAAAAu);
	assert_true(f.signature == 0xAAAAAAAAAAAAAAAAULL);
}

static void
test_find_named(void **state)
{
	struct guest_shm_factory f;

	(void)state;
	fill(&f);
	f.status = GSS_DOES_NOT_EXIST;
	assert_int_equal(guest_shm_find_named(&f, "x"), GSS_DOES_NOT_EXIST);
	assert_int_equal(f.find, 0);
	assert_string_equal(f.name, "x");
	assert_int_equal(f.size, 0xAAAAAAAAu);
}

static void
test_name_lengths(void **state)
{
	char name[40];
	struct guest_shm_factory f;

	(void)state;
	/* 31 characters fit with the NUL. */
	memset(name, 'n', sizeof(name));
	name[31] = '\0';
	fill(&f);
	f.status = GSS_OK;
	assert_int_equal(guest_shm_create_named(&f, name, 1), GSS_OK);
	assert_memory_equal(f.name, name, 32);
	/* 32 characters do not: refused without touching the factory. */
	name[31] = 'n';
	name[32] = '\0';
	fill(&f);
	assert_int_equal(guest_shm_create_named(&f, name, 1), GSS_ILLEGAL_NAME);
	assert_untouched_from(&f, 0);
	assert_int_equal(guest_shm_find_named(&f, name), GSS_ILLEGAL_NAME);
	assert_untouched_from(&f, 0);
	/* The empty name is the vdev's and daemon's to judge. */
	fill(&f);
	f.status = GSS_ILLEGAL_NAME;
	assert_int_equal(guest_shm_create_named(&f, "", 1), GSS_ILLEGAL_NAME);
	assert_int_equal(f.name[0], '\0');
	assert_int_equal(f.size, 1);
}

/*
 * A guest copies the name with byte stores and triggers create; replaying
 * the stores of the plain-memory factory into the decoder, in address
 * order and one byte per exit as `rep movsb` would, gives the same name
 * and a create with the same size.
 */
static void
test_replay_into_vdev(void **state)
{
	struct guest_shm_factory g;
	struct shmvdev_factory v;
	const uint8_t *img = (const uint8_t *)&g;
	uint32_t arg = 0;
	unsigned act = SHMVDEV_NONE;

	(void)state;
	memset(&g, 0, sizeof(g));
	g.signature = GUEST_SHM_SIGNATURE;
	guest_shm_set_name(&g, "replayed-name");
	shmvdev_factory_init(&v, 33);
	for (uint32_t o = offsetof(struct guest_shm_factory, name);
	    o < offsetof(struct guest_shm_factory, find); o++)
		act |= shmvdev_factory_write(&v, o, 1, img[o], &arg);
	assert_int_equal(act, SHMVDEV_NONE);
	guest_shm_create(&g, 64);
	act = shmvdev_factory_write(&v, 0x18, 4, g.size, &arg);
	assert_int_equal(act, SHMVDEV_CREATE);
	assert_int_equal(arg, 64);
	assert_int_equal(shmvdev_factory_name_len(&v), sizeof("replayed-name"));
	assert_memory_equal(v.name, "replayed-name", sizeof("replayed-name"));
	for (uint32_t o = 0; o < offsetof(struct guest_shm_factory, find); o++)
		if (o < 0x08 || o >= 0x18)
			assert_int_equal(shmvdev_factory_read(&v, o, 1), img[o]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_factory_layout),
		cmocka_unit_test(test_control_layout),
		cmocka_unit_test(test_constants),
		cmocka_unit_test(test_qnx_create_and_find),
		cmocka_unit_test(test_create_named),
		cmocka_unit_test(test_find_named),
		cmocka_unit_test(test_name_lengths),
		cmocka_unit_test(test_replay_into_vdev),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
