/* SPDX-License-Identifier: ISC */
/*
 * test_config: shmbrokerd's configuration file, through the real binary.
 * A file the daemon cannot use must stop it before it listens, with exit
 * status 78 (EX_CONFIG) and one line on stderr naming the file, the line
 * and the reason; every class of mistake is tried, and so are the longest
 * names and lines a file may hold, an export the file asks for that
 * cannot be made, and the file systemd/ ships. What a
 * good file makes is test_config_regions'.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "shmclient.h"
#include "shmclient_admin.h"
#include "testcheck.h"

#define WAIT_MS 5000

/* The fixture (its directory and configuration file; a daemon only where
 * a file must be taken) and a daemon run by run_daemon, until reaped. */
struct cstate {
	struct fixture fx;	/* first: fixture_teardown frees it whole */
	pid_t pid;
};

static int
setup(void **state)
{
	return fixture_new(state, sizeof(struct cstate)) != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	struct cstate *st = *state;

	if (st->pid > 0) {
		kill(st->pid, SIGKILL);
		waitpid(st->pid, NULL, 0);
	}
	return fixture_teardown(state);
}

/*
 * Runs shmbrokerd on sockets in st->fx.dir with the extra arguments, stderr
 * into err. A daemon that is still running after WAIT_MS accepted what it
 * was given: it is killed and -1 returned. Else its exit status.
 */
