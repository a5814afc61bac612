/* SPDX-License-Identifier: ISC */
/*
 * fuzz_input: reading and writing the harnesses' inputs (fuzz_input.h).
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"

bool
fin_done(const struct fin *in)
{
	return in->n == 0;
}

static uint64_t
fin_le(struct fin *in, size_t width)
{
	uint64_t v = 0;

	for (size_t i = 0; i < width && in->n > 0; i++, in->p++, in->n--)
		v |= (uint64_t)in->p[0] << (8 * i);
	return v;
}

uint8_t
fin_u8(struct fin *in)
{
	return (uint8_t)fin_le(in, 1);
}

uint16_t
fin_u16(struct fin *in)
{
	return (uint16_t)fin_le(in, 2);
}

uint32_t
fin_u32(struct fin *in)
{
	return (uint32_t)fin_le(in, 4);
}

uint64_t
fin_u64(struct fin *in)
{
	return fin_le(in, 8);
}

const uint8_t *
fin_bytes(struct fin *in, size_t max, size_t *len)
{
	size_t want = max > 255 ? fin_u16(in) : fin_u8(in);
	const uint8_t *p = in->p;

	if (want > max)
		want = max;
	if (want > in->n)
		want = in->n;
	in->p += want;
	in->n -= want;
	*len = want;
	return p;
}

static void
fout_put(struct fout *o, const void *p, size_t len)
{
	if (o->len + len > o->cap) {
		o->cap = (o->len + len) * 2 + 64;
		if ((o->buf = realloc(o->buf, o->cap)) == NULL)
			err(1, "fout");
	}
	memcpy(o->buf + o->len, p, len);
	o->len += len;
}

static void
fout_le(struct fout *o, uint64_t v, size_t width)
{
	for (size_t i = 0; i < width; i++) {
		uint8_t b = (uint8_t)(v >> (8 * i));

		fout_put(o, &b, 1);
	}
}

void
fout_u8(struct fout *o, uint8_t v)
{
	fout_le(o, v, 1);
}

void
fout_u16(struct fout *o, uint16_t v)
{
	fout_le(o, v, 2);
}

void
fout_u32(struct fout *o, uint32_t v)
{
	fout_le(o, v, 4);
}

void
fout_u64(struct fout *o, uint64_t v)
{
	fout_le(o, v, 8);
}

void
fout_bytes(struct fout *o, size_t max, const void *p, size_t len)
{
	if (len > max)
		errx(1, "fout_bytes: %zu bytes over the %zu of the format", len,
		    max);
	fout_le(o, len, max > 255 ? 2 : 1);
	fout_put(o, p, len);
}

void
fout_rest(struct fout *o, const void *p, size_t len)
{
	fout_put(o, p, len);
}

void
fout_str(struct fout *o, size_t max, const char *s)
{
	fout_bytes(o, max, s, strlen(s));
}

void
fout_save(struct fout *o, const char *dir, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL ||
	    fwrite(o->buf, 1, o->len, f) != o->len || fclose(f) != 0)
		err(1, "%s", path);
	o->len = 0;
}
