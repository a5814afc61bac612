/* SPDX-License-Identifier: ISC */
/*
 * testutil: processes, the clock and the hugepage pool as tests see them
 * (see testutil.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

int64_t
harness_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
harness_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int
harness_count_fds(pid_t pid)
{
	char path[64];
	DIR *dir;
	struct dirent *e;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if ((dir = opendir(path)) == NULL)
		return -1;
	while ((e = readdir(dir)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

/* Whether pid's argv[1] is arg. */
static bool
harness_has_arg(pid_t pid, const char *arg)
{
	char path[64], cmd[256];
	size_t n;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if ((fp = fopen(path, "re")) == NULL)
		return false;
	n = fread(cmd, 1, sizeof(cmd) - 1, fp);
	fclose(fp);
	cmd[n] = '\0';
	return n > strlen(cmd) + 1 && strcmp(cmd + strlen(cmd) + 1, arg) == 0;
}

int
harness_children(pid_t pid, const char *arg, pid_t *out, int max)
{
	char path[64];
	FILE *fp;
	int n = 0, child;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid,
	    (int)pid);
	if ((fp = fopen(path, "re")) == NULL)
		return -1;
	while (n < max && fscanf(fp, "%d", &child) == 1)
		if (arg == NULL || harness_has_arg((pid_t)child, arg))
			out[n++] = (pid_t)child;
	fclose(fp);
	return n;
}

int
harness_wait_children(pid_t pid, const char *arg, pid_t *out, int max,
    int want, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;
	int n;

	while ((n = harness_children(pid, arg, out, max)) >= 0 && n < want &&
	    harness_now_ms() < deadline)
		harness_sleep_ms(10);
	return n;
}

int
harness_settled_fd_count(pid_t pid)
{
	int last = harness_count_fds(pid), same = 0;
	int64_t deadline = harness_now_ms() + 5000;

	while (same < 10 && harness_now_ms() < deadline) {
		int n;

		harness_sleep_ms(20);
		n = harness_count_fds(pid);
		same = n == last ? same + 1 : 0;
		last = n;
	}
	return last;
}

int
harness_wait_fd_count(pid_t pid, int want, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;
	int n;

	while ((n = harness_count_fds(pid)) != want &&
	    harness_now_ms() < deadline)
		harness_sleep_ms(10);
	return n;
}

long
harness_rss_kib(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	return harness_proc_value(path, "VmRSS");
}

long
harness_cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *q;
	unsigned long ut, st;
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fp = fopen(path, "re")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	/* After the name in parentheses: state, then 10 fields, then
	 * utime and stime. */
	if ((q = strrchr(buf, ')')) == NULL || sscanf(q + 2, "%*c %*d %*d "
	    "%*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (long)(ut + st);
}

int
harness_listen_raw(const char *path, int backlog)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, err;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(fd, backlog) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int
harness_connect_raw(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, err;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int
harness_mkdtemp(char *dir, size_t len, const char *tag)
{
	if ((size_t)snprintf(dir, len, "/tmp/shmb-%s.XXXXXX", tag) >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static int
harness_rm_entry(const char *path, const struct stat *st, int flag,
    struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	remove(path);
	return 0;
}

void
harness_rmtree(const char *dir)
{
	nftw(dir, harness_rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

long
harness_proc_value(const char *path, const char *key)
{
	char line[256];
	size_t klen = strlen(key);
	long v = -1, n;
	FILE *f = fopen(path, "re");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			if (sscanf(line + klen + 1, "%ld", &n) == 1)
				v = n;
			break;
		}
	fclose(f);
	return v;
}

long
harness_meminfo(const char *key)
{
	return harness_proc_value("/proc/meminfo", key);
}

int
harness_hugepages_read(struct harness_hugepages *hp)
{
	char line[256];
	long kib = 0;
	FILE *f = fopen("/proc/meminfo", "re");

	memset(hp, 0, sizeof(*hp));
	if (f == NULL)
		return -errno;
	/* One pass, so that the counters are of the same moment. */
	while (fgets(line, sizeof(line), f) != NULL) {
		sscanf(line, "HugePages_Total: %ld", &hp->total);
		sscanf(line, "HugePages_Free: %ld", &hp->free);
		sscanf(line, "HugePages_Rsvd: %ld", &hp->rsvd);
		sscanf(line, "Hugepagesize: %ld kB", &kib);
	}
	fclose(f);
	hp->page_bytes = (uint64_t)kib * 1024;
	if ((hp->nr = harness_hugepages_save()) < 0)
		hp->nr = hp->total;
	return 0;
}

long
harness_hugepages_available(const struct harness_hugepages *hp)
{
	return hp->free > hp->rsvd ? hp->free - hp->rsvd : 0;
}

long
harness_hugepages_save(void)
{
	FILE *f = fopen(HARNESS_NR_HUGEPAGES, "re");
	long v = -1;

	if (f == NULL)
		return -1;
	if (fscanf(f, "%ld", &v) != 1 || v < 0)
		v = -1;
	fclose(f);
	return v;
}

int
harness_hugepages_set(long nr)
{
	char buf[32];
	int fd = open(HARNESS_NR_HUGEPAGES, O_WRONLY | O_CLOEXEC);
	int len = snprintf(buf, sizeof(buf), "%ld\n", nr);
	ssize_t w;

	if (fd < 0)
		return -errno;
	w = write(fd, buf, (size_t)len);
	if (w < 0)
		w = -errno;
	close(fd);
	return w == len ? 0 : w < 0 ? (int)w : -EIO;
}

long
harness_hugepages_make_free(long n)
{
	struct harness_hugepages hp;
	long target;
	int rc;

	if ((rc = harness_hugepages_read(&hp)) < 0)
		return rc;
	target = hp.nr + (n - harness_hugepages_available(&hp));
	if ((rc = harness_hugepages_set(target < 0 ? 0 : target)) < 0)
		return rc;
	if ((rc = harness_hugepages_read(&hp)) < 0)
		return rc;
	return harness_hugepages_available(&hp);
}

int
harness_hugepages_restore(long saved, const char *who)
{
	int rc;

	if (saved < 0 || (rc = harness_hugepages_set(saved)) == 0)
		return 0;
	fprintf(stderr, "%s: could not restore %s to %ld: %s\n", who,
	    HARNESS_NR_HUGEPAGES, saved, strerror(-rc));
	return -1;
}

int
harness_wait_listening(const char *path, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 10) {
		int s = harness_connect_raw(path);

		if (s >= 0) {
			close(s);
			return 0;
		}
		harness_sleep_ms(10);
	}
	return -1;
}

bool
harness_kvm_opens(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}
