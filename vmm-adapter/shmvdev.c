/* SPDX-License-Identifier: ISC */
/*
 * shmvdev: one VM's shmem vdev on top of vdev_regs (the register decoding)
 * and libshmclient (the daemon, and the direct notification path). It
 * turns the actions the decoder returns into daemon calls or direct
 * notifies and status reads, and the daemon's answers and events into
 * guest-visible state, mappings and interrupts (raised from dispatch, or
 * by the kernel through a bound irqfd). Placement is in shmvdev_layout.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shmclient.h"
#include "shmvdev_int.h"

#define CTL_STATUS_END	4u	/* control status occupies bytes 0-3 */

static void __attribute__((format(printf, 2, 3)))
seterr(struct shmvdev *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->err, sizeof(d->err), fmt, ap);
	va_end(ap);
}

static int __attribute__((format(printf, 4, 5)))
open_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* Fills the defaults into *c and says what is wrong with it, or NULL. */
static const char *
check_config(struct shmvdev_config *c)
{
	uint64_t f = c->factory_gpa, wb, we;

	if (c->factory_gpa == 0)
		c->factory_gpa = SHMVDEV_DEFAULT_FACTORY_GPA;
	if (c->window_base == 0)
		c->window_base = SHMVDEV_DEFAULT_WINDOW_BASE;
	if (c->window_size == 0 && c->window_base < SHMVDEV_WINDOW_LIMIT)
		c->window_size = SHMVDEV_WINDOW_LIMIT - c->window_base;
	if (c->reconnect_ms == 0)
		c->reconnect_ms = SHMVDEV_DEFAULT_RECONNECT_MS;
	f = c->factory_gpa;
	wb = c->window_base;
	we = wb + c->window_size;
	if (f % SHMVDEV_PAGE_SIZE != 0 || f > UINT64_MAX - SHMVDEV_PAGE_SIZE)
		return "factory_gpa must be 4 KiB aligned";
	if (wb % SHMVDEV_SLOT_SIZE != 0 || c->window_size % SHMVDEV_SLOT_SIZE)
		return "window_base and window_size must be 2 MiB multiples";
	if (c->window_size < 2 * SHMVDEV_SLOT_SIZE)
		return "window_size must be at least 4 MiB";
	if (wb >= SHMVDEV_WINDOW_LIMIT || we > SHMVDEV_WINDOW_LIMIT ||
	    we < wb)
		return "the window must end at or below 4 GiB";
	if (f + SHMVDEV_PAGE_SIZE > wb && f < we)
		return "the factory page lies inside the window";
	return NULL;
}

int
shmvdev_open(const struct shmvdev_config *cfg, const struct shmvdev_ops *ops,
    void *vmm, struct shmvdev **out, char *err, size_t errlen)
{
	struct shmvdev_config c = *cfg;
	struct shmvdev *d;
	const char *why;
	int rc;

	*out = NULL;
	if (ops == NULL || ops->map == NULL || ops->unmap == NULL ||
	    ops->raise_irq == NULL)
		return open_fail(err, errlen, -EINVAL,
		    "shmvdev: map, unmap and raise_irq must all be given");
	if ((ops->bind_irqfd == NULL) != (ops->unbind_irqfd == NULL))
		return open_fail(err, errlen, -EINVAL,
		    "shmvdev: bind_irqfd and unbind_irqfd go together");
	if ((why = check_config(&c)) != NULL)
		return open_fail(err, errlen, -EINVAL, "shmvdev: %s", why);
	if ((d = calloc(1, sizeof(*d))) == NULL ||
	    (d->used = calloc(c.window_size / SHMVDEV_SLOT_SIZE, 1)) == NULL) {
		free(d);
		return open_fail(err, errlen, -ENOMEM, "shmvdev: out of memory");
	}
	d->ops = *ops;
	d->vmm = vmm;
	d->factory_gpa = c.factory_gpa;
	d->window_base = c.window_base;
	d->nslots = (uint32_t)(c.window_size / SHMVDEV_SLOT_SIZE);
	shmvdev_factory_init(&d->fac, c.vector);
	rc = shmc_connect(c.socket, c.label, SHMC_DEFAULT_TIMEOUT_MS, &d->c,
	    err, errlen);
	if (rc < 0) {
		free(d->used);
		free(d);
		return rc;
	}
	if (c.reconnect_ms > 0)
		shmc_set_reconnect(d->c, c.reconnect_ms);
	/* The way shmvdev.h asks VMMs to run it: calls on vCPU threads, the
	 * event fd polled by another. */
	shmc_set_event_thread(d->c, true);
	*out = d;
	return 0;
}

