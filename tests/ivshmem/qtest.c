/* SPDX-License-Identifier: ISC */
/*
 * qtest: QEMU's ivshmem-doorbell device under qtest (see qtest.h). The
 * device sits at 00:04.0 of a pc machine; its BARs go where nothing else
 * is (registers 0xfe000000, MSI-X 0xfe001000, memory QTEST_BAR2), and
 * vector v's MSI-X message writes QTEST_MSI_DATA + v to guest RAM at
 * QTEST_MSI_BASE + 4 v.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "qtest.h"

#define QTEST_DEVFN	(4u << 3)
#define QTEST_BAR0	0xfe000000ull
#define QTEST_BAR1	0xfe001000ull
#define QTEST_MSI_BASE	0x100000ull
#define QTEST_MSI_DATA	0x4000u
#define QTEST_REPLY_MS	20000

bool
qtest_available(void)
{
	return system(QTEST_QEMU " -device help 2>/dev/null | "
	    "grep -q '\"ivshmem-doorbell\"'") == 0;
}

static void
qtest_child(int cin, int cout, int cerr, uid_t uid, gid_t gid,
    const char *const *argv)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (dup2(cin, 0) < 0 || dup2(cout, 1) < 0 || dup2(cerr, 2) < 0)
		_exit(126);
	if (uid != (uid_t)-1 && (setgroups(0, NULL) < 0 || setgid(gid) < 0 ||
	    setuid(uid) < 0))
		_exit(126);
	execvp(argv[0], (char *const *)argv);
	_exit(127);
}

int
qtest_start(struct qtest *q, const char *path, unsigned vectors, uid_t uid,
    gid_t gid, const char *logdir)
{
	char chardev[160], device[96];
	const char *argv[] = { QTEST_QEMU, "-machine", "pc", "-m", "32M",
	    "-nodefaults", "-display", "none", "-S", "-qtest", "stdio",
	    "-qtest-log", "/dev/null", "-chardev", chardev, "-device",
	    device, NULL };
	int in[2], out[2], err;
	struct timespec ts;

	memset(q, 0, sizeof(*q));
	q->reply = -1;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	q->vectors = vectors;
	snprintf(chardev, sizeof(chardev), "socket,path=%s,id=ivs", path);
	snprintf(device, sizeof(device), "ivshmem-doorbell,chardev=ivs,"
	    "vectors=%u,addr=04.0", vectors);
	snprintf(q->log, sizeof(q->log), "%s/qemu-%d-%lld%09ld.log", logdir,
	    (int)getpid(), (long long)ts.tv_sec, ts.tv_nsec);
	if ((err = open(q->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) < 0)
		return -1;
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		close(err);
		return -1;
	}
	if ((q->pid = fork()) == 0)
		qtest_child(in[0], out[1], err, uid, gid, argv);
	close(in[0]);
	close(out[1]);
	close(err);
	q->cmd = fdopen(in[1], "w");
	q->reply = out[0];
	if (q->pid < 0 || q->cmd == NULL) {
		qtest_kill(q);
		return -1;
	}
	return 0;
}

/* The next line QEMU printed, without its newline: 0 or -1. */
static int
qtest_line(struct qtest *q, char *line, size_t len)
{
	struct pollfd pfd = { .fd = q->reply, .events = POLLIN };
	char *nl;
	ssize_t n;

	while ((nl = memchr(q->rbuf, '\n', q->rlen)) == NULL) {
		if (q->rlen == sizeof(q->rbuf) ||
		    poll(&pfd, 1, QTEST_REPLY_MS) <= 0 ||
		    (n = read(q->reply, q->rbuf + q->rlen,
		    sizeof(q->rbuf) - q->rlen)) <= 0)
			return -1;
		q->rlen += (size_t)n;
	}
	*nl = '\0';
	if ((size_t)(nl - q->rbuf) >= len)
		return -1;
	memcpy(line, q->rbuf, (size_t)(nl - q->rbuf) + 1);
	q->rlen -= (size_t)(nl + 1 - q->rbuf);
	memmove(q->rbuf, nl + 1, q->rlen);
	return 0;
}

