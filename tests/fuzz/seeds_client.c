/* SPDX-License-Identifier: ISC */
/*
 * seeds_client: valid inputs for fuzz_client (format in fuzz_client.h):
 * a daemon that says what shmbrokerd says, and the calls a VMM makes.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_client.h"
#include "fuzz_seeds.h"
#include "qvm/guest_shm.h"
#include "wire.h"

static void
dg(struct fout *o, enum fc_dgram_kind kind, uint8_t id, uint8_t fds)
{
	fout_u8(o, (uint8_t)kind);
	fout_u8(o, id);
	fout_u8(o, fds);
}

static void
hello_reply(struct fout *o)
{
	dg(o, FC_DG_HELLO, 1, 0);
	fout_u32(o, WIRE_PROTOCOL_VERSION);
}

/* An attach reply as the daemon sends it, with the fds it promises. */
static void
attach_reply(struct fout *o, uint8_t id, uint32_t status, uint64_t client,
    uint32_t index, uint32_t pages, uint32_t active)
{
	dg(o, FC_DG_ATTACH, id, status == 0 ? FC_FDS_AS_PROMISED : 0);
	fout_u32(o, status);
	fout_u64(o, client);
	fout_u64(o, 1);				/* region id */
	fout_u32(o, index);
	fout_u32(o, pages);
	fout_u64(o, (uint64_t)pages * 4096);
	fout_u8(o, 0);				/* shmem */
	fout_u32(o, active);
	fout_u8(o, 1);				/* created */
}

static void
peer(struct fout *o, uint64_t client, uint32_t index, int attached,
    uint32_t active)
{
	dg(o, FC_DG_PEER, 0, attached ? 1 : 0);
	fout_u64(o, client);
	fout_u32(o, index);
	fout_u8(o, (uint8_t)attached);
	fout_u32(o, active);
}

static void
call(struct fout *o, enum fc_op op)
{
	fout_u8(o, (uint8_t)op);
}

static void
call_attach(struct fout *o, enum fc_op op, const char *name,
    uint32_t pages)
{
	call(o, op);
	fout_bytes(o, 40, name, strlen(name) + 1);
	fout_u32(o, pages);
	fout_u8(o, 1);
}

/* Calls on the first attachment (client byte 0). */
static void
call_on(struct fout *o, enum fc_op op, uint32_t arg)
{
	call(o, op);
	fout_u8(o, 0);
	if (op == FC_OP_NOTIFY || op == FC_OP_NOTIFY_DIRECT ||
	    op == FC_OP_STATUS || op == FC_OP_STATUS_DIRECT)
		fout_u32(o, arg);
}

/* A VMM's life: attach, a peer joins, notify it, read the status, a
 * notification, the peer leaves, detach; flags as the input's first
 * byte (FC_FLAG_*). */
static void
seed_vmm(struct fout *o, const char *dir, uint8_t flags, const char *name)
{
	fout_u8(o, flags);
	fout_u8(o, 0);		/* one connection */
	fout_u8(o, 6);
	hello_reply(o);
	attach_reply(o, 2, GSS_OK, 7, 0, 16, 0x1);
	peer(o, 7, 1, 1, 0x3);
	dg(o, FC_DG_NOTIFICATION, 0, 0);
	fout_u64(o, 7);
	fout_u32(o, 1);
	fout_u32(o, 0x2);
	peer(o, 7, 1, 0, 0x1);
	dg(o, FC_DG_DETACH, 3, 0);
	call_attach(o, FC_OP_ATTACH, "demo", 16);
	call(o, FC_OP_DISPATCH);
	call_on(o, FC_OP_NOTIFY_DIRECT, 1u << 1);
	call_on(o, FC_OP_STATUS_DIRECT, 0);
	call_on(o, FC_OP_NOTIFY, 0xffffffff);
	call_on(o, FC_OP_STATUS, 0xff00);
	call_on(o, FC_OP_INFO, 0);
	call(o, FC_OP_DISPATCH);
	call_on(o, FC_OP_DETACH, 0);
	fout_save(o, dir, name);
}

