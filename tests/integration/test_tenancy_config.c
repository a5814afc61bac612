/* SPDX-License-Identifier: ISC */
/*
 * test_tenancy_config: a tenancy configuration that fails closed, against
 * a real shmbrokerd with VMM clients that really are other users (agents,
 * see tenancy_agents.h). A reload with a file that names no tenants and
 * does not say tenancy = open is refused and the tenants stay; a reload
 * that widens access is served, but logs a warning for each way it does;
 * and a daemon in a user namespace whose uid_map is not the identity,
 * where every other user's peer credentials read 65534, refuses to start
 * or reload with tenants or admin_group. Needs root; every test skips
 * otherwise, and the user namespace one where unshare(1) or user
 * namespaces are missing.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include <cmocka.h>

#include "tenancy_agents.h"

#define WIDENS "<4>reload widens access: "

/* ---- reloads ---- */

static const char conf_strict[] =
    "[broker]\n"
    "hugepages = never\n"
    "\n"
    "[tenant alpha]\n"
    "uid = 2001\n"
    "allow = vm*\n"
    "max_regions = 1\n"
    "mode = 0600\n";

/* conf_strict and a default tenant, a higher quota, a wider mode. */
static const char conf_wider[] =
    "[broker]\n"
    "hugepages = never\n"
    "default_tenant = guests\n"
    "\n"
    "[tenant alpha]\n"
    "uid = 2001\n"
    "allow = vm*\n"
    "max_regions = 3\n"
    "mode = 0660\n"
    "\n"
    "[tenant guests]\n"
    "prefix = guests/\n";

static const char conf_open[] =
    "[broker]\n"
    "hugepages = never\n"
    "tenancy = open\n";

/* AdminReload of text, which the daemon must take (or refuse: want). */
static void
reload(struct tstate *st, const char *text, int want, char *msg,
    size_t msglen)
{
	int rc;

	check_write_file(st->conf, text);
	rc = check_admin_reload(st->adm, msg, msglen);
	if (rc != want)
		fail_msg("reload: error %d, not %d (%s)", rc, want, msg);
}

/* The daemon's log must have one warning that starts with what. */
static void
logged_once(struct tstate *st, const char *what)
{
	if (log_count(st, what) != 1)
		fail_msg("%d lines '%s' in %s", log_count(st, what), what,
		    st->d.log);
}

/* An emptied file served everyone, with no rules, before: now it is
 * refused, and the rules, quotas and refusals of the tenants stay. */
static void
test_reload_empty_refused(void **state)
{
	struct tstate *st = *state;
	struct agent *a, *other;
	struct agent_rep r;
	char msg[512];

	NEED_ROOT();
	st->journal = true;
	a = start_agent(st, conf_strict, 2001, 1);
	other = agent_start(st, 2700, 2700);
	GSS(SHMC_GSS_OK, agent_attach(a, 0, "vm1", 1, true, &r), r);
	reload(st, conf_strict, 0, msg, sizeof(msg));
	assert_int_equal(log_count(st, "reload widens access"), 0);

	reload(st, "", SHMBROKER__ERROR__ERR_INVALID, msg, sizeof(msg));
	if (strstr(msg, "tenancy = open") == NULL)
		fail_msg("the refusal does not name tenancy = open: %s", msg);
	assert_int_equal(log_count(st, "reload failed"), 1);
	assert_true(tenant_info(st, "alpha").found);
	GSS(SHMC_GSS_NO_PERMISSION, agent_attach(a, 0, "notvm", 1, true, &r),
	    r);
	GSS(SHMC_GSS_NOMEM, agent_attach(a, 0, "vm2", 1, true, &r), r);
	agent_refused(other, 0, st->d.socket, "no tenant matches");
	assert_int_equal(region_info(st, "vm1").mode, 0600);
	assert_int_equal(log_count(st, "reload widens access"), 0);
}

/* Each way a reload widens access is a warning of its own; what it
 * widens then holds. */
