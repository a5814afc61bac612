/* SPDX-License-Identifier: ISC */
/*
 * pkg-client: a VMM-side client built the way a user of the package
 * builds one, against the installed <shmclient.h> and libshmclient.so
 * only (cc ... $(pkg-config --cflags --libs libshmclient)); deb.sh
 * compiles it inside the private root where the package is installed.
 *
 *   pkg-client write NAME TEXT   finds (never creates) the region NAME on
 *                                the default VMM socket, maps it and puts
 *                                TEXT and a NUL at its start
 *   pkg-client read NAME TEXT    finds NAME, maps it and checks that it
 *                                starts with TEXT and a NUL
 *
 * Prints one line saying what it found. Exit status 0 when all went well,
 * 1 with a message if not, 2 for a wrong command line.
 */
#include <shmclient.h>

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char err[256] = "", sock[256];
	struct shmc *c;
	struct shmc_region r;
	size_t len;
	unsigned char *mem;
	int rc, ok;

	if (argc != 4 || (strcmp(argv[1], "write") && strcmp(argv[1], "read"))) {
		fprintf(stderr, "usage: pkg-client write|read NAME TEXT\n");
		return 2;
	}
	shmc_default_socket(false, sock, sizeof(sock));
	rc = shmc_connect(NULL, "pkg-client", 0, &c, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "pkg-client: cannot connect to %s: %s\n", sock,
		    err);
		return 1;
	}
	rc = shmc_attach(c, argv[2], 0, false, &r);
	if (rc != SHMC_GSS_OK) {
		fprintf(stderr, "pkg-client: find %s on %s: status %d (%s)\n",
		    argv[2], sock, rc, rc < 0 ? shmc_error(c) : "guest status");
		shmc_close(c);
		return 1;
	}
	len = (size_t)r.size_pages * 4096;
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, r.fd, 0);
	if (mem == MAP_FAILED) {
		perror("pkg-client: mmap");
		shmc_close(c);
		return 1;
	}
	if (strlen(argv[3]) + 1 > len) {
		fprintf(stderr, "pkg-client: TEXT is longer than the region\n");
		return 1;
	}
	if (!strcmp(argv[1], "write")) {
		memcpy(mem, argv[3], strlen(argv[3]) + 1);
		ok = 1;
	} else {
		ok = !memcmp(mem, argv[3], strlen(argv[3]) + 1);
	}
	printf("pkg-client: %s %s on %s: index %u, %u pages, %s\n", argv[1],
	    argv[2], sock, r.index, r.size_pages,
	    !strcmp(argv[1], "write") ? "written" : ok ? "text matches" :
	    "text differs");
	munmap(mem, len);
	close(r.fd);
	shmc_detach(c, r.client_id);
	shmc_close(c);
	return ok ? 0 : 1;
}
