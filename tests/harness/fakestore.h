/* SPDX-License-Identifier: ISC */
/*
 * fakestore: systemd's fd store, played by a test, so that the daemon's
 * `fd_store = yes` can be tested without systemd. It binds the
 * NOTIFY_SOCKET the daemons of the test notify, keeps what they store
 * there (FDSTORE=1 with FDNAME, minus FDSTOREREMOVE) and hands it to the
 * next daemon as LISTEN_FDS with LISTEN_FDNAMES. Failures fail the running
 * cmocka test.
 */
#ifndef SHMBROKER_FAKESTORE_H
#define SHMBROKER_FAKESTORE_H

#include "fixture.h"

#define FAKESTORE_MAX 16

struct fakestore_entry {
	char name[256];
	int fd;
};

struct fakestore {
	char notify[108];	/* the NOTIFY_SOCKET */
	int nsock;		/* -1: not open */
	struct fakestore_entry st[FAKESTORE_MAX];
	int nst;
};

/* Binds dir/notify and sets NOTIFY_SOCKET for the daemons to come: 0,
 * or -1 with the reason on stderr (for a setup). */
int fakestore_open(struct fakestore *s, const char *dir);
/* Closes what it holds and unsets NOTIFY_SOCKET. */
void fakestore_close(struct fakestore *s);
/* Takes in what the daemon stored or removed since the last call. */
void fakestore_collect(struct fakestore *s);
/* How many entries' names start with prefix. */
int fakestore_count(const struct fakestore *s, const char *prefix);
/* SIGTERM to fx's daemon (it must exit cleanly), then the same daemon
 * again with the store as systemd passes it: from fd 3 on, named. */
void fakestore_restart(struct fakestore *s, struct fixture *fx);
/* The two halves, for a test that acts while no daemon runs. */
void fakestore_stop(struct fakestore *s, struct fixture *fx);
void fakestore_start(struct fakestore *s, struct fixture *fx);

#endif
