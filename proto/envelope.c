/* SPDX-License-Identifier: ISC */
/*
 * envelope: packing and unpacking of the two envelopes, ClientMessage and
 * ServerMessage, without protobuf-c's generic code where it is costly.
 * protobuf-c sizes, packs, unpacks and frees a message by visiting each
 * field its descriptor has, and the envelopes' oneofs have 18 and 22
 * members of which one is ever set; with the bodies, protobuf-c took about
 * two thirds of the instructions both ends spent in user space on an
 * attach (docs/DESIGN.md, "Wire").
 *
 * Here an envelope is its head fields (those before the oneof: id, and for
 * replies error and message), read and written as flat.c's fields, and
 * one body: flat.c's when the body is flat (every body of the VMM
 * service), protobuf-c's otherwise. The bytes and messages are
 * protobuf-c's, but that an unpacked envelope keeps no unknown fields
 * (nothing reads them): test_envelope and fuzz_envelope compare the two.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "flat.h"
#include "wire.h"

/* The most head fields an envelope may have (ServerMessage has three). */
#define ENVELOPE_HEAD_MAX 4

static bool
envelope_is_head(const ProtobufCFieldDescriptor *f)
{
	return !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF);
}

/* The head fields of d: those before its oneof. Bounded all the same for
 * a schema that test_envelope's envelope_shape_ok would refuse. */
static size_t
envelope_heads(const ProtobufCMessageDescriptor *d)
{
	size_t n = 0;

	while (n + 1 < d->n_fields && n < ENVELOPE_HEAD_MAX &&
	    envelope_is_head(&d->fields[n]))
		n++;
	return n;
}

bool
envelope_shape_ok(const ProtobufCMessageDescriptor *d)
{
	ProtobufCMessageDescriptor heads = *d;
	size_t nh = 0;

	while (nh < d->n_fields && envelope_is_head(&d->fields[nh]))
		nh++;
	heads.n_fields = (unsigned)nh;
	if (nh > ENVELOPE_HEAD_MAX || nh == d->n_fields || !flat_is(&heads))
		return false;
	for (size_t i = nh; i < d->n_fields; i++)
		if (envelope_is_head(&d->fields[i]) ||
		    d->fields[i].type != PROTOBUF_C_TYPE_MESSAGE ||
		    d->fields[i].quantifier_offset !=
		    d->fields[nh].quantifier_offset)
			return false;
	return true;
}

/*
 * The set body and its field, or NULL: protobuf-c leaves out a NULL one.
 * member is any field of the oneof: they share its case word.
 */
static ProtobufCMessage *
envelope_body(const ProtobufCMessage *m,
    const ProtobufCFieldDescriptor *member,
    const ProtobufCFieldDescriptor **field)
{
	uint32_t bc;

	if (envelope_is_head(member))
		return NULL;
	bc = *(const uint32_t *)((const char *)m + member->quantifier_offset);
	/* a case a caller set to a head field's number: no body, as
	 * protobuf-c, which packs only the oneof's members */
	if (bc == 0 || (*field = flat_field(m->descriptor, bc)) == NULL ||
	    envelope_is_head(*field))
		return NULL;
	return *(ProtobufCMessage *const *)((const char *)m + (*field)->offset);
}

/* ---- packing ---- */

/* The most fields of a body that flat.c packs; AttachReply has 10. */
#define ENVELOPE_BODY_FIELDS 16

/* A body's packed size; bv gets its fields' values when flat.c packs it
 * (*flat), else protobuf-c does. */
static size_t
envelope_body_size(const ProtobufCMessage *body, uint64_t *bv, bool *flat)
{
	const ProtobufCMessageDescriptor *bd = body->descriptor;
	size_t len;

	*flat = body->n_unknown_fields == 0 &&
	    bd->n_fields <= ENVELOPE_BODY_FIELDS &&
	    flat_size(bd->fields, bd->n_fields, body, bv, &len);
	return *flat ? len : protobuf_c_message_get_packed_size(body);
}

ssize_t
envelope_pack(const ProtobufCMessage *m, uint8_t *buf)
{
	const ProtobufCFieldDescriptor *f = m->descriptor->fields, *bf;
	const ProtobufCMessage *body;
	uint64_t hv[ENVELOPE_HEAD_MAX], bv[ENVELOPE_BODY_FIELDS];
	unsigned nh = (unsigned)envelope_heads(m->descriptor);
	size_t len, bodylen = 0;
	uint8_t *p = buf;
	bool flat = false;

	if (!flat_size(f, nh, m, hv, &len))	/* envelope_shape_ok refuses */
		return -EINVAL;
	if ((body = envelope_body(m, &f[nh], &bf)) != NULL) {
		bodylen = envelope_body_size(body, bv, &flat);
		len += varint_tag_len(bf->id) + varint_len(bodylen) + bodylen;
	}
	if (len > WIRE_MAX_MESSAGE)
		return -EMSGSIZE;
	p = flat_put(p, f, nh, m, hv);
	if (body != NULL) {
		p = varint_put_tag(p, bf->id,
		    PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED);
		p = varint_put(p, bodylen);
		p = flat ? flat_put(p, body->descriptor->fields,
		    body->descriptor->n_fields, body, bv) :
		    p + protobuf_c_message_pack(body, p);
	}
	return p - buf;
}

/* ---- unpacking ---- */

static void
envelope_free_body(ProtobufCMessage *body)
{
	if (flat_is(body->descriptor))
		flat_free(body);
	else
		protobuf_c_message_free_unpacked(body, NULL);
}

/* The body off the wire; a later body replaces an earlier one whole, as
 * protobuf-c does for a oneof. */
static bool
envelope_set_body(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
    const struct varint_item *it)
{
	uint32_t *bc = (uint32_t *)((char *)m + f->quantifier_offset);
	ProtobufCMessage **slot = (ProtobufCMessage **)((char *)m + f->offset);
	const ProtobufCFieldDescriptor *of;
	ProtobufCMessage *old;

	if (it->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
		return false;
	if ((old = envelope_body(m, f, &of)) != NULL)
		envelope_free_body(old);
	*bc = 0;
	*slot = flat_is(f->descriptor) ?
	    flat_unpack(f->descriptor, it->data, it->len) :
	    protobuf_c_message_unpack(f->descriptor, NULL, it->len, it->data);
	if (*slot == NULL)
		return false;
	*bc = f->id;
	return true;
}

/* A field off the wire: a head as flat.c reads it, or the body. */
static bool
envelope_set(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
    const struct varint_item *it)
{
	if (envelope_is_head(f))
		return flat_set(m, f, it);
	return envelope_set_body(m, f, it);
}

ProtobufCMessage *
envelope_unpack(const ProtobufCMessageDescriptor *d, const uint8_t *buf,
    size_t len)
{
	return flat_read(d, buf, len, envelope_set, envelope_free);
}

void
envelope_free(ProtobufCMessage *m)
{
	const ProtobufCFieldDescriptor *f, *bf;
	ProtobufCMessage *body;
	size_t nh;

	if (m == NULL)
		return;
	f = m->descriptor->fields;
	nh = envelope_heads(m->descriptor);
	for (size_t i = 0; i < nh; i++)
		flat_free_field(m, &f[i]);
	if ((body = envelope_body(m, &f[nh], &bf)) != NULL)
		envelope_free_body(body);
	flat_free_unknown(m);
	free(m);
}