/* One command and its answer: "OK" and what follows, into val and text. */
static int
qtest_cmd(struct qtest *q, uint64_t *val, char *text, size_t textlen,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int
qtest_cmd(struct qtest *q, uint64_t *val, char *text, size_t textlen,
    const char *fmt, ...)
{
	char line[8192];
	va_list ap;

	if (q->pid <= 0)
		return -1;
	va_start(ap, fmt);
	vfprintf(q->cmd, fmt, ap);
	va_end(ap);
	fputc('\n', q->cmd);
	if (fflush(q->cmd) != 0)
		return -1;
	do
		if (qtest_line(q, line, sizeof(line)) < 0)
			return -1;
	while (strncmp(line, "IRQ", 3) == 0);
	if (strncmp(line, "OK", 2) != 0)
		return -1;
	if (val != NULL)
		*val = strtoull(line + 2, NULL, 0);
	if (text != NULL)
		snprintf(text, textlen, "%s", line + 2 + (line[2] == ' '));
	return 0;
}

static int
qtest_writel(struct qtest *q, uint64_t addr, uint32_t v)
{
	return qtest_cmd(q, NULL, NULL, 0, "writel 0x%" PRIx64 " 0x%x", addr,
	    v);
}

static int
qtest_readl(struct qtest *q, uint64_t addr, uint32_t *v)
{
	uint64_t x;

	if (qtest_cmd(q, &x, NULL, 0, "readl 0x%" PRIx64, addr) < 0)
		return -1;
	*v = (uint32_t)x;
	return 0;
}

static int
qtest_cfg_read(struct qtest *q, unsigned off, uint32_t *v)
{
	uint64_t x;

	if (qtest_cmd(q, NULL, NULL, 0, "outl 0xcf8 0x%x", 0x80000000u |
	    QTEST_DEVFN << 8 | (off & 0xfc)) < 0 ||
	    qtest_cmd(q, &x, NULL, 0, "inl 0xcfc") < 0)
		return -1;
	*v = (uint32_t)x;
	return 0;
}

static int
qtest_cfg_write(struct qtest *q, unsigned off, uint32_t v)
{
	if (qtest_cmd(q, NULL, NULL, 0, "outl 0xcf8 0x%x", 0x80000000u |
	    QTEST_DEVFN << 8 | (off & 0xfc)) < 0)
		return -1;
	return qtest_cmd(q, NULL, NULL, 0, "outl 0xcfc 0x%x", v);
}

/* The config space offset of the MSI-X capability, or -1. */
static int
qtest_find_msix(struct qtest *q)
{
	uint32_t v;
	unsigned off;

	if (qtest_cfg_read(q, 0x34, &v) < 0)
		return -1;
	for (off = v & 0xfc; off != 0; off = (v >> 8) & 0xfc) {
		if (qtest_cfg_read(q, off, &v) < 0)
			return -1;
		if ((v & 0xff) == 0x11)
			return (int)off;
	}
	return -1;
}

int
qtest_setup(struct qtest *q)
{
	uint32_t id, v;
	int cap;

	if (qtest_cfg_read(q, 0, &id) < 0 || id != 0x11101af4)
		return -1;	/* not the ivshmem device */
	if (qtest_cfg_write(q, 0x10, (uint32_t)QTEST_BAR0) < 0 ||
	    qtest_cfg_write(q, 0x14, (uint32_t)QTEST_BAR1) < 0 ||
	    qtest_cfg_write(q, 0x18, (uint32_t)QTEST_BAR2) < 0 ||
	    qtest_cfg_write(q, 0x1c, (uint32_t)(QTEST_BAR2 >> 32)) < 0 ||
	    qtest_cfg_write(q, 0x04, 0x6) < 0 ||
	    (cap = qtest_find_msix(q)) < 0)
		return -1;
	for (unsigned i = 0; i < q->vectors; i++) {
		uint64_t e = QTEST_BAR1 + 16 * i;

		if (qtest_writel(q, QTEST_MSI_BASE + 4 * i, 0) < 0 ||
		    qtest_writel(q, e, (uint32_t)(QTEST_MSI_BASE + 4 * i)) < 0 ||
		    qtest_writel(q, e + 4, 0) < 0 ||
		    qtest_writel(q, e + 8, QTEST_MSI_DATA + i) < 0 ||
		    qtest_writel(q, e + 12, 0) < 0)
			return -1;
	}
	/* Message Control: enabled, not masked as a whole. */
	if (qtest_cfg_read(q, (unsigned)cap, &v) < 0)
		return -1;
	v = (v & ~(1u << 30)) | 1u << 31;
	return qtest_cfg_write(q, (unsigned)cap, v);
}

int64_t
qtest_ivposition(struct qtest *q)
{
	uint32_t v;

	return qtest_readl(q, QTEST_BAR0 + 8, &v) < 0 ? -1 : (int64_t)v;
}

int
qtest_doorbell(struct qtest *q, unsigned peer, unsigned vector)
{
	return qtest_writel(q, QTEST_BAR0 + 12, peer << 16 | vector);
}

int
qtest_mem_write(struct qtest *q, uint64_t off, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	char *hex = malloc(2 * len + 1);
	int rc;

	if (hex == NULL)
		return -1;
	for (size_t i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", p[i]);
	rc = qtest_cmd(q, NULL, NULL, 0, "write 0x%" PRIx64 " %zu 0x%s",
	    QTEST_BAR2 + off, len, hex);
	free(hex);
	return rc;
}

int
qtest_mem_read(struct qtest *q, uint64_t off, void *buf, size_t len)
{
	char text[8192];
	uint8_t *p = buf;

	if (2 * len + 3 > sizeof(text) ||
	    qtest_cmd(q, NULL, text, sizeof(text), "read 0x%" PRIx64 " %zu",
	    QTEST_BAR2 + off, len) < 0 || strncmp(text, "0x", 2) != 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned b;

		if (sscanf(text + 2 + 2 * i, "%2x", &b) != 1)
			return -1;
		p[i] = (uint8_t)b;
	}
	return 0;
}

bool
qtest_msi_take(struct qtest *q, unsigned vector)
{
	uint32_t v;

	if (qtest_readl(q, QTEST_MSI_BASE + 4 * vector, &v) < 0 ||
	    v != QTEST_MSI_DATA + vector)
		return false;
	return qtest_writel(q, QTEST_MSI_BASE + 4 * vector, 0) == 0;
}

static uint64_t
qtest_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool
qtest_msi_wait(struct qtest *q, unsigned vector, int ms)
{
	uint64_t end = qtest_now_ms() + (uint64_t)ms;

	/* Each command also lets QEMU's main loop run its fd handlers. */
	do {
		if (qtest_msi_take(q, vector))
			return true;
		usleep(200);
	} while (qtest_now_ms() < end);
	return false;
}

int
qtest_wait_exit(struct qtest *q, int ms)
{
	uint64_t end = qtest_now_ms() + (uint64_t)ms;
	int ws;

	while (q->pid > 0) {
		pid_t r = waitpid(q->pid, &ws, WNOHANG);

		if (r == q->pid) {
			q->pid = 0;
			qtest_kill(q);
			return ws;
		}
		if (r < 0 || qtest_now_ms() >= end)
			return -1;
		usleep(5000);
	}
	return -1;
}

void
qtest_kill(struct qtest *q)
{
	if (q->pid == 0 && q->cmd == NULL)
		return;		/* never started, or done */
	if (q->pid > 0) {
		kill(q->pid, SIGKILL);
		waitpid(q->pid, NULL, 0);
	}
	q->pid = 0;
	if (q->cmd != NULL)
		fclose(q->cmd);
	if (q->reply >= 0)
		close(q->reply);
	q->cmd = NULL;
	q->reply = -1;
	q->rlen = 0;
}

const char *
qtest_stderr(const struct qtest *q, char *buf, size_t len)
{
	FILE *f = fopen(q->log, "re");
	size_t n = 0;

	buf[0] = '\0';
	if (f == NULL)
		return buf;
	if (fseek(f, -(long)(len - 1), SEEK_END) < 0)
		rewind(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}
