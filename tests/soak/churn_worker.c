/* SPDX-License-Identifier: ISC */
/*
 * churn_worker: one life of a churn worker, a VMM process of the soak.
 * It connects to the daemon's VMM socket and does random operations until
 * its life's count or the run's budget runs out: attach (create or find,
 * half of them claiming the eventfd as a VMM that binds it as an irqfd
 * does), notify, status, detach, reading its events after each. Every
 * result is checked against what the library and the daemon promise; the
 * first page of each region carries its pattern, written by its creator
 * and checked by every later attach. After a reconnect (the daemon was
 * SIGKILLed) every attachment must be back, on the same memory, at its
 * old index unless an attach that was under way could have taken it.
 * A failure is written to the shared block and ends the process with 2.
 *
 * A life that ends with the run reports what it holds to the parent and
 * waits for its commands; any other life ends one of three ways at
 * random: detaching everything first, closing its connection, or just
 * exiting.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "churn.h"
#include "testutil.h"

#define WORKER_CTL	3
#define CONNECT_MS	30000	/* a daemon that systemd is still starting */
#define HOT_PCT		10	/* attaches aimed at the two hot regions */
#define ALL_OTHERS	0xffffffffu

struct wk_att {
	bool used;
	uint64_t id;
	uint32_t region;
	uint32_t index;
	uint8_t *map;		/* the region's first page */
	int efd;		/* claimed eventfd, else -1 */
};

struct worker {
	const struct churn_opts *o;
	struct churn_shared *sh;
	const struct churn_life *life;
	struct shmc *c;
	struct wk_att att[CHURN_HOLD];
	uint64_t rng;
	unsigned reconnects;
};

static uint64_t
wk_rand(struct worker *w)
{
	return churn_rand(&w->rng);
}

static uint32_t
wk_below(struct worker *w, uint32_t n)
{
	return (uint32_t)(wk_rand(w) % n);
}

