/*
 * test_shmctl: the admin CLI against a real shmbrokerd. Runs the built
 * shmctl as a child, in human and --json form, and checks what it prints
 * and its exit status: create/list/show/destroy, regions with attached
 * clients, --force, every class of error, --help, the watch stream,
 * listings longer than one page, reload of a configuration file, tenants
 * and their usage, and the Prometheus metrics. JSON output is parsed by a
 * small strict parser here, so invalid JSON fails the test; the metrics
 * are parsed by a strict reader of the text exposition format.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <math.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "shmclient.h"
#include "shmclient_admin.h"
#include "testcheck.h"

#define OUT_SIZE (1u << 20)
#define NVMM 2
#define PAGING_REGIONS 450
#define PAGING_CLIENTS 250

/* ---- a strict little JSON parser, enough for shmctl's output ---- */

enum jtype { J_NULL, J_BOOL, J_INT, J_STR, J_ARR, J_OBJ };

struct jv {
	enum jtype t;
	int64_t i;		/* J_INT, J_BOOL */
	char *s;		/* J_STR */
	size_t n;		/* J_ARR, J_OBJ */
	struct jv *items;
	char **keys;		/* J_OBJ */
};

static void
jfree(struct jv *v)
{
	for (size_t k = 0; k < v->n; k++) {
		jfree(&v->items[k]);
		if (v->keys != NULL)
			free(v->keys[k]);
	}
	free(v->items);
	free(v->keys);
	free(v->s);
	memset(v, 0, sizeof(*v));
}

static const char *
jws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static void
put_utf8(char **o, unsigned cp)
{
	if (cp < 0x80) {
		*(*o)++ = (char)cp;
	} else if (cp < 0x800) {
		*(*o)++ = (char)(0xc0 | cp >> 6);
		*(*o)++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*(*o)++ = (char)(0xe0 | cp >> 12);
		*(*o)++ = (char)(0x80 | (cp >> 6 & 0x3f));
		*(*o)++ = (char)(0x80 | (cp & 0x3f));
	}
}

static const char *
jstring(const char *p, char **out)
{
	char *o = malloc(strlen(p) * 3 + 1), *start = o;
	unsigned cp;

	if (o == NULL || *p++ != '"')
		goto bad;
	while (*p != '"') {
		if ((unsigned char)*p < 0x20)
			goto bad;	/* raw control characters are invalid */
		if (*p != '\\') {
			*o++ = *p++;
			continue;
		}
		switch (*++p) {
		case '"': case '\\': case '/': *o++ = *p; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u':
			if (sscanf(p + 1, "%4x", &cp) != 1)
				goto bad;
			put_utf8(&o, cp);
			p += 4;
			break;
		default:
			goto bad;
		}
		p++;
	}
	*o = '\0';
	*out = start;
	return p + 1;
bad:
	free(start);
	return NULL;
}

static const char *jvalue(const char *p, struct jv *v);

static const char *
jcontainer(const char *p, struct jv *v, bool obj)
{
	char close = obj ? '}' : ']';

	v->t = obj ? J_OBJ : J_ARR;
	p = jws(p + 1);
	if (*p == close)
		return p + 1;
	for (;;) {
		v->items = realloc(v->items, (v->n + 1) * sizeof(*v->items));
		memset(&v->items[v->n], 0, sizeof(*v->items));
		if (obj) {
			v->keys = realloc(v->keys, (v->n + 1) * sizeof(char *));
			v->keys[v->n] = NULL;
		}
		v->n++;
		if (obj) {
			if ((p = jstring(jws(p), &v->keys[v->n - 1])) == NULL)
				return NULL;
			if (*(p = jws(p)) != ':')
				return NULL;
			p++;
		}
		if ((p = jvalue(p, &v->items[v->n - 1])) == NULL)
			return NULL;
		p = jws(p);
		if (*p == close)
			return p + 1;
		if (*p++ != ',')
			return NULL;
	}
}

static const char *
jvalue(const char *p, struct jv *v)
{
	char *end;

	p = jws(p);
	if (*p == '{' || *p == '[')
		return jcontainer(p, v, *p == '{');
	if (*p == '"') {
		v->t = J_STR;
		return jstring(p, &v->s);
	}
	if (strncmp(p, "true", 4) == 0 || strncmp(p, "false", 5) == 0) {
		v->t = J_BOOL;
		v->i = *p == 't';
		return p + (*p == 't' ? 4 : 5);
	}
	if (strncmp(p, "null", 4) == 0) {
		v->t = J_NULL;
		return p + 4;
	}
	if (*p == '-' || (*p >= '0' && *p <= '9')) {
		v->t = J_INT;
		errno = 0;
		v->i = strtoll(p, &end, 10);
		if (errno != 0 || *end == '.' || *end == 'e' || *end == 'E')
			return NULL;
		return end;
	}
	return NULL;
}

/* Parses all of text as one value; false (and v empty) when invalid. */
static bool
jparse(const char *text, struct jv *v)
{
	const char *p;

	memset(v, 0, sizeof(*v));
	p = jvalue(text, v);
	if (p == NULL || *jws(p) != '\0') {
		jfree(v);
		return false;
	}
	return true;
}

static const struct jv *
jget(const struct jv *o, const char *key)
{
	if (o->t != J_OBJ)
		return NULL;
	for (size_t k = 0; k < o->n; k++)
		if (strcmp(o->keys[k], key) == 0)
			return &o->items[k];
	return NULL;
}

static int64_t
jint(const struct jv *o, const char *key)
{
	const struct jv *v = jget(o, key);

	assert_non_null(v);
	assert_int_equal(v->t, J_INT);
	return v->i;
}

static const char *
jstr(const struct jv *o, const char *key)
{
	const struct jv *v = jget(o, key);

	assert_non_null(v);
	assert_int_equal(v->t, J_STR);
	return v->s;
}

/* The element of array a whose "name" is name, or NULL. */
static const struct jv *
jfind_name(const struct jv *a, const char *key, const char *name)
{
	assert_int_equal(a->t, J_ARR);
	for (size_t k = 0; k < a->n; k++) {
		const struct jv *v = jget(&a->items[k], key);

		if (v != NULL && v->t == J_STR && strcmp(v->s, name) == 0)
			return &a->items[k];
	}
	return NULL;
}

/* ---- fixture ---- */

struct ctl {
	struct fixture fx;	/* first: fixture_teardown frees it whole */
	struct shmc *vmm[NVMM];	/* connected on first use */
	pid_t watch_pid;
	int watch_fd;
	char *out;
	struct jv json;
	struct metrics *metrics;	/* parsed `shmctl metrics` */
};

static int
teardown(void **state)
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
	jfree(&f->json);
	free(f->metrics);
	free(f->out);
	return fixture_teardown(state);
}

/* A daemon with --hugepages never and, when config is not NULL, a
 * --config file that holds it. cmocka skips the teardown of a test
 * whose setup failed: a failure undoes what was done. */
static int
setup_daemon(void **state, const char *config)
{
	static const char *const never[] = { "--hugepages", "never", NULL };
	struct ctl *f;

	unsetenv("SHMBROKER_ADMIN_SOCKET");
	if (fixture_begin(state, sizeof(*f), config, never) < 0)
		return -1;
	f = *state;
	f->watch_fd = -1;
	if ((f->out = malloc(OUT_SIZE)) == NULL) {
		teardown(state);
		return -1;
	}
	return 0;
}

static int
setup(void **state)
{
	return setup_daemon(state, NULL);
}

/*
 * Runs shmctl --admin-socket DAEMON args... with stdout in f->out, or
 * with its stderr there instead when want_stderr (stdout then dropped).
 * Returns the exit status.
 */
static int
run_ctl(struct ctl *f, bool use_socket, bool want_stderr,
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

#define CTL(f, ...) run_ctl((f), true, false, \
    (const char *const[]){ __VA_ARGS__, NULL })
#define CTL_ERR(f, ...) run_ctl((f), true, true, \
    (const char *const[]){ __VA_ARGS__, NULL })

