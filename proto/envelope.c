/* SPDX-License-Identifier: ISC */
/*
 * envelope: packing and unpacking of the two envelopes, ClientMessage and
 * ServerMessage, without protobuf-c's generic code where it is costly.
 * protobuf-c sizes, packs, unpacks and frees a message by visiting each
 * field its descriptor has, and the envelopes' oneofs have 18 and 22
 * members of which one is ever set; with the bodies, protobuf-c took about
 * two thirds of the instructions both ends spent in user space on an
 * attach (docs/DESIGN.md, "The wire's codec").
 *
 * Here an envelope is its head fields (those before the oneof: id, and for
 * replies error and message) and one body, each type's packed and its
 * fields found by the code flatgen writes for it (flat_gen.h), its head
 * fields read by flat_set; a flat body (every body of the VMM service) is
 * packed and read by its own generated code, any other by protobuf-c. The
 * bytes and messages are protobuf-c's, but that an unpacked envelope keeps
 * no unknown fields (nothing reads them): test_envelope and fuzz_envelope
 * compare the two.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "flat.h"
#include "flat_gen.h"
#include "wire.h"

/* The oneof's first member: every member shares its case word. */
static inline const ProtobufCFieldDescriptor *
envelope_oneof(const struct flat_envelope *env, const ProtobufCMessage *m)
{
	return &m->descriptor->fields[env->heads];
}

/*
 * The set body and its field, or NULL: protobuf-c leaves out a NULL one,
 * and packs only the oneof's members (a case a caller set to a head
 * field's number is no body).
 */
static ProtobufCMessage *
envelope_body(const struct flat_envelope *env, const ProtobufCMessage *m,
    const ProtobufCFieldDescriptor **field)
{
	uint32_t bc = *(const uint32_t *)((const char *)m +
	    envelope_oneof(env, m)->quantifier_offset);
	int j;

	if (bc == 0 || (j = env->field(bc)) < (int)env->heads)
		return NULL;
	*field = &m->descriptor->fields[j];
	return *(ProtobufCMessage *const *)((const char *)m + (*field)->offset);
}

/* The generated codec of the body in field f of m, or NULL for
 * protobuf-c's. */
static inline const struct flat_codec *
envelope_codec(const struct flat_envelope *env, const ProtobufCMessage *m,
    const ProtobufCFieldDescriptor *f)
{
	return env->bodies[f - m->descriptor->fields];
}

/* ---- packing ---- */

/* An envelope sized, between the two passes. */
struct envelope_plan {
	const struct flat_envelope *env;
	const ProtobufCMessage *body;
	const ProtobufCFieldDescriptor *bf;
	const struct flat_codec *codec;	/* the body's, or NULL */
	size_t bodylen, len;
};

