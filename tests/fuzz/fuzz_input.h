/* SPDX-License-Identifier: ISC */
/*
 * fuzz_input: the byte streams of the harnesses' inputs, both ways. A
 * harness reads its input as a sequence of operations with fin_*; the
 * seed generator (fuzz_seeds.c) writes the same format with fout_*, so a
 * seed is a valid sequence by construction. Reading past the end gives
 * zeros and marks the input finished: every byte string is an input.
 * Integers are little-endian.
 */
#ifndef FUZZ_INPUT_H
#define FUZZ_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fin {
	const uint8_t *p;
	size_t n;
};

bool fin_done(const struct fin *in);
uint8_t fin_u8(struct fin *in);
uint16_t fin_u16(struct fin *in);
uint32_t fin_u32(struct fin *in);
uint64_t fin_u64(struct fin *in);
/* Up to max bytes, as many as a length byte (or word, when max > 255)
 * says and the input holds: *len of them at the returned pointer. */
const uint8_t *fin_bytes(struct fin *in, size_t max, size_t *len);

/* A seed being written: a growing buffer. */
struct fout {
	uint8_t *buf;
	size_t len, cap;
};

void fout_u8(struct fout *o, uint8_t v);
void fout_u16(struct fout *o, uint16_t v);
void fout_u32(struct fout *o, uint32_t v);
void fout_u64(struct fout *o, uint64_t v);
/* The counterpart of fin_bytes with the same max. */
void fout_bytes(struct fout *o, size_t max, const void *p, size_t len);
void fout_str(struct fout *o, size_t max, const char *s);
/* Bytes with no length before them: a format's last item, its input's rest. */
void fout_rest(struct fout *o, const void *p, size_t len);
/* Writes the seed to dir/name and empties o; exits on failure. */
void fout_save(struct fout *o, const char *dir, const char *name);

#endif
