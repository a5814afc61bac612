/* SPDX-License-Identifier: ISC */
/*
 * test_inifile: the configuration file reader on its own (daemon/inifile.c),
 * fed from memory: what a line is (section, key = value, comment, blank),
 * the line numbers it reports, and every way it refuses input (a line too
 * long, NUL and control bytes, a malformed header, a line without '='),
 * with what it quotes escaped.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "inifile.h"

/* What the handlers saw, one "LINE:[section]" or "LINE:key=value" each. */
struct seen {
	char log[4096];
	size_t len;
	int fail_line;		/* a handler refuses this line */
};

static int
seen_add(struct seen *s, int line, const char *fmt, const char *a,
    const char *b, char *why, size_t whylen)
{
	s->len += (size_t)snprintf(s->log + s->len, sizeof(s->log) - s->len,
	    "%d:", line);
	s->len += (size_t)snprintf(s->log + s->len, sizeof(s->log) - s->len,
	    fmt, a, b);
	if (line == s->fail_line) {
		snprintf(why, whylen, "refused by the handler");
		return -1;
	}
	return 0;
}

static int
on_section(void *arg, const char *name, int line, char *why, size_t whylen)
{
	return seen_add(arg, line, "[%s]%s\n", name, "", why, whylen);
}

static int
on_key(void *arg, const char *key, const char *value, int line, char *why,
    size_t whylen)
{
	return seen_add(arg, line, "%s=%s\n", key, value, why, whylen);
}

/* Parses len bytes of text; returns the result, with err and seen. */
static int
parse(const char *text, size_t len, struct seen *s, char *err, size_t errlen)
{
	struct inifile_handler h = { on_section, on_key, s };
	FILE *f = fmemopen((void *)text, len, "r");
	int rc;

	assert_non_null(f);
	err[0] = '\0';
	rc = inifile_parse(f, "F", &h, err, errlen);
	fclose(f);
	return rc;
}

static void
test_lines(void **state)
{
	static const char text[] =
	    "; a comment\n"
	    "# another\n"
	    "\n"
	    "  [broker]  \n"
	    "key = value\n"
	    "\tspaced\t=\t a b \t\n"
	    "inline = x ; a comment after a blank\n"
	    "semi = a;b\n"
	    "empty =\n"
	    "[ region  r1 ]\r\n"
	    "last = no newline";
	struct seen s = { .fail_line = 0 };
	char err[256];

	(void)state;
	assert_int_equal(parse(text, sizeof(text) - 1, &s, err, sizeof(err)),
	    0);
	assert_string_equal(s.log,
	    "4:[broker]\n"
	    "5:key=value\n"
	    "6:spaced=a b\n"
	    "7:inline=x\n"
	    "8:semi=a;b\n"
	    "9:empty=\n"
	    "10:[region  r1]\n"
	    "11:last=no newline\n");
}

/* text must be refused with "F:line: " and then reason. */
static void
check_refused(const char *text, size_t len, int line, const char *reason)
{
	struct seen s = { .fail_line = 0 };
	char err[512], want[32];

	if (parse(text, len, &s, err, sizeof(err)) != -EINVAL)
		fail_msg("accepted: %s", text);
	snprintf(want, sizeof(want), "F:%d: ", line);
	if (strncmp(err, want, strlen(want)) != 0 ||
	    strstr(err, reason) == NULL)
		fail_msg("'%s': wanted %s...%s", err, want, reason);
}

static void
test_refusals(void **state)
{
	static const char nul[] = "[a]\nk = v\0x\n";
	char *big;

	(void)state;
	check_refused("[a]\nno equals sign\n", 18, 2, "syntax error: 'no "
	    "equals sign' is neither [section] nor key = value");
	check_refused("= v\n", 4, 1, "syntax error");
	check_refused("[a\n", 3, 1, "a section header is [NAME] alone");
	check_refused("[a] x\n", 6, 1, "a section header is [NAME] alone");
	check_refused(nul, sizeof(nul) - 1, 2, "a NUL byte");
	check_refused("k = \x01\x7f\xff\n", 8, 1,
	    "a control character in 'k = \\x01\\x7f\\xff'");
	/* A line of INIFILE_MAX_LINE - 1 characters is fine, one more is
	 * not, and reading stops there. */
	big = malloc(INIFILE_MAX_LINE + 8);
	assert_non_null(big);
	memcpy(big, "k = ", 4);
	memset(big + 4, 'v', INIFILE_MAX_LINE - 5);
	big[INIFILE_MAX_LINE - 1] = '\n';
	{
		struct seen s = { .fail_line = 0 };
		char err[256];

		assert_int_equal(parse(big, INIFILE_MAX_LINE, &s, err,
		    sizeof(err)), 0);
	}
	big[INIFILE_MAX_LINE - 1] = 'v';
	big[INIFILE_MAX_LINE] = '\n';
	check_refused(big, INIFILE_MAX_LINE + 1, 1, "line too long (at most "
	    "4095 characters)");
	free(big);
}

static void
test_handler_refusal_names_its_line(void **state)
{
	struct seen s = { .fail_line = 3 };
	char err[256];

	(void)state;
	assert_int_equal(parse("[a]\nk = 1\nk = 2\nk = 3\n", 20, &s, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "F:3: refused by the handler");
	/* Nothing after the refusal was handed on. */
	assert_string_equal(s.log, "1:[a]\n2:k=1\n3:k=2\n");
}

static void
test_escape(void **state)
{
	char out[16];

	(void)state;
	assert_string_equal(inifile_escape(out, sizeof(out), "ab\\c"),
	    "ab\\\\c");
	assert_string_equal(inifile_escape(out, sizeof(out), "\t\xc3\xa9"),
	    "\\x09\\xc3\\xa9");
	/* Cut whole, never in the middle of an escape. */
	assert_string_equal(inifile_escape(out, 8, "\x01\x02"), "\\x01");
	assert_string_equal(inifile_escape(out, sizeof(out), ""), "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_handler_refusal_names_its_line),
		cmocka_unit_test(test_escape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
