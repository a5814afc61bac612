/* SPDX-License-Identifier: ISC */
/*
 * broker: the daemon's state made and let go, without its sockets or
 * signals. broker_init turns a loaded configuration into a running
 * broker (descriptor limit, tenants, registry, event base, fd stash);
 * broker_fini closes every connection and frees it all. main.c adds the
 * listening sockets, signals and the fd store around them; the fuzzers
 * of tests/fuzz run the same broker in-process on sockets of their own
 * (the one use besides main, see tests/fuzz/README.md).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "broker.h"
#include "config.h"

/* Every region and connection holds a descriptor: ask for enough. */
static void
broker_raise_fd_limit(struct broker *b)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)b->cfg.max_regions + b->cfg.max_connections +
	    (rlim_t)256;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_max < want) {
		struct rlimit up = { want, want };

		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl = up;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	b->fd_limit = rl.rlim_cur;
	if (rl.rlim_cur < want)
		log_info(&b->log, "descriptor limit %llu is below the %llu that "
		    "max_regions and max_connections could use: region memfds "
		    "past local_region_fds go to keeper processes",
		    (unsigned long long)rl.rlim_cur, (unsigned long long)want);
}

/*
 * The event base looks for new events after every BROKER_ROUND
 * callbacks instead of only once it has run all that one epoll_wait
 * returned, which under a storm (1,000 VMMs attaching at once) is every
 * ready connection: libevent's batch grows to fit them. Served that way,
 * the slowest attaches took about twice the bare storm's: boot_storm_p99
 * on one CPU was 1.92 to 2.56x the floor in five runs, and the replay
 * control (the daemon's system calls, 64 events at a time) equalled it
 * once given batches of 4,096. Looking every 64 callbacks, as the floor's
 * server and the control do, it was 1.38 to 1.62x in six runs, the total
 * within the runs' spread. A lone request costs nothing more: the count
 * is kept in user space.
 */
#define BROKER_ROUND 64

static struct event_base *
broker_base_new(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base = NULL;

	if (cfg != NULL &&
	    event_config_set_max_dispatch_interval(cfg, NULL, BROKER_ROUND,
	    0) == 0)
		base = event_base_new_with_config(cfg);
	if (cfg != NULL)
		event_config_free(cfg);
	return base;
}

int
broker_init(struct broker *b)
{
	int rc;

	b->start_ms = broker_now_ms();
	b->hugepage_size = memory_hugepage_size();
	TAILQ_INIT(&b->conns);
	TAILQ_INIT(&b->dead);
	LIST_INIT(&b->watchers);
	b->next_conn_id = 1;
	b->members_fd = -1;
	b->up = &rpc_upcalls;
	broker_raise_fd_limit(b);
	if ((rc = policy_init(b)) < 0 ||
	    (rc = policy_attach_usages(b, &b->cfg)) < 0)
		return rc;
	if (b->cfg.local_region_fds == 0)
		b->cfg.local_region_fds = (uint32_t)(b->fd_limit / 4);
	if (registry_init(&b->reg) < 0 || (b->base = broker_base_new()) == NULL ||
	    (b->stash = fdstash_new()) == NULL ||
	    (b->reaper = reaper_new()) == NULL || ivshmem_init(b) < 0 ||
	    stock_init(b) < 0 || (b->scratch = wire_scratch_new()) == NULL)
		return -ENOMEM;
	/* Made at start, so that the daemon's descriptors do not move on
	 * their own; one already there (the fuzzers lend theirs: letting
	 * one go waits for an RCU grace period) is used. */
	if (b->wake == NULL && wake_open(&b->wake) < 0)
		return -ENOMEM;
	if (!wake_is_guarded(b->wake))
		log_warn(&b->log, "Linux AIO is refused here (io_setup): "
		    "members' eventfds are woken with write(2) after a check "
		    "of O_NONBLOCK that a member can race to stall the daemon; "
		    "allow io_setup and io_submit (systemd: @aio)");
	b->region_up = &ivshmem_region_upcalls;
	return 0;
}


void
broker_fini(struct broker *b)
{
	service_stop(b);
	ivshmem_close(b);
	if (b->base != NULL)
		conn_close_all(b);
	for (int k = 0; k < 2; k++) {
		if (b->listeners[k].ev != NULL)
			event_free(b->listeners[k].ev);
		if (b->listeners[k].fd > 0)
			reaper_close(b->reaper, b->listeners[k].fd);
	}
	registry_free(&b->reg);
	free(b->states);	/* only left when the start failed */
	free(b->dropped);
	tenant_usage_free(&b->usages);
	fdstash_free(b->stash);
	reaper_free(b->reaper);
	members_close(b);
	stock_free(b);
	wire_scratch_free(b->scratch);
	wake_close(b->wake);
	if (b->ev_reap != NULL)
		event_free(b->ev_reap);
	if (b->ev_accept_retry != NULL)
		event_free(b->ev_accept_retry);
	if (b->ev_grace != NULL)
		event_free(b->ev_grace);
	if (b->ev_keepers != NULL)
		event_free(b->ev_keepers);
	if (b->base != NULL)
		event_base_free(b->base);
	config_free(&b->cfg);
}
