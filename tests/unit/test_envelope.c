/* SPDX-License-Identifier: ISC */
/*
 * test_envelope: proto/envelope.c packs every body of both envelopes to
 * protobuf-c's bytes, and unpacks what protobuf-c unpacks, refuses what it
 * refuses: those packs, hand-made edge cases, and a few hundred thousand
 * seeded mutations of them (fuzz_envelope does the same without end).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "envelope.h"
#include "envelope_diff.h"
#include "flat.h"
#include "wire.h"

#define MUTATIONS 300000

static const ProtobufCMessageDescriptor *const envelopes[] = {
	&shmbroker__client_message__descriptor,
	&shmbroker__server_message__descriptor,
};

static void
assert_diff(const ProtobufCMessageDescriptor *d, const uint8_t *buf,
    size_t len)
{
	char why[160];

	if (envelope_diff(d, buf, len, why, sizeof(why)) < 0)
		fail_msg("%s, %zu bytes: %s", d->name, len, why);
}

/* The envelope m with its body a fresh body of field f, packed both ways. */
static size_t
pack_both(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
    uint8_t *out)
{
	static uint8_t theirs[WIRE_MAX_MESSAGE];
	size_t len = protobuf_c_message_get_packed_size(m);
	ssize_t n;

	assert_true(len <= WIRE_MAX_MESSAGE);
	assert_int_equal(protobuf_c_message_pack(m, theirs), len);
	n = envelope_pack(m, out);
	if (n != (ssize_t)len || memcmp(out, theirs, len) != 0)
		fail_msg("%s with body %s: %zd bytes, protobuf-c %zu (or other "
		    "bytes)", m->descriptor->name, f != NULL ? f->name : "none",
		    n, len);
	return len;
}

static void
test_shape(void **state)
{
	/* Every body of the VMM service's requests, replies and events. */
	static const ProtobufCMessageDescriptor *const vmm[] = {
		&shmbroker__hello__descriptor,
		&shmbroker__hello_reply__descriptor,
		&shmbroker__attach__descriptor,
		&shmbroker__attach_reply__descriptor,
		&shmbroker__notify__descriptor,
		&shmbroker__notify_reply__descriptor,
		&shmbroker__read_status__descriptor,
		&shmbroker__read_status_reply__descriptor,
		&shmbroker__detach__descriptor,
		&shmbroker__detach_reply__descriptor,
		&shmbroker__peer_changed__descriptor,
		&shmbroker__client_revoked__descriptor,
	};
	const ProtobufCMessageDescriptor *list =
	    &shmbroker__admin_list_reply__descriptor;

	(void)state;
	size_t heads;

	for (size_t i = 0; i < sizeof(envelopes) / sizeof(envelopes[0]); i++) {
		assert_true(flat_is_envelope(envelopes[i], &heads));
		assert_int_equal(heads, i == 0 ? 1 : 3);
		assert_false(flat_is(envelopes[i]));
	}
	assert_false(flat_is_envelope(&shmbroker__attach_reply__descriptor,
	    &heads));
	assert_false(flat_is_envelope(list, &heads));
	for (size_t i = 0; i < sizeof(vmm) / sizeof(vmm[0]); i++)
		assert_true(flat_is(vmm[i]));
	assert_false(flat_is(list));
	assert_false(flat_is(&shmbroker__admin_stats_reply__descriptor));
}

/* envelope_make's envelope, packed into out both ways, which must agree. */
static size_t
pack_form(const ProtobufCMessageDescriptor *d,
    const ProtobufCFieldDescriptor *f, enum envelope_form form, size_t h,
    uint8_t *out)
{
	const ProtobufCMessageDescriptor *bd = f->descriptor;
	struct envelope_mem mem;
	ProtobufCMessage *m = envelope_make(&mem, d, f, form, h);

	/* FULL means what it says: no field of a flat body left out */
	for (unsigned i = 0; form == ENVELOPE_FULL && flat_is(bd) &&
	    i < bd->n_fields; i++)
		if (flat_value(&bd->fields[i], mem.body +
		    bd->fields[i].offset) == 0)
			fail_msg("%s: field %s left empty", bd->name,
			    bd->fields[i].name);
	return pack_both(m, f, out);
}

