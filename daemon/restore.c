/*
 * restore: region memory across a daemon restart. With `fd_store = yes`,
 * every region's memfd is also handed to systemd's file descriptor store
 * (FDSTORE=1), under a name that describes the region, so that a restarted
 * daemon gets the memfds back with its sockets and rebuilds its regions
 * from the names alone: there is no separate state file to fall out of
 * step. A restored guest region has no clients until its VMMs attach
 * again; it waits RESTORE_GRACE_S for them before it goes the way of any
 * guest region without clients. A destroyed region's entry is removed from
 * the store, and an entry that does not parse is dropped.
 *
 * The name: r.PAGES.ORIGIN.MODE.UID.GROUP.NAMEHEX.TENANTHEX (GROUP "-" for
 * none, TENANTHEX "-" for none): printable, no ':', under 255 bytes.
 *
 * A region's state page (its clients' pending bits) is stored next to it
 * while it exists, as s.NAMEHEX, so that notifications nobody has read yet
 * survive too. It may come back before or after its region: state pages
 * wait in a list until every fd is in, then find their regions. Their
 * words are kept for the clients that re-claim their old indices.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "broker.h"

#define RESTORE_GRACE_S 60
#define HUGETLBFS_MAGIC 0x958458f6
#define FDNAME_MAX 256

struct restored_state {
	int fd;
	char name[FDNAME_MAX];
};

static void
hex_encode(const char *s, char *out, size_t cap)
{
	size_t n = 0;

	for (; *s != '\0' && n + 3 <= cap; s++, n += 2)
		snprintf(out + n, 3, "%02x", (unsigned char)*s);
	out[n] = '\0';
}

static int
hex_decode(const char *hex, char *out, size_t cap)
{
	size_t len = strlen(hex);

	if (len % 2 != 0 || len / 2 >= cap)
		return -1;
	for (size_t i = 0; i < len / 2; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (char)v;
	}
	out[len / 2] = '\0';
	return 0;
}

static void
restore_fdname(const struct region *g, char out[FDNAME_MAX])
{
	char name[2 * REGION_KEY_MAX + 1], tenant[2 * TENANT_NAME_MAX + 1];
	char group[16];

	hex_encode(g->name, name, sizeof(name));
	if (g->usage != NULL)
		hex_encode(g->usage->name, tenant, sizeof(tenant));
	else
		snprintf(tenant, sizeof(tenant), "-");
	if (g->has_group)
		snprintf(group, sizeof(group), "%u", (unsigned)g->group);
	else
		snprintf(group, sizeof(group), "-");
	snprintf(out, FDNAME_MAX, "r.%u.%d.%o.%u.%s.%s.%s", g->size_pages,
	    (int)g->origin, (unsigned)g->mode, (unsigned)g->owner_uid, group,
	    name, tenant);
}

void
restore_store_region(struct broker *b, struct region *g)
{
	char name[FDNAME_MAX], msg[FDNAME_MAX + 32];
	bool borrowed = g->mem.fd < 0;
	int fd;

	if (!b->cfg.fd_store)
		return;
	fd = borrowed ? fdstash_get(b->stash, g->mem.stash) : g->mem.fd;
	if (fd < 0) {
		log_warn(&b->log, "region %s: not kept for restarts: its memfd "
		    "is out of reach (%s)", g->name, strerror(-fd));
		return;
	}
	restore_fdname(g, name);
	snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", name);
	if (sd_pid_notify_with_fds(0, 0, msg, &fd, 1) <= 0)
		log_warn(&b->log, "region %s: systemd did not take its memfd "
		    "into the fd store", g->name);
	else
		g->stored = true;
	if (borrowed)
		close(fd);
}

void
restore_forget_region(struct broker *b, const struct region *g)
{
	char name[FDNAME_MAX];

	/* Whatever fd_store says now: a stored entry must not outlive its
	 * region. At shutdown the regions stay in the store, which is the
	 * point of it. */
	if (!g->stored || b->stopping)
		return;
	restore_fdname(g, name);
	sd_notifyf(0, "FDSTOREREMOVE=1\nFDNAME=%s", name);
}

