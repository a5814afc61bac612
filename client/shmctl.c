/*
 * shmctl: the admin CLI of shmbrokerd. Owns the command line (getopt_long,
 * per-command help), the local checks of names and sizes, and the commands:
 * each connects to the admin socket, makes its calls through libshmclient's
 * raw admin API and hands the replies to a printer (shmctl_print.c,
 * shmctl_metrics.c; the look of it all is shmctl_output.c). Exit codes
 * follow <sysexits.h> so that scripts can tell a typo from a refusal from a
 * daemon that is not there.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sysexits.h>
#include <unistd.h>

#include "shmclient.h"
#include "shmclient_admin.h"
#include "shmctl_metrics.h"
#include "shmctl_output.h"
#include "shmctl_print.h"
#include "units.h"
#include "wire.h"

/* Admin names: a tenant's prefix and a guest's name of up to 31, as the
 * daemon's registry_check_key allows. */
#define CTL_NAME_MAX 63			/* characters, without the NUL */

#define STR_(x) #x
#define STR(x) STR_(x)

struct ctl {
	char socket[256];
	bool have_socket;		/* --admin-socket was given */
	bool json;
	bool force;
	struct shmc *c;
};

/* A command's arguments, options included: none needs more than a few. */
#define CTL_MAX_ARGS 32

/* A command's operands, in the order given. */
struct operands {
	char *v[CTL_MAX_ARGS];
	int n;
};

struct cmd {
	const char *name;
	const char *args;		/* operands, for usage lines */
	const char *summary;
	const char *details;
	int nargs;			/* exact number of operands */
	bool takes_force;
	int (*run)(struct ctl *, char **);
};

/* ---- talking to the daemon ---- */

static int
ctl_connect(struct ctl *ctl)
{
	char err[256];
	int rc;

	rc = shmc_connect(ctl->socket, "shmctl", 0, &ctl->c, err, sizeof(err));
	if (rc == 0)
		return EX_OK;
	if (rc == -EPROTO) {
		ctl_warn("%s: %s", ctl->socket, err);
		return EX_SOFTWARE;
	}
	/* The daemon is there and said no: its reason names who may. */
	if (rc == -EPERM) {
		ctl_warn("shmbrokerd at %s refused this connection: %s",
		    ctl->socket, err[0] != '\0' ? err : "no reason given");
		return EX_NOPERM;
	}
	ctl_warn("cannot reach shmbrokerd at %s: %s", ctl->socket,
	    strerror(-rc));
	/* The socket file's mode (or a directory's) keeps this user out,
	 * and the daemon may well run. Still 69: "could not connect", as
	 * scripts (tests/systemd/pid1.sh) take it. */
	if (rc == -EACCES)
		ctl_warn("this user may not open it: the admin socket is for "
		    "root, shmbrokerd's user and admin_group (the socket's "
		    "group: SocketGroup=, SocketMode=0660)");
	else
		ctl_warn("check that shmbrokerd runs and that this is its "
		    "admin socket (--admin-socket PATH or "
		    "$SHMBROKER_ADMIN_SOCKET)");
	return EX_UNAVAILABLE;
}

static int
ctl_exit_for_error(Shmbroker__Error e)
{
	switch (e) {
	case SHMBROKER__ERROR__ERR_EXISTS:
	case SHMBROKER__ERROR__ERR_INVALID:
	case SHMBROKER__ERROR__ERR_NOT_FOUND:
	case SHMBROKER__ERROR__ERR_BUSY:
	case SHMBROKER__ERROR__ERR_NO_RESOURCES:
		return EX_DATAERR;
	case SHMBROKER__ERROR__ERR_NOT_PERMITTED:
		return EX_NOPERM;
	default:
		return EX_SOFTWARE;
	}
}

/* The exit status for a libshmclient call that failed with rc. */
static int
ctl_exit_for_rc(int rc)
{
	switch (rc) {
	case -EPERM:		/* the daemon refused the connection */
		return EX_NOPERM;
	case -EPROTO:
	case -EMSGSIZE:
		return EX_SOFTWARE;
	default:
		return EX_UNAVAILABLE;
	}
}

