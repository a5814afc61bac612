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
#include <stddef.h>
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

/* An envelope sized, with the values its fields pack from, between the
 * two passes. */
struct envelope_plan {
	uint64_t hv[ENVELOPE_HEAD_MAX], bv[ENVELOPE_BODY_FIELDS];
	unsigned nh;
	const ProtobufCMessage *body;
	const ProtobufCFieldDescriptor *bf;
	size_t bodylen, len;
	bool flat;
};

/* The first pass; false for a head that is not flat (envelope_shape_ok
 * refuses it). */
static inline bool
envelope_plan(const ProtobufCMessage *m, struct envelope_plan *pl)
{
	const ProtobufCFieldDescriptor *f = m->descriptor->fields;

	pl->nh = (unsigned)envelope_heads(m->descriptor);
	pl->bodylen = 0;
	pl->flat = false;
	if (!flat_size(f, pl->nh, m, pl->hv, &pl->len))
		return false;
	if ((pl->body = envelope_body(m, &f[pl->nh], &pl->bf)) != NULL) {
		pl->bodylen = envelope_body_size(pl->body, pl->bv, &pl->flat);
		pl->len += varint_tag_len(pl->bf->id) +
		    varint_len(pl->bodylen) + pl->bodylen;
	}
	return true;
}

/* The second: pl->len bytes at buf. */
static inline void
envelope_write(const ProtobufCMessage *m, const struct envelope_plan *pl,
    uint8_t *buf)
{
	const ProtobufCMessage *body = pl->body;
	uint8_t *p = flat_put(buf, m->descriptor->fields, pl->nh, m, pl->hv);

	if (body == NULL)
		return;
	p = varint_put_tag(p, pl->bf->id, PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED);
	p = varint_put(p, pl->bodylen);
	if (pl->flat)
		flat_put(p, body->descriptor->fields, body->descriptor->n_fields,
		    body, pl->bv);
	else
		protobuf_c_message_pack(body, p);
}

ssize_t
envelope_pack(const ProtobufCMessage *m, uint8_t *buf)
{
	struct envelope_plan pl;

	if (!envelope_plan(m, &pl))
		return -EINVAL;
	if (pl.len > WIRE_MAX_MESSAGE)
		return -EMSGSIZE;
	envelope_write(m, &pl, buf);
	return (ssize_t)pl.len;
}

/* A copy by the wire, of any length: a message protobuf-c took may pack
 * to more than it came in (an int32 of -1 sent in 5 bytes packs to 10).
 * Only for what this codec unpacked: protobuf-c repacks an unknown field
 * of number 0 that it took in a longer tag as a tag it then refuses. */
static ProtobufCMessage *
envelope_copy(const ProtobufCMessage *m)
{
	ProtobufCMessage *copy = NULL;
	struct envelope_plan pl;
	uint8_t *buf;

	if (!envelope_plan(m, &pl) || (buf = malloc(pl.len + 1)) == NULL)
		return NULL;
	envelope_write(m, &pl, buf);
	copy = envelope_unpack(m->descriptor, buf, pl.len);
	free(buf);
	return copy;
}

/* ---- unpacking ---- */

/*
 * An envelope unpacked into a scratch lives in its storage: the envelope,
 * its body (one at a time: a later body takes the slot of an earlier one)
 * and their strings and bytes; only a body that is not flat (protobuf-c's)
 * or does not fit the slot is on the heap (foreign). Nothing is malloc'd
 * or freed per message, which was a fifth of what both ends of an attach
 * spent in user space.
 */

/* The envelope types a scratch knows which bodies of are flat. */
#define ENVELOPE_SCRATCH_TYPES 2

struct envelope_scratch {
	struct flat_arena strings;	/* first: flat_set's ctx */
	ProtobufCMessage *foreign;
	bool busy;
	/* by field index, which bodies of type[k] are flat: flat_is walks
	 * every field of a body, 2% of an attach's instructions */
	const ProtobufCMessageDescriptor *type[ENVELOPE_SCRATCH_TYPES];
	uint64_t flat[ENVELOPE_SCRATCH_TYPES];
	void *env, *body;
	size_t body_size;
	uint8_t *strings_at;
	size_t cap;			/* the most bytes unpacked here */
};

