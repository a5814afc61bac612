/* SPDX-License-Identifier: ISC */
/*
 * config: defaults, the configuration file and the command line (see
 * config.h), and the [broker] section. The file's format is inifile's;
 * [region NAME] and [tenant NAME] sections are config_sections.c's.
 *
 *   [broker]
 *   socket = /run/shmbroker/vmm.sock
 *   admin_socket = /run/shmbroker/admin.sock
 *   hugepages = prefer            ; never | prefer | require
 *   max_region_size = 1G
 *   max_regions = 131072
 *   max_clients = 262144
 *   max_connections = 16384
 *   max_clients_per_connection = 1024
 *   max_queued_messages = 4096    ; replies and events waiting for one
 *                                 ; connection; past it, it is dropped
 *   log_level = info              ; error | warning | notice | info | debug
 *   fd_store = no                 ; yes: region memfds also go to systemd's
 *                                 ; fd store and survive a restart
 *   fd_store_max = 266240         ; the unit's FileDescriptorStoreMax=
 *                                 ; (default: $FDSTORE, else the shipped
 *                                 ; unit's); creates that could not be kept
 *                                 ; there are refused
 *   local_region_fds = 5000       ; region memfds held in the daemon itself,
 *                                 ; the rest in keeper processes (fdstash.h);
 *                                 ; default: a quarter of RLIMIT_NOFILE
 *   tenancy = open                ; required in a file without [tenant]:
 *                                 ; every connection is served
 *   default_tenant = NAME         ; for connections no tenant matches
 *   admin_group = GROUP           ; may use the admin socket (primary gid)
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_int.h"
#include "inifile.h"
#include "units.h"

#define DEFAULT_DIR "/run/shmbroker"
/* FileDescriptorStoreMax= of systemd/shmbrokerd.service.in: two entries
 * for each of the default max_regions, 4096 for the rest. */
#define CONFIG_FD_STORE_MAX (2 * 131072 + 4096)

/* What the unit's FileDescriptorStoreMax= is, as far as the daemon can
 * know: systemd 254 and later say it in $FDSTORE; before, the shipped
 * unit's value, which fd_store_max must follow when a drop-in changes it. */
static uint32_t
config_fd_store_max(void)
{
	const char *env = getenv("FDSTORE");
	uint32_t n;

	if (env != NULL && config_parse_u32(env, &n) == 0)
		return n;
	return CONFIG_FD_STORE_MAX;
}

static void
config_defaults(struct broker_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->log_level = LOG_INFO;
	cfg->hugepages = HUGEPAGES_PREFER;
	cfg->max_region_pages = (1u << 30) / REGION_PAGE_SIZE;
	cfg->max_regions = 131072;
	cfg->max_clients = 262144;
	cfg->max_connections = 16384;
	cfg->max_clients_per_connection = 1024;
	cfg->max_queued_messages = 4096;
	cfg->fd_store_max = config_fd_store_max();
}

/* Root uses /run/shmbroker, others $XDG_RUNTIME_DIR/shmbroker. */
static int
config_default_sockets(struct broker_config *cfg)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	char dir[512];

	if (geteuid() == 0 || xdg == NULL || *xdg == '\0')
		snprintf(dir, sizeof(dir), "%s", DEFAULT_DIR);
	else
		snprintf(dir, sizeof(dir), "%s/shmbroker", xdg);
	if (cfg->socket_path == NULL &&
	    asprintf(&cfg->socket_path, "%s/vmm.sock", dir) < 0)
		return -ENOMEM;
	if (cfg->admin_socket_path == NULL &&
	    asprintf(&cfg->admin_socket_path, "%s/admin.sock", dir) < 0)
		return -ENOMEM;
	return 0;
}

static int
config_set_string(char **dst, const char *v)
{
	free(*dst);
	*dst = strdup(v);
	return *dst != NULL ? 0 : -ENOMEM;
}

