/* SPDX-License-Identifier: ISC */
/*
 * flatgen: a build-time tool that writes flat_gen.c, code of its own for
 * the two envelopes and every flat body of theirs (flat_gen.h), from the
 * descriptors protoc-c made; it fails the build for an envelope whose
 * shape the codec does not take (flat_is_envelope). A codec that walked
 * the descriptors would decide per field and per message what each field
 * holds and where its tag goes; here those decisions are made once, so
 * that each message type's code is straight-line loads, tests and stores,
 * and the schema stays the one source. Which fields are flat and the
 * value each kind packs from are flat.c's rules (flat_is, flat_value),
 * repeated here field kind by field kind; test_envelope and fuzz_envelope
 * hold the result to protobuf-c's bytes and messages. Built for and run on
 * the build host, as the project is (no cross build). Usage: flatgen
 * OUTPUT.c
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flat.h"
#include "shmbroker.pb-c.h"

/* The envelopes whose bodies get a codec, and the name of each table. */
#define ENVELOPE(name) { &name, #name }
static const struct {
	const ProtobufCMessageDescriptor *d;
	const char *symbol;
} envelopes[] = {
	ENVELOPE(shmbroker__client_message__descriptor),
	ENVELOPE(shmbroker__server_message__descriptor),
};

#define NENVELOPES (sizeof(envelopes) / sizeof(envelopes[0]))

/* Writes field f's tag bytes (its number and wire type) as C stores. */
static void
put_tag(FILE *o, const ProtobufCFieldDescriptor *f, unsigned wire_type)
{
	uint8_t tag[5], *end = varint_put_tag(tag, f->id, wire_type);

	for (const uint8_t *p = tag; p < end; p++)
		fprintf(o, "\t\t*p++ = 0x%02x;\n", *p);
}

static bool
is_lengthy(const ProtobufCFieldDescriptor *f)
{
	return f->type == PROTOBUF_C_TYPE_STRING ||
	    f->type == PROTOBUF_C_TYPE_BYTES;
}

/* The C expression of a varint field's value as flat_value gives it. */
static void
value_of(char *buf, size_t len, const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_ENUM:
		snprintf(buf, len, "(uint64_t)(int64_t)(int32_t)m->%s",
		    f->name);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		snprintf(buf, len, "(uint64_t)(m->%s != 0)", f->name);
		break;
	default:
		snprintf(buf, len, "(uint64_t)m->%s", f->name);
		break;
	}
}

/* The C expression of a string or bytes field's length and its data. */
static void
lengthy_of(char *len_buf, char *data_buf, size_t len,
    const ProtobufCFieldDescriptor *f)
{
	if (f->type == PROTOBUF_C_TYPE_STRING) {
		snprintf(len_buf, len, "flat_gen_strlen(m->%s)", f->name);
		snprintf(data_buf, len, "m->%s", f->name);
	} else {
		snprintf(len_buf, len, "m->%s.len", f->name);
		snprintf(data_buf, len, "m->%s.data", f->name);
	}
}

/* Opens function fn_name(params), whose msg is m of d's type. */
static void
gen_open(FILE *o, const char *ret, const char *fn, const char *name,
    const char *params, const char *qual, const ProtobufCMessageDescriptor *d)
{
	fprintf(o, "static %s\n%s_%s(%s)\n{\n\t%s%s *m = (%s%s *)msg;\n",
	    ret, fn, name, params, qual, d->c_name, qual, d->c_name);
}

/* The size of the first n fields of d (all of a body, an envelope's
 * heads), as function size_name. */
static void
gen_size(FILE *o, const char *name, const ProtobufCMessageDescriptor *d,
    size_t n)
{
	char v[256], data[256];

	gen_open(o, "size_t", "size", name, "const ProtobufCMessage *msg",
	    "const ", d);
	fprintf(o, "\tsize_t len = 0;\n\n\t(void)m;\n");
	for (unsigned i = 0; i < n; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];

		if (is_lengthy(f))
			lengthy_of(v, data, sizeof(v), f);
		else
			value_of(v, sizeof(v), f);
		fprintf(o, "\tlen += flat_gen_%s(%zu, %s);\n",
		    is_lengthy(f) ? "lengthy_size" : "varint_size",
		    varint_tag_len(f->id), v);
	}
	fprintf(o, "\treturn len;\n}\n\n");
}

