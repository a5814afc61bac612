/* SPDX-License-Identifier: ISC */
/*
 * varint: the wire's tags, varints and values as protobuf-c reads them.
 * See varint.h.
 */
#include <protobuf-c/protobuf-c.h>

#include "varint.h"

/* protobuf-c reads a tag from at most 5 bytes, a length from 5, a varint
 * from 10. */
#define VARINT_TAG_MAX 5
#define VARINT_LENGTH_MAX 5
#define VARINT_MAX 10

size_t
varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

uint8_t *
varint_put(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

size_t
varint_tag_len(uint32_t id)
{
	return varint_len((uint64_t)id << 3);
}

uint8_t *
varint_put_tag(uint8_t *p, uint32_t id, unsigned wire_type)
{
	return varint_put(p, (uint64_t)id << 3 | wire_type);
}

/* A first byte of field 0 is refused, a longer encoding of field 0 is an
 * unknown field (protobuf-c looks at the first byte only). */
static size_t
varint_get_tag(const uint8_t *p, size_t rem, struct varint_item *it)
{
	size_t max = rem < VARINT_TAG_MAX ? rem : VARINT_TAG_MAX;
	uint32_t tag = (p[0] & 0x7f) >> 3;
	unsigned shift = 4;

	if ((p[0] & 0xf8) == 0)
		return 0;
	it->wire_type = p[0] & 7;
	if (!(p[0] & 0x80)) {
		it->tag = tag;
		return 1;
	}
	for (size_t i = 1; i < max; i++, shift += 7) {
		tag |= (uint32_t)(p[i] & 0x7f) << shift;
		if (!(p[i] & 0x80)) {
			it->tag = tag;
			return i + 1;
		}
	}
	return 0;
}

/* A varint of at most max bytes into *v (its low 64 bits); 0 if longer. */
static size_t
varint_get(const uint8_t *p, size_t rem, size_t max, uint64_t *v)
{
	*v = 0;
	if (rem < max)
		max = rem;
	for (size_t i = 0; i < max; i++) {
		*v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80))
			return i + 1;
	}
	return 0;
}

/* The value after a tag: its bytes, length prefix included, or 0. */
static size_t
varint_get_value(const uint8_t *p, size_t rem, struct varint_item *it)
{
	size_t n;

	it->data = p;
	it->value = 0;
	switch (it->wire_type) {
	case PROTOBUF_C_WIRE_TYPE_VARINT:
		return it->len = varint_get(p, rem, VARINT_MAX, &it->value);
	case PROTOBUF_C_WIRE_TYPE_64BIT:
		return it->len = rem < 8 ? 0 : 8;
	case PROTOBUF_C_WIRE_TYPE_32BIT:
		return it->len = rem < 4 ? 0 : 4;
	case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED:
		if ((n = varint_get(p, rem, VARINT_LENGTH_MAX, &it->value)) ==
		    0 || it->value > INT32_MAX || it->value > rem - n)
			return 0;
		it->data = p + n;
		it->len = (size_t)it->value;
		return n + it->len;
	default:
		return 0;
	}
}

size_t
varint_get_item_any(const uint8_t *p, size_t rem, struct varint_item *it)
{
	size_t t, v;

	if ((t = varint_get_tag(p, rem, it)) == 0 ||
	    (v = varint_get_value(p + t, rem - t, it)) == 0)
		return 0;
	it->raw = p + t;
	it->raw_len = v;
	return t + v;
}

bool
varint_any_bits(const struct varint_item *it)
{
	for (size_t i = 0; i < it->raw_len; i++)
		if (it->raw[i] & 0x7f)
			return true;
	return false;
}