static void
restore_state_fdname(const struct region *g, char out[FDNAME_MAX])
{
	char name[2 * REGION_KEY_MAX + 1];

	hex_encode(g->name, name, sizeof(name));
	snprintf(out, FDNAME_MAX, "s.%s", name);
}

void
restore_store_state(struct broker *b, struct region *g)
{
	char name[FDNAME_MAX], msg[FDNAME_MAX + 32];

	if (!b->cfg.fd_store || g->state.fd < 0)
		return;
	restore_state_fdname(g, name);
	snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", name);
	if (sd_pid_notify_with_fds(0, 0, msg, &g->state.fd, 1) <= 0)
		log_warn(&b->log, "region %s: systemd did not take its state "
		    "page into the fd store", g->name);
	else
		g->state_stored = true;
}

void
restore_forget_state(struct broker *b, struct region *g)
{
	char name[FDNAME_MAX];

	if (!g->state_stored || b->stopping)
		return;
	restore_state_fdname(g, name);
	sd_notifyf(0, "FDSTOREREMOVE=1\nFDNAME=%s", name);
	g->state_stored = false;
}

/* A state page waits for the end of the restore: its region may come
 * later in the list. */
static bool
restore_take_state(struct broker *b, int fd, const char *fdname)
{
	struct restored_state *v;

	v = realloc(b->states, (b->nstates + 1) * sizeof(*v));
	if (v == NULL) {
		log_warn(&b->log, "fd store: dropping %s: out of memory",
		    fdname);
		close(fd);
		return true;
	}
	b->states = v;
	v[b->nstates].fd = fd;
	snprintf(v[b->nstates].name, FDNAME_MAX, "%s", fdname);
	b->nstates++;
	return true;
}

/* Gives each stored state page to its region, or drops it. */
static void
restore_match_states(struct broker *b)
{
	for (size_t i = 0; i < b->nstates; i++) {
		struct restored_state *rs = &b->states[i];
		char key[REGION_KEY_MAX];
		struct region *g = NULL;

		if (hex_decode(rs->name + 2, key, sizeof(key)) == 0)
			g = registry_find(&b->reg, key);
		if (g != NULL && g->state.fd < 0 &&
		    statepage_adopt(&g->state, rs->fd) == 0) {
			g->state_stored = true;
			/* Every word waits for its own client's re-claim. */
			g->reclaim_pending = 0xffff;
			continue;
		}
		log_warn(&b->log, "fd store: dropping %s: no restored region "
		    "has this state page", rs->name);
		sd_notifyf(0, "FDSTOREREMOVE=1\nFDNAME=%s", rs->name);
		close(rs->fd);
	}
	free(b->states);
	b->states = NULL;
	b->nstates = 0;
}

/* The fields of an fd store name; -1 when it is not one of ours. */
static int
restore_parse(const char *fdname, struct config_region *cr, int *origin,
    uid_t *owner, char *tenant, size_t tenant_cap)
{
	char copy[FDNAME_MAX], *f[8], *save = NULL, *p;
	unsigned pages, mode, uid, group;
	int n = 0;

	snprintf(copy, sizeof(copy), "%s", fdname);
	for (p = strtok_r(copy, ".", &save); p != NULL && n < 8;
	    p = strtok_r(NULL, ".", &save))
		f[n++] = p;
	if (n != 8 || strcmp(f[0], "r") != 0 ||
	    sscanf(f[1], "%u", &pages) != 1 || sscanf(f[2], "%d", origin) != 1 ||
	    sscanf(f[3], "%o", &mode) != 1 || sscanf(f[4], "%u", &uid) != 1 ||
	    hex_decode(f[6], cr->name, sizeof(cr->name)) < 0 ||
	    registry_check_key(cr->name) != GSS_OK || pages == 0 ||
	    *origin < ORIGIN_GUEST || *origin > ORIGIN_CONFIG)
		return -1;
	cr->size_pages = pages;
	cr->mode = (uint16_t)(mode & 0777);
	cr->has_group = sscanf(f[5], "%u", &group) == 1;
	cr->group = cr->has_group ? group : 0;
	*owner = uid;
	tenant[0] = '\0';
	return strcmp(f[7], "-") == 0 ? 0 :
	    hex_decode(f[7], tenant, tenant_cap);
}

