/* SPDX-License-Identifier: ISC */
/*
 * shmctl: the admin CLI of shmbrokerd. Owns the command line (getopt_long,
 * per-command help) and the table of commands, and runs the one given:
 * regions (shmctl_region.c), the daemon as a whole (shmctl_daemon.c) or its
 * events (shmctl_watch.c). Exit codes follow <sysexits.h> so that scripts
 * can tell a typo from a refusal from a daemon that is not there.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "shmctl.h"

#define STR_(x) #x
#define STR(x) STR_(x)

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
	unsigned takes_export;		/* 1: --ivshmem, 2: and --vectors */
};

static const struct cmd commands[] = {
	{ "status", "", "show the daemon's version, uptime, memory and "
	    "limits", NULL, 0, false, ctl_daemon_status, 0 },
	{ "list", "", "list the regions", "Sizes are what guests see (4 KiB "
	    "pages); ACTIVE is the mask of attached\nclient indices. With "
	    "--json each region also has mode (a number: 438 is\n0666), "
	    "owner_uid and tenant (empty for admin and config regions).", 0,
	    false, ctl_region_list, 0 },
	{ "show", "NAME", "show one region and its clients", "Also shows "
	    "the region's mode (octal: who else may attach), the uid of\n"
	    "its owner and the tenant it is charged to (\"-\": none, for "
	    "admin and\nconfig regions). NAME is the full name, with the "
	    "tenant's prefix.", 1, false, ctl_region_show, 0 },
	{ "create", "NAME SIZE", "create a region that lives until destroyed",
	    "NAME: 1 to 63 printable ASCII characters without spaces (room "
	    "for a\ntenant's prefix before a guest's name of up to 31).\n"
	    "SIZE: bytes with an optional K, M, G or T suffix (powers of "
	    "1024),\nrounded up to 4 KiB pages, e.g. 65536, 64K, 2M.", 2,
	    false, ctl_region_create, 0 },
	{ "destroy", "NAME [--force]", "destroy a region", "Without --force "
	    "a region with attached clients is left alone; with\n--force "
	    "its clients are detached (their VMMs are told) first.", 1, true,
	    ctl_region_destroy, 0 },
	{ "detach", "CLIENT", "detach one client from its region", "CLIENT: "
	    "a client id as shmctl clients lists it, or REGION:INDEX (the\n"
	    "region's full name and the client's index). The client's VMM is "
	    "told\nand unmaps the region, its guest sees its control page "
	    "detached, and\nthe region's other clients see it leave; a guest's "
	    "region left without\nclients goes. The daemon logs who asked.", 1,
	    false, ctl_region_detach, 0 },
	{ "export", "NAME --ivshmem PATH [--vectors N]", "serve a region to "
	    "QEMU's ivshmem-doorbell device", "Listens on the UNIX socket "
	    "PATH with QEMU's ivshmem server protocol: a QEMU\nstarted with "
	    "-chardev socket,path=PATH,id=X -device ivshmem-doorbell,\n"
	    "chardev=X,vectors=N joins region NAME as a client, decided by "
	    "its own uid\nand gid like any VMM. N: 1 to 16 (default 1), the "
	    "QEMU's vectors. The\nregion's size must be a power of two.", 1,
	    false, ctl_export_run, 2 },
	{ "unexport", "NAME [--ivshmem PATH]", "stop serving a region to QEMU",
	    "Closes the region's ivshmem socket PATH, or all of them; "
	    "connected QEMUs\nare told every peer left and are "
	    "disconnected (they keep the memory they\nhave mapped).", 1,
	    false, ctl_unexport_run, 1 },
	{ "clients", "", "list every attached client", "ACCESS: rw, or ro for "
	    "a client that may read the region but not write it\n(its mode "
	    "bits, or an allow_ro rule of its tenant): its VMM got the\nmemfd "
	    "read-only. With --json, \"access\" holds the same.", 0, false,
	    ctl_daemon_clients, 0 },
	{ "stats", "", "show the daemon's counters since it started", NULL,
	    0, false, ctl_daemon_stats, 0 },
	{ "tenants", "", "show the tenants, their usage and their quotas",
	    "MATCH: the uid= and gid= a connection must have, \"default\" "
	    "for the tenant\nof connections no other matches. Usage is shown "
	    "as used/max, \"-\" when\nthere is no limit; with --json max_* "
	    "are numbers, 0 meaning no limit.", 0, false, ctl_daemon_tenants, 0 },
	{ "reload", "", "read the daemon's configuration file again",
	    "Like SIGHUP, with an answer: a file that does not load is "
	    "reported\n(file:line: reason) with status " STR(EX_DATAERR)
	    ", and the running configuration stays.\nRegions the new file "
	    "names are created; none are destroyed. A file that loaded\n"
	    "but names a region or export that cannot be made gives status "
	    STR(EX_CANTCREAT) ":\nthe rest of it is applied.", 0, false,
	    ctl_daemon_reload, 0 },
	{ "metrics", "", "print metrics in the Prometheus text format",
	    "Exposition format 0.0.4: gauges of regions, clients, connections, "
	    "memory\nand per-tenant usage, and counters since the daemon "
	    "started, all named\nshmbroker_*. Made from status, stats and "
	    "tenants; for JSON use those\ncommands with --json (metrics "
	    "--json is a usage error).", 0, false, ctl_daemon_metrics, 0 },
	{ "watch", "", "print admin events until interrupted", "Events: "
	    "create, attach, detach, notify, destroy, revoke (an admin's\n"
	    "detach of one client, before its detach). With --json, one JSON\n"
	    "object per line. SIGINT or SIGTERM ends it with status 0.", 0,
	    false, ctl_watch_run, 0 },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct cmd *
ctl_find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void
ctl_usage_tool(const struct ctl *ctl, FILE *f)
{
	char def[256];

	fprintf(f, "usage: shmctl [--admin-socket PATH] [--json] COMMAND "
	    "[ARGS]\n\nAdministers shmbrokerd through its admin socket.\n\n"
	    "commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++) {
		char left[96];

		snprintf(left, sizeof(left), "%s %s", commands[i].name,
		    commands[i].args);
		/* One line each (tests/man reads the first word of each):
		 * a long usage is followed by two blanks, not cut. */
		fprintf(f, "  %-24s%s%s\n", left, strlen(left) < 24 ? "" :
		    "  ", commands[i].summary);
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
ctl_usage_command(const struct cmd *cmd, FILE *f)
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
	{ "ivshmem", required_argument, NULL, 'i' },
	{ "vectors", required_argument, NULL, 'v' },
	{ NULL, 0, NULL, 0 },
};

enum parse_result { PARSE_OK, PARSE_HELP, PARSE_ERROR };

/* One option as getopt_long returned it, with its argument arg. cmd is
 * NULL for the options before the command. */
static enum parse_result
ctl_parse_option(struct ctl *ctl, const struct cmd *cmd, int ch,
    const char *arg, char **argv)
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
	case 'i':
	case 'v':
		if (cmd == NULL || cmd->takes_export < (ch == 'i' ? 1u : 2u)) {
			ctl_warn("--%s belongs after '%s NAME'", ch == 'i' ?
			    "ivshmem" : "vectors", ch == 'i' ?
			    "export' or 'unexport" : "export");
			return PARSE_ERROR;
		}
		*(ch == 'i' ? &ctl->ivshmem : &ctl->vectors) = arg;
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
ctl_parse_tool_options(struct ctl *ctl, int argc, char **argv)
{
	enum parse_result r = PARSE_OK;
	int ch;

	optind = 0;	/* GNU: start over on a new vector */
	opterr = 0;
	while (r == PARSE_OK && (ch = getopt_long(argc, argv, "+:s:jfh",
	    long_options, NULL)) != -1)
		r = ctl_parse_option(ctl, NULL, ch, optarg, argv);
	return r;
}

/* Would getopt take arg for options? No option is a digit: "-1" is not. */
static bool
ctl_parse_is_negative(const char *arg)
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
ctl_parse_command_args(struct ctl *ctl, const struct cmd *cmd, int argc,
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
		v[i] = ctl_parse_is_negative(argv[i]) ? argv[i] + 1 : argv[i];
	v[argc] = NULL;
	optind = 0;
	opterr = 0;
	while (r == PARSE_OK && (ch = getopt_long(argc, v, "-:s:jfhi:v:",
	    long_options, NULL)) != -1) {
		/* An operand or an option's argument of its own: argv's. */
		char *arg = optarg != NULL && optarg == v[optind - 1] ?
		    argv[optind - 1] : optarg;

		if (ch == 1)
			ops->v[ops->n++] = arg;
		else
			r = ctl_parse_option(ctl, cmd, ch, arg, argv);
	}
	while (r == PARSE_OK && optind < argc)	/* after "--" */
		ops->v[ops->n++] = argv[optind++];
	return r;
}

/* `shmctl help [COMMAND]`. */
static int
ctl_run_help(const struct ctl *ctl, int argc, char **argv)
{
	const struct cmd *cmd;

	if (argc <= 1) {
		ctl_usage_tool(ctl, stdout);
		return EX_OK;
	}
	if (argc > 2) {
		ctl_warn("help takes at most one command");
		return EX_USAGE;
	}
	if ((cmd = ctl_find_command(argv[1])) == NULL) {
		ctl_warn("unknown command '%s'; see shmctl --help", argv[1]);
		return EX_USAGE;
	}
	ctl_usage_command(cmd, stdout);
	return EX_OK;
}

static int
ctl_run_command(struct ctl *ctl, int argc, char **argv)
{
	const struct cmd *cmd;
	struct operands ops;

	if (strcmp(argv[0], "help") == 0)
		return ctl_run_help(ctl, argc, argv);
	if ((cmd = ctl_find_command(argv[0])) == NULL) {
		ctl_warn("unknown command '%.40s'; see shmctl --help",
		    argv[0]);
		return EX_USAGE;
	}
	switch (ctl_parse_command_args(ctl, cmd, argc, argv, &ops)) {
	case PARSE_HELP:
		ctl_usage_command(cmd, stdout);
		return EX_OK;
	case PARSE_ERROR:
		ctl_usage_command(cmd, stderr);
		return EX_USAGE;
	case PARSE_OK:
		break;
	}
	if (ops.n != cmd->nargs) {
		ctl_warn("%s: %s", cmd->name, ops.n < cmd->nargs ?
		    "missing arguments" : "too many arguments");
		ctl_usage_command(cmd, stderr);
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

	switch (ctl_parse_tool_options(&ctl, argc, argv)) {
	case PARSE_HELP:
		ctl_usage_tool(&ctl, stdout);
		return EX_OK;
	case PARSE_ERROR:
		fprintf(stderr, "see shmctl --help\n");
		return EX_USAGE;
	case PARSE_OK:
		break;
	}
	if (optind >= argc) {
		ctl_warn("no command given");
		ctl_usage_tool(&ctl, stderr);
		return EX_USAGE;
	}
	ex = ctl_run_command(&ctl, argc - optind, argv + optind);
	shmc_close(ctl.c);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ctl_warn("writing output: %s", strerror(errno));
		if (ex == EX_OK)
			ex = EX_IOERR;
	}
	return ex;
}
