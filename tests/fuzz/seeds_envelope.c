/* SPDX-License-Identifier: ISC */
/*
 * seeds_envelope: valid inputs for fuzz_envelope (format in
 * fuzz_envelope.h): each envelope with each of its bodies, empty, under
 * a head with every field set; and a full attach and its reply.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_envelope.h"
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

static void
seeds_every_body(struct fout *o, const char *dir,
    const ProtobufCMessageDescriptor *d)
{
	uint8_t mem[512] __attribute__((aligned(16)));
	uint8_t body[512] __attribute__((aligned(16)));
	ProtobufCMessage *m = (ProtobufCMessage *)mem;
	char name[128];

	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];

		if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
			continue;
		protobuf_c_message_init(d, m);
		protobuf_c_message_init(f->descriptor, body);
		*(uint32_t *)(mem + f->quantifier_offset) = f->id;
		*(void **)(mem + f->offset) = body;
		*(uint64_t *)(mem + d->fields[0].offset) = 1000 + i;
		if (d->fields[1].type == PROTOBUF_C_TYPE_ENUM)
			*(int32_t *)(mem + d->fields[1].offset) = 1;
		if (d->fields[2].type == PROTOBUF_C_TYPE_STRING)
			*(const char **)(mem + d->fields[2].offset) = "why";
		snprintf(name, sizeof(name), "%s-%s", d->short_name, f->name);
		seed(o, dir, m, name);
	}
}

void
seeds_envelope(const char *dir)
{
	Shmbroker__ClientMessage cm = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__Attach at = SHMBROKER__ATTACH__INIT;
	Shmbroker__ServerMessage sm = SHMBROKER__SERVER_MESSAGE__INIT;
	Shmbroker__AttachReply ar = SHMBROKER__ATTACH_REPLY__INIT;
	struct fout o = { 0 };

	seeds_every_body(&o, dir, &shmbroker__client_message__descriptor);
	seeds_every_body(&o, dir, &shmbroker__server_message__descriptor);
	cm.id = 7;
	cm.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ATTACH;
	cm.attach = &at;
	at.name.data = (uint8_t *)"shm0";
	at.name.len = 5;
	at.size_pages = 16;
	at.create = 1;
	at.want_index = 2;
	seed(&o, dir, &cm.base, "attach-full");
	sm.id = 7;
	sm.body_case = SHMBROKER__SERVER_MESSAGE__BODY_ATTACH;
	sm.attach = &ar;
	ar.client_id = 1ULL << 33;
	ar.region_id = 4;
	ar.index = 1;
	ar.size_pages = 16;
	ar.backing_bytes = 65536;
	ar.active_mask = 3;
	ar.created = 1;
	seed(&o, dir, &sm.base, "attach-reply-full");
	free(o.buf);
}