static int
run_daemon(struct cstate *st, const char *const *extra, char *err,
    size_t errlen)
{
	char vmm[128], admin[128], errpath[128];
	const char *argv[16];
	int n = 0, status, fd;
	int64_t deadline;
	ssize_t len;

	snprintf(vmm, sizeof(vmm), "%s/vmm.sock", st->fx.dir);
	snprintf(admin, sizeof(admin), "%s/admin.sock", st->fx.dir);
	snprintf(errpath, sizeof(errpath), "%s/stderr", st->fx.dir);
	argv[n++] = SHMBROKERD_PATH;
	argv[n++] = "--socket";
	argv[n++] = vmm;
	argv[n++] = "--admin-socket";
	argv[n++] = admin;
	for (; *extra != NULL && n < 15; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	st->pid = fork();
	assert_true(st->pid >= 0);
	if (st->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600);
		if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
			_exit(126);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	deadline = harness_now_ms() + WAIT_MS;
	while (waitpid(st->pid, &status, WNOHANG) == 0) {
		if (harness_now_ms() > deadline) {
			kill(st->pid, SIGKILL);
			waitpid(st->pid, &status, 0);
			status = -1;
			break;
		}
		harness_sleep_ms(5);
	}
	st->pid = 0;
	fd = open(errpath, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	len = read(fd, err, errlen - 1);
	close(fd);
	err[len > 0 ? len : 0] = '\0';
	if (status == -1)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 +
	    WTERMSIG(status);
}

/* Runs the daemon on text and checks that it refused it the right way:
 * status 78, nothing but "shmbrokerd: FILE:LINE: ...reason..." (no ":LINE"
 * when line is 0), and no socket left behind. */
static void
check_refused(struct cstate *st, const char *what, const char *text,
    int line, const char *reason)
{
	const char *extra[] = { "--config", st->fx.conf, NULL };
	char err[2048], want[256], sock[128];
	int rc;

	check_write_file(st->fx.conf, text);
	rc = run_daemon(st, extra, err, sizeof(err));
	if (rc != EX_CONFIG)
		fail_msg("%s: exit status %d, not %d; stderr: %s", what, rc,
		    EX_CONFIG, err);
	if (line > 0)
		snprintf(want, sizeof(want), "shmbrokerd: %s:%d: ", st->fx.conf,
		    line);
	else
		snprintf(want, sizeof(want), "shmbrokerd: %s: ", st->fx.conf);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("%s: stderr does not start with '%s': %s", what, want,
		    err);
	if (strstr(err, reason) == NULL)
		fail_msg("%s: stderr does not give the reason '%s': %s", what,
		    reason, err);
	if (strchr(err, '\n') != err + strlen(err) - 1)
		fail_msg("%s: expected one line on stderr: %s", what, err);
	snprintf(sock, sizeof(sock), "%s/vmm.sock", st->fx.dir);
	if (access(sock, F_OK) == 0)
		fail_msg("%s: the daemon created its socket", what);
}

struct bad_case {
	const char *what;
	const char *text;
	int line;		/* 0: a whole-file check, no line */
	const char *reason;
};

/* Broker-only files say tenancy = open; T5 is a tenant for uid 5. */
#define OPEN "[broker]\ntenancy = open\n"
#define T5 "[tenant t]\nuid = 5\n"

static const struct bad_case bad_cases[] = {
	{ "unknown section", OPEN "max_regions = 10\n\n[bogus]\nkey = 1\n", 5,
	    "unknown section" },
	{ "section without a name", "[tenant]\nuid = 5\n", 1,
	    "[tenant] needs a name" },
	{ "unknown broker key", OPEN "max_regionz = 10\n", 3,
	    "unknown broker setting 'max_regionz' (use socket," },
	{ "unknown region key", OPEN "[region r]\nsize = 1M\ncolour = blue\n",
	    5, "unknown region setting 'colour' (use size, mode, group, "
	    "backing, ivshmem, ivshmem_vectors)" },
	{ "unknown tenant key", T5 "quota = 1\n", 3,
	    "unknown tenant setting 'quota'" },
	{ "bad region size", OPEN "[region r]\nsize = 12Q\n", 4,
	    "size must be a size" },
	{ "zero region size", OPEN "[region r]\nsize = 0\n", 4,
	    "size must be a size" },
	{ "bad max_region_size", OPEN "max_region_size = huge\n", 3,
	    "max_region_size must be a size" },
	{ "bad max_bytes", T5 "max_bytes = lots\n", 3,
	    "max_bytes must be a size" },
	{ "bad number", OPEN "max_regions = ten\n", 3, "whole numbers" },
	{ "zero limit", OPEN "max_clients = 0\n", 3, "whole numbers" },
	{ "limit over 32 bits", OPEN "max_connections = 4294967296\n", 3,
	    "whole numbers" },
	{ "negative tenant limit", T5 "max_regions = -1\n", 3,
	    "whole numbers" },
	{ "number with junk", T5 "max_clients = 10x\n", 3, "whole numbers" },
	{ "zero tenant max_connections", T5 "max_connections = 0\n", 3,
	    "whole numbers" },
	{ "bad tenant max_connections", T5 "max_connections = some\n", 3,
	    "max_connections = some" },
	{ "tenant max_connections over 32 bits",
	    T5 "mode = 0600\nmax_connections = 4294967296\n", 4,
	    "whole numbers" },
	{ "bad tenant mode", T5 "mode = 0999\n", 3, "mode must be octal" },
	{ "region mode over 0777",
	    OPEN "[region r]\nsize = 4096\nmode = 01000\n", 5,
	    "mode must be octal" },
	{ "symbolic mode", OPEN "[region r]\nsize = 4096\nmode = rw-rw----\n",
	    5, "mode must be octal" },
	{ "region without size", OPEN "[region r]\nmode = 0600\n", 3,
	    "[region r] has no size" },
	{ "default_tenant naming no tenant",
	    "[broker]\ndefault_tenant = ghost\n" T5, 0,
	    "default_tenant = ghost: no [tenant ghost] section" },
	{ "bad hugepages policy", OPEN "hugepages = sometimes\n", 3,
	    "hugepages must be never, prefer or require" },
	{ "bad backing", OPEN "[region r]\nsize = 1M\nbacking = floppy\n", 5,
	    "backing must be hugetlb, shmem or auto" },
	{ "bad log level", OPEN "log_level = loud\n", 3, "log_level must be" },
	{ "syntax error", OPEN "max_regions 10\n", 3, "syntax error" },
	{ "setting before a section", "tenancy = open\n[broker]\n", 1,
	    "before any section" },
	{ "unknown user", "[tenant t]\nuid = no-such-user-shmb\n", 2,
	    "uid must be a uid or a user name" },
	{ "unknown group", "[tenant t]\ngid = no-such-group-shmb\n", 2,
	    "must be a gid or a group name" },
	{ "unknown region group",
	    OPEN "[region r]\nsize = 1M\ngroup = nogrp-x\n", 5,
	    "group must be a gid or a group name" },
	{ "unknown admin_group", OPEN "admin_group = nogrp-x\n", 3,
	    "admin_group must be a gid or a group name" },
	{ "prefix too long",
	    T5 "prefix = 0123456789abcdef0123456789abcdef\n", 3,
	    "prefix must be 1 to 31" },
	{ "prefix with a space", T5 "prefix = a b/\n", 3, "prefix must be" },
	{ "too many patterns",
	    T5 "allow = p0,p1,p2,p3,p4,p5,p6,p7,p8,p9,"
	    "p10,p11,p12,p13,p14,p15\ndeny = q0,q1,q2,q3,q4,q5,q6,q7,q8,q9,"
	    "q10,q11,q12,q13,q14,q15,q16\n", 4, "at most 32 patterns" },
	{ "pattern too long",
	    T5 "allow = vm*, "
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "\n", 3, "at most 63 characters" },
	/* A comment after a value is part of it: such a deny matched
	 * nothing and was taken (a reviewer's find). */
	{ "a comment after a pattern",
	    T5 "deny = secret*   # never let VMMs touch these\n", 3,
	    "a pattern with a blank or a byte that is not printable matches "
	    "no region name" },
	{ "a blank inside a pattern", T5 "allow_ro = a b, c\n", 3,
	    "matches no region name" },
	{ "tenant name too long",
	    "[tenant 0123456789abcdef0123456789abcdef]\nuid = 5\n", 1,
	    "tenant names are 1 to 31" },
	{ "region name too long", OPEN "[region "
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	    "]\nsize = 1M\n", 3, "region names are 1 to 63" },
	{ "first error wins",
	    OPEN "log_level = info\nmax_regions = ten\nmax_clients = "
	    "zero\n", 4, "max_regions = ten" },
	/* Fail closed: who is served is never left to a default. */
	{ "empty file", "", 0, "no [tenant] section, and no 'tenancy = open'" },
	{ "only comments", "; nothing\n# here\n\n", 0,
	    "no [tenant] section, and no 'tenancy = open'" },
	{ "broker alone", "[broker]\nlog_level = info\n", 0,
	    "no [tenant] section, and no 'tenancy = open'" },
	{ "tenancy = tenants without tenants", "[broker]\ntenancy = tenants\n",
	    0, "no [tenant] section" },
	{ "open tenancy beside tenants", OPEN "\n" T5, 2,
	    "tenancy = open, but the file has [tenant] sections (line 4)" },
	{ "bad tenancy", "[broker]\ntenancy = everyone\n", 2,
	    "tenancy must be open" },
	{ "second [broker]", OPEN "[region r]\nsize = 1M\n[broker]\n", 5,
	    "a second [broker] section (the first is at line 1)" },
	{ "second [tenant t]", T5 "[tenant u]\nuid = 6\n[tenant t]\n", 5,
	    "a second [tenant t] (the first is at line 1)" },
	{ "second [region r]", OPEN "[region r]\nsize = 1M\n[region q]\n"
	    "size = 1M\n[region r]\nsize = 2M\n", 7,
	    "a second [region r] (the first is at line 3)" },
	{ "broker key twice", OPEN "log_level = info\nlog_level = debug\n", 4,
	    "[broker] sets log_level twice" },
	{ "region key twice", OPEN "[region r]\nsize = 1M\nsize = 2M\n", 5,
	    "[region r] sets size twice" },
	{ "tenant key twice", T5 "prefix = a/\nprefix = b/\n", 4,
	    "[tenant t] sets prefix twice" },
	{ "two tenants, one uid", T5 "\n[tenant u]\nuid = 5\n", 4,
	    "[tenant u] matches the same uid and gid as [tenant t] (line 1)" },
	{ "two tenants, one gid", "[tenant t]\ngid = 7\n[tenant u]\ngid = 7\n",
	    3, "[tenant u] matches the same uid and gid as [tenant t]" },
	{ "two tenants, one uid and gid",
	    "[tenant t]\nuid = 5\ngid = 7\n[tenant u]\ngid = 7\nuid = 5\n", 4,
	    "matches the same uid and gid" },
	{ "a tenant nothing matches", T5 "[tenant v]\nprefix = v/\n", 3,
	    "[tenant v] names neither uid nor gid" },
	{ "nested prefixes", T5 "prefix = acme/\n[tenant u]\nuid = 6\n"
	    "prefix = acme\n", 4, "[tenant u] prefix 'acme' and [tenant t] "
	    "prefix 'acme/' (line 1): one starts the other" },
	{ "equal prefixes", T5 "prefix = acme/\n[tenant u]\nuid = 6\n"
	    "prefix = acme/\n", 4, "one starts the other" },
	{ "more regions than max_regions", OPEN "max_regions = 1\n"
	    "[region a]\nsize = 1M\n[region b]\nsize = 1M\n", 0,
	    "2 [region] sections, more than max_regions = 1" },
	/* Bytes that are not text are refused, and quoted escaped. */
	{ "a control character", OPEN "log_level = \x01info\n", 3,
	    "a control character in 'log_level = \\x01info'" },
	{ "bytes past ASCII, escaped", OPEN "log_level = \xff\xfeinfo\n", 3,
	    "log_level = \\xff\\xfeinfo: log_level must be" },
};

static void
test_bad_files(void **state)
{
	struct cstate *st = *state;

	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]);
	    i++)
		check_refused(st, bad_cases[i].what, bad_cases[i].text,
		    bad_cases[i].line, bad_cases[i].reason);
}