/* A VMM that binds its eventfd, an admin revoking its client. */
static void
seed_claim_revoked(struct fout *o, const char *dir)
{
	fout_u8(o, 0);
	fout_u8(o, 0);
	fout_u8(o, 4);
	hello_reply(o);
	attach_reply(o, 2, GSS_OK, 3, 2, 512, 0x7);
	dg(o, FC_DG_REVOKED, 0, 0);
	fout_u64(o, 3);
	dg(o, FC_DG_ERROR, 3, 0);
	fout_u32(o, SHMBROKER__ERROR__ERR_NOT_ATTACHED);
	fout_str(o, FC_TEXT_MAX, "client 3 is not attached on this "
	    "connection");
	call_attach(o, FC_OP_CLAIM, "net0", 512);
	call_on(o, FC_OP_EVENTFD, 0);
	call(o, FC_OP_DISPATCH);
	call_on(o, FC_OP_NOTIFY_DIRECT, 0xffffffff);
	call_on(o, FC_OP_RELEASE, 0);
	call_on(o, FC_OP_DETACH, 0);
	fout_save(o, dir, "claim-revoked");
}

/* The daemon restarts (hangs up at the detach): the client reconnects,
 * claims its index back and detaches on the new connection. */
static void
seed_reconnect(struct fout *o, const char *dir)
{
	fout_u8(o, FC_FLAG_RECONNECT);
	fout_u8(o, 1);		/* two connections */
	fout_u8(o, 2);
	hello_reply(o);
	attach_reply(o, 2, GSS_OK, 11, 1, 8, 0x3);
	fout_u8(o, 3);
	hello_reply(o);
	attach_reply(o, 2, GSS_OK, 4, 1, 8, 0x2);
	dg(o, FC_DG_DETACH, 3, 0);
	call_attach(o, FC_OP_ATTACH, "persist", 8);
	call_on(o, FC_OP_NOTIFY_DIRECT, 1);
	call_on(o, FC_OP_INFO, 0);
	call_on(o, FC_OP_STATUS, 0);
	call_on(o, FC_OP_DETACH, 0);
	fout_save(o, dir, "reconnect");
}

/* Attaches the daemon refuses, and an admin connection's calls. */
static void
seed_refusals_admin(struct fout *o, const char *dir)
{
	fout_u8(o, 0);
	fout_u8(o, 0);
	fout_u8(o, 7);
	hello_reply(o);
	attach_reply(o, 2, GSS_NO_PERMISSION, 0, 0, 0, 0);
	attach_reply(o, 3, GSS_CLIENT_MAX, 0, 0, 0, 0);
	dg(o, FC_DG_ADMIN_REPLY, 4, 0);
	fout_u8(o, SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_WATCH -
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_STATUS);
	dg(o, FC_DG_ADMIN_EVENT, 0, 0);
	fout_str(o, FC_TEXT_MAX, "create");
	fout_str(o, FC_TEXT_MAX, "telemetry");
	fout_u32(o, (uint32_t)-1);
	fout_u32(o, 0);
	fout_u64(o, 2);
	fout_u64(o, 1700000000000ull);
	dg(o, FC_DG_ADMIN_REPLY, 5, 0);
	fout_u8(o, SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_CREATE -
	    SHMBROKER__SERVER_MESSAGE__BODY_ADMIN_STATUS);
	dg(o, FC_DG_ERROR, 6, 0);
	fout_u32(o, SHMBROKER__ERROR__ERR_BUSY);
	fout_str(o, FC_TEXT_MAX, "region 'x' has 1 attached clients");
	call_attach(o, FC_OP_ATTACH, "acme/secret", 1);
	call_attach(o, FC_OP_ATTACH, "crowd", 1);
	call(o, FC_OP_WATCH);
	call(o, FC_OP_DISPATCH);
	call(o, FC_OP_CREATE);
	fout_str(o, FC_TEXT_MAX, "telemetry");
	fout_u32(o, 256);
	call(o, FC_OP_DESTROY);
	fout_str(o, FC_TEXT_MAX, "x");
	fout_u32(o, 0);
	fout_save(o, dir, "refusals-admin");
}

void
seeds_client(const char *dir)
{
	struct fout o = { 0 };

	seed_vmm(&o, dir, 0, "vmm");
	seed_vmm(&o, dir, FC_FLAG_EVENT_THREAD, "vmm-event-thread");
	seed_claim_revoked(&o, dir);
	seed_reconnect(&o, dir);
	seed_refusals_admin(&o, dir);
	free(o.buf);
}
