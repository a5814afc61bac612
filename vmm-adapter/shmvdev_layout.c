/* SPDX-License-Identifier: ISC */
/*
 * shmvdev_layout: where this VM's regions sit in guest-physical space. The
 * window is cut into 2 MiB slots; a region takes a run of them, first
 * fit: one for its control page (the slot's last 4 KiB page) and the rest
 * for its data, which therefore starts 2 MiB aligned right after the
 * control page. Also the lookups of the attachment table.
 */
#include <stdlib.h>
#include <string.h>

#include "shmvdev_int.h"

struct shmvdev_att *
shmvdev_layout_find_ctl(const struct shmvdev *d, uint64_t gpa)
{
	uint64_t page = gpa & ~(uint64_t)(SHMVDEV_PAGE_SIZE - 1);

	for (size_t i = 0; i < d->natts; i++)
		if (d->atts[i].state != ATT_FREE &&
		    d->atts[i].ctl_gpa == page)
			return &d->atts[i];
	return NULL;
}

struct shmvdev_att *
shmvdev_layout_find_client(const struct shmvdev *d, uint64_t id)
{
	for (size_t i = 0; i < d->natts; i++)
		if ((d->atts[i].state == ATT_ATTACHED ||
		    d->atts[i].state == ATT_REVOKED) &&
		    d->atts[i].client_id == id)
			return &d->atts[i];
	return NULL;
}

/* The first run of n free slots, or -1. */
static int64_t
first_fit(const struct shmvdev *d, uint32_t n)
{
	uint32_t run = 0;

	for (uint32_t s = 0; s < d->nslots; s++) {
		run = d->used[s] ? 0 : run + 1;
		if (run == n)
			return (int64_t)s + 1 - n;
	}
	return -1;
}

static struct shmvdev_att *
new_entry(struct shmvdev *d)
{
	struct shmvdev_att *n;
	size_t cap;

	for (size_t i = 0; i < d->natts; i++)
		if (d->atts[i].state == ATT_FREE)
			return &d->atts[i];
	if (d->natts == d->capatts) {
		cap = d->capatts == 0 ? 8 : d->capatts * 2;
		if ((n = reallocarray(d->atts, cap, sizeof(*n))) == NULL)
			return NULL;
		d->atts = n;
		d->capatts = cap;
	}
	n = &d->atts[d->natts++];
	memset(n, 0, sizeof(*n));
	n->fd = -1;
	n->irqfd = -1;
	return n;
}

struct shmvdev_att *
shmvdev_layout_place(struct shmvdev *d, uint64_t map_len)
{
	uint64_t data_slots = (map_len + SHMVDEV_SLOT_SIZE - 1) /
	    SHMVDEV_SLOT_SIZE;
	struct shmvdev_att *a;
	uint64_t lo;
	int64_t s;

	if (data_slots == 0 || data_slots >= d->nslots ||
	    (s = first_fit(d, (uint32_t)data_slots + 1)) < 0)
		return NULL;
	lo = d->window_base + (uint64_t)s * SHMVDEV_SLOT_SIZE;
	if ((a = new_entry(d)) == NULL)
		return NULL;
	memset(d->used + s, 1, data_slots + 1);
	a->slot = (uint32_t)s;
	a->nslots = (uint32_t)data_slots + 1;
	a->data_gpa = lo + SHMVDEV_SLOT_SIZE;
	a->ctl_gpa = a->data_gpa - SHMVDEV_PAGE_SIZE;
	a->map_len = map_len;
	a->fd = -1;
	a->irqfd = -1;
	return a;
}

void
shmvdev_layout_claim(struct shmvdev *d, const struct shmvdev_att *a)
{
	uint64_t lo = d->window_base + (uint64_t)a->slot * SHMVDEV_SLOT_SIZE;
	uint64_t hi = lo + (uint64_t)a->nslots * SHMVDEV_SLOT_SIZE;

	for (size_t i = 0; i < d->natts; i++)
		if (&d->atts[i] != a && d->atts[i].state == ATT_GONE &&
		    d->atts[i].ctl_gpa >= lo && d->atts[i].ctl_gpa < hi)
			d->atts[i].state = ATT_FREE;
}

void
shmvdev_layout_release(struct shmvdev *d, struct shmvdev_att *a)
{
	if (a->nslots != 0)
		memset(d->used + a->slot, 0, a->nslots);
	a->nslots = 0;
}