/* The line reported is the one whose reason is given. */
static void
test_error_line_matches_reason(void **state)
{
	struct cstate *st = *state;

	check_refused(st, "syntax error before a bad value",
	    OPEN "this is not a setting\nmax_regions = ten\n", 3,
	    "syntax error");
	check_refused(st, "unclosed section", "[broker\nmax_regions = 10\n",
	    1, "a section header is [NAME] alone on its line");
}

/* Region names in [region NAME] headers are whole up to 63 characters
 * (the longest region name), never cut. */
#define NAME63 "long-region-name-0123456789abcdef0123456789abcdef-0123456789abc"

static void
test_long_section_names(void **state)
{
	struct cstate *st = *state;
	assert_int_equal(strlen(NAME63), 63);
	assert_int_equal(fixture_start(&st->fx, OPEN "hugepages = never\n"
	    "[region " NAME63 "]\nsize = 1M\n", NULL), 0);
	if (check_admin_show(st->fx.adm, NAME63).error !=
	    SHMBROKER__ERROR__ERR_NONE)
		fail_msg("[region %s] was not created under its name", NAME63);
}

/* A long allow list on one line is one line; a line over the limit is
 * refused at its own number, and reading stops there. */
static void
test_long_line(void **state)
{
	struct cstate *st = *state;
	size_t big = 10u << 20, off;
	char text[1024], *huge;

	off = (size_t)snprintf(text, sizeof(text), T5 "allow = x");
	for (int i = 0; i < 20; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		    ", pattern%03d", i);
	snprintf(text + off, sizeof(text) - off, "\n");
	assert_true(strlen(strchr(strchr(text, '\n') + 1, '\n') + 1) > 200);
	assert_int_equal(fixture_start(&st->fx, text, NULL), 0);

	/* 10 MiB without a newline. */
	huge = malloc(big + 1);
	assert_non_null(huge);
	off = (size_t)snprintf(huge, big, OPEN "log_level = ");
	memset(huge + off, 'x', big - off);
	huge[big] = '\0';
	check_refused(st, "a 10 MiB line", huge, 3, "line too long (at most "
	    "4095 characters)");
	free(huge);
}