/* Every body in every form, under varied heads; then unpacked back. */
static void
test_every_body(void **state)
{
	static uint8_t buf[WIRE_MAX_MESSAGE];
	size_t len, h = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(envelopes) / sizeof(envelopes[0]); i++) {
		const ProtobufCMessageDescriptor *d = envelopes[i];

		for (unsigned k = 0; k < d->n_fields; k++) {
			if (!(d->fields[k].flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
				continue;
			for (int form = 0; form < ENVELOPE_FORMS; form++,
			    h++) {
				len = pack_form(d, &d->fields[k],
				    (enum envelope_form)form, h, buf);
				assert_diff(d, buf, len);
			}
		}
	}
}

/* A reason too long for one datagram: -EMSGSIZE, as wire_pack said. */
static void
test_too_long(void **state)
{
	static uint8_t buf[WIRE_MAX_MESSAGE];
	Shmbroker__ServerMessage sm = SHMBROKER__SERVER_MESSAGE__INIT;
	char *huge = malloc(WIRE_MAX_MESSAGE + 1);

	(void)state;
	assert_non_null(huge);
	memset(huge, 'e', WIRE_MAX_MESSAGE);
	huge[WIRE_MAX_MESSAGE] = '\0';
	sm.message = huge;
	assert_int_equal(envelope_pack(&sm.base, buf), -EMSGSIZE);
	huge[WIRE_MAX_MESSAGE - 4] = '\0';
	assert_int_equal(envelope_pack(&sm.base, buf), WIRE_MAX_MESSAGE - 4 +
	    1 + 3);
	free(huge);
}

/*
 * A case a caller set to a head field's number (nothing unpacks so): no
 * body, as protobuf-c packs it, and the message frees.
 */
static void
test_case_of_a_head(void **state)
{
	static uint8_t buf[WIRE_MAX_MESSAGE], theirs[WIRE_MAX_MESSAGE];
	Shmbroker__ClientMessage *cm = malloc(sizeof(*cm));
	Shmbroker__ServerMessage *sm = malloc(sizeof(*sm));
	size_t len;

	(void)state;
	assert_non_null(cm);
	assert_non_null(sm);
	shmbroker__client_message__init(cm);
	cm->id = 0x1234;
	cm->body_case = (Shmbroker__ClientMessage__BodyCase)1;
	len = protobuf_c_message_pack(&cm->base, theirs);
	assert_int_equal(wire_pack(&cm->base, buf), len);
	assert_memory_equal(buf, theirs, len);
	wire_free_client(cm);
	for (int c = 1; c <= 3; c++) {
		shmbroker__server_message__init(sm);
		sm->error = SHMBROKER__ERROR__ERR_BUSY;
		sm->message = strdup("in use");
		assert_non_null(sm->message);
		sm->body_case = (Shmbroker__ServerMessage__BodyCase)c;
		len = protobuf_c_message_pack(&sm->base, theirs);
		assert_int_equal(wire_pack(&sm->base, buf), len);
		assert_memory_equal(buf, theirs, len);
		free(sm->message);
	}
	sm->message = NULL;
	wire_free_server(sm);
}

/* bytes of a ServerMessage with an error string and body: the AttachReply
 * (flat) or an AdminListReply of two regions (protobuf-c's) */
static size_t
pack_reply(uint8_t *buf, bool list)
{
	Shmbroker__ServerMessage sm = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__AttachReply ar = SHMBROKER__ATTACH_REPLY__INIT;
	Shmbroker__AdminListReply lr = SHMBROKER__ADMIN_LIST_REPLY__INIT;
	Shmbroker__RegionInfo ri[2] = { SHMBROKER__REGION_INFO__INIT,
	    SHMBROKER__REGION_INFO__INIT };
	Shmbroker__RegionInfo *rp[2] = { &ri[0], &ri[1] };

	sm.id = 77;
	sm.message = "kept";
	if (list) {
		ri[0].name = "first";
		ri[1].name = "second";
		lr.n_regions = 2;
		lr.regions = rp;
		sm.body_case = SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_LIST;
		sm.admin_list = &lr;
	} else {
		ar.client_id = 12345;
		sm.body_case = SHMBROKER__SERVER_MESSAGE__BODY_ATTACH;
		sm.attach = &ar;
	}
	return (size_t)wire_pack(&sm.base, buf);
}

/*
 * A scratch holds one message at a time: the next while it does goes on
 * the heap, wire_done_* lets go of either, and wire_keep_server copies the
 * scratch's to the heap (for free_unpacked), even one that packs to more
 * than a datagram, and frees the scratch. A body protobuf-c unpacked into
 * it is freed with it (ASan's leak check).
 */
static void
test_scratch(void **state)
{
	static uint8_t buf[WIRE_MAX_MESSAGE];
	struct wire_scratch *s = wire_scratch_new();
	Shmbroker__ServerMessage *in, *heap, *kept;

	(void)state;
	assert_non_null(s);
	for (int list = 0; list < 2; list++) {
		size_t len = pack_reply(buf, list);

		in = wire_unpack_server_in(s, buf, len);
		heap = wire_unpack_server_in(s, buf, len);
		assert_non_null(in);
		assert_non_null(heap);
		assert_ptr_not_equal(in, heap);
		assert_ptr_equal(wire_keep_server(s, heap), heap);
		kept = wire_keep_server(s, in);
		assert_non_null(kept);
		assert_ptr_not_equal(kept, in);
		assert_int_equal(kept->id, 77);
		assert_string_equal(kept->message, "kept");
		if (list)
			assert_string_equal(kept->admin_list->regions[1]->name,
			    "second");
		else
			assert_int_equal(kept->attach->client_id, 12345);
		/* free again: the next goes where the first went */
		assert_ptr_equal(wire_unpack_server_in(s, buf, len), in);
		assert_int_equal(in->body_case, kept->body_case);
		shmbroker__server_message__free_unpacked(kept, NULL);
		wire_done_server(s, heap);
		wire_done_server(s, in);
	}
	/* A reply that packs to more than it came in: its error, -1, sent
	 * in 5 bytes instead of 10, and a message filling the datagram. */
	{
		size_t len = 0, fill = WIRE_MAX_MESSAGE - 10;

		memcpy(buf, "\x10\xff\xff\xff\xff\x0f\x1a", 7);
		len = 7;
		buf[len++] = (uint8_t)(fill | 0x80);
		buf[len++] = (uint8_t)(fill >> 7 | 0x80);
		buf[len++] = (uint8_t)(fill >> 14);
		memset(buf + len, 'm', fill);
		len += fill;
		assert_int_equal(len, WIRE_MAX_MESSAGE);
		in = wire_unpack_server_in(s, buf, len);
		assert_non_null(in);
		assert_int_equal((int)in->error, -1);
		kept = wire_keep_server(s, in);
		assert_non_null(kept);
		assert_int_equal((int)kept->error, -1);
		assert_int_equal(strlen(kept->message), fill);
		wire_free_server(kept);
	}
	/* A body of protobuf-c's with an unknown field of number 0 in a
	 * two-byte tag, which protobuf-c takes and would repack as a tag it
	 * refuses: kept by moving the body over, not by the wire. */
	{
		static const uint8_t odd[] = { 0x08, 0x05, 0xb2, 0x02, 0x03,
		    0x82, 0x00, 0x00 };
		Shmbroker__AdminTenantsReply *body;

		memcpy(buf, odd, sizeof(odd));
		in = wire_unpack_server_in(s, buf, sizeof(odd));
		assert_non_null(in);
		assert_int_equal(in->body_case,
		    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_TENANTS);
		body = in->admin_tenants;
		assert_int_equal(body->base.n_unknown_fields, 1);
		kept = wire_keep_server(s, in);
		assert_non_null(kept);
		assert_int_equal(kept->id, 5);
		assert_ptr_equal(kept->admin_tenants, body);
		shmbroker__server_message__free_unpacked(kept, NULL);
	}
	/* one still held when the scratch goes */
	assert_non_null(wire_unpack_server_in(s, buf, pack_reply(buf, true)));
	wire_scratch_free(s);
}

struct edge {
	const char *what;
	size_t len;
	uint8_t b[24];
};

/* Bytes where a decoder written apart could part from protobuf-c's. */
static const struct edge edges[] = {
	{ "empty", 0, { 0 } },
	{ "field 0", 2, { 0x00, 0x01 } },
	{ "field 0 in two bytes", 3, { 0x80, 0x00, 0x01 } },
	{ "unknown varint", 2, { 0x10, 0x05 } },
	{ "unknown 64-bit", 9, { 0x11, 1, 2, 3, 4, 5, 6, 7, 8 } },
	{ "unknown 64-bit cut", 5, { 0x11, 1, 2, 3, 4 } },
	{ "unknown 32-bit", 5, { 0x15, 1, 2, 3, 4 } },
	{ "unknown bytes", 4, { 0x12, 0x02, 0xaa, 0xbb } },
	{ "start group", 2, { 0x13, 0x00 } },
	{ "end group", 1, { 0x14 } },
	{ "wire type 6", 2, { 0x16, 0x00 } },
	{ "wire type 7", 2, { 0x17, 0x00 } },
	{ "id as bytes", 3, { 0x0a, 0x01, 0x00 } },
	{ "id as 64-bit", 9, { 0x09, 1, 0, 0, 0, 0, 0, 0, 0 } },
	{ "id of 10 bytes", 11, { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0x7f } },
	{ "id of 11 bytes", 12, { 0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
	    0x80, 0x80, 0x80, 0x80, 0x00 } },
	{ "id unterminated", 3, { 0x08, 0x80, 0x80 } },
	{ "id twice", 4, { 0x08, 0x01, 0x08, 0x02 } },
	{ "error of 5 bytes, negative", 6, { 0x10, 0xff, 0xff, 0xff, 0xff,
	    0x0f } },
	{ "error as bytes", 3, { 0x12, 0x01, 0x00 } },
	{ "message with a NUL", 5, { 0x1a, 0x03, 'a', 0x00, 'b' } },
	{ "message twice", 8, { 0x1a, 0x02, 'a', 'b', 0x1a, 0x02, 'c',
	    'd' } },
	{ "message as varint", 2, { 0x18, 0x01 } },
	{ "body empty", 2, { 0x5a, 0x00 } },
	{ "body as varint", 2, { 0x58, 0x01 } },
	{ "body cut short", 3, { 0x5a, 0x05, 0x08 } },
	{ "length of 6 bytes", 8, { 0x5a, 0x80, 0x80, 0x80, 0x80, 0x80,
	    0x00, 0x00 } },
	{ "length over INT_MAX", 7, { 0x5a, 0xff, 0xff, 0xff, 0xff, 0x0f,
	    0x00 } },
	{ "body bad inside", 4, { 0x5a, 0x02, 0x08, 0x80 } },
	{ "two bodies", 6, { 0x5a, 0x02, 0x08, 0x01, 0x62, 0x00 } },
	{ "same body twice", 8, { 0x5a, 0x02, 0x08, 0x01, 0x5a, 0x02, 0x10,
	    0x02 } },
	{ "good body, then a bad one", 6, { 0x5a, 0x00, 0x62, 0x02, 0x08,
	    0x80 } },
	{ "tag of 5 bytes", 7, { 0xf8, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x00 } },
	{ "tag of 6 bytes", 7, { 0xf8, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00 } },
	{ "tag unterminated", 2, { 0x88, 0x80 } },
	{ "admin body", 4, { 0xf2, 0x01, 0x00, 0x08 } },
	/* a bool (Attach.create, AttachReply.created) is true when any
	 * byte after its tag has a value bit, whatever the wire type */
	{ "bool 3 as 32-bit", 7, { 0x5a, 0x05, 0x1d, 0x00, 0x01, 0x00,
	    0x00 } },
	{ "bool 9 as 32-bit", 7, { 0x5a, 0x05, 0x4d, 0x00, 0x00, 0x00,
	    0x02 } },
	{ "bool 3 as 64-bit", 11, { 0x5a, 0x09, 0x19, 0, 0, 0, 0, 0, 0, 0,
	    0x80 } },
	{ "bool 9 as empty bytes", 4, { 0x5a, 0x02, 0x4a, 0x00 } },
	{ "bool 3 as bytes of a zero", 5, { 0x5a, 0x03, 0x1a, 0x01, 0x00 } },
	{ "bool 9, value past bit 63", 13, { 0x5a, 0x0b, 0x48, 0x80, 0x80,
	    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02 } },
	{ "bool 3 of two zero bytes", 5, { 0x5a, 0x03, 0x18, 0x80, 0x00 } },
	{ "uint32 past 32 bits", 9, { 0x5a, 0x07, 0x10, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0x01 } },
	{ "bytes name twice", 10, { 0x5a, 0x08, 0x0a, 0x02, 'a', 'b', 0x0a,
	    0x01, 'c', 0x00 } },
	{ "bytes name empty", 4, { 0x5a, 0x02, 0x0a, 0x00 } },
};

/* A scratch message let go twice: the second release must crash (its
 * descriptor was cleared), not free storage that is not the heap's. */
static void
test_scratch_twice(void **state)
{
	static uint8_t buf[WIRE_MAX_MESSAGE];
	int status = 0;
	pid_t pid;

	(void)state;
	if ((pid = fork()) == 0) {
		struct wire_scratch *s = wire_scratch_new();
		size_t len = pack_reply(buf, 0);
		Shmbroker__ServerMessage *in;

		if (s == NULL ||
		    (in = wire_unpack_server_in(s, buf, len)) == NULL)
			_exit(2);
		wire_done_server(s, in);
		wire_done_server(s, in);
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}


static void
test_edges(void **state)
{
	(void)state;
	for (size_t e = 0; e < sizeof(edges) / sizeof(edges[0]); e++)
		for (size_t i = 0; i < sizeof(envelopes) / sizeof(envelopes[0]);
		    i++)
			assert_diff(envelopes[i], edges[e].b, edges[e].len);
}


#define SOURCE_MAX 1024	/* bytes of a source to mutate */

struct source {
	const ProtobufCMessageDescriptor *d;
	size_t len;
	uint8_t b[SOURCE_MAX];
};

/* The edges under either envelope, and every body of each, a flat one
 * with every field set. */
static size_t
mutation_sources(struct source *src, size_t cap)
{
	static uint8_t buf[WIRE_MAX_MESSAGE];
	size_t n = 0, len;

	for (size_t i = 0; i < sizeof(envelopes) / sizeof(envelopes[0]); i++) {
		const ProtobufCMessageDescriptor *d = envelopes[i];

		for (size_t e = 0; e < sizeof(edges) / sizeof(edges[0]) &&
		    n < cap; e++, n++) {
			src[n].d = d;
			src[n].len = edges[e].len;
			memcpy(src[n].b, edges[e].b, edges[e].len);
		}
		for (unsigned k = 0; k < d->n_fields && n < cap; k++) {
			if (!(d->fields[k].flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
				continue;
			len = pack_form(d, &d->fields[k], ENVELOPE_FULL, k + 2,
			    buf);
			assert_true(len <= SOURCE_MAX);
			src[n].d = d;
			src[n].len = len;
			memcpy(src[n++].b, buf, len);
		}
	}
	return n;
}

/* xorshift64*: the same mutations on every run. */
static uint64_t
next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/* Seeded mutations: bytes inserted, cut off the end, bits flipped. */
static void
test_mutations(void **state)
{
	static struct source src[160];	/* static: 160 KiB */
	size_t ns = mutation_sources(src, sizeof(src) / sizeof(src[0]));
	uint64_t seed = 0x5eed5eed5eedULL;
	uint8_t buf[SOURCE_MAX + 8];
	size_t len;

	(void)state;
	assert_true(ns < sizeof(src) / sizeof(src[0]));
	for (unsigned n = 0; n < MUTATIONS; n++) {
		uint64_t r = next_rand(&seed);
		const struct source *s = &src[r % ns];

		len = s->len;
		memcpy(buf, s->b, len);
		for (unsigned k = 0; k < 1 + (r >> 32) % 3; k++) {
			r = next_rand(&seed);
			if (r % 4 == 0 && len < sizeof(buf))
				buf[len++] = (uint8_t)(r >> 16);
			else if (r % 4 == 1 && len > 0)
				len--;
			else if (len > 0)
				buf[(r >> 16) % len] ^=
				    (uint8_t)(1 << (r >> 40) % 8);
		}
		assert_diff(s->d, buf, len);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shape),
		cmocka_unit_test(test_every_body),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_case_of_a_head),
		cmocka_unit_test(test_scratch),
		cmocka_unit_test(test_scratch_twice),
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
