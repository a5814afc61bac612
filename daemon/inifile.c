/* SPDX-License-Identifier: ISC */
/*
 * inifile: the configuration file reader (see inifile.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inifile.h"

struct inifile_reader {
	FILE *f;
	size_t total;			/* bytes read so far */
	int lineno;
	char line[INIFILE_MAX_LINE + 1];
	char why[384];
};

char *
inifile_escape(char *out, size_t cap, const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		char tmp[5];
		size_t len;

		if (ch == '\\')
			len = (size_t)snprintf(tmp, sizeof(tmp), "\\\\");
		else if (ch < 0x20 || ch >= 0x7f)
			len = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x", ch);
		else
			len = (size_t)snprintf(tmp, sizeof(tmp), "%c", ch);
		if (n + len >= cap)
			break;
		memcpy(out + n, tmp, len);
		n += len;
	}
	if (cap > 0)
		out[n] = '\0';
	return out;
}

/* One line into r->line, without its newline: 1, 0 at the end of the
 * file, -EINVAL (-EIO for a read error) with the reason in r->why. */
static int
inifile_read_line(struct inifile_reader *r)
{
	size_t n = 0;
	int ch;

	while ((ch = getc_unlocked(r->f)) != EOF) {
		if (++r->total > INIFILE_MAX_BYTES) {
			snprintf(r->why, sizeof(r->why), "the file is larger "
			    "than %u MiB", INIFILE_MAX_BYTES >> 20);
			return -EINVAL;
		}
		if (ch == '\n')
			break;
		if (ch == '\0') {
			snprintf(r->why, sizeof(r->why), "a NUL byte: this is "
			    "not a text file");
			return -EINVAL;
		}
		if (n == INIFILE_MAX_LINE - 1) {
			snprintf(r->why, sizeof(r->why), "line too long (at "
			    "most %d characters)", INIFILE_MAX_LINE - 1);
			return -EINVAL;
		}
		r->line[n++] = (char)ch;
	}
	if (ferror(r->f)) {
		int err = errno;

		snprintf(r->why, sizeof(r->why), "cannot read: %s",
		    strerror(err));
		return -err;
	}
	if (ch == EOF && n == 0)
		return 0;
	r->line[n] = '\0';
	return 1;
}

static char *
inifile_trim(char *s)
{
	char *end;

	s += strspn(s, " \t\r");
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' ||
	    end[-1] == '\r'))
		end--;
	*end = '\0';
	return s;
}

/* Cuts a ";" comment that follows whitespace. */
static void
inifile_cut_comment(char *s)
{
	for (char *p = s; (p = strchr(p, ';')) != NULL; p++) {
		if (p > s && (p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			return;
		}
	}
}

static bool
inifile_has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
			return true;
	return false;
}

static int
inifile_line(struct inifile_reader *r, const struct inifile_handler *h)
{
	char *s = inifile_trim(r->line), *eq, *end;
	char esc[160];

	if (*s == '\0' || *s == ';' || *s == '#')
		return 0;
	if (inifile_has_control(s)) {
		snprintf(r->why, sizeof(r->why), "a control character in '%s'",
		    inifile_escape(esc, sizeof(esc), s));
		return -EINVAL;
	}
	inifile_cut_comment(s);
	s = inifile_trim(s);
	if (*s == '[') {
		if ((end = strchr(s, ']')) == NULL || end[1] != '\0') {
			snprintf(r->why, sizeof(r->why), "'%s': a section "
			    "header is [NAME] alone on its line",
			    inifile_escape(esc, sizeof(esc), s));
			return -EINVAL;
		}
		*end = '\0';
		return h->section(h->arg, inifile_trim(s + 1), r->lineno,
		    r->why, sizeof(r->why));
	}
	if ((eq = strchr(s, '=')) == NULL || eq == s) {
		snprintf(r->why, sizeof(r->why), "syntax error: '%s' is "
		    "neither [section] nor key = value",
		    inifile_escape(esc, sizeof(esc), s));
		return -EINVAL;
	}
	*eq = '\0';
	return h->key(h->arg, inifile_trim(s), inifile_trim(eq + 1),
	    r->lineno, r->why, sizeof(r->why));
}

int
inifile_parse(FILE *f, const char *path, const struct inifile_handler *h,
    char *err, size_t errlen)
{
	struct inifile_reader *r = calloc(1, sizeof(*r));
	int rc;

	if (r == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	r->f = f;
	/* lineno counts the line being read, so a read error names it. */
	for (r->lineno = 1; (rc = inifile_read_line(r)) > 0; r->lineno++)
		if ((rc = inifile_line(r, h)) < 0)
			break;
	if (rc < 0)
		snprintf(err, errlen, "%s:%d: %s", path, r->lineno, r->why);
	free(r);
	return rc < 0 ? rc : 0;
}
