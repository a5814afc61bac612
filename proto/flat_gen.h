/* SPDX-License-Identifier: ISC */
/*
 * flat_gen: the codec of each flat body of the two envelopes, written at
 * build time by flatgen (flatgen.c) into flat_gen.c from the schema's
 * descriptors. The same bytes and messages as flat.c's walk of a
 * descriptor, without deciding per field and per message what each field
 * holds: for envelope.c, which packs and unpacks every body through here
 * when there is a codec for it.
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
	 * bytes from arena a or malloc'd when a is NULL: flat_read's
	 * contract with flat_set */
	bool (*read)(ProtobufCMessage *m, const uint8_t *buf, size_t len,
	    struct flat_arena *a);
};

/* The codec of the body in field j of envelope type d, or NULL: not an
 * envelope, not a body, or not flat. */
const struct flat_codec *flat_codec_of(const ProtobufCMessageDescriptor *d,
    size_t j);

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