/* The same fields packed, as function put_name. */
static void
gen_put(FILE *o, const char *name, const ProtobufCMessageDescriptor *d,
    size_t n)
{
	char v[256], data[256];

	gen_open(o, "uint8_t *", "put", name,
	    "uint8_t *p, const ProtobufCMessage *msg", "const ", d);
	fprintf(o, "\tsize_t n;\n\n\t(void)m;\n\t(void)n;\n");
	for (unsigned i = 0; i < n; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];

		if (!is_lengthy(f)) {
			value_of(v, sizeof(v), f);
			fprintf(o, "\tif (m->%s != 0) {\n", f->name);
			put_tag(o, f, PROTOBUF_C_WIRE_TYPE_VARINT);
			if (f->type == PROTOBUF_C_TYPE_BOOL)
				fprintf(o, "\t\t*p++ = 1;\n\t}\n");
			else
				fprintf(o, "\t\tp = varint_put(p, %s);\n\t}\n",
				    v);
			continue;
		}
		lengthy_of(v, data, sizeof(v), f);
		fprintf(o, "\tif ((n = %s) != 0) {\n", v);
		put_tag(o, f, PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED);
		fprintf(o, "\t\tp = varint_put(p, n);\n"
		    "\t\tmemcpy(p, %s, n);\n\t\tp += n;\n\t}\n", data);
	}
	fprintf(o, "\treturn p;\n}\n\n");
}

/* One field off the wire, as flat_set takes it: integers stored whatever
 * the wire type and then refused unless a varint, a bool any value bit,
 * strings and bytes through flat_set itself (their copy, the arena). */
static void
gen_read_field(FILE *o, const ProtobufCMessageDescriptor *d, unsigned i)
{
	const ProtobufCFieldDescriptor *f = &d->fields[i];

	fprintf(o, "\t\tcase %u:\n", f->id);
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_ENUM:
	case PROTOBUF_C_TYPE_UINT32:
		fprintf(o, "\t\t\tmemcpy(&m->%s, &(uint32_t){ "
		    "(uint32_t)it.value }, 4);\n", f->name);
		fprintf(o, "\t\t\tif (it.wire_type != "
		    "PROTOBUF_C_WIRE_TYPE_VARINT)\n\t\t\t\treturn false;\n");
		break;
	case PROTOBUF_C_TYPE_UINT64:
		fprintf(o, "\t\t\tm->%s = it.value;\n", f->name);
		fprintf(o, "\t\t\tif (it.wire_type != "
		    "PROTOBUF_C_WIRE_TYPE_VARINT)\n\t\t\t\treturn false;\n");
		break;
	case PROTOBUF_C_TYPE_BOOL:
		fprintf(o, "\t\t\tm->%s = varint_any_bits(&it);\n", f->name);
		break;
	default:
		fprintf(o, "\t\t\tif (!flat_set(a, msg, "
		    "&msg->descriptor->fields[%u], &it))\n"
		    "\t\t\t\treturn false;\n", i);
		break;
	}
	fprintf(o, "\t\t\tbreak;\n");
}

static void
gen_read(FILE *o, const ProtobufCMessageDescriptor *d)
{
	gen_open(o, "bool", "read", d->c_name, "ProtobufCMessage *msg, "
	    "const uint8_t *buf, size_t len,\n    struct flat_arena *a", "", d);
	fprintf(o, "\tstruct varint_item it;\n\tsize_t n;\n\n"
	    "\t(void)m;\n\t(void)a;\n"
	    "\tfor (; len > 0; buf += n, len -= n) {\n"
	    "\t\tif ((n = varint_get_item(buf, len, &it)) == 0)\n"
	    "\t\t\treturn false;\n\t\tswitch (it.tag) {\n");
	for (unsigned i = 0; i < d->n_fields; i++)
		gen_read_field(o, d, i);
	fprintf(o, "\t\tdefault:\t/* unknown: skipped */\n\t\t\tbreak;\n"
	    "\t\t}\n\t}\n\treturn true;\n}\n\n");
}

/* Whether d's codec was written already (a body of both envelopes). */
static bool
seen(const ProtobufCMessageDescriptor *d, size_t e, size_t j)
{
	for (size_t k = 0; k <= e; k++) {
		const ProtobufCMessageDescriptor *ed = envelopes[k].d;
		size_t end = k < e ? ed->n_fields : j;

		for (size_t i = 0; i < end; i++)
			if (ed->fields[i].type == PROTOBUF_C_TYPE_MESSAGE &&
			    ed->fields[i].descriptor == d)
				return true;
	}
	return false;
}

static const ProtobufCMessageDescriptor *
flat_body(const ProtobufCFieldDescriptor *f)
{
	if (f->type != PROTOBUF_C_TYPE_MESSAGE ||
	    !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || !flat_is(f->descriptor))
		return NULL;
	return f->descriptor;
}

