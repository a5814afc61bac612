/* SPDX-License-Identifier: ISC */
/*
 * libshmclient's reconnect: every attachment is remembered until it is
 * detached, so that after a daemon restart (shmc_set_reconnect) the library
 * can connect again and re-claim them all. The new daemon hands out new
 * client ids: the caller keeps the ids it got first, and each call and
 * event is translated between the two here. The epoll and event fds outlive
 * the socket, so the caller's poll set stays valid across a reconnect. A
 * re-claim brings a new state page and new eventfds, swapped in by
 * signals.c. A call that finds the daemon gone waits for it to come back;
 * shmc_dispatch does not, and tries again on a timer in the event fd.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shmclient_int.h"

/* Between reconnect attempts; an activated daemon takes longer to come. */
#define SHMC_RECONNECT_RETRY_MS 50
/* The call timeout of shmc_dispatch's one attempt: its caller may hold a
 * lock that a guest's doorbells take. */
#define SHMC_DISPATCH_TRY_MS 200
/* Ids the library makes up when the daemon's id of a new attachment is one
 * the caller already holds for another; far above any daemon's ids. */
#define SHMC_LOCAL_ID_BASE (UINT64_C(1) << 63)

struct attachment *
shmc_att_by_user(const struct shmc *c, uint64_t id)
{
	for (size_t i = 0; i < c->natt; i++)
		if (c->att[i].user_id == id)
			return &c->att[i];
	return NULL;
}

/* A lost attachment's cur_id is the old daemon's: it names nothing now. */
static struct attachment *
shmc_att_by_cur(const struct shmc *c, uint64_t id)
{
	for (size_t i = 0; i < c->natt; i++)
		if (c->att[i].cur_id == id && c->att[i].lost == 0)
			return &c->att[i];
	return NULL;
}

static void
shmc_att_forget(struct shmc *c, struct attachment *a)
{
	size_t i = (size_t)(a - c->att);

	shmc_sig_release(c, a);
	free(a->name);
	memmove(&c->att[i], &c->att[i + 1], (c->natt - i - 1) * sizeof(*a));
	c->natt--;
}

/* After a detach: nothing to re-claim any more. */
void
shmc_att_forget_id(struct shmc *c, uint64_t user_id)
{
	struct attachment *a = shmc_att_by_user(c, user_id);

	if (a != NULL)
		shmc_att_forget(c, a);
	shmc_queue_forget(c, user_id);
}

void
shmc_att_free_all(struct shmc *c)
{
	for (size_t i = 0; i < c->natt; i++) {
		shmc_sig_release(c, &c->att[i]);
		free(c->att[i].name);
	}
	free(c->att);
	c->att = NULL;
	c->natt = c->catt = 0;
}

/* Remembers a new attachment; r->client_id becomes the id the caller
 * keeps, which after a reconnect may not be the daemon's. On failure af
 * is closed and r->client_id is the daemon's. */
int
shmc_att_add(struct shmc *c, bool claim, const void *name, size_t len,
    uint32_t size_pages, struct shmc_region *r, struct att_fds *af)
{
	struct attachment *a;
	int err;

	if (c->natt == c->catt) {
		size_t cap = c->catt ? 2 * c->catt : 8;

		if ((a = realloc(c->att, cap * sizeof(*a))) == NULL) {
			shmc_af_close(af);
			return -ENOMEM;
		}
		c->att = a;
		c->catt = cap;
	}
	a = &c->att[c->natt];
	memset(a, 0, sizeof(*a));
	shmc_sig_init(&a->sig);
	/* Claimed from the start, its eventfd never enters the epoll set. */
	a->sig.claimed = claim;
	if ((a->name = malloc(len ? len : 1)) == NULL) {
		shmc_af_close(af);
		return -ENOMEM;
	}
	memcpy(a->name, name, len);
	a->name_len = len;
	a->size_pages = size_pages;
	a->index = r->index;
	a->dev = af->dev;
	a->ino = af->ino;
	a->same_memory = true;
	a->cur_id = r->client_id;
	a->user_id = r->client_id;
	if (shmc_att_by_user(c, a->user_id) != NULL) {
		if (c->next_local_id == 0)
			c->next_local_id = SHMC_LOCAL_ID_BASE;
		a->user_id = c->next_local_id++;
	}
	c->natt++;
	r->client_id = a->user_id;
	/* The epoll tag is the id the caller keeps. */
	if ((err = shmc_sig_install(c, a, af)) < 0) {
		/* The daemon's id, which the caller detaches: the one it
		 * would keep may be a local one. */
		r->client_id = a->cur_id;
		shmc_att_forget(c, a);
		return err;
	}
	return 0;
}

