/* SPDX-License-Identifier: ISC */
/*
 * envelope_diff: proto/envelope.c against protobuf-c on the same bytes.
 * See envelope_diff.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "envelope_diff.h"
#include "flat.h"
#include "wire.h"

/* A decoded message's repack may outgrow its input (a 5-byte enum packs
 * to 10): room for twice the largest datagram. */
#define DIFF_BUF (2 * WIRE_MAX_MESSAGE)

struct diff_bufs {
	uint8_t theirs[DIFF_BUF];
	uint8_t ours[DIFF_BUF];
};

/* The envelope m's body, or NULL. */
static ProtobufCMessage *
diff_body(ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const ProtobufCFieldDescriptor *f;
	uint32_t bc;

	for (unsigned i = 0; i < d->n_fields; i++) {
		if (!(d->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
			continue;
		bc = *(uint32_t *)((char *)m + d->fields[i].quantifier_offset);
		f = protobuf_c_message_descriptor_get_field(d, bc);
		return f == NULL ? NULL :
		    *(ProtobufCMessage **)((char *)m + f->offset);
	}
	return NULL;
}

/* protobuf-c's bytes for m, without the unknown fields of the envelope
 * and of its body (envelope.c skips them; deeper ones protobuf-c reads
 * for either). */
static size_t
diff_pack_known(ProtobufCMessage *m, uint8_t *out)
{
	ProtobufCMessage *body = diff_body(m);
	unsigned n = m->n_unknown_fields, nb = 0;
	size_t len;

	m->n_unknown_fields = 0;
	if (body != NULL) {
		nb = body->n_unknown_fields;
		body->n_unknown_fields = 0;
	}
	len = protobuf_c_message_pack(m, out);
	m->n_unknown_fields = n;
	if (body != NULL)
		body->n_unknown_fields = nb;
	return len;
}

/* wire_pack's bytes for m protobuf-c's: for protobuf-c's own message too,
 * whose unknown fields send it, or its body, down protobuf-c's way. */
static int
diff_pack(ProtobufCMessage *m, struct diff_bufs *b, char *why, size_t whylen)
{
	size_t tl = protobuf_c_message_pack(m, b->theirs);
	ssize_t el = wire_pack(m, b->ours);

	if (tl > WIRE_MAX_MESSAGE ? el == -EMSGSIZE :
	    el == (ssize_t)tl && memcmp(b->theirs, b->ours, tl) == 0)
		return 0;
	snprintf(why, whylen, "wire_pack gave %zd bytes, protobuf-c %zu (or "
	    "other bytes)%s", el, tl, m->n_unknown_fields != 0 ?
	    ", unknown fields kept" : "");
	return -1;
}

/* Both messages the same, and wire_pack's bytes for them protobuf-c's. */
static int
diff_compare(ProtobufCMessage *theirs, ProtobufCMessage *ours,
    struct diff_bufs *b, char *why, size_t whylen)
{
	size_t tl, ol;

	if (protobuf_c_message_get_packed_size(theirs) > DIFF_BUF ||
	    protobuf_c_message_get_packed_size(ours) > DIFF_BUF) {
		snprintf(why, whylen, "a message packs to more than %d bytes",
		    DIFF_BUF);
		return -1;
	}
	tl = diff_pack_known(theirs, b->theirs);
	ol = diff_pack_known(ours, b->ours);
	if (ol != tl || memcmp(b->theirs, b->ours, tl) != 0) {
		snprintf(why, whylen, "the two messages differ");
		return -1;
	}
	if (diff_pack(ours, b, why, whylen) < 0 ||
	    diff_pack(theirs, b, why, whylen) < 0)
		return -1;
	return 0;
}

/* The scratch's message kept on the heap (wire_keep_server's) as
 * protobuf-c's too; the scratch is let go of it. */
static int
diff_keep(struct envelope_scratch *s, ProtobufCMessage *theirs,
    ProtobufCMessage *in, struct diff_bufs *b, char *why, size_t whylen)
{
	ProtobufCMessage *kept = envelope_scratch_keep(s, in);
	int rc;

	if (kept == NULL || envelope_scratch_holds(s, in)) {
		snprintf(why, whylen, "envelope_scratch_keep failed");
		return -1;
	}
	rc = diff_compare(theirs, kept, b, why, whylen);
	envelope_free(kept);
	return rc;
}

/*
 * The same bytes unpacked into a scratch, and again while it holds them
 * (the heap then): both as protobuf-c's. The scratch has room for these
 * bytes and no more, which holds envelope.c to its bound on the strings.
 */
static int
diff_scratch(const ProtobufCMessageDescriptor *d, const uint8_t *buf,
    size_t len, ProtobufCMessage *theirs, struct diff_bufs *b, char *why,
    size_t whylen)
{
	struct envelope_scratch *s = envelope_scratch_new(&d, 1, len);
	ProtobufCMessage *in, *again;
	int rc = 0;

	if (s == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	in = envelope_unpack_in(s, d, buf, len);
	again = envelope_unpack_in(s, d, buf, len);
	if ((in == NULL) != (theirs == NULL) ||
	    (again == NULL) != (theirs == NULL)) {
		snprintf(why, whylen, "protobuf-c %s the bytes, envelope.c in "
		    "a scratch %s, on the heap after it %s",
		    theirs == NULL ? "refused" : "took",
		    in == NULL ? "refused" : "took",
		    again == NULL ? "refused" : "took");
		rc = -1;
	} else if (theirs != NULL && (!envelope_scratch_holds(s, in) ||
	    envelope_scratch_holds(s, again))) {
		snprintf(why, whylen, "a message in the wrong place");
		rc = -1;
	} else if (theirs != NULL) {
		rc = diff_compare(theirs, in, b, why, whylen);
		if (rc == 0)
			rc = diff_compare(theirs, again, b, why, whylen);
		if (rc == 0) {
			rc = diff_keep(s, theirs, in, b, why, whylen);
			in = NULL;	/* kept and let go, or freed */
		}
	}
	envelope_scratch_done(s, again);
	envelope_scratch_done(s, in);
	envelope_scratch_free(s);
	return rc;
}

int
envelope_diff(const ProtobufCMessageDescriptor *d, const uint8_t *buf,
    size_t len, char *why, size_t whylen)
{
	ProtobufCMessage *theirs = protobuf_c_message_unpack(d, NULL, len, buf);
	ProtobufCMessage *ours = envelope_unpack(d, buf, len);
	struct diff_bufs *b = malloc(sizeof(*b));
	int rc = 1;

	if (b == NULL) {
		snprintf(why, whylen, "out of memory");
		rc = -1;
	} else if ((theirs == NULL) != (ours == NULL)) {
		snprintf(why, whylen, "protobuf-c %s the bytes, envelope.c %s",
		    theirs == NULL ? "refused" : "took",
		    ours == NULL ? "refused" : "took");
		rc = -1;
	} else if (theirs != NULL) {
		rc = diff_compare(theirs, ours, b, why, whylen);
	}
	if (rc >= 0 && diff_scratch(d, buf, len, theirs, b, why, whylen) < 0)
		rc = -1;
	free(b);
	/* Each frees the other's too (wire.h and shmclient_admin.h say so):
	 * crossed for every other length, so that both ways run. */
	if (len % 2 == 0) {
		protobuf_c_message_free_unpacked(theirs, NULL);
		envelope_free(ours);
	} else {
		envelope_free(theirs);
		protobuf_c_message_free_unpacked(ours, NULL);
	}
	return rc;
}

/* Head values worth packing: zero (left out), varint edges, the largest. */
static const uint64_t diff_ids[] = {
	0, 1, 127, 128, 16383, 16384, UINT64_MAX
};
static const int32_t diff_errors[] = { 0, 1, 9, 127, 128, -1, INT32_MIN };

/* A string longer than 127 bytes: its length takes two bytes. */
static const char diff_long[] =
    "a reason long enough that its length prefix takes two bytes on the "
    "wire, as a long shmctl error or a long tenant or region name can";

/*
 * Every field of a flat body set, each to a value that is not zero (form
 * ENVELOPE_FULL: varints of every length, bools of 1 and 2, strings and
 * bytes of 1 to 130 bytes) or to the values proto3 leaves out that are not
 * the init's (ENVELOPE_NULLS: NULL strings, bytes of length 0 with data,
 * bools of 0, the integers as in FULL). k varies the values by field.
 */
static void
diff_fill_flat(ProtobufCMessage *body, int form, unsigned salt)
{
	static uint8_t bytes[] = { 0, 1, 0xff };
	static const char *const strs[] = { "q", "qemu vm3", diff_long };
	const ProtobufCMessageDescriptor *d = body->descriptor;
	bool nulls = form == ENVELOPE_NULLS;

	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		uint8_t *member = (uint8_t *)body + f->offset;
		unsigned k = salt + i;
		ProtobufCBinaryData *bd = (ProtobufCBinaryData *)member;

		switch (f->type) {
		case PROTOBUF_C_TYPE_INT32:
		case PROTOBUF_C_TYPE_ENUM:
			*(int32_t *)member = k % 2 ? -(int32_t)(k + 1) :
			    (int32_t)(k + 1);
			break;
		case PROTOBUF_C_TYPE_UINT32:
			*(uint32_t *)member = 0xffffffffu >> (k % 32);
			break;
		case PROTOBUF_C_TYPE_UINT64:
			*(uint64_t *)member = UINT64_MAX >> (k % 64);
			break;
		case PROTOBUF_C_TYPE_BOOL:
			*(protobuf_c_boolean *)member = nulls ? 0 : 1 + (int)k % 2;
			break;
		case PROTOBUF_C_TYPE_STRING:
			*(const char **)member = nulls ? NULL : strs[k % 3];
			break;
		case PROTOBUF_C_TYPE_BYTES:
			bd->len = nulls ? 0 : 1 + k % 3;
			bd->data = bytes;
			break;
		default:
			break;
		}
	}
}

ProtobufCMessage *
envelope_make(struct envelope_mem *mem, const ProtobufCMessageDescriptor *d,
    const ProtobufCFieldDescriptor *f, enum envelope_form form, size_t h)
{
	const ProtobufCMessageDescriptor *bd = f->descriptor;
	ProtobufCMessage *m = (ProtobufCMessage *)mem->env;
	ProtobufCMessage *body = (ProtobufCMessage *)mem->body;

	if (d->sizeof_message > ENVELOPE_MEM_MAX ||
	    bd->sizeof_message > ENVELOPE_MEM_MAX)
		abort();	/* the schema outgrew ENVELOPE_MEM_MAX */
	protobuf_c_message_init(d, m);
	protobuf_c_message_init(bd, body);
	if ((form == ENVELOPE_FULL || form == ENVELOPE_NULLS) && flat_is(bd))
		diff_fill_flat(body, form, (unsigned)h);
	*(uint32_t *)(mem->env + f->quantifier_offset) = f->id;
	*(void **)(mem->env + f->offset) = form == ENVELOPE_MISSING ? NULL :
	    body;
	*(uint64_t *)(mem->env + d->fields[0].offset) =
	    diff_ids[h % (sizeof(diff_ids) / sizeof(diff_ids[0]))];
	if (d->fields[1].type == PROTOBUF_C_TYPE_ENUM)
		*(int32_t *)(mem->env + d->fields[1].offset) =
		    diff_errors[h % (sizeof(diff_errors) /
		    sizeof(diff_errors[0]))];
	if (d->fields[2].type == PROTOBUF_C_TYPE_STRING)
		*(const char **)(mem->env + d->fields[2].offset) = h % 3 == 0 ?
		    NULL : h % 3 == 1 ? "" : "no such region";
	return m;
}
