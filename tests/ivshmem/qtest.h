/* SPDX-License-Identifier: ISC */
/*
 * qtest: a stock QEMU (Debian's qemu-system-x86_64) with one
 * ivshmem-doorbell device on an ivshmem socket, driven over QEMU's qtest
 * protocol (-qtest stdio -S: no guest OS, no KVM). The test plays the
 * guest's driver: it programs the device through PCI config space (BARs,
 * memory and bus mastering, MSI-X), points each vector's MSI-X message at
 * a word of guest RAM (so a delivered doorbell shows up there), reads and
 * writes the shared memory through BAR2, reads IVPosition and rings the
 * doorbell. Every call returns -1 (or false) when QEMU does not answer as
 * it should; the QEMU dies with the test (PR_SET_PDEATHSIG).
 */
#ifndef SHMBROKER_QTEST_H
#define SHMBROKER_QTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define QTEST_QEMU	"qemu-system-x86_64"
#define QTEST_BAR2	UINT64_C(0xe0000000)	/* the shared memory, as mapped */

struct qtest {
	pid_t pid;		/* 0: not running */
	FILE *cmd;		/* QEMU's stdin */
	int reply;		/* QEMU's stdout, or -1 */
	char log[128];		/* QEMU's stderr, a file */
	unsigned vectors;
	size_t rlen;		/* bytes of rbuf not yet taken */
	char rbuf[16384];
};

/* Whether QEMU and its ivshmem-doorbell device are installed. */
bool qtest_available(void);

/*
 * Starts QEMU with its device's chardev on socket path and vectors MSI-X
 * vectors, as uid/gid when uid is not (uid_t)-1. QEMU connects while it
 * starts and takes the memory then: a refused QEMU exits.
 * logdir: where its stderr goes. 0 or -1.
 */
int qtest_start(struct qtest *q, const char *path, unsigned vectors,
    uid_t uid, gid_t gid, const char *logdir);
/* Programs the device (BARs, command register, MSI-X to RAM). 0 or -1. */
int qtest_setup(struct qtest *q);
/* The IVPosition register: the QEMU's index in the region; -1 on error. */
int64_t qtest_ivposition(struct qtest *q);
/* Rings vector of peer (index): the doorbell register. 0 or -1. */
int qtest_doorbell(struct qtest *q, unsigned peer, unsigned vector);
/* Bytes of the shared memory at off. 0 or -1. */
int qtest_mem_read(struct qtest *q, uint64_t off, void *buf, size_t len);
int qtest_mem_write(struct qtest *q, uint64_t off, const void *buf,
    size_t len);
/* Whether vector's MSI-X message arrived since the last call: clears it. */
bool qtest_msi_take(struct qtest *q, unsigned vector);
/* Waits up to ms for it. */
bool qtest_msi_wait(struct qtest *q, unsigned vector, int ms);
/* Waits up to ms for QEMU to exit by itself: its wait status, or -1. */
int qtest_wait_exit(struct qtest *q, int ms);
/* Kills QEMU (SIGKILL) and reaps it; nothing when it is not running. */
void qtest_kill(struct qtest *q);
/* The end of what QEMU wrote to stderr, into buf, for messages. */
const char *qtest_stderr(const struct qtest *q, char *buf, size_t len);

#endif
