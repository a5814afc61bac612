/*
 * config: defaults, INI file (libinih) and command line (see config.h).
 *
 *   [broker]
 *   socket = /run/shmbroker/vmm.sock
 *   admin_socket = /run/shmbroker/admin.sock
 *   hugepages = prefer            ; never | prefer | require
 *   max_region_size = 1G
 *   max_regions = 131072
 *   max_clients = 262144
 *   max_connections = 16384
 *   log_level = info              ; error | warning | notice | info | debug
 *   fd_store = no                 ; yes: region memfds also go to systemd's
 *                                 ; fd store and survive a restart
 *   local_region_fds = 5000       ; region memfds held in the daemon itself,
 *                                 ; the rest in keeper processes (fdstash.h);
 *                                 ; default: a quarter of RLIMIT_NOFILE
 *   default_tenant = NAME         ; for connections no tenant matches
 *   admin_group = GROUP           ; may use the admin socket (primary gid)
 *
 *   [region NAME]                 ; created at start, lives until destroyed;
 *   size = 64M                    ; NAME at most 41 characters (libinih)
 *   mode = 0666                   ; who else may attach
 *   group = GROUP
 *   backing = auto                ; hugetlb | shmem | auto
 *
 *   [tenant NAME]                 ; see tenant.h
 *   uid = USER                    ; and/or gid = GROUP
 *   prefix = acme/
 *   allow = pattern, ...          ; deny = pattern, ...
 *   max_regions = N               ; max_clients, max_bytes, max_hugepages
 *   mode = 0600                   ; group = GROUP
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <ini.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "units.h"

#define DEFAULT_DIR "/run/shmbroker"

/* libinih cuts section names at 50 bytes (INI_MAX_SECTION in its ini.c)
 * and lines at INI_MAX_LINE: both must be refused, not truncated. */
#define CONFIG_MAX_SECTION 50

struct ini_state {
	struct broker_config *cfg;
	FILE *f;
	char *line;			/* getline's buffer */
	size_t cap;
	int lineno;			/* of the line inih is parsing */
	int err_line;			/* of the first error, or 0 */
	char why[320];			/* its reason */
};

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
		return -1;
	if (cfg->admin_socket_path == NULL &&
	    asprintf(&cfg->admin_socket_path, "%s/admin.sock", dir) < 0)
		return -1;
	return 0;
}

static int
config_set_string(char **dst, const char *v)
{
	free(*dst);
	*dst = strdup(v);
	return *dst != NULL ? 0 : -1;
}

static int
config_set_u32(uint32_t *dst, const char *v)
{
	char *end;
	unsigned long long n;

	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n == 0 || n > UINT32_MAX)
		return -1;
	*dst = (uint32_t)n;
	return 0;
}

static int
config_parse_id(const char *v, bool group, unsigned *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (*v != '\0' && *end == '\0' && errno == 0 && n < UINT32_MAX) {
		*out = (unsigned)n;
		return 0;
	}
	if (group) {
		struct group *gr = getgrnam(v);

		if (gr != NULL) {
			*out = gr->gr_gid;
			return 0;
		}
	} else {
		struct passwd *pw = getpwnam(v);

		if (pw != NULL) {
			*out = pw->pw_uid;
			return 0;
		}
	}
	return -1;
}

static int
config_parse_mode(const char *v, uint16_t *mode)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 8);
	if (*v == '\0' || *end != '\0' || errno != 0 || n > 0777)
		return -1;
	*mode = (uint16_t)n;
	return 0;
}

static int
config_parse_pages(const char *v, uint32_t *pages)
{
	uint64_t bytes;

	if (units_parse_size(v, &bytes) < 0 || bytes == 0 ||
	    units_bytes_to_pages(bytes) < 0)
		return -1;
	*pages = (uint32_t)units_bytes_to_pages(bytes);
	return 0;
}

