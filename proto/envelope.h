/* SPDX-License-Identifier: ISC */
/*
 * envelope: the two envelopes, ClientMessage and ServerMessage, packed and
 * unpacked by the code flatgen writes for them and their flat bodies
 * (flat_gen.h), without protobuf-c's walk of every field; a body that is
 * not flat still goes through protobuf-c. The same bytes and messages as
 * protobuf-c's, but that an unpacked envelope keeps no unknown fields.
 * Only for those two types (anything else is refused); wire.h's functions
 * are the ones to call.
 */
#ifndef SHMBROKER_ENVELOPE_H
#define SHMBROKER_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <protobuf-c/protobuf-c.h>

/* Packs m into buf (WIRE_MAX_MESSAGE bytes): its length, or -EMSGSIZE
 * (-EINVAL for a message that is not an envelope). m has no unknown
 * fields. */
ssize_t envelope_pack(const ProtobufCMessage *m, uint8_t *buf);

/* Unpacks an envelope of type d, or NULL where protobuf-c gives NULL (or
 * out of memory, or d is not an envelope). Unknown fields are skipped.
 * Free with envelope_free. */
ProtobufCMessage *envelope_unpack(const ProtobufCMessageDescriptor *d,
    const uint8_t *buf, size_t len);
/* Frees an envelope from envelope_unpack or protobuf-c's unpack. */
void envelope_free(ProtobufCMessage *m);

/*
 * Storage that holds one unpacked envelope at a time, of any of the nd
 * envelope types ds (at most 2; NULL past that or for a type that is not
 * an envelope), from at most cap bytes.
 * envelope_unpack_in unpacks into it when it is free and the bytes fit,
 * else as envelope_unpack does; envelope_scratch_done lets go of either
 * kind, once (the scratch is free again).
 */
struct envelope_scratch;
struct envelope_scratch *envelope_scratch_new(
    const ProtobufCMessageDescriptor *const *ds, size_t nd, size_t cap);
void envelope_scratch_free(struct envelope_scratch *s);
ProtobufCMessage *envelope_unpack_in(struct envelope_scratch *s,
    const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len);
void envelope_scratch_done(struct envelope_scratch *s, ProtobufCMessage *m);
/* m on the heap (envelope_free frees it): itself unless s holds it,
 * which is then copied (whatever it packs to) and let go. NULL when out
 * of memory (m let go all the same). */
ProtobufCMessage *envelope_scratch_keep(struct envelope_scratch *s,
    ProtobufCMessage *m);
/* Whether m is the envelope s holds. */
bool envelope_scratch_holds(const struct envelope_scratch *s,
    const ProtobufCMessage *m);

#endif