/*
 * The outcome of an admin call that returned rc with reply m: the reply
 * must carry body want. Returns EX_OK with *out set (the caller frees it),
 * or an exit code after saying why.
 */
static int
ctl_reply(struct ctl *ctl, int rc, Shmbroker__ServerMessage *m,
    Shmbroker__ServerMessage__BodyCase want, Shmbroker__ServerMessage **out)
{
	int ex;

	*out = NULL;
	if (rc < 0) {
		ctl_warn("%s", shmc_error(ctl->c));
		return ctl_exit_for_rc(rc);
	}
	if (m->error != SHMBROKER__ERROR__ERR_NONE) {
		ex = ctl_exit_for_error(m->error);
		ctl_warn("%s", m->message[0] != '\0' ? m->message :
		    wire_error_name(m->error));
		if (m->error == SHMBROKER__ERROR__ERR_NOT_PERMITTED)
			ctl_warn("is %s the admin socket?", ctl->socket);
		shmbroker__server_message__free_unpacked(m, NULL);
		return ex;
	}
	if (m->body_case != want) {
		ctl_warn("unexpected reply from shmbrokerd (body %d, wanted "
		    "%d)", (int)m->body_case, (int)want);
		shmbroker__server_message__free_unpacked(m, NULL);
		return EX_SOFTWARE;
	}
	*out = m;
	return EX_OK;
}

/* One admin request whose reply must carry body want, as ctl_reply. */
static int
ctl_call(struct ctl *ctl, Shmbroker__ClientMessage *req,
    Shmbroker__ServerMessage__BodyCase want, Shmbroker__ServerMessage **out)
{
	Shmbroker__ServerMessage *m = NULL;
	int rc = shmc_call(ctl->c, req, &m);

	return ctl_reply(ctl, rc, m, want, out);
}

/* ---- local checks ---- */

static int
check_name(const char *name)
{
	size_t len = strlen(name);

	if (len == 0) {
		ctl_warn("a region name cannot be empty");
		return EX_USAGE;
	}
	if (len > CTL_NAME_MAX) {
		ctl_warn("region name '%.*s...' is too long: %zu characters, "
		    "at most %d", 16, name, len, CTL_NAME_MAX);
		return EX_USAGE;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];

		if (ch < 0x21 || ch > 0x7e) {
			ctl_warn("region name has an invalid character (0x%02x) "
			    "at position %zu: use printable ASCII without "
			    "spaces", ch, i + 1);
			return EX_USAGE;
		}
	}
	return EX_OK;
}

/* create's SIZE operand, in pages. */
static int
check_size(const char *s, uint32_t *pages)
{
	uint64_t bytes;
	int64_t p;

	if (units_parse_size(s, &bytes) < 0) {
		ctl_warn("create: SIZE '%.40s' is not a size (a number of "
		    "bytes with an optional K, M, G or T suffix, e.g. 65536 "
		    "or 64M)", s);
		return EX_USAGE;
	}
	if (bytes == 0) {
		ctl_warn("create: SIZE '%.40s' is too small: a region needs "
		    "at least one byte", s);
		return EX_USAGE;
	}
	if ((p = units_bytes_to_pages(bytes)) < 0) {
		ctl_warn("create: SIZE '%.40s' is too large: at most %u "
		    "pages of 4 KiB", s, UINT32_MAX);
		return EX_USAGE;
	}
	*pages = (uint32_t)p;
	return EX_OK;
}

/* ---- commands ---- */