/* Runs shmctl --json args... and parses its output into f->json. */
#define CTL_JSON(f, ...) do {						\
	jfree(&(f)->json);						\
	assert_int_equal(CTL((f), "--json", __VA_ARGS__), 0);		\
	if (!jparse((f)->out, &(f)->json))				\
		fail_msg("shmctl printed invalid JSON: %s", (f)->out);	\
} while (0)

/* The line of out that contains word as a whole column, or NULL. */
static const char *
find_row(const char *out, const char *word)
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
static long
value_column(const char *line)
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
static const char *
assert_kv_block(const char *block)
{
	const char *line = block, *nl;
	long col = value_column(block);

	for (; *line != '\0' && *line != '\n'; line = nl + 1) {
		if ((nl = strchr(line, '\n')) == NULL)
			fail_msg("unfinished line: %s", line);
		if (value_column(line) < 0)
			fail_msg("not 'key: value': %.*s", (int)(nl - line),
			    line);
		if (value_column(line) != col)
			fail_msg("value not in column %ld like the first: "
			    "%.*s", col, (int)(nl - line), line);
	}
	return line;
}

/* key's line in a block of out: the key at the start of a line, spaces,
 * and value. */
static void
assert_kv(const char *out, const char *key, const char *value)
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
cell_in_place(const char *line, size_t len, size_t start, size_t end,
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
static void
assert_table_aligned(const char *out, unsigned right)
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
			if (!cell_in_place(line, len, start[i], end[i],
			    (right & 1u << i) != 0))
				fail_msg("column %zu is not under its heading "
				    "in:\n%s", i, out);
	}
}

static void
attach_vmm(struct ctl *f, int i, const char *label, const char *region,
    struct shmc_region *r)
{
	if (f->vmm[i] == NULL)
		f->vmm[i] = fixture_connect(&f->fx, f->fx.d.socket, label);
	assert_int_equal(fixture_attach(&f->fx, f->vmm[i], region, 0, false,
	    r), SHMC_GSS_OK);
}

static void
admin_create(struct ctl *f, const char *name, uint32_t pages)
{
	assert_int_equal(check_admin_create(f->fx.adm, name, pages),
	    SHMBROKER__ERROR__ERR_NONE);
}

/* ---- tests ---- */

static void
test_human_lifecycle(void **state)
{
	struct ctl *f = *state;
	const char *row, *head;

	assert_int_equal(CTL(f, "list"), 0);
	assert_string_equal(f->out, "no regions\n");
	assert_int_equal(CTL(f, "create", "a", "10000"), 0);
	assert_non_null(strstr(f->out, "created region a: 12 KiB (3 pages), "
	    "shmem"));
	assert_int_equal(CTL(f, "create", "big", "64M"), 0);

	assert_int_equal(CTL(f, "list"), 0);
	head = f->out;
	assert_memory_equal(head, "ID  NAME", 8);
	row = find_row(f->out, "a");
	assert_non_null(row);
	row = (const char *)memrchr(head, '\n', (size_t)(row - head)) + 1;
	/* Columns line up: each value sits under its heading. */
	assert_int_equal(strstr(row, "shmem") - row,
	    strstr(head, "BACKING") - head);
	assert_int_equal(strstr(row, "admin") - row,
	    strstr(head, "ORIGIN") - head);
	assert_int_equal(strstr(row, "0x0000") - row,
	    strstr(head, "ACTIVE") - head);
	/* SIZE is right-aligned: "12 KiB" ends where "SIZE" ends. */
	assert_int_equal(strstr(row, "12 KiB") + 6 - row,
	    strstr(head, "SIZE") + 4 - head);
	assert_non_null(strstr(f->out, "64 MiB"));

	assert_int_equal(CTL(f, "show", "a"), 0);
	assert_non_null(strstr(f->out, "name:           a\n"));
	assert_non_null(strstr(f->out, "size:           12 KiB (3 pages)\n"));
	assert_non_null(strstr(f->out, "backing:        shmem, 12 KiB\n"));
	assert_non_null(strstr(f->out, "origin:         admin\n"));
	assert_non_null(strstr(f->out, "mode:           0666\n"));
	assert_non_null(strstr(f->out, "owner uid:      0\n"));
	assert_non_null(strstr(f->out, "tenant:         -\n"));
	assert_non_null(strstr(f->out, "active:         0x0000\n"));
	assert_non_null(strstr(f->out, "clients:        0\n"));

	assert_int_equal(CTL(f, "destroy", "a"), 0);
	assert_string_equal(f->out, "destroyed region a\n");
	assert_int_equal(CTL(f, "list"), 0);
	assert_null(find_row(f->out, "a"));
	assert_non_null(find_row(f->out, "big"));
	assert_int_equal(CTL(f, "status"), 0);
	assert_non_null(strstr(f->out, "regions:        1\n"));
	assert_int_equal(CTL(f, "stats"), 0);
	assert_kv(f->out, "creates:", "2");
	assert_kv(f->out, "destroyed:", "1");
}

/* Every line of status, show and stats has its value in its block's
 * column, the longest key's too. */
static void
test_human_blocks(void **state)
{
	struct ctl *f = *state;
	struct shmc_region r;
	const char *p;

	admin_create(f, "kv", 1);
	attach_vmm(f, 0, "kv vm", "kv", &r);
	assert_int_equal(CTL(f, "status"), 0);
	assert_string_equal(assert_kv_block(f->out), "");
	assert_int_equal(CTL(f, "show", "kv"), 0);
	p = assert_kv_block(f->out);
	assert_memory_equal(p, "\nINDEX", 6);
	assert_table_aligned(p + 1, 0xf);

	assert_int_equal(CTL(f, "stats"), 0);
	p = assert_kv_block(f->out);
	assert_kv(f->out, "refused connections:", "0");
	/* The attach results: a name, then its count in the same column
	 * as the counters'. */
	assert_memory_equal(p, "\nattach results:\n", 17);
	for (p += 17; *p != '\0'; p = strchr(p, '\n') + 1) {
		const char *nl = strchr(p, '\n'), *v = nl;

		assert_non_null(nl);
		assert_memory_equal(p, "  GSS_", 6);
		while (v[-1] != ' ')
			v--;
		assert_int_equal(v - p, value_column(f->out));
	}
	assert_kv(f->out, "  GSS_OK", "1");
}

static void
test_json_lifecycle(void **state)
{
	struct ctl *f = *state;
	const struct jv *a;
	int64_t id;

	CTL_JSON(f, "list");
	assert_int_equal(f->json.t, J_ARR);
	assert_int_equal(f->json.n, 0);

	CTL_JSON(f, "create", "a", "10000");
	assert_int_equal(f->json.t, J_OBJ);
	assert_string_equal(jstr(&f->json, "name"), "a");
	assert_int_equal(jint(&f->json, "size"), 12288);
	id = jint(&f->json, "id");
	assert_true(id > 0);

	CTL_JSON(f, "list");
	assert_int_equal(f->json.n, 1);
	a = jfind_name(&f->json, "name", "a");
	assert_non_null(a);
	assert_int_equal(jint(a, "id"), id);
	assert_int_equal(jint(a, "size"), 12288);
	assert_int_equal(jint(a, "size_pages"), 3);
	assert_int_equal(jint(a, "backing_bytes"), 12288);
	assert_int_equal(jint(a, "clients"), 0);
	assert_int_equal(jint(a, "active_mask"), 0);
	assert_string_equal(jstr(a, "backing"), "shmem");
	assert_string_equal(jstr(a, "origin"), "admin");
	/* Admin regions: anyone may attach, and no tenant pays for them. */
	assert_int_equal(jint(a, "mode"), 0666);
	assert_int_equal(jint(a, "owner_uid"), 0);
	assert_string_equal(jstr(a, "tenant"), "");

	/* Options may also follow the command. */
	jfree(&f->json);
	assert_int_equal(CTL(f, "show", "a", "--json"), 0);
	assert_true(jparse(f->out, &f->json));
	assert_string_equal(jstr(&f->json, "name"), "a");
	assert_int_equal(jint(&f->json, "size"), 12288);
	assert_int_equal(jint(&f->json, "size_pages"), 3);
	assert_string_equal(jstr(&f->json, "backing"), "shmem");
	assert_string_equal(jstr(&f->json, "origin"), "admin");
	assert_int_equal(jint(&f->json, "mode"), 0666);
	assert_int_equal(jint(&f->json, "owner_uid"), 0);
	assert_string_equal(jstr(&f->json, "tenant"), "");
	assert_non_null(jget(&f->json, "clients"));
	assert_int_equal(jget(&f->json, "clients")->t, J_ARR);
	assert_int_equal(jget(&f->json, "clients")->n, 0);

	CTL_JSON(f, "status");
	assert_int_equal(jint(&f->json, "regions"), 1);
	assert_int_equal(jint(&f->json, "bytes_shmem"), 12288);
	assert_string_equal(jstr(&f->json, "hugepage_policy"), "never");
	CTL_JSON(f, "stats");
	assert_int_equal(jint(&f->json, "creates"), 1);
	CTL_JSON(f, "clients");
	assert_int_equal(f->json.t, J_ARR);
	assert_int_equal(f->json.n, 0);

	CTL_JSON(f, "destroy", "a");
	assert_string_equal(jstr(&f->json, "name"), "a");
	assert_int_equal(jint(&f->json, "detached"), 0);
	CTL_JSON(f, "list");
	assert_int_equal(f->json.n, 0);
}

