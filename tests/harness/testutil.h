/* SPDX-License-Identifier: ISC */
/*
 * testutil: what the unit tests, the integration tests and the benchmark
 * read off the host: a process's descriptors and memory, the clock, and the
 * kernel's hugepage pool, which some of them resize for a while; and the
 * temporary directories they keep their files in. Plain C
 * with no cmocka and no daemon, so that every kind of test can link it.
 */
#ifndef SHMBROKER_TESTUTIL_H
#define SHMBROKER_TESTUTIL_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define HARNESS_NR_HUGEPAGES "/proc/sys/vm/nr_hugepages"

/* CLOCK_MONOTONIC in milliseconds, and a sleep of ms. */
int64_t harness_now_ms(void);
void harness_sleep_ms(int ms);

/* Number of open descriptors of pid (entries of /proc/PID/fd), or -1.
 * For this process the count includes the one that reads the directory. */
int harness_count_fds(pid_t pid);
/* The child processes of pid's main thread whose argv[1] is arg (NULL:
 * all), at most max of them in out; how many, or -1 when pid is gone. */
int harness_children(pid_t pid, const char *arg, pid_t *out, int max);
/* The same, waiting up to timeout_ms for at least want of them: a child
 * just spawned shows its parent's argv until its exec is done. */
int harness_wait_children(pid_t pid, const char *arg, pid_t *out, int max,
    int want, int timeout_ms);
/* The daemon's fd keepers' argv[1] (daemon/fdstash.h). */
#define HARNESS_KEEPER_ARG "--fdstash-keeper"
/* The fd count of pid once it has stayed the same for 200 ms (at most
 * 5 s), for a daemon that may still be closing what a test let go. */
int harness_settled_fd_count(pid_t pid);
/* Waits up to timeout_ms until pid has want fds; returns the last count. */
int harness_wait_fd_count(pid_t pid, int want, int timeout_ms);
/* Resident set size of pid in KiB (VmRSS), or -1. */
long harness_rss_kib(pid_t pid);
/* The CPU time pid has used (utime + stime of /proc/PID/stat), in clock
 * ticks, or -1. */
long harness_cpu_ticks(pid_t pid);

/* A connected SOCK_SEQPACKET socket to the UNIX socket path, or -errno. */
int harness_connect_raw(const char *path);
/* A SOCK_SEQPACKET socket listening on the UNIX socket path (which must
 * not exist), or -errno: a fake daemon's, or one that never answers. */
int harness_listen_raw(const char *path, int backlog);
/* Waits up to timeout_ms until path accepts a connection; 0 or -1. */
int harness_wait_listening(const char *path, int timeout_ms);
/* Whether /dev/kvm opens read-write here (errno says why not). */
bool harness_kvm_opens(void);

/* A new directory /tmp/shmb-TAG.XXXXXX, its path in dir. Returns 0, or -1
 * with errno set. */
int harness_mkdtemp(char *dir, size_t len, const char *tag);
/* Removes dir and all below it, as far as it can; a test's cleanup. */
void harness_rmtree(const char *dir);

/* The number after "key:" in a /proc file of "Key: value" lines (status,
 * meminfo, smaps_rollup), in the file's unit; -1 when absent. */
long harness_proc_value(const char *path, const char *key);
/* One value of /proc/meminfo ("HugePages_Free", "Hugepagesize"...). */
long harness_meminfo(const char *key);

/* The kernel's pool of default-size hugepages. */
struct harness_hugepages {
	uint64_t page_bytes;	/* 0: the kernel has no hugepages */
	long total, free, rsvd;	/* HugePages_* of /proc/meminfo */
	long nr;		/* nr_hugepages (total when unreadable) */
};

/* Fills hp from /proc. Returns 0 or -errno. */
int harness_hugepages_read(struct harness_hugepages *hp);
/* Pages free and not reserved: what a new hugetlb region may take. */
long harness_hugepages_available(const struct harness_hugepages *hp);
/* nr_hugepages as it is now, to give to harness_hugepages_restore; -1
 * when it cannot be read. */
long harness_hugepages_save(void);
/* Writes nr_hugepages. Returns 0 or -errno. */
int harness_hugepages_set(long nr);
/*
 * Resizes the pool so that n pages are free and unreserved. Pages others
 * hold are left alone: only the spare part changes. Returns how many are
 * available afterwards (less than n when the kernel found no memory), or
 * -errno when the pool could not be read or written.
 */
long harness_hugepages_make_free(long n);
/* Writes saved back unless it is negative (the pool was never changed).
 * Returns 0, or -1 after saying on stderr, as who, that it could not. */
int harness_hugepages_restore(long saved, const char *who);

#endif
