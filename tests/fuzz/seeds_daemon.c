/* SPDX-License-Identifier: ISC */
/*
 * seeds_daemon: valid inputs for fuzz_daemon (format in fuzz_daemon.h):
 * the conversations VMMs and shmctl have with the daemon.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_daemon.h"
#include "fuzz_seeds.h"
#include "wire.h"

/* Identities of fuzz_daemon.c's table. */
enum { ROOT = 0, ACME = 1, BETA = 2, GUEST_G2000 = 3, ADMIN_GROUP = 4,
    ACME_G2000 = 5, NOBODY = 6 };

static void
op(struct fout *o, enum fd_op code)
{
	fout_u8(o, (uint8_t)code);
}

static void
connect_as(struct fout *o, int who, int admin)
{
	op(o, FD_OP_CONNECT);
	fout_u8(o, (uint8_t)(who << 1 | admin));
}

static void
hello(struct fout *o, int conn, const char *label)
{
	op(o, FD_OP_HELLO);
	fout_u8(o, (uint8_t)conn);
	fout_u32(o, WIRE_PROTOCOL_VERSION);
	fout_str(o, FD_LABEL_MAX, label);
}

/* The guest's name with its NUL, as libshmclient sends it. */
static void
attach(struct fout *o, int conn, const char *name, int create,
    uint32_t pages, uint32_t want)
{
	op(o, FD_OP_ATTACH);
	fout_u8(o, (uint8_t)conn);
	fout_bytes(o, FD_NAME_MAX, name, strlen(name) + 1);
	fout_u8(o, (uint8_t)create);
	fout_u32(o, pages);
	fout_u32(o, want);
}

static void
client_op(struct fout *o, enum fd_op code, int conn, int client,
    uint32_t arg)
{
	op(o, code);
	fout_u8(o, (uint8_t)conn);
	fout_u8(o, (uint8_t)client);
	if (code != FD_OP_DETACH)
		fout_u32(o, arg);
}

static void
admin(struct fout *o, int conn, enum fd_admin which, const char *name,
    uint32_t pages, int force, uint64_t after)
{
	op(o, FD_OP_ADMIN);
	fout_u8(o, (uint8_t)conn);
	fout_u8(o, (uint8_t)which);
	fout_str(o, FD_ADMIN_NAME_MAX, name);
	fout_u32(o, pages);
	fout_u8(o, (uint8_t)force);
	fout_u64(o, after);
}

static void
run_read(struct fout *o, int nconns)
{
	op(o, FD_OP_RUN);
	for (int i = 0; i < nconns; i++) {
		op(o, FD_OP_READ);
		fout_u8(o, (uint8_t)i);
	}
}

static void
raw(struct fout *o, int conn, uint8_t fds, const void *p, size_t len)
{
	op(o, FD_OP_RAW);
	fout_u8(o, (uint8_t)conn);
	fout_u8(o, fds);
	fout_bytes(o, FD_RAW_MAX, p, len);
}

static void
raw_message(struct fout *o, int conn, uint8_t fds,
    const Shmbroker__ClientMessage *m)
{
	uint8_t buf[WIRE_MAX_MESSAGE];
	ssize_t len = wire_pack(&m->base, buf);

	raw(o, conn, fds, buf, (size_t)len);
}

/* One VMM: create, notify, read its status, detach. */
static void
seed_one_vmm(struct fout *o, const char *dir)
{
	fout_u8(o, FD_SETUP_OPEN);
	connect_as(o, ROOT, 0);
	hello(o, 0, "qemu vm1");
	attach(o, 0, "demo", 1, 512, 0);
	run_read(o, 1);
	client_op(o, FD_OP_NOTIFY, 0, 0, 0xffffffff);
	client_op(o, FD_OP_STATUS, 0, 0, 0);
	client_op(o, FD_OP_DETACH, 0, 0, 0);
	run_read(o, 1);
	fout_save(o, dir, "one-vmm");
}

/* Two VMMs share a region and notify each other; one drops. */
static void
seed_two_vmms(struct fout *o, const char *dir)
{
	fout_u8(o, FD_SETUP_OPEN);
	connect_as(o, ROOT, 0);
	connect_as(o, NOBODY, 0);
	hello(o, 0, "vm-a");
	hello(o, 1, "vm-b");
	attach(o, 0, "pair", 1, 16, 0);
	run_read(o, 2);
	attach(o, 1, "pair", 0, 0, 0);
	run_read(o, 2);
	client_op(o, FD_OP_NOTIFY, 0, 0, 1u << 1);
	client_op(o, FD_OP_NOTIFY, 1, 1, 1u << 0);
	client_op(o, FD_OP_STATUS, 0, 0, 0xff00);
	client_op(o, FD_OP_STATUS, 1, 1, 0);
	run_read(o, 2);
	op(o, FD_OP_CLOSE);
	fout_u8(o, 1);
	run_read(o, 1);
	fout_save(o, dir, "two-vmms");
}

/* Tenants: acme's own region, the configured shared one, another
 * tenant's prefix refused, quotas, and an admin watching. */