static void
test_reload_widening_logged(void **state)
{
	struct tstate *st = *state;
	struct agent *a, *other;
	struct agent_rep r;
	char msg[512];

	NEED_ROOT();
	st->journal = true;
	a = start_agent(st, conf_strict, 2001, 1);
	other = agent_start(st, 2700, 2700);
	reload(st, conf_wider, 0, msg, sizeof(msg));
	logged_once(st, WIDENS "connections no tenant matches are now served "
	    "as tenant guests (were refused)");
	logged_once(st, WIDENS "new tenant guests");
	logged_once(st, WIDENS "tenant alpha: max_regions rises from 1 to 3");
	logged_once(st, WIDENS "tenant alpha: new regions are mode 0660");
	assert_int_equal(log_count(st, WIDENS), 4);
	GSS(SHMC_GSS_OK, agent_attach(a, 0, "vm1", 1, true, &r), r);
	GSS(SHMC_GSS_OK, agent_attach(a, 0, "vm2", 1, true, &r), r);
	assert_int_equal(region_info(st, "vm2").mode, 0660);
	agent_vmm(st, other, 0);
	GSS(SHMC_GSS_OK, agent_attach(other, 0, "x", 1, true, &r), r);
	assert_string_equal(region_info(st, "guests/x").tenant, "guests");

	reload(st, conf_open, 0, msg, sizeof(msg));
	logged_once(st, WIDENS "tenancy = open: every connection is now "
	    "served");
	assert_int_equal(log_count(st, WIDENS), 5);
	GSS(SHMC_GSS_OK, agent_attach(a, 0, "notvm", 1, true, &r), r);
	assert_int_equal(region_info(st, "notvm").mode, 0666);
}

/* Rules that can only deny more, and a default tenant behind tenancy =
 * open, narrow access: no warning. Rules that may allow more do warn. */
static void
test_reload_narrowing_is_quiet(void **state)
{
	static const char denies_more[] =
	    "[broker]\nhugepages = never\n"
	    "[tenant alpha]\nuid = 2001\ndeny = vmx*\nallow = vm*\n"
	    "max_regions = 1\nmode = 0600\n";
	static const char allows_more[] =
	    "[broker]\nhugepages = never\n"
	    "[tenant alpha]\nuid = 2001\ndeny = vmx*\nallow = vm*, x*\n"
	    "max_regions = 1\nmode = 0600\n";
	static const char ends_in_deny[] =
	    "[broker]\nhugepages = never\n"
	    "[tenant alpha]\nuid = 2001\ndeny = vmx*\nallow = vm*, x*\n"
	    "deny = y*\nmax_regions = 1\nmode = 0600\n";
	static const char with_default[] =
	    "[broker]\nhugepages = never\ndefault_tenant = g\n"
	    "[tenant g]\nprefix = g/\n";
	struct tstate *st = *state;
	struct agent *a;
	struct agent_rep r;
	char msg[512];

	NEED_ROOT();
	st->journal = true;
	a = start_agent(st, conf_strict, 2001, 1);
	reload(st, denies_more, 0, msg, sizeof(msg));
	assert_int_equal(log_count(st, WIDENS), 0);
	GSS(SHMC_GSS_NO_PERMISSION, agent_attach(a, 0, "vmx1", 1, true, &r),
	    r);
	reload(st, allows_more, 0, msg, sizeof(msg));
	logged_once(st, WIDENS "tenant alpha: name rules were (deny vmx*, "
	    "allow vm*), are (deny vmx*, allow vm*, allow x*)");
	/* A last rule that turns from allow to deny lets every other name
	 * through. */
	reload(st, ends_in_deny, 0, msg, sizeof(msg));
	assert_int_equal(log_count(st, WIDENS), 2);
	GSS(SHMC_GSS_OK, agent_attach(a, 0, "other", 1, true, &r), r);

	reload(st, conf_open, 0, msg, sizeof(msg));
	assert_int_equal(log_count(st, WIDENS), 3);
	reload(st, with_default, 0, msg, sizeof(msg));
	assert_int_equal(log_count(st, WIDENS), 3);
}