static const char *const labels[NVMM] = {
	"vm one",
	"vm \"two\"\\\t\x01\x1b[31m caf\xc3\xa9",	/* quotes, controls, UTF-8 */
};

static void
check_shown_clients(struct ctl *f, const struct shmc_region *r)
{
	const struct jv *cl;
	bool seen[NVMM] = { false, false };

	CTL_JSON(f, "show", "b");
	assert_int_equal(jint(&f->json, "active_mask"), 0x3);
	cl = jget(&f->json, "clients");
	assert_non_null(cl);
	assert_int_equal(cl->t, J_ARR);
	assert_int_equal(cl->n, NVMM);
	for (size_t k = 0; k < cl->n; k++) {
		const struct jv *c = &cl->items[k];
		int64_t idx = jint(c, "index");

		assert_true(idx >= 0 && idx < NVMM);
		assert_false(seen[idx]);
		seen[idx] = true;
		assert_int_equal(jint(c, "client_id"), r[idx].client_id);
		assert_int_equal(jint(c, "pid"), getpid());
		assert_int_equal(jint(c, "uid"), getuid());
		assert_int_equal(jint(c, "pending"), 0);
		assert_string_equal(jstr(c, "label"), labels[idx]);
	}
}

static void
test_attached_clients(void **state)
{
	struct ctl *f = *state;
	struct shmc_region r[NVMM];
	const struct jv *b;

	assert_int_equal(CTL(f, "create", "b", "8K"), 0);
	for (int i = 0; i < NVMM; i++) {
		attach_vmm(f, i, labels[i], "b", &r[i]);
		assert_int_equal(r[i].index, (uint32_t)i);
	}

	CTL_JSON(f, "list");
	b = jfind_name(&f->json, "name", "b");
	assert_non_null(b);
	assert_int_equal(jint(b, "clients"), 2);
	assert_int_equal(jint(b, "active_mask"), 0x3);
	assert_int_equal(jint(b, "size"), 8192);
	check_shown_clients(f, r);

	CTL_JSON(f, "clients");
	assert_int_equal(f->json.n, NVMM);
	for (size_t k = 0; k < f->json.n; k++) {
		assert_string_equal(jstr(&f->json.items[k], "region"), "b");
		assert_int_equal(jint(&f->json.items[k], "index"), (int64_t)k);
	}

	/* People's output never carries a label's control characters. */
	assert_int_equal(CTL(f, "show", "b"), 0);
	assert_non_null(strstr(f->out, "clients:        2\n"));
	assert_non_null(strstr(f->out, "vm one\n"));
	assert_non_null(strstr(f->out, "vm \"two\"\\\?\?\?[31m caf\xc3\xa9\n"));
	assert_null(strchr(f->out, '\x1b'));
	assert_int_equal(CTL(f, "clients"), 0);
	assert_non_null(strstr(f->out, "vm one\n"));
	assert_int_equal(CTL(f, "list"), 0);
	assert_non_null(strstr(f->out, "0x0003"));

	/* Busy: refused without --force, and the region stays. */
	assert_int_equal(CTL_ERR(f, "destroy", "b"), EX_DATAERR);
	assert_non_null(strstr(f->out, "shmctl: "));
	assert_non_null(strstr(f->out, "--force"));
	CTL_JSON(f, "list");
	assert_non_null(jfind_name(&f->json, "name", "b"));
	check_shown_clients(f, r);

	assert_int_equal(CTL(f, "destroy", "b", "--force"), 0);
	assert_string_equal(f->out, "destroyed region b, detached 2 clients\n");
	CTL_JSON(f, "list");
	assert_int_equal(f->json.n, 0);
	CTL_JSON(f, "clients");
	assert_int_equal(f->json.n, 0);
}

/* The message of a SIZE that is not one. */
static void
assert_not_a_size(struct ctl *f, const char *size)
{
	char want[64];

	snprintf(want, sizeof(want), "create: SIZE '%s' is not a size (",
	    size);
	if (strstr(f->out, want) == NULL)
		fail_msg("wanted '%s' in: %s", want, f->out);
	assert_non_null(strstr(f->out, "K, M, G or T"));
	assert_null(strstr(f->out, "unknown option"));
}

/* A negative number is an operand for its command to judge, not an
 * option nobody knows; options still go anywhere, "--" still ends them. */
static void
check_negative_operands(struct ctl *f)
{
	static const char *const sizes[] = { "-1", "-5", "-1K", "-0", "-12" };
	char bad[160];

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		assert_int_equal(CTL_ERR(f, "create", "z", sizes[i]),
		    EX_USAGE);
		assert_not_a_size(f, sizes[i]);
	}
	assert_int_equal(CTL_ERR(f, "create", "--json", "z", "-1"), EX_USAGE);
	assert_not_a_size(f, "-1");
	assert_int_equal(CTL_ERR(f, "create", "z", "-1", "--json"), EX_USAGE);
	assert_not_a_size(f, "-1");
	assert_int_equal(CTL_ERR(f, "create", "z", "--", "-1"), EX_USAGE);
	assert_not_a_size(f, "-1");
	assert_int_equal(CTL_ERR(f, "create", "--", "z", "-1"), EX_USAGE);
	assert_not_a_size(f, "-1");
	assert_int_equal(CTL_ERR(f, "create", "z", "-1", "2"), EX_USAGE);
	assert_non_null(strstr(f->out, "too many arguments"));
	assert_int_equal(CTL_ERR(f, "create", "z", "-x"), EX_USAGE);
	assert_non_null(strstr(f->out, "unknown option '-x'"));
	/* Names too: the daemon has no region -7, and says so. */
	assert_int_equal(CTL_ERR(f, "show", "-7"), EX_DATAERR);
	assert_non_null(strstr(f->out, "-7"));
	assert_int_equal(CTL(f, "destroy", "-7", "--force"), EX_DATAERR);
	assert_int_equal(CTL(f, "destroy", "--force", "--", "-7"),
	    EX_DATAERR);
	/* An option's own argument keeps its dash. */
	assert_int_equal(CTL_ERR(f, "list", "--admin-socket", "-9"),
	    EX_UNAVAILABLE);
	assert_non_null(strstr(f->out, "at -9:"));
	snprintf(bad, sizeof(bad), "-s%s", f->fx.d.admin_socket);
	assert_int_equal(run_ctl(f, false, false, (const char *const[]){
	    "list", bad, NULL }), 0);
}

