/* SPDX-License-Identifier: ISC */
/*
 * fuzz_broker: the real daemon, in the fuzzer's process. shmbrokerd's own
 * modules (daemon/, linked as shmbrokerd_fuzz: everything but main.c) make
 * the broker from a command line as main.c does (config_load, broker_init,
 * service_start, the configured regions), listen on two abstract unix
 * sockets of this process, and run their event loop until nothing is left
 * to do; peers are real sockets connected to those listeners, as whatever
 * uid and gid the harness chooses when it runs as root (the credentials
 * the daemon reads with SO_PEERCRED are those of the thread that
 * connects). Two things differ from a started daemon, both to keep the
 * fuzzers from reaching outside themselves: the hugepage size is 0 (no
 * region takes pages from the host's pool, which the test suite fills and
 * drains) and the log is silent.
 */
#ifndef FUZZ_BROKER_H
#define FUZZ_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "broker.h"
#include "fuzz_fds.h"

/* A configuration with tenants (acme by uid 1001, beta by gid 1002, the
 * default guests), admin_group 4000, two configured regions (shared, mode
 * 0666; secret, group 2000) and small limits (12 connections, 48 regions,
 * quotas of a few regions each) that inputs can reach. */
extern const char fuzz_broker_conf[];

/* Once per process, from LLVMFuzzerInitialize: becomes a keeper process
 * when started as one (fdstash.c re-executes /proc/self/exe), drops what
 * would reach systemd (NOTIFY_SOCKET, LISTEN_FDS), ignores SIGPIPE. */
void fuzz_broker_process_init(int argc, char **argv);

/* A file holding text, for --config: a memfd, path /proc/self/fd/N,
 * written anew by each call. Returns the path (static per slot). */
const char *fuzz_broker_file(int slot, const void *text, size_t len);

/* Starts a broker with argv (argv[0] first). NULL when the configuration
 * does not load (err says why). */
struct broker *fuzz_broker_start(int argc, char **argv, char *err,
    size_t errlen);
/* Runs the event loop while a listener or connection has something to
 * do (or a reload is creating regions); a queue that waits for its peer
 * to read the fds it holds is retried once, then left waiting. */
void fuzz_broker_run(struct broker *b);
/* After the peers closed: runs the loop until no connection is left,
 * waiting (a few seconds at most) for end-of-files that come late: the
 * kernel lets a socket go only when its last reference does, and a
 * keeper process the daemon just spawned (fdstash.c) holds a copy of
 * every descriptor until its exec has closed them. */
void fuzz_broker_drain(struct broker *b);
/* Closes everything (broker_fini) but the listening sockets, which the
 * next broker takes over. */
void fuzz_broker_stop(struct broker *b);

/* A peer connected to the VMM or admin socket as uid/gid (when this
 * process may take them on; else as itself): a non-blocking
 * SOCK_SEQPACKET socket, or -1. */
int fuzz_broker_connect(struct broker *b, bool admin, uid_t uid, gid_t gid);
/* A QEMU's connection to an ivshmem socket at path (stream, non-blocking)
 * as uid/gid when the process is root; -1 when refused. */
int fuzz_connect_path(const char *path, uid_t uid, gid_t gid);
/* Reads every message the daemon has sent on fd now: each must unpack
 * as a ServerMessage and carry the fds its fields promise (an attach
 * reply: its memfd, state page, eventfd and one per other member; a peer
 * event: the newcomer's eventfd), or the process aborts. fn (or NULL)
 * sees each with how many fds came; the fds are closed after. */
typedef void fuzz_reply_fn(const Shmbroker__ServerMessage *m, size_t nfds,
    void *arg);
void fuzz_broker_read(int fd, fuzz_reply_fn *fn, void *arg);

/* Aborts with a message when the broker's books disagree: regions and
 * their clients, indices and masks, state pages, tenants' usage, the
 * connections and their queued fds. */
void fuzz_broker_check(const struct broker *b);
/* The same once every peer has gone: no client, no guest region, no
 * usage left but the regions the configuration and admins made. */
void fuzz_broker_check_empty(const struct broker *b);

#endif
