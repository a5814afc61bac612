/* SPDX-License-Identifier: ISC */
/*
 * test_conn_inflight: who waits for whom when the fds in flight run short
 * (daemon/conn_inflight.c). Which uids a waiter holds back is decided by
 * counts: a waiter short of its tenant's share of everyone's budget, with
 * its uid's share there and none of its uid before it, holds every uid of
 * its tenant back (first come, first served); any other waits for its own
 * uid's peers and holds back no other uid; and no tenant's waiters hold
 * back another tenant. Set up with exact counts, which the integration
 * tests can reach only roughly: conn_inflight.c with the real event loop and real
 * socketpairs (a byte unread stands for a message's fds, as SIOCOUTQ
 * sees it), and conn.c's queue replaced by a count of messages that each
 * need a number of fds.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "broker.h"

/* A budget of 160 descriptors: each uid's share 20, everyone's 80. */
#define FD_LIMIT 160
#define UID_SHARE (FD_LIMIT / 8)
#define ALL_BUDGET (FD_LIMIT / 2)
#define TICKS_MAX 100		/* 2 s of ticks for a condition to hold */

/* A connection, conn.c's queue as what its messages need. */
struct tconn {
	struct conn c;		/* first: conn_flush gets this back */
	int peer;		/* the VMM's end */
	size_t need;		/* fds each queued message carries */
	int queued;
};

struct t {
	struct broker *b;
	struct tconn *tc[8];
	int n;
};

/* ---- conn.c, as conn_inflight.c sees it ---- */

size_t
conn_head_fds(const struct conn *c)
{
	const struct tconn *t = (const struct tconn *)c;

	return t->queued > 0 ? t->need : 0;
}

static void
send_one(struct tconn *t, size_t nfds)
{
	assert_int_equal(send(t->c.fd, "m", 1, MSG_DONTWAIT), 1);
	inflight_sent(&t->c, nfds);
}

void
conn_flush(struct conn *c)
{
	struct tconn *t = (struct tconn *)c;

	while (t->queued > 0) {
		if (!inflight_admit(c, t->need)) {
			inflight_wait(c, t->need);
			return;
		}
		send_one(t, t->need);
		t->queued--;
	}
}

/* ---- the fixture ---- */

static int
setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));

	if (t == NULL || (t->b = calloc(1, sizeof(*t->b))) == NULL ||
	    (t->b->base = event_base_new()) == NULL)
		return -1;
	t->b->log.level = LOG_ERR;
	TAILQ_INIT(&t->b->conns);
	/* Every connection of the open tenant, unless a test says, as
	 * policy.c makes it. */
	LIST_INIT(&t->b->usages);
	tenant_init(&t->b->open_tenant, "default", 0666);
	if (tenant_attach_usage(&t->b->open_tenant, &t->b->usages) < 0)
		return -1;
	if (inflight_init(t->b) < 0)
		return -1;
	/* As the daemon under its unit: no CAP_SYS_RESOURCE. */
	t->b->inflight_capped = true;
	t->b->fd_limit = FD_LIMIT;
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct t *t = *state;

	/* As conn.c frees a connection: what its peer holds unread is let
	 * go with its socket, now or (a drain) at inflight_close_all. */
	for (int i = 0; i < t->n; i++) {
		if (!inflight_keep(&t->tc[i]->c))
			close(t->tc[i]->c.fd);
		close(t->tc[i]->peer);
		free(t->tc[i]);
	}
	inflight_close_all(t->b);
	tenant_usage_free(&t->b->usages);
	event_base_free(t->b->base);
	free(t->b);
	free(t);
	return 0;
}

/* A connection of a peer of uid. */
static struct tconn *
conn_of(struct t *t, uid_t uid)
{
	struct tconn *tc = calloc(1, sizeof(*tc));
	int sv[2];

	assert_non_null(tc);
	assert_true(t->n < (int)(sizeof(t->tc) / sizeof(t->tc[0])));
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
	    sv), 0);
	tc->c.b = t->b;
	tc->c.fd = sv[0];
	tc->peer = sv[1];
	tc->c.cred.uid = uid;
	tc->c.id = (uint64_t)t->n + 1;
	tc->c.inflight_unread_seen = -1;
	TAILQ_INSERT_TAIL(&t->b->conns, &tc->c, entry);
	t->tc[t->n++] = tc;
	return tc;
}

