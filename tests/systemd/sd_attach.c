/* SPDX-License-Identifier: ISC */
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
 *   sd-attach --try SOCKET create|find NAME PAGES [--write TEXT|--expect TEXT]
 *             [--poison] [--notify INDEX] [--await MS] [--stay DIR]
 * One attempt by a VMM, as whatever uid and gid it runs as (the tenancy
 * test runs it under setpriv): creates (of PAGES pages) or finds NAME and
 * prints one line
 *   status=S created=C data=D
 * S is the guest status the daemon answered (0 OK, 2 NOMEM, 4
 * ILLEGAL_NAME, 5 NO_PERMISSION, 6 DOES_NOT_EXIST), C is 1 when this
 * attach made the region, and D what the memory held: "-" when not asked
 * or not attached, "written" (--write put TEXT and a NUL at the start of
 * the region), "match" (the region starts with TEXT and a NUL, --expect)
 * or "other" (it does not; a second line shows its first bytes). A client
 * that may only read adds " access=ro map=E reopen=E": the errno names a
 * writable shared mapping of its fd and an open of /proc/self/fd/N for
 * writing failed with ("none": it worked); its --write only compares. NAME
 * takes C escapes (\\, \n, \t, \xHH, \NNN octal) so that any byte, an
 * embedded NUL too, can be sent; the name field's final NUL is added.
 * With --poison it makes its own eventfd blocking and full, as a hostile
 * member would, and prints "poisoned INDEX" (its index).
 * With --notify it then rings the client at INDEX (a QEMU's vector 0, for
 * one) and prints "notified INDEX"; with --await it waits up to about MS
 * ms for a doorbell of its own and prints "pending 0xP" (the senders' bits
 * it took from its status word, 0x0 when none came).
 * With --stay the attachment (and so a guest region) lives on after the
 * line, which also goes to DIR/ready, until DIR/done appears.
 * Exit status 0 when the daemon answered, whatever the status; 1 when it
 * could not be reached or the attachment not mapped.
 *
 * Exit status (the other modes) 0 when all went well, 1 with a message if
 * not; 2 for a wrong command line.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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

/* C escapes in s into out (at most cap bytes); the length, or -1. */
static int
unescape(const char *s, char *out, size_t cap)
{
	static const char simple[] = "\\\\n\nt\tr\ra\ab\bf\fv\ve\033\"\"''";
	size_t n = 0;

	while (*s != '\0') {
		unsigned v = 0;
		int digits = 0;
		const char *e;

		if (n == cap)
			return -1;
		if (*s != '\\') {
			out[n++] = *s++;
			continue;
		}
		s++;
		if (*s == 'x') {
			for (s++; digits < 2 && strchr("0123456789abcdefABCDEF",
			    *s) != NULL && *s != '\0'; s++, digits++)
				v = v * 16 + (unsigned)(*s <= '9' ? *s - '0' :
				    (*s | 0x20) - 'a' + 10);
		} else if (*s >= '0' && *s <= '7') {
			for (; digits < 3 && *s >= '0' && *s <= '7'; s++,
			    digits++)
				v = v * 8 + (unsigned)(*s - '0');
		} else if (*s != '\0' && (e = strchr(simple, *s)) != NULL &&
		    (e - simple) % 2 == 0) {
			v = (unsigned char)e[1];
			s++;
			digits = 1;
		}
		if (digits == 0 || v > 0xff)
			return -1;
		out[n++] = (char)v;
	}
	return (int)n;
}

/* How a read-only client's ways to write failed: " access=ro map=E
 * reopen=E" into out. */
static void
try_writing(const struct shmc_region *r, char *out, size_t cap)
{
	size_t len = (size_t)r->size_pages * 4096;
	int map_err = 0, reopen_err = 0, fd;
	char path[32];
	void *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (p == MAP_FAILED)
		map_err = errno;
	else
		munmap(p, len);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", r->fd);
	if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
		reopen_err = errno;
	else
		close(fd);
	snprintf(out, cap, " access=ro map=%s reopen=%s",
	    map_err == EACCES ? "EACCES" : map_err ? strerror(map_err) : "none",
	    reopen_err == EACCES ? "EACCES" : reopen_err ?
	    strerror(reopen_err) : "none");
}

/* --try's --poison: this member's eventfd made blocking (O_NONBLOCK is
 * the open file description's, shared with the daemon and the peers) and
 * its counter full, so that a write(2) of 1 to it would wait until this
 * member reads, which it never does. Prints "poisoned INDEX". */
static int
try_poison(struct shmc *c, uint64_t id)
{
	uint64_t full = 0xfffffffffffffffeull;
	uint32_t index;
	int fd = shmc_attachment_eventfd(c, id);

	if (fd < 0 || shmc_attachment_info(c, id, &index, NULL) < 0 ||
	    fcntl(fd, F_SETFL, 0) < 0 ||
	    write(fd, &full, sizeof(full)) != (ssize_t)sizeof(full)) {
		fprintf(stderr, "sd-attach: cannot poison the eventfd\n");
		return -1;
	}
	printf("poisoned %u\n", index);
	fflush(stdout);
	return 0;
}