static void
gen_codecs(FILE *o)
{
	for (size_t e = 0; e < NENVELOPES; e++) {
		const ProtobufCMessageDescriptor *ed = envelopes[e].d;

		for (size_t j = 0; j < ed->n_fields; j++) {
			const ProtobufCMessageDescriptor *d =
			    flat_body(&ed->fields[j]);

			if (d == NULL || seen(d, e, j))
				continue;
			fprintf(o, "/* %s */\n\n", d->name);
			gen_size(o, d->c_name, d, d->n_fields);
			gen_put(o, d->c_name, d, d->n_fields);
			gen_read(o, d);
			fprintf(o, "static const struct flat_codec codec_%s = "
			    "{\n\tsize_%s, put_%s, read_%s,\n};\n\n",
			    d->c_name, d->c_name, d->c_name, d->c_name);
		}
	}
}

/* The index of an envelope's field by its number: a switch the compiler
 * makes a table of, where protobuf-c searches the number's ranges. */
static void
gen_field_index(FILE *o, const ProtobufCMessageDescriptor *d)
{
	fprintf(o, "static int\nfield_%s(uint32_t tag)\n{\n\tswitch (tag) "
	    "{\n", d->c_name);
	for (unsigned i = 0; i < d->n_fields; i++)
		fprintf(o, "\tcase %u:\n\t\treturn %u;\n", d->fields[i].id, i);
	fprintf(o, "\tdefault:\n\t\treturn -1;\n\t}\n}\n\n");
}

static void
gen_envelope(FILE *o, size_t e, size_t heads)
{
	const ProtobufCMessageDescriptor *d = envelopes[e].d;
	char name[256];

	snprintf(name, sizeof(name), "heads_%s", d->c_name);
	fprintf(o, "/* %s */\n\n", d->name);
	gen_size(o, name, d, heads);
	gen_put(o, name, d, heads);
	gen_field_index(o, d);
	fprintf(o, "static const struct flat_codec *const bodies_%s[%u] = "
	    "{\n", d->c_name, d->n_fields);
	for (size_t j = heads; j < d->n_fields; j++) {
		const ProtobufCMessageDescriptor *bd = flat_body(&d->fields[j]);

		if (bd != NULL)
			fprintf(o, "\t[%zu] = &codec_%s,\n", j, bd->c_name);
	}
	fprintf(o, "};\n\nstatic const struct flat_envelope envelope_%s = {\n"
	    "\t%zu, size_%s, put_%s, field_%s, bodies_%s,\n};\n\n",
	    d->c_name, heads, name, name, d->c_name, d->c_name);
}

static void
gen_lookup(FILE *o)
{
	fprintf(o, "const struct flat_envelope *\nflat_envelope_of(const "
	    "ProtobufCMessageDescriptor *d)\n{\n");
	for (size_t e = 0; e < NENVELOPES; e++)
		fprintf(o, "\tif (d == &%s)\n\t\treturn &envelope_%s;\n",
		    envelopes[e].symbol, envelopes[e].d->c_name);
	fprintf(o, "\treturn NULL;\n}\n");
}

int
main(int argc, char **argv)
{
	size_t heads[NENVELOPES];
	FILE *o;

	if (argc != 2) {
		fprintf(stderr, "usage: flatgen OUTPUT.c\n");
		return 2;
	}
	for (size_t e = 0; e < NENVELOPES; e++)
		if (!flat_is_envelope(envelopes[e].d, &heads[e])) {
			fprintf(stderr, "flatgen: %s is not an envelope (at "
			    "most %d flat head fields, then one oneof of "
			    "messages): fix shmbroker.proto\n",
			    envelopes[e].d->name, FLAT_ENVELOPE_HEADS_MAX);
			return 1;
		}
	if ((o = fopen(argv[1], "w")) == NULL) {
		perror(argv[1]);
		return 1;
	}
	fprintf(o, "/* Written by flatgen (proto/flatgen.c) from "
	    "shmbroker.proto's descriptors at\n * build time: do not edit. "
	    "Each envelope and each of its flat bodies\n * sized, put and "
	    "read by its own code (flat_gen.h). */\n#include <string.h>\n\n"
	    "#include \"flat_gen.h\"\n#include \"shmbroker.pb-c.h\"\n\n");
	gen_codecs(o);
	for (size_t e = 0; e < NENVELOPES; e++)
		gen_envelope(o, e, heads[e]);
	gen_lookup(o);
	if (ferror(o) | (fclose(o) != 0)) {
		perror(argv[1]);
		remove(argv[1]);
		return 1;
	}
	return 0;
}