/* A tenant removed: its connections fall to whichever tenant matches
 * next, and its prefix no longer keeps anyone out. Both are said. */
static void
test_reload_removed_tenant(void **state)
{
	static const char two[] =
	    "[broker]\nhugepages = never\n"
	    "[tenant acme]\nuid = 2001\nprefix = acme/\nmode = 0666\n"
	    "[tenant byuid]\nuid = 2002\nallow = vm*\n"
	    "[tenant nopfx]\ngid = 3003\nmode = 0666\n";
	static const char without[] =
	    "[broker]\nhugepages = never\n"
	    "[tenant nopfx]\ngid = 3003\nmode = 0666\n";
	struct tstate *st = *state;
	struct agent *acme, *both, *n;
	struct agent_rep r;
	char msg[512];

	NEED_ROOT();
	st->journal = true;
	acme = start_agent(st, two, 2001, 1);
	both = agent_start(st, 2002, 3003);
	n = agent_start(st, 2500, 3003);
	agent_vmm(st, both, 0);
	agent_vmm(st, n, 0);
	GSS(SHMC_GSS_OK, agent_attach(acme, 0, "sensor", 1, true, &r), r);
	GSS(SHMC_GSS_NO_PERMISSION, agent_attach(both, 0, "other", 1, true,
	    &r), r);
	GSS(SHMC_GSS_NO_PERMISSION, agent_attach(n, 0, "acme/sensor", 1,
	    false, &r), r);
	reload(st, without, 0, msg, sizeof(msg));
	logged_once(st, WIDENS "tenant acme is gone: its connections now "
	    "belong to the next tenant that matches them");
	logged_once(st, WIDENS "tenant acme is gone: names under its prefix "
	    "'acme/' now lie outside every prefix");
	logged_once(st, WIDENS "tenant byuid is gone");
	assert_int_equal(log_count(st, WIDENS), 3);
	/* What the warnings say is what happens. */
	GSS(SHMC_GSS_OK, agent_attach(both, 0, "other", 1, true, &r), r);
	GSS(SHMC_GSS_OK, agent_attach(n, 0, "acme/sensor", 1, false, &r), r);
}

/* ---- a daemon that cannot see real peer credentials ---- */

/* The daemon's pid is st->child, for teardown to reap. */
struct unshared {
	char sock[128], admin[128], err[128];
};