/* The name for messages: printable, up to its NUL. */
static const char *
shmc_att_name(const struct attachment *a, char *buf, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < a->name_len && a->name[i] != '\0' &&
	    n + 1 < cap; i++)
		buf[n++] = a->name[i] >= 0x20 && a->name[i] < 0x7f ?
		    (char)a->name[i] : '?';
	buf[n] = '\0';
	return buf;
}

/* The daemon's id for the caller's; ids the library does not know (raw
 * calls) go as they are. -ENOENT for an attachment a restart lost. */
int
shmc_resolve(struct shmc *c, uint64_t user_id, uint64_t *id)
{
	struct attachment *a = shmc_att_by_user(c, user_id);
	char name[64];

	*id = a != NULL ? a->cur_id : user_id;
	if (a == NULL || a->lost == 0)
		return 0;
	shmc_att_name(a, name, sizeof(name));
	if (a->lost < 0)
		return shmc_fail(c, -ENOENT, "client %llu of region %s: revoked "
		    "by an admin", (unsigned long long)user_id, name);
	return shmc_fail(c, -ENOENT, "client %llu of region %s: lost when "
	    "shmbrokerd restarted: attaching again gave %s",
	    (unsigned long long)user_id, name, wire_status_name(a->lost));
}

/* An event names the receiving client by the daemon's id: give it the
 * caller's. */
void
shmc_translate_event(struct shmc *c, Shmbroker__ServerMessage *m,
    struct wire_fds *fds)
{
	uint64_t *id = NULL;
	struct attachment *a;

	switch (m->body_case) {
	case SHMBROKER__SERVER_MESSAGE__BODY_PEER_CHANGED:
		id = &m->peer_changed->client_id;
		break;
	case SHMBROKER__SERVER_MESSAGE__BODY_NOTIFICATION:
		id = &m->notification->client_id;
		break;
	case SHMBROKER__SERVER_MESSAGE__BODY_CLIENT_REVOKED:
		id = &m->client_revoked->client_id;
		break;
	default:
		return;
	}
	if ((a = shmc_att_by_cur(c, *id)) == NULL)
		return;
	if (m->body_case == SHMBROKER__SERVER_MESSAGE__BODY_CLIENT_REVOKED) {
		a->revoked = true;
		shmc_sig_revoked(c, a);
	}
	if (m->body_case == SHMBROKER__SERVER_MESSAGE__BODY_PEER_CHANGED)
		shmc_sig_peer_changed(a, m->peer_changed, fds);
	*id = a->user_id;
}

/* Tells the caller an attachment was lost, as an admin's destroy would
 * be told: its region did not come back, and nothing else would say so
 * until the caller's next call for it. */
static void
shmc_queue_lost(struct shmc *c, const struct attachment *a)
{
	struct shmc_event ev = { .kind = SHMC_EVENT_REVOKED,
	    .client_id = a->user_id, .eventfd = -1, .old_eventfd = -1 };

	shmc_queue_local(c, &ev);
}

/* Tells the caller how a re-claim changed an attachment's peers (before:
 * them under the old daemon): the restarted daemon's members are those
 * that came back so far, and the others come back as peers attaching. */
static void
shmc_queue_peer_changes(struct shmc *c, const struct attachment *a,
    uint16_t before)
{
	uint16_t after = a->sig.active & ~(1u << a->index);

	for (uint32_t i = 0; i < 16; i++) {
		struct shmc_event ev = { .client_id = a->user_id, .index = i,
		    .active_mask = a->sig.active, .eventfd = -1,
		    .old_eventfd = -1 };

		if (((before ^ after) & (1u << i)) == 0)
			continue;
		ev.kind = after & (1u << i) ? SHMC_EVENT_PEER_ATTACHED :
		    SHMC_EVENT_PEER_DETACHED;
		shmc_queue_local(c, &ev);
	}
}