static void
test_errors(void **state)
{
	struct ctl *f = *state;
	char name31[32], name63[64], name64[65], bad[160];

	memset(name31, 'n', 31);
	name31[31] = '\0';
	/* Admin names are as long as a tenant prefix plus a guest's name. */
	memset(name63, 'm', 63);
	memcpy(name63, "acme/", 5);
	name63[63] = '\0';
	memset(name64, 'm', 64);
	name64[64] = '\0';
	assert_int_equal(CTL(f, "create", "a", "1"), 0);
	assert_int_equal(CTL(f, "create", name31, "4K"), 0);
	assert_int_equal(CTL(f, "create", name63, "4K"), 0);
	assert_int_equal(CTL(f, "show", name63), 0);

	assert_int_equal(CTL_ERR(f, "create", "a", "1"), EX_DATAERR);
	assert_non_null(strstr(f->out, "shmctl: "));
	assert_non_null(strstr(f->out, "exists"));
	assert_int_equal(CTL_ERR(f, "create", "z", "0"), EX_USAGE);
	assert_non_null(strstr(f->out, "SIZE '0' is too small"));
	assert_int_equal(CTL_ERR(f, "create", "z", "abc"), EX_USAGE);
	assert_not_a_size(f, "abc");
	assert_int_equal(CTL_ERR(f, "create", "z", ""), EX_USAGE);
	assert_not_a_size(f, "");
	assert_int_equal(CTL_ERR(f, "create", "z", "99999T"), EX_USAGE);
	assert_non_null(strstr(f->out, "SIZE '99999T' is too large"));
	check_negative_operands(f);
	assert_int_equal(CTL_ERR(f, "create", "", "1"), EX_USAGE);
	assert_non_null(strstr(f->out, "empty"));
	assert_int_equal(CTL_ERR(f, "create", name64, "1"), EX_USAGE);
	assert_non_null(strstr(f->out, "too long"));
	assert_non_null(strstr(f->out, "63"));
	assert_int_equal(CTL_ERR(f, "show", name64), EX_USAGE);
	assert_non_null(strstr(f->out, "too long"));
	assert_int_equal(CTL_ERR(f, "destroy", ""), EX_USAGE);
	assert_non_null(strstr(f->out, "empty"));
	assert_int_equal(CTL(f, "create", "with space", "1"), EX_USAGE);
	assert_int_equal(CTL(f, "create", "z"), EX_USAGE);
	assert_int_equal(CTL(f, "create", "z", "1", "2"), EX_USAGE);
	assert_int_equal(CTL(f, "list", "extra"), EX_USAGE);
	assert_int_equal(CTL(f, "show"), EX_USAGE);
	assert_int_equal(CTL(f, "list", "--force"), EX_USAGE);
	assert_int_equal(CTL(f, "list", "--no-such-option"), EX_USAGE);
	assert_int_equal(CTL_ERR(f, "frobnicate"), EX_USAGE);
	assert_non_null(strstr(f->out, "frobnicate"));

	assert_int_equal(CTL_ERR(f, "show", "nope"), EX_DATAERR);
	assert_non_null(strstr(f->out, "shmctl: "));
	assert_non_null(strstr(f->out, "nope"));
	assert_int_equal(CTL(f, "destroy", "nope"), EX_DATAERR);
	assert_int_equal(CTL(f, "destroy", "nope", "--force"), EX_DATAERR);

	/* None of the failed creates left a region behind. */
	CTL_JSON(f, "list");
	assert_int_equal(f->json.n, 3);
	assert_non_null(jfind_name(&f->json, "name", "a"));
	assert_non_null(jfind_name(&f->json, "name", name31));
	assert_non_null(jfind_name(&f->json, "name", name63));

	/* Unreachable daemon: the message names the socket. */
	snprintf(bad, sizeof(bad), "%s/absent.sock", f->fx.d.dir);
	assert_int_equal(run_ctl(f, false, true, (const char *const[]){
	    "--admin-socket", bad, "list", NULL }), EX_UNAVAILABLE);
	assert_non_null(strstr(f->out, bad));
	assert_non_null(strstr(f->out, "shmbrokerd"));

	/* Without --admin-socket, $SHMBROKER_ADMIN_SOCKET decides. */
	assert_int_equal(setenv("SHMBROKER_ADMIN_SOCKET", bad, 1), 0);
	assert_int_equal(run_ctl(f, false, false, (const char *const[]){
	    "status", NULL }), EX_UNAVAILABLE);
	assert_int_equal(setenv("SHMBROKER_ADMIN_SOCKET", f->fx.d.admin_socket,
	    1), 0);
	assert_int_equal(run_ctl(f, false, false, (const char *const[]){
	    "--json", "status", NULL }), 0);
	assert_non_null(strstr(f->out, "\"regions\":3"));
	unsetenv("SHMBROKER_ADMIN_SOCKET");

	/* The VMM socket refuses admin requests. */
	assert_int_equal(run_ctl(f, false, false, (const char *const[]){
	    "--admin-socket", f->fx.d.socket, "list", NULL }), EX_NOPERM);
}

/* ---- refusals ---- */

#define NOBODY 65534		/* uid and gid the daemon refuses */

/* In a forked child: drops root for NOBODY for good, or exits 126. */
static void
become_nobody(void)
{
	if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
	    setresuid(NOBODY, NOBODY, NOBODY) < 0)
		_exit(126);
}

/*
 * Runs shmctl --admin-socket DAEMON args... as NOBODY, with its stdout
 * and stderr together in f->out. Returns the exit status.
 */
static int
run_ctl_nobody(struct ctl *f, const char *const *args)
{
	const char *argv[16] = { SHMCTL_PATH, "--admin-socket",
	    f->fx.d.admin_socket };
	size_t used = 0;
	ssize_t n;
	int n_argv = 3, p[2], status;
	pid_t pid;

	for (; *args != NULL && n_argv < 15; args++)
		argv[n_argv++] = *args;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		dup2(p[1], STDERR_FILENO);
		become_nobody();
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	while ((n = read(p[0], f->out + used, OUT_SIZE - 1 - used)) > 0)
		used += (size_t)n;
	f->out[used] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

#define CTL_NOBODY(f, ...) run_ctl_nobody((f), \
    (const char *const[]){ __VA_ARGS__, NULL })

/* What shmc_connect to the admin socket returns to NOBODY, and its
 * message in why. */
static int
connect_nobody(struct ctl *f, char *why, size_t len)
{
	struct {
		int rc;
		char err[256];
	} r;
	struct shmc *c;
	int p[2], status;
	pid_t pid;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		become_nobody();
		memset(&r, 0, sizeof(r));
		r.rc = shmc_connect(f->fx.d.admin_socket, "refused", 0, &c,
		    r.err, sizeof(r.err));
		shmc_close(c);
		_exit(write(p[1], &r, sizeof(r)) == (ssize_t)sizeof(r) ? 0 :
		    125);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &r, sizeof(r)), sizeof(r));
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	snprintf(why, len, "%s", r.err);
	return r.rc;
}

