/*
 * shmctl: the admin CLI of shmbrokerd. Owns the command line (getopt_long,
 * per-command help), the local checks of names and sizes, the calls to the
 * admin socket through libshmclient's raw admin API, and the two output
 * forms: aligned tables for people and JSON for scripts. Exit codes follow
 * <sysexits.h> so that scripts can tell a typo from a refusal from a daemon
 * that is not there.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "shmclient.h"
#include "shmclient_admin.h"
#include "units.h"
#include "wire.h"

#define CTL_NAME_MAX 31			/* characters, without the NUL */
#define CTL_PAGE_SIZE 4096u		/* the guest ABI's page */
#define CTL_TABLE_MAX_COLS 8

struct ctl {
	char socket[256];
	bool have_socket;		/* --admin-socket was given */
	bool json;
	bool force;
	struct shmc *c;
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

static void ctl_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
ctl_warn(const char *fmt, ...)
{
	va_list ap;

	fputs("shmctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- JSON output ---- */

/* Length of the valid UTF-8 sequence at s, or 0 when it is not one. */
static size_t
utf8_len(const unsigned char *s)
{
	uint32_t cp, min;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		n = 2, cp = s[0] & 0x1f, min = 0x80;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3, cp = s[0] & 0x0f, min = 0x800;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 4, cp = s[0] & 0x07, min = 0x10000;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)	/* also stops at the NUL */
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/*
 * Labels are free text from VMMs: escape everything JSON requires and
 * replace invalid UTF-8, so that no label can break a script's parser.
 */
static void
json_string(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n;

	fputc('"', f);
	while (*s != '\0') {
		switch (*s) {
		case '"':	fputs("\\\"", f); break;
		case '\\':	fputs("\\\\", f); break;
		case '\b':	fputs("\\b", f); break;
		case '\f':	fputs("\\f", f); break;
		case '\n':	fputs("\\n", f); break;
		case '\r':	fputs("\\r", f); break;
		case '\t':	fputs("\\t", f); break;
		default:
			if (*s < 0x20 || *s == 0x7f) {
				fprintf(f, "\\u%04x", *s);
			} else if ((n = utf8_len(s)) == 0) {
				fputs("\\ufffd", f);
			} else {
				fwrite(s, 1, n, f);
				s += n - 1;
			}
		}
		s++;
	}
	fputc('"', f);
}

/* A streaming writer: comma says whether the next value needs one. */
struct jw {
	FILE *f;
	bool comma;
};

static void
jw_key(struct jw *w, const char *key)
{
	if (w->comma)
		fputc(',', w->f);
	w->comma = true;
	if (key != NULL) {
		json_string(w->f, key);
		fputc(':', w->f);
	}
}

static void
jw_open(struct jw *w, const char *key, char bracket)
{
	jw_key(w, key);
	fputc(bracket, w->f);
	w->comma = false;
}

static void
jw_close(struct jw *w, char bracket)
{
	fputc(bracket, w->f);
	w->comma = true;
}

static void
jw_str(struct jw *w, const char *key, const char *v)
{
	jw_key(w, key);
	json_string(w->f, v != NULL ? v : "");
}

static void
jw_u64(struct jw *w, const char *key, uint64_t v)
{
	jw_key(w, key);
	fprintf(w->f, "%" PRIu64, v);
}

static void
jw_i64(struct jw *w, const char *key, int64_t v)
{
	jw_key(w, key);
	fprintf(w->f, "%" PRId64, v);
}

/* ---- tables ---- */

struct table {
	size_t ncols;
	const char *const *head;
	unsigned right;			/* bit i: column i is right-aligned */
	char **cells;			/* nrows * ncols */
	size_t nrows, cap;
};

static void
table_init(struct table *t, const char *const *head, size_t ncols,
    unsigned right)
{
	memset(t, 0, sizeof(*t));
	t->head = head;
	t->ncols = ncols;
	t->right = right;
}

static void
table_free(struct table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

/* A copy of s that cannot move a terminal's cursor or change its state. */
static char *
printable_dup(const char *s)
{
	char *d = strdup(s != NULL ? s : "");

	for (char *p = d; p != NULL && *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return d;
}

static int
table_add(struct table *t, const char *const *row)
{
	char **cells;

	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;

		cells = reallocarray(t->cells, cap * t->ncols, sizeof(*cells));
		if (cells == NULL)
			return -1;
		t->cells = cells;
		t->cap = cap;
	}
	cells = t->cells + t->nrows * t->ncols;
	for (size_t i = 0; i < t->ncols; i++) {
		if ((cells[i] = printable_dup(row[i])) == NULL) {
			while (i-- > 0)
				free(cells[i]);
			return -1;
		}
	}
	t->nrows++;
	return 0;
}

static void
table_print_row(const struct table *t, FILE *f, const char *const *row,
    const size_t *width)
{
	for (size_t i = 0; i < t->ncols; i++) {
		bool last = i + 1 == t->ncols;
		int w = (int)width[i];

		if (t->right & (1u << i))
			fprintf(f, "%*s", w, row[i]);
		else if (last)
			fputs(row[i], f);
		else
			fprintf(f, "%-*s", w, row[i]);
		fputs(last ? "\n" : "  ", f);
	}
}

static void
table_print(const struct table *t, FILE *f)
{
	size_t width[CTL_TABLE_MAX_COLS];

	for (size_t i = 0; i < t->ncols; i++) {
		width[i] = strlen(t->head[i]);
		for (size_t r = 0; r < t->nrows; r++) {
			size_t len = strlen(t->cells[r * t->ncols + i]);

			if (len > width[i])
				width[i] = len;
		}
	}
	table_print_row(t, f, t->head, width);
	for (size_t r = 0; r < t->nrows; r++)
		table_print_row(t, f, (const char *const *)t->cells +
		    r * t->ncols, width);
}

/* ---- formatting helpers ---- */

static const char *
backing_name(Shmbroker__Backing b)
{
	return b == SHMBROKER__BACKING__BACKING_HUGETLB ? "hugetlb" : "shmem";
}

static const char *
origin_name(Shmbroker__Origin o)
{
	switch (o) {
	case SHMBROKER__ORIGIN__ORIGIN_GUEST:	return "guest";
	case SHMBROKER__ORIGIN__ORIGIN_ADMIN:	return "admin";
	case SHMBROKER__ORIGIN__ORIGIN_CONFIG:	return "config";
	default:				return "unknown";
	}
}

static void
format_time_ms(uint64_t ms, char *out, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(out, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(out, len, "%" PRIu64 " ms", ms);
}

static void
format_duration_ms(uint64_t ms, char *out, size_t len)
{
	uint64_t s = ms / 1000;

	if (s >= 86400)
		snprintf(out, len, "%" PRIu64 "d %02" PRIu64 "h %02" PRIu64
		    "m", s / 86400, s / 3600 % 24, s / 60 % 60);
	else if (s >= 3600)
		snprintf(out, len, "%" PRIu64 "h %02" PRIu64 "m %02" PRIu64
		    "s", s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(out, len, "%" PRIu64 "m %02" PRIu64 "s", s / 60,
		    s % 60);
}

static uint64_t
region_bytes(const Shmbroker__RegionInfo *r)
{
	return (uint64_t)r->size_pages * CTL_PAGE_SIZE;
}

/* with_count: false in show, where "clients" is the array of clients. */
static void
json_region_fields(struct jw *w, const Shmbroker__RegionInfo *r,
    bool with_count)
{
	jw_u64(w, "id", r->region_id);
	jw_str(w, "name", r->name);
	jw_u64(w, "size", region_bytes(r));
	jw_u64(w, "size_pages", r->size_pages);
	jw_u64(w, "backing_bytes", r->backing_bytes);
	jw_str(w, "backing", backing_name(r->backing));
	jw_str(w, "origin", origin_name(r->origin));
	jw_u64(w, "active_mask", r->active_mask);
	if (with_count)
		jw_u64(w, "clients", r->clients);
	jw_u64(w, "created_ms", r->created_ms);
}

static void
json_client(struct jw *w, const Shmbroker__ClientInfo *ci, bool with_region)
{
	jw_open(w, NULL, '{');
	jw_u64(w, "client_id", ci->client_id);
	if (with_region)
		jw_str(w, "region", ci->region);
	jw_u64(w, "index", ci->index);
	jw_u64(w, "pending", ci->pending);
	jw_u64(w, "connection_id", ci->connection_id);
	jw_i64(w, "pid", ci->pid);
	jw_u64(w, "uid", ci->uid);
	jw_u64(w, "gid", ci->gid);
	jw_str(w, "label", ci->label);
	jw_close(w, '}');
}

/* Prints "key:" padded so that the values of a block line up. */
static void kv(const char *key, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
kv(const char *key, const char *fmt, ...)
{
	va_list ap;

	printf("%-16s", key);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

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
	ctl_warn("cannot reach shmbrokerd at %s: %s", ctl->socket,
	    strerror(-rc));
	ctl_warn("check that shmbrokerd runs and that this is its admin "
	    "socket (--admin-socket PATH or $SHMBROKER_ADMIN_SOCKET)");
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
		return rc == -EPROTO || rc == -EMSGSIZE ? EX_SOFTWARE :
		    EX_UNAVAILABLE;
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

static int
check_size(const char *s, uint32_t *pages)
{
	uint64_t bytes;
	int64_t p;

	if (units_parse_size(s, &bytes) < 0) {
		ctl_warn("invalid size '%.40s': give bytes with an optional K, "
		    "M, G or T suffix, e.g. 65536 or 64M", s);
		return EX_USAGE;
	}
	if (bytes == 0) {
		ctl_warn("invalid size '%.40s': a region needs at least one "
		    "byte", s);
		return EX_USAGE;
	}
	if ((p = units_bytes_to_pages(bytes)) < 0) {
		ctl_warn("invalid size '%.40s': at most %u pages of 4 KiB",
		    s, UINT32_MAX);
		return EX_USAGE;
	}
	*pages = (uint32_t)p;
	return EX_OK;
}

/* ---- commands ---- */

static void
status_json(const struct ctl *ctl, const Shmbroker__AdminStatusReply *r)
{
	struct jw w = { .f = stdout };

	jw_open(&w, NULL, '{');
	jw_str(&w, "server", r->server);
	jw_str(&w, "socket", ctl->socket);
	jw_u64(&w, "uptime_ms", r->uptime_ms);
	jw_u64(&w, "regions", r->regions);
	jw_u64(&w, "clients", r->clients);
	jw_u64(&w, "connections", r->connections);
	jw_u64(&w, "bytes_shmem", r->bytes_shmem);
	jw_u64(&w, "bytes_hugetlb", r->bytes_hugetlb);
	jw_str(&w, "hugepage_policy", r->hugepage_policy);
	jw_u64(&w, "hugepages_free", r->hugepages_free);
	jw_u64(&w, "fd_limit", r->fd_limit);
	jw_close(&w, '}');
	putchar('\n');
}

static void
status_human(const struct ctl *ctl, const Shmbroker__AdminStatusReply *r)
{
	char up[32], size[16];

	kv("server:", "%s", r->server);
	kv("admin socket:", "%s", ctl->socket);
	format_duration_ms(r->uptime_ms, up, sizeof(up));
	kv("uptime:", "%s", up);
	kv("regions:", "%u", r->regions);
	kv("clients:", "%u", r->clients);
	kv("connections:", "%u", r->connections);
	units_format_size(r->bytes_shmem, size);
	kv("shmem:", "%s", size);
	units_format_size(r->bytes_hugetlb, size);
	kv("hugetlb:", "%s", size);
	kv("hugepages:", "%s (%" PRIu64 " free)", r->hugepage_policy,
	    r->hugepages_free);
	kv("fd limit:", "%" PRIu64, r->fd_limit);
}

static int
cmd_status(struct ctl *ctl, char **argv)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminStatus body = SHMBROKER__ADMIN_STATUS__INIT;
	Shmbroker__ServerMessage *m;
	int ex;

	(void)argv;
	if ((ex = ctl_connect(ctl)) != EX_OK)
		return ex;
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_STATUS;
	req.admin_status = &body;
	if ((ex = ctl_call(ctl, &req,
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_STATUS, &m)) != EX_OK)
		return ex;
	if (ctl->json)
		status_json(ctl, m->admin_status);
	else
		status_human(ctl, m->admin_status);
	shmbroker__server_message__free_unpacked(m, NULL);
	return EX_OK;
}

typedef int (*page_fn)(struct ctl *, struct table *, struct jw *,
    uint64_t *, bool *);

/*
 * Runs a paged listing to its end into t (people) or a JSON array held in
 * memory (scripts), and prints it only when every page arrived.
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

	if ((ex = ctl_connect(ctl)) != EX_OK)
		return ex;
	if (ctl->json) {
		if ((w.f = open_memstream(&buf, &len)) == NULL) {
			ctl_warn("open_memstream: %s", strerror(errno));
			return EX_OSERR;
		}
		jw_open(&w, NULL, '[');
	}
	while (!done && ex == EX_OK)
		ex = page(ctl, t, &w, &after, &done);
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
	return ex;
}

static const char *const list_head[] = {
	"ID", "NAME", "SIZE", "BACKING", "ORIGIN", "CLIENTS", "ACTIVE",
};

static int
list_add(struct ctl *ctl, struct table *t, struct jw *w,
    const Shmbroker__RegionInfo *r)
{
	char id[24], size[16], clients[12], active[12];

	if (ctl->json) {
		jw_open(w, NULL, '{');
		json_region_fields(w, r, true);
		jw_close(w, '}');
		return 0;
	}
	snprintf(id, sizeof(id), "%" PRIu64, r->region_id);
	units_format_size(region_bytes(r), size);
	snprintf(clients, sizeof(clients), "%u", r->clients);
	snprintf(active, sizeof(active), "0x%04x", r->active_mask);
	return table_add(t, (const char *const[]){ id, r->name, size,
	    backing_name(r->backing), origin_name(r->origin), clients,
	    active });
}

/* Fetches one page of regions after *after into t or w. */
static int
list_page(struct ctl *ctl, struct table *t, struct jw *w, uint64_t *after,
    bool *done)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminList body = SHMBROKER__ADMIN_LIST__INIT;
	Shmbroker__ServerMessage *m;
	Shmbroker__AdminListReply *r;
	int ex;

	body.after_id = *after;
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_LIST;
	req.admin_list = &body;
	if ((ex = ctl_call(ctl, &req,
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_LIST, &m)) != EX_OK)
		return ex;
	r = m->admin_list;
	for (size_t i = 0; i < r->n_regions && ex == EX_OK; i++)
		if (list_add(ctl, t, w, r->regions[i]) < 0)
			ex = EX_OSERR;
	if (ex == EX_OK && !r->done && r->next_after_id <= *after) {
		ctl_warn("shmbrokerd's region listing did not advance past "
		    "id %" PRIu64, *after);
		ex = EX_SOFTWARE;
	}
	*after = r->next_after_id;
	*done = r->done;
	shmbroker__server_message__free_unpacked(m, NULL);
	return ex;
}

static int
cmd_list(struct ctl *ctl, char **argv)
{
	struct table t;
	int ex;

	(void)argv;
	table_init(&t, list_head, 7, 1u << 0 | 1u << 2 | 1u << 5);
	ex = run_paged(ctl, &t, list_page, "no regions");
	table_free(&t);
	return ex;
}

static const char *const show_head[] = {
	"INDEX", "CLIENT", "PID", "UID", "PENDING", "LABEL",
};

static int
show_human(const Shmbroker__AdminShowReply *r)
{
	const Shmbroker__RegionInfo *g = r->region;
	struct table t;
	char a[16], b[16], when[64];
	char idx[12], id[24], pid[16], uid[16], pend[12];
	int ex = EX_OK;

	units_format_size(region_bytes(g), a);
	units_format_size(g->backing_bytes, b);
	format_time_ms(g->created_ms, when, sizeof(when));
	kv("name:", "%s", g->name);
	kv("id:", "%" PRIu64, g->region_id);
	kv("size:", "%s (%u pages)", a, g->size_pages);
	kv("backing:", "%s, %s", backing_name(g->backing), b);
	kv("origin:", "%s", origin_name(g->origin));
	kv("created:", "%s", when);
	kv("active:", "0x%04x", g->active_mask);
	kv("clients:", "%zu", r->n_clients);
	if (r->n_clients == 0)
		return EX_OK;
	putchar('\n');
	table_init(&t, show_head, 6, 1u << 0 | 1u << 1 | 1u << 2 | 1u << 3);
	for (size_t i = 0; i < r->n_clients && ex == EX_OK; i++) {
		const Shmbroker__ClientInfo *ci = r->clients[i];

		snprintf(idx, sizeof(idx), "%u", ci->index);
		snprintf(id, sizeof(id), "%" PRIu64, ci->client_id);
		snprintf(pid, sizeof(pid), "%d", (int)ci->pid);
		snprintf(uid, sizeof(uid), "%u", ci->uid);
		snprintf(pend, sizeof(pend), "0x%04x", ci->pending);
		if (table_add(&t, (const char *const[]){ idx, id, pid, uid,
		    pend, ci->label }) < 0)
			ex = EX_OSERR;
	}
	if (ex == EX_OK)
		table_print(&t, stdout);
	else
		ctl_warn("out of memory");
	table_free(&t);
	return ex;
}

static void
show_json(const Shmbroker__AdminShowReply *r)
{
	struct jw w = { .f = stdout };

	jw_open(&w, NULL, '{');
	json_region_fields(&w, r->region, false);
	jw_open(&w, "clients", '[');
	for (size_t i = 0; i < r->n_clients; i++)
		json_client(&w, r->clients[i], false);
	jw_close(&w, ']');
	jw_close(&w, '}');
	putchar('\n');
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
	} else if (ctl->json) {
		show_json(m->admin_show);
	} else {
		ex = show_human(m->admin_show);
	}
	shmbroker__server_message__free_unpacked(m, NULL);
	return ex;
}

static int
cmd_create(struct ctl *ctl, char **argv)
{
	Shmbroker__ServerMessage *m = NULL;
	const Shmbroker__RegionInfo *g;
	uint32_t pages;
	char a[16];
	int ex, rc;

	if ((ex = check_name(argv[0])) != EX_OK ||
	    (ex = check_size(argv[1], &pages)) != EX_OK ||
	    (ex = ctl_connect(ctl)) != EX_OK)
		return ex;
	rc = shmc_admin_create(ctl->c, argv[0], pages, &m);
	if ((ex = ctl_reply(ctl, rc, m,
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_CREATE, &m)) != EX_OK)
		return ex;
	if ((g = m->admin_create->region) == NULL) {
		ctl_warn("shmbrokerd's reply to create lacks the region");
		ex = EX_SOFTWARE;
	} else if (ctl->json) {
		struct jw w = { .f = stdout };

		jw_open(&w, NULL, '{');
		json_region_fields(&w, g, true);
		jw_close(&w, '}');
		putchar('\n');
	} else {
		units_format_size(region_bytes(g), a);
		printf("created region %s: %s (%u pages), %s\n", g->name, a,
		    g->size_pages, backing_name(g->backing));
	}
	shmbroker__server_message__free_unpacked(m, NULL);
	return ex;
}

static int
cmd_destroy(struct ctl *ctl, char **argv)
{
	Shmbroker__ServerMessage *m = NULL;
	uint32_t detached;
	int ex, rc;

	if ((ex = check_name(argv[0])) != EX_OK ||
	    (ex = ctl_connect(ctl)) != EX_OK)
		return ex;
	rc = shmc_admin_destroy(ctl->c, argv[0], ctl->force, &m);
	if ((ex = ctl_reply(ctl, rc, m,
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_DESTROY, &m)) != EX_OK)
		return ex;
	detached = m->admin_destroy->detached;
	if (ctl->json) {
		struct jw w = { .f = stdout };

		jw_open(&w, NULL, '{');
		jw_str(&w, "name", argv[0]);
		jw_u64(&w, "detached", detached);
		jw_close(&w, '}');
		putchar('\n');
	} else if (detached > 0) {
		printf("destroyed region %s, detached %u clients\n", argv[0],
		    detached);
	} else {
		printf("destroyed region %s\n", argv[0]);
	}
	shmbroker__server_message__free_unpacked(m, NULL);
	return EX_OK;
}

static const char *const clients_head[] = {
	"CLIENT", "REGION", "INDEX", "PID", "UID", "PENDING", "LABEL",
};

static int
clients_add(struct ctl *ctl, struct table *t, struct jw *w,
    const Shmbroker__ClientInfo *ci)
{
	char id[24], idx[12], pid[16], uid[16], pend[12];

	if (ctl->json) {
		json_client(w, ci, true);
		return 0;
	}
	snprintf(id, sizeof(id), "%" PRIu64, ci->client_id);
	snprintf(idx, sizeof(idx), "%u", ci->index);
	snprintf(pid, sizeof(pid), "%d", (int)ci->pid);
	snprintf(uid, sizeof(uid), "%u", ci->uid);
	snprintf(pend, sizeof(pend), "0x%04x", ci->pending);
	return table_add(t, (const char *const[]){ id, ci->region, idx, pid,
	    uid, pend, ci->label });
}

static int
clients_page(struct ctl *ctl, struct table *t, struct jw *w, uint64_t *after,
    bool *done)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminClients body = SHMBROKER__ADMIN_CLIENTS__INIT;
	Shmbroker__ServerMessage *m;
	Shmbroker__AdminClientsReply *r;
	int ex;

	body.after_id = *after;
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_CLIENTS;
	req.admin_clients = &body;
	if ((ex = ctl_call(ctl, &req,
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_CLIENTS, &m)) != EX_OK)
		return ex;
	r = m->admin_clients;
	for (size_t i = 0; i < r->n_clients && ex == EX_OK; i++)
		if (clients_add(ctl, t, w, r->clients[i]) < 0)
			ex = EX_OSERR;
	if (ex == EX_OK && !r->done && r->next_after_id <= *after) {
		ctl_warn("shmbrokerd's client listing did not advance past "
		    "id %" PRIu64, *after);
		ex = EX_SOFTWARE;
	}
	*after = r->next_after_id;
	*done = r->done;
	shmbroker__server_message__free_unpacked(m, NULL);
	return ex;
}

static int
cmd_clients(struct ctl *ctl, char **argv)
{
	struct table t;
	int ex;

	(void)argv;
	table_init(&t, clients_head, 7, 1u << 0 | 1u << 2 | 1u << 3 | 1u << 4);
	ex = run_paged(ctl, &t, clients_page, "no clients");
	table_free(&t);
	return ex;
}

static void
stats_json(const Shmbroker__AdminStatsReply *r)
{
	struct jw w = { .f = stdout };

	jw_open(&w, NULL, '{');
	jw_u64(&w, "connections_total", r->connections_total);
	jw_u64(&w, "attaches", r->attaches);
	jw_u64(&w, "creates", r->creates);
	jw_u64(&w, "detaches", r->detaches);
	jw_u64(&w, "notifications", r->notifications);
	jw_u64(&w, "bad_requests", r->bad_requests);
	jw_u64(&w, "regions_destroyed", r->regions_destroyed);
	jw_u64(&w, "events_dropped_connections",
	    r->events_dropped_connections);
	jw_open(&w, "status_counts", '{');
	for (size_t i = 0; i < r->n_status_counts; i++)
		jw_u64(&w, wire_status_name((int)i), r->status_counts[i]);
	jw_close(&w, '}');
	jw_close(&w, '}');
	putchar('\n');
}

static void
stats_human(const Shmbroker__AdminStatsReply *r)
{
	kv("connections:", "%" PRIu64 " since start",
	    r->connections_total);
	kv("attaches:", "%" PRIu64, r->attaches);
	kv("creates:", "%" PRIu64, r->creates);
	kv("detaches:", "%" PRIu64, r->detaches);
	kv("notifications:", "%" PRIu64, r->notifications);
	kv("bad requests:", "%" PRIu64, r->bad_requests);
	kv("destroyed:", "%" PRIu64, r->regions_destroyed);
	kv("slow dropped:", "%" PRIu64, r->events_dropped_connections);
	if (r->n_status_counts > 0)
		printf("\nattach results:\n");
	for (size_t i = 0; i < r->n_status_counts; i++)
		printf("  %-20s %" PRIu64 "\n", wire_status_name((int)i),
		    r->status_counts[i]);
}

static int
cmd_stats(struct ctl *ctl, char **argv)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminStats body = SHMBROKER__ADMIN_STATS__INIT;
	Shmbroker__ServerMessage *m;
	int ex;

	(void)argv;
	if ((ex = ctl_connect(ctl)) != EX_OK)
		return ex;
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_STATS;
	req.admin_stats = &body;
	if ((ex = ctl_call(ctl, &req,
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_STATS, &m)) != EX_OK)
		return ex;
	if (ctl->json)
		stats_json(m->admin_stats);
	else
		stats_human(m->admin_stats);
	shmbroker__server_message__free_unpacked(m, NULL);
	return EX_OK;
}

static void
watch_print(const struct shmc_event *ev, void *arg)
{
	const struct ctl *ctl = arg;
	char when[64], idx[12];
	struct jw w = { .f = stdout };
	char *region;

	if (ev->kind != SHMC_EVENT_ADMIN)
		return;
	if (ctl->json) {
		jw_open(&w, NULL, '{');
		jw_str(&w, "kind", ev->admin_kind);
		jw_str(&w, "region", ev->region);
		jw_i64(&w, "index", ev->admin_index);
		jw_u64(&w, "active_mask", ev->active_mask);
		jw_u64(&w, "connection_id", ev->connection_id);
		jw_u64(&w, "time_ms", ev->time_ms);
		jw_close(&w, '}');
		putchar('\n');
	} else {
		format_time_ms(ev->time_ms, when, sizeof(when));
		if (ev->admin_index >= 0)
			snprintf(idx, sizeof(idx), "%d", ev->admin_index);
		else
			snprintf(idx, sizeof(idx), "-");
		region = printable_dup(ev->region);
		printf("%s.%03u  %-8s %-12s index %-2s active 0x%04x conn %"
		    PRIu64 "\n", when, (unsigned)(ev->time_ms % 1000),
		    ev->admin_kind, region != NULL ? region : "?", idx,
		    ev->active_mask, ev->connection_id);
		free(region);
	}
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
			return n == -EPROTO ? EX_SOFTWARE : EX_UNAVAILABLE;
		}
	}
}

static int
cmd_watch(struct ctl *ctl, char **argv)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminWatch body = SHMBROKER__ADMIN_WATCH__INIT;
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
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_WATCH;
	req.admin_watch = &body;
	if ((ex = ctl_connect(ctl)) == EX_OK && (ex = ctl_call(ctl, &req,
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
	    "pages); ACTIVE is the mask of attached\nclient indices.", 0,
	    false, cmd_list },
	{ "show", "NAME", "show one region and its clients", NULL, 1, false,
	    cmd_show },
	{ "create", "NAME SIZE", "create a region that lives until destroyed",
	    "NAME: 1 to 31 printable ASCII characters without spaces.\n"
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
	    "\nExit status: 0 ok, %d bad command line, %d refused by the "
	    "daemon,\n%d daemon unreachable, %d protocol error.\n",
	    ctl->have_socket ? ctl->socket :
	    shmc_default_socket(true, def, sizeof(def)), EX_USAGE, EX_DATAERR,
	    EX_UNAVAILABLE, EX_SOFTWARE);
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

/*
 * Parses options of argv (argv[0] is the program or the command name).
 * cmd is NULL for the options before the command, where parsing stops at
 * the first operand; after it, options and operands may mix.
 */
static enum parse_result
parse_options(struct ctl *ctl, const struct cmd *cmd, int argc, char **argv)
{
	int ch;

	optind = 0;	/* GNU: start over on a new vector */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, cmd == NULL ? "+:s:jfh" :
	    ":s:jfh", long_options, NULL)) != -1) {
		switch (ch) {
		case 's':
			if (strlen(optarg) >= sizeof(ctl->socket)) {
				ctl_warn("admin socket path is too long");
				return PARSE_ERROR;
			}
			snprintf(ctl->socket, sizeof(ctl->socket), "%s",
			    optarg);
			ctl->have_socket = true;
			break;
		case 'j':
			ctl->json = true;
			break;
		case 'f':
			if (cmd == NULL || !cmd->takes_force) {
				ctl_warn("--force belongs after 'destroy "
				    "NAME'");
				return PARSE_ERROR;
			}
			ctl->force = true;
			break;
		case 'h':
			return PARSE_HELP;
		case ':':
			ctl_warn("option %s needs an argument",
			    argv[optind - 1]);
			return PARSE_ERROR;
		default:
			if (optopt != 0)
				ctl_warn("unknown option '-%c'", optopt);
			else
				ctl_warn("unknown option '%s'",
				    argv[optind - 1]);
			return PARSE_ERROR;
		}
	}
	return PARSE_OK;
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
	int nargs;

	if (strcmp(argv[0], "help") == 0)
		return run_help(ctl, argc, argv);
	if ((cmd = find_command(argv[0])) == NULL) {
		ctl_warn("unknown command '%.40s'; see shmctl --help",
		    argv[0]);
		return EX_USAGE;
	}
	switch (parse_options(ctl, cmd, argc, argv)) {
	case PARSE_HELP:
		usage_command(cmd, stdout);
		return EX_OK;
	case PARSE_ERROR:
		usage_command(cmd, stderr);
		return EX_USAGE;
	case PARSE_OK:
		break;
	}
	nargs = argc - optind;
	if (nargs != cmd->nargs) {
		ctl_warn("%s: %s", cmd->name, nargs < cmd->nargs ?
		    "missing arguments" : "too many arguments");
		usage_command(cmd, stderr);
		return EX_USAGE;
	}
	if (!ctl->have_socket)
		shmc_default_socket(true, ctl->socket, sizeof(ctl->socket));
	return cmd->run(ctl, argv + optind);
}

int
main(int argc, char **argv)
{
	struct ctl ctl = { .c = NULL };
	int ex;

	switch (parse_options(&ctl, NULL, argc, argv)) {
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