/* Undoes the irqfd of a before libshmclient closes its eventfd. */
static void
unbind_att(struct shmvdev *d, struct shmvdev_att *a)
{
	if (a->irqfd < 0)
		return;
	d->ops.unbind_irqfd(d->vmm, a->irqfd);
	a->irqfd = -1;
}

/* Binds efd, the client's own eventfd taken from libshmclient; a failure
 * gives it back, and dispatch raises the irq instead. */
static void
bind_efd(struct shmvdev *d, struct shmvdev_att *a, int efd)
{
	int rc;

	if (efd >= 0 && (rc = d->ops.bind_irqfd(d->vmm, efd)) == 0) {
		a->irqfd = efd;
		return;
	}
	if (efd >= 0)
		seterr(d, "binding the eventfd of client %llu as an irqfd "
		    "failed: %s; interrupts go through dispatch",
		    (unsigned long long)a->client_id, strerror(-rc));
	(void)shmc_attachment_eventfd_release(d->c, a->client_id);
}

static void
release_att(struct shmvdev *d, struct shmvdev_att *a)
{
	unbind_att(d, a);
	shmvdev_layout_release(d, a);
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
}

void
shmvdev_close(struct shmvdev *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->natts; i++) {
		unbind_att(d, &d->atts[i]);
		if (d->atts[i].fd >= 0)
			close(d->atts[i].fd);
	}
	shmc_close(d->c);
	free(d->atts);
	free(d->used);
	free(d);
}

const char *
shmvdev_error(const struct shmvdev *d)
{
	return d->err;
}

int
shmvdev_event_fd(const struct shmvdev *d)
{
	return shmc_event_fd(d->c);
}

bool
shmvdev_claims(const struct shmvdev *d, uint64_t gpa)
{
	return (gpa >= d->factory_gpa &&
	    gpa - d->factory_gpa < SHMVDEV_PAGE_SIZE) ||
	    shmvdev_layout_find_ctl(d, gpa) != NULL;
}

size_t
shmvdev_attached(const struct shmvdev *d, uint64_t *ctl, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < d->natts; i++)
		if (d->atts[i].state == ATT_ATTACHED ||
		    d->atts[i].state == ATT_REVOKED) {
			if (k < n)
				ctl[k] = d->atts[i].ctl_gpa;
			k++;
		}
	return k;
}

/* Some of the clients a restart changed in one way, for the message. */
#define ID_LIST_SHOWN 4
struct id_list {
	uint64_t id[ID_LIST_SHOWN];
	size_t n;		/* all of them, shown or not */
};

static void
id_list_add(struct id_list *l, uint64_t id)
{
	if (l->n < ID_LIST_SHOWN)
		l->id[l->n] = id;
	l->n++;
}

/* "client 3" or "clients 1 2 3 4 and 5 more", then what befell them; ""
 * for none. */
static void
id_list_say(const struct id_list *l, const char *what, char *buf,
    size_t len)
{
	size_t used;

	buf[0] = '\0';
	if (l->n == 0)
		return;
	used = (size_t)snprintf(buf, len, "client%s", l->n > 1 ? "s" : "");
	for (size_t i = 0; i < l->n && i < ID_LIST_SHOWN && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, " %llu",
		    (unsigned long long)l->id[i]);
	if (l->n > ID_LIST_SHOWN && used < len)
		used += (size_t)snprintf(buf + used, len - used,
		    " and %zu more", l->n - ID_LIST_SHOWN);
	if (used < len)
		snprintf(buf + used, len - used, ": %s", what);
}

