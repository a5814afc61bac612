/* SPDX-License-Identifier: ISC */
/*
 * units: sizes as people write them ("64M", "4096", "1G"), shared by the
 * daemon's configuration and shmctl so both read a size the same way.
 */
#ifndef SHMBROKER_UNITS_H
#define SHMBROKER_UNITS_H

#include <stdint.h>

/*
 * Parses a byte count with an optional K, M, G or T suffix (powers of 1024,
 * optionally followed by "iB" or "B"). Returns 0, or -EINVAL for anything
 * else, including overflow and negative numbers.
 */
int units_parse_size(const char *s, uint64_t *bytes);

/* Bytes to 4 KiB pages, rounded up; -ERANGE when over UINT32_MAX pages. */
int64_t units_bytes_to_pages(uint64_t bytes);

/* "64 MiB", "4 KiB", "1.5 GiB": at most 16 bytes with the NUL. */
void units_format_size(uint64_t bytes, char out[16]);

#endif