/* One broker setting, from the file or the command line; -1 if bad. */
static int
config_set(struct broker_config *cfg, const char *key, const char *v,
    const char **why)
{
	uint64_t bytes;
	int n;

	*why = "unknown setting";
	if (strcmp(key, "socket") == 0)
		return config_set_string(&cfg->socket_path, v);
	if (strcmp(key, "admin_socket") == 0)
		return config_set_string(&cfg->admin_socket_path, v);
	if (strcmp(key, "hugepages") == 0) {
		*why = "hugepages must be never, prefer or require";
		if ((n = memory_parse_policy(v)) < 0)
			return -1;
		cfg->hugepages = (enum hugepage_policy)n;
		return 0;
	}
	if (strcmp(key, "log_level") == 0) {
		*why = "log_level must be error, warning, notice, info or debug";
		if ((n = log_parse_level(v)) < 0)
			return -1;
		cfg->log_level = n;
		return 0;
	}
	if (strcmp(key, "max_region_size") == 0) {
		*why = "max_region_size must be a size such as 512M or 4G";
		if (units_parse_size(v, &bytes) < 0 || bytes == 0 ||
		    units_bytes_to_pages(bytes) < 0)
			return -1;
		cfg->max_region_pages = (uint32_t)units_bytes_to_pages(bytes);
		return 0;
	}
	*why = "limits must be whole numbers from 1 to 4294967295";
	if (strcmp(key, "max_regions") == 0)
		return config_set_u32(&cfg->max_regions, v);
	if (strcmp(key, "max_clients") == 0)
		return config_set_u32(&cfg->max_clients, v);
	if (strcmp(key, "max_connections") == 0)
		return config_set_u32(&cfg->max_connections, v);
	if (strcmp(key, "local_region_fds") == 0)
		return config_set_u32(&cfg->local_region_fds, v);
	if (strcmp(key, "fd_store") == 0) {
		*why = "fd_store must be yes or no";
		if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0)
			return -1;
		cfg->fd_store = v[0] == 'y';
		return 0;
	}
	if (strcmp(key, "default_tenant") == 0)
		return config_set_string(&cfg->default_tenant, v);
	if (strcmp(key, "admin_group") == 0) {
		unsigned gid;

		*why = "admin_group must be a gid or a group name";
		if (config_parse_id(v, true, &gid) < 0)
			return -1;
		cfg->has_admin_group = true;
		cfg->admin_group = gid;
		return 0;
	}
	*why = "unknown setting";
	return -1;
}

/* The [region NAME] entry, made on its first key. */
static struct config_region *
config_region_entry(struct broker_config *cfg, const char *name,
    const char **why)
{
	struct config_region *r;

	for (size_t i = 0; i < cfg->nregions; i++)
		if (strcmp(cfg->regions[i].name, name) == 0)
			return &cfg->regions[i];
	if (registry_check_key(name) != GSS_OK) {
		*why = "region names are 1 to 63 printable ASCII characters";
		return NULL;
	}
	r = realloc(cfg->regions, (cfg->nregions + 1) * sizeof(*r));
	if (r == NULL) {
		*why = "out of memory";
		return NULL;
	}
	cfg->regions = r;
	r = &cfg->regions[cfg->nregions++];
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->mode = 0666;
	r->hugepages = -1;
	return r;
}

static int
config_region_set(struct broker_config *cfg, const char *name,
    const char *key, const char *v, const char **why)
{
	struct config_region *r = config_region_entry(cfg, name, why);
	unsigned gid;

	if (r == NULL)
		return -1;
	*why = "unknown region setting (size, mode, group, backing)";
	if (strcmp(key, "size") == 0) {
		*why = "size must be a size such as 4096, 2M or 1G";
		return config_parse_pages(v, &r->size_pages);
	}
	if (strcmp(key, "mode") == 0) {
		*why = "mode must be octal, at most 0777";
		return config_parse_mode(v, &r->mode);
	}
	if (strcmp(key, "group") == 0) {
		*why = "group must be a gid or a group name";
		if (config_parse_id(v, true, &gid) < 0)
			return -1;
		r->has_group = true;
		r->group = gid;
		return 0;
	}
	if (strcmp(key, "backing") == 0) {
		*why = "backing must be hugetlb, shmem or auto";
		r->hugepages = strcmp(v, "hugetlb") == 0 ? HUGEPAGES_REQUIRE :
		    strcmp(v, "shmem") == 0 ? HUGEPAGES_NEVER :
		    strcmp(v, "auto") == 0 ? -1 : -2;
		return r->hugepages == -2 ? -1 : 0;
	}
	return -1;
}

/* The [tenant NAME] entry, made on its first key. */
static struct tenant *
config_tenant_entry(struct broker_config *cfg, const char *name,
    const char **why)
{
	struct tenant *t;

	for (size_t i = 0; i < cfg->ntenants; i++)
		if (strcmp(cfg->tenants[i].name, name) == 0)
			return &cfg->tenants[i];
	if (*name == '\0' || strlen(name) >= TENANT_NAME_MAX) {
		*why = "tenant names are 1 to 31 characters";
		return NULL;
	}
	t = realloc(cfg->tenants, (cfg->ntenants + 1) * sizeof(*t));
	if (t == NULL) {
		*why = "out of memory";
		return NULL;
	}
	cfg->tenants = t;
	t = &cfg->tenants[cfg->ntenants++];
	/* Only the owner by default: sharing across tenants is opted into. */
	tenant_init(t, name, 0600);
	return t;
}