/* --try's --notify and --await: 0, or -1 with a message. */
static int
try_doorbells(struct shmc *c, uint64_t id, int notify, int await_ms)
{
	struct pollfd p = { .fd = -1, .events = POLLIN };
	uint32_t st = 0;
	uint64_t n;

	if (notify >= 0) {
		if (shmc_notify_direct(c, id, 1u << notify) < 0) {
			fprintf(stderr, "sd-attach: notify %d failed\n", notify);
			return -1;
		}
		printf("notified %d\n", notify);
		fflush(stdout);		/* the script waits for this line */
	}
	if (await_ms < 0)
		return 0;
	if ((p.fd = shmc_attachment_eventfd(c, id)) < 0) {
		fprintf(stderr, "sd-attach: no eventfd to wait on\n");
		return -1;
	}
	/* A member coming or going signals the eventfd too, with no
	 * pending bit: wait on for a doorbell. */
	for (int left = await_ms; (st & 0xffff) == 0 && left > 0;
	    left -= 20) {
		if (poll(&p, 1, 20) == 1 && (read(p.fd, &n, sizeof(n)) !=
		    (ssize_t)sizeof(n) || shmc_status_direct(c, id, 0,
		    &st) < 0)) {
			fprintf(stderr, "sd-attach: cannot take the doorbell\n");
			return -1;
		}
	}
	printf("pending 0x%x\n", st & 0xffff);
	return 0;
}

/* --try: see the top of the file. */
static int
try_attach(int argc, char **argv)
{
	const char *sock = argv[2], *op = argv[3], *text = NULL, *dir = NULL;
	char name[256], line[192], err[256], ro[96] = "";
	bool create, write = false, failed = false;
	struct shmc_region r;
	struct shmc *c;
	const char *data = "-";
	unsigned char *mem = NULL;
	size_t len = 0;
	int n, rc, notify = -1, await_ms = -1;
	bool poison = false;

	create = strcmp(op, "create") == 0;
	if ((!create && strcmp(op, "find") != 0) ||
	    (n = unescape(argv[4], name, sizeof(name) - 1)) < 0) {
		fprintf(stderr, "sd-attach: --try: create or find, and a name "
		    "of at most %zu bytes with valid escapes\n",
		    sizeof(name) - 1);
		return 2;
	}
	name[n] = '\0';
	for (int i = 6; i < argc; i += 2) {
		if (strcmp(argv[i], "--poison") == 0) {
			poison = true;
			i--;
			continue;
		}
		if (i + 1 == argc)
			return 2;
		if (strcmp(argv[i], "--write") == 0 && text == NULL) {
			write = true;
			text = argv[i + 1];
		} else if (strcmp(argv[i], "--expect") == 0 && text == NULL)
			text = argv[i + 1];
		else if (strcmp(argv[i], "--stay") == 0)
			dir = argv[i + 1];
		else if (strcmp(argv[i], "--notify") == 0)
			notify = atoi(argv[i + 1]) & 15;
		else if (strcmp(argv[i], "--await") == 0)
			await_ms = atoi(argv[i + 1]);
		else
			return 2;
	}
	if (shmc_connect(sock, "sd-attach --try", SHMC_DEFAULT_TIMEOUT_MS, &c,
	    err, sizeof(err)) < 0) {
		fprintf(stderr, "sd-attach: %s: %s\n", sock, err);
		return 1;
	}
	rc = shmc_attach_raw(c, name, (size_t)n + 1,
	    (uint32_t)strtoul(argv[5], NULL, 0), create, &r);
	if (rc < 0) {
		fprintf(stderr, "sd-attach: %s %s: %s\n", op, argv[4],
		    shmc_error(c));
		shmc_close(c);
		return 1;
	}
	if (rc == SHMC_GSS_OK && r.read_only) {
		try_writing(&r, ro, sizeof(ro));
		write = false;
	}
	if (rc == SHMC_GSS_OK && text != NULL) {
		len = (size_t)r.size_pages * 4096;
		mem = mmap(NULL, len, r.read_only ? PROT_READ :
		    PROT_READ | PROT_WRITE, MAP_SHARED, r.fd, 0);
		if (mem == MAP_FAILED || strlen(text) + 1 > len) {
			fprintf(stderr, "sd-attach: cannot map %s for its "
			    "text\n", argv[4]);
			shmc_close(c);
			return 1;
		}
		if (write) {
			memcpy(mem, text, strlen(text) + 1);
			data = "written";
		} else {
			data = memcmp(mem, text, strlen(text) + 1) == 0 ?
			    "match" : "other";
		}
	}
	snprintf(line, sizeof(line), "status=%d created=%d data=%s%s\n", rc,
	    rc == SHMC_GSS_OK && r.created, data, ro);
	fputs(line, stdout);
	if (strcmp(data, "other") == 0) {
		printf("first bytes:");
		for (int i = 0; i < 16; i++)
			printf(" %02x", mem[i]);
		printf("\n");
	}
	fflush(stdout);
	if (rc == SHMC_GSS_OK && ((poison && try_poison(c, r.client_id) < 0) ||
	    try_doorbells(c, r.client_id, notify, await_ms) < 0 || (dir != NULL && (step_done(dir, "ready",
	    line) < 0 || step_wait(dir, "done") < 0))))
		failed = true;
	fflush(stdout);
	if (mem != NULL)
		munmap(mem, len);
	if (rc == SHMC_GSS_OK) {
		shmc_detach(c, r.client_id);
		close(r.fd);
	}
	shmc_close(c);
	return failed ? 1 : 0;
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
	if (argc >= 6 && strcmp(argv[1], "--try") == 0 &&
	    (rc = try_attach(argc, argv)) != 2)
		return rc;
	if (argc != 3) {
		fprintf(stderr, "usage: sd-attach SOCKET NAME\n"
		    "       sd-attach --hold SOCKET NAME PAGES DIR\n"
		    "       sd-attach --check SOCKET NAME\n"
		    "       sd-attach --try SOCKET create|find NAME PAGES "
		    "[--write TEXT|--expect TEXT] [--poison] [--notify INDEX] "
		    "[--await MS] [--stay DIR]\n");
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
