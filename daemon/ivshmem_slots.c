/* SPDX-License-Identifier: ISC */
/*
 * ivshmem_slots: the doorbells of an exported region's indices (see
 * struct ivsh_slots): made when a QEMU first takes an index, handed to
 * every QEMU that takes it, watched by the daemon while no QEMU holds the
 * index, and the delivery of a ring to whoever holds an index now.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "ivshmem_int.h"

/* A watched slot's event: the source ivsh_throttle puts to sleep. */
static struct event *
ivsh_slots_event(void *owner, unsigned index, unsigned vector)
{
	struct ivsh_slot *sl = &((struct ivsh_slots *)owner)->ring[index][vector];

	return sl->watched ? sl->ev : NULL;
}

struct ivsh_slots *
ivsh_slots_get(struct ivshmem *ivs, struct region *g)
{
	struct ivsh_slots *s;

	LIST_FOREACH(s, &ivs->slots, entry)
		if (s->region == g)
			return s;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if (ivsh_throttle_init(&s->throttle, ivs->b->base, ivsh_slots_event,
	    s) < 0) {
		free(s);
		return NULL;
	}
	s->ivs = ivs;
	s->region = g;
	for (unsigned i = 0; i < REGION_MAX_CLIENTS; i++)
		for (unsigned v = 0; v < IVSHMEM_MAX_VECTORS; v++)
			s->ring[i][v] = (struct ivsh_slot){ .s = s,
			    .index = (uint8_t)i, .vector = (uint8_t)v,
			    .efd = -1 };
	LIST_INSERT_HEAD(&ivs->slots, s, entry);
	return s;
}

void
ivsh_slots_free(struct ivshmem *ivs, const struct region *g)
{
	struct ivsh_slots *s;

	LIST_FOREACH(s, &ivs->slots, entry)
		if (s->region == g)
			break;
	if (s == NULL)
		return;
	LIST_REMOVE(s, entry);
	ivsh_throttle_fini(&s->throttle);
	for (unsigned i = 0; i < REGION_MAX_CLIENTS; i++) {
		for (unsigned v = 0; v < IVSHMEM_MAX_VECTORS; v++) {
			struct ivsh_slot *sl = &s->ring[i][v];

			if (sl->ev != NULL)
				event_free(sl->ev);
			if (sl->efd >= 0)
				close(sl->efd);
		}
	}
	free(s);
}

static void
ivsh_slots_drain(int efd)
{
	uint64_t n;

	(void)wake_drain(efd, &n);
}

/* Somebody rang index while no QEMU holds it: only QEMUs that learned
 * the index while a QEMU held it ring this. */
static void
ivsh_slots_ring_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ivsh_slot *sl = arg;
	struct region *g = sl->s->region;
	uint16_t from = 0;

	(void)what;
	ivsh_slots_drain(fd);
	for (unsigned i = 0; i < REGION_MAX_CLIENTS; i++) {
		const struct client *cl = g->clients[i];

		if (cl != NULL && ivsh_is_qemu(cl) &&
		    (((const struct ivsh_peer *)cl->owner)->direct &
		    (1u << sl->index)))
			from |= (uint16_t)(1u << i);
	}
	ivsh_slots_deliver(sl->s, sl->index, sl->vector, from);
	ivsh_throttle_ring(&sl->s->throttle);
}

static int
ivsh_slots_make(struct ivsh_slot *sl, struct event_base *base)
{
	if (sl->efd >= 0)
		return 0;
	if ((sl->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		return -errno;
	sl->ev = event_new(base, sl->efd, EV_READ | EV_PERSIST,
	    ivsh_slots_ring_cb, sl);
	if (sl->ev == NULL) {
		close(sl->efd);
		sl->efd = -1;
		return -ENOMEM;
	}
	return 0;
}

int
ivsh_slots_take(struct ivsh_slots *s, unsigned index, unsigned n)
{
	int err;

	for (unsigned v = 0; v < n; v++) {
		struct ivsh_slot *sl = &s->ring[index][v];

		if ((err = ivsh_slots_make(sl, s->ivs->b->base)) < 0)
			return err;
		if (sl->watched)
			event_del(sl->ev);
		sl->watched = false;
		ivsh_slots_drain(sl->efd);
	}
	return 0;
}

void
ivsh_slots_release(struct ivsh_slots *s, unsigned index)
{
	for (unsigned v = 0; v < IVSHMEM_MAX_VECTORS; v++) {
		struct ivsh_slot *sl = &s->ring[index][v];

		if (sl->efd < 0 || sl->watched)
			continue;
		sl->watched = s->throttle.paused ||
		    event_add(sl->ev, NULL) == 0;
	}
}

int
ivsh_slots_fd(const struct ivsh_slots *s, unsigned index, unsigned vector)
{
	return s->ring[index][vector].efd;
}

/* Never blocks, whatever the QEMU or member did to the eventfd. */
static void
ivsh_slots_wake(const struct ivsh_slots *s, int efd)
{
	if (efd >= 0)
		(void)wake_signal(s->ivs->b->wake, &efd, 1);
}

void
ivsh_slots_deliver(struct ivsh_slots *s, unsigned index, unsigned vector,
    uint16_t from)
{
	struct region *g = s->region;
	const struct client *to = g->clients[index];
	struct shm_state_page *page;

	if (to == NULL)
		return;		/* nobody holds it: the ring is lost */
	s->ivs->b->stats.ivshmem_relayed++;
	if (ivsh_is_qemu(to)) {
		const struct ivsh_peer *q = to->owner;

		if (vector < q->vectors)
			ivsh_slots_wake(s, s->ring[index][vector].efd);
		return;
	}
	/* A mapping kept: a relay posts on every ring, and only the few
	 * regions an admin exports have one (statepage.h). */
	if (from == 0 || (page = statepage_map_kept(&g->state)) == NULL)
		return;
	for (unsigned i = 0; i < REGION_MAX_CLIENTS; i++)
		if (from & (1u << i))
			shm_state_post(page, i, index);
	ivsh_slots_wake(s, to->efd);
}