static int
config_tenant_limit(struct tenant *t, const char *key, const char *v,
    const char **why)
{
	uint64_t bytes;

	*why = "limits must be whole numbers from 1 to 4294967295";
	if (strcmp(key, "max_regions") == 0)
		return config_set_u32(&t->max_regions, v);
	if (strcmp(key, "max_clients") == 0)
		return config_set_u32(&t->max_clients, v);
	if (strcmp(key, "max_hugepages") == 0) {
		uint32_t n;

		if (config_set_u32(&n, v) < 0)
			return -1;
		t->max_hugepages = n;
		return 0;
	}
	if (strcmp(key, "max_bytes") == 0) {
		*why = "max_bytes must be a size such as 512M or 4G";
		if (units_parse_size(v, &bytes) < 0 || bytes == 0)
			return -1;
		t->max_bytes = bytes;
		return 0;
	}
	*why = "unknown tenant setting (uid, gid, prefix, allow, deny, "
	    "max_regions, max_clients, max_bytes, max_hugepages, mode, group)";
	return -1;
}

static int
config_tenant_set(struct broker_config *cfg, const char *name,
    const char *key, const char *v, const char **why)
{
	struct tenant *t = config_tenant_entry(cfg, name, why);
	unsigned id;

	if (t == NULL)
		return -1;
	if (strcmp(key, "uid") == 0 || strcmp(key, "gid") == 0 ||
	    strcmp(key, "group") == 0) {
		bool group = key[0] == 'g';

		*why = group ? "must be a gid or a group name" :
		    "uid must be a uid or a user name";
		if (config_parse_id(v, group, &id) < 0)
			return -1;
		if (key[0] == 'u') {
			t->match_uid = true;
			t->uid = id;
		} else if (key[1] == 'i') {
			t->match_gid = true;
			t->gid = id;
		} else {
			t->has_group = true;
			t->group = id;
		}
		return 0;
	}
	if (strcmp(key, "prefix") == 0) {
		*why = "prefix must be 1 to 31 printable ASCII characters";
		if (strlen(v) >= TENANT_PREFIX_MAX || registry_check_key(v) !=
		    GSS_OK)
			return -1;
		snprintf(t->prefix, sizeof(t->prefix), "%s", v);
		return 0;
	}
	if (strcmp(key, "allow") == 0 || strcmp(key, "deny") == 0) {
		*why = "at most 32 patterns of at most 63 characters";
		return tenant_add_rules(t, key[0] == 'a', v);
	}
	if (strcmp(key, "mode") == 0) {
		*why = "mode must be octal, at most 0777";
		return config_parse_mode(v, &t->mode);
	}
	return config_tenant_limit(t, key, v, why);
}

static int
config_ini_handler(void *user, const char *section, const char *key,
    const char *value)
{
	struct ini_state *st = user;
	const char *why = "unknown section (use [broker], [region NAME] or "
	    "[tenant NAME])";
	int rc = -1;

	if (strlen(section) >= CONFIG_MAX_SECTION - 1)
		why = "section name too long (at most 48 characters)";
	else if (strcmp(section, "broker") == 0)
		rc = config_set(st->cfg, key, value, &why);
	else if (strncmp(section, "region ", 7) == 0)
		rc = config_region_set(st->cfg, section + 7, key, value, &why);
	else if (strncmp(section, "tenant ", 7) == 0)
		rc = config_tenant_set(st->cfg, section + 7, key, value, &why);
	if (rc < 0 && st->err_line == 0) {
		st->err_line = st->lineno;
		snprintf(st->why, sizeof(st->why), "[%s] %s = %s: %s", section,
		    key, value, why);
	}
	return rc == 0;
}

/* inih's reader: whole lines, counted, so that every error names the line
 * it is on; a line too long for inih is an error, not two lines. */
static char *
config_read_line(char *str, int num, void *stream)
{
	struct ini_state *st = stream;
	ssize_t n = getline(&st->line, &st->cap, st->f);

	if (n < 0)
		return NULL;
	st->lineno++;
	if (n >= num) {
		if (st->err_line == 0) {
			st->err_line = st->lineno;
			snprintf(st->why, sizeof(st->why), "line too long (at "
			    "most %d characters)", num - 2);
		}
		n = 0;
	}
	memcpy(str, st->line, (size_t)n);
	str[n] = '\0';
	return str;
}

/* What a section-by-section parse cannot see: sizes that are missing, a
 * default tenant that does not exist. */