static void
test_refused(void **state)
{
	struct ctl *f = *state;
	char why[256];

	if (geteuid() != 0) {
		print_message("connects as another user: needs to run as "
		    "root\n");
		skip();
	}
	/* Anyone may open the socket, as with SocketMode=0666: what
	 * refuses is the daemon, which says why. */
	assert_int_equal(chmod(f->fx.d.dir, 0755), 0);
	assert_int_equal(chmod(f->fx.d.admin_socket, 0666), 0);

	/* libshmclient tells a refusal from an absent daemon, and hands
	 * on the daemon's reason. */
	assert_int_equal(connect_nobody(f, why, sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "admin socket is for"));
	assert_non_null(strstr(why, "uid 65534"));

	/* shmctl shows that reason and says EX_NOPERM, for every command. */
	assert_int_equal(CTL_NOBODY(f, "status"), EX_NOPERM);
	assert_non_null(strstr(f->out, "shmctl: "));
	assert_non_null(strstr(f->out, why));
	assert_non_null(strstr(f->out, f->fx.d.admin_socket));
	assert_null(strstr(f->out, "cannot reach"));
	assert_null(strstr(f->out, "Operation not permitted"));
	assert_int_equal(CTL_NOBODY(f, "create", "x", "4K"), EX_NOPERM);
	assert_non_null(strstr(f->out, why));
	assert_int_equal(CTL_NOBODY(f, "--json", "list"), EX_NOPERM);
	assert_int_equal(CTL_NOBODY(f, "destroy", "x", "--force"),
	    EX_NOPERM);
	assert_int_equal(CTL_NOBODY(f, "watch"), EX_NOPERM);
	CTL_JSON(f, "list");
	assert_int_equal(f->json.n, 0);
	CTL_JSON(f, "stats");
	assert_true(jint(&f->json, "refused_connections") >= 5);

	/* The socket's mode keeps nobody out (the shipped 0600): shmctl
	 * could not connect (69, as tests/systemd/pid1.sh expects), and
	 * says who may rather than to check that the daemon runs. */
	assert_int_equal(chmod(f->fx.d.admin_socket, 0600), 0);
	assert_int_equal(connect_nobody(f, why, sizeof(why)), -EACCES);
	assert_int_equal(CTL_NOBODY(f, "status"), EX_UNAVAILABLE);
	assert_non_null(strstr(f->out, f->fx.d.admin_socket));
	assert_non_null(strstr(f->out, "Permission denied"));
	assert_non_null(strstr(f->out, "admin_group"));
	assert_null(strstr(f->out, "check that shmbrokerd runs"));
}

static void
test_help(void **state)
{
	struct ctl *f = *state;
	static const char *const cmds[] = {
		"status", "list", "show", "create", "destroy", "clients",
		"stats", "tenants", "reload", "metrics", "watch",
	};
	char want[64];

	assert_int_equal(CTL(f, "--help"), 0);
	assert_memory_equal(f->out, "usage: shmctl", 13);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		assert_non_null(strstr(f->out, cmds[i]));
	assert_int_equal(CTL(f, "help"), 0);
	assert_memory_equal(f->out, "usage: shmctl", 13);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		snprintf(want, sizeof(want), "] %s", cmds[i]);
		assert_int_equal(CTL(f, cmds[i], "--help"), 0);
		assert_non_null(strstr(f->out, want));
		assert_int_equal(CTL(f, "help", cmds[i]), 0);
		assert_non_null(strstr(f->out, want));
	}
	assert_int_equal(CTL(f, "create", "--help"), 0);
	assert_non_null(strstr(f->out, "create NAME SIZE"));
	assert_int_equal(CTL(f, "destroy", "x", "--help"), 0);
	assert_non_null(strstr(f->out, "--force"));
	/* Help needs no daemon. */
	assert_int_equal(run_ctl(f, false, false, (const char *const[]){
	    "--admin-socket", "/nonexistent/admin.sock", "list", "--help",
	    NULL }), 0);
	assert_int_equal(CTL(f, "help", "bogus"), EX_USAGE);
	assert_int_equal(run_ctl(f, false, false, (const char *const[]){
	    NULL }), EX_USAGE);
}

