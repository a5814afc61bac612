/* SPDX-License-Identifier: ISC */
/*
 * flat: the rules of flat messages (proto3 fields of integers, booleans,
 * enums, strings and bytes; no repeated field, no oneof, no message
 * inside) and envelopes, by which flatgen writes each envelope's and each
 * flat body's own code (flat_gen.h), where protobuf-c's generic code
 * costs several hundred instructions per message even for the few fields
 * of an Attach or an AttachReply; and what that code shares: a string or
 * bytes field read off the wire (flat_set), and the freeing of an
 * envelope's head fields. The same bytes and messages as protobuf-c's, but
 * that an unpacked message keeps no unknown fields; test_envelope and
 * fuzz_envelope compare the two. Anything else is protobuf-c's.
 */
#include <stdlib.h>
#include <string.h>

#include "flat.h"
#include "varint.h"

/* What a field holds, or FLAT_NOT where the codec leaves its message to
 * protobuf-c: the one place that says which fields are flat. */
enum flat_kind {
	FLAT_NOT,
	FLAT_INT32,	/* and enums */
	FLAT_UINT32,
	FLAT_UINT64,
	FLAT_BOOL,
	FLAT_STRING,
	FLAT_BYTES,
};

static inline enum flat_kind
flat_kind(const ProtobufCFieldDescriptor *f)
{
	if (f->label != PROTOBUF_C_LABEL_NONE ||
	    (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
		return FLAT_NOT;
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_ENUM:
		return FLAT_INT32;
	case PROTOBUF_C_TYPE_UINT32:
		return FLAT_UINT32;
	case PROTOBUF_C_TYPE_UINT64:
		return FLAT_UINT64;
	case PROTOBUF_C_TYPE_BOOL:
		return FLAT_BOOL;
	case PROTOBUF_C_TYPE_STRING:
		/* proto3's: "" */
		return f->default_value == &protobuf_c_empty_string ?
		    FLAT_STRING : FLAT_NOT;
	case PROTOBUF_C_TYPE_BYTES:
		return f->default_value == NULL ? FLAT_BYTES : FLAT_NOT;
	default:
		return FLAT_NOT;
	}
}

/* The first n fields of d flat. */
static bool
flat_are(const ProtobufCMessageDescriptor *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (flat_kind(&d->fields[i]) == FLAT_NOT)
			return false;
	return true;
}

bool
flat_is(const ProtobufCMessageDescriptor *d)
{
	return flat_are(d, d->n_fields);
}

static bool
flat_is_head(const ProtobufCFieldDescriptor *f)
{
	return !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF);
}

bool
flat_is_envelope(const ProtobufCMessageDescriptor *d, size_t *heads)
{
	size_t nh = 0;

	while (nh < d->n_fields && flat_is_head(&d->fields[nh]))
		nh++;
	if (nh > FLAT_ENVELOPE_HEADS_MAX || nh == d->n_fields ||
	    !flat_are(d, nh))
		return false;
	for (size_t i = nh; i < d->n_fields; i++)
		if (flat_is_head(&d->fields[i]) ||
		    d->fields[i].type != PROTOBUF_C_TYPE_MESSAGE ||
		    d->fields[i].quantifier_offset !=
		    d->fields[nh].quantifier_offset)
			return false;
	*heads = nh;
	return true;
}

/*
 * A field's varint value, or the length of its string or bytes, by its
 * kind k: 0 when proto3 leaves it out (protobuf-c's test for bytes is its
 * length). An int32 or enum is sign-extended to 64 bits, a bool is 0 or 1.
 */
static inline uint64_t
flat_kind_value(enum flat_kind k, const void *member)
{
	const char *str;

	switch (k) {
	case FLAT_INT32:
		return (uint64_t)(int64_t)*(const int32_t *)member;
	case FLAT_UINT32:
		return *(const uint32_t *)member;
	case FLAT_BOOL:
		return *(const protobuf_c_boolean *)member != 0;
	case FLAT_STRING:
		str = *(char *const *)member;
		return str == NULL ? 0 : strlen(str);
	case FLAT_BYTES:
		return ((const ProtobufCBinaryData *)member)->len;
	default:
		return *(const uint64_t *)member;
	}
}

uint64_t
flat_value(const ProtobufCFieldDescriptor *f, const void *member)
{
	return flat_kind_value(flat_kind(f), member);
}

/* A string or bytes value off the wire: the old one freed, unless it
 * is the arena's (a field twice: the first copy stays there unused). */
static bool
flat_set_lengthy(struct flat_arena *a, const ProtobufCFieldDescriptor *f,
    void *member, const struct varint_item *it)
{
	ProtobufCBinaryData *bd = member;
	char **str = member;
	uint8_t *copy = NULL;

	if (it->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
		return false;
	if (f->type == PROTOBUF_C_TYPE_STRING || it->len > 0) {
		copy = a != NULL ? flat_arena_take(a, it->len + 1) :
		    malloc(it->len + 1);
		if (copy == NULL)
			return false;
		memcpy(copy, it->data, it->len);
		copy[it->len] = '\0';
	}
	if (f->type == PROTOBUF_C_TYPE_STRING) {
		if (a == NULL && *str != f->default_value)
			free(*str);
		*str = (char *)copy;
	} else {
		if (a == NULL)
			free(bd->data);
		bd->data = copy;
		bd->len = it->len;
	}
	return true;
}

bool
flat_set(void *ctx, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
    const struct varint_item *it)
{
	void *member = (char *)m + f->offset;
	bool varint = it->wire_type == PROTOBUF_C_WIRE_TYPE_VARINT;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_ENUM:
	case PROTOBUF_C_TYPE_UINT32:
		*(uint32_t *)member = (uint32_t)it->value;
		return varint;
	case PROTOBUF_C_TYPE_UINT64:
		*(uint64_t *)member = it->value;
		return varint;
	case PROTOBUF_C_TYPE_BOOL:
		/* protobuf-c: any value bit in the field's bytes, whatever
		 * its wire type (a length's own bytes included) */
		*(protobuf_c_boolean *)member = varint_any_bits(it);
		return true;
	default:
		return flat_set_lengthy(ctx, f, member, it);
	}
}

void
flat_free_field(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	void *member = (char *)m + f->offset;

	if (f->type == PROTOBUF_C_TYPE_STRING) {
		if (*(char **)member != f->default_value)
			free(*(char **)member);
	} else if (f->type == PROTOBUF_C_TYPE_BYTES) {
		free(((ProtobufCBinaryData *)member)->data);
	}
}

void
flat_free_unknown(ProtobufCMessage *m)
{
	for (unsigned i = 0; i < m->n_unknown_fields; i++)
		free(m->unknown_fields[i].data);
	free(m->unknown_fields);
}