enum broker_key { BK_SOCKET, BK_ADMIN_SOCKET, BK_HUGEPAGES, BK_LOG_LEVEL,
    BK_MAX_REGION_SIZE, BK_MAX_REGIONS, BK_MAX_CLIENTS, BK_MAX_CONNECTIONS,
    BK_MAX_CLIENTS_PER_CONNECTION, BK_MAX_QUEUED_MESSAGES,
    BK_LOCAL_REGION_FDS, BK_FD_STORE, BK_FD_STORE_MAX, BK_TENANCY,
    BK_DEFAULT_TENANT, BK_ADMIN_GROUP };

static const char *const config_broker_keys[] = { "socket", "admin_socket",
    "hugepages", "log_level", "max_region_size", "max_regions",
    "max_clients", "max_connections", "max_clients_per_connection",
    "max_queued_messages", "local_region_fds", "fd_store", "fd_store_max",
    "tenancy", "default_tenant", "admin_group", NULL };

static int
config_set_limit(struct broker_config *cfg, enum broker_key k, const char *v,
    const char **why)
{
	uint32_t *dst = k == BK_MAX_REGIONS ? &cfg->max_regions :
	    k == BK_MAX_CLIENTS ? &cfg->max_clients :
	    k == BK_MAX_CONNECTIONS ? &cfg->max_connections :
	    k == BK_MAX_CLIENTS_PER_CONNECTION ?
	    &cfg->max_clients_per_connection :
	    k == BK_MAX_QUEUED_MESSAGES ? &cfg->max_queued_messages :
	    k == BK_FD_STORE_MAX ? &cfg->fd_store_max :
	    &cfg->local_region_fds;

	*why = "limits must be whole numbers from 1 to 4294967295";
	return config_parse_u32(v, dst);
}

/* One broker setting, from the file or the command line; -EINVAL (or
 * -ENOMEM) with the reason in *why when it cannot be. */
static int
config_set(struct broker_config *cfg, enum broker_key k, const char *v,
    const char **why)
{
	unsigned gid;
	int n;

	*why = "out of memory";
	switch (k) {
	case BK_SOCKET:
		return config_set_string(&cfg->socket_path, v);
	case BK_ADMIN_SOCKET:
		return config_set_string(&cfg->admin_socket_path, v);
	case BK_HUGEPAGES:
		*why = "hugepages must be never, prefer or require";
		if ((n = memory_parse_policy(v)) < 0)
			return -EINVAL;
		cfg->hugepages = (enum hugepage_policy)n;
		return 0;
	case BK_LOG_LEVEL:
		*why = "log_level must be error, warning, notice, info or debug";
		if ((n = log_parse_level(v)) < 0)
			return -EINVAL;
		cfg->log_level = n;
		return 0;
	case BK_MAX_REGION_SIZE:
		*why = "max_region_size must be a size such as 512M or 4G";
		return config_parse_pages(v, &cfg->max_region_pages);
	case BK_FD_STORE:
		*why = "fd_store must be yes or no";
		if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0)
			return -EINVAL;
		cfg->fd_store = v[0] == 'y';
		return 0;
	case BK_TENANCY:
		*why = "tenancy must be open (every connection is served, with "
		    "no rules or quotas) or tenants (only the [tenant] "
		    "sections)";
		if (strcmp(v, "open") != 0 && strcmp(v, "tenants") != 0)
			return -EINVAL;
		cfg->open_tenancy = v[0] == 'o';
		return 0;
	case BK_DEFAULT_TENANT:
		return config_set_string(&cfg->default_tenant, v);
	case BK_ADMIN_GROUP:
		*why = "admin_group must be a gid or a group name";
		if (config_parse_id(v, true, &gid) < 0)
			return -EINVAL;
		cfg->has_admin_group = true;
		cfg->admin_group = gid;
		return 0;
	default:
		return config_set_limit(cfg, k, v, why);
	}
}

