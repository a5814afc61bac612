/* SPDX-License-Identifier: ISC */
/*
 * shmctl_output: the output machinery of shmctl (see shmctl_output.h):
 * warnings, the JSON writer and its escaping, aligned tables, the
 * formatting of sizes, times and durations, key/value blocks and Prometheus
 * label escaping. No protocol types here: the printers in shmctl_print.c
 * decide what to say, this file how it looks.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shmctl_output.h"
#include "units.h"

void
ctl_warn(const char *fmt, ...)
{
	va_list ap;

	fputs("shmctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- JSON ---- */

/* Length of the valid UTF-8 sequence at s (its code point in *cp), or 0
 * when it is not one. */
static size_t
utf8_decode(const unsigned char *s, uint32_t *cp)
{
	uint32_t min;
	size_t n;

	*cp = s[0];
	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		n = 2, *cp = s[0] & 0x1f, min = 0x80;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3, *cp = s[0] & 0x0f, min = 0x800;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 4, *cp = s[0] & 0x07, min = 0x10000;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)	/* also stops at the NUL */
			return 0;
		*cp = *cp << 6 | (s[i] & 0x3f);
	}
	if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return n;
}

/* C0, DEL and C1 (U+0080 to U+009F): terminals take C1 as escapes, as
 * they do ESC. */
static bool
is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

/*
 * Labels are free text from VMMs: escape everything JSON requires and
 * replace invalid UTF-8, so that no label can break a script's parser.
 */
void
json_string(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)(str != NULL ? str :
	    "");
	uint32_t cp;
	size_t n;

	fputc('"', f);
	while (*s != '\0') {
		switch (*s) {
		case '"':	fputs("\\\"", f); break;
		case '\\':	fputs("\\\\", f); break;
		case '\b':	fputs("\\b", f); break;
		case '\f':	fputs("\\f", f); break;
		case '\n':	fputs("\\n", f); break;
		case '\r':	fputs("\\r", f); break;
		case '\t':	fputs("\\t", f); break;
		default:
			if ((n = utf8_decode(s, &cp)) == 0) {
				fputs("\\ufffd", f);
			} else {
				if (is_control(cp))
					fprintf(f, "\\u%04x", (unsigned)cp);
				else
					fwrite(s, 1, n, f);
				s += n - 1;
			}
		}
		s++;
	}
	fputc('"', f);
}

static void
jw_key(struct jw *w, const char *key)
{
	if (w->comma)
		fputc(',', w->f);
	w->comma = true;
	if (key != NULL) {
		json_string(w->f, key);
		fputc(':', w->f);
	}
}

void
jw_open(struct jw *w, const char *key, char bracket)
{
	jw_key(w, key);
	fputc(bracket, w->f);
	w->comma = false;
}

void
jw_close(struct jw *w, char bracket)
{
	fputc(bracket, w->f);
	w->comma = true;
}

void
jw_str(struct jw *w, const char *key, const char *v)
{
	jw_key(w, key);
	json_string(w->f, v);
}

void
jw_u64(struct jw *w, const char *key, uint64_t v)
{
	jw_key(w, key);
	fprintf(w->f, "%" PRIu64, v);
}

void
jw_i64(struct jw *w, const char *key, int64_t v)
{
	jw_key(w, key);
	fprintf(w->f, "%" PRId64, v);
}

void
jw_bool(struct jw *w, const char *key, bool v)
{
	jw_key(w, key);
	fputs(v ? "true" : "false", w->f);
}

/* ---- tables ---- */

void
table_init(struct table *t, const char *const *head, size_t ncols,
    unsigned right)
{
	memset(t, 0, sizeof(*t));
	t->head = head;
	t->ncols = ncols;
	t->right = right;
}

