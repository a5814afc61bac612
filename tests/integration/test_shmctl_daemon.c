/* SPDX-License-Identifier: ISC */
/*
 * test_shmctl_daemon: shmctl and the daemon behind the admin socket: who
 * may use it (a user the daemon refuses is told why, by shmctl and by
 * libshmclient), the watch stream of admin events, and the reload of a
 * configuration file, refused with its line when it does not load.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
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
#include <unistd.h>

#include <cmocka.h>

#include "ctl.h"
#include "shmclient.h"
#include "testcheck.h"

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
	assert_true(jv_int(&f->json, "refused_connections") >= 5);

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
		if (!jv_parse(f->out, &ev))
			fail_msg("watch printed invalid JSON: %s", f->out);
		if (strcmp(jv_str(&ev, "region"), region) == 0) {
			if (strcmp(jv_str(&ev, "kind"), "create") == 0) {
				assert_int_equal(jv_int(&ev, "index"), -1);
				*created = true;
			} else if (strcmp(jv_str(&ev, "kind"), "attach") == 0) {
				assert_int_equal(jv_int(&ev, "index"), 0);
				assert_int_equal(jv_int(&ev, "active_mask"), 1);
				*attached = true;
			}
		}
		jv_free(&ev);
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
		ctl_admin_create(f, name, 1);
		ctl_attach_vmm(f, 0, "watched vm", name, &r);
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

static const char reload_cfg_ok[] =
    "[broker]\ntenancy = open\nlog_level = info\n";
/* Line 4 is neither a [section] nor key = value. */
static const char reload_cfg_bad[] =
    "[broker]\ntenancy = open\nlog_level = info\nthis line is not ini\n";
static const char reload_cfg_region[] =
    "[broker]\ntenancy = open\nlog_level = info\n\n[region cfgregion]\nsize = 8K\n";

/* cfgexport's directory does not exist: the export cannot be made. */
static const char reload_cfg_region_export[] =
    "[broker]\ntenancy = open\nlog_level = info\n\n[region cfgregion]\n"
    "size = 8K\n\n[region cfgexport]\nsize = 8K\n"
    "ivshmem = /nonexistent/dir/x.sock\n";

static int
setup_reload(void **state)
{
	return ctl_setup_config(state, reload_cfg_ok);
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
	assert_int_equal(jv_int(&f->json, "regions"), 0);
	CTL_JSON(f, "list");
	assert_int_equal(f->json.n, 0);

	/* Fixed, with a region: it appears, made by the configuration. */
	check_write_file(f->fx.conf, reload_cfg_region);
	CTL_JSON(f, "reload");
	assert_int_equal(f->json.t, J_OBJ);
	assert_true(jv_bool(&f->json, "reloaded"));
	CTL_JSON(f, "list");
	assert_int_equal(f->json.n, 1);
	g = jv_find(&f->json, "name", "cfgregion");
	assert_non_null(g);
	assert_string_equal(jv_str(g, "origin"), "config");
	assert_int_equal(jv_int(g, "size"), 8192);
	assert_string_equal(jv_str(g, "tenant"), "");

	/* A second reload of the same file makes no second region. */
	assert_int_equal(CTL(f, "reload"), 0);
	CTL_JSON(f, "list");
	assert_int_equal(f->json.n, 1);
	assert_int_equal(CTL(f, "reload", "extra"), EX_USAGE);

	/* A file that loads but names an export that cannot be made is
	 * applied all the same, and says so with its own status. */
	check_write_file(f->fx.conf, reload_cfg_region_export);
	assert_int_equal(CTL_ERR(f, "reload"), EX_CANTCREAT);
	assert_non_null(strstr(f->out, "reloaded, but"));
	CTL_JSON(f, "list");
	assert_int_equal(f->json.n, 2);
}