static int
config_broker_key(struct config_parse *p, const char *key, const char *v,
    int line, char *why, size_t whylen)
{
	const char *reason;
	int k;

	if ((k = config_section_key(p, config_broker_keys, "broker", "broker",
	    0, key, why, whylen)) < 0)
		return k;
	if (k == BK_TENANCY)
		p->tenancy_line = line;
	if (config_set(p->cfg, (enum broker_key)k, v, &reason) < 0)
		return config_bad_value(why, whylen, "broker", key, v, reason);
	return 0;
}

static int
config_on_section(void *arg, const char *name, int line, char *why,
    size_t whylen)
{
	struct config_parse *p = arg;

	p->seen = 0;
	if (strcmp(name, "broker") == 0) {
		if (p->broker_line != 0) {
			snprintf(why, whylen, "a second [broker] section (the "
			    "first is at line %d)", p->broker_line);
			return -EINVAL;
		}
		p->broker_line = line;
		p->section = SECTION_BROKER;
		return 0;
	}
	if (strcmp(name, "region") == 0 || strcmp(name, "tenant") == 0) {
		snprintf(why, whylen, "[%s] needs a name: [%s NAME]", name,
		    name);
		return -EINVAL;
	}
	if (strncmp(name, "region ", 7) == 0)
		return config_region_begin(p, name + 7, line, why, whylen);
	if (strncmp(name, "tenant ", 7) == 0)
		return config_tenant_begin(p, name + 7, line, why, whylen);
	snprintf(why, whylen, "unknown section (use [broker], [region NAME] "
	    "or [tenant NAME])");
	return -EINVAL;
}

static int
config_on_key(void *arg, const char *key, const char *v, int line, char *why,
    size_t whylen)
{
	struct config_parse *p = arg;

	switch (p->section) {
	case SECTION_BROKER:
		return config_broker_key(p, key, v, line, why, whylen);
	case SECTION_REGION:
		return config_region_key(p, key, v, line, why, whylen);
	case SECTION_TENANT:
		return config_tenant_key(p, key, v, line, why, whylen);
	default:
		snprintf(why, whylen, "a setting before any section (start "
		    "with [broker])");
		return -EINVAL;
	}
}

static int
config_load_file(struct broker_config *cfg, const char *path, char *err,
    size_t errlen)
{
	struct config_parse p = { .cfg = cfg, .path = path };
	struct inifile_handler h = { config_on_section, config_on_key, &p };
	FILE *f;
	int rc;

	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", path,
		    strerror(errno));
		return -EINVAL;
	}
	rc = inifile_parse(f, path, &h, err, errlen);
	fclose(f);
	if (rc < 0 || config_check_regions(&p, err, errlen) < 0)
		return -EINVAL;
	return config_check_tenants(&p, err, errlen);
}

