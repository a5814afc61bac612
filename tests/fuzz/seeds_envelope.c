/* SPDX-License-Identifier: ISC */
/*
 * seeds_envelope: valid inputs for fuzz_envelope (format in
 * fuzz_envelope.h): each envelope with each of its bodies, empty, and for
 * a flat body with every field set (envelope_make, which test_envelope
 * packs too).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope_diff.h"
#include "fuzz_envelope.h"
#include "flat.h"
#include "fuzz_seeds.h"
#include "wire.h"

static void
seed(struct fout *o, const char *dir, const ProtobufCMessage *m,
    const char *name)
{
	static uint8_t buf[WIRE_MAX_MESSAGE];
	ssize_t len = wire_pack(m, buf);

	if (len < 0)
		return;
	fout_u8(o, m->descriptor == &shmbroker__server_message__descriptor ?
	    FE_SERVER : 0);
	fout_rest(o, buf, (size_t)len);
	fout_save(o, dir, name);
}

/* Every body of d empty, and every flat one that has fields with every
 * field set. */
static void
seeds_every_body(struct fout *o, const char *dir,
    const ProtobufCMessageDescriptor *d)
{
	struct envelope_mem mem;
	char name[128];

	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];

		if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
			continue;
		snprintf(name, sizeof(name), "%s-%s", d->short_name, f->name);
		seed(o, dir, envelope_make(&mem, d, f, ENVELOPE_EMPTY, i), name);
		if (!flat_is(f->descriptor) || ((const ProtobufCMessageDescriptor
		    *)f->descriptor)->n_fields == 0)
			continue;
		snprintf(name, sizeof(name), "%s-%s-full", d->short_name,
		    f->name);
		seed(o, dir, envelope_make(&mem, d, f, ENVELOPE_FULL, i), name);
	}
}

void
seeds_envelope(const char *dir)
{
	struct fout o = { 0 };

	seeds_every_body(&o, dir, &shmbroker__client_message__descriptor);
	seeds_every_body(&o, dir, &shmbroker__server_message__descriptor);
	free(o.buf);
}