/* What a restart changed, in one message: one per client would leave only
 * the last in shmvdev_error, and a guest whose memory is no longer its
 * peers' must not go unsaid. */
static void
say_restart(struct shmvdev *d, const struct id_list *anew,
    const struct id_list *lost)
{
	char a[224], l[192];

	id_list_say(anew, "region made anew, the guest keeps the old memory "
	    "(no longer its peers')", a, sizeof(a));
	id_list_say(lost, "lost (region did not come back)", l, sizeof(l));
	if (a[0] != '\0' || l[0] != '\0')
		seterr(d, "the daemon restarted: %s%s%s", a,
		    a[0] != '\0' && l[0] != '\0' ? "; " : "", l);
}

/*
 * After libshmclient reconnected to a restarted daemon, an attachment may
 * have another index or be lost (its region did not come back).
 */
static void
refresh_after_reconnect(struct shmvdev *d)
{
	unsigned n = shmc_reconnects(d->c);
	struct id_list anew = { .n = 0 }, lost = { .n = 0 };
	uint32_t idx;
	bool same;
	int rc;

	if (n == d->reconnects)
		return;
	d->reconnects = n;
	for (size_t i = 0; i < d->natts; i++) {
		struct shmvdev_att *a = &d->atts[i];

		if (a->state != ATT_ATTACHED)
			continue;
		rc = shmc_attachment_info(d->c, a->client_id, &idx, &same);
		/* An admin's revocation, which its event (queued before the
		 * reconnect) applies; taken for a lost client, whose guest
		 * keeps the memory, it would not be. */
		if (rc == -ECANCELED)
			continue;
		if (rc < 0) {
			a->state = ATT_REVOKED;
			id_list_add(&lost, a->client_id);
			continue;
		}
		if (!a->ctl.detached)
			a->ctl.idx = idx;
		if (!same)
			id_list_add(&anew, a->client_id);
	}
	say_restart(d, &anew, &lost);
}

/* Maps a fresh attachment into the window and binds efd, its eventfd
 * (-1: the VMM binds none); a guest status. */
static uint32_t
place_region(struct shmvdev *d, const struct shmc_region *r, int efd,
    uint64_t *ctl_gpa)
{
	uint64_t len = (r->backing_bytes + SHMVDEV_PAGE_SIZE - 1) &
	    ~(uint64_t)(SHMVDEV_PAGE_SIZE - 1);
	struct shmvdev_att *a;
	int rc;

	if ((a = shmvdev_layout_place(d, len)) == NULL) {
		seterr(d, "no room for %llu bytes in the shmem window; "
		    "detach regions or configure a larger window",
		    (unsigned long long)len);
		return GSS_NOMEM;
	}
	if ((rc = d->ops.map(d->vmm, a->data_gpa, r->fd, len,
	    r->hugetlb)) < 0) {
		shmvdev_layout_release(d, a);
		a->state = ATT_FREE;
		seterr(d, "mapping the region at 0x%llx failed: %s",
		    (unsigned long long)a->data_gpa, strerror(-rc));
		return rc == -ENOMEM ? GSS_NOMEM : GSS_UNKNOWN_FAILURE;
	}
	shmvdev_layout_claim(d, a);
	a->state = ATT_ATTACHED;
	a->client_id = r->client_id;
	a->fd = r->fd;
	a->irqfd = -1;
	shmvdev_control_init(&a->ctl, r->index);
	if (efd >= 0)
		bind_efd(d, a, efd);
	*ctl_gpa = a->ctl_gpa;
	return GSS_OK;
}