/* The slow keeper's reload: a daemon that parks past 16 memfds (32
 * regions at start, so that its keeper runs), told to reload a file of
 * SLOW_RELOAD_REGIONS while the keeper is stopped for KEEPER_STOP_MS,
 * longer than shmctl's other calls wait (5 s). The keeper's socket takes
 * parked memfds until its send buffer is full (about 240 of them with
 * Debian's net.core.wmem_default of 208 KiB, one 900-byte message each);
 * the reload waits once 256 more are not parked: SLOW_RELOAD_REGIONS
 * makes it wait up to a wmem_default of about 5 MiB. */
#define SLOW_RELOAD_REGIONS 6000
#define KEEPER_STOP_MS 6500
static const char reload_cfg_keeper[] = "[broker]\ntenancy = open\n"
    "log_level = warning\nlocal_region_fds = 16\nmax_regions = 10000\n";

/* reload_cfg_keeper and n regions of 4 KiB, in buf. */
static const char *
keeper_config(char *buf, size_t len, int n)
{
	size_t used = (size_t)snprintf(buf, len, "%s", reload_cfg_keeper);

	for (int i = 0; i < n && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used,
		    "[region slow-%d]\nsize = 4K\n", i);
	assert_true(used < len);
	return buf;
}

static int
setup_slow_keeper(void **state)
{
	char conf[4096];	/* written to the daemon's file at once */

	return ctl_setup_config(state, keeper_config(conf, sizeof(conf), 32));
}

/*
 * The daemon answers a reload once the file's regions are made, and
 * while its fd keeper does not take the memfds it parks, it waits for the
 * keeper (up to 10 s at a time) rather than run out of descriptors:
 * shmctl waits for that answer and says the reload is done. It used to
 * give up after 5 s (exit 69, "did not answer in 5000 ms"), and the
 * daemon then finished the reload all the same.
 */
static void
test_reload_slow_keeper(void **state)
{
	struct ctl *f = *state;
	size_t len = 64 + (size_t)SLOW_RELOAD_REGIONS * 32;
	char *conf = malloc(len);
	int64_t t0, took;
	pid_t keeper, waker;
	int rc;

	assert_non_null(conf);
	assert_int_equal(harness_wait_children(f->fx.d.pid, HARNESS_KEEPER_ARG,
	    &keeper, 1, 1, 5000), 1);
	check_write_file(f->fx.conf, keeper_config(conf, len,
	    SLOW_RELOAD_REGIONS));
	free(conf);
	assert_int_equal(kill(keeper, SIGSTOP), 0);
	waker = fork();
	assert_true(waker >= 0);
	if (waker == 0) {
		harness_sleep_ms(KEEPER_STOP_MS);
		kill(keeper, SIGCONT);
		_exit(0);
	}
	t0 = harness_now_ms();
	rc = CTL(f, "reload");
	took = harness_now_ms() - t0;
	kill(keeper, SIGCONT);
	waitpid(waker, NULL, 0);
	print_message("reload with the keeper stopped %d ms: shmctl exit %d "
	    "after %lld ms\n", KEEPER_STOP_MS, rc, (long long)took);
	assert_int_equal(rc, 0);
	assert_string_equal(f->out, "configuration reloaded\n");
	/* It did wait for the keeper. */
	if (took < KEEPER_STOP_MS - 1000)
		fail_msg("the reload took %lld ms: it never waited for the "
		    "stopped keeper (does net.core.wmem_default let the "
		    "keeper's socket take %d memfds?)", (long long)took,
		    SLOW_RELOAD_REGIONS);
	CTL_JSON(f, "status");
	assert_int_equal(jv_int(&f->json, "regions"), SLOW_RELOAD_REGIONS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		CTL_TEST(test_refused),
		CTL_TEST(test_watch),
		cmocka_unit_test_setup_teardown(test_reload,
		    setup_reload, ctl_teardown),
		cmocka_unit_test_setup_teardown(test_reload_slow_keeper,
		    setup_slow_keeper, ctl_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
