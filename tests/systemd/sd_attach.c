/*
 * sd-attach: the VMM side of the systemd tests.
 *
 *   sd-attach SOCKET NAME
 * Two connections find (never create) the region NAME on the VMM socket,
 * map the memfds they were given, and check that bytes written through one
 * mapping are read through the other: the daemon served real, shared
 * region memory. Prints one line per attach.
 *
 *   sd-attach --hold SOCKET NAME PAGES DIR
 * A VMM that lives through a daemon restart: creates (or finds) NAME, of
 * PAGES pages, fills it with a pattern, enables reconnect and keeps its
 * mapping. It holds the next index up, the lower one left free (attach
 * twice, detach the first), so that getting it back shows want_index at
 * work. Steps go by files in DIR: it writes DIR/ready (its index), waits
 * for DIR/go1, then makes one call, which must reconnect and re-claim the
 * same index and the same memory, and writes DIR/reclaimed; it waits for
 * DIR/go2 and checks that what a new client wrote after the restart (see
 * --check) shows in its old mapping.
 *
 *   sd-attach --check SOCKET NAME
 * A new VMM after the restart: finds NAME, checks the pattern that --hold
 * wrote before it, and writes its own mark at the end of the region.
 *
 * Exit status 0 when all went well, 1 with a message if not.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "shmclient.h"

#define PEERS 2
#define MARK "written by a new client after the restart"
#define MARK_LEN 64		/* the region's last bytes: the mark */
#define STEP_WAIT_MS 120000
#define RECONNECT_MS 30000

struct peer {
	struct shmc *conn;
	struct shmc_region region;
	unsigned char *mem;
	size_t len;
};

static int
peer_attach(struct peer *p, const char *sock, const char *name,
    uint32_t pages, bool create)
{
	char err[256];
	int rc;

	if (shmc_connect(sock, "sd-attach", SHMC_DEFAULT_TIMEOUT_MS, &p->conn,
	    err, sizeof(err)) < 0) {
		fprintf(stderr, "sd-attach: %s: %s\n", sock, err);
		return -1;
	}
	rc = shmc_attach(p->conn, name, pages, create, &p->region);
	if (rc != SHMC_GSS_OK) {
		fprintf(stderr, "sd-attach: %s %s: status %d: %s\n",
		    create ? "create" : "find", name, rc, shmc_error(p->conn));
		return -1;
	}
	p->len = (size_t)p->region.size_pages * 4096;
	p->mem = mmap(NULL, p->len, PROT_READ | PROT_WRITE, MAP_SHARED,
	    p->region.fd, 0);
	if (p->mem == MAP_FAILED) {
		p->mem = NULL;
		perror("sd-attach: mmap");
		return -1;
	}
	printf("attached %s: index %u, %u pages, %s\n", name, p->region.index,
	    p->region.size_pages, p->region.hugetlb ? "hugetlb" : "shmem");
	return 0;
}

static void
peer_close(struct peer *p)
{
	if (p->mem != NULL)
		munmap(p->mem, p->len);
	if (p->conn != NULL) {
		if (p->region.fd >= 0) {
			shmc_detach(p->conn, p->region.client_id);
			close(p->region.fd);
		}
		shmc_close(p->conn);
	}
}

static unsigned char
pattern_byte(size_t i)
{
	return (unsigned char)(((uint32_t)i * 2654435761u) >> 24);
}

/* Waits up to STEP_WAIT_MS for DIR/name to exist. */
static int
step_wait(const char *dir, const char *name)
{
	char path[4096];
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	for (int i = 0; i < STEP_WAIT_MS / 50; i++) {
		if (access(path, F_OK) == 0)
			return 0;
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "sd-attach: %s did not appear\n", path);
	return -1;
}