/* Attaches every remembered attachment again, asking for its old index.
 * One the new daemon refuses (the region did not survive) is lost; a
 * transport error fails the attempt. */
static int
shmc_reclaim(struct shmc *c)
{
	struct shmc_region r;
	struct att_fds af;
	uint16_t before;
	int rc;

	for (size_t i = 0; i < c->natt; i++) {
		struct attachment *a = &c->att[i];

		if (a->lost != 0)
			continue;
		if (a->revoked) {
			a->lost = -ENOENT;
			shmc_sig_lost(c, a);
			continue;
		}
		shmc_af_init(&af);
		rc = shmc_attach_once(c, a->name, a->name_len, a->size_pages,
		    false, a->index + 1, &r, &af);
		if (rc < 0)
			return rc;
		if (rc != SHMC_GSS_OK) {
			a->lost = rc;
			shmc_sig_lost(c, a);
			shmc_queue_lost(c, a);
			continue;
		}
		/* The caller's mapping is of the first memfd: only the fd
		 * store gives the same one back. */
		a->same_memory = a->same_memory && af.dev == a->dev &&
		    af.ino == a->ino;
		close(r.fd);
		/* Before anything reads on: a join behind this reply names
		 * cur_id (see shmc_attach_common). */
		a->cur_id = r.client_id;
		before = a->sig.active & ~(1u << a->index);
		a->index = r.index;
		if ((rc = shmc_sig_install(c, a, &af)) < 0)
			return shmc_fail(c, rc, "the re-claimed state page or "
			    "eventfd: %s", strerror(-rc));
		shmc_queue_peer_changes(c, a, before);
	}
	return 0;
}

static void
shmc_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* A daemon that refuses this peer, or a path that cannot be one: no later
 * attempt would do better. */
static bool
shmc_refused_for_good(int rc)
{
	return rc == -EPERM || rc == -EACCES || rc == -ENAMETOOLONG;
}

/* A new connection to the same path, with the same label, the same
 * attachments and the same admin watch; tried until deadline. 0, or the
 * last attempt's error with its reason in why. */
static int
shmc_reconnect_until(struct shmc *c, int64_t deadline, char *why,
    size_t whylen)
{
	int rc;

	shmc_drop_socket(c);
	for (;;) {
		rc = shmc_open_socket(c, c->path);
		if (rc == 0)
			rc = shmc_hello(c, c->label);
		if (rc == 0)
			rc = shmc_reclaim(c);
		if (rc == 0 && c->watching)
			rc = shmc_admin_watch_once(c);
		if (rc == 0)
			break;
		/* Before the drop, whose reads may say something else. */
		snprintf(why, whylen, "%s", c->err);
		shmc_drop_socket(c);
		/* Refused for good, or out of time; anything else (no socket
		 * yet, nobody listening, a daemon still starting) passes. */
		if (shmc_refused_for_good(rc) ||
		    shmc_now_ms() + SHMC_RECONNECT_RETRY_MS > deadline)
			return rc;
		shmc_sleep_ms(SHMC_RECONNECT_RETRY_MS);
	}
	c->unreachable = false;
	c->away_since = 0;
	shmc_retry_disarm(c);
	c->reconnects++;
	return 0;
}

/* After attempts in vain (why) that began at since: said, and from now on
 * each call tries once, so that a VMM that detaches its clients one by one
 * (a guest reset) while the daemon stays away does not wait for each. */
static int
shmc_unreachable(struct shmc *c, int rc, int64_t since, const char *why)
{
	if (c->unreachable)
		return shmc_fail(c, rc, "shmbrokerd is still away (tried once, "
		    "after a wait of %d ms in vain before): %s",
		    c->reconnect_ms, why);
	c->unreachable = true;
	c->away_since = 0;
	shmc_retry_disarm(c);
	return shmc_fail(c, rc, "lost the connection to shmbrokerd and could "
	    "not make a new one in %lld ms: %s", (long long)(shmc_now_ms() -
	    since), why);
}

