/* SPDX-License-Identifier: ISC */
/*
 * shmctl_conn: shmctl's side of the admin socket. Owns the connection (and
 * the advice when it cannot be made), one admin request with its reply
 * checked for the body it must carry, and the exit code of each failure:
 * <sysexits.h>, so that scripts can tell a typo from a refusal from a
 * daemon that is not there.
 */
#include <errno.h>
#include <string.h>
#include <sysexits.h>

#include "shmctl.h"
#include "wire.h"

int
ctl_conn_open(struct ctl *ctl)
{
	char err[SHMC_ERROR_MAX];
	int rc;

	rc = shmc_connect(ctl->socket, "shmctl", 0, &ctl->c, err, sizeof(err));
	if (rc == 0)
		return EX_OK;
	if (rc == -EPROTO) {
		ctl_warn("%s: %s", ctl->socket, err);
		return EX_SOFTWARE;
	}
	/* The daemon is there and said no: its reason names who may. */
	if (rc == -EPERM) {
		ctl_warn("shmbrokerd at %s refused this connection: %s",
		    ctl->socket, err[0] != '\0' ? err : "no reason given");
		return EX_NOPERM;
	}
	ctl_warn("cannot reach shmbrokerd at %s: %s", ctl->socket,
	    strerror(-rc));
	/* The socket file's mode (or a directory's) keeps this user out,
	 * and the daemon may well run. Still 69: "could not connect", as
	 * scripts (tests/systemd/pid1.sh) take it. */
	if (rc == -EACCES)
		ctl_warn("this user may not open it: the admin socket is for "
		    "root, shmbrokerd's user and admin_group (the socket's "
		    "group: SocketGroup=, SocketMode=0660)");
	else
		ctl_warn("check that shmbrokerd runs and that this is its "
		    "admin socket (--admin-socket PATH or "
		    "$SHMBROKER_ADMIN_SOCKET)");
	return EX_UNAVAILABLE;
}

static int
ctl_conn_exit_for_error(Shmbroker__Error e,
    Shmbroker__ServerMessage__BodyCase want)
{
	/* A reload that applied the file but could not make a region or an
	 * export of it is not a file refused: scripts must tell them apart. */
	if (want == SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_RELOAD &&
	    e == SHMBROKER__ERROR__ERR_NO_RESOURCES)
		return EX_CANTCREAT;
	switch (e) {
	case SHMBROKER__ERROR__ERR_EXISTS:
	case SHMBROKER__ERROR__ERR_INVALID:
	case SHMBROKER__ERROR__ERR_NOT_FOUND:
	case SHMBROKER__ERROR__ERR_BUSY:
	case SHMBROKER__ERROR__ERR_NO_RESOURCES:
		return EX_DATAERR;
	case SHMBROKER__ERROR__ERR_NOT_PERMITTED:
		return EX_NOPERM;
	default:
		return EX_SOFTWARE;
	}
}

/* The exit status for a libshmclient call that failed with rc. */
int
ctl_conn_exit_for_rc(int rc)
{
	switch (rc) {
	case -EPERM:		/* the daemon refused the connection */
		return EX_NOPERM;
	case -EPROTO:
	case -EMSGSIZE:
		return EX_SOFTWARE;
	default:
		return EX_UNAVAILABLE;
	}
}

/*
 * The outcome of an admin call that returned rc with reply m: the reply
 * must carry body want. Returns EX_OK with *out set (the caller frees it),
 * or an exit code after saying why.
 */
int
ctl_conn_reply(struct ctl *ctl, int rc, Shmbroker__ServerMessage *m,
    Shmbroker__ServerMessage__BodyCase want, Shmbroker__ServerMessage **out)
{
	int ex;

	*out = NULL;
	if (rc < 0) {
		ctl_warn("%s", shmc_error(ctl->c));
		return ctl_conn_exit_for_rc(rc);
	}
	if (m->error != SHMBROKER__ERROR__ERR_NONE) {
		ex = ctl_conn_exit_for_error(m->error, want);
		ctl_warn("%s", m->message[0] != '\0' ? m->message :
		    wire_error_name(m->error));
		if (m->error == SHMBROKER__ERROR__ERR_NOT_PERMITTED)
			ctl_warn("is %s the admin socket?", ctl->socket);
		shmbroker__server_message__free_unpacked(m, NULL);
		return ex;
	}
	if (m->body_case != want) {
		ctl_warn("unexpected reply from shmbrokerd (body %d, wanted "
		    "%d)", (int)m->body_case, (int)want);
		shmbroker__server_message__free_unpacked(m, NULL);
		return EX_SOFTWARE;
	}
	*out = m;
	return EX_OK;
}

/* One admin request whose reply must carry body want, as ctl_conn_reply. */
int
ctl_conn_call(struct ctl *ctl, Shmbroker__ClientMessage *req,
    Shmbroker__ServerMessage__BodyCase want, Shmbroker__ServerMessage **out)
{
	Shmbroker__ServerMessage *m = NULL;
	int rc = shmc_call(ctl->c, req, &m);

	return ctl_conn_reply(ctl, rc, m, want, out);
}

/*
 * An admin request that has no fields (status, stats, tenants, reload,
 * watch); its reply must carry the body of the same name.
 */
int
ctl_conn_call_empty(struct ctl *ctl, Shmbroker__ClientMessage__BodyCase bc,
    Shmbroker__ServerMessage **out)
{
	Shmbroker__ClientMessage req = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminStatus status = SHMBROKER__ADMIN_STATUS__INIT;
	Shmbroker__AdminStats stats = SHMBROKER__ADMIN_STATS__INIT;
	Shmbroker__AdminTenants tenants = SHMBROKER__ADMIN_TENANTS__INIT;
	Shmbroker__AdminReload reload = SHMBROKER__ADMIN_RELOAD__INIT;
	Shmbroker__AdminWatch watch = SHMBROKER__ADMIN_WATCH__INIT;
	Shmbroker__ServerMessage__BodyCase want;

	*out = NULL;
	req.body_case = bc;
	switch (bc) {
	case SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_STATUS:
		req.admin_status = &status;
		want = SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_STATUS;
		break;
	case SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_STATS:
		req.admin_stats = &stats;
		want = SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_STATS;
		break;
	case SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_TENANTS:
		req.admin_tenants = &tenants;
		want = SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_TENANTS;
		break;
	case SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_RELOAD:
		req.admin_reload = &reload;
		want = SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_RELOAD;
		break;
	case SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_WATCH:
		req.admin_watch = &watch;
		want = SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_WATCH;
		break;
	default:
		ctl_warn("internal error: request %d has fields", (int)bc);
		return EX_SOFTWARE;
	}
	return ctl_conn_call(ctl, &req, want, out);
}