/* A region rebuilt from a stored memfd; false when fd is not one. */
bool
restore_take_fd(struct broker *b, int fd, const char *fdname)
{
	struct config_region cr;
	struct region_mem mem = { .fd = fd };
	char tenant[TENANT_NAME_MAX];
	struct statfs sfs;
	struct stat st;
	struct region *g;
	uid_t owner;
	int origin;

	if (strncmp(fdname, "s.", 2) == 0)
		return restore_take_state(b, fd, fdname);
	if (strncmp(fdname, "r.", 2) != 0)
		return false;
	if (restore_parse(fdname, &cr, &origin, &owner, tenant,
	    sizeof(tenant)) < 0 ||
	    fstat(fd, &st) < 0 || fstatfs(fd, &sfs) < 0 ||
	    (uint64_t)st.st_size < (uint64_t)cr.size_pages * REGION_PAGE_SIZE ||
	    registry_find(&b->reg, cr.name) != NULL) {
		log_warn(&b->log, "fd store: dropping %s: not a region this "
		    "daemon can restore", fdname);
		sd_notifyf(0, "FDSTOREREMOVE=1\nFDNAME=%s", fdname);
		close(fd);
		return true;
	}
	mem.bytes = (uint64_t)st.st_size;
	mem.backing = sfs.f_type == HUGETLBFS_MAGIC ? BACKING_HUGETLB :
	    BACKING_SHMEM;
	g = registry_add_region(&b->reg, cr.name, cr.size_pages, &mem,
	    (enum region_origin)origin, broker_now_ms());
	if (g == NULL) {
		close(fd);
		return true;
	}
	g->owner_uid = owner;
	g->mode = cr.mode;
	g->has_group = cr.has_group;
	g->group = cr.group;
	g->awaiting_reclaim = g->origin == ORIGIN_GUEST;
	g->stored = true;
	policy_charge_region(b, g, tenant[0] ? policy_usage(b, tenant) : NULL);
	b->local_fds++;
	b->restored++;
	log_info(&b->log, "region %s restored from the fd store (%u pages, "
	    "%s)", g->name, g->size_pages, mem.backing == BACKING_HUGETLB ?
	    "hugetlb" : "shmem");
	return true;
}

/* Guest regions nobody came back for are removed like any guest region
 * whose last client left. */
static void
restore_grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;
	struct region *g, *next;

	(void)fd;
	(void)what;
	for (g = TAILQ_FIRST(&b->reg.regions); g != NULL; g = next) {
		next = TAILQ_NEXT(g, entry);
		/* Bits kept for clients that did not come back: nobody reads
		 * them now, and the page costs a descriptor. */
		if (g->nclients == 0 && g->state.fd >= 0) {
			restore_forget_state(b, g);
			statepage_free(&g->state);
		}
		g->reclaim_pending = 0;
		if (!g->awaiting_reclaim)
			continue;
		g->awaiting_reclaim = false;
		if (g->nclients > 0)
			continue;
		log_info(&b->log, "region %s: no client came back after the "
		    "restart; removed", g->name);
		admin_event(b, "destroy", g, -1, 0);
		vmm_remove_region(b, g);
		b->stats.regions_destroyed++;
	}
}

int
restore_finish(struct broker *b)
{
	struct timeval tv = { RESTORE_GRACE_S, 0 };

	restore_match_states(b);
	if (b->restored == 0)
		return 0;
	log_notice(&b->log, "%llu regions restored from the fd store; guest "
	    "regions wait %d s for their clients", (unsigned long long)
	    b->restored, RESTORE_GRACE_S);
	vmm_park_memfds(b);
	b->ev_grace = evtimer_new(b->base, restore_grace_cb, b);
	return b->ev_grace != NULL ? evtimer_add(b->ev_grace, &tv) : -1;
}