/* Writes len bytes of text (NULs and all) to the configuration file. */
static void
write_bytes(struct cstate *st, const char *text, size_t len)
{
	int fd = open(st->fx.conf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
}

/* Runs the daemon on path; it must refuse with status 78 and err must
 * hold what. */
static void
check_refused_path(struct cstate *st, const char *path, const char *what)
{
	const char *extra[] = { "--config", path, NULL };
	char err[2048];
	int rc = run_daemon(st, extra, err, sizeof(err));

	if (rc != EX_CONFIG || strstr(err, what) == NULL)
		fail_msg("--config %s: status %d, stderr: %s (wanted 78 and "
		    "'%s')", path, rc, err, what);
}

/* What is not a text file is refused quickly, in bounded memory, and a
 * read error is an error, never the end of the file. */
static void
test_not_text(void **state)
{
	struct cstate *st = *state;
	static const char nul[] = "[broker]\ntenancy = open\nlog_level = "
	    "in\0fo\n";
	char want[256];

	write_bytes(st, nul, sizeof(nul) - 1);
	snprintf(want, sizeof(want), "%s:3: a NUL byte", st->fx.conf);
	check_refused_path(st, st->fx.conf, want);
	snprintf(want, sizeof(want), "%s:1: cannot read: Is a directory",
	    st->fx.dir);
	check_refused_path(st, st->fx.dir, want);
	check_refused_path(st, "/dev/zero", "/dev/zero:1: a NUL byte");
}
static void
test_missing_file(void **state)
{
	struct cstate *st = *state;
	const char *extra[] = { "--config", st->fx.conf, NULL };
	char err[1024];

	assert_int_equal(run_daemon(st, extra, err, sizeof(err)), EX_CONFIG);
	assert_non_null(strstr(err, st->fx.conf));
	assert_non_null(strstr(err, "cannot open"));
}

/* A wrong command line is not a wrong file: status 64 (EX_USAGE), with
 * why; --help and --version answer before any file is read. */
static void
test_bad_command_line(void **state)
{
	struct cstate *st = *state;
	const char *value[] = { "--config", st->fx.conf, "--hugepages",
	    "sometimes", NULL };
	const char *unknown[] = { "--config", st->fx.conf, "--bogus", NULL };
	const char *extra_arg[] = { "--config", st->fx.conf, "stray", NULL };
	const char *help[] = { "--config", "/nonexistent", "--help", NULL };
	char err[1024];

	check_write_file(st->fx.conf, OPEN "hugepages = never\n");
	assert_int_equal(run_daemon(st, value, err, sizeof(err)), EX_USAGE);
	assert_non_null(strstr(err, "--hugepages sometimes: hugepages must "
	    "be never, prefer or require"));
	assert_int_equal(run_daemon(st, unknown, err, sizeof(err)), EX_USAGE);
	assert_non_null(strstr(err, "'--bogus'"));
	assert_int_equal(run_daemon(st, extra_arg, err, sizeof(err)),
	    EX_USAGE);
	assert_non_null(strstr(err, "unexpected argument 'stray'"));
	assert_int_equal(run_daemon(st, help, err, sizeof(err)), 0);
}

/* A configured region the daemon cannot make stops it at start. */
static void
test_region_over_limit(void **state)
{
	struct cstate *st = *state;
	const char *extra[] = { "--config", st->fx.conf, NULL };
	char err[2048];
	int rc;

	check_write_file(st->fx.conf, OPEN "max_region_size = 1M\n"
	    "hugepages = never\n[region big]\nsize = 2M\n");
	rc = run_daemon(st, extra, err, sizeof(err));
	if (rc <= 0)
		fail_msg("a region over max_region_size: status %d: %s", rc,
		    err);
	assert_non_null(strstr(err, "region big"));
	assert_non_null(strstr(err, "max_region_size"));
}

/* One whose file loads but that cannot be made at start (hugetlb
 * required, the pool empty) is an error of the file as well: status 78
 * and its line. It was status 1 without one, which a unit's restarts do
 * not tell from a crash (a reviewer's find). */
static void
test_region_cannot_be_made(void **state)
{
	struct cstate *st = *state;
	const char *extra[] = { "--config", st->fx.conf, NULL };
	char err[2048], want[256];
	int rc;

	if (harness_proc_value("/proc/meminfo", "HugePages_Free") != 0) {
		print_message("skipped: the hugepage pool is not empty\n");
		skip();
	}
	check_write_file(st->fx.conf, OPEN "hugepages = never\n"
	    "[region huge]\nsize = 2M\nbacking = hugetlb\n");
	rc = run_daemon(st, extra, err, sizeof(err));
	if (rc != EX_CONFIG)
		fail_msg("a hugetlb region without a pool: status %d: %s", rc,
		    err);
	snprintf(want, sizeof(want), "%s:4: [region huge]: cannot be made: ",
	    st->fx.conf);
	assert_non_null(strstr(err, want));
}

/* A configured export the daemon cannot make at start (its directory
 * does not exist) is an error of the file like any other: status 78, one
 * line with the file, the line of its "ivshmem =" and the path, and no
 * socket left behind. */
static void
test_export_missing_dir(void **state)
{
	struct cstate *st = *state;
	char text[512], path[128], reason[512];

	snprintf(path, sizeof(path), "%s/no-such-dir/x.sock", st->fx.dir);
	/* log_level = error: the start-up's warnings before it (the
	 * descriptor limit's) are no part of this. */
	snprintf(text, sizeof(text), OPEN "log_level = error\n"
	    "hugepages = never\n\n[region x]\nsize = 1M\nivshmem = %s\n",
	    path);
	snprintf(reason, sizeof(reason), "[region x]: cannot listen on %s: "
	    "its directory does not exist", path);
	check_refused(st, "an export in a missing directory", text, 8,
	    reason);
}

/* The configuration shipped in systemd/ loads (fd_store = yes only warns
 * without systemd), as --check says. */
static void
test_shipped_config(void **state)
{
	struct cstate *st = *state;
	const char *extra[] = { "--config", SHIPPED_CONF, "--check", NULL };
	char err[2048];
	int rc = run_daemon(st, extra, err, sizeof(err));

	if (rc != 0)
		fail_msg("%s: status %d: %s", SHIPPED_CONF, rc, err);
}

/* A socket of type bound at path (a stream one listening), or
 * connected to it. */
static int
socket_at(const char *path, int type, bool bound)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (!bound) {
		assert_int_equal(connect(fd, (struct sockaddr *)&sun,
		    sizeof(sun)), 0);
		return fd;
	}
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	if (type == SOCK_STREAM)
		assert_int_equal(listen(fd, 4), 0);
	return fd;
}

