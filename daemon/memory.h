/* SPDX-License-Identifier: ISC */
/*
 * memory: region memory as sealed memfds. With hugepages the memfd is
 * hugetlb-backed and its pages are reserved from the pool at creation (a
 * shared mapping reserves for the file, and the reservation outlives the
 * mapping), so no guest can later fault on an exhausted pool. Every fd is
 * sealed against shrink and grow before it leaves the daemon, so no peer can
 * SIGBUS another by truncating. A client that may only read gets a file
 * description of its own, opened read-only.
 */
#ifndef SHMBROKER_MEMORY_H
#define SHMBROKER_MEMORY_H

#include <stdint.h>

#include "registry.h"

enum hugepage_policy {
	HUGEPAGES_NEVER,	/* regular shmem memfds only */
	HUGEPAGES_PREFER,	/* hugetlb for regions of a hugepage or more,
				 * when the pool has room; else shmem */
	HUGEPAGES_REQUIRE,	/* hugetlb or fail */
};

/* Parses "never", "prefer", "require"; -EINVAL for anything else. */
int memory_parse_policy(const char *s);
const char *memory_policy_name(enum hugepage_policy p);

/* The kernel's default hugepage size in bytes, 0 when it has none. */
uint64_t memory_hugepage_size(void);
/* Free hugepages in the default pool now (free minus reserved). */
uint64_t memory_hugepages_available(void);

/*
 * Creates the memory of a region of size_pages 4 KiB pages. label names the
 * memfd (visible in /proc/PID/fd). Returns 0, or -errno with *why set to a
 * message for the log and the requester: -ENOMEM when neither the pool nor
 * the policy allows it, -EMFILE when the daemon is out of descriptors.
 */
int memory_create(const char *label, uint32_t size_pages,
    enum hugepage_policy policy, uint64_t hugepage_size,
    struct region_mem *out, const char **why);

/*
 * Whether fd is a region's memory as memory_create makes it, for
 * size_pages: a regular file sealed as it seals one, of the size it
 * makes (rounded up to a huge page on hugetlbfs). Fills out's bytes and
 * backing; 0, or -EINVAL when it is not one (-errno when it cannot
 * tell).
 */
int memory_check_fd(int fd, uint32_t size_pages, struct region_mem *out);

/*
 * A new O_RDONLY, close-on-exec file description of the memfd fd (through
 * /proc/self/fd), for a client that may only read: the kernel refuses a
 * writable shared mapping of it, and writes. First the memfd's own mode
 * becomes 0400 (it is 0777 from memfd_create), or any process holding
 * the read-only fd could open /proc/self/fd/N again for writing; only
 * root and the memfd's owner (this daemon's user) can undo that. The fd
 * it came from is not changed. Returns the new fd or -errno.
 */
int memory_open_read_only(int fd);

#endif
