/* SPDX-License-Identifier: ISC */
/*
 * qtest-tool: one stock QEMU on an ivshmem socket, driven over qtest
 * (qtest.c) from a shell script, for tests that cannot be C programs (the
 * systemd tests run it as a tenant's uid inside their namespaces).
 *
 *   qtest-tool SOCKET VECTORS STEP...
 *
 * Starts QEMU (as the calling uid) with an ivshmem-doorbell device of
 * VECTORS vectors on SOCKET, sets the device up, then runs the steps in
 * order, each printing one line:
 *   ivposition        "ivposition N": the QEMU's index in the region
 *   write OFF TEXT    TEXT and a NUL at OFF of the shared memory (BAR2):
 *                     "write OFF"
 *   read OFF TEXT     "read OFF match" when TEXT and a NUL are at OFF,
 *                     else "read OFF other: HH HH ..." (the first bytes)
 *   ring PEER VECTOR  rings PEER's VECTOR (the doorbell): "ring PEER VECTOR"
 *   msi VECTOR MS     waits up to MS ms for VECTOR's interrupt: "msi VECTOR
 *                     yes" or "msi VECTOR no"
 *   stay FILE         "stay", then waits until FILE exists: the QEMU stays
 *                     a member while the script looks at the daemon
 * OFF takes C's 0x prefix. Lines go out as they happen (unbuffered).
 *
 * Exit status: 0 every step ran (what read and msi found is in their
 * lines); 1 QEMU did not answer as it should; 2 a wrong command line;
 * 3 QEMU exited by itself (a refused join ends it while it starts): the
 * line "qemu exited: status S" (or "signal S"), then what QEMU wrote to
 * stderr. QEMU's stderr goes to a file in a directory of $TMPDIR (or
 * /tmp), removed at the end.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qtest.h"

#define TOOL_EXIT_MS	5000	/* for a QEMU that stopped answering */

/* QEMU stopped answering: 3 and why when it exited, else 1. */
static int
tool_qemu_gone(struct qtest *q, const char *what)
{
	char err[2048];
	int ws;

	if ((ws = qtest_wait_exit(q, TOOL_EXIT_MS)) == -1) {
		fprintf(stderr, "qtest-tool: QEMU did not answer (%s): %s\n",
		    what, qtest_stderr(q, err, sizeof(err)));
		return 1;
	}
	if (WIFEXITED(ws))
		printf("qemu exited: status %d\n", WEXITSTATUS(ws));
	else
		printf("qemu exited: signal %d\n", WIFSIGNALED(ws) ?
		    WTERMSIG(ws) : -1);
	fputs(qtest_stderr(q, err, sizeof(err)), stdout);
	return 3;
}

static int
tool_read(struct qtest *q, uint64_t off, const char *text)
{
	size_t len = strlen(text) + 1;
	uint8_t buf[256];

	if (len > sizeof(buf))
		return 2;
	if (qtest_mem_read(q, off, buf, len) < 0)
		return -1;
	if (memcmp(buf, text, len) == 0) {
		printf("read 0x%llx match\n", (unsigned long long)off);
		return 0;
	}
	printf("read 0x%llx other:", (unsigned long long)off);
	for (size_t i = 0; i < len && i < 16; i++)
		printf(" %02x", buf[i]);
	printf("\n");
	return 0;
}

/* Until the script makes the file, however long that takes. */
static void
tool_stay(const char *file)
{
	printf("stay\n");
	while (access(file, F_OK) < 0)
		usleep(20 * 1000);
}

/* One step at argv[0]: how many arguments it took, 0 for a wrong one, -1
 * when QEMU did not answer. */
static int
tool_step(struct qtest *q, int argc, char **argv)
{
	const char *s = argv[0];
	int64_t pos;

	if (strcmp(s, "ivposition") == 0) {
		if ((pos = qtest_ivposition(q)) < 0)
			return -1;
		printf("ivposition %lld\n", (long long)pos);
		return 1;
	}
	if (argc >= 2 && strcmp(s, "stay") == 0) {
		tool_stay(argv[1]);
		return 2;
	}
	if (argc >= 3 && strcmp(s, "write") == 0) {
		uint64_t off = strtoull(argv[1], NULL, 0);

		if (qtest_mem_write(q, off, argv[2], strlen(argv[2]) + 1) < 0)
			return -1;
		printf("write 0x%llx\n", (unsigned long long)off);
		return 3;
	}
	if (argc >= 3 && strcmp(s, "read") == 0) {
		int rc = tool_read(q, strtoull(argv[1], NULL, 0), argv[2]);

		return rc < 0 ? -1 : rc == 0 ? 3 : 0;
	}
	if (argc >= 3 && strcmp(s, "ring") == 0) {
		unsigned peer = (unsigned)strtoul(argv[1], NULL, 0);
		unsigned vec = (unsigned)strtoul(argv[2], NULL, 0);

		if (qtest_doorbell(q, peer, vec) < 0)
			return -1;
		printf("ring %u %u\n", peer, vec);
		return 3;
	}
	if (argc >= 3 && strcmp(s, "msi") == 0) {
		unsigned vec = (unsigned)strtoul(argv[1], NULL, 0);

		printf("msi %u %s\n", vec, qtest_msi_wait(q, vec,
		    atoi(argv[2])) ? "yes" : "no");
		return 3;
	}
	return 0;
}

static int
tool_run(struct qtest *q, const char *sock, unsigned vectors, int argc,
    char **argv, const char *logdir)
{
	int n;

	if (qtest_start(q, sock, vectors, (uid_t)-1, 0, logdir) < 0) {
		fprintf(stderr, "qtest-tool: cannot start %s: %s\n", QTEST_QEMU,
		    strerror(errno));
		return 1;
	}
	if (qtest_setup(q) < 0)
		return tool_qemu_gone(q, "setting up the device");
	for (int i = 0; i < argc; i += n) {
		if ((n = tool_step(q, argc - i, argv + i)) == 0) {
			fprintf(stderr, "qtest-tool: bad step '%s'\n", argv[i]);
			return 2;
		}
		if (n < 0)
			return tool_qemu_gone(q, argv[i]);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	const char *tmp = getenv("TMPDIR");
	char logdir[4096];
	struct qtest q;
	int rc;

	if (argc < 3 || atoi(argv[2]) < 1) {
		fprintf(stderr, "usage: qtest-tool SOCKET VECTORS STEP...\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	snprintf(logdir, sizeof(logdir), "%s/qtest-tool.XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(logdir) == NULL) {
		fprintf(stderr, "qtest-tool: %s: %s\n", logdir,
		    strerror(errno));
		return 1;
	}
	memset(&q, 0, sizeof(q));
	rc = tool_run(&q, argv[1], (unsigned)atoi(argv[2]), argc - 3, argv + 3,
	    logdir);
	qtest_kill(&q);
	if (q.log[0] != '\0')
		unlink(q.log);
	rmdir(logdir);
	return rc;
}
