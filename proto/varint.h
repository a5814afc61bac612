/* SPDX-License-Identifier: ISC */
/*
 * varint: protobuf's wire primitives, read exactly as protobuf-c 1.4 reads
 * them (its limits and its quirks), for envelope.c and flat.c.
 */
#ifndef SHMBROKER_VARINT_H
#define SHMBROKER_VARINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One field as read off the wire. */
struct varint_item {
	uint32_t tag;
	unsigned wire_type;
	const uint8_t *data;	/* the value, past a length prefix */
	size_t len;		/* its bytes */
	uint64_t value;		/* a varint's low 64 bits, else 0 */
	const uint8_t *raw;	/* all after the tag, a length prefix too */
	size_t raw_len;
};

size_t varint_len(uint64_t v);
/* Writes v at p; returns the byte after it. */
uint8_t *varint_put(uint8_t *p, uint64_t v);
/* A field's tag (its number and wire type): its bytes, and written at p. */
size_t varint_tag_len(uint32_t id);
uint8_t *varint_put_tag(uint8_t *p, uint32_t id, unsigned wire_type);

/*
 * Reads the field at p (rem bytes): its tag and value. Returns the bytes
 * it takes, or 0 where protobuf-c refuses the message: a tag byte of field
 * 0 or a tag of more than 5 bytes, a varint of more than 10, a length of
 * more than 5 bytes or past INT32_MAX or the data, a value cut short, a
 * group or wire type 6 or 7.
 */
size_t varint_get_item(const uint8_t *p, size_t rem, struct varint_item *it);

/* protobuf-c's bool of any wire type: a value bit in any byte after the
 * tag, a length prefix's included. */
bool varint_any_bits(const struct varint_item *it);

#endif
