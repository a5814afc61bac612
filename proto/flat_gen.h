/* SPDX-License-Identifier: ISC */
/*
 * flat_gen: the two envelopes and each flat body of theirs, written at
 * build time by flatgen (flatgen.c) into flat_gen.c from the schema's
 * descriptors, by flat.c's rules: straight-line code per message type
 * where a walk of its descriptor would decide per field and per message
 * what each field holds and where its tag goes. For envelope.c, which
 * packs and unpacks every envelope through here.
 */
#ifndef SHMBROKER_FLAT_GEN_H
#define SHMBROKER_FLAT_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "flat.h"
#include "varint.h"

struct flat_codec {
	/* m's packed bytes; m keeps no unknown fields */
	size_t (*size)(const ProtobufCMessage *m);
	/* m packed at p (size's bytes): the byte after */
	uint8_t *(*put)(uint8_t *p, const ProtobufCMessage *m);
	/* fields off the wire into m (initialised, of its type), strings and
	 * bytes from arena a or malloc'd when a is NULL (flat_set's ctx);
	 * false where protobuf-c refuses the message, or out of memory */
	bool (*read)(ProtobufCMessage *m, const uint8_t *buf, size_t len,
	    struct flat_arena *a);
};

/* What envelope.c needs of an envelope type beyond its descriptor. */
struct flat_envelope {
	unsigned heads;		/* head fields: the first ones */
	/* the heads of m sized and packed, as a flat_codec does a body */
	size_t (*heads_size)(const ProtobufCMessage *m);
	uint8_t *(*heads_put)(uint8_t *p, const ProtobufCMessage *m);
	/* the index of the field numbered tag, or -1 */
	int (*field)(uint32_t tag);
	/* by field index: the body's codec, NULL for a head or a body that
	 * is not flat (protobuf-c's) */
	const struct flat_codec *const *bodies;
};

/* Envelope type d's, or NULL: d is not one of the two envelopes. */
const struct flat_envelope *flat_envelope_of(
    const ProtobufCMessageDescriptor *d);

/* For the generated code: a field's packed bytes by its tag's bytes and
 * its value (0: left out, as proto3 does), or a string's length. */
static inline size_t
flat_gen_varint_size(size_t tag_len, uint64_t v)
{
	return v == 0 ? 0 : tag_len + varint_len(v);
}

static inline size_t
flat_gen_lengthy_size(size_t tag_len, size_t n)
{
	return n == 0 ? 0 : tag_len + varint_len(n) + n;
}

static inline size_t
flat_gen_strlen(const char *s)
{
	return s == NULL ? 0 : strlen(s);
}

#endif
