/* SPDX-License-Identifier: ISC */
/*
 * fuzz_envelope: proto/envelope.c, which reads the envelope of every
 * request the daemon takes and every reply a client takes, against
 * protobuf-c's own unpacker on the same bytes (format in fuzz_envelope.h):
 * both refuse them, or both give the same message and envelope_pack packs
 * it to protobuf-c's bytes (tests/harness/envelope_diff.c). Any difference
 * aborts.
 */
#include <stdio.h>
#include <stdlib.h>

#include "envelope_diff.h"
#include "fuzz_envelope.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const ProtobufCMessageDescriptor *d;
	char why[160];

	if (size < 1 || size - 1 > WIRE_MAX_MESSAGE)
		return -1;	/* not a datagram: kept out of the corpus */
	d = (data[0] & FE_SERVER) ? &shmbroker__server_message__descriptor :
	    &shmbroker__client_message__descriptor;
	if (envelope_diff(d, data + 1, size - 1, why, sizeof(why)) < 0) {
		fprintf(stderr, "envelope: %s, %zu bytes: %s\n", d->name,
		    size - 1, why);
		abort();
	}
	return 0;
}