void
table_free(struct table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

char *
printable_dup(const char *s)
{
	char *d = strdup(s != NULL ? s : "");
	unsigned char *in, *out;
	uint32_t cp;
	size_t n;

	if (d == NULL)
		return NULL;
	/* In place: what is kept is never longer than what it was. */
	for (in = out = (unsigned char *)d; *in != '\0'; in += n) {
		if ((n = utf8_decode(in, &cp)) == 0 || is_control(cp)) {
			*out++ = '?';	/* one for a character, or a byte */
			n = n > 0 ? n : 1;
			continue;
		}
		memmove(out, in, n);
		out += n;
	}
	*out = '\0';
	return d;
}

int
table_add(struct table *t, const char *const *row)
{
	char **cells;

	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;

		cells = reallocarray(t->cells, cap * t->ncols, sizeof(*cells));
		if (cells == NULL)
			return -1;
		t->cells = cells;
		t->cap = cap;
	}
	cells = t->cells + t->nrows * t->ncols;
	for (size_t i = 0; i < t->ncols; i++) {
		if ((cells[i] = printable_dup(row[i])) == NULL) {
			while (i-- > 0)
				free(cells[i]);
			return -1;
		}
	}
	t->nrows++;
	return 0;
}

static void
table_print_row(const struct table *t, FILE *f, const char *const *row,
    const size_t *width)
{
	for (size_t i = 0; i < t->ncols; i++) {
		bool last = i + 1 == t->ncols;
		int w = (int)width[i];

		if (t->right & (1u << i))
			fprintf(f, "%*s", w, row[i]);
		else if (last)
			fputs(row[i], f);
		else
			fprintf(f, "%-*s", w, row[i]);
		fputs(last ? "\n" : "  ", f);
	}
}

void
table_print(const struct table *t, FILE *f)
{
	size_t width[CTL_TABLE_MAX_COLS];

	for (size_t i = 0; i < t->ncols; i++) {
		width[i] = strlen(t->head[i]);
		for (size_t r = 0; r < t->nrows; r++) {
			size_t len = strlen(t->cells[r * t->ncols + i]);

			if (len > width[i])
				width[i] = len;
		}
	}
	table_print_row(t, f, t->head, width);
	for (size_t r = 0; r < t->nrows; r++)
		table_print_row(t, f, (const char *const *)t->cells +
		    r * t->ncols, width);
}

/* ---- formatting ---- */

void
format_time_ms(uint64_t ms, char *out, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(out, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(out, len, "%" PRIu64 " ms", ms);
}

void
format_duration_ms(uint64_t ms, char *out, size_t len)
{
	uint64_t s = ms / 1000;

	if (s >= 86400)
		snprintf(out, len, "%" PRIu64 "d %02" PRIu64 "h %02" PRIu64
		    "m", s / 86400, s / 3600 % 24, s / 60 % 60);
	else if (s >= 3600)
		snprintf(out, len, "%" PRIu64 "h %02" PRIu64 "m %02" PRIu64
		    "s", s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(out, len, "%" PRIu64 "m %02" PRIu64 "s", s / 60,
		    s % 60);
}

void
format_size(uint64_t bytes, bool zero_is_none, char out[16])
{
	if (bytes == 0 && zero_is_none)
		snprintf(out, 16, "-");
	else
		units_format_size(bytes, out);
}

void
format_used_max(uint64_t used, uint64_t max, char *out, size_t len)
{
	if (max == 0)
		snprintf(out, len, "%" PRIu64 "/-", used);
	else
		snprintf(out, len, "%" PRIu64 "/%" PRIu64, used, max);
}

void
format_used_max_size(uint64_t used, uint64_t max, char *out, size_t len)
{
	char a[16], b[16];

	format_size(used, false, a);
	format_size(max, true, b);
	snprintf(out, len, "%s/%s", a, b);
}

void
kv(int width, const char *key, const char *fmt, ...)
{
	va_list ap;

	printf("%-*s ", width > 1 ? width - 1 : 0, key);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* ---- Prometheus ---- */

void
prom_label_value(FILE *f, const char *v)
{
	fputc('"', f);
	for (const char *p = v != NULL ? v : ""; *p != '\0'; p++) {
		switch (*p) {
		case '\\':	fputs("\\\\", f); break;
		case '"':	fputs("\\\"", f); break;
		case '\n':	fputs("\\n", f); break;
		default:	fputc(*p, f);
		}
	}
	fputc('"', f);
}
