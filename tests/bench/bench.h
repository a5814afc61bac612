/* SPDX-License-Identifier: ISC */
/*
 * bench: what the parts of shmbench share. A run is a struct bench that
 * the figure groups (attach, create, scale) fill with struct figure
 * results; report.c prints them, pool.c owns the hugepage pool, and every
 * group starts and stops its own shmbrokerd through tests/harness.
 */
#ifndef SHMBENCH_BENCH_H
#define SHMBENCH_BENCH_H

#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "harness.h"
#include "shmclient.h"

#define BENCH_MAX_FIGURES 48
#define BENCH_TIMEOUT_MS 5000	/* every synchronous call to the daemon */

/* Where the processes of a figure and its floor run (place.c). */
enum place { PLACE_SAME, PLACE_CROSS, PLACE_N };
/* The client side (shmbench, the first VM) or the server side (the
 * daemon, a floor's server, the second VM). */
enum role { ROLE_CLIENT, ROLE_SERVER };

struct figure {
	char name[32];
	const char *unit;
	const char *placement;	/* place_name(), or "none": no processes
				 * whose placement matters */
	bool single;		/* one value rather than p50/p99 */
	double p50, p99, value;
	size_t samples;
	const char *floor;	/* the floor's name, "none" without one */
	double floor_p50;	/* NAN without a floor */
	double reference;	/* what value is divided by, NAN when unused */
	double ratio;		/* NAN when it could not be measured */
	double target;
	bool target_max;	/* the ratio must stay at or below target */
	bool skipped;
	char note[1024];	/* why it was skipped, or more detail */
	char extra[320];	/* more JSON members, ",\"k\":v" or "" */
};

/* The hugepage pool as this run found and changed it. */
struct pool {
	bool checked;		/* pool_prepare ran */
	bool ready;		/* the pool has room for the hugetlb figures */
	char why[200];		/* why not, when !ready */
	long saved;		/* nr_hugepages to restore, -1 when unchanged */
	long raised_to;		/* what it was raised to, 0 when it was not */
	pid_t guard;		/* the process that restores it, 0 without */
	int guard_fd;		/* closing it tells the guard to restore */
};

struct bench {
	bool quick;
	bool json;
	bool keep_pool;		/* never write nr_hugepages */
	const char *only;	/* NULL: every figure */
	const char *log_level;	/* the daemons' --log-level */
	uint64_t rng;		/* xorshift state */
	sigset_t stop;		/* held while running, polled at checkpoints */
	bool interrupted;
	bool header_done;
	int cpu[2];		/* the CPUs placements use; -1: none */
	cpu_set_t cpus_at_start;
	int errors;		/* groups that could not run */
	struct pool pool;
	size_t nfigs;
	struct figure figs[BENCH_MAX_FIGURES];
};

/* Latency samples in nanoseconds. */
struct samples {
	uint64_t *ns;
	size_t n, cap;
};

/* Runs n iterations of a figure and of its floor, interleaved, adding
 * the samples when keep. Returns 0, or -1 with the run's error set. */
typedef int (*bench_chunk_fn)(void *ctx, size_t n, bool keep);

/* shmbench.c */
bool bench_wants(const struct bench *b, const char *name);
bool bench_stopped(struct bench *b);
/* Measures a figure: one warm-up chunk of warmup iterations whose samples
 * are dropped, then chunks of at most most iterations until fig holds
 * iters samples, so that drift of the machine hits figure and floor
 * alike. Returns 0, or -1 with err set (by chunk, or "interrupted"). */
int bench_measure(struct bench *b, bench_chunk_fn chunk, void *ctx,
    const struct samples *fig, size_t iters, size_t warmup, size_t most,
    char *err, size_t errlen);
uint64_t bench_now_ns(void);
/* CPU time in ns: of process pid (every thread), or of the calling
 * thread for pid 0; BENCH_CPU_UNKNOWN when it cannot be read (0 is a
 * child that has not run yet). */
#define BENCH_CPU_UNKNOWN UINT64_MAX
uint64_t bench_cpu_ns(pid_t pid);
/* CPU time summed over measured stretches, and the operations in them. */
struct bench_cpu {
	uint64_t ns;
	size_t ops;
	bool unknown;		/* a clock could not be read */
};
/* Adds a stretch of ops operations, from bench_cpu_ns readings before and
 * after it. */
void bench_cpu_add(struct bench_cpu *c, uint64_t before, uint64_t after,
    size_t ops);
/* Microseconds per operation, or -1 when a clock could not be read or
 * nothing was added. */
double bench_cpu_us_per_op(const struct bench_cpu *c);
uint64_t bench_random(struct bench *b);
int bench_start_daemon(struct bench *b, struct test_daemon *d,
    const char *const *extra);
void bench_stop_daemon(struct test_daemon *d);
int bench_connect(const char *path, bool admin_label, struct shmc **out);
/* A child process serving serve(sock) on one end of a SOCK_SEQPACKET
 * pair, killed with its parent; *sock (receives time out after
 * BENCH_TIMEOUT_MS) and *pid are the caller's. 0 or -errno. */
int bench_fork_server(struct bench *b, void (*serve)(int sock), int *sock,
    pid_t *pid);