/* Writes DIR/name with text, in one step (renamed into place). */
static int
step_done(const char *dir, const char *name, const char *text)
{
	char tmp[4096], path[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s/.%s", dir, name);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(tmp, "w")) == NULL || fputs(text, f) < 0 ||
	    fclose(f) != 0 || rename(tmp, path) < 0) {
		fprintf(stderr, "sd-attach: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* The call after the restart: it reconnects and re-claims. */
static int
hold_reclaim(struct peer *p, uint32_t index)
{
	uint32_t status, now;
	bool same;

	if (shmc_read_status(p->conn, p->region.client_id, &status) < 0) {
		fprintf(stderr, "sd-attach: read_status after the restart: "
		    "%s\n", shmc_error(p->conn));
		return -1;
	}
	if (shmc_reconnects(p->conn) != 1 || shmc_attachment_info(p->conn,
	    p->region.client_id, &now, &same) < 0) {
		fprintf(stderr, "sd-attach: %u reconnects, attachment %s\n",
		    shmc_reconnects(p->conn), shmc_error(p->conn));
		return -1;
	}
	printf("reclaimed after a reconnect: index %u (was %u), %s memory, "
	    "active 0x%x\n", now, index, same ? "the same" : "NEW",
	    status >> 16);
	if (now != index || !same) {
		fprintf(stderr, "sd-attach: the re-claim did not get the same "
		    "index and memory back\n");
		return -1;
	}
	return 0;
}

static int
hold(const char *sock, const char *name, const char *pages, const char *dir)
{
	struct shmc_region second;
	struct peer p;
	char buf[64];
	int rc = 1;

	memset(&p, 0, sizeof(p));
	p.region.fd = -1;
	if (peer_attach(&p, sock, name, (uint32_t)strtoul(pages, NULL, 0),
	    true) < 0)
		goto out;
	/* Move up one index and leave the lower one free, so that getting
	 * the same index back is not what any attach would get. */
	if (shmc_attach(p.conn, name, 0, false, &second) != SHMC_GSS_OK ||
	    shmc_detach(p.conn, p.region.client_id) < 0) {
		fprintf(stderr, "sd-attach: second attach of %s: %s\n", name,
		    shmc_error(p.conn));
		goto out;
	}
	close(p.region.fd);
	p.region = second;	/* the mapping is of the same memfd */
	shmc_set_reconnect(p.conn, RECONNECT_MS);
	for (size_t i = 0; i < p.len; i++)
		p.mem[i] = pattern_byte(i);
	snprintf(buf, sizeof(buf), "%u\n", p.region.index);
	fflush(stdout);
	if (step_done(dir, "ready", buf) < 0 || step_wait(dir, "go1") < 0 ||
	    hold_reclaim(&p, p.region.index) < 0)
		goto out;
	fflush(stdout);
	if (step_done(dir, "reclaimed", "") < 0 || step_wait(dir, "go2") < 0)
		goto out;
	if (strcmp((char *)p.mem + p.len - MARK_LEN, MARK) != 0) {
		fprintf(stderr, "sd-attach: the new client's mark is not in the "
		    "old mapping\n");
		goto out;
	}
	printf("the old mapping shows the new client's mark\n");
	rc = 0;
out:
	peer_close(&p);
	return rc;
}

static int
check(const char *sock, const char *name)
{
	struct peer p;
	int rc = 1;

	memset(&p, 0, sizeof(p));
	p.region.fd = -1;
	if (peer_attach(&p, sock, name, 0, false) < 0)
		goto out;
	for (size_t i = 0; i + MARK_LEN < p.len; i++)
		if (p.mem[i] != pattern_byte(i)) {
			fprintf(stderr, "sd-attach: byte %zu of %s is 0x%02x, "
			    "not the pattern's 0x%02x\n", i, name, p.mem[i],
			    pattern_byte(i));
			goto out;
		}
	printf("pattern ok: %zu bytes\n", p.len - MARK_LEN);
	memset(p.mem + p.len - MARK_LEN, 0, MARK_LEN);
	memcpy(p.mem + p.len - MARK_LEN, MARK, sizeof(MARK));
	rc = 0;
out:
	peer_close(&p);
	return rc;
}

int
main(int argc, char **argv)
{
	struct peer peers[PEERS];
	char msg[64];
	int rc = 1;

	if (argc == 6 && strcmp(argv[1], "--hold") == 0)
		return hold(argv[2], argv[3], argv[4], argv[5]);
	if (argc == 4 && strcmp(argv[1], "--check") == 0)
		return check(argv[2], argv[3]);
	if (argc != 3) {
		fprintf(stderr, "usage: sd-attach SOCKET NAME\n"
		    "       sd-attach --hold SOCKET NAME PAGES DIR\n"
		    "       sd-attach --check SOCKET NAME\n");
		return 2;
	}
	memset(peers, 0, sizeof(peers));
	for (int i = 0; i < PEERS; i++)
		peers[i].region.fd = -1;
	for (int i = 0; i < PEERS; i++)
		if (peer_attach(&peers[i], argv[1], argv[2], 0, false) < 0)
			goto out;
	snprintf(msg, sizeof(msg), "written by pid %ld", (long)getpid());
	memcpy(peers[0].mem + peers[0].len - sizeof(msg), msg, sizeof(msg));
	if (memcmp(peers[1].mem + peers[1].len - sizeof(msg), msg,
	    sizeof(msg)) != 0) {
		fprintf(stderr, "sd-attach: the two mappings of %s do not share "
		    "memory\n", argv[2]);
		goto out;
	}
	printf("shared memory ok\n");
	rc = 0;
out:
	for (int i = 0; i < PEERS; i++)
		peer_close(&peers[i]);
	return rc;
}