static void
envelope_free_body(ProtobufCMessage *body)
{
	if (flat_is(body->descriptor))
		flat_free(body);
	else
		protobuf_c_message_free_unpacked(body, NULL);
}

/* The body read off the wire: into the scratch s's slot when flat, else
 * on the heap (s NULL, or s's foreign body). */
static ProtobufCMessage *
envelope_read_body(struct envelope_scratch *s,
    const ProtobufCMessageDescriptor *d, bool flat,
    const struct varint_item *it)
{
	ProtobufCMessage *body;

	if (s != NULL && flat && d->sizeof_message <= s->body_size) {
		body = s->body;
		protobuf_c_message_init(d, body);
		return flat_read(body, it->data, it->len, flat_set, s) ?
		    body : NULL;
	}
	/* protobuf-c's free_unpacked frees a flat one too */
	body = flat ? flat_unpack(d, it->data, it->len) :
	    protobuf_c_message_unpack(d, NULL, it->len, it->data);
	if (s != NULL)
		s->foreign = body;
	return body;
}

/* The old body let go: a flat one in a scratch stays where it is. */
static void
envelope_drop_body(struct envelope_scratch *s, ProtobufCMessage *old)
{
	if (s == NULL) {
		envelope_free_body(old);
	} else if (old == s->foreign) {
		protobuf_c_message_free_unpacked(old, NULL);
		s->foreign = NULL;
	}
}

/* Whether the body in field f of m is flat: the scratch knows for its
 * envelope types. */
static inline bool
envelope_body_flat(const struct envelope_scratch *s, const ProtobufCMessage *m,
    const ProtobufCFieldDescriptor *f)
{
	size_t j = (size_t)(f - m->descriptor->fields);

	for (size_t k = 0; s != NULL && k < ENVELOPE_SCRATCH_TYPES; k++)
		if (s->type[k] == m->descriptor && j < 64)
			return s->flat[k] >> j & 1;
	return flat_is(f->descriptor);
}

/* The body off the wire; a later body replaces an earlier one whole, as
 * protobuf-c does for a oneof. */