/* A size (create) or find write: the name is already in the factory. */
static void
factory_attach(struct shmvdev *d, bool create, uint32_t pages)
{
	unsigned nlen = shmvdev_factory_name_len(&d->fac);
	struct shmc_region r;
	uint64_t ctl = 0;
	uint32_t st;
	int rc, efd = -1;

	if (nlen == 0) {
		seterr(d, "the guest's region name has no NUL in 32 bytes");
		shmvdev_factory_result(&d->fac, GSS_ILLEGAL_NAME, 0, 0);
		return;
	}
	/* With an irqfd the eventfd goes straight to the VMM; without, the
	 * library watches it for shmvdev_dispatch. */
	if (d->ops.bind_irqfd != NULL)
		rc = shmc_attach_claim(d->c, d->fac.name, nlen,
		    create ? pages : 0, create, &r, &efd);
	else
		rc = shmc_attach_raw(d->c, d->fac.name, nlen,
		    create ? pages : 0, create, &r);
	if (rc < 0) {
		seterr(d, "attach: %s", shmc_error(d->c));
		shmvdev_factory_result(&d->fac, GSS_UNKNOWN_FAILURE, 0, 0);
		return;
	}
	if (rc != GSS_OK) {
		seterr(d, "attach: status %d: %s", rc, shmc_error(d->c));
		shmvdev_factory_result(&d->fac, (uint32_t)rc, 0, 0);
		return;
	}
	if ((st = place_region(d, &r, efd, &ctl)) != GSS_OK) {
		/* The daemon drops a guest region with its last client, so
		 * a failed create leaves nothing behind. */
		(void)shmc_detach(d->c, r.client_id);
		close(r.fd);
	}
	shmvdev_factory_result(&d->fac, st, ctl, r.size_pages);
}

static uint64_t
factory_access(struct shmvdev *d, uint32_t off, bool is_write, unsigned len,
    uint64_t data)
{
	enum shmvdev_action act;
	uint32_t arg;

	if (!is_write)
		return shmvdev_factory_read(&d->fac, off, len);
	act = shmvdev_factory_write(&d->fac, off, len, data, &arg);
	if (act == SHMVDEV_CREATE)
		factory_attach(d, true, arg);
	else if (act == SHMVDEV_FIND)
		factory_attach(d, false, 0);
	return 0;
}

/* The status word for a read that takes the pending bits in take. */
static uint32_t
status_word(struct shmvdev *d, struct shmvdev_att *a, uint32_t take)
{
	uint32_t w;
	int rc;

	if (a->state != ATT_ATTACHED)
		return 0;	/* revoked: no peers, nothing pending */
	rc = shmc_status_direct(d->c, a->client_id, ~take & 0xffffu, &w);
	if (rc < 0) {
		seterr(d, "status read: %s", shmc_error(d->c));
		return 0;
	}
	return w;
}

/* Detaches a's client, unmaps it and frees its slots; its control page
 * stays claimed (as a detached page) when keep_page. */
static void
detach_att(struct shmvdev *d, struct shmvdev_att *a, bool keep_page)
{
	int rc;

	/* Unbound while its eventfd is still open: the detach closes it.
	 * A revoked (or lost) client is detached from libshmclient too,
	 * which answers -ENOENT and lets go of its eventfd and record. */
	unbind_att(d, a);
	if ((a->state == ATT_ATTACHED || a->state == ATT_REVOKED) &&
	    (rc = shmc_detach(d->c, a->client_id)) < 0 && rc != -ENOENT)
		seterr(d, "detach: %s", shmc_error(d->c));
	if (a->state == ATT_ATTACHED || a->state == ATT_REVOKED)
		(void)d->ops.unmap(d->vmm, a->data_gpa, a->map_len);
	release_att(d, a);
	a->state = keep_page ? ATT_GONE : ATT_FREE;
}