/* An admin request that has no fields, and the reply body it wants. */
static int
ctl_call_empty(struct ctl *ctl, Shmbroker__ClientMessage__BodyCase bc,
    Shmbroker__ServerMessage__BodyCase want, Shmbroker__ServerMessage **out)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminStatus status = SHMBROKER__ADMIN_STATUS__INIT;
	Shmbroker__AdminStats stats = SHMBROKER__ADMIN_STATS__INIT;
	Shmbroker__AdminTenants tenants = SHMBROKER__ADMIN_TENANTS__INIT;
	Shmbroker__AdminReload reload = SHMBROKER__ADMIN_RELOAD__INIT;
	Shmbroker__AdminWatch watch = SHMBROKER__ADMIN_WATCH__INIT;

	*out = NULL;
	req.body_case = bc;
	switch (bc) {
	case SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_STATUS:
		req.admin_status = &status;
		break;
	case SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_STATS:
		req.admin_stats = &stats;
		break;
	case SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_TENANTS:
		req.admin_tenants = &tenants;
		break;
	case SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_RELOAD:
		req.admin_reload = &reload;
		break;
	case SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_WATCH:
		req.admin_watch = &watch;
		break;
	default:
		ctl_warn("internal error: request %d has fields", (int)bc);
		return EX_SOFTWARE;
	}
	return ctl_call(ctl, &req, want, out);
}

static int
cmd_status(struct ctl *ctl, char **argv)
{
	Shmbroker__ServerMessage *m;
	int ex;

	(void)argv;
	if ((ex = ctl_connect(ctl)) != EX_OK ||
	    (ex = ctl_call_empty(ctl,
	    SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_STATUS,
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_STATUS, &m)) != EX_OK)
		return ex;
	print_status(m->admin_status, ctl->socket, ctl->json);
	shmbroker__server_message__free_unpacked(m, NULL);
	return EX_OK;
}

typedef int (*page_fn)(struct ctl *, struct table *, struct jw *,
    uint64_t *, bool *);

/*
 * Runs a paged listing to its end into t (people) or a JSON array held in
 * memory (scripts), and prints it only when every page arrived. page gets
 * a NULL writer for people. Frees t.
 */
static int
run_paged(struct ctl *ctl, struct table *t, page_fn page, const char *empty)
{
	struct jw w = { .f = NULL };
	char *buf = NULL;
	size_t len = 0;
	uint64_t after = 0;
	bool done = false;
	int ex;

	if ((ex = ctl_connect(ctl)) != EX_OK) {
		table_free(t);
		return ex;
	}
	if (ctl->json) {
		if ((w.f = open_memstream(&buf, &len)) == NULL) {
			ctl_warn("open_memstream: %s", strerror(errno));
			table_free(t);
			return EX_OSERR;
		}
		jw_open(&w, NULL, '[');
	}
	while (!done && ex == EX_OK)
		ex = page(ctl, t, ctl->json ? &w : NULL, &after, &done);
	if (ex == EX_OSERR)
		ctl_warn("out of memory");
	if (ctl->json) {
		jw_close(&w, ']');
		fputc('\n', w.f);
		if (fclose(w.f) != 0 && ex == EX_OK) {
			ctl_warn("out of memory");
			ex = EX_OSERR;
		}
		if (ex == EX_OK)
			fwrite(buf, 1, len, stdout);
		free(buf);
	} else if (ex == EX_OK) {
		if (t->nrows == 0)
			puts(empty);
		else
			table_print(t, stdout);
	}
	table_free(t);
	return ex;
}

/* The listing request bc (AdminList or AdminClients) for the page after
 * `after`; its reply, of body want, in *m. */
static int
page_call(struct ctl *ctl, Shmbroker__ClientMessage__BodyCase bc,
    Shmbroker__ServerMessage__BodyCase want, uint64_t after,
    Shmbroker__ServerMessage **m)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminList list = SHMBROKER__ADMIN_LIST__INIT;
	Shmbroker__AdminClients clients = SHMBROKER__ADMIN_CLIENTS__INIT;

	list.after_id = clients.after_id = after;
	req.body_case = bc;
	if (bc == SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_LIST)
		req.admin_list = &list;
	else
		req.admin_clients = &clients;
	return ctl_call(ctl, &req, want, m);
}

/*
 * After a page's rows (ex: how printing them went): moves the cursor on to
 * next, or ends the listing, and frees m. A page must move the cursor on,
 * or the listing would never end.
 */
static int
page_next(const char *what, int ex, uint64_t *after, bool *done,
    uint64_t next, bool last, Shmbroker__ServerMessage *m)
{
	if (ex == EX_OK && !last && next <= *after) {
		ctl_warn("shmbrokerd's %s listing did not advance past id %"
		    PRIu64, what, *after);
		ex = EX_SOFTWARE;
	}
	*after = next;
	*done = last;
	shmbroker__server_message__free_unpacked(m, NULL);
	return ex;
}

