/* SPDX-License-Identifier: ISC */
/*
 * memory: creation of sealed, optionally hugetlb-backed memfds, and their
 * read-only file descriptions (see memory.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "memory.h"

#define SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

int
memory_parse_policy(const char *s)
{
	if (strcmp(s, "never") == 0)
		return HUGEPAGES_NEVER;
	if (strcmp(s, "prefer") == 0)
		return HUGEPAGES_PREFER;
	if (strcmp(s, "require") == 0)
		return HUGEPAGES_REQUIRE;
	return -EINVAL;
}

const char *
memory_policy_name(enum hugepage_policy p)
{
	switch (p) {
	case HUGEPAGES_NEVER:
		return "never";
	case HUGEPAGES_PREFER:
		return "prefer";
	case HUGEPAGES_REQUIRE:
		return "require";
	}
	return "?";
}

/* One "Key: N kB" or "Key: N" value of /proc/meminfo; 0 when absent. */
static uint64_t
meminfo_value(const char *key)
{
	char line[128];
	size_t klen = strlen(key);
	uint64_t v = 0;
	FILE *f = fopen("/proc/meminfo", "re");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			unsigned long long n;

			if (sscanf(line + klen + 1, "%llu", &n) == 1)
				v = n;
			break;
		}
	}
	fclose(f);
	return v;
}

uint64_t
memory_hugepage_size(void)
{
	return meminfo_value("Hugepagesize") * 1024;
}

uint64_t
memory_hugepages_available(void)
{
	uint64_t free_pages = meminfo_value("HugePages_Free");
	uint64_t rsvd = meminfo_value("HugePages_Rsvd");

	return free_pages > rsvd ? free_pages - rsvd : 0;
}

static uint64_t
round_up(uint64_t v, uint64_t to)
{
	return (v + to - 1) / to * to;
}

/* A hugetlb memfd with its pages reserved; -ENOMEM when the pool is short. */
static int
memory_create_hugetlb(const char *label, uint64_t bytes, int *fdp)
{
	int fd = memfd_create(label, MFD_CLOEXEC | MFD_ALLOW_SEALING |
	    MFD_HUGETLB);
	void *p;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)bytes) < 0)
		goto fail;
	/* The reservation is made for the file and stays after munmap. */
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto fail;
	munmap(p, bytes);
	*fdp = fd;
	return 0;
fail:;
	int err = -errno;

	close(fd);
	return err;
}

static int
memory_create_shmem(const char *label, uint64_t bytes, int *fdp)
{
	int fd = memfd_create(label, MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)bytes) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	*fdp = fd;
	return 0;
}

static const char *
memory_errno_reason(int err)
{
	switch (err) {
	case -EMFILE:
	case -ENFILE:
		return "the daemon is out of file descriptors (raise LimitNOFILE)";
	case -ENOMEM:
	case -ENOSPC:
		return "out of memory";
	default:
		return "memfd creation failed";
	}
}

int
memory_create(const char *label, uint32_t size_pages,
    enum hugepage_policy policy, uint64_t hugepage_size,
    struct region_mem *out, const char **why)
{
	uint64_t bytes = (uint64_t)size_pages * REGION_PAGE_SIZE;
	bool want_huge = hugepage_size != 0 &&
	    (policy == HUGEPAGES_REQUIRE ||
	    (policy == HUGEPAGES_PREFER && bytes >= hugepage_size));
	int fd = -1, err;

	if (policy == HUGEPAGES_REQUIRE && hugepage_size == 0) {
		*why = "hugepages are required but the kernel has none";
		return -ENOMEM;
	}
	if (want_huge) {
		uint64_t hbytes = round_up(bytes, hugepage_size);

		err = memory_create_hugetlb(label, hbytes, &fd);
		if (err == 0) {
			out->backing = BACKING_HUGETLB;
			out->bytes = hbytes;
		} else if (policy == HUGEPAGES_REQUIRE || err == -EMFILE ||
		    err == -ENFILE) {
			*why = err == -ENOMEM ?
			    "hugepages are required but the pool is short "
			    "(raise /proc/sys/vm/nr_hugepages)" :
			    memory_errno_reason(err);
			return err;
		}
	}
	if (fd < 0) {
		err = memory_create_shmem(label, bytes, &fd);
		if (err < 0) {
			*why = memory_errno_reason(err);
			return err;
		}
		out->backing = BACKING_SHMEM;
		out->bytes = bytes;
	}
	if (fcntl(fd, F_ADD_SEALS, SEALS) < 0) {
		err = -errno;
		close(fd);
		*why = "sealing the memfd failed";
		return err;
	}
	out->fd = fd;
	return 0;
}

int
memory_check_fd(int fd, uint32_t size_pages, struct region_mem *out)
{
	uint64_t bytes = (uint64_t)size_pages * REGION_PAGE_SIZE, unit;
	struct statfs sfs;
	struct stat st;
	int seals;

	if (fstat(fd, &st) < 0 || fstatfs(fd, &sfs) < 0)
		return -errno;
	seals = fcntl(fd, F_GET_SEALS);
	unit = sfs.f_type == HUGETLBFS_MAGIC && st.st_blksize > 0 ?
	    (uint64_t)st.st_blksize : REGION_PAGE_SIZE;
	if (!S_ISREG(st.st_mode) || seals < 0 || (seals & SEALS) != SEALS ||
	    (uint64_t)st.st_size != round_up(bytes, unit))
		return -EINVAL;
	out->bytes = (uint64_t)st.st_size;
	out->backing = sfs.f_type == HUGETLBFS_MAGIC ? BACKING_HUGETLB :
	    BACKING_SHMEM;
	return 0;
}

int
memory_open_read_only(int fd)
{
	char path[32];
	int ro;

	if (fchmod(fd, S_IRUSR) < 0)
		return -errno;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	return ro < 0 ? -errno : ro;
}