static int
config_check(struct broker_config *cfg, const char *path, char *err,
    size_t errlen)
{
	for (size_t i = 0; i < cfg->nregions; i++) {
		if (cfg->regions[i].size_pages == 0) {
			snprintf(err, errlen, "%s: [region %s] has no size", path,
			    cfg->regions[i].name);
			return -1;
		}
		if (cfg->regions[i].size_pages > cfg->max_region_pages) {
			snprintf(err, errlen, "%s: [region %s] is larger than "
			    "max_region_size", path, cfg->regions[i].name);
			return -1;
		}
	}
	if (cfg->default_tenant != NULL) {
		for (size_t i = 0; i < cfg->ntenants; i++)
			if (strcmp(cfg->tenants[i].name,
			    cfg->default_tenant) == 0)
				return 0;
		snprintf(err, errlen, "%s: default_tenant = %s: no [tenant %s] "
		    "section", path, cfg->default_tenant, cfg->default_tenant);
		return -1;
	}
	return 0;
}

static int
config_load_file(struct broker_config *cfg, const char *path, char *err,
    size_t errlen)
{
	struct ini_state st = { .cfg = cfg };
	int line;

	if ((st.f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", path,
		    strerror(errno));
		return -1;
	}
	line = ini_parse_stream(config_read_line, &st, config_ini_handler,
	    &st);
	fclose(st.f);
	free(st.line);
	if (line == -2) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	/* inih reports the first line it found wrong; a rejected key or a
	 * long line may come before it. */
	if (st.err_line > 0 && (line <= 0 || st.err_line <= line)) {
		snprintf(err, errlen, "%s:%d: %s", path, st.err_line, st.why);
		return -1;
	}
	if (line > 0) {
		snprintf(err, errlen, "%s:%d: syntax error (expected [section] "
		    "or key = value)", path, line);
		return -1;
	}
	return config_check(cfg, path, err, errlen);
}

static const struct option config_options[] = {
	{ "socket", required_argument, NULL, 's' },
	{ "admin-socket", required_argument, NULL, 'a' },
	{ "config", required_argument, NULL, 'c' },
	{ "foreground", no_argument, NULL, 'f' },
	{ "log-level", required_argument, NULL, 'l' },
	{ "hugepages", required_argument, NULL, 'H' },
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
	    "[--hugepages POLICY]\n\n"
	    "  --socket PATH        VMM socket (default /run/shmbroker/vmm.sock,\n"
	    "                       $XDG_RUNTIME_DIR/shmbroker/ when not root)\n"
	    "  --admin-socket PATH  admin socket for shmctl (mode 0600)\n"
	    "  --foreground         stay in the foreground (the daemon never "
	    "forks;\n"
	    "                       accepted for compatibility)\n"
	    "  --config FILE        INI configuration file\n"
	    "  --log-level LEVEL    error, warning, notice, info or debug\n"
	    "  --hugepages POLICY   never, prefer or require\n");
}

int
config_load(struct broker_config *cfg, int argc, char **argv, char *err,
    size_t errlen)
{
	const char *why;
	int ch;

	config_defaults(cfg);
	/* First pass: only --config, so the command line wins over it. */
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", config_options, NULL)) != -1)
		if (ch == 'c' && config_set_string(&cfg->config_file, optarg) < 0)
			return -1;
	if (cfg->config_file != NULL &&
	    config_load_file(cfg, cfg->config_file, err, errlen) < 0)
		return -1;
	optind = 1;
	opterr = 1;
	while ((ch = getopt_long(argc, argv, "", config_options, NULL)) != -1) {
		const char *key = NULL;

		switch (ch) {
		case 's': key = "socket"; break;
		case 'a': key = "admin_socket"; break;
		case 'l': key = "log_level"; break;
		case 'H': key = "hugepages"; break;
		case 'f': cfg->foreground = true; continue;
		case 'c': continue;
		case 'h': config_usage(stdout); return 1;
		case 'V': printf("shmbrokerd %s\n", SHMBROKER_VERSION); return 1;
		default:
			config_usage(stderr);
			snprintf(err, errlen, "invalid command line");
			return -1;
		}
		if (config_set(cfg, key, optarg, &why) < 0) {
			snprintf(err, errlen, "--%s %s: %s", key, optarg, why);
			return -1;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
		return -1;
	}
	if (config_default_sockets(cfg) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

void
config_free(struct broker_config *cfg)
{
	free(cfg->socket_path);
	free(cfg->admin_socket_path);
	free(cfg->config_file);
	free(cfg->regions);
	free(cfg->tenants);
	free(cfg->default_tenant);
}
