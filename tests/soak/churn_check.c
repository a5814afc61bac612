/* SPDX-License-Identifier: ISC */
/*
 * churn_check: the churn's end checks. While the live workers hold what
 * they hold: the daemon's clients are exactly theirs (pid, region, index),
 * every worker's view of each region's membership (its active mask, after
 * a round trip) is the daemon's, and every region still carries its
 * pattern. Once they are gone: no client is left, no guest region either
 * (a guest region that a daemon restart brought back and nobody claimed
 * is found once, its data checked, and let go, which removes it), the
 * admin regions are all there, no connection was dropped for not reading
 * its events, and the daemon's descriptors and memory are back where
 * they started.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "churn.h"
#include "churn_view.h"
#include "procfds.h"
#include "shmclient_admin.h"
#include "testutil.h"

#define SETTLE_MS	10000	/* the daemon reaps closed connections */
#define SYNC_MS		30000
#define SHOW_DIFFS	8

/* A client as (pid, region, index), from either side. */
struct key {
	pid_t pid;
	uint32_t index;
	char region[64];
};

static int
key_cmp(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	int c = strcmp(x->region, y->region);

	if (c != 0)
		return c;
	if (x->index != y->index)
		return x->index < y->index ? -1 : 1;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

void
churn_err(struct churn *ch, const char *fmt, ...)
{
	va_list ap;

	ch->nerr++;
	fputs("FAIL: ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* What the workers hold, sorted; n gets the count. */
static struct key *
held_keys(struct churn *ch, const struct churn_worker_end *w, size_t nw,
    size_t *n)
{
	struct key *k = calloc(CHURN_MAX_WORKERS * CHURN_HOLD + 1, sizeof(*k));

	*n = 0;
	if (k == NULL)
		return NULL;
	for (size_t i = 0; i < nw; i++)
		for (uint32_t j = 0; j < w[i].rep.n; j++) {
			const struct churn_held *h = &w[i].rep.held[j];

			k[*n].pid = w[i].pid;
			k[*n].index = h->index;
			churn_region_name(ch->o, h->region, k[*n].region,
			    sizeof(k[*n].region));
			if (!h->same_memory)
				churn_err(ch, "pid %d holds region %s as "
				    "other memory than it first mapped",
				    (int)w[i].pid, k[*n].region);
			(*n)++;
		}
	qsort(k, *n, sizeof(*k), key_cmp);
	return k;
}

static struct key *
daemon_keys(const struct churn_view *v)
{
	struct key *k = calloc(v->nclients + 1, sizeof(*k));

	if (k == NULL)
		return NULL;
	for (size_t i = 0; i < v->nclients; i++) {
		k[i].pid = v->clients[i].pid;
		k[i].index = v->clients[i].index;
		snprintf(k[i].region, sizeof(k[i].region), "%s",
		    v->clients[i].region);
	}
	qsort(k, v->nclients, sizeof(*k), key_cmp);
	return k;
}

/* The first differences of two sorted lists, printed. */
static void
show_diffs(const struct key *a, size_t na, const struct key *b, size_t nb)
{
	size_t i = 0, j = 0;
	int shown = 0;

	while ((i < na || j < nb) && shown < SHOW_DIFFS) {
		int c = i == na ? 1 : j == nb ? -1 : key_cmp(&a[i], &b[j]);

		if (c == 0) {
			i++, j++;
			continue;
		}
		if (c < 0)
			printf("  held by pid %d, not in the daemon: %s "
			    "index %u\n", (int)a[i].pid, a[i].region,
			    a[i].index), i++;
		else
			printf("  in the daemon, held by no live worker: "
			    "%s index %u (pid %d)\n", b[j].region, b[j].index,
			    (int)b[j].pid), j++;
		shown++;
	}
}

/* The regions the view lists with clients. */
static size_t
regions_held(const struct churn_view *v)
{
	size_t n = 0;

	for (size_t i = 0; i < v->nregions; i++)
		n += v->regions[i].clients > 0;
	return n;
}

/* Whether the view's two lists (regions first, then clients) agree: a
 * connection the daemon reaped between the two reads makes them differ. */
static bool
view_consistent(const struct churn_view *v)
{
	for (size_t i = 0; i < v->nregions; i++) {
		uint32_t active = 0, n = 0;

		for (size_t j = 0; j < v->nclients; j++)
			if (strcmp(v->clients[j].region, v->regions[i].name) ==
			    0) {
				active |= 1u << v->clients[j].index;
				n++;
			}
		if (active != v->regions[i].active ||
		    n != v->regions[i].clients)
			return false;
	}
	return true;
}

/* Waits until the daemon's clients are exactly the workers'. */
static int
check_clients_match(struct churn *ch, const struct churn_worker_end *w,
    size_t nw, struct churn_view *v)
{
	int64_t deadline = harness_now_ms() + SETTLE_MS;
	size_t nh;
	struct key *held = held_keys(ch, w, nw, &nh), *dk = NULL;
	bool same = false;

	while (held != NULL && !same) {
		free(dk);
		dk = NULL;
		if (churn_view_read(ch, v) < 0 ||
		    (dk = daemon_keys(v)) == NULL)
			break;
		same = nh == v->nclients && view_consistent(v);
		for (size_t i = 0; same && i < nh; i++)
			same = key_cmp(&held[i], &dk[i]) == 0;
		if (same || harness_now_ms() > deadline)
			break;
		harness_sleep_ms(50);
	}
	if (!same && dk != NULL) {
		churn_err(ch, "the daemon lists %zu clients, the live workers "
		    "hold %zu, or not the same ones:", v->nclients, nh);
		show_diffs(held, nh, dk, v->nclients);
	}
	ch->fig.end_clients = (unsigned)nh;
	free(held);
	free(dk);
	return same ? 0 : -1;
}

/* Each worker's active masks after a round trip, against the daemon's;
 * the regions whose pattern a worker saw in its mapping, counted. */
static int
check_masks(struct churn *ch, struct churn_worker_end *w, size_t nw,
    const struct churn_view *v)
{
	bool marked[CHURN_MAX_REGIONS] = { false };
	int cmd = CHURN_SYNC;
	char name[32];

	for (size_t i = 0; i < nw; i++) {
		struct pollfd p = { .fd = w[i].ctl, .events = POLLIN };

		if (send(w[i].ctl, &cmd, sizeof(cmd), MSG_NOSIGNAL) !=
		    sizeof(cmd) || poll(&p, 1, SYNC_MS) != 1 ||
		    recv(w[i].ctl, &w[i].rep, sizeof(w[i].rep), 0) !=
		    (ssize_t)sizeof(w[i].rep)) {
			churn_err(ch, "worker pid %d did not sync",
			    (int)w[i].pid);
			return -1;
		}
		for (uint32_t j = 0; j < w[i].rep.n; j++) {
			const struct churn_held *h = &w[i].rep.held[j];
			const struct churn_view_region *g;

			churn_region_name(ch->o, h->region, name, sizeof(name));
			g = churn_view_region(v, name);
			if (g == NULL || g->active != h->active)
				churn_err(ch, "pid %d sees region %s with "
				    "members 0x%x, the daemon 0x%x",
				    (int)w[i].pid, name, h->active,
				    g != NULL ? g->active : 0);
			marked[h->region] |= h->marked;
		}
	}
	for (uint32_t g = 0; g < CHURN_MAX_REGIONS; g++)
		ch->fig.marked += marked[g];
	return 0;
}

int
churn_check_holdings(struct churn *ch, struct churn_worker_end *w,
    size_t nw)
{
	struct churn_view *v = malloc(sizeof(*v));
	unsigned before = ch->nerr;

	if (v == NULL)
		return -1;
	if (check_clients_match(ch, w, nw, v) == 0)
		check_masks(ch, w, nw, v);
	ch->fig.end_regions = (unsigned)regions_held(v);
	free(v);
	return ch->nerr == before ? 0 : -1;
}

/* The region number of name, or -1 for a name not of the run. */
static int
region_number(const struct churn_opts *o, const char *name)
{
	char n[32];

	for (uint32_t g = 0; g < o->admin_regions + o->guest_regions; g++) {
		churn_region_name(o, g, n, sizeof(n));
		if (strcmp(n, name) == 0)
			return (int)g;
	}
	return -1;
}

/* No client left (the daemon reaps closed connections by itself), by the
 * list of regions, which is read first, and by that of clients. */
static int
check_no_clients(struct churn *ch, struct churn_view *v)
{
	int64_t deadline = harness_now_ms() + SETTLE_MS;

	while (churn_view_read(ch, v) == 0) {
		if (v->nclients == 0 && regions_held(v) == 0)
			return 0;
		if (harness_now_ms() > deadline) {
			churn_err(ch, "%zu clients left after every worker "
			    "exited (first: %s index %u, pid %d)", v->nclients,
			    v->nclients ? v->clients[0].region : "?",
			    v->nclients ? v->clients[0].index : 0,
			    v->nclients ? (int)v->clients[0].pid : 0);
			return -1;
		}
		harness_sleep_ms(50);
	}
	return -1;
}

/*
 * Guest regions live while they have clients. The exception: those a
 * daemon restart brought back from the fd store stay for its grace
 * period, for every client they had (daemon/restore.c). Each such region
 * must be one of the run's, and keep its data (a find checks it). *out
 * gets how many there are.
 */
static void
check_lingering(struct churn *ch, const struct churn_view *v, unsigned *out)
{
	bool restarted = atomic_load(&ch->sh->daemon_killed);
	struct shmc *c = NULL;

	*out = 0;
	for (size_t i = 0; i < v->nregions; i++) {
		const struct churn_view_region *g = &v->regions[i];
		int n = region_number(ch->o, g->name);

		if (g->admin)
			continue;
		if (!restarted || n < 0) {
			churn_err(ch, "guest region %s outlived its clients",
			    g->name);
			continue;
		}
		if (c == NULL && (c = churn_vmm_connect(ch)) == NULL)
			return;
		if (churn_region_data(ch, c, (uint32_t)n, false) >= 0)
			(*out)++;
	}
	if (c != NULL)
		shmc_close(c);
}

/* Waits for the end of the restarted daemon's grace period, when the
 * restored guest regions nobody holds go. */
static void
wait_grace(struct churn *ch, struct churn_view *v)
{
	int64_t back = atomic_load(&ch->sh->kill_ms) + ch->fig.daemon_down_ms;
	int64_t deadline = back + CHURN_GRACE_MS + SETTLE_MS;
	size_t guest;

	do {
		harness_sleep_ms(200);
		if (churn_view_read(ch, v) < 0)
			return;
		guest = 0;
		for (size_t i = 0; i < v->nregions; i++)
			guest += !v->regions[i].admin;
	} while (guest > 0 && harness_now_ms() < deadline);
	ch->fig.grace_waited_ms = harness_now_ms() - back;
	if (guest > 0)
		churn_err(ch, "%zu restored guest regions without clients are "
		    "still there %lld ms after the restart", guest,
		    (long long)ch->fig.grace_waited_ms);
}

/* Exactly the run's admin regions, each with its size and its data, and
 * the lingering ones. */
static void
check_admin_regions(struct churn *ch, const struct churn_view *v,
    unsigned lingering)
{
	struct shmc *c = churn_vmm_connect(ch);
	char name[32];

	for (uint32_t g = 0; g < ch->o->admin_regions; g++) {
		const struct churn_view_region *r;

		churn_region_name(ch->o, g, name, sizeof(name));
		r = churn_view_region(v, name);
		if (r == NULL || !r->admin ||
		    r->size_pages != churn_region_pages(ch->o, g))
			churn_err(ch, "admin region %s %s", name, r == NULL ?
			    "is gone" : "is not the one the admin made");
		else if (c != NULL && churn_region_data(ch, c, g, false) == 0)
			churn_err(ch, "admin region %s lost its pattern", name);
	}
	if (c != NULL)
		shmc_close(c);
	if (v->nregions != ch->o->admin_regions + lingering)
		churn_err(ch, "%zu regions at the end, not the %u of the admin "
		    "and %u restored ones", v->nregions, ch->o->admin_regions,
		    lingering);
}

static void
check_stats(struct churn *ch)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminStats st = SHMBROKER__ADMIN_STATS__INIT;
	Shmbroker__ServerMessage *m;

	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_STATS;
	req.admin_stats = &st;
	if (shmc_call(ch->adm, &req, &m) < 0) {
		churn_err(ch, "admin stats: %s", shmc_error(ch->adm));
		return;
	}
	if (m->body_case != SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_STATS) {
		churn_err(ch, "admin stats refused: %s", m->message);
		shmbroker__server_message__free_unpacked(m, NULL);
		return;
	}
	if (m->admin_stats->events_dropped_connections != 0)
		churn_err(ch, "the daemon dropped %llu connections that did "
		    "not read their events", (unsigned long long)
		    m->admin_stats->events_dropped_connections);
	/* A re-claim moves only when a new attach had to take its index
	 * (members.c), which the daemon counts. */
	ch->fig.kept_given = m->admin_stats->kept_indices_given;
	if (atomic_load(&ch->sh->count[CC_MOVED_INDEX]) > ch->fig.kept_given)
		churn_err(ch, "%llu re-claims moved to another index, but the "
		    "daemon gave only %llu kept indices to new attaches",
		    (unsigned long long)atomic_load(
		    &ch->sh->count[CC_MOVED_INDEX]),
		    (unsigned long long)ch->fig.kept_given);
	shmbroker__server_message__free_unpacked(m, NULL);
}

/* Whether every region memfd name of before is in after. */
static bool
names_kept(const struct procfds *before, const struct procfds *after)
{
	for (size_t i = 0; i < before->nnames; i++) {
		bool found = false;

		for (size_t j = 0; j < after->nnames && !found; j++)
			found = strcmp(before->names[i], after->names[j]) == 0;
		if (!found)
			return false;
	}
	return true;
}

/* The daemon's descriptors now in *after, less what a restart's grace
 * period keeps (counted in ch's figures): 1 when they are as before, 0
 * when not, -1 when they cannot be read. */
static int
fds_as_before(struct churn *ch, const struct procfds *before,
    unsigned lingering, struct procfds *after)
{
	int kept;

	if (procfds_read(ch->daemon_pid, after) < 0)
		return -1;
	ch->fig.fds_after = after->total;
	ch->fig.state_kept = 0;
	kept = after->n[PF_STATE] - before->n[PF_STATE];
	if (atomic_load(&ch->sh->daemon_killed) && kept > 0 &&
	    kept <= after->n[PF_REGION]) {
		ch->fig.state_kept = (unsigned)kept;
		after->n[PF_STATE] -= kept;
		after->total -= kept;
	}
	after->n[PF_REGION] -= (int)lingering;
	after->total -= (int)lingering;
	return memcmp(after->n, before->n, sizeof(after->n)) == 0 &&
	    names_kept(before, after) ? 1 : 0;
}

/*
 * The daemon's descriptors kind by kind as at the start, but for what a
 * restart's grace period keeps: the memfds of the lingering regions, and
 * the state pages of restored regions (kept for their clients' re-claims),
 * at most one a region. Those are counted, then left out. A connection
 * whose peer is gone may outlive it by one of the daemon's timers (a
 * drain's sweep, a waiting send's retry: up to a second), so the count is
 * given FDS_SETTLE_MS to come back, and must then be exact.
 */
#define FDS_SETTLE_MS 3000

static void
check_fds(struct churn *ch, const struct procfds *before, unsigned lingering)
{
	int64_t deadline = harness_now_ms() + FDS_SETTLE_MS;
	struct procfds after;
	char b[160], a[160];
	int same;

	harness_settled_fd_count(ch->daemon_pid);
	while ((same = fds_as_before(ch, before, lingering, &after)) == 0 &&
	    harness_now_ms() < deadline)
		harness_sleep_ms(100);
	if (same == 1)
		return;
	if (same < 0) {
		churn_err(ch, "cannot read the daemon's descriptors");
		return;
	}
	procfds_format(before, b, sizeof(b));
	procfds_format(&after, a, sizeof(a));
	churn_err(ch, "the daemon's descriptors: %s before, %s after (less %u "
	    "lingering regions and %u state pages)", b, a, lingering,
	    ch->fig.state_kept);
}

int
churn_check_after(struct churn *ch, const struct procfds *fds_before,
    long rss_before)
{
	struct churn_view *v = malloc(sizeof(*v));
	unsigned before = ch->nerr, lingering = 0;

	if (v == NULL)
		return -1;
	if (check_no_clients(ch, v) == 0) {
		check_lingering(ch, v, &lingering);
		ch->fig.lingering = lingering;
		if (lingering > 0 && ch->o->wait_grace) {
			wait_grace(ch, v);
			lingering = 0;
		}
		if (churn_view_read(ch, v) == 0)
			check_admin_regions(ch, v, lingering);
	}
	free(v);
	check_stats(ch);
	check_fds(ch, fds_before, lingering);
	ch->fig.rss_after = harness_rss_kib(ch->daemon_pid);
	if (ch->fig.rss_after < 0 ||
	    ch->fig.rss_after > rss_before + ch->o->rss_slack_kib)
		churn_err(ch, "the daemon's RSS is %ld KiB, %ld at the start "
		    "(allowed: %ld more)", ch->fig.rss_after, rss_before,
		    ch->o->rss_slack_kib);
	return ch->nerr == before ? 0 : -1;
}
