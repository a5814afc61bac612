/* SPDX-License-Identifier: ISC */
/*
 * ctl: the shmctl tests' fixture and how they run shmctl (see ctl.h).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctl.h"
#include "testcheck.h"

int
ctl_teardown(void **state)
{
	struct ctl *f = *state;
	int status;

	if (f == NULL)
		return 0;
	if (f->watch_pid > 0) {
		kill(f->watch_pid, SIGKILL);
		waitpid(f->watch_pid, &status, 0);
	}
	if (f->watch_fd >= 0)
		close(f->watch_fd);
	unsetenv("SHMBROKER_ADMIN_SOCKET");
	jv_free(&f->json);
	free(f->metrics);
	free(f->out);
	return fixture_teardown(state);
}

/* A daemon with --hugepages never and, when config is not NULL, a
 * --config file that holds it. cmocka skips the teardown of a test
 * whose setup failed: a failure undoes what was done. */
int
ctl_setup_config(void **state, const char *config)
{
	static const char *const never[] = { "--hugepages", "never", NULL };
	struct ctl *f;

	unsetenv("SHMBROKER_ADMIN_SOCKET");
	if (fixture_begin(state, sizeof(*f), config, never) < 0)
		return -1;
	f = *state;
	f->watch_fd = -1;
	if ((f->out = malloc(OUT_SIZE)) == NULL) {
		ctl_teardown(state);
		return -1;
	}
	return 0;
}

int
ctl_setup(void **state)
{
	return ctl_setup_config(state, NULL);
}

/*
 * Runs shmctl --admin-socket DAEMON args... with stdout in f->out, or
 * with its stderr there instead when want_stderr (stdout then dropped).
 * Returns the exit status.
 */
int
ctl_run(struct ctl *f, bool use_socket, bool want_stderr,
    const char *const *args)
{
	const char *argv[64];
	int n = 0;

	if (want_stderr) {
		argv[n++] = "/bin/sh";
		argv[n++] = "-c";
		argv[n++] = "exec \"$0\" \"$@\" 2>&1 >/dev/null";
	}
	argv[n++] = SHMCTL_PATH;
	if (use_socket) {
		argv[n++] = "--admin-socket";
		argv[n++] = f->fx.d.admin_socket;
	}
	for (; *args != NULL && n < 63; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	return harness_run((char *const *)argv, f->out, OUT_SIZE);
}

/* The line of out that contains word as a whole column, or NULL. */
const char *
ctl_find_row(const char *out, const char *word)
{
	size_t len = strlen(word);

	for (const char *p = out; (p = strstr(p, word)) != NULL; p++)
		if ((p == out || p[-1] == ' ' || p[-1] == '\n') &&
		    (p[len] == ' ' || p[len] == '\n' || p[len] == '\0'))
			return p;
	return NULL;
}

/* Where the value of a "key: value" line starts, or -1 when the line is
 * not one (no colon, or no space after it). */
long
ctl_value_column(const char *line)
{
	const char *nl = strchr(line, '\n'), *v;

	if (nl == NULL || (v = memchr(line, ':', (size_t)(nl - line))) ==
	    NULL || v[1] != ' ')
		return -1;
	for (v++; *v == ' '; v++)
		;
	return v - line;
}

/*
 * The "key: value" lines of block, up to an empty line or the end: a
 * space after each key, and every value in the same column. Returns where
 * the block ends.
 */
const char *
ctl_assert_kv_block(const char *block)
{
	const char *line = block, *nl;
	long col = ctl_value_column(block);

	for (; *line != '\0' && *line != '\n'; line = nl + 1) {
		if ((nl = strchr(line, '\n')) == NULL)
			fail_msg("unfinished line: %s", line);
		if (ctl_value_column(line) < 0)
			fail_msg("not 'key: value': %.*s", (int)(nl - line),
			    line);
		if (ctl_value_column(line) != col)
			fail_msg("value not in column %ld like the first: "
			    "%.*s", col, (int)(nl - line), line);
	}
	return line;
}

/* key's line in a block of out: the key at the start of a line, spaces,
 * and value. */
void
ctl_assert_kv(const char *out, const char *key, const char *value)
{
	size_t klen = strlen(key), vlen = strlen(value);

	for (const char *p = out; (p = strstr(p, key)) != NULL; p++) {
		const char *v = p + klen;

		if (p != out && p[-1] != '\n')
			continue;
		while (*v == ' ')
			v++;
		if (v > p + klen && strncmp(v, value, vlen) == 0 &&
		    v[vlen] == '\n')
			return;
	}
	fail_msg("no line '%s ... %s' in: %s", key, value, out);
}

/* Does the cell of a line (len characters) whose heading spans start to
 * end sit under it: ending where it ends when right-aligned, else
 * starting where it starts? */
static bool
ctl_cell_in_place(const char *line, size_t len, size_t start, size_t end,
    bool right)
{
	if (right)
		return end <= len && line[end - 1] != ' ' &&
		    (end == len || line[end] == ' ');
	return start < len && line[start] != ' ' &&
	    (start == 0 || line[start - 1] == ' ');
}

/* A table as table_print lays it out, headings first: every cell under
 * its heading; bit i of right: column i is right-aligned. */
void
ctl_assert_table_aligned(const char *out, unsigned right)
{
	const char *nl = strchr(out, '\n'), *line;
	size_t start[16], end[16], n = 0, len;

	assert_non_null(nl);
	for (const char *p = out; p < nl && n < 16; n++) {
		while (*p == ' ')
			p++;
		start[n] = (size_t)(p - out);
		while (p < nl && *p != ' ')
			p++;
		end[n] = (size_t)(p - out);
	}
	for (line = nl + 1; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		len = (size_t)(nl - line);
		for (size_t i = 0; i < n; i++)
			if (!ctl_cell_in_place(line, len, start[i], end[i],
			    (right & 1u << i) != 0))
				fail_msg("column %zu is not under its heading "
				    "in:\n%s", i, out);
	}
}

void
ctl_attach_vmm(struct ctl *f, int i, const char *label,
    const char *region, struct shmc_region *r)
{
	if (f->vmm[i] == NULL)
		f->vmm[i] = fixture_connect(&f->fx, f->fx.d.socket, label);
	assert_int_equal(fixture_attach(&f->fx, f->vmm[i], region, 0, false,
	    r), SHMC_GSS_OK);
}

void
ctl_admin_create(struct ctl *f, const char *name, uint32_t pages)
{
	assert_int_equal(check_admin_create(f->fx.adm, name, pages),
	    SHMBROKER__ERROR__ERR_NONE);
}
