/* SPDX-License-Identifier: ISC */
/*
 * shmdemo: the broker's main job in one run. Two peers, each its own process
 * with its own connection to shmbrokerd (as two VMMs would have), attach
 * the region "demo", pass a message through the shared memory itself and
 * wake each other with notifications; while both are attached, shmctl
 * lists the region with its two clients. The message never crosses the
 * socket: only the region's fd does.
 *
 *   shmdemo --socket PATH --admin-socket PATH [--shmctl PATH]
 */
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shmclient.h"

#define DEMO_REGION "demo"
#define DEMO_PAGES 512		/* 2 MiB: one hugepage when the pool has one */

struct peer {
	const char *name;
	struct shmc *conn;
	struct shmc_region region;
	char *mem;
	bool notified;
};

static void
peer_on_event(const struct shmc_event *ev, void *arg)
{
	struct peer *p = arg;

	if (ev->kind == SHMC_EVENT_NOTIFICATION) {
		printf("  %s: notified by client %u\n", p->name, ev->index);
		p->notified = true;
	} else if (ev->kind == SHMC_EVENT_PEER_ATTACHED) {
		printf("  %s: client %u attached (active mask 0x%04x)\n",
		    p->name, ev->index, ev->active_mask);
	}
}

/* Waits up to 5 s for a notification; returns 0 or -1. */
static int
peer_wait_notification(struct peer *p)
{
	struct pollfd pfd = { .fd = shmc_event_fd(p->conn), .events = POLLIN };

	p->notified = false;
	for (int i = 0; i < 50 && !p->notified; i++) {
		if (poll(&pfd, 1, 100) > 0 &&
		    shmc_dispatch(p->conn, peer_on_event, p) < 0)
			return -1;
	}
	return p->notified ? 0 : -1;
}

static int
peer_attach(struct peer *p, const char *socket)
{
	char err[SHMC_ERROR_MAX];
	int st;

	if (shmc_connect(socket, p->name, 0, &p->conn, err, sizeof(err)) < 0) {
		fprintf(stderr, "shmdemo: %s\n", err);
		return -1;
	}
	st = shmc_attach(p->conn, DEMO_REGION, DEMO_PAGES, true, &p->region);
	if (st != SHMC_GSS_OK) {
		fprintf(stderr, "shmdemo: %s: attach: %s\n", p->name,
		    shmc_error(p->conn));
		return -1;
	}
	p->mem = mmap(NULL, (size_t)p->region.size_pages * 4096,
	    PROT_READ | PROT_WRITE, MAP_SHARED, p->region.fd, 0);
	if (p->mem == MAP_FAILED) {
		perror("shmdemo: mmap");
		return -1;
	}
	printf("  %s: attached '%s' as client %u (%u KiB, %s, %s)\n", p->name,
	    DEMO_REGION, p->region.index, p->region.size_pages * 4,
	    p->region.hugetlb ? "hugetlb" : "shmem",
	    p->region.created ? "created it" : "found it");
	return 0;
}

static int
peer_notify(struct peer *p)
{
	uint32_t delivered;

	if (shmc_notify(p->conn, p->region.client_id, 0xffffffffu,
	    &delivered) < 0) {
		fprintf(stderr, "shmdemo: %s: notify: %s\n", p->name,
		    shmc_error(p->conn));
		return -1;
	}
	return 0;
}

/* The second peer: answers the first message, then waits to be told to
 * detach. Runs in its own process. */
static int
run_pong(const char *socket, int ready_fd)
{
	struct peer p = { .name = "pong" };
	uint32_t status;

	if (peer_attach(&p, socket) < 0)
		return 1;
	if (write(ready_fd, "r", 1) != 1 || peer_wait_notification(&p) < 0)
		return 1;
	shmc_read_status(p.conn, p.region.client_id, &status);
	printf("  pong: status 0x%08x, reads \"%s\"\n", status, p.mem);
	snprintf(p.mem + 2048, 256, "pong got %zu bytes, thanks",
	    strlen(p.mem));
	if (peer_notify(&p) < 0 || peer_wait_notification(&p) < 0)
		return 1;
	shmc_detach(p.conn, p.region.client_id);
	printf("  pong: detached\n");
	shmc_close(p.conn);
	return 0;
}

static void
run_shmctl(const char *shmctl, const char *admin_socket)
{
	pid_t pid = fork();

	if (pid == 0) {
		execlp(shmctl, shmctl, "--admin-socket", admin_socket, "list",
		    (char *)NULL);
		perror("shmdemo: shmctl");
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

static int
run_demo(const char *socket, const char *admin_socket, const char *shmctl)
{
	struct peer p = { .name = "ping" };
	int ready[2], status;
	char c;
	pid_t pong;

	if (pipe(ready) < 0 || (pong = fork()) < 0)
		return 1;
	if (pong == 0) {
		close(ready[0]);
		_exit(run_pong(socket, ready[1]));
	}
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1 || peer_attach(&p, socket) < 0)
		goto fail;
	snprintf(p.mem, 2048, "hello from ping (pid %d) through shared "
	    "memory", (int)getpid());
	if (peer_notify(&p) < 0 || peer_wait_notification(&p) < 0)
		goto fail;
	printf("  ping: reads \"%s\"\n\nshmctl list, both attached:\n",
	    p.mem + 2048);
	fflush(stdout);
	run_shmctl(shmctl, admin_socket);
	if (peer_notify(&p) < 0)
		goto fail;
	waitpid(pong, &status, 0);
	shmc_detach(p.conn, p.region.client_id);
	shmc_close(p.conn);
	printf("\n  ping: detached; the region went with its last client\n");
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
fail:
	kill(pong, SIGTERM);
	waitpid(pong, NULL, 0);
	return 1;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "admin-socket", required_argument, NULL, 'a' },
		{ "shmctl", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char def[2][256];
	const char *socket = shmc_default_socket(false, def[0], sizeof(def[0]));
	const char *admin = shmc_default_socket(true, def[1], sizeof(def[1]));
	const char *shmctl = "shmctl";
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 's': socket = optarg; break;
		case 'a': admin = optarg; break;
		case 'c': shmctl = optarg; break;
		case 'h':
			printf("usage: shmdemo [--socket PATH] "
			    "[--admin-socket PATH] [--shmctl PATH]\n");
			return 0;
		default:
			return 64;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	return run_demo(socket, admin, shmctl);
}