static bool
envelope_set_body(struct envelope_scratch *s, ProtobufCMessage *m,
    const ProtobufCFieldDescriptor *f, const struct varint_item *it)
{
	uint32_t *bc = (uint32_t *)((char *)m + f->quantifier_offset);
	ProtobufCMessage **slot = (ProtobufCMessage **)((char *)m + f->offset);
	const ProtobufCFieldDescriptor *of;
	ProtobufCMessage *old;

	if (it->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
		return false;
	if ((old = envelope_body(m, f, &of)) != NULL)
		envelope_drop_body(s, old);
	*bc = 0;
	if ((*slot = envelope_read_body(s, f->descriptor,
	    envelope_body_flat(s, m, f), it)) == NULL)
		return false;
	*bc = f->id;
	return true;
}

/* A field off the wire: a head as flat.c reads it, or the body. */
static bool
envelope_set(void *ctx, ProtobufCMessage *m,
    const ProtobufCFieldDescriptor *f, const struct varint_item *it)
{
	if (envelope_is_head(f))
		return flat_set(ctx, m, f, it);
	return envelope_set_body(ctx, m, f, it);
}

ProtobufCMessage *
envelope_unpack(const ProtobufCMessageDescriptor *d, const uint8_t *buf,
    size_t len)
{
	return flat_read_new(d, buf, len, envelope_set, envelope_free);
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

/* ---- the scratch ---- */

static size_t
envelope_align(size_t n)
{
	size_t a = _Alignof(max_align_t);

	return (n + a - 1) / a * a;
}

/* Which bodies of an envelope of type d are flat (bit j for field j,
 * among its first 64), and in *largest the size of the largest. */
static uint64_t
envelope_flat_bodies(const ProtobufCMessageDescriptor *d, size_t *largest)
{
	uint64_t bits = 0;

	for (size_t j = envelope_heads(d); j < d->n_fields; j++) {
		const ProtobufCMessageDescriptor *bd = d->fields[j].descriptor;

		if (d->fields[j].type != PROTOBUF_C_TYPE_MESSAGE ||
		    !flat_is(bd))
			continue;
		if (j < 64)
			bits |= (uint64_t)1 << j;
		if (bd->sizeof_message > *largest)
			*largest = bd->sizeof_message;
	}
	return bits;
}

struct envelope_scratch *
envelope_scratch_new(const ProtobufCMessageDescriptor *const *ds, size_t nd,
    size_t cap)
{
	size_t env = 0, body = 0, head = envelope_align(sizeof(
	    struct envelope_scratch));
	struct envelope_scratch *s;

	uint64_t flat[ENVELOPE_SCRATCH_TYPES];

	if (nd > ENVELOPE_SCRATCH_TYPES)
		return NULL;
	for (size_t i = 0; i < nd; i++) {
		if (ds[i]->sizeof_message > env)
			env = ds[i]->sizeof_message;
		flat[i] = envelope_flat_bodies(ds[i], &body);
	}
	env = envelope_align(env);
	body = envelope_align(body);
	if ((s = malloc(head + env + body + cap)) == NULL)
		return NULL;
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < nd; i++) {
		s->type[i] = ds[i];
		s->flat[i] = flat[i];
	}
	s->env = (uint8_t *)s + head;
	s->body = (uint8_t *)s->env + env;
	s->body_size = body;
	s->strings_at = (uint8_t *)s->body + body;
	s->cap = cap;
	return s;
}

void
envelope_scratch_free(struct envelope_scratch *s)
{
	if (s != NULL && s->busy)
		envelope_scratch_done(s, s->env);
	free(s);
}

ProtobufCMessage *
envelope_unpack_in(struct envelope_scratch *s,
    const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len)
{
	ProtobufCMessage *m;

	/* in use, or too long for it (strings take at most len bytes) */
	if (s == NULL || s->busy || len > s->cap ||
	    d->sizeof_message > (size_t)((uint8_t *)s->body -
	    (uint8_t *)s->env))
		return envelope_unpack(d, buf, len);
	m = s->env;
	protobuf_c_message_init(d, m);
	s->strings.next = s->strings_at;
	s->strings.end = s->strings_at + s->cap;
	s->busy = true;
	if (!flat_read(m, buf, len, envelope_set, s)) {
		envelope_scratch_done(s, m);
		return NULL;
	}
	return m;
}

bool
envelope_scratch_holds(const struct envelope_scratch *s,
    const ProtobufCMessage *m)
{
	return s != NULL && s->busy && m == s->env;
}

/*
 * The scratch's message on the heap: its heads and a flat body copied by
 * the wire, a foreign body (protobuf-c's, already on the heap) moved over
 * as it is.
 */
ProtobufCMessage *
envelope_scratch_keep(struct envelope_scratch *s, ProtobufCMessage *m)
{
	const ProtobufCFieldDescriptor *oneof, *bf = NULL;
	ProtobufCMessage *copy, *body = NULL;
	uint32_t *bc, moved = 0;

	if (!envelope_scratch_holds(s, m))
		return m;
	oneof = &m->descriptor->fields[envelope_heads(m->descriptor)];
	bc = (uint32_t *)((char *)m + oneof->quantifier_offset);
	if (s->foreign != NULL &&
	    (body = envelope_body(m, oneof, &bf)) == s->foreign) {
		moved = *bc;
		*bc = 0;	/* packed without it; m is let go below */
	} else {
		body = NULL;
	}
	copy = envelope_copy(m);
	if (body != NULL && copy != NULL) {
		*(uint32_t *)((char *)copy + oneof->quantifier_offset) = moved;
		*(ProtobufCMessage **)((char *)copy + bf->offset) = body;
		s->foreign = NULL;
	}
	envelope_scratch_done(s, m);
	return copy;
}

void
envelope_scratch_done(struct envelope_scratch *s, ProtobufCMessage *m)
{
	if (m == NULL)
		return;
	if (!envelope_scratch_holds(s, m)) {
		envelope_free(m);
		return;
	}
	if (s->foreign != NULL)
		protobuf_c_message_free_unpacked(s->foreign, NULL);
	s->foreign = NULL;
	s->busy = false;
	/* let go twice, it would be freed as a heap message: a NULL
	 * descriptor makes that a clean crash, not a corrupt heap */
	m->descriptor = NULL;
}
