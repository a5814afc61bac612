/* SPDX-License-Identifier: ISC */
/*
 * shmctl_output: how shmctl writes, whatever it writes about. Owns the
 * warnings on stderr, the streaming JSON writer and its string escaping
 * (every string is valid JSON, whatever bytes a VMM put in a label), the
 * aligned tables for people (whose cells cannot carry terminal controls),
 * the formatting of sizes, times and durations, the "key: value" blocks, and
 * the escaping of Prometheus label values. Knows nothing of the protocol.
 */
#ifndef SHMCTL_OUTPUT_H
#define SHMCTL_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CTL_TABLE_MAX_COLS 12

/* "shmctl: " + the message + newline, on stderr. */
void ctl_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- JSON ---- */

/* A JSON string literal of str (NULL prints ""), invalid UTF-8 replaced. */
void json_string(FILE *f, const char *str);

/* A streaming writer: comma says whether the next value needs one. A NULL
 * key writes a bare value (an array element or the top level). */
struct jw {
	FILE *f;
	bool comma;
};

void jw_open(struct jw *w, const char *key, char bracket);
void jw_close(struct jw *w, char bracket);
void jw_str(struct jw *w, const char *key, const char *v);
void jw_u64(struct jw *w, const char *key, uint64_t v);
void jw_i64(struct jw *w, const char *key, int64_t v);
void jw_bool(struct jw *w, const char *key, bool v);

/* ---- tables ---- */

struct table {
	size_t ncols;			/* at most CTL_TABLE_MAX_COLS */
	const char *const *head;
	unsigned right;			/* bit i: column i is right-aligned */
	char **cells;			/* nrows * ncols */
	size_t nrows, cap;
};

void table_init(struct table *t, const char *const *head, size_t ncols,
    unsigned right);
void table_free(struct table *t);
/* Copies the ncols cells of row (NULL cells print empty). -1 without
 * memory. */
int table_add(struct table *t, const char *const *row);
void table_print(const struct table *t, FILE *f);

/* A copy of s (NULL: "") that cannot move a terminal's cursor or change
 * its state: each control character (C0, DEL, C1) and each byte of
 * invalid UTF-8 (a raw C1 among them) becomes '?'. NULL without memory. */
char *printable_dup(const char *s);

/* ---- formatting ---- */

/* "2026-11-25 14:03:07" in local time. */
void format_time_ms(uint64_t ms, char *out, size_t len);
/* "3m 07s", "2h 05m 00s", "4d 03h 20m". */
void format_duration_ms(uint64_t ms, char *out, size_t len);
/* "64 MiB"; "-" for 0 when zero_is_none (a limit that is not set). */
void format_size(uint64_t bytes, bool zero_is_none, char out[16]);
/* "used/max", or "used/-" when max is 0 (no limit). */
void format_used_max(uint64_t used, uint64_t max, char *out, size_t len);
/* The same with both sides as sizes: "12 KiB/1 MiB", "12 KiB/-". */
void format_used_max_size(uint64_t used, uint64_t max, char *out,
    size_t len);

/* Prints key padded to width columns, then the value: the values of a
 * block line up when width is more than its longest key. A key that is
 * not still gets a space after it. */
void kv(int width, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- Prometheus text format ---- */

/* A label value between double quotes, with backslash, double quote and
 * newline escaped as the exposition format (0.0.4) requires. */
void prom_label_value(FILE *f, const char *v);

#endif
