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
size_t varint_get_item_any(const uint8_t *p, size_t rem,
    struct varint_item *it);
/* Inline for the fields of the envelopes and their bodies: a one-byte tag
 * and a varint (ids pass 127 early in a daemon's life), or a one-byte
 * length; anything else as above. */
static inline size_t
varint_get_item(const uint8_t *p, size_t rem, struct varint_item *it)
{
	uint64_t v = 0;

	if (rem < 2 || (p[0] & 0x80) != 0 || (p[0] & 0xf8) == 0)
		return varint_get_item_any(p, rem, it);
	it->tag = p[0] >> 3;
	it->wire_type = p[0] & 7;
	it->raw = p + 1;
	if (it->wire_type == 0) {	/* a varint: at most 10 bytes */
		for (size_t i = 1; i < rem && i <= 10; i++) {
			v |= (uint64_t)(p[i] & 0x7f) << (7 * (i - 1));
			if (!(p[i] & 0x80)) {
				it->value = v;
				it->data = p + 1;
				it->len = it->raw_len = i;
				return i + 1;
			}
		}
		return 0;
	}
	if (it->wire_type == 2 && (p[1] & 0x80) == 0 && p[1] <= rem - 2) {
		it->value = p[1];
		it->data = p + 2;
		it->len = p[1];
		it->raw_len = 1 + (size_t)p[1];
		return 2 + (size_t)p[1];
	}
	return varint_get_item_any(p, rem, it);
}

/* protobuf-c's bool of any wire type: a value bit in any byte after the
 * tag, a length prefix's included. */
bool varint_any_bits(const struct varint_item *it);

#endif
