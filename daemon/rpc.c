/* SPDX-License-Identifier: ISC */
/*
 * rpc: what the services above the transport make of a connection. Each
 * request datagram is decoded and routed to the VMM or the admin service;
 * everything a peer can get wrong at the envelope level is answered here
 * with an error reply: a datagram that is not a ClientMessage, one that
 * carries fds (no request does), an unknown request type, an admin
 * request on the VMM socket. A dead connection's subscriptions and
 * clients are let go. conn.c calls these through rpc_upcalls, never by
 * name, so the transport depends on nothing above it.
 */

#include "broker.h"

static void
rpc_dispatch_vmm(struct conn *c, const Shmbroker__ClientMessage *m)
{
	switch (m->body_case) {
	case SHMBROKER__CLIENT_MESSAGE__BODY_HELLO:
		vmm_hello(c, m->id, m->hello);
		break;
	case SHMBROKER__CLIENT_MESSAGE__BODY_ATTACH:
		vmm_attach(c, m->id, m->attach);
		break;
	case SHMBROKER__CLIENT_MESSAGE__BODY_NOTIFY:
		vmm_notify(c, m->id, m->notify);
		break;
	case SHMBROKER__CLIENT_MESSAGE__BODY_READ_STATUS:
		vmm_read_status(c, m->id, m->read_status);
		break;
	case SHMBROKER__CLIENT_MESSAGE__BODY_DETACH:
		vmm_detach(c, m->id, m->detach);
		break;
	default:
		break;
	}
}

static bool
rpc_is_vmm_request(Shmbroker__ClientMessage__BodyCase bc)
{
	return bc >= SHMBROKER__CLIENT_MESSAGE__BODY_HELLO &&
	    bc <= SHMBROKER__CLIENT_MESSAGE__BODY_DETACH;
}

static bool
rpc_is_admin_request(Shmbroker__ClientMessage__BodyCase bc)
{
	return bc >= SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_STATUS &&
	    bc <= SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_DETACH;
}

static void
rpc_dispatch(struct conn *c, const uint8_t *buf, size_t len, size_t nfds)
{
	struct broker *b = c->b;
	Shmbroker__ClientMessage *m;

	m = wire_unpack_client_in(b->scratch, buf, len);
	if (m == NULL) {
		b->stats.bad_requests++;
		conn_reply_error(c, 0, SHMBROKER__ERROR__ERR_BAD_REQUEST,
		    "malformed request: not a shmbroker ClientMessage");
		return;
	}
	if (c->refusal != NULL) {
		policy_deny(b, c->tenant);
		conn_reply_error(c, m->id, SHMBROKER__ERROR__ERR_NOT_PERMITTED,
		    "%s (uid %u, gid %u)", c->refusal, (unsigned)c->cred.uid,
		    (unsigned)c->cred.gid);
		conn_kill(c, c->refusal);
	} else if (nfds > 0) {
		b->stats.bad_requests++;
		b->stats.datagrams_with_fds++;
		conn_reply_error(c, m->id, SHMBROKER__ERROR__ERR_BAD_REQUEST,
		    "requests carry no file descriptors; %zu closed", nfds);
	} else if (rpc_is_vmm_request(m->body_case)) {
		rpc_dispatch_vmm(c, m);
	} else if (rpc_is_admin_request(m->body_case)) {
		if (c->kind == CONN_ADMIN)
			admin_dispatch(c, m);
		else
			conn_reply_error(c, m->id,
			    SHMBROKER__ERROR__ERR_NOT_PERMITTED,
			    "admin requests are only served on the admin socket");
	} else {
		b->stats.bad_requests++;
		conn_reply_error(c, m->id, SHMBROKER__ERROR__ERR_BAD_REQUEST,
		    "unknown or missing request type: this daemon speaks "
		    "protocol version %d", WIRE_PROTOCOL_VERSION);
	}
	wire_done_client(b->scratch, m);
}

/* A dead connection hears of nothing more. */
static void
rpc_conn_killed(struct conn *c)
{
	watch_remove(c);
}

static void
rpc_conn_reaped(struct conn *c)
{
	struct client *cl;

	while ((cl = LIST_FIRST(&c->clients)) != NULL)
		region_detach_client(c->b, cl);
}

const struct conn_upcalls rpc_upcalls = {
	.dispatch = rpc_dispatch,
	.killed = rpc_conn_killed,
	.reaped = rpc_conn_reaped,
};