static uint64_t
control_access(struct shmvdev *d, struct shmvdev_att *a, uint32_t off,
    bool is_write, unsigned len, uint64_t data)
{
	uint32_t take, mask, word = 0;
	unsigned act;
	int rc;

	if (a->state == ATT_GONE)
		return 0;
	if (!is_write) {
		take = shmvdev_control_take_mask(&a->ctl, off, len);
		if (len >= 1 && len <= SHMVDEV_MAX_ACCESS && off < CTL_STATUS_END)
			word = status_word(d, a, take);
		return shmvdev_control_read(&a->ctl, off, len, word);
	}
	act = shmvdev_control_write(&a->ctl, off, len, data, &mask);
	if ((act & SHMVDEV_NOTIFY) && a->state == ATT_ATTACHED &&
	    (rc = shmc_notify_direct(d->c, a->client_id, mask)) < 0)
		seterr(d, "notify: %s", shmc_error(d->c));
	if (act & SHMVDEV_DETACH)
		detach_att(d, a, true);
	return 0;
}

bool
shmvdev_access(struct shmvdev *d, uint64_t gpa, bool is_write, unsigned len,
    uint64_t data, uint64_t *value)
{
	struct shmvdev_att *a;

	*value = 0;
	if (gpa >= d->factory_gpa && gpa - d->factory_gpa < SHMVDEV_PAGE_SIZE) {
		refresh_after_reconnect(d);
		*value = factory_access(d, (uint32_t)(gpa - d->factory_gpa),
		    is_write, len, data);
		return true;
	}
	if ((a = shmvdev_layout_find_ctl(d, gpa)) == NULL)
		return false;
	refresh_after_reconnect(d);
	*value = control_access(d, a, (uint32_t)(gpa % SHMVDEV_PAGE_SIZE),
	    is_write, len, data);
	return true;
}

static void
on_event(const struct shmc_event *ev, void *arg)
{
	struct shmvdev *d = arg;
	struct shmvdev_att *a;

	/* A reconnect's events may come before the access or dispatch that
	 * would see it: the books first. */
	refresh_after_reconnect(d);
	if (ev->kind == SHMC_EVENT_ADMIN ||
	    (a = shmvdev_layout_find_client(d, ev->client_id)) == NULL ||
	    (a->state != ATT_ATTACHED && !(a->state == ATT_REVOKED &&
	    ev->kind == SHMC_EVENT_REVOKED)))
		return;
	if (ev->kind == SHMC_EVENT_EVENTFD_CHANGED) {
		/* A daemon restart: the old one is closed after this. */
		if (a->irqfd == ev->old_eventfd)
			unbind_att(d, a);
		if (a->irqfd < 0 && d->ops.bind_irqfd != NULL)
			bind_efd(d, a, ev->eventfd);
		/* The restarted daemon's members, and this client's index,
		 * may not be the old ones: the guest is told to look. */
		d->ops.raise_irq(d->vmm);
		return;
	}
	/* An admin revoked the client (destroyed its region, or detached
	 * it alone while the region lives on for its peers): the guest loses
	 * the memory now, as at its own detach. Its control page stays
	 * claimed and reads 0; the interrupt says so. A client a restart
	 * lost (ATT_REVOKED) keeps its memory; its status shows it alone. */
	if (ev->kind == SHMC_EVENT_REVOKED && a->state == ATT_ATTACHED)
		detach_att(d, a, true);
	d->ops.raise_irq(d->vmm);
}

int
shmvdev_dispatch(struct shmvdev *d)
{
	int rc = shmc_dispatch(d->c, on_event, d);

	if (rc < 0)
		seterr(d, "events: %s", shmc_error(d->c));
	refresh_after_reconnect(d);
	return rc;
}

void
shmvdev_reset(struct shmvdev *d)
{
	refresh_after_reconnect(d);
	for (size_t i = 0; i < d->natts; i++)
		if (d->atts[i].state != ATT_FREE)
			detach_att(d, &d->atts[i], false);
	shmvdev_factory_init(&d->fac, d->fac.vector);
}