/* A call's reconnect: retried for up to reconnect_ms (once when a whole
 * wait was in vain before); the call waits. */
static int
shmc_reconnect(struct shmc *c)
{
	int64_t now = shmc_now_ms();
	char why[sizeof(c->err)];
	int rc;

	rc = shmc_reconnect_until(c, now + (c->unreachable ? 0 :
	    c->reconnect_ms), why, sizeof(why));
	return rc < 0 ? shmc_unreachable(c, rc, now, why) : 0;
}

/* Errors that mean the daemon went (or is not there): worth a reconnect
 * when the caller asked for them. */
static bool
shmc_reconnectable(const struct shmc *c, int rc)
{
	return c->reconnect_ms > 0 && (rc == -ECONNRESET || rc == -EPIPE ||
	    rc == -ENOTCONN || rc == -ECONNREFUSED || rc == -ECONNABORTED);
}

/* After a call that failed with *rc: true when the daemon had gone and a
 * reconnect made a new connection, so the call is worth a second try;
 * else *rc is the error to return. */
bool
shmc_try_again(struct shmc *c, int *rc)
{
	if (!shmc_reconnectable(c, *rc))
		return false;
	*rc = shmc_reconnect(c);
	return *rc == 0;
}

/*
 * shmc_dispatch's reconnect: one attempt, and no wait. Its caller polls
 * the event fd, and may hold a lock while it dispatches (libshmvdev's,
 * which a guest's doorbells and status reads take too), so a wait of
 * reconnect_ms here would stall them as long; each of the attempt's
 * calls waits SHMC_DISPATCH_TRY_MS at most. Until reconnect_ms has
 * passed since the daemon went, a failed attempt arms a timer in the event
 * fd: the caller dispatches, and so tries, again.
 */
bool
shmc_try_again_later(struct shmc *c, int *rc)
{
	int64_t now = shmc_now_ms();
	char why[sizeof(c->err)];
	int saved;

	if (!shmc_reconnectable(c, *rc))
		return false;
	if (c->away_since == 0)
		c->away_since = now;
	/* A socket that systemd holds while the daemon restarts takes the
	 * connect, and the hello would wait the whole call timeout. */
	saved = c->timeout_ms;
	if (saved > SHMC_DISPATCH_TRY_MS)
		shmc_set_timeout(c, SHMC_DISPATCH_TRY_MS);
	*rc = shmc_reconnect_until(c, now, why, sizeof(why));
	shmc_set_timeout(c, saved);
	if (*rc == 0)
		return true;
	if (c->unreachable || shmc_refused_for_good(*rc) ||
	    now + SHMC_RECONNECT_RETRY_MS > c->away_since + c->reconnect_ms ||
	    shmc_retry_arm(c, SHMC_RECONNECT_RETRY_MS) < 0) {
		*rc = shmc_unreachable(c, *rc, c->away_since, why);
		return false;
	}
	*rc = shmc_fail(c, *rc, "lost the connection to shmbrokerd; trying "
	    "again every %d ms, for up to %d ms: %s", SHMC_RECONNECT_RETRY_MS,
	    c->reconnect_ms, why);
	return false;
}

void
shmc_set_reconnect(struct shmc *c, int timeout_ms)
{
	c->reconnect_ms = timeout_ms > 0 ? timeout_ms : 0;
}

unsigned
shmc_reconnects(const struct shmc *c)
{
	return c->reconnects;
}

int
shmc_attachment_info(const struct shmc *c, uint64_t client_id,
    uint32_t *index, bool *same_memory)
{
	const struct attachment *a = shmc_att_by_user(c, client_id);

	/* lost < 0: revoked before a reconnect (shmc_reclaim). */
	if (a != NULL && (a->revoked || a->lost < 0))
		return -ECANCELED;
	if (a == NULL || a->lost != 0)
		return -ENOENT;
	if (index != NULL)
		*index = a->index;
	if (same_memory != NULL)
		*same_memory = a->same_memory;
	return 0;
}