static void
start_watch(struct ctl *f)
{
	int p[2];

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	f->watch_pid = fork();
	assert_true(f->watch_pid >= 0);
	if (f->watch_pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		execl(SHMCTL_PATH, SHMCTL_PATH, "--admin-socket",
		    f->fx.d.admin_socket, "--json", "watch", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	f->watch_fd = p[0];
}

/*
 * Reads the watch stream for up to ms and checks each whole line; sets
 * *created / *attached when an event about region arrives.
 */
static void
read_watch(struct ctl *f, size_t *used, int ms, const char *region,
    bool *created, bool *attached)
{
	struct pollfd p = { .fd = f->watch_fd, .events = POLLIN };
	char *nl;
	ssize_t n;
	struct jv ev;

	if (poll(&p, 1, ms) <= 0)
		return;
	n = read(f->watch_fd, f->out + *used, OUT_SIZE - 1 - *used);
	assert_true(n > 0);
	*used += (size_t)n;
	f->out[*used] = '\0';
	while ((nl = strchr(f->out, '\n')) != NULL) {
		*nl = '\0';
		if (!jparse(f->out, &ev))
			fail_msg("watch printed invalid JSON: %s", f->out);
		if (strcmp(jstr(&ev, "region"), region) == 0) {
			if (strcmp(jstr(&ev, "kind"), "create") == 0) {
				assert_int_equal(jint(&ev, "index"), -1);
				*created = true;
			} else if (strcmp(jstr(&ev, "kind"), "attach") == 0) {
				assert_int_equal(jint(&ev, "index"), 0);
				assert_int_equal(jint(&ev, "active_mask"), 1);
				*attached = true;
			}
		}
		jfree(&ev);
		*used -= (size_t)(nl + 1 - f->out);
		memmove(f->out, nl + 1, *used + 1);
	}
}

static void
test_watch(void **state)
{
	struct ctl *f = *state;
	struct shmc_region r;
	bool created = false, attached = false;
	char name[32];
	size_t used = 0;
	int status;

	start_watch(f);
	/*
	 * The watcher subscribes at some point after it starts, and events
	 * before that are not for it: repeat with fresh regions until one
	 * is seen whole. The bound only ends a hung run.
	 */
	for (int round = 0; round < 100 && !(created && attached); round++) {
		snprintf(name, sizeof(name), "w%d", round);
		created = attached = false;
		admin_create(f, name, 1);
		attach_vmm(f, 0, "watched vm", name, &r);
		for (int i = 0; i < 10 && !(created && attached); i++)
			read_watch(f, &used, 50, name, &created, &attached);
	}
	assert_true(created);
	assert_true(attached);

	assert_int_equal(kill(f->watch_pid, SIGTERM), 0);
	assert_int_equal(waitpid(f->watch_pid, &status, 0), f->watch_pid);
	f->watch_pid = 0;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void
test_paging(void **state)
{
	struct ctl *f = *state;
	bool seen[PAGING_REGIONS];
	struct shmc_region r;
	char name[32];
	int64_t last = 0;
	unsigned k;
	int lines = 0;

	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < PAGING_REGIONS; i++) {
		snprintf(name, sizeof(name), "p%03d", i);
		admin_create(f, name, 1);
	}
	CTL_JSON(f, "list");
	assert_int_equal(f->json.n, PAGING_REGIONS);
	for (size_t i = 0; i < f->json.n; i++) {
		const struct jv *g = &f->json.items[i];

		assert_int_equal(sscanf(jstr(g, "name"), "p%3u", &k), 1);
		assert_true(k < PAGING_REGIONS);
		assert_false(seen[k]);
		seen[k] = true;
		assert_true(jint(g, "id") > last);
		last = jint(g, "id");
	}
	assert_int_equal(CTL(f, "list"), 0);
	for (const char *p = f->out; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	assert_int_equal(lines, PAGING_REGIONS + 1);

	/* Clients page the same way. */
	for (int i = 0; i < PAGING_CLIENTS; i++) {
		snprintf(name, sizeof(name), "p%03d", i);
		attach_vmm(f, 0, "many", name, &r);
	}
	CTL_JSON(f, "clients");
	assert_int_equal(f->json.n, PAGING_CLIENTS);
	last = 0;
	for (size_t i = 0; i < f->json.n; i++) {
		const struct jv *c = &f->json.items[i];
		char want[32];

		assert_true(jint(c, "client_id") > last);
		last = jint(c, "client_id");
		snprintf(want, sizeof(want), "p%03zu", i);
		assert_string_equal(jstr(c, "region"), want);
	}
}

/* ---- reload ---- */

static const char reload_cfg_ok[] =
    "[broker]\ntenancy = open\nlog_level = info\n";
/* Line 4 is neither a [section] nor key = value. */
static const char reload_cfg_bad[] =
    "[broker]\ntenancy = open\nlog_level = info\nthis line is not ini\n";
static const char reload_cfg_region[] =
    "[broker]\ntenancy = open\nlog_level = info\n\n[region cfgregion]\nsize = 8K\n";

static int
setup_reload(void **state)
{
	return setup_daemon(state, reload_cfg_ok);
}

static void
test_reload(void **state)
{
	struct ctl *f = *state;
	const struct jv *g;

	assert_int_equal(CTL(f, "reload"), 0);
	assert_string_equal(f->out, "configuration reloaded\n");

	/* A file that does not load: refused, named with its line, and the
	 * daemon goes on serving. */
	check_write_file(f->fx.conf, reload_cfg_bad);
	assert_int_equal(CTL_ERR(f, "reload"), EX_DATAERR);
	assert_non_null(strstr(f->out, "shmctl: "));
	assert_non_null(strstr(f->out, f->fx.conf));
	assert_non_null(strstr(f->out, ":4:"));
	assert_int_equal(CTL(f, "--json", "reload"), EX_DATAERR);
	assert_string_equal(f->out, "");
	CTL_JSON(f, "status");
	assert_int_equal(jint(&f->json, "regions"), 0);
	CTL_JSON(f, "list");
	assert_int_equal(f->json.n, 0);

	/* Fixed, with a region: it appears, made by the configuration. */
	check_write_file(f->fx.conf, reload_cfg_region);
	CTL_JSON(f, "reload");
	assert_int_equal(f->json.t, J_OBJ);
	g = jget(&f->json, "reloaded");
	assert_non_null(g);
	assert_int_equal(g->t, J_BOOL);
	assert_true(g->i);
	CTL_JSON(f, "list");
	assert_int_equal(f->json.n, 1);
	g = jfind_name(&f->json, "name", "cfgregion");
	assert_non_null(g);
	assert_string_equal(jstr(g, "origin"), "config");
	assert_int_equal(jint(g, "size"), 8192);
	assert_string_equal(jstr(g, "tenant"), "");

	/* A second reload of the same file makes no second region. */
	assert_int_equal(CTL(f, "reload"), 0);
	CTL_JSON(f, "list");
	assert_int_equal(f->json.n, 1);
	assert_int_equal(CTL(f, "reload", "extra"), EX_USAGE);
}

/* ---- tenants ---- */

/* Attaches VMM i (connected on first use) to region; returns the guest
 * status and keeps the fd of a success for the teardown. */
static int
vmm_attach(struct ctl *f, int i, const char *region, uint32_t pages,
    bool create)
{
	struct shmc_region r;

	if (f->vmm[i] == NULL)
		f->vmm[i] = fixture_connect(&f->fx, f->fx.d.socket,
		    "tenant vm");
	return fixture_attach(&f->fx, f->vmm[i], region, pages, create, &r);
}

static const struct jv *
tenant_json(struct ctl *f, const char *name)
{
	const struct jv *t;

	CTL_JSON(f, "tenants");
	t = jfind_name(&f->json, "name", name);
	if (t == NULL)
		fail_msg("no tenant %s in: %s", name, f->out);
	return t;
}

static bool
jbool(const struct jv *o, const char *key)
{
	const struct jv *v = jget(o, key);

	assert_non_null(v);
	assert_int_equal(v->t, J_BOOL);
	return v->i != 0;
}

static void
test_tenants_default(void **state)
{
	struct ctl *f = *state;
	const struct jv *t, *g;
	int64_t conns;

	t = tenant_json(f, "default");
	assert_int_equal(f->json.n, 1);
	assert_true(jbool(t, "is_default"));
	assert_false(jbool(t, "match_uid"));
	assert_false(jbool(t, "match_gid"));
	assert_string_equal(jstr(t, "prefix"), "");
	assert_int_equal(jint(t, "mode"), 0666);
	assert_int_equal(jint(t, "regions"), 0);
	assert_int_equal(jint(t, "clients"), 0);
	/* Admin connections (this test's and shmctl's) may count: the VMMs'
	 * are measured against this. */
	conns = jint(t, "connections");
	assert_true(conns >= 0 && conns <= 2);
	assert_int_equal(jint(t, "max_regions"), 0);
	assert_int_equal(jint(t, "max_clients"), 0);
	assert_int_equal(jint(t, "max_bytes"), 0);
	assert_int_equal(jint(t, "max_hugepages"), 0);

	/* Two VMMs: a guest region of 2 pages that both attach, and an
	 * admin region, which no tenant pays for, that one attaches. */
	admin_create(f, "adm", 4);
	assert_int_equal(vmm_attach(f, 0, "g1", 2, true), SHMC_GSS_OK);
	assert_int_equal(vmm_attach(f, 1, "g1", 0, false), SHMC_GSS_OK);
	assert_int_equal(vmm_attach(f, 0, "adm", 0, false), SHMC_GSS_OK);
	assert_int_equal(vmm_attach(f, 1, "none", 0, false),
	    SHMC_GSS_DOES_NOT_EXIST);

	t = tenant_json(f, "default");
	assert_int_equal(jint(t, "regions"), 1);
	assert_int_equal(jint(t, "clients"), 3);
	assert_int_equal(jint(t, "bytes"), 8192);
	assert_int_equal(jint(t, "hugepages"), 0);
	assert_int_equal(jint(t, "connections"), conns + 2);
	assert_int_equal(jint(t, "denials"), 0);

	CTL_JSON(f, "show", "g1");
	assert_string_equal(jstr(&f->json, "origin"), "guest");
	assert_string_equal(jstr(&f->json, "tenant"), "default");
	assert_int_equal(jint(&f->json, "owner_uid"), getuid());
	assert_int_equal(jint(&f->json, "mode"), 0666);
	CTL_JSON(f, "list");
	g = jfind_name(&f->json, "name", "g1");
	assert_non_null(g);
	assert_string_equal(jstr(g, "tenant"), "default");
	g = jfind_name(&f->json, "name", "adm");
	assert_non_null(g);
	assert_string_equal(jstr(g, "tenant"), "");

	assert_int_equal(CTL(f, "tenants"), 0);
	assert_memory_equal(f->out, "TENANT", 6);
	assert_non_null(strstr(f->out, "MATCH"));
	assert_non_null(strstr(f->out, "CONNECTIONS"));
	assert_non_null(find_row(f->out, "default"));
	assert_non_null(find_row(f->out, "1/-"));
	assert_non_null(find_row(f->out, "3/-"));
	assert_non_null(strstr(f->out, "8 KiB/-"));
	assert_non_null(find_row(f->out, "0666"));
	assert_table_aligned(f->out, 0x3f0);
	assert_int_equal(CTL(f, "show", "g1"), 0);
	assert_non_null(strstr(f->out, "tenant:         default\n"));
	assert_non_null(strstr(f->out, "origin:         guest\n"));
}

/* A tenant for root (the test's uid) with quotas and a rule, and one
 * whose name needs escaping in JSON and in Prometheus labels. */
static const char tenants_cfg[] =
    "[tenant ops]\n"
    "uid = 0\n"
    "prefix = ops/\n"
    "max_regions = 2\n"
    "max_clients = 3\n"
    "max_bytes = 64K\n"
    "mode = 0640\n"
    "deny = secret*\n"
    "\n"
    "[tenant q\"b\\s]\n"
    "gid = 4242\n";
#define ODD_TENANT "q\"b\\s"
#define ODD_TENANT_PROM "tenant=\"q\\\"b\\\\s\""

static int
setup_tenants(void **state)
{
	return setup_daemon(state, tenants_cfg);
}

/* Runs `shmctl metrics` into f->out and parses it into m. */
struct sample {
	char name[64];
	char labels[128];	/* as written between the braces */
	double value;
};

struct metrics {
	struct sample s[256];
	size_t n;
};

static const double *metric(const struct metrics *m, const char *name,
    const char *lbl);
static void assert_metric(const struct metrics *m, const char *name,
    const char *lbl, double want);

static void
use_tenant_quotas(struct ctl *f)
{
	/* 2 + 1 pages, 3 clients: every quota but bytes is reached. */
	assert_int_equal(vmm_attach(f, 0, "r1", 2, true), SHMC_GSS_OK);
	assert_int_equal(vmm_attach(f, 0, "secret1", 1, true),
	    SHMC_GSS_NO_PERMISSION);
	assert_int_equal(vmm_attach(f, 1, "r1", 0, false), SHMC_GSS_OK);
	assert_int_equal(vmm_attach(f, 0, "r2", 1, true), SHMC_GSS_OK);
	assert_int_equal(vmm_attach(f, 1, "r3", 1, true), SHMC_GSS_NOMEM);
}

static void check_metrics(struct ctl *f, struct metrics *m);

static void
test_tenants_quotas(void **state)
{
	struct ctl *f = *state;
	const struct jv *t, *g;
	struct metrics *m;

	if (geteuid() != 0) {
		print_message("tenant for uid 0: needs to run as root\n");
		skip();
	}
	use_tenant_quotas(f);

	t = tenant_json(f, "ops");
	assert_int_equal(f->json.n, 2);
	assert_true(jbool(t, "match_uid"));
	assert_int_equal(jint(t, "uid"), 0);
	assert_false(jbool(t, "match_gid"));
	assert_false(jbool(t, "is_default"));
	assert_string_equal(jstr(t, "prefix"), "ops/");
	assert_int_equal(jint(t, "mode"), 0640);
	assert_int_equal(jint(t, "regions"), 2);
	assert_int_equal(jint(t, "max_regions"), 2);
	assert_int_equal(jint(t, "clients"), 3);
	assert_int_equal(jint(t, "max_clients"), 3);
	assert_int_equal(jint(t, "bytes"), 12288);
	assert_int_equal(jint(t, "max_bytes"), 65536);
	assert_int_equal(jint(t, "max_hugepages"), 0);
	assert_int_equal(jint(t, "denials"), 1);
	assert_int_equal(jint(t, "connections"), 2);
	t = jfind_name(&f->json, "name", ODD_TENANT);
	assert_non_null(t);
	assert_true(jbool(t, "match_gid"));
	assert_int_equal(jint(t, "gid"), 4242);
	assert_int_equal(jint(t, "regions"), 0);
	assert_int_equal(jint(t, "connections"), 0);
	assert_int_equal(jint(t, "mode"), 0600);

	/* Guest names live under the tenant's prefix. */
	CTL_JSON(f, "list");
	assert_int_equal(f->json.n, 2);
	g = jfind_name(&f->json, "name", "ops/r1");
	assert_non_null(g);
	assert_string_equal(jstr(g, "tenant"), "ops");
	assert_int_equal(jint(g, "mode"), 0640);
	assert_int_equal(jint(g, "owner_uid"), 0);
	assert_int_equal(jint(g, "clients"), 2);
	assert_int_equal(CTL(f, "show", "ops/r1"), 0);
	assert_non_null(strstr(f->out, "mode:           0640\n"));
	assert_non_null(strstr(f->out, "owner uid:      0\n"));
	assert_non_null(strstr(f->out, "tenant:         ops\n"));

	assert_int_equal(CTL(f, "tenants"), 0);
	assert_non_null(find_row(f->out, "ops"));
	assert_non_null(find_row(f->out, "uid=0"));
	assert_non_null(find_row(f->out, "ops/"));
	assert_non_null(find_row(f->out, "0640"));
	assert_non_null(find_row(f->out, "2/2"));
	assert_non_null(find_row(f->out, "3/3"));
	assert_non_null(strstr(f->out, "12 KiB/64 KiB"));
	assert_non_null(find_row(f->out, "gid=4242"));
	assert_table_aligned(f->out, 0x3f0);

	m = f->metrics = calloc(1, sizeof(*m));
	assert_non_null(m);
	check_metrics(f, m);
	assert_metric(m, "shmbroker_tenant_regions", "tenant=\"ops\"", 2);
	assert_metric(m, "shmbroker_tenant_clients", "tenant=\"ops\"", 3);
	assert_metric(m, "shmbroker_tenant_bytes", "tenant=\"ops\"", 12288);
	assert_metric(m, "shmbroker_tenant_denials_total", "tenant=\"ops\"",
	    1);
	assert_metric(m, "shmbroker_tenant_regions_limit", "tenant=\"ops\"",
	    2);
	assert_metric(m, "shmbroker_tenant_regions", ODD_TENANT_PROM, 0);
	/* No limit: no series, rather than a limit of 0. */
	assert_null(metric(m, "shmbroker_tenant_regions_limit",
	    ODD_TENANT_PROM));
	assert_metric(m, "shmbroker_denials_total", NULL, 1);
	assert_metric(m, "shmbroker_attach_results_total",
	    "status=\"GSS_NO_PERMISSION\"", 1);
	assert_metric(m, "shmbroker_attach_results_total",
	    "status=\"GSS_NOMEM\"", 1);
}

/* ---- metrics ---- */

static bool
metric_name(const char **p, char *out, size_t len)
{
	size_t n = 0;

	if (!isalpha((unsigned char)**p) && **p != '_' && **p != ':')
		return false;
	while (isalnum((unsigned char)**p) || **p == '_' || **p == ':') {
		if (n + 1 >= len)
			return false;
		out[n++] = *(*p)++;
	}
	out[n] = '\0';
	return true;
}

/* name="value",... up to the closing brace, escapes checked. */
static bool
metric_labels(const char **p, char *out, size_t len)
{
	const char *start = *p;
	char name[64];

	for (;;) {
		if (!metric_name(p, name, sizeof(name)) || *(*p)++ != '=' ||
		    *(*p)++ != '"')
			return false;
		while (**p != '"') {
			if (**p == '\0' || **p == '\n')
				return false;
			if (**p == '\\' && strchr("\\\"n", (*p)[1]) == NULL)
				return false;
			*p += **p == '\\' ? 2 : 1;
		}
		(*p)++;
		if (**p == '}')
			break;
		if (*(*p)++ != ',')
			return false;
	}
	if ((size_t)(*p - start) >= len)
		return false;
	memcpy(out, start, (size_t)(*p - start));
	out[*p - start] = '\0';
	(*p)++;
	return true;
}

struct family {
	char name[64];
	bool help, type, counter, done;
};

/* The family of name, made when new; NULL when the table is full. */
static struct family *
family_of(struct family *fam, size_t *nfam, size_t max, const char *name)
{
	for (size_t i = 0; i < *nfam; i++)
		if (strcmp(fam[i].name, name) == 0)
			return &fam[i];
	if (*nfam == max)
		return NULL;
	snprintf(fam[*nfam].name, sizeof(fam[*nfam].name), "%s", name);
	return &fam[(*nfam)++];
}

/* A "# HELP name text" or "# TYPE name type" line. */
static void
metric_comment(const char *line, struct family *fam, size_t *nfam,
    size_t max)
{
	char name[64], type[16];
	const char *p = line + 7;
	struct family *fm;

	if (strncmp(line, "# HELP ", 7) != 0 &&
	    strncmp(line, "# TYPE ", 7) != 0)
		return;		/* other comments are allowed */
	if (!metric_name(&p, name, sizeof(name)) || *p++ != ' ')
		fail_msg("bad comment line: %s", line);
	fm = family_of(fam, nfam, max, name);
	assert_non_null(fm);
	if (line[2] == 'H') {
		assert_false(fm->help);
		assert_false(fm->type);	/* HELP comes first */
		assert_true(strlen(p) > 0);
		fm->help = true;
		return;
	}
	assert_false(fm->type);
	assert_int_equal(sscanf(p, "%15s", type), 1);
	assert_true(strcmp(type, "counter") == 0 ||
	    strcmp(type, "gauge") == 0);
	fm->type = true;
	fm->counter = type[0] == 'c';
}

/* One sample line into m; its family must be announced and its samples
 * together. */
static void
metric_sample(const char *line, struct metrics *m, struct family *fam,
    size_t nfam, struct family **cur)
{
	struct sample *s = &m->s[m->n];
	const char *p = line;
	struct family *fm = NULL;
	char *end;

	assert_true(m->n < sizeof(m->s) / sizeof(m->s[0]));
	if (!metric_name(&p, s->name, sizeof(s->name)))
		fail_msg("bad metric name: %s", line);
	if (*p == '{') {
		p++;
		if (!metric_labels(&p, s->labels, sizeof(s->labels)))
			fail_msg("bad labels: %s", line);
	}
	if (*p++ != ' ')
		fail_msg("no value: %s", line);
	errno = 0;
	s->value = strtod(p, &end);
	if (end == p || *end != '\0' || errno != 0 || !isfinite(s->value))
		fail_msg("value is not a number: %s", line);
	assert_memory_equal(s->name, "shmbroker_", 10);
	for (size_t i = 0; i < nfam; i++)
		if (strcmp(fam[i].name, s->name) == 0)
			fm = &fam[i];
	if (fm == NULL || !fm->help || !fm->type)
		fail_msg("no HELP and TYPE before %s", line);
	if (fm->done)
		fail_msg("samples of %s are not together", s->name);
	if (*cur != NULL && *cur != fm)
		(*cur)->done = true;
	*cur = fm;
	if (fm->counter) {
		assert_true(strlen(s->name) > 6);
		assert_string_equal(s->name + strlen(s->name) - 6, "_total");
		assert_true(s->value >= 0);
	}
	m->n++;
}

/* Runs `shmctl metrics` and checks every line of it into m. */
static void
check_metrics(struct ctl *f, struct metrics *m)
{
	struct family fam[64];
	struct family *cur = NULL;
	size_t nfam = 0;
	char *line, *save = NULL;

	memset(fam, 0, sizeof(fam));
	m->n = 0;
	assert_int_equal(CTL(f, "metrics"), 0);
	assert_true(strlen(f->out) > 0);
	assert_int_equal(f->out[strlen(f->out) - 1], '\n');
	for (line = strtok_r(f->out, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			metric_comment(line, fam, &nfam, 64);
		else
			metric_sample(line, m, fam, nfam, &cur);
	}
}

/* The value of name{labels} (labels NULL: none), or NULL. */
static const double *
metric(const struct metrics *m, const char *name, const char *lbl)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->s[i].name, name) == 0 &&
		    strcmp(m->s[i].labels, lbl != NULL ? lbl : "") == 0)
			return &m->s[i].value;
	return NULL;
}

/* The value of name{labels}, which must be there. */
static double
metric_value(const struct metrics *m, const char *name, const char *lbl)
{
	const double *v = metric(m, name, lbl);

	if (v == NULL)
		fail_msg("no sample %s{%s}", name, lbl ? lbl : "");
	return *v;
}

/* name{labels} must be there and have value want. */
static void
assert_metric(const struct metrics *m, const char *name, const char *lbl,
    double want)
{
	const double *v = metric(m, name, lbl);

	if (v == NULL)
		fail_msg("no sample %s{%s}", name, lbl ? lbl : "");
	if (*v != want)
		fail_msg("%s{%s} is %g, wanted %g", name, lbl ? lbl : "",
		    *v, want);
}

static void
test_metrics(void **state)
{
	struct ctl *f = *state;
	struct metrics *m = f->metrics = calloc(1, sizeof(*m));
	static const char *const statuses[] = {
		"GSS_OK", "GSS_UNKNOWN_FAILURE", "GSS_NOMEM", "GSS_CLIENT_MAX",
		"GSS_ILLEGAL_NAME", "GSS_NO_PERMISSION", "GSS_DOES_NOT_EXIST",
	};
	char want[64];
	double conns;

	assert_non_null(m);
	check_metrics(f, m);
	assert_metric(m, "shmbroker_regions", NULL, 0);
	conns = metric_value(m, "shmbroker_tenant_connections",
	    "tenant=\"default\"");
	assert_metric(m, "shmbroker_attaches_total", NULL, 0);
	for (size_t i = 0; i < 7; i++) {
		snprintf(want, sizeof(want), "status=\"%s\"", statuses[i]);
		assert_metric(m, "shmbroker_attach_results_total", want, 0);
	}

	/* An admin region, a guest region, a failed find, a notify. */
	admin_create(f, "m1", 1);
	assert_int_equal(vmm_attach(f, 0, "m1", 0, false), SHMC_GSS_OK);
	assert_int_equal(vmm_attach(f, 0, "nope", 0, false),
	    SHMC_GSS_DOES_NOT_EXIST);
	assert_int_equal(vmm_attach(f, 1, "g", 1, true), SHMC_GSS_OK);
	assert_int_equal(vmm_attach(f, 1, "bad name", 1, true),
	    SHMC_GSS_ILLEGAL_NAME);

	check_metrics(f, m);
	assert_metric(m, "shmbroker_regions", NULL, 2);
	assert_metric(m, "shmbroker_clients", NULL, 2);
	assert_true(metric_value(m, "shmbroker_connections", NULL) >= 3);
	assert_metric(m, "shmbroker_region_bytes", "backing=\"shmem\"", 8192);
	assert_metric(m, "shmbroker_region_bytes", "backing=\"hugetlb\"", 0);
	assert_metric(m, "shmbroker_attaches_total", NULL, 2);
	assert_metric(m, "shmbroker_creates_total", NULL, 2);
	assert_metric(m, "shmbroker_detaches_total", NULL, 0);
	assert_metric(m, "shmbroker_notifications_total", NULL, 0);
	assert_metric(m, "shmbroker_denials_total", NULL, 0);
	assert_metric(m, "shmbroker_bad_requests_total", NULL, 0);
	assert_metric(m, "shmbroker_regions_destroyed_total", NULL, 0);
	assert_metric(m, "shmbroker_attach_results_total",
	    "status=\"GSS_OK\"", 2);
	assert_metric(m, "shmbroker_attach_results_total",
	    "status=\"GSS_DOES_NOT_EXIST\"", 1);
	assert_metric(m, "shmbroker_attach_results_total",
	    "status=\"GSS_ILLEGAL_NAME\"", 1);
	assert_metric(m, "shmbroker_tenant_regions", "tenant=\"default\"", 1);
	assert_metric(m, "shmbroker_tenant_clients", "tenant=\"default\"", 2);
	assert_metric(m, "shmbroker_tenant_bytes", "tenant=\"default\"", 4096);
	assert_metric(m, "shmbroker_tenant_hugepages", "tenant=\"default\"",
	    0);
	assert_metric(m, "shmbroker_tenant_connections", "tenant=\"default\"",
	    conns + 2);
	assert_metric(m, "shmbroker_tenant_denials_total",
	    "tenant=\"default\"", 0);
	assert_true(metric_value(m, "shmbroker_uptime_seconds", NULL) >= 0);
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->s[i].name, "shmbroker_info") == 0)
			want[0] = strncmp(m->s[i].labels, "server=\"shmbrokerd ",
			    19) == 0 && strstr(m->s[i].labels,
			    ",hugepage_policy=\"never\"") != NULL ? 'y' : 'n';
	assert_int_equal(want[0], 'y');

	/* The counters agree with stats --json. */
	CTL_JSON(f, "stats");
	assert_int_equal(jint(&f->json, "attaches"), 2);
	assert_int_equal(jint(&f->json, "denials"), 0);
	assert_int_equal(CTL(f, "stats"), 0);
	assert_kv(f->out, "denials:", "0");

	/* No JSON form: a usage error that says where to look. */
	assert_int_equal(CTL_ERR(f, "--json", "metrics"), EX_USAGE);
	assert_non_null(strstr(f->out, "tenants"));
	assert_int_equal(CTL(f, "metrics", "--help"), 0);
	assert_non_null(strstr(f->out, "Prometheus"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_human_lifecycle, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_human_blocks, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_json_lifecycle, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_attached_clients, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_help, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload, setup_reload,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tenants_default, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tenants_quotas,
		    setup_tenants, teardown),
		cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