void bench_reap(pid_t pid, int timeout_ms);
/* A forked server says it is set up on ready (the write end of a pipe,
 * closed then), so that what is timed and its CPU time start after its
 * set-up; the parent waits for that, at most BENCH_TIMEOUT_MS: 0 or -1. */
void bench_server_ready(int ready);
int bench_wait_ready(int ready);
void bench_error(struct bench *b, const char *group, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* report.c */
int samples_init(struct samples *s, size_t cap);
void samples_add(struct samples *s, uint64_t ns);
double samples_us(struct samples *s, double q);
void samples_free(struct samples *s);
struct figure *figure_new(struct bench *b, const char *name,
    const char *unit);
struct figure *figure_new_placed(struct bench *b, const char *name,
    const char *unit, enum place p);
void figure_times(struct figure *f, struct samples *s, const char *floor,
    struct samples *floor_s, double target);
void figure_value(struct figure *f, double value, double reference,
    double target, bool target_max);
void figure_skip(struct figure *f, const char *floor, double target,
    bool target_max, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void figure_note(struct figure *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A control (README "Controls"): what it measured, beside the floor's and
 * the figure's value of the same kind (p50s, p99s or totals), in the note
 * and as JSON control, control_ratio (figure / control). */
void figure_control(struct figure *f, const char *what, double control,
    double floor, double fig);
void report_facts(struct bench *b);
void report_figure(struct bench *b, const struct figure *f);
void report_summary(const struct bench *b);

/* place.c */
void place_init(struct bench *b);
const char *place_name(enum place p);
bool place_possible(const struct bench *b, enum place p);
int place_cpu(const struct bench *b, enum place p, enum role r);
/* Pins every thread of pid (0: the calling thread) to cpu; -errno. */
int place_pin(pid_t pid, int cpu);
int place_pin_tree(pid_t pid, int cpu);
int place_pin_role(const struct bench *b, pid_t pid, enum place p,
    enum role r);
/* This process back on the CPUs it had at start. */
void place_release(const struct bench *b);

/* pool.c (reading the pool: harness_hugepages_read of tests/harness) */
int pool_prepare(struct bench *b, uint64_t need_bytes);
void pool_restore(struct bench *b);
void pool_close_in_child(const struct bench *b);

/* fig_attach.c: one timed create-attach of a fresh 1-page guest region
 * named after seq, then (untimed) close and detach. */
int bench_attach_once(struct shmc *c, uint32_t seq, uint64_t *ns,
    char *err, size_t errlen);

/* fig_attach.c: the request/reply floor, a forked server answering each
 * SOCK_SEQPACKET request with one reply carrying a memfd. */
struct bench_echo {
	pid_t pid;
	int sock;
};
int bench_echo_start(struct bench *b, struct bench_echo *e);
void bench_echo_stop(struct bench_echo *e);
int bench_echo_once(int sock, uint64_t *ns);
/* The same with the reply's fd made for this request (ECHO_FRESH: a
 * sealed 1-page memfd, as a create makes) or made once (ECHO_SAME);
 * ECHO_FLUSH closes the fresh ones the server kept. */
#define ECHO_SAME 1
#define ECHO_FRESH 2
#define ECHO_FLUSH 3
int bench_echo_kind_once(int sock, char kind, uint64_t *ns);

/* replay.c (replay.h): the controls' servers. The attach server: start
 * it (pin e->pid as the daemon), then per sample bench_replay_once, the
 * attach timed into *ns, its detach after; ep is the caller's epoll set
 * holding e->sock, as libshmclient's holds its socket. The storm server
 * serves the n connections socks (never returns) for attaches each,
 * saying on ready when it is set up (bench_server_ready).
 * bench_replay_memfd makes a region's memfd as the daemon does. */
int bench_replay_start(struct bench *b, struct bench_echo *e);
int bench_replay_once(int sock, int ep, bool create, uint64_t *ns);
void bench_replay_storm_main(int *socks, size_t n, size_t attaches,
    int ready) __attribute__((noreturn));
int bench_replay_memfd(const char *name, uint64_t bytes, int mem,
    uint64_t huge_bytes);

/* fig_create.c: the memory floor, memfd_create + ftruncate + seals (+ mmap
 * and munmap for hugetlb) of bytes, timed in a server process that each
 * request wakes, as the daemon is: start it (pin *pid as the server), then
 * per sample a call with huge 0 or 1 (its time in *ns) and one with
 * huge BENCH_MEMFD_CLOSE (the close of that memfd, untimed). 0 or
 * -errno; the caller closes *sock and reaps *pid. */
#define BENCH_MEMFD_CLOSE 2
int bench_memfd_server_start(struct bench *b, int *sock, pid_t *pid);
int bench_memfd_server_call(int sock, uint64_t bytes, int huge,
    uint64_t *ns);

/* The figure groups; each returns 0, or -1 when it could not run. */
int fig_attach(struct bench *b);
int fig_create(struct bench *b);
int fig_scale(struct bench *b);
int fig_guest(struct bench *b);
int fig_ivshmem(struct bench *b);
int fig_storm(struct bench *b);
int fig_flood(struct bench *b);

#endif