/* Fetches one page of regions after *after into t or w. */
static int
list_page(struct ctl *ctl, struct table *t, struct jw *w, uint64_t *after,
    bool *done)
{
	Shmbroker__ServerMessage *m;
	Shmbroker__AdminListReply *r;
	int ex;

	if ((ex = page_call(ctl, SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_LIST,
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_LIST, *after, &m)) != EX_OK)
		return ex;
	r = m->admin_list;
	for (size_t i = 0; i < r->n_regions && ex == EX_OK; i++)
		if (print_region_row(t, w, r->regions[i]) < 0)
			ex = EX_OSERR;
	return page_next("region", ex, after, done, r->next_after_id, r->done,
	    m);
}

static int
cmd_list(struct ctl *ctl, char **argv)
{
	struct table t;

	(void)argv;
	print_list_table(&t);
	return run_paged(ctl, &t, list_page, "no regions");
}

static int
cmd_show(struct ctl *ctl, char **argv)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminShow body = SHMBROKER__ADMIN_SHOW__INIT;
	Shmbroker__ServerMessage *m;
	int ex;

	if ((ex = check_name(argv[0])) != EX_OK ||
	    (ex = ctl_connect(ctl)) != EX_OK)
		return ex;
	body.name = argv[0];
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_SHOW;
	req.admin_show = &body;
	if ((ex = ctl_call(ctl, &req,
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_SHOW, &m)) != EX_OK)
		return ex;
	if (m->admin_show->region == NULL) {
		ctl_warn("shmbrokerd's reply to show lacks the region");
		ex = EX_SOFTWARE;
	} else {
		ex = print_show(m->admin_show, ctl->json);
	}
	shmbroker__server_message__free_unpacked(m, NULL);
	return ex;
}

static int
cmd_create(struct ctl *ctl, char **argv)
{
	Shmbroker__ServerMessage *m = NULL;
	uint32_t pages;
	int ex, rc;

	if ((ex = check_name(argv[0])) != EX_OK ||
	    (ex = check_size(argv[1], &pages)) != EX_OK ||
	    (ex = ctl_connect(ctl)) != EX_OK)
		return ex;
	rc = shmc_admin_create(ctl->c, argv[0], pages, &m);
	if ((ex = ctl_reply(ctl, rc, m,
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_CREATE, &m)) != EX_OK)
		return ex;
	if (m->admin_create->region == NULL) {
		ctl_warn("shmbrokerd's reply to create lacks the region");
		ex = EX_SOFTWARE;
	} else {
		print_created(m->admin_create->region, ctl->json);
	}
	shmbroker__server_message__free_unpacked(m, NULL);
	return ex;
}

static int
cmd_destroy(struct ctl *ctl, char **argv)
{
	Shmbroker__ServerMessage *m = NULL;
	int ex, rc;

	if ((ex = check_name(argv[0])) != EX_OK ||
	    (ex = ctl_connect(ctl)) != EX_OK)
		return ex;
	rc = shmc_admin_destroy(ctl->c, argv[0], ctl->force, &m);
	if ((ex = ctl_reply(ctl, rc, m,
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_DESTROY, &m)) != EX_OK)
		return ex;
	print_destroyed(argv[0], m->admin_destroy->detached, ctl->json);
	shmbroker__server_message__free_unpacked(m, NULL);
	return EX_OK;
}

static int
clients_page(struct ctl *ctl, struct table *t, struct jw *w, uint64_t *after,
    bool *done)
{
	Shmbroker__ServerMessage *m;
	Shmbroker__AdminClientsReply *r;
	int ex;

	if ((ex = page_call(ctl, SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_CLIENTS,
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_CLIENTS, *after, &m)) !=
	    EX_OK)
		return ex;
	r = m->admin_clients;
	for (size_t i = 0; i < r->n_clients && ex == EX_OK; i++)
		if (print_client_row(t, w, r->clients[i]) < 0)
			ex = EX_OSERR;
	return page_next("client", ex, after, done, r->next_after_id, r->done,
	    m);
}

