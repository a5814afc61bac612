/*
 * sd-attach: the VMM side of the systemd tests. Two connections find (never
 * create) the region NAME on the VMM socket, map the memfds they were
 * given, and check that bytes written through one mapping are read through
 * the other: the daemon served real, shared region memory. Prints one line
 * per attach. Exit status 0 when all went well, 1 with a message if not.
 *
 *   sd-attach SOCKET NAME
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shmclient.h"

#define PEERS 2

struct peer {
	struct shmc *conn;
	struct shmc_region region;
	unsigned char *mem;
	size_t len;
};

static int
peer_attach(struct peer *p, const char *sock, const char *name)
{
	char err[256];
	int rc;

	if (shmc_connect(sock, "sd-attach", SHMC_DEFAULT_TIMEOUT_MS, &p->conn,
	    err, sizeof(err)) < 0) {
		fprintf(stderr, "sd-attach: %s: %s\n", sock, err);
		return -1;
	}
	rc = shmc_attach(p->conn, name, 0, false, &p->region);
	if (rc != SHMC_GSS_OK) {
		fprintf(stderr, "sd-attach: find %s: status %d: %s\n", name, rc,
		    shmc_error(p->conn));
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

int
main(int argc, char **argv)
{
	struct peer peers[PEERS];
	char msg[64];
	int rc = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: sd-attach SOCKET NAME\n");
		return 2;
	}
	memset(peers, 0, sizeof(peers));
	for (int i = 0; i < PEERS; i++)
		peers[i].region.fd = -1;
	for (int i = 0; i < PEERS; i++)
		if (peer_attach(&peers[i], argv[1], argv[2]) < 0)
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
