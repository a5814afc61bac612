/* SPDX-License-Identifier: ISC */
/*
 * flat: flat messages (proto3 integers, booleans, enums, strings and
 * bytes; nothing repeated, no oneof, no message inside) read and written
 * in one short pass, as protobuf-c does them but that an unpacked one
 * keeps no unknown fields. For envelope.c's head fields, and the rules
 * that flatgen writes each body's own codec by (flat_gen.h).
 */
#ifndef SHMBROKER_FLAT_H
#define SHMBROKER_FLAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <protobuf-c/protobuf-c.h>

#include "varint.h"

/* Whether messages of type d are flat. */
bool flat_is(const ProtobufCMessageDescriptor *d);

/*
 * Packing n fields f of the message at m, in two passes with the values
 * kept between them: flat_size says whether every one is flat and, if so,
 * gives each one's value in v (flat_value's) and their packed bytes in
 * *len; flat_put writes them at p and returns the byte after. A flat
 * message is all its fields; an envelope's head is its first ones.
 */
bool flat_size(const ProtobufCFieldDescriptor *f, unsigned n, const void *m,
    uint64_t *v, size_t *len);
uint8_t *flat_put(uint8_t *p, const ProtobufCFieldDescriptor *f, unsigned n,
    const void *m, const uint64_t *v);

/* Frees a flat message read onto the heap (strings malloc'd), or one
 * of protobuf-c's unpack. */
void flat_free(ProtobufCMessage *m);
/* What a string or bytes field of m holds, and m's unknown fields. */
void flat_free_field(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f);
void flat_free_unknown(ProtobufCMessage *m);

/* The field of d numbered tag, or NULL: by index where the numbers are
 * 1, 2, ... (every body, an envelope's head), inline, else by d's ranges. */
const ProtobufCFieldDescriptor *flat_field_ranged(
    const ProtobufCMessageDescriptor *d, uint32_t tag);
static inline const ProtobufCFieldDescriptor *
flat_field(const ProtobufCMessageDescriptor *d, uint32_t tag)
{
	if (tag - 1 < d->n_fields && d->fields[tag - 1].id == tag)
		return &d->fields[tag - 1];
	return flat_field_ranged(d, tag);
}

/*
 * Where the strings and bytes of a message being unpacked go: each
 * malloc'd, as protobuf-c does, when the arena is NULL, else taken from
 * the arena's storage and let go with it (envelope.c's scratch). A field
 * on the wire takes at least its value's bytes and two more, its copy one
 * more (a string's NUL), so storage of the message's own length is never
 * short; flat_arena_take says NULL all the same past its end.
 */
struct flat_arena {
	uint8_t *next, *end;
};

static inline void *
flat_arena_take(struct flat_arena *a, size_t n)
{
	uint8_t *p = a->next;

	if (n > (size_t)(a->end - p))
		return NULL;
	a->next = p + n;
	return p;
}

/*
 * What envelope.c's unpack of an envelope takes: the fields of a message
 * m (initialised, of its type) read off the wire, each field its type knows
 * given to set (unknown ones skipped), with ctx. False when a field is bad
 * or set says false; m is then the caller's to let go. Inline so that each
 * caller's copy calls its setter directly: through the pointer it cost 2%
 * of an attach's instructions.
 */
typedef bool flat_setter(void *ctx, ProtobufCMessage *m,
    const ProtobufCFieldDescriptor *f, const struct varint_item *it);
static inline bool
flat_read(ProtobufCMessage *m, const uint8_t *buf, size_t len,
    flat_setter *set, void *ctx)
{
	const ProtobufCFieldDescriptor *f;
	struct varint_item it;
	size_t n;

	while (len > 0) {
		if ((n = varint_get_item(buf, len, &it)) == 0)
			return false;
		if ((f = flat_field(m->descriptor, it.tag)) != NULL &&
		    !set(ctx, m, f, &it))
			return false;
		buf += n;
		len -= n;
	}
	return true;
}

/* flat_read into a new malloc'd message of type d (NULL where the read
 * fails, m then freed with free_fn, or out of memory): the heap's unpack
 * of flat.c and envelope.c alike. */
static inline ProtobufCMessage *
flat_read_new(const ProtobufCMessageDescriptor *d, const uint8_t *buf,
    size_t len, flat_setter *set, void (*free_fn)(ProtobufCMessage *))
{
	ProtobufCMessage *m = malloc(d->sizeof_message);

	if (m == NULL)
		return NULL;
	protobuf_c_message_init(d, m);
	if (!flat_read(m, buf, len, set, NULL)) {
		free_fn(m);
		return NULL;
	}
	return m;
}

/*
 * One field: the value flat_size keeps for it (its varint, or the length
 * of its string or bytes; 0 when proto3 leaves it out), and one read off
 * the wire into m, false where protobuf-c refuses the message (a wire type
 * that does not fit) or out of memory. ctx is the struct flat_arena for
 * strings and bytes, or NULL to malloc them. envelope.c reads its head
 * fields with flat_set.
 */
uint64_t flat_value(const ProtobufCFieldDescriptor *f, const void *member);
bool flat_set(void *ctx, ProtobufCMessage *m,
    const ProtobufCFieldDescriptor *f, const struct varint_item *it);

#endif