/* Whether `unshare --user --map-root-user` runs here; skips if not. */
static void
need_userns(void)
{
	int status = -1, fd;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		if ((fd = open("/dev/null", O_WRONLY)) >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execlp("unshare", "unshare", "--user", "--map-root-user",
		    "true", (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return;
	fprintf(stderr, "skipped: unshare(1) or user namespaces are not "
	    "available (%s)\n", WIFEXITED(status) && WEXITSTATUS(status) ==
	    127 ? "no unshare" : "unshare --user failed");
	skip();
}

/* shmbrokerd on conf as root of a new user namespace that maps only root:
 * the daemon sees the uid_map "0 0 1", as under PrivateUsers=. */
static void
unshared_start(struct tstate *st, struct unshared *u, const char *conf)
{
	const char *argv[] = { "unshare", "--user", "--map-root-user",
	    SHMBROKERD_PATH, "--foreground", "--socket", u->sock,
	    "--admin-socket", u->admin, "--config", st->conf, NULL };
	int fd;

	snprintf(u->sock, sizeof(u->sock), "%s/vmm.sock", st->confdir);
	snprintf(u->admin, sizeof(u->admin), "%s/admin.sock", st->confdir);
	snprintf(u->err, sizeof(u->err), "%s/stderr", st->confdir);
	check_write_file(st->conf, conf);
	st->child = fork();
	assert_true(st->child >= 0);
	if (st->child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fd = open(u->err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600);
		if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
			_exit(126);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
}

/* Its exit status once it exits, or -1 once it listens (by WAIT_MS). */
static int
unshared_wait(struct tstate *st, const struct unshared *u)
{
	int64_t deadline = harness_now_ms() + WAIT_MS;
	int status, fd;

	while (harness_now_ms() < deadline) {
		if (waitpid(st->child, &status, WNOHANG) == st->child) {
			st->child = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) :
			    128 + WTERMSIG(status);
		}
		if ((fd = harness_connect_raw(u->sock)) >= 0) {
			close(fd);
			return -1;
		}
		harness_sleep_ms(10);
	}
	fail_msg("shmbrokerd under unshare neither exited nor listened");
	return -2;
}

/* SIGTERM and its exit status. */
static int
unshared_stop(struct tstate *st)
{
	int status;

	assert_int_equal(kill(st->child, SIGTERM), 0);
	assert_int_equal(waitpid(st->child, &status, 0), st->child);
	st->child = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 +
	    WTERMSIG(status);
}

static void
unshared_stderr(const struct unshared *u, char *out, size_t len)
{
	FILE *f = fopen(u->err, "re");
	size_t n;

	assert_non_null(f);
	n = fread(out, 1, len - 1, f);
	out[n] = '\0';
	fclose(f);
}

/* It must refuse conf: EX_CONFIG and the reason, in one line. */
static void
unshared_refuses(struct tstate *st, const char *conf, const char *what)
{
	struct unshared u;
	char err[2048];
	int rc;

	unshared_start(st, &u, conf);
	rc = unshared_wait(st, &u);
	unshared_stderr(&u, err, sizeof(err));
	if (rc < 0)
		fail_msg("%s: the daemon serves; stderr: %s", what, err);
	if (rc != EX_CONFIG)
		fail_msg("%s: exit status %d, not %d; stderr: %s", what, rc,
		    EX_CONFIG, err);
	if (strstr(err, "uid_map or gid_map is not the identity") == NULL ||
	    strchr(err, '\n') != err + strlen(err) - 1)
		fail_msg("%s: not one line with the reason: %s", what, err);
}

static void
test_userns_credentials(void **state)
{
	struct tstate *st = *state;
	struct unshared u;
	char err[2048];

	NEED_ROOT();
	need_userns();
	unshared_refuses(st, "[broker]\nhugepages = never\n"
	    "[tenant t]\nuid = 2001\n", "a tenant");
	unshared_refuses(st, "[broker]\nhugepages = never\ntenancy = open\n"
	    "admin_group = 4000\n", "admin_group");

	/* Serving everyone needs no peer's identity: it runs. A reload
	 * that brings tenants is refused, and it keeps serving. */
	unshared_start(st, &u, conf_open);
	if (unshared_wait(st, &u) != -1) {
		unshared_stderr(&u, err, sizeof(err));
		fail_msg("tenancy = open did not start: %s", err);
	}
	check_write_file(st->conf, conf_strict);
	assert_int_equal(kill(st->child, SIGHUP), 0);
	for (int i = 0; i < WAIT_MS / 10; i++) {
		unshared_stderr(&u, err, sizeof(err));
		if (strstr(err, "reload failed") != NULL)
			break;
		harness_sleep_ms(10);
	}
	if (strstr(err, "reload failed") == NULL ||
	    strstr(err, "uid_map or gid_map is not the identity") == NULL)
		fail_msg("the reload to tenants was not refused: %s", err);
	assert_int_equal(harness_wait_listening(u.sock, WAIT_MS), 0);
	assert_int_equal(unshared_stop(st), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TENANCY_TEST(test_reload_empty_refused),
		TENANCY_TEST(test_reload_widening_logged),
		TENANCY_TEST(test_reload_narrowing_is_quiet),
		TENANCY_TEST(test_reload_removed_tenant),
		TENANCY_TEST(test_userns_credentials),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