static int
cmd_clients(struct ctl *ctl, char **argv)
{
	struct table t;

	(void)argv;
	print_clients_table(&t);
	return run_paged(ctl, &t, clients_page, "no clients");
}

static int
cmd_stats(struct ctl *ctl, char **argv)
{
	Shmbroker__ServerMessage *m;
	int ex;

	(void)argv;
	if ((ex = ctl_connect(ctl)) != EX_OK ||
	    (ex = ctl_call_empty(ctl,
	    SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_STATS,
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_STATS, &m)) != EX_OK)
		return ex;
	print_stats(m->admin_stats, ctl->json);
	shmbroker__server_message__free_unpacked(m, NULL);
	return EX_OK;
}

static int
cmd_tenants(struct ctl *ctl, char **argv)
{
	Shmbroker__ServerMessage *m;
	int ex;

	(void)argv;
	if ((ex = ctl_connect(ctl)) != EX_OK ||
	    (ex = ctl_call_empty(ctl,
	    SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_TENANTS,
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_TENANTS, &m)) != EX_OK)
		return ex;
	ex = print_tenants(m->admin_tenants, ctl->json);
	shmbroker__server_message__free_unpacked(m, NULL);
	return ex;
}

static int
cmd_reload(struct ctl *ctl, char **argv)
{
	Shmbroker__ServerMessage *m;
	int ex;

	(void)argv;
	if ((ex = ctl_connect(ctl)) != EX_OK ||
	    (ex = ctl_call_empty(ctl,
	    SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_RELOAD,
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_RELOAD, &m)) != EX_OK)
		return ex;
	print_reloaded(ctl->json);
	shmbroker__server_message__free_unpacked(m, NULL);
	return EX_OK;
}

static int
cmd_metrics(struct ctl *ctl, char **argv)
{
	Shmbroker__ServerMessage *st = NULL, *stats = NULL, *ten = NULL;
	int ex;

	(void)argv;
	if (ctl->json) {
		ctl_warn("metrics has no JSON form: for JSON use status, "
		    "stats and tenants with --json");
		return EX_USAGE;
	}
	if ((ex = ctl_connect(ctl)) == EX_OK &&
	    (ex = ctl_call_empty(ctl,
	    SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_STATUS,
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_STATUS, &st)) == EX_OK &&
	    (ex = ctl_call_empty(ctl,
	    SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_STATS,
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_STATS, &stats)) == EX_OK &&
	    (ex = ctl_call_empty(ctl,
	    SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_TENANTS,
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_TENANTS, &ten)) == EX_OK)
		print_metrics(stdout, st->admin_status, stats->admin_stats,
		    ten->admin_tenants);
	if (st != NULL)
		shmbroker__server_message__free_unpacked(st, NULL);
	if (stats != NULL)
		shmbroker__server_message__free_unpacked(stats, NULL);
	if (ten != NULL)
		shmbroker__server_message__free_unpacked(ten, NULL);
	return ex;
}

static void
watch_print(const struct shmc_event *ev, void *arg)
{
	const struct ctl *ctl = arg;

	if (ev->kind != SHMC_EVENT_ADMIN)
		return;
	print_event(ev, ctl->json);
	fflush(stdout);
}

/* Follows events until SIGINT or SIGTERM, which end it with success. */
static int
watch_loop(struct ctl *ctl, int sfd)
{
	struct pollfd p[2] = {
		{ .fd = sfd, .events = POLLIN },
		{ .fd = shmc_event_fd(ctl->c), .events = POLLIN },
	};
	int n;

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			ctl_warn("poll: %s", strerror(errno));
			return EX_OSERR;
		}
		if (p[0].revents != 0)
			return EX_OK;
		if (p[1].revents != 0 &&
		    (n = shmc_dispatch(ctl->c, watch_print, ctl)) < 0) {
			ctl_warn("%s", shmc_error(ctl->c));
			return ctl_exit_for_rc(n);
		}
	}
}