static void __attribute__((noreturn, format(printf, 2, 3)))
wk_die(struct worker *w, const char *fmt, ...)
{
	char msg[CHURN_FAIL_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	churn_fail(w->sh, "worker %u (pid %d): %s", w->life->slot,
	    (int)getpid(), msg);
	_exit(2);
}

static void
wk_count(struct worker *w, enum churn_counter k)
{
	atomic_fetch_add(&w->sh->count[k], 1);
}

static unsigned
wk_held(const struct worker *w)
{
	unsigned n = 0;

	for (unsigned i = 0; i < CHURN_HOLD; i++)
		n += w->att[i].used;
	return n;
}

/* A random attachment held (there is one). */
static struct wk_att *
wk_pick(struct worker *w)
{
	unsigned k = wk_below(w, wk_held(w));

	for (unsigned i = 0; i < CHURN_HOLD; i++)
		if (w->att[i].used && k-- == 0)
			return &w->att[i];
	wk_die(w, "no attachment to pick");
}

static struct wk_att *
wk_by_id(struct worker *w, uint64_t id)
{
	for (unsigned i = 0; i < CHURN_HOLD; i++)
		if (w->att[i].used && w->att[i].id == id)
			return &w->att[i];
	return NULL;
}

static void
wk_event(const struct shmc_event *ev, void *arg)
{
	struct worker *w = arg;
	struct wk_att *a;
	uint32_t idx;
	bool same;

	switch (ev->kind) {
	case SHMC_EVENT_PEER_ATTACHED:
	case SHMC_EVENT_PEER_DETACHED:
		wk_count(w, CC_EV_PEER);
		return;
	case SHMC_EVENT_NOTIFICATION:
		wk_count(w, CC_EV_NOTIFY);
		return;
	case SHMC_EVENT_EVENTFD_CHANGED:
		if ((a = wk_by_id(w, ev->client_id)) == NULL || a->efd < 0 ||
		    a->efd != ev->old_eventfd)
			wk_die(w, "EVENTFD_CHANGED for client %llu from "
			    "eventfd %d to %d, which it did not claim (%s, "
			    "eventfd %d)",
			    (unsigned long long)ev->client_id, ev->old_eventfd,
			    ev->eventfd, a == NULL ? "no such attachment" :
			    "claimed", a != NULL ? a->efd : -1);
		a->efd = ev->eventfd;
		wk_count(w, CC_EV_EVENTFD);
		return;
	case SHMC_EVENT_REVOKED:
		/* Nobody revokes here: only a re-claim that lost the
		 * attachment says this, which wk_lost judges. */
		if ((a = wk_by_id(w, ev->client_id)) == NULL ||
		    shmc_attachment_info(w->c, a->id, &idx, &same) == 0)
			wk_die(w, "REVOKED for client %llu, which the library "
			    "has not lost", (unsigned long long)ev->client_id);
		return;
	default:
		wk_die(w, "unexpected event %d for client %llu (nobody "
		    "revokes or watches here)", (int)ev->kind,
		    (unsigned long long)ev->client_id);
	}
}

/* The index of a held attachment now; dies when the library lost it. */
static uint32_t
wk_index(struct worker *w, const struct wk_att *a, bool *same)
{
	uint32_t idx;

	if (shmc_attachment_info(w->c, a->id, &idx, same) != 0)
		wk_die(w, "client %llu of region %u is lost: %s",
		    (unsigned long long)a->id, a->region, shmc_error(w->c));
	return idx;
}

static void
wk_check_pattern(struct worker *w, const struct wk_att *a, bool count)
{
	int rc = churn_pattern_check(a->map, a->region);

	if (rc < 0)
		wk_die(w, "region %u (client %llu at index %u) does not hold "
		    "its pattern", a->region, (unsigned long long)a->id,
		    a->index);
	if (rc > 0 && count)
		wk_count(w, CC_DATA_CHECKED);
}

/* Whether an attach to region g was begun and not over when the daemon
 * died, or began after: only such an attach could have reached the new
 * daemon before a re-claim, and taken its index or the region's last
 * free one. */
static bool
wk_attach_raced(const struct worker *w, uint32_t g)
{
	return atomic_load(&w->sh->attach_begun[g]) > w->sh->ended_at_kill[g];
}

/* A re-claim the library gave up on, as the call on it (rc) said: only a
 * region filled meanwhile by attaches that raced the re-claim may cost
 * one. */
static void
wk_check_lost(struct worker *w, uint64_t id, uint32_t g, int rc)
{
	if (rc != -ENOENT || strstr(shmc_error(w->c), "GSS_CLIENT_MAX") ==
	    NULL || !wk_attach_raced(w, g))
		wk_die(w, "client %llu of region %u was lost at the re-claim: "
		    "%d %s", (unsigned long long)id, g, rc, shmc_error(w->c));
	wk_count(w, CC_LOST_FULL);
}

/* The library keeps a lost attachment (-ENOENT on every call) until its
 * detach. */
static void
wk_lost(struct worker *w, struct wk_att *a)
{
	uint32_t st;

	wk_check_lost(w, a->id, a->region, shmc_read_status(w->c, a->id, &st));
	munmap(a->map, CHURN_PAGE);
	shmc_detach(w->c, a->id);
	a->used = false;
}

/*
 * After a reconnect: each attachment is back on the same memory with its
 * data, at its old index unless an attach raced its re-claim.
 */
static void
wk_after_reconnect(struct worker *w)
{
	struct churn_shared *sh = w->sh;

	if (!atomic_load(&sh->daemon_killed))
		wk_die(w, "reconnected, but nobody killed the daemon: %s",
		    shmc_error(w->c));
	wk_count(w, CC_RECONNECTS);
	for (unsigned i = 0; i < CHURN_HOLD; i++) {
		struct wk_att *a = &w->att[i];
		bool same;
		uint32_t idx;

		if (!a->used)
			continue;
		if (shmc_attachment_info(w->c, a->id, &idx, &same) != 0) {
			wk_lost(w, a);
			continue;
		}
		if (!same)
			wk_die(w, "region %u came back as other memory",
			    a->region);
		wk_check_pattern(w, a, false);
		if (idx == a->index) {
			wk_count(w, CC_KEPT_INDEX);
			continue;
		}
		if (!wk_attach_raced(w, a->region))
			wk_die(w, "region %u: re-claimed at index %u, not its "
			    "%u, though no attach could have taken that",
			    a->region, idx, a->index);
		wk_count(w, CC_MOVED_INDEX);
		a->index = idx;
	}
}

/* Reads the events waiting; then notices a reconnect any call made. */
static void
wk_settle(struct worker *w)
{
	int rc = shmc_dispatch(w->c, wk_event, w);

	/* While the daemon restarts dispatch tries once and says so (the
	 * event fd wakes it for the next try); the next call waits for the
	 * daemon, and fails if it does not come. Anything else is a bug. */
	if (rc < 0 && rc != -ECONNREFUSED && rc != -ENOENT &&
	    rc != -ETIMEDOUT && rc != -ECONNRESET && rc != -EPIPE)
		wk_die(w, "shmc_dispatch: %s", shmc_error(w->c));
	if (shmc_reconnects(w->c) != w->reconnects) {
		w->reconnects = shmc_reconnects(w->c);
		wk_after_reconnect(w);
	}
}

static uint32_t
wk_pick_region(struct worker *w)
{
	const struct churn_opts *o = w->o;

	if (wk_below(w, 100) < HOT_PCT)
		return wk_below(w, 2) ? 0 : o->admin_regions;
	return wk_below(w, o->admin_regions + o->guest_regions);
}

/* The outcomes an attach may have besides GSS_OK: a full region, and a
 * find of a guest region that nobody holds. */
static void
wk_attach_refused(struct worker *w, uint32_t g, bool create, int rc)
{
	if (rc == SHMC_GSS_CLIENT_MAX) {
		wk_count(w, CC_CLIENT_MAX);
		return;
	}
	if (rc == SHMC_GSS_DOES_NOT_EXIST && !create &&
	    !churn_region_is_admin(w->o, g)) {
		wk_count(w, CC_NOT_FOUND);
		return;
	}
	if (rc == SHMC_GSS_DOES_NOT_EXIST && churn_region_is_admin(w->o, g))
		wk_die(w, "admin region %u does not exist", g);
	wk_die(w, "attach to region %u (create %d): %d: %s", g, create, rc,
	    rc < 0 ? shmc_error(w->c) : "unexpected guest status");
}

/* What the attach got: mapped, its pattern written or checked. */
static void
wk_attached(struct worker *w, struct wk_att *a, uint32_t g,
    const struct shmc_region *r, int efd)
{
	void *p = mmap(NULL, CHURN_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
	    r->fd, 0);

	if (p == MAP_FAILED)
		wk_die(w, "mmap of region %u: %s", g, strerror(errno));
	close(r->fd);
	*a = (struct wk_att){ .used = true, .id = r->client_id, .region = g,
	    .index = r->index, .map = p, .efd = efd };
	if (!(r->active_mask & (1u << r->index)))
		wk_die(w, "attached to region %u at index %u, which its "
		    "active mask 0x%x lacks", g, r->index, r->active_mask);
	if (r->created) {
		if (churn_region_is_admin(w->o, g))
			wk_die(w, "a VMM created admin region %u", g);
		churn_pattern_fill(a->map, g);
		wk_count(w, CC_CREATED);
		return;
	}
	wk_check_pattern(w, a, true);
}

static void
wk_attach(struct worker *w)
{
	struct churn_shared *sh = w->sh;
	uint32_t g = wk_pick_region(w);
	bool admin = churn_region_is_admin(w->o, g);
	bool create = admin ? wk_below(w, 2) : wk_below(w, 5) != 0;
	bool claim = wk_below(w, 2);
	struct shmc_region r;
	struct wk_att *a = NULL;
	char name[32];
	int rc, efd = -1;

	for (unsigned i = 0; i < CHURN_HOLD && a == NULL; i++)
		if (!w->att[i].used)
			a = &w->att[i];
	churn_region_name(w->o, g, name, sizeof(name));
	atomic_fetch_add(&sh->attach_begun[g], 1);
	if (claim)
		rc = shmc_attach_claim(w->c, name, strlen(name) + 1,
		    churn_region_pages(w->o, g), create, &r, &efd);
	else
		rc = shmc_attach(w->c, name, churn_region_pages(w->o, g),
		    create, &r);
	atomic_fetch_add(&sh->attach_ended[g], 1);
	/* Kept before the events are read: an attach the old daemon
	 * answered just before it died is re-claimed by the next call. */
	if (rc == SHMC_GSS_OK) {
		wk_attached(w, a, g, &r, efd);
		wk_count(w, CC_ATTACH_OK);
		if (claim)
			wk_count(w, CC_CLAIMED);
	}
	wk_settle(w);
	if (rc != SHMC_GSS_OK)
		wk_attach_refused(w, g, create, rc);
}

/* A claimed eventfd is the worker's to read, as KVM reads an irqfd. */
static void
wk_drain_claimed(struct worker *w, struct wk_att *a)
{
	uint64_t v;

	if (a->efd >= 0 && read(a->efd, &v, sizeof(v)) == (ssize_t)sizeof(v))
		wk_count(w, CC_EV_NOTIFY);
}

/* After a call on a (rc): the events read; a's index now, or -1 when a
 * was lost at a re-claim in the call. */
static int
wk_called(struct worker *w, struct wk_att *a, int rc, const char *what)
{
	wk_settle(w);
	if (!a->used)
		return -1;
	if (rc != 0)
		wk_die(w, "%s on region %u index %u: %s", what, a->region,
		    a->index, shmc_error(w->c));
	wk_drain_claimed(w, a);
	return (int)wk_index(w, a, NULL);
}

static void
wk_notify(struct worker *w)
{
	struct wk_att *a = wk_pick(w);
	uint32_t mask = wk_below(w, 4) ? (uint32_t)wk_rand(w) & 0xffff :
	    ALL_OTHERS;
	uint32_t delivered = 0;
	int idx = wk_called(w, a, shmc_notify(w->c, a->id, mask, &delivered),
	    "notify");

	if (idx < 0)
		return;
	if (delivered & (1u << idx))
		wk_die(w, "notify from index %d delivered to itself (0x%x)",
		    idx, delivered);
	wk_count(w, CC_NOTIFY);
}

static void
wk_status(struct worker *w)
{
	struct wk_att *a = wk_pick(w);
	uint32_t st = 0;
	int idx = wk_called(w, a, shmc_read_status(w->c, a->id, &st),
	    "status");

	if (idx < 0)
		return;
	if (!((st >> 16) & (1u << idx)))
		wk_die(w, "status 0x%x of region %u lacks its own index %d",
		    st, a->region, idx);
	wk_count(w, CC_STATUS);
}

static void
wk_detach(struct worker *w, struct wk_att *a)
{
	int rc;

	munmap(a->map, CHURN_PAGE);
	rc = shmc_detach(w->c, a->id);
	a->used = false;
	if (rc == -ENOENT && shmc_reconnects(w->c) != w->reconnects)
		wk_check_lost(w, a->id, a->region, rc);
	else if (rc != 0)
		wk_die(w, "detach of region %u index %u: %s", a->region,
		    a->index, shmc_error(w->c));
	wk_settle(w);
	wk_count(w, CC_DETACH);
}

static void
wk_op(struct worker *w)
{
	unsigned held = wk_held(w), r = wk_below(w, 100);

	if (held == 0 || (r < 30 && held < CHURN_HOLD))
		wk_attach(w);
	else if (r < 55)
		wk_notify(w);
	else if (r < 80)
		wk_status(w);
	else
		wk_detach(w, wk_pick(w));
}

static void
wk_connect(struct worker *w, const char *socket)
{
	int64_t deadline = 0;
	char label[32], err[256];
	int rc;

	snprintf(label, sizeof(label), "soak-%u", w->life->slot);
	for (;;) {
		rc = shmc_connect(socket, label, w->o->reconnect_ms ?
		    CONNECT_MS : SHMC_DEFAULT_TIMEOUT_MS, &w->c, err,
		    sizeof(err));
		if (rc == 0)
			break;
		/* with reconnect on, a daemon that is restarting is waited
		 * for, as the library would (one killed while it said hello
		 * is a reset or a broken pipe) */
		if (w->o->reconnect_ms == 0 || (rc != -ECONNREFUSED &&
		    rc != -ENOENT && rc != -ECONNRESET && rc != -EPIPE &&
		    rc != -ECONNABORTED && rc != -ETIMEDOUT))
			wk_die(w, "connect to %s: %s", socket, err);
		if (deadline == 0)
			deadline = harness_now_ms() + w->o->reconnect_ms;
		if (harness_now_ms() > deadline)
			wk_die(w, "connect to %s: %s, for %d ms", socket, err,
			    w->o->reconnect_ms);
		usleep(50000);
	}
	if (w->o->reconnect_ms)
		shmc_set_reconnect(w->c, w->o->reconnect_ms);
}

/* What it holds, for the parent; with the active masks after a round
 * trip (every event of what the daemon did before is read then). */
static void
wk_report(struct worker *w, bool sync)
{
	struct churn_report rep = { .pid = getpid() };
	struct shmc_region r;
	char none[32];

	if (sync) {
		/* a find of a name nobody creates: a round trip */
		churn_region_name(w->o, CHURN_MAX_REGIONS, none, sizeof(none));
		if (shmc_attach(w->c, none, 0, false, &r) !=
		    SHMC_GSS_DOES_NOT_EXIST)
			wk_die(w, "the round trip's find of %s: %s", none,
			    shmc_error(w->c));
	}
	wk_settle(w);
	for (unsigned i = 0; i < CHURN_HOLD; i++) {
		struct wk_att *a = &w->att[i];
		struct churn_held *h = &rep.held[rep.n];
		uint32_t st;

		if (!a->used)
			continue;
		h->region = a->region;
		h->index = wk_index(w, a, &h->same_memory);
		if (shmc_status_direct(w->c, a->id, 0xffffffffu, &st) != 0)
			wk_die(w, "status of region %u: %s", a->region,
			    shmc_error(w->c));
		h->active = st >> 16;
		wk_check_pattern(w, a, false);
		h->marked = churn_pattern_check(a->map, a->region) > 0;
		rep.n++;
	}
	if (send(WORKER_CTL, &rep, sizeof(rep), MSG_NOSIGNAL) !=
	    (ssize_t)sizeof(rep))
		wk_die(w, "cannot report to the parent: %s", strerror(errno));
}

/* The run is over: report, then read events until the parent says. */
static void __attribute__((noreturn))
wk_final(struct worker *w)
{
	struct pollfd p[2] = {
		{ .fd = WORKER_CTL, .events = POLLIN },
		{ .fd = shmc_event_fd(w->c), .events = POLLIN },
	};
	int cmd;

	wk_report(w, false);
	for (;;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			wk_die(w, "poll: %s", strerror(errno));
		if (p[1].revents)
			wk_settle(w);
		if (!p[0].revents)
			continue;
		if (recv(WORKER_CTL, &cmd, sizeof(cmd), 0) != sizeof(cmd))
			_exit(3);	/* the parent is gone */
		if (cmd == CHURN_SYNC)
			wk_report(w, true);
		else if (cmd == CHURN_EXIT)
			break;
	}
	shmc_close(w->c);
	_exit(0);
}

/* A life that ran its course, ended one of three ways. */
static void __attribute__((noreturn))
wk_end(struct worker *w)
{
	switch (wk_below(w, 3)) {
	case 0:
		for (unsigned i = 0; i < CHURN_HOLD; i++)
			if (w->att[i].used)
				wk_detach(w, &w->att[i]);
		/* FALLTHROUGH */
	case 1:
		shmc_close(w->c);
		break;
	default:
		break;		/* the kernel closes the connection */
	}
	_exit(0);
}

/* This worker drew the operation at which the daemon dies (or the first
 * after it, if the one that drew it was killed first): what each
 * region's attaches had ended by first, for the re-claim checks. */
static void
wk_kill_daemon(struct worker *w)
{
	struct churn_shared *sh = w->sh;

	for (unsigned g = 0; g < CHURN_MAX_REGIONS; g++)
		sh->ended_at_kill[g] = atomic_load(&sh->attach_ended[g]);
	atomic_store(&sh->daemon_killed, 1);
	atomic_store(&sh->kill_ms, harness_now_ms());
	if (kill(sh->daemon_pid, SIGKILL) < 0)
		wk_die(w, "kill -9 %d (the daemon): %s", (int)sh->daemon_pid,
		    strerror(errno));
}

void
churn_worker_main(const struct churn_opts *o, struct churn_shared *sh,
    const struct churn_life *life, const char *socket, int ctl)
{
	struct worker w = { .o = o, .sh = sh, .life = life,
	    .rng = life->seed | 1 };
	pid_t parent = getppid();

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	signal(SIGPIPE, SIG_IGN);
	/* only the command socket and stdio: the parent's connections and
	 * the other workers' sockets are not this process's to hold */
	if (ctl != WORKER_CTL && dup2(ctl, WORKER_CTL) < 0)
		_exit(1);
	close_range(WORKER_CTL + 1, ~0u, 0);
	wk_connect(&w, socket);
	for (uint64_t i = 0; i < life->ops; i++) {
		uint64_t op = atomic_fetch_add(&sh->ops, 1);

		if (op >= o->ops)
			wk_final(&w);
		if (sh->kill_op != 0 && op >= sh->kill_op &&
		    !atomic_load(&sh->kill_claimed) &&
		    atomic_exchange(&sh->kill_claimed, 1) == 0)
			wk_kill_daemon(&w);
		wk_op(&w);
		atomic_store(&sh->life_ops[life->slot], i + 1);
	}
	if (atomic_load(&sh->ops) >= o->ops)
		wk_final(&w);
	wk_end(&w);
}
