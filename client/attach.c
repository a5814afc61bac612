/* SPDX-License-Identifier: ISC */
/*
 * libshmclient's calls on attachments: attach (create or find, its
 * eventfd claimed by the caller or not), notify, read-and-clear the
 * status, detach. Notify and status reads take the direct path
 * (signals.c) where the attachment has one, and go to the daemon where it
 * has not.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "qvm/guest_shm.h"

#include "shmclient_int.h"

int
shmc_memfd_ok(int fd, uint64_t bytes, struct stat *st)
{
	int seals = fcntl(fd, F_GET_SEALS);

	return fstat(fd, st) == 0 && S_ISREG(st->st_mode) &&
	    (uint64_t)st->st_size >= bytes && seals >= 0 &&
	    (seals & F_SEAL_SHRINK) ? 0 : -EPROTO;
}

/* Detaches a client the caller will never hear of (ours could not be
 * remembered). */
static void
shmc_detach_unknown(struct shmc *c, uint64_t id)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__Detach d = SHMBROKER__DETACH__INIT;
	Shmbroker__ServerMessage *m;

	d.client_id = id;
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_DETACH;
	req.detach = &d;
	if (shmc_call_once(c, &req, &m) == 0)
		wire_done_server(c->scratch, m);
}

/* hugetlbfs, whose mappings go in whole huge pages. */
static bool
shmc_is_hugetlbfs(int fd)
{
	struct statfs sf;

	return fstatfs(fd, &sf) == 0 && sf.f_type == HUGETLBFS_MAGIC;
}

/* What the reply says of the memory must hold for the memfd: the region
 * is mapped for backing_bytes, and past the memfd's end a VMM touching it
 * would fault; a hugetlb mapping is unmapped in whole huge pages, and a
 * memfd said not to be one would leave its mapping behind. st_blksize is
 * the huge page size on hugetlbfs, but also on shmem where it uses
 * transparent huge pages (and the page size on a kernel of 64 KiB
 * pages): only then is the file system asked. */
static bool
shmc_backing_ok(const Shmbroker__AttachReply *r, int fd,
    const struct stat *st)
{
	bool huge = r->backing == SHMBROKER__BACKING__BACKING_HUGETLB;

	if (r->backing_bytes < (uint64_t)r->size_pages * 4096 ||
	    r->backing_bytes > (uint64_t)st->st_size)
		return false;
	if (huge)
		return st->st_blksize > 4096 &&
		    r->backing_bytes % (uint64_t)st->st_blksize == 0;
	return st->st_blksize <= 4096 || !shmc_is_hugetlbfs(fd);
}

int
shmc_attach_once(struct shmc *c, const void *name, size_t len,
    uint32_t size_pages, bool create, uint32_t want_index,
    struct shmc_region *out, struct att_fds *af)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__Attach a = SHMBROKER__ATTACH__INIT;
	Shmbroker__ServerMessage *m;
	Shmbroker__AttachReply *r;
	struct wire_fds fds = { .n = 0 };
	struct stat st;
	uint64_t unusable = 0;
	int rc;

	a.name.data = (uint8_t *)name;
	a.name.len = len;
	a.size_pages = size_pages;
	a.create = create;
	a.want_index = want_index;
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ATTACH;
	req.attach = &a;
	if ((rc = shmc_roundtrip(c, &req, &m, &fds)) < 0)
		return rc;
	r = m->attach;
	if (m->error != SHMBROKER__ERROR__ERR_NONE ||
	    m->body_case != SHMBROKER__SERVER_MESSAGE__BODY_ATTACH) {
		rc = shmc_fail(c, -EPROTO, "%s", m->message[0] ? m->message :
		    "unexpected reply from shmbrokerd");
	} else if ((int)r->status < 0 || (int)r->status > GSS_DOES_NOT_EXIST) {
		/* Returned as it is, it would pass for an errno or a status
		 * no guest knows. */
		rc = shmc_fail(c, -EPROTO, "shmbrokerd answered the attach with "
		    "status %d, which is no guest status", (int)r->status);
	} else if (r->status != SHMBROKER__GUEST_STATUS__GSS_OK) {
		rc = (int)r->status;
		shmc_fail(c, 0, "%s: %s", wire_status_name(rc), m->message);
	} else if (fds.n < 1 || r->size_pages == 0 ||
	    shmc_memfd_ok(fds.fd[0], (uint64_t)r->size_pages * 4096,
	    &st) < 0 || !shmc_backing_ok(r, fds.fd[0], &st) ||
	    shmc_af_take(af, &fds, r->index, r->active_mask) < 0) {
		rc = shmc_fail(c, -EPROTO, "attach reply without a sealed "
		    "region memfd of its %u pages and %llu bytes of %s, the "
		    "state page and the eventfds (%zu fds%s)", r->size_pages,
		    (unsigned long long)r->backing_bytes, r->backing ==
		    SHMBROKER__BACKING__BACKING_HUGETLB ? "huge pages" :
		    "shmem", fds.n, c->fds_lost ? ": the others did not fit "
		    "under this process's descriptor limit" : "");
		unusable = r->client_id;
	} else {
		af->dev = st.st_dev;
		af->ino = st.st_ino;
		out->client_id = r->client_id;
		out->region_id = r->region_id;
		out->fd = fds.fd[0];
		fds.n = 0;	/* the caller's now */
		out->index = r->index;
		out->size_pages = r->size_pages;
		out->backing_bytes = r->backing_bytes;
		out->hugetlb = r->backing == SHMBROKER__BACKING__BACKING_HUGETLB;
		out->created = r->created;
		out->active_mask = r->active_mask;
		out->read_only = r->read_only;
		rc = SHMC_GSS_OK;
	}
	wire_fds_close(&fds);
	wire_done_server(c->scratch, m);
	/* Attached all the same: it would hold an index and a quota. The
	 * caller is told why the attach failed, not how the detach went. */
	if (unusable != 0) {
		char why[sizeof(c->err)];

		memcpy(why, c->err, sizeof(why));
		shmc_detach_unknown(c, unusable);
		memcpy(c->err, why, sizeof(why));
	}
	return rc;
}

