/* SPDX-License-Identifier: ISC */
/*
 * ivshmem_throttle: how often one doorbell source (a QEMU's relays, or a
 * region's watched slots) may wake the daemon (struct ivsh_throttle): the
 * rings counted per window, the source's events put to sleep past the
 * burst and woken when the window ends. The one pause/resume loop for
 * both sources; each says which of its events are live.
 */
#include <errno.h>

#include "ivshmem_int.h"

/* Every live event of t's source: added (resume) or deleted (pause). */
static void
ivsh_throttle_each(struct ivsh_throttle *t, bool add)
{
	struct event *ev;

	for (unsigned i = 0; i < REGION_MAX_CLIENTS; i++) {
		for (unsigned v = 0; v < IVSHMEM_MAX_VECTORS; v++) {
			if ((ev = t->event(t->owner, i, v)) == NULL)
				continue;
			if (add)
				event_add(ev, NULL);
			else
				event_del(ev);
		}
	}
}

/* The window is over: the source listens again. */
static void
ivsh_throttle_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ivsh_throttle *t = arg;

	(void)fd;
	(void)what;
	t->paused = false;
	ivsh_throttle_each(t, true);
}

int
ivsh_throttle_init(struct ivsh_throttle *t, struct event_base *base,
    ivsh_throttle_event_fn *event, void *owner)
{
	*t = (struct ivsh_throttle){ .event = event, .owner = owner };
	t->resume = evtimer_new(base, ivsh_throttle_resume_cb, t);
	return t->resume == NULL ? -ENOMEM : 0;
}

void
ivsh_throttle_fini(struct ivsh_throttle *t)
{
	if (t->resume != NULL)
		event_free(t->resume);
	t->resume = NULL;
}

void
ivsh_throttle_ring(struct ivsh_throttle *t)
{
	uint64_t now = broker_mono_ns() / 1000000;
	struct timeval tv = { 0, 0 };

	if (now - t->start_ms >= IVSH_RING_WINDOW_MS) {
		t->start_ms = now;
		t->rings = 0;
	}
	if (++t->rings < IVSH_RING_BURST || t->paused)
		return;
	tv.tv_usec = (suseconds_t)(IVSH_RING_WINDOW_MS - (now - t->start_ms)) *
	    1000;
	if ((t->paused = event_add(t->resume, &tv) == 0))
		ivsh_throttle_each(t, false);
}