static const struct option config_options[] = {
	{ "socket", required_argument, NULL, 's' },
	{ "admin-socket", required_argument, NULL, 'a' },
	{ "config", required_argument, NULL, 'c' },
	{ "foreground", no_argument, NULL, 'f' },
	{ "log-level", required_argument, NULL, 'l' },
	{ "hugepages", required_argument, NULL, 'H' },
	{ "check", no_argument, NULL, 'C' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void
config_usage(FILE *f)
{
	fprintf(f,
	    "usage: shmbrokerd [--socket PATH] [--admin-socket PATH] "
	    "[--foreground]\n"
	    "                  [--config FILE] [--log-level LEVEL] "
	    "[--hugepages POLICY]\n"
	    "                  [--check] | --help | --version\n\n"
	    "  --socket PATH        VMM socket (default /run/shmbroker/vmm.sock,\n"
	    "                       $XDG_RUNTIME_DIR/shmbroker/ when not root)\n"
	    "  --admin-socket PATH  admin socket for shmctl (mode 0600)\n"
	    "  --foreground         stay in the foreground (the daemon never "
	    "forks;\n"
	    "                       accepted for compatibility)\n"
	    "  --config FILE        INI configuration file\n"
	    "  --log-level LEVEL    error, warning, notice, info or debug\n"
	    "  --hugepages POLICY   never, prefer or require\n"
	    "  --check              check the file and the options, then exit\n"
	    "                       (0: they load, 78: the file does not, 64:\n"
	    "                       the command line is wrong)\n"
	    "  --help, --version    say this, or the version, and exit\n");
}

/* The options after --config's file: they win over it. The first pass
 * has refused unknown options already. */
static int
config_options_pass(struct broker_config *cfg, int argc, char **argv,
    char *err, size_t errlen)
{
	const char *why;
	int ch;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", config_options, NULL)) != -1) {
		enum broker_key k;
		const char *opt;

		switch (ch) {
		case 's': k = BK_SOCKET; opt = "--socket"; break;
		case 'a': k = BK_ADMIN_SOCKET; opt = "--admin-socket"; break;
		case 'l': k = BK_LOG_LEVEL; opt = "--log-level"; break;
		case 'H': k = BK_HUGEPAGES; opt = "--hugepages"; break;
		case 'f': cfg->foreground = true; continue;
		default: continue;
		}
		if (config_set(cfg, k, optarg, &why) < 0) {
			snprintf(err, errlen, "%s %s: %s", opt, optarg, why);
			return CONFIG_USAGE;
		}
	}
	return CONFIG_LOADED;
}

/*
 * The first pass: the options that end the run before any file is read
 * (--help, --version, a command line that is wrong), and --config's file.
 * Returns CONFIG_LOADED to go on.
 */
static int
config_first_pass(struct broker_config *cfg, int argc, char **argv,
    char *err, size_t errlen)
{
	bool help = false, version = false;
	int ch;

	optind = 1;
	opterr = 1;	/* getopt says what it did not know */
	while ((ch = getopt_long(argc, argv, "", config_options, NULL)) != -1)
		switch (ch) {
		case 'c':
			if (config_set_string(&cfg->config_file, optarg) < 0) {
				snprintf(err, errlen, "out of memory");
				return -ENOMEM;
			}
			break;
		case 'C': cfg->check_only = true; break;
		case 'h': help = true; break;
		case 'V': version = true; break;
		case '?':
			snprintf(err, errlen, "invalid command line (--help "
			    "says what it takes)");
			return CONFIG_USAGE;
		}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s' (--help says "
		    "what it takes)", argv[optind]);
		return CONFIG_USAGE;
	}
	if (help)
		config_usage(stdout);
	else if (version)
		printf("shmbrokerd %s\n", SHMBROKER_VERSION);
	return help || version ? CONFIG_SAID : CONFIG_LOADED;
}

int
config_load(struct broker_config *cfg, int argc, char **argv, char *err,
    size_t errlen)
{
	int rc;

	config_defaults(cfg);
	/* --config first, so that the command line wins over the file. */
	if ((rc = config_first_pass(cfg, argc, argv, err, errlen)) !=
	    CONFIG_LOADED)
		return rc;
	/* Without a file nothing was said about tenants: serve everyone, as
	 * a daemon started by hand for one user does. */
	if (cfg->config_file == NULL)
		cfg->open_tenancy = true;
	else if (config_load_file(cfg, cfg->config_file, err, errlen) < 0)
		return -EINVAL;
	if ((rc = config_options_pass(cfg, argc, argv, err, errlen)) !=
	    CONFIG_LOADED)
		return rc;
	if (config_default_sockets(cfg) < 0 ||
	    config_warn_tenant_limits(cfg) < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return CONFIG_LOADED;
}

void
config_free(struct broker_config *cfg)
{
	free(cfg->socket_path);
	free(cfg->admin_socket_path);
	free(cfg->config_file);
	for (size_t i = 0; i < cfg->nregions; i++)
		free(cfg->regions[i].ivshmem);
	free(cfg->regions);
	free(cfg->tenants);
	free(cfg->default_tenant);
	for (size_t i = 0; i < cfg->nwarnings; i++)
		free(cfg->warnings[i]);
	free(cfg->warnings);
	memset(cfg, 0, sizeof(*cfg));
}