static int
shmc_attach_common(struct shmc *c, bool claim, const void *name, size_t len,
    uint32_t size_pages, bool create, struct shmc_region *out)
{
	struct att_fds af;
	int rc, err;

	shmc_af_init(&af);
	rc = shmc_attach_once(c, name, len, size_pages, create, 0, out, &af);
	if (shmc_try_again(c, &rc))
		rc = shmc_attach_once(c, name, len, size_pages, create, 0, out,
		    &af);
	if (rc != SHMC_GSS_OK)
		return rc;
	/* Nothing may read the socket before this: a peer's join right
	 * behind the reply names a client the library does not know yet,
	 * and its eventfd would be dropped (shmc_translate_event). */
	if ((err = shmc_att_add(c, claim, name, len, size_pages, out,
	    &af)) < 0) {
		shmc_detach_unknown(c, out->client_id);
		close(out->fd);
		return shmc_fail(c, err, "cannot remember the attachment: %s",
		    strerror(-err));
	}
	return rc;
}

/* The shared library's callers since struct shmc_region grew read_only
 * get these; those built before get compat.c's, under LIBSHMCLIENT_0. */
#ifdef SHMCLIENT_SHARED
__asm__(".symver shmc_attach_raw, shmc_attach_raw@@@LIBSHMCLIENT_1");
__asm__(".symver shmc_attach_claim, shmc_attach_claim@@@LIBSHMCLIENT_1");
__asm__(".symver shmc_attach, shmc_attach@@@LIBSHMCLIENT_1");
#endif

int
shmc_attach_raw(struct shmc *c, const void *name, size_t len,
    uint32_t size_pages, bool create, struct shmc_region *out)
{
	return shmc_attach_common(c, false, name, len, size_pages, create,
	    out);
}

int
shmc_attach_claim(struct shmc *c, const void *name, size_t len,
    uint32_t size_pages, bool create, struct shmc_region *out, int *eventfd)
{
	int rc = shmc_attach_common(c, true, name, len, size_pages, create,
	    out);

	*eventfd = rc == SHMC_GSS_OK ?
	    shmc_attachment_eventfd(c, out->client_id) : -1;
	return rc;
}

int
shmc_attach(struct shmc *c, const char *name, uint32_t size_pages,
    bool create, struct shmc_region *out)
{
	return shmc_attach_raw(c, name, strlen(name) + 1, size_pages, create,
	    out);
}

/*
 * The attachment whose direct path works, else NULL: the request then
 * goes to the daemon (a raw client id, a revoked or lost one). The old
 * calls went to the daemon and so noticed it had gone (and reconnected):
 * a look at the socket, no daemon call, keeps that. *rc is the error when
 * the daemon is gone for good.
 */
