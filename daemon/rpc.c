/*
 * rpc: decodes one request datagram and routes it. Everything a peer can
 * get wrong at the envelope level is answered here with an error reply: a
 * datagram that is not a ClientMessage, one that carries fds (no request
 * does), an unknown request type, an admin request on the VMM socket.
 */
#include <stdarg.h>
#include <stdio.h>

#include "broker.h"

void
rpc_reply_error(struct conn *c, uint64_t id, Shmbroker__Error err,
    const char *fmt, ...)
{
	Shmbroker__ServerMessage m = SHMBROKER__SERVER_MESSAGE__INIT;
	char text[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	m.id = id;
	m.error = err;
	m.message = text;
	log_debug(&c->b->log, "connection %llu request %llu: %s",
	    (unsigned long long)c->id, (unsigned long long)id, text);
	conn_send(c, &m, NULL, 0);
}

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
	    bc <= SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_RELOAD;
}

void
rpc_dispatch(struct conn *c, const uint8_t *buf, size_t len,
    struct wire_fds *fds)
{
	struct broker *b = c->b;
	Shmbroker__ClientMessage *m;

	m = shmbroker__client_message__unpack(NULL, len, buf);
	if (m == NULL) {
		wire_fds_close(fds);
		b->stats.bad_requests++;
		rpc_reply_error(c, 0, SHMBROKER__ERROR__ERR_BAD_REQUEST,
		    "malformed request: not a shmbroker ClientMessage");
		return;
	}
	if (c->refusal != NULL) {
		wire_fds_close(fds);
		policy_deny(b, c->tenant);
		rpc_reply_error(c, m->id, SHMBROKER__ERROR__ERR_NOT_PERMITTED,
		    "%s (uid %u, gid %u)", c->refusal, (unsigned)c->cred.uid,
		    (unsigned)c->cred.gid);
		conn_kill(c, c->refusal);
	} else if (fds->n > 0) {
		size_t n = fds->n;

		wire_fds_close(fds);
		b->stats.bad_requests++;
		rpc_reply_error(c, m->id, SHMBROKER__ERROR__ERR_BAD_REQUEST,
		    "requests carry no file descriptors; %zu closed", n);
	} else if (rpc_is_vmm_request(m->body_case)) {
		rpc_dispatch_vmm(c, m);
	} else if (rpc_is_admin_request(m->body_case)) {
		if (c->kind == CONN_ADMIN)
			admin_dispatch(c, m);
		else
			rpc_reply_error(c, m->id,
			    SHMBROKER__ERROR__ERR_NOT_PERMITTED,
			    "admin requests are only served on the admin socket");
	} else {
		b->stats.bad_requests++;
		rpc_reply_error(c, m->id, SHMBROKER__ERROR__ERR_BAD_REQUEST,
		    "unknown or missing request type: this daemon speaks "
		    "protocol version %d", WIRE_PROTOCOL_VERSION);
	}
	shmbroker__client_message__free_unpacked(m, NULL);
}