/* The first pass; false for a message that is not an envelope. */
static inline bool
envelope_plan(const ProtobufCMessage *m, struct envelope_plan *pl)
{
	if ((pl->env = flat_envelope_of(m->descriptor)) == NULL)
		return false;
	pl->bodylen = 0;
	pl->codec = NULL;
	pl->len = pl->env->heads_size(m);
	if ((pl->body = envelope_body(pl->env, m, &pl->bf)) != NULL) {
		/* unknown fields, or a body not of its field's type (a
		 * caller's slip): protobuf-c packs what it is */
		if (pl->body->n_unknown_fields == 0 &&
		    pl->body->descriptor == pl->bf->descriptor)
			pl->codec = envelope_codec(pl->env, m, pl->bf);
		pl->bodylen = pl->codec != NULL ?
		    pl->codec->size(pl->body) :
		    protobuf_c_message_get_packed_size(pl->body);
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
	uint8_t *p = pl->env->heads_put(buf, m);

	if (body == NULL)
		return;
	p = varint_put_tag(p, pl->bf->id, PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED);
	p = varint_put(p, pl->bodylen);
	if (pl->codec != NULL)
		pl->codec->put(p, body);
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
 * and their strings and bytes; only a body without a codec (protobuf-c's)
 * or that does not fit the slot is on the heap (foreign). Nothing is
 * malloc'd or freed per message, which was a fifth of what both ends of an
 * attach spent in user space.
 */

/* The most envelope types a scratch holds one of. */
#define ENVELOPE_SCRATCH_TYPES 2

struct envelope_scratch {
	struct flat_arena strings;	/* first: flat_set's ctx */
	ProtobufCMessage *foreign;
	bool busy;
	void *env, *body;
	size_t body_size;
	uint8_t *strings_at;
	size_t cap;			/* the most bytes unpacked here */
};

/* A body on the heap, read by protobuf-c or by a codec (whose strings and
 * bytes are malloc'd as protobuf-c's are), is freed by protobuf-c. */
static void
envelope_free_body(ProtobufCMessage *body)
{
	protobuf_c_message_free_unpacked(body, NULL);
}

/* A flat body of type d read by its codec into a new malloc'd message,
 * or NULL. */
static ProtobufCMessage *
envelope_read_new(const struct flat_codec *codec,
    const ProtobufCMessageDescriptor *d, const struct varint_item *it)
{
	ProtobufCMessage *body = malloc(d->sizeof_message);

	if (body == NULL)
		return NULL;
	protobuf_c_message_init(d, body);
	if (!codec->read(body, it->data, it->len, NULL)) {
		envelope_free_body(body);
		return NULL;
	}
	return body;
}

/* The body read off the wire: into the scratch s's slot by its codec,
 * else on the heap (s NULL, or s's foreign body). */
static ProtobufCMessage *
envelope_read_body(struct envelope_scratch *s,
    const ProtobufCMessageDescriptor *d, const struct flat_codec *codec,
    const struct varint_item *it)
{
	ProtobufCMessage *body;

	if (s != NULL && codec != NULL && d->sizeof_message <= s->body_size) {
		body = s->body;
		protobuf_c_message_init(d, body);
		return codec->read(body, it->data, it->len, &s->strings) ?
		    body : NULL;
	}
	body = codec != NULL ? envelope_read_new(codec, d, it) :
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
		envelope_free_body(old);
		s->foreign = NULL;
	}
}

/* The body off the wire; a later body replaces an earlier one whole, as
 * protobuf-c does for a oneof. */
static bool
envelope_set_body(struct envelope_scratch *s, const struct flat_envelope *env,
    ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
    const struct varint_item *it)
{
	uint32_t *bc = (uint32_t *)((char *)m + f->quantifier_offset);
	ProtobufCMessage **slot = (ProtobufCMessage **)((char *)m + f->offset);
	const ProtobufCFieldDescriptor *of;
	ProtobufCMessage *old;

	if (it->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
		return false;
	if ((old = envelope_body(env, m, &of)) != NULL)
		envelope_drop_body(s, old);
	*bc = 0;
	if ((*slot = envelope_read_body(s, f->descriptor,
	    envelope_codec(env, m, f), it)) == NULL)
		return false;
	*bc = f->id;
	return true;
}

/*
 * The fields of envelope m (initialised, of its type) off the wire: a
 * head as flat.c sets it, the body as above, unknown ones skipped; false
 * when a field is bad, m then the caller's to let go. Strings go to s's
 * storage, or the heap when s is NULL (flat_set's ctx: s starts with its
 * arena).
 */
static bool
envelope_read(struct envelope_scratch *s, const struct flat_envelope *env,
    ProtobufCMessage *m, const uint8_t *buf, size_t len)
{
	const ProtobufCFieldDescriptor *f;
	struct varint_item it;
	size_t n;
	int j;

	for (; len > 0; buf += n, len -= n) {
		if ((n = varint_get_item(buf, len, &it)) == 0)
			return false;
		if ((j = env->field(it.tag)) < 0)
			continue;
		f = &m->descriptor->fields[j];
		if (!((unsigned)j < env->heads ? flat_set(s, m, f, &it) :
		    envelope_set_body(s, env, m, f, &it)))
			return false;
	}
	return true;
}

ProtobufCMessage *
envelope_unpack(const ProtobufCMessageDescriptor *d, const uint8_t *buf,
    size_t len)
{
	const struct flat_envelope *env = flat_envelope_of(d);
	ProtobufCMessage *m;

	if (env == NULL || (m = malloc(d->sizeof_message)) == NULL)
		return NULL;
	protobuf_c_message_init(d, m);
	if (!envelope_read(NULL, env, m, buf, len)) {
		envelope_free(m);
		return NULL;
	}
	return m;
}

void
envelope_free(ProtobufCMessage *m)
{
	const struct flat_envelope *env;
	const ProtobufCFieldDescriptor *bf;
	ProtobufCMessage *body;

	if (m == NULL)
		return;
	/* not an envelope: a scratch message let go twice (its descriptor
	 * cleared), which must crash here, not free what is not the heap's */
	if ((env = flat_envelope_of(m->descriptor)) == NULL)
		abort();
	for (size_t i = 0; i < env->heads; i++)
		flat_free_field(m, &m->descriptor->fields[i]);
	if ((body = envelope_body(env, m, &bf)) != NULL)
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

/* The largest body of an envelope of type d that has a codec, or
 * *largest if that is larger. */
static void
envelope_largest_body(const struct flat_envelope *env,
    const ProtobufCMessageDescriptor *d, size_t *largest)
{
	for (size_t j = env->heads; j < d->n_fields; j++) {
		const ProtobufCMessageDescriptor *bd = d->fields[j].descriptor;

		if (env->bodies[j] != NULL && bd->sizeof_message > *largest)
			*largest = bd->sizeof_message;
	}
}

struct envelope_scratch *
envelope_scratch_new(const ProtobufCMessageDescriptor *const *ds, size_t nd,
    size_t cap)
{
	size_t env = 0, body = 0, head = envelope_align(sizeof(
	    struct envelope_scratch));
	struct envelope_scratch *s;

	if (nd > ENVELOPE_SCRATCH_TYPES)
		return NULL;
	for (size_t i = 0; i < nd; i++) {
		const struct flat_envelope *e = flat_envelope_of(ds[i]);

		if (e == NULL)
			return NULL;
		if (ds[i]->sizeof_message > env)
			env = ds[i]->sizeof_message;
		envelope_largest_body(e, ds[i], &body);
	}
	env = envelope_align(env);
	body = envelope_align(body);
	if ((s = malloc(head + env + body + cap)) == NULL)
		return NULL;
	memset(s, 0, sizeof(*s));
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
	const struct flat_envelope *env;
	ProtobufCMessage *m;

	/* in use, or too long for it (strings take at most len bytes) */
	if (s == NULL || s->busy || len > s->cap ||
	    d->sizeof_message > (size_t)((uint8_t *)s->body -
	    (uint8_t *)s->env) || (env = flat_envelope_of(d)) == NULL)
		return envelope_unpack(d, buf, len);
	m = s->env;
	protobuf_c_message_init(d, m);
	s->strings.next = s->strings_at;
	s->strings.end = s->strings_at + s->cap;
	s->busy = true;
	if (!envelope_read(s, env, m, buf, len)) {
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
	const struct flat_envelope *env;
	ProtobufCMessage *copy, *body = NULL;
	uint32_t *bc, moved = 0;

	if (!envelope_scratch_holds(s, m))
		return m;
	env = flat_envelope_of(m->descriptor);
	oneof = envelope_oneof(env, m);
	bc = (uint32_t *)((char *)m + oneof->quantifier_offset);
	if (s->foreign != NULL &&
	    (body = envelope_body(env, m, &bf)) == s->foreign) {
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
		envelope_free_body(s->foreign);
	s->foreign = NULL;
	s->busy = false;
	/* let go twice, it would be freed as a heap message: a NULL
	 * descriptor makes that a clean crash, not a corrupt heap */
	m->descriptor = NULL;
}