static struct attachment *
shmc_direct(struct shmc *c, uint64_t client_id, int *rc)
{
	struct pollfd p = { .fd = c->sock, .events = POLLIN | POLLRDHUP };
	struct attachment *a;

	*rc = 0;
	/* Events that wait in the socket are read into the queue on the way,
	 * as a reply would have: the active mask is as the daemon last said. */
	if (c->sock >= 0 && poll(&p, 1, 0) > 0 && (p.revents & POLLIN) &&
	    !(p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
		shmc_pump(c);
	if (c->sock < 0 || (poll(&p, 1, 0) > 0 &&
	    (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))) {
		*rc = -ECONNRESET;
		if (!shmc_try_again(c, rc)) {
			if (*rc == -ECONNRESET)
				shmc_fail(c, *rc, "shmbrokerd closed the "
				    "connection");
			return NULL;
		}
	}
	a = shmc_att_by_user(c, client_id);
	return a != NULL && a->lost == 0 && !a->revoked &&
	    (a->sig.state != NULL || a->sig.state_fd >= 0) ? a : NULL;
}

int
shmc_notify(struct shmc *c, uint64_t client_id, uint32_t mask,
    uint32_t *delivered)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__Notify n = SHMBROKER__NOTIFY__INIT;
	Shmbroker__ServerMessage *m;
	struct attachment *a;
	int rc;

	if ((a = shmc_direct(c, client_id, &rc)) != NULL) {
		uint16_t t = shm_state_targets(a->sig.active, a->index, mask);

		if (delivered != NULL)
			*delivered = t;
		return shmc_notify_direct(c, client_id, mask);
	}
	if (rc < 0)
		return rc;
	n.mask = mask;
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_NOTIFY;
	req.notify = &n;
	rc = shmc_client_call(c, &req, &n.client_id, client_id,
	    SHMBROKER__SERVER_MESSAGE__BODY_NOTIFY, &m);
	if (rc < 0)
		return rc;
	if (delivered != NULL)
		*delivered = m->notify->delivered;
	wire_done_server(c->scratch, m);
	return 0;
}

int
shmc_read_status(struct shmc *c, uint64_t client_id, uint32_t *status)
{
	return shmc_read_status_keep(c, client_id, 0, status);
}

int
shmc_read_status_keep(struct shmc *c, uint64_t client_id, uint32_t keep_mask,
    uint32_t *status)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__ReadStatus rs = SHMBROKER__READ_STATUS__INIT;
	Shmbroker__ServerMessage *m;
	int rc;

	if (shmc_direct(c, client_id, &rc) != NULL)
		return shmc_status_direct(c, client_id, keep_mask, status);
	if (rc < 0)
		return rc;
	rs.keep_mask = keep_mask;
	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_READ_STATUS;
	req.read_status = &rs;
	rc = shmc_client_call(c, &req, &rs.client_id, client_id,
	    SHMBROKER__SERVER_MESSAGE__BODY_READ_STATUS, &m);
	if (rc < 0)
		return rc;
	*status = m->read_status->status;
	wire_done_server(c->scratch, m);
	return 0;
}

int
shmc_detach(struct shmc *c, uint64_t client_id)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__Detach d = SHMBROKER__DETACH__INIT;
	Shmbroker__ServerMessage *m;
	int rc;

	req.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_DETACH;
	req.detach = &d;
	if ((rc = shmc_resolve(c, client_id, &d.client_id)) == 0)
		rc = shmc_call_expect(c, &req,
		    SHMBROKER__SERVER_MESSAGE__BODY_DETACH, &m);
	if (rc == 0)
		wire_done_server(c->scratch, m);
	/* Gone whatever the outcome: the caller has let the client go, so a
	 * reconnect must not re-claim it. A daemon that answers late still
	 * reads the request; one that went away drops the client with the
	 * connection. Forgotten before the reconnect below: a daemon that
	 * read the detach and then died has freed the index, and may have
	 * given it to another VMM, whose re-claim it is; re-claiming it here
	 * (to detach it again) would take it from that VMM, or fail on a
	 * region the detach removed. */
	shmc_att_forget_id(c, client_id);
	/* The connection broke under the detach: the client went with it.
	 * Reconnect now for the other attachments; the detach is done. */
	if (shmc_try_again(c, &rc))
		rc = 0;
	return rc;
}
