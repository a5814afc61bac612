/* SPDX-License-Identifier: ISC */
/*
 * envelope_diff: whether proto/envelope.c reads and writes an envelope as
 * protobuf-c does, and the envelopes to try, for test_envelope,
 * fuzz_envelope and its seeds.
 */
#ifndef SHMBROKER_ENVELOPE_DIFF_H
#define SHMBROKER_ENVELOPE_DIFF_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/*
 * Unpacks buf both ways as an envelope of type d. 0 when both give
 * messages that protobuf-c packs to the same bytes once protobuf-c's
 * unknown fields are set aside (envelope.c skips them), and wire_pack
 * packs each as protobuf-c does; 1 when both refuse the bytes. Otherwise
 * -1 and what differs in why. The messages are freed crosswise for inputs
 * of odd length: protobuf-c frees the codec's and the codec protobuf-c's.
 * The codec's unpack into a scratch (with room for these bytes only) and
 * on the heap while the scratch holds one, and the first kept on the heap
 * (envelope_scratch_keep), are held to the same.
 */
int envelope_diff(const ProtobufCMessageDescriptor *d, const uint8_t *buf,
    size_t len, char *why, size_t whylen);

/* Room for any envelope and any body of this schema, aligned. */
#define ENVELOPE_MEM_MAX 512
struct envelope_mem {
	_Alignas(16) uint8_t env[ENVELOPE_MEM_MAX];
	_Alignas(16) uint8_t body[ENVELOPE_MEM_MAX];
};

/* The forms of envelope_make's body. */
enum envelope_form {
	ENVELOPE_EMPTY,		/* as its init leaves it */
	ENVELOPE_MISSING,	/* the case set, the pointer NULL */
	ENVELOPE_FULL,		/* a flat body's every field not zero */
	ENVELOPE_NULLS,		/* a flat body's NULL strings, bytes of
				 * length 0 with data, false bools */
	ENVELOPE_FORMS
};

/*
 * Makes in mem the envelope d whose body is its oneof member f, in a form
 * (a body that is not flat is left empty in every form). The values of
 * its fields and its head fields vary with h. Strings and bytes are
 * constants: the message is never freed.
 */
ProtobufCMessage *envelope_make(struct envelope_mem *mem,
    const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f,
    enum envelope_form form, size_t h);

#endif