/* The daemon, told to listen at path, must refuse with status 1 and why,
 * and leave what is there as it was. */
static void
check_path_kept(struct cstate *st, const char *path, const char *why)
{
	const char *extra[] = { "--socket", path, NULL };
	struct stat before, after;
	char err[2048];
	int rc;

	assert_int_equal(lstat(path, &before), 0);
	rc = run_daemon(st, extra, err, sizeof(err));
	if (rc != 1 || strstr(err, why) == NULL)
		fail_msg("--socket %s: status %d, stderr: %s (wanted 1 and "
		    "'%s')", path, rc, err, why);
	assert_int_equal(lstat(path, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	assert_int_equal(before.st_mode, after.st_mode);
}

/*
 * What is at the socket's path is replaced only when it is a socket that
 * nobody serves: never a file (a typo as root once turned any file into a
 * socket), nor another process's socket of another type, which a probe of
 * the daemon's own type took for a stale one.
 */
static void
test_socket_path_kept(void **state)
{
	struct cstate *st = *state;
	char path[160], text[64];
	int fd, dgram, stream;

	snprintf(path, sizeof(path), "%s/important", st->fx.dir);
	check_write_file(path, "keep me\n");
	check_path_kept(st, path, "exists and is not a socket");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, text, sizeof(text)), 8);
	close(fd);
	assert_memory_equal(text, "keep me\n", 8);

	snprintf(path, sizeof(path), "%s/dgram.sock", st->fx.dir);
	dgram = socket_at(path, SOCK_DGRAM, true);
	check_path_kept(st, path, "is served by another process");
	snprintf(path, sizeof(path), "%s/stream.sock", st->fx.dir);
	stream = socket_at(path, SOCK_STREAM, true);
	check_path_kept(st, path, "is served by another process");
	/* The listener still answers at its path. */
	fd = socket_at(path, SOCK_STREAM, false);
	close(fd);
	close(stream);
	close(dgram);
}

#define CONFIG_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		CONFIG_TEST(test_bad_files),
		CONFIG_TEST(test_error_line_matches_reason),
		CONFIG_TEST(test_long_section_names),
		CONFIG_TEST(test_long_line),
		CONFIG_TEST(test_missing_file),
		CONFIG_TEST(test_bad_command_line),
		CONFIG_TEST(test_region_over_limit),
		CONFIG_TEST(test_region_cannot_be_made),
		CONFIG_TEST(test_export_missing_dir),
		CONFIG_TEST(test_not_text),
		CONFIG_TEST(test_shipped_config),
		CONFIG_TEST(test_socket_path_kept),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
