/* SPDX-License-Identifier: ISC */
/*
 * flat: flat messages (proto3 integers, booleans, enums, strings and
 * bytes; nothing repeated, no oneof, no message inside) and envelopes
 * (flat head fields, then one oneof of messages): which messages are
 * which, the rules flatgen writes each one's own code by (flat_gen.h),
 * and what that code shares: a string or bytes field read off the wire,
 * and the freeing of an envelope's head fields. The same messages as
 * protobuf-c's, but that an unpacked one keeps no unknown fields.
 */
#ifndef SHMBROKER_FLAT_H
#define SHMBROKER_FLAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "varint.h"

/* Whether messages of type d are flat. */
bool flat_is(const ProtobufCMessageDescriptor *d);

/* The most head fields of an envelope (ServerMessage has three). */
#define FLAT_ENVELOPE_HEADS_MAX 4
/* Whether d is an envelope: at most FLAT_ENVELOPE_HEADS_MAX flat fields
 * (*heads of them), then one oneof of messages and nothing else. flatgen
 * refuses to build a codec for one that is not. */
bool flat_is_envelope(const ProtobufCMessageDescriptor *d, size_t *heads);

/* What a string or bytes field of m holds, and m's unknown fields: for
 * an envelope's heads (a body is freed whole by protobuf-c). */
void flat_free_field(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f);
void flat_free_unknown(ProtobufCMessage *m);

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
 * One field: the value it packs from by these rules (its varint, or the
 * length of its string or bytes; 0 when proto3 leaves it out), which
 * flatgen's code follows and test_envelope uses to tell a body with every
 * field set; and one read off the wire into m, false where protobuf-c
 * refuses the message (a wire type that does not fit) or out of memory.
 * ctx is the struct flat_arena for strings and bytes, or NULL to malloc
 * them.
 */
uint64_t flat_value(const ProtobufCFieldDescriptor *f, const void *member);
bool flat_set(void *ctx, ProtobufCMessage *m,
    const ProtobufCFieldDescriptor *f, const struct varint_item *it);

#endif
