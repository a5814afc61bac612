/* SPDX-License-Identifier: ISC */
/*
 * ivs-poison SOCKET: a hostile ivshmem peer, for tests/systemd/ivshmem.sh.
 * It joins as a QEMU would, clears O_NONBLOCK on every eventfd it was
 * given (the flag belongs to the open file description it shares with
 * the daemon) and leaves; then it joins again, which makes the daemon
 * drain the index's eventfds, and prints "rejoined INDEX". A daemon that
 * read them with read(2) would wait for ever on the first empty one, and
 * this peer (and every other client) with it: the script runs it under
 * timeout(1). Exit 0, or 1 with a message.
 */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "ivsclient.h"

static int
poison(struct ivc *p)
{
	int n = fcntl(p->own, F_SETFL, 0) == 0;

	for (int i = 0; i < 16; i++)
		if (p->peer[i] >= 0)
			n += fcntl(p->peer[i], F_SETFL, 0) == 0;
	return n;
}

int
main(int argc, char **argv)
{
	struct ivc p;
	int n;

	if (argc != 2) {
		fprintf(stderr, "usage: ivs-poison SOCKET\n");
		return 2;
	}
	if (ivc_open(&p, argv[1]) < 0) {
		fprintf(stderr, "ivs-poison: cannot join %s\n", argv[1]);
		return 1;
	}
	n = poison(&p);
	printf("joined %d, %d eventfds made blocking\n", p.index, n);
	fflush(stdout);
	ivc_close(&p);
	usleep(200000);		/* the daemon sees it go: the index is free */
	if (ivc_open(&p, argv[1]) < 0) {
		fprintf(stderr, "ivs-poison: cannot join %s again\n", argv[1]);
		return 1;
	}
	printf("rejoined %d\n", p.index);
	ivc_close(&p);
	return 0;
}