static int
cmd_watch(struct ctl *ctl, char **argv)
{
	Shmbroker__ServerMessage *m;
	sigset_t set;
	int sfd, ex;

	(void)argv;
	/* Blocked from the start: a signal before the loop is not lost. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 ||
	    (sfd = signalfd(-1, &set, SFD_CLOEXEC)) < 0) {
		ctl_warn("signalfd: %s", strerror(errno));
		return EX_OSERR;
	}
	if ((ex = ctl_connect(ctl)) == EX_OK && (ex = ctl_call_empty(ctl,
	    SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_WATCH,
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_WATCH, &m)) == EX_OK) {
		shmbroker__server_message__free_unpacked(m, NULL);
		ex = watch_loop(ctl, sfd);
	}
	close(sfd);
	return ex;
}

/* ---- command line ---- */

static const struct cmd commands[] = {
	{ "status", "", "show the daemon's version, uptime, memory and "
	    "limits", NULL, 0, false, cmd_status },
	{ "list", "", "list the regions", "Sizes are what guests see (4 KiB "
	    "pages); ACTIVE is the mask of attached\nclient indices. With "
	    "--json each region also has mode (a number: 438 is\n0666), "
	    "owner_uid and tenant (empty for admin and config regions).", 0,
	    false, cmd_list },
	{ "show", "NAME", "show one region and its clients", "Also shows "
	    "the region's mode (octal: who else may attach), the uid of\n"
	    "its owner and the tenant it is charged to (\"-\": none, for "
	    "admin and\nconfig regions). NAME is the full name, with the "
	    "tenant's prefix.", 1, false, cmd_show },
	{ "create", "NAME SIZE", "create a region that lives until destroyed",
	    "NAME: 1 to 63 printable ASCII characters without spaces (room "
	    "for a\ntenant's prefix before a guest's name of up to 31).\n"
	    "SIZE: bytes with an optional K, M, G or T suffix (powers of "
	    "1024),\nrounded up to 4 KiB pages, e.g. 65536, 64K, 2M.", 2,
	    false, cmd_create },
	{ "destroy", "NAME [--force]", "destroy a region", "Without --force "
	    "a region with attached clients is left alone; with\n--force "
	    "its clients are detached (their VMMs are told) first.", 1, true,
	    cmd_destroy },
	{ "clients", "", "list every attached client", NULL, 0, false,
	    cmd_clients },
	{ "stats", "", "show the daemon's counters since it started", NULL,
	    0, false, cmd_stats },
	{ "tenants", "", "show the tenants, their usage and their quotas",
	    "MATCH: the uid= and gid= a connection must have, \"default\" "
	    "for the tenant\nof connections no other matches. Usage is shown "
	    "as used/max, \"-\" when\nthere is no limit; with --json max_* "
	    "are numbers, 0 meaning no limit.", 0, false, cmd_tenants },
	{ "reload", "", "read the daemon's configuration file again",
	    "Like SIGHUP, with an answer: a file that does not load is "
	    "reported\n(file:line: reason) with status " STR(EX_DATAERR)
	    ", and the running configuration stays.\nRegions the new file "
	    "names are created; none are destroyed.", 0, false, cmd_reload },
	{ "metrics", "", "print metrics in the Prometheus text format",
	    "Exposition format 0.0.4: gauges of regions, clients, connections, "
	    "memory\nand per-tenant usage, and counters since the daemon "
	    "started, all named\nshmbroker_*. Made from status, stats and "
	    "tenants; for JSON use those\ncommands with --json (metrics "
	    "--json is a usage error).", 0, false, cmd_metrics },
	{ "watch", "", "print admin events until interrupted", "Events: "
	    "create, attach, detach, notify, destroy. With --json, one JSON\n"
	    "object per line. SIGINT or SIGTERM ends it with status 0.", 0,
	    false, cmd_watch },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct cmd *
find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void
usage_tool(const struct ctl *ctl, FILE *f)
{
	char def[256];

	fprintf(f, "usage: shmctl [--admin-socket PATH] [--json] COMMAND "
	    "[ARGS]\n\nAdministers shmbrokerd through its admin socket.\n\n"
	    "commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++) {
		char left[40];

		snprintf(left, sizeof(left), "%s %s", commands[i].name,
		    commands[i].args);
		fprintf(f, "  %-24s%s\n", left, commands[i].summary);
	}
	fprintf(f, "  %-24s%s\n", "help [COMMAND]", "show this text or a "
	    "command's");
	fprintf(f, "\noptions:\n"
	    "  -s, --admin-socket PATH  the daemon's admin socket (now: %s)\n"
	    "  -j, --json               JSON output for scripts\n"
	    "  -h, --help               show help\n"
	    "Options may also follow the command and its operands; \"--\" "
	    "ends them,\nfor a NAME that starts with '-'.\n"
	    "\nExit status: 0 ok, %d bad command line, %d request refused by "
	    "the daemon,\n%d not permitted (the daemon says why), %d daemon "
	    "unreachable,\n%d protocol error.\n",
	    ctl->have_socket ? ctl->socket :
	    shmc_default_socket(true, def, sizeof(def)), EX_USAGE, EX_DATAERR,
	    EX_NOPERM, EX_UNAVAILABLE, EX_SOFTWARE);
}

static void
usage_command(const struct cmd *cmd, FILE *f)
{
	fprintf(f, "usage: shmctl [--admin-socket PATH] [--json] %s%s%s\n\n",
	    cmd->name, cmd->args[0] != '\0' ? " " : "", cmd->args);
	fprintf(f, "%c%s.\n", toupper((unsigned char)cmd->summary[0]),
	    cmd->summary + 1);
	if (cmd->details != NULL)
		fprintf(f, "\n%s\n", cmd->details);
}

static const struct option long_options[] = {
	{ "admin-socket", required_argument, NULL, 's' },
	{ "json", no_argument, NULL, 'j' },
	{ "force", no_argument, NULL, 'f' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

enum parse_result { PARSE_OK, PARSE_HELP, PARSE_ERROR };

/* One option as getopt_long returned it, with its argument arg. cmd is
 * NULL for the options before the command. */
static enum parse_result
parse_option(struct ctl *ctl, const struct cmd *cmd, int ch, const char *arg,
    char **argv)
{
	switch (ch) {
	case 's':
		if (strlen(arg) >= sizeof(ctl->socket)) {
			ctl_warn("admin socket path is too long");
			return PARSE_ERROR;
		}
		snprintf(ctl->socket, sizeof(ctl->socket), "%s", arg);
		ctl->have_socket = true;
		return PARSE_OK;
	case 'j':
		ctl->json = true;
		return PARSE_OK;
	case 'f':
		if (cmd == NULL || !cmd->takes_force) {
			ctl_warn("--force belongs after 'destroy NAME'");
			return PARSE_ERROR;
		}
		ctl->force = true;
		return PARSE_OK;
	case 'h':
		return PARSE_HELP;
	case ':':
		ctl_warn("option %s needs an argument", argv[optind - 1]);
		return PARSE_ERROR;
	default:
		if (optopt != 0)
			ctl_warn("unknown option '-%c'", optopt);
		else
			ctl_warn("unknown option '%s'", argv[optind - 1]);
		return PARSE_ERROR;
	}
}

/* The options before the command: parsing stops at the command. */
static enum parse_result
parse_tool_options(struct ctl *ctl, int argc, char **argv)
{
	enum parse_result r = PARSE_OK;
	int ch;

	optind = 0;	/* GNU: start over on a new vector */
	opterr = 0;
	while (r == PARSE_OK && (ch = getopt_long(argc, argv, "+:s:jfh",
	    long_options, NULL)) != -1)
		r = parse_option(ctl, NULL, ch, optarg, argv);
	return r;
}

/* Would getopt take arg for options? No option is a digit: "-1" is not. */
static bool
parse_is_negative(const char *arg)
{
	return arg[0] == '-' && isdigit((unsigned char)arg[1]);
}

/*
 * The arguments of cmd (argv[0] is its name): options may come before,
 * between and after its operands, which go to ops in order. An argument
 * like "-1" is an operand, so that create can say what is wrong with a
 * SIZE of -1 (getopt would call it an unknown option): getopt gets a copy
 * of argv with their dashes off and keeps every argument in its place
 * (RETURN_IN_ORDER), so operands and option arguments are taken from
 * argv, as they were given.
 */
static enum parse_result
parse_command_args(struct ctl *ctl, const struct cmd *cmd, int argc,
    char **argv, struct operands *ops)
{
	char *v[CTL_MAX_ARGS + 1];
	enum parse_result r = PARSE_OK;
	int ch;

	ops->n = 0;
	if (argc > CTL_MAX_ARGS) {
		ctl_warn("%s: too many arguments (%d, at most %d with the "
		    "options)", cmd->name, argc - 1, CTL_MAX_ARGS - 1);
		return PARSE_ERROR;
	}
	for (int i = 0; i < argc; i++)
		v[i] = parse_is_negative(argv[i]) ? argv[i] + 1 : argv[i];
	v[argc] = NULL;
	optind = 0;
	opterr = 0;
	while (r == PARSE_OK && (ch = getopt_long(argc, v, "-:s:jfh",
	    long_options, NULL)) != -1) {
		/* An operand or an option's argument of its own: argv's. */
		char *arg = optarg != NULL && optarg == v[optind - 1] ?
		    argv[optind - 1] : optarg;

		if (ch == 1)
			ops->v[ops->n++] = arg;
		else
			r = parse_option(ctl, cmd, ch, arg, argv);
	}
	while (r == PARSE_OK && optind < argc)	/* after "--" */
		ops->v[ops->n++] = argv[optind++];
	return r;
}

/* `shmctl help [COMMAND]`. */
static int
run_help(const struct ctl *ctl, int argc, char **argv)
{
	const struct cmd *cmd;

	if (argc <= 1) {
		usage_tool(ctl, stdout);
		return EX_OK;
	}
	if (argc > 2) {
		ctl_warn("help takes at most one command");
		return EX_USAGE;
	}
	if ((cmd = find_command(argv[1])) == NULL) {
		ctl_warn("unknown command '%s'; see shmctl --help", argv[1]);
		return EX_USAGE;
	}
	usage_command(cmd, stdout);
	return EX_OK;
}

static int
run_command(struct ctl *ctl, int argc, char **argv)
{
	const struct cmd *cmd;
	struct operands ops;

	if (strcmp(argv[0], "help") == 0)
		return run_help(ctl, argc, argv);
	if ((cmd = find_command(argv[0])) == NULL) {
		ctl_warn("unknown command '%.40s'; see shmctl --help",
		    argv[0]);
		return EX_USAGE;
	}
	switch (parse_command_args(ctl, cmd, argc, argv, &ops)) {
	case PARSE_HELP:
		usage_command(cmd, stdout);
		return EX_OK;
	case PARSE_ERROR:
		usage_command(cmd, stderr);
		return EX_USAGE;
	case PARSE_OK:
		break;
	}
	if (ops.n != cmd->nargs) {
		ctl_warn("%s: %s", cmd->name, ops.n < cmd->nargs ?
		    "missing arguments" : "too many arguments");
		usage_command(cmd, stderr);
		return EX_USAGE;
	}
	if (!ctl->have_socket)
		shmc_default_socket(true, ctl->socket, sizeof(ctl->socket));
	return cmd->run(ctl, ops.v);
}

int
main(int argc, char **argv)
{
	struct ctl ctl = { .c = NULL };
	int ex;

	switch (parse_tool_options(&ctl, argc, argv)) {
	case PARSE_HELP:
		usage_tool(&ctl, stdout);
		return EX_OK;
	case PARSE_ERROR:
		fprintf(stderr, "see shmctl --help\n");
		return EX_USAGE;
	case PARSE_OK:
		break;
	}
	if (optind >= argc) {
		ctl_warn("no command given");
		usage_tool(&ctl, stderr);
		return EX_USAGE;
	}
	ex = run_command(&ctl, argc - optind, argv + optind);
	shmc_close(ctl.c);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ctl_warn("writing output: %s", strerror(errno));
		if (ex == EX_OK)
			ex = EX_IOERR;
	}
	return ex;
}