static void
seed_tenants(struct fout *o, const char *dir)
{
	fout_u8(o, FD_SETUP_TENANTS);
	connect_as(o, ACME, 0);
	connect_as(o, GUEST_G2000, 0);
	connect_as(o, ROOT, 1);
	connect_as(o, BETA, 0);
	admin(o, 2, FD_ADMIN_WATCH, "", 0, 0, 0);
	hello(o, 0, "acme vm");
	attach(o, 0, "sensor-1", 1, 64, 0);
	attach(o, 0, "shared", 0, 0, 0);
	attach(o, 0, "ipc-secret1", 1, 1, 0);
	attach(o, 1, "shared", 0, 0, 0);
	attach(o, 1, "secret", 0, 0, 0);
	attach(o, 3, "x", 1, 8, 0);
	attach(o, 3, "y", 1, 8, 0);
	attach(o, 3, "z", 1, 8, 0);
	attach(o, 3, "w", 1, 8, 0);
	run_read(o, 4);
	admin(o, 2, FD_ADMIN_LIST, "", 0, 0, 0);
	admin(o, 2, FD_ADMIN_CLIENTS, "", 0, 0, 0);
	admin(o, 2, FD_ADMIN_SHOW, "shared", 0, 0, 0);
	admin(o, 2, FD_ADMIN_TENANTS, "", 0, 0, 0);
	admin(o, 2, FD_ADMIN_STATS, "", 0, 0, 0);
	admin(o, 2, FD_ADMIN_STATUS, "", 0, 0, 0);
	run_read(o, 4);
	client_op(o, FD_OP_NOTIFY, 0, 0, 0xffffffff);
	admin(o, 2, FD_ADMIN_DESTROY, "shared", 0, 1, 0);
	run_read(o, 4);
	fout_save(o, dir, "tenants");
}

/* Admin create, destroy (busy, then forced), reload. */
static void
seed_admin(struct fout *o, const char *dir)
{
	fout_u8(o, FD_SETUP_TENANTS);
	connect_as(o, ROOT, 1);
	connect_as(o, ADMIN_GROUP, 1);
	connect_as(o, ACME_G2000, 0);
	admin(o, 0, FD_ADMIN_CREATE, "telemetry", 256, 0, 0);
	admin(o, 1, FD_ADMIN_CREATE, "telemetry", 256, 0, 0);
	run_read(o, 3);
	attach(o, 2, "secret", 0, 0, 0);
	attach(o, 0, "telemetry", 0, 0, 0);
	run_read(o, 3);
	admin(o, 1, FD_ADMIN_DESTROY, "secret", 0, 0, 0);
	admin(o, 1, FD_ADMIN_DESTROY, "secret", 0, 1, 0);
	admin(o, 0, FD_ADMIN_RELOAD, "", 0, 0, 0);
	run_read(o, 3);
	admin(o, 0, FD_ADMIN_LIST, "", 0, 0, 1);
	run_read(o, 3);
	fout_save(o, dir, "admin");
}

/* A full region, and a client coming back for its old index. */
static void
seed_full_region(struct fout *o, const char *dir)
{
	fout_u8(o, FD_SETUP_OPEN);
	connect_as(o, ROOT, 0);
	for (int i = 0; i < 17; i++)
		attach(o, 0, "crowd", 1, 1, 0);
	run_read(o, 1);
	client_op(o, FD_OP_DETACH, 0, 3, 0);
	attach(o, 0, "crowd", 0, 0, 4);
	run_read(o, 1);
	fout_save(o, dir, "full-region");
}

/* What a confused or hostile peer sends: garbage, an empty datagram,
 * fds with a request, an admin request on the VMM socket, a request for
 * someone else's client, a half-closed connection. */
static void
seed_bad_input(struct fout *o, const char *dir)
{
	Shmbroker__ClientMessage m = SHMBROKER__CLIENT_MESSAGE__INIT;
	Shmbroker__AdminStatus st = SHMBROKER__ADMIN_STATUS__INIT;
	Shmbroker__Attach a = SHMBROKER__ATTACH__INIT;

	fout_u8(o, FD_SETUP_OPEN);
	connect_as(o, ROOT, 0);
	connect_as(o, NOBODY, 0);
	raw(o, 0, 0, "\xff\xff\xff", 3);
	raw(o, 0, 0, "", 0);
	m.id = 7;
	m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ADMIN_STATUS;
	m.admin_status = &st;
	raw_message(o, 0, 0, &m);
	a.name.data = (uint8_t *)"fds";
	a.name.len = 4;
	a.create = 1;
	a.size_pages = 1;
	m.body_case = SHMBROKER__CLIENT_MESSAGE__BODY_ATTACH;
	m.attach = &a;
	raw_message(o, 0, 3 | 1u << 4 | 2u << 6, &m);
	raw_message(o, 1, 0, &m);
	run_read(o, 2);
	client_op(o, FD_OP_DETACH, 0, 0, 0);
	op(o, FD_OP_HANGUP);
	fout_u8(o, 1);
	run_read(o, 2);
	fout_save(o, dir, "bad-input");
}

void
seeds_daemon(const char *dir)
{
	struct fout o = { 0 };

	seed_one_vmm(&o, dir);
	seed_two_vmms(&o, dir);
	seed_tenants(&o, dir);
	seed_admin(&o, dir);
	seed_full_region(&o, dir);
	seed_bad_input(&o, dir);
	free(o.buf);
}