/* nfds sent on tc that its peer does not read (yet). */
static void
hold(struct tconn *tc, size_t nfds)
{
	assert_true(inflight_admit(&tc->c, nfds));
	send_one(tc, nfds);
}

/* A message of nfds for tc's peer, sent now or queued to wait, as
 * conn.c's send does. */
static void
queue(struct tconn *tc, size_t nfds)
{
	tc->need = nfds;
	tc->queued++;
	conn_flush(&tc->c);
}

/* tc's peer reads all it was sent. */
static void
peer_reads(struct tconn *tc)
{
	char buf[64];

	while (recv(tc->peer, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

/* Connections counted first in line for the open tenant's share. */
static size_t
waiters(const struct t *t)
{
	return t->b->open_tenant.usage->inflight_waiters;
}

/* Ticks of the daemon's timer until everyone's budget has room for nfds
 * (the ticks' sweeps let go what peers read). */
static void
tick_until_all_has(struct t *t, size_t nfds)
{
	for (int i = 0; i < TICKS_MAX &&
	    t->b->inflight_fds + nfds > ALL_BUDGET; i++)
		event_base_loop(t->b->base, EVLOOP_ONCE);
	assert_true(t->b->inflight_fds + nfds <= ALL_BUDGET);
}

/* Four uids fill their shares: everyone's budget is full. */
static void
fill_all(struct t *t, struct tconn *h[4])
{
	for (int i = 0; i < 4; i++) {
		h[i] = conn_of(t, 1000 + (uid_t)i);
		hold(h[i], UID_SHARE);
	}
	assert_int_equal(t->b->inflight_fds, ALL_BUDGET);
}

/* Everyone's budget full (fill_all), then a connection of w_uid with a
 * message of nfds, which must wait, counted first in line for everyone's
 * budget or not as counted says; x, a connection of x_uid, for the test
 * to send on. */
static void
fill_then_wait(struct t *t, struct tconn *h[4], uid_t w_uid, size_t nfds,
    bool counted, struct tconn **w, uid_t x_uid, struct tconn **x)
{
	fill_all(t, h);
	*w = conn_of(t, w_uid);
	*x = conn_of(t, x_uid);
	queue(*w, nfds);
	assert_true((*w)->c.inflight_waiting);
	assert_int_equal((*w)->c.inflight_queued_pool != NULL, counted);
	assert_int_equal(waiters(t), counted ? 1 : 0);
}

/* ---- the tests ---- */

/*
 * A waiter short of its uid's share as of everyone's budget waits for
 * its own uid's peers: once the other uids read, a connection of yet
 * another uid sends at once. (It used to be counted first in line for
 * everyone's budget for as long as it waited: every other uid's fds then
 * went by the 20 ms timer.)
 */
static void
test_share_waiter_holds_no_other_uid(void **state)
{
	struct t *t = *state;
	struct tconn *h[4], *w, *x;

	fill_then_wait(t, h, 1000, 1, false, &w, 5000, &x);
	for (int i = 1; i < 4; i++)
		peer_reads(h[i]);
	tick_until_all_has(t, 1);
	assert_true(w->c.inflight_waiting);
	assert_int_equal(waiters(t), 0);
	assert_true(inflight_admit(&x->c, 1));
}

/*
 * The same with a second waiter of that uid behind the first, whose own
 * message would fit its uid's share but not everyone's: it goes only
 * after the first of its uid, so it holds back no other uid either, at
 * its wait or at any tick. (The ticks skipped it behind the first and
 * left it counted for everyone's.)
 */
static void
test_second_of_its_uid_holds_no_other_uid(void **state)
{
	struct t *t = *state;
	struct tconn *h[4], *w1, *w2, *x;

	for (int i = 0; i < 4; i++)
		h[i] = conn_of(t, 1000 + (uid_t)i);
	/* uid 1000 one short of its share; everyone's budget full. */
	hold(h[0], UID_SHARE - 1);
	for (int i = 1; i < 4; i++)
		hold(h[i], UID_SHARE);
	x = conn_of(t, 5000);
	hold(x, 1);
	assert_int_equal(t->b->inflight_fds, ALL_BUDGET);
	w1 = conn_of(t, 1000);
	w2 = conn_of(t, 1000);
	queue(w1, 3);		/* short of its uid's share */
	queue(w2, 1);		/* its uid's share has room, everyone's not */
	assert_true(w1->c.inflight_waiting && w2->c.inflight_waiting);
	assert_null(w2->c.inflight_queued_pool);
	assert_int_equal(waiters(t), 0);
	for (int i = 1; i < 4; i++)
		peer_reads(h[i]);
	peer_reads(x);
	tick_until_all_has(t, 1);
	event_base_loop(t->b->base, EVLOOP_ONCE);
	assert_true(w1->c.inflight_waiting && w2->c.inflight_waiting);
	assert_int_equal(waiters(t), 0);
	assert_true(inflight_admit(&x->c, 1));

	/* Once uid 1000's peer reads, both of its waiters go, in turn. */
	peer_reads(h[0]);
	for (int i = 0; i < TICKS_MAX && (w1->c.inflight_waiting ||
	    w2->c.inflight_waiting); i++)
		event_base_loop(t->b->base, EVLOOP_ONCE);
	assert_false(w1->c.inflight_waiting || w2->c.inflight_waiting);
	assert_int_equal(w1->queued + w2->queued, 0);
}

/*
 * A waiter with its uid's share there but short of everyone's budget is
 * first in line for it: no other uid's fds go past it until it has sent,
 * at the tick after the others read; then they go at once again.
 */
static void
test_all_waiter_goes_first(void **state)
{
	struct t *t = *state;
	struct tconn *h[4], *w, *x;

	fill_then_wait(t, h, 5000, 3, true, &w, 6000, &x);
	assert_false(inflight_admit(&x->c, 1));
	for (int i = 0; i < 4; i++)
		peer_reads(h[i]);
	for (int i = 0; i < TICKS_MAX && w->c.inflight_waiting; i++)
		event_base_loop(t->b->base, EVLOOP_ONCE);
	assert_false(w->c.inflight_waiting);
	assert_int_equal(w->queued, 0);
	assert_int_equal(waiters(t), 0);
	assert_true(inflight_admit(&x->c, 1));
}

/* Tenants a and b, with usages the daemon's books know. */
static void
two_tenants(struct t *t, struct tenant *ta, struct tenant *tb)
{
	tenant_init(ta, "a", 0600);
	tenant_init(tb, "b", 0600);
	assert_int_equal(tenant_attach_usage(ta, &t->b->usages), 0);
	assert_int_equal(tenant_attach_usage(tb, &t->b->usages), 0);
}

/*
 * Everyone's budget is split among the tenants (here two and the open
 * one): peers of any number of uids of one tenant fill only its share,
 * and a peer of another tenant is sent its fds at once, also while one
 * of the first tenant waits first in line for its share. (One budget for
 * all let four uids that never read stall every other peer.)
 */
static void
test_tenant_fills_only_its_share(void **state)
{
	struct t *t = *state;
	struct tenant ta, tb;
	/* A limit large enough for shares above their floor: 500 each. */
	size_t share = 3000 / 2 / 3;
	struct tconn *h[2], *w, *x;

	t->b->fd_limit = 3000;
	two_tenants(t, &ta, &tb);
	t->b->cfg.ntenants = 2;
	for (int i = 0; i < 2; i++) {
		h[i] = conn_of(t, 1000 + (uid_t)i);
		h[i]->c.tenant = &ta;
		hold(h[i], share / 2);
	}
	assert_int_equal(ta.usage->inflight_fds, share);
	w = conn_of(t, 1003);
	w->c.tenant = &ta;
	queue(w, 2);
	assert_true(w->c.inflight_waiting);
	assert_ptr_equal(w->c.inflight_queued_pool, ta.usage);
	/* A peer of tenant b, and one of the open tenant, go at once. */
	x = conn_of(t, 2000);
	x->c.tenant = &tb;
	assert_true(inflight_admit(&x->c, 3));
	send_one(x, 3);
	assert_int_equal(tb.usage->inflight_fds, 3);
	assert_true(inflight_admit(&conn_of(t, 2001)->c, 1));
	/* Once tenant a's peers read, its waiter goes. */
	for (int i = 0; i < 2; i++)
		peer_reads(h[i]);
	for (int i = 0; i < TICKS_MAX && w->c.inflight_waiting; i++)
		event_base_loop(t->b->base, EVLOOP_ONCE);
	assert_false(w->c.inflight_waiting);
	assert_int_equal(ta.usage->inflight_waiters, 0);
}

/*
 * With more tenants than the budget can split into shares of a message
 * or more (here a hundred), a share keeps a floor of one connection's
 * budget and a message, at most the half in all: peers of a tenant are
 * still sent their attach replies. The half in all holds over the
 * shares: with it full, a peer whose uid's and tenant's shares have room
 * waits.
 */
static void
test_share_floor(void **state)
{
	struct t *t = *state;
	struct tenant ta, tb;
	struct tconn *c;

	two_tenants(t, &ta, &tb);
	t->b->cfg.ntenants = 100;
	for (int i = 0; i < 4; i++) {
		c = conn_of(t, 1000 + (uid_t)i);
		c->c.tenant = i < 2 ? &ta : &tb;
		hold(c, UID_SHARE);
	}
	assert_int_equal(ta.usage->inflight_fds, ALL_BUDGET / 2);
	assert_int_equal(t->b->inflight_fds, ALL_BUDGET);
	c = conn_of(t, 1004);
	c->c.tenant = &tb;
	assert_false(inflight_admit(&c->c, 1));
}

/*
 * A waiter first in line for its tenant's share that a reload moves to
 * another tenant is no longer counted in the first: it held every other
 * peer of that tenant back for as long as the second stayed full.
 */
static void
test_reload_moves_a_waiter(void **state)
{
	struct t *t = *state;
	struct tenant ta, tb;
	size_t share = 3000 / 2 / 3;
	struct tconn *h[4], *w;

	t->b->fd_limit = 3000;
	two_tenants(t, &ta, &tb);
	t->b->cfg.ntenants = 2;
	for (int i = 0; i < 4; i++) {
		h[i] = conn_of(t, 1000 + (uid_t)i);
		h[i]->c.tenant = i < 2 ? &ta : &tb;
		hold(h[i], share / 2);
	}
	w = conn_of(t, 1004);
	w->c.tenant = &ta;
	queue(w, 2);
	assert_ptr_equal(w->c.inflight_queued_pool, ta.usage);
	w->c.tenant = &tb;	/* what policy_reload does */
	event_base_loop(t->b->base, EVLOOP_ONCE);
	assert_true(w->c.inflight_waiting);
	assert_int_equal(ta.usage->inflight_waiters, 0);
	assert_ptr_equal(w->c.inflight_queued_pool, tb.usage);
	peer_reads(h[0]);
	for (int i = 0; i < TICKS_MAX && t->b->inflight_fds > share * 3 / 2;
	    i++)
		event_base_loop(t->b->base, EVLOOP_ONCE);
	/* Tenant a's peers are not held back by it. */
	assert_true(inflight_admit(&h[1]->c, 1));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_share_waiter_holds_no_other_uid, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_second_of_its_uid_holds_no_other_uid, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_all_waiter_goes_first,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_tenant_fills_only_its_share, setup, teardown),
		cmocka_unit_test_setup_teardown(test_share_floor, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reload_moves_a_waiter,
		    setup, teardown),
	};

	return cmocka_run_group_tests_name("unit.conn_inflight", tests, NULL,
	    NULL);
}
